"""The served spec is good enough for code generators and for "Try it out" (API.md §0 "docs").

Unique camelCase operationIds, component names and titles without module paths, If-Match
declared where the server requires it, bounded strings, and an example for every request
body that succeeds as it stands against the demo data set (``onward serve --demo``).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app import demo_ids
from app.demo import _id, seed_demo
from tests.api.identity_helpers import bearer, client_token
from tests.support import Actors

pytestmark = pytest.mark.generated_client

Spec = dict[str, Any]


async def served(client: httpx.AsyncClient) -> Spec:
    spec: Spec = (await client.get("/openapi.json")).json()
    return spec


def operations(spec: Spec) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, methods in spec["paths"].items()
        for method, operation in methods.items()
    ]


def resolve(spec: Spec, node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = spec["components"]["schemas"][node["$ref"].removeprefix("#/components/schemas/")]
    return node


def body_examples(spec: Spec, operation: dict[str, Any]) -> dict[str, list[Any]]:
    """Per media type, the examples "Try it out" offers: the media type's own, else the
    schema's ``examples``."""
    found: dict[str, list[Any]] = {}
    for media_type, content in operation["requestBody"]["content"].items():
        if "example" in content:
            found[media_type] = [content["example"]]
        elif "examples" in content:
            found[media_type] = [example["value"] for example in content["examples"].values()]
        else:
            found[media_type] = list(resolve(spec, content["schema"]).get("examples", []))
    return found


async def test_operation_ids_are_unique_meaningful_camel_case(client: httpx.AsyncClient) -> None:
    spec = await served(client)
    ids = [operation["operationId"] for _, _, operation in operations(spec)]
    assert [i for i, n in Counter(ids).items() if n > 1] == []
    assert [i for i in ids if not re.fullmatch(r"[a-z]+(?:[A-Z][a-z0-9]*)*", i)] == []
    by_route = {(method, path): op["operationId"] for method, path, op in operations(spec)}
    assert by_route[("post", "/v1/me/consents")] == "createGrant"
    assert by_route[("get", "/v1/profiles/{profile_id}")] == "readProfile"
    assert by_route[("get", "/v1/offers")] == "listOffers"
    assert by_route[("post", "/v1/me/referrals")] == "createReferral"
    assert by_route[("post", "/oauth/token")] == "issueToken"
    assert by_route[("patch", "/v1/me")] == "patchMe"
    assert by_route[("post", "/v1/webhooks")] == "createWebhook"
    assert by_route[("get", "/v1/webhooks")] == "listWebhooks"
    assert by_route[("delete", "/v1/webhooks/{webhook_id}")] == "deleteWebhook"
    assert by_route[("post", "/v1/webhooks/{webhook_id}/rotate-secret")] == "rotateWebhookSecret"
    assert by_route[("get", "/v1/webhooks/{webhook_id}/deliveries")] == "listWebhookDeliveries"


async def test_components_have_unique_plain_names_and_titles(client: httpx.AsyncClient) -> None:
    spec = await served(client)
    schemas = spec["components"]["schemas"]
    # No module paths (app__offers__schemas__Contact), no generic mangling (Page_Referral_).
    assert [name for name in schemas if not re.fullmatch(r"[A-Z][A-Za-z0-9]*", name)] == []
    titles = [schema.get("title") for schema in schemas.values()]
    assert [t for t, n in Counter(titles).items() if n > 1] == []
    assert {name: schema.get("title") for name, schema in schemas.items()} == {
        name: name for name in schemas
    }
    assert {"OfferContact", "ProfileContact", "ProgressReading", "ProfileProgressReading"} <= set(
        schemas
    )


async def test_if_match_is_declared_required_where_the_server_requires_it(
    client: httpx.AsyncClient,
) -> None:
    spec = await served(client)

    def if_match(method: str, path: str) -> dict[str, Any]:
        headers: list[dict[str, Any]] = [
            p
            for p in spec["paths"][path][method].get("parameters", [])
            if p["in"] == "header" and p["name"].lower() == "if-match"
        ]
        [header] = headers
        return header

    assert if_match("patch", "/v1/me")["required"] is True
    assert if_match("put", "/v1/offers/{offer_id}")["required"] is True
    assert if_match("delete", "/v1/offers/{offer_id}")["required"] is False
    assert if_match("patch", "/v1/me")["name"] == "If-Match"


async def test_patch_me_without_if_match_is_still_428_not_422(
    client: httpx.AsyncClient, app: FastAPI, actors: Actors
) -> None:
    """Declaring If-Match required must not turn the contract's 428 into a framework 422."""
    seeded = await seed_demo(app.state.db, app.state.settings)
    headers = actors.leaver_headers(seeded["leavers"][0]["profile_id"])
    r = await client.patch("/v1/me", json={"contact": {"phone": "07700 900123"}}, headers=headers)
    assert r.status_code == 428, r.text


async def test_json_request_strings_are_bounded(client: httpx.AsyncClient) -> None:
    """Every string a JSON body takes has a declared maximum length (or is fixed by an
    enum, a format or a pattern), as the server enforces."""
    spec = await served(client)
    loose: list[str] = []

    def walk(node: dict[str, Any], where: str, seen: frozenset[str]) -> None:
        ref = node.get("$ref")
        if ref in seen:
            return
        seen = seen | {ref} if ref else seen
        node = resolve(spec, node)
        for key in ("anyOf", "oneOf", "allOf"):
            for option in node.get(key, []):
                walk(option, where, seen)
        kind = node.get("type")
        if kind == "string" and not {"maxLength", "enum", "const", "format", "pattern"} & set(node):
            loose.append(where)
        elif kind == "object":
            for name, prop in node.get("properties", {}).items():
                walk(prop, f"{where}.{name}", seen)
            if isinstance(node.get("additionalProperties"), dict):
                walk(node["additionalProperties"], f"{where}.*", seen)
        elif kind == "array":
            walk(node.get("items", {}), f"{where}[]", seen)

    for method, path, operation in operations(spec):
        for media_type, content in operation.get("requestBody", {}).get("content", {}).items():
            if "json" in media_type:
                walk(content["schema"], f"{method} {path}", frozenset())
    assert loose == []


