"""The official Open Referral UK 3.0 schemas, as validators (no network).

The schemas are the vendored copy in ``tests/standards/oruk-3.0/`` (never edited; a test
checks it equals ``../shared/standards/oruk-3.0/`` when that exists). Two checks per
document, both against those files:

* JSON Schema 2020-12 validation with format checking (``uuid``, ``date-time``, ``email``,
  ``uri``: the last two need the ``jsonschema[format-nongpl]`` extras);
* no member the profile does not define (the compiled schemas do not say
  ``additionalProperties: false``, but the profile has removed members such as
  ``eligibility_description``, ``phones`` and ``taxonomy_terms``, and API.md §4 says no
  such member is sent).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

STANDARD = Path(__file__).resolve().parent / "standards" / "oruk-3.0"
# Where the ORUK openapi.json points its $refs (resolved locally, never fetched).
COMPILED_URL = "https://raw.githubusercontent.com/openreferral/uk-profile/main/schema/compiled/"
OPENAPI_URL = "urn:oruk-3.0:openapi.json"
VENDORED = ("LICENSE", "openapi.json", "compiled/service.json", "compiled/service_list.json")


def _load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((STANDARD / name).read_text())
    return loaded


SERVICE = _load("compiled/service.json")
SERVICE_LIST = _load("compiled/service_list.json")
OPENAPI = _load("openapi.json")

REGISTRY: Registry[Any] = Registry().with_resources(
    [
        (COMPILED_URL + "service.json", DRAFT202012.create_resource(SERVICE)),
        (COMPILED_URL + "service_list.json", DRAFT202012.create_resource(SERVICE_LIST)),
        (OPENAPI_URL, Resource.from_contents(OPENAPI, default_specification=DRAFT202012)),
    ]
)
FORMAT_CHECKER = Draft202012Validator.FORMAT_CHECKER


def _response_ref(path: str) -> str:
    escaped = path.replace("~", "~0").replace("/", "~1")
    return f"{OPENAPI_URL}#/paths/{escaped}/get/responses/200/content/application~1json/schema"


def validator(schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(schema, registry=REGISTRY, format_checker=FORMAT_CHECKER)


SERVICE_VALIDATOR = validator(SERVICE)
SERVICE_LIST_VALIDATOR = validator(SERVICE_LIST)
# The ORUK API's own response schemas: the page (Page + contents of service_list) and `/`.
PAGE_VALIDATOR = validator({"$ref": _response_ref("/services")})
API_INFO_VALIDATOR = validator({"$ref": _response_ref("/")})
PAGE_MEMBERS = set(OPENAPI["components"]["schemas"]["Page"]["properties"]) | {"contents"}
API_INFO_MEMBERS = set(
    OPENAPI["paths"]["/"]["get"]["responses"]["200"]["content"]["application/json"]["schema"][
        "properties"
    ]
)


def undefined_members(instance: Any, schema: dict[str, Any], at: str = "$") -> list[str]:
    """Paths of members of ``instance`` that ``schema`` (a compiled, $ref-free schema)
    does not define."""
    found: list[str] = []
    if isinstance(instance, dict) and "properties" in schema:
        properties = schema["properties"]
        for key, value in instance.items():
            if key not in properties:
                found.append(f"{at}.{key}")
            else:
                found += undefined_members(value, properties[key], f"{at}.{key}")
    elif isinstance(instance, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(instance):
            found += undefined_members(item, schema["items"], f"{at}[{i}]")
    return found


def _problems(v: Draft202012Validator, instance: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '$'}: {e.message}"
        for e in v.iter_errors(instance)
    ]


def service_problems(document: Any) -> list[str]:
    """What makes ``document`` not a conforming ORUK 3.0 service (empty: conforms)."""
    return _problems(SERVICE_VALIDATOR, document) + [
        f"{p}: not defined by the profile" for p in undefined_members(document, SERVICE)
    ]


def service_list_item_problems(document: Any) -> list[str]:
    return _problems(SERVICE_LIST_VALIDATOR, document) + [
        f"{p}: not defined by the profile" for p in undefined_members(document, SERVICE_LIST)
    ]


def page_problems(document: Any) -> list[str]:
    """The page envelope and every item in it."""
    found = _problems(PAGE_VALIDATOR, document)
    found += [f"$.{k}: not defined by the profile" for k in set(document) - PAGE_MEMBERS]
    for i, item in enumerate(document.get("contents", [])):
        found += [f"contents[{i}] {p}" for p in service_list_item_problems(item)]
    return found


def api_info_problems(document: Any) -> list[str]:
    return _problems(API_INFO_VALIDATOR, document) + [
        f"$.{k}: not defined by the profile" for k in set(document) - API_INFO_MEMBERS
    ]
