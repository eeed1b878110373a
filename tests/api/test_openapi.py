"""The committed openapi.yaml is exactly what the app serves."""

from __future__ import annotations

from pathlib import Path

import httpx
import yaml

from app.cli import openapi_yaml

SPEC = Path(__file__).resolve().parents[2] / "openapi.yaml"


def test_committed_openapi_yaml_is_what_onward_openapi_prints() -> None:
    assert SPEC.read_text() == openapi_yaml(), (
        "openapi.yaml is stale: run `make openapi` and commit it"
    )


async def test_committed_openapi_parses_to_served_json(client: httpx.AsyncClient) -> None:
    served = (await client.get("/openapi.json")).json()
    assert yaml.safe_load(SPEC.read_text()) == served


async def test_spec_declares_security_schemes(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    schemes = spec.get("components", {}).get("securitySchemes", {})
    if not any("security" in op for path in spec["paths"].values() for op in path.values()):
        return  # no protected operation yet
    assert "OAuth2" in schemes
    flows = schemes["OAuth2"]["flows"]["clientCredentials"]
    assert flows["tokenUrl"] == "/oauth/token"
    assert "profiles:read" in flows["scopes"]


async def test_every_ref_resolves(client: httpx.AsyncClient) -> None:
    """A dangling $ref breaks ReDoc's whole page; catch it without a browser."""
    spec = (await client.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    dangling: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                name = ref.removeprefix("#/components/schemas/")
                if name not in schemas:
                    dangling.append(ref)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(spec)
    assert dangling == []