async def test_every_request_body_has_an_example(client: httpx.AsyncClient) -> None:
    spec = await served(client)
    missing = [
        (method, path, media_type)
        for method, path, operation in operations(spec)
        if "requestBody" in operation
        for media_type, examples in body_examples(spec, operation).items()
        if not examples
    ]
    assert missing == []


def test_demo_ids_are_the_demo_data_sets() -> None:
    assert demo_ids.PARTNER_ORGANISATION_ID == str(
        _id("organisation", "Thames Valley Probation partner")
    )
    provider = "Thames Valley Through the Gate"
    assert demo_ids.GATE_OFFER_ID == str(
        _id("offer", provider, "Meet at the gate and first-day support")
    )
    assert demo_ids.TRAVEL_OFFER_ID == str(
        _id("offer", provider, "Travel to your first appointments")
    )


async def test_request_body_examples_succeed_against_the_demo(
    client: httpx.AsyncClient, app: FastAPI, actors: Actors
) -> None:
    """Each example, sent as it stands (with the If-Match example where one is declared),
    succeeds on a freshly seeded demo, in the order a person trying the docs would go.
    Only what exists at run time is filled in: client secrets (the demo prints new ones on
    every start) and tokens. A new operation with a body must be added here."""
    spec = await served(client)
    seeded = await seed_demo(app.state.db, app.state.settings)
    secrets = {c["client_id"]: c["client_secret"] for c in seeded["clients"]}
    tokens: dict[str, str] = {}
    for client_id in ("demo-kiosk", "demo-partner", "demo-provider"):
        r = await client_token(client, client_id, secrets[client_id])
        assert r.status_code == 200, r.text
        tokens[client_id] = r.json()["access_token"]
    tokens["admin"] = (await actors.client("admin", kind="operator")).token
    covered: set[tuple[str, str]] = set()

    def fill(value: Any, token: str | None = None) -> Any:
        """Run-time values for the documented placeholders."""
        if isinstance(value, dict):
            filled = {k: fill(v, token) for k, v in value.items()}
            if str(filled.get("client_secret", "")).startswith("<"):
                filled["client_secret"] = secrets[filled["client_id"]]
            if str(filled.get("token", "")).startswith("<") and token is not None:
                filled["token"] = token
            return filled
        return value

    async def send(
        method: str,
        template: str,
        role: str | None,
        *,
        path: str | None = None,
        example: int = 0,
        token: str | None = None,
    ) -> httpx.Response:
        operation = spec["paths"][template][method]
        covered.add((method, template))
        media_type, examples = next(iter(body_examples(spec, operation).items()))
        body = fill(examples[example], token)
        headers = dict(bearer(tokens[role])) if role else {}
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "header" and parameter.get("required"):
                headers[parameter["name"]] = parameter["example"]
        if media_type == "application/x-www-form-urlencoded":
            r = await client.request(method, path or template, data=body, headers=headers)
        else:
            headers["Content-Type"] = media_type
            r = await client.request(
                method, path or template, content=json.dumps(body), headers=headers
            )
        assert r.is_success, (method, template, example, r.status_code, r.text)
        return r

    # The leaver signs in with the demo's reference and PIN, exactly as the example says.
    tokens["leaver"] = (await send("post", "/oauth/token", None)).json()["access_token"]
    await send("post", "/oauth/token", None, example=1)
    await send("post", "/oauth/introspect", None, token=tokens["demo-partner"])
    await send("post", "/oauth/par", None)  # the demo partner pushes a consent request
    await send("patch", "/v1/me", "leaver")
    await send("post", "/v1/me/consents", "leaver")
    referral = (await send("post", "/v1/me/referrals", "leaver")).json()
    # The example's offer belongs to the demo provider, so its token sees the referral.
    await send(
        "post",
        "/v1/referrals/{referral_id}/status",
        "demo-provider",
        path=f"/v1/referrals/{referral['id']}/status",
    )
    await send("post", "/v1/me/progress", "leaver")
    await send("post", "/v1/profiles", "demo-kiosk")
    # The kiosk that registered the demo leaver resets their PIN (to the same one).
    await send("post", "/v1/profiles/pin-reset", "demo-kiosk")
    await send("post", "/v1/offers", "demo-provider")
    await send(
        "put",
        "/v1/offers/{offer_id}",
        "demo-provider",
        path=f"/v1/offers/{demo_ids.TRAVEL_OFFER_ID}",
    )
    # The demo partner registers a webhook (the example's host resolves publicly; the test
    # settings allow any address, so it is not resolved here).
    await send("post", "/v1/webhooks", "demo-partner")
    await send("post", "/v1/admin/organisations", "admin")
    await send("post", "/v1/admin/clients", "admin")
    await send(
        "patch",
        "/v1/admin/clients/{client_id}",
        "admin",
        path="/v1/admin/clients/demo-partner",
    )
    await send("post", "/oauth/revoke", None)  # the leaver signs out (any token: 200)

    with_body = {(m, p) for m, p, operation in operations(spec) if "requestBody" in operation}
    assert with_body - covered == set(), "add the new operations' examples to this walk"
