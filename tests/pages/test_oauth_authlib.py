"""A partner built with authlib (a third-party OAuth client) gets a leaver's consent for
three fields and reads exactly the ticked ones (API.md §7)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from fastapi import FastAPI

from tests.api.consent_helpers import Leaver
from tests.api.oauth_helpers import REDIRECT, partner
from tests.pages.helpers import csrf_of, page_client, sign_in
from tests.support import Actors

BASE = "http://testserver"


async def test_authlib_partner_obtains_consent_and_reads_the_ticked_fields(
    app: FastAPI, actors: Actors, leaver: Leaver
) -> None:
    actor = await partner(actors)
    async with AsyncOAuth2Client(
        client_id=actor.client_id,
        client_secret=actor.client_secret,
        redirect_uri=REDIRECT,
        token_endpoint_auth_method="client_secret_basic",
        code_challenge_method="S256",
        transport=httpx.ASGITransport(app=app),
        base_url=BASE,
    ) as oauth:
        metadata = (
            await oauth.request(
                "GET", "/.well-known/oauth-authorization-server", withhold_token=True
            )
        ).json()
        # 1. The pushed request, authenticated as the token endpoint is.
        verifier = generate_token(64)
        state = generate_token(20)
        pushed = await oauth.request(
            "POST",
            metadata["pushed_authorization_request_endpoint"],
            data={
                "response_type": "code",
                "redirect_uri": REDIRECT,
                "state": state,
                # types-Authlib leaves this one function unannotated.
                "code_challenge": create_s256_code_challenge(verifier),  # type: ignore[no-untyped-call]
                "code_challenge_method": "S256",
                "authorization_details": json.dumps(
                    [
                        {
                            "type": "onward_profile",
                            "fields": ["contact.phone", "contact.email", "release.expected_at"],
                            "purpose": "case_coordination",
                        }
                    ]
                ),
            },
            auth=httpx.BasicAuth(actor.client_id, actor.client_secret),
        )
        assert pushed.status_code == 201, pushed.text
        authorize_url = (
            metadata["authorization_endpoint"]
            + "?"
            + urlencode({"client_id": actor.client_id, "request_uri": pushed.json()["request_uri"]})
        )

        # 2. The leaver's browser: sign in, tick two of the three, allow.
        async with page_client(app) as browser:
            r = await browser.get(
                urlsplit(authorize_url).path + "?" + urlsplit(authorize_url).query
            )
            assert r.status_code == 303
            r = await sign_in(browser, leaver.reference, next_path=r.headers["location"])
            page = await browser.get(r.headers["location"])
            assert page.status_code == 200
            decided = await browser.post(
                "/oauth/authorize",
                data={
                    "csrf_token": csrf_of(page),
                    "fields": ["contact.phone", "release.expected_at"],
                    "decision": "allow",
                },
            )
        callback = decided.headers["location"]
        query = parse_qs(urlsplit(callback).query)
        assert query["state"] == [state]
        assert query["iss"] == [metadata["issuer"]]

        # 3. authlib exchanges the code with the verifier, then reads with the token.
        token = await oauth.fetch_token(
            metadata["token_endpoint"],
            authorization_response=callback,
            state=state,
            code_verifier=verifier,
        )
        assert token["scope"] == "profiles:read"
        [granted] = token["authorization_details"]
        assert granted["fields"] == ["contact.phone", "release.expected_at"]
        read = await oauth.get(f"/v1/profiles/{token['profile_id']}")
        assert read.status_code == 200, read.text
        assert read.json()["disclosed_fields"] == ["contact.phone", "release.expected_at"]
        assert set(read.json()["data"]) == {"contact", "release"}
        assert "email" not in read.json()["data"]["contact"]

    # The leaver sees the grant and can revoke it; the token then reads nothing.
    consents = await oauth_free_get(app, "/v1/me/consents", leaver.headers)
    [made] = consents["items"]
    assert made["id"] == granted["grant_id"]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        assert (
            await c.post(f"/v1/me/consents/{made['id']}/revoke", headers=leaver.headers)
        ).status_code == 200
        after = await c.get(
            f"/v1/profiles/{leaver.id}",
            headers={"Authorization": f"Bearer {token['access_token']}"},
        )
        assert after.status_code == 404


async def oauth_free_get(app: FastAPI, path: str, headers: dict[str, str]) -> dict[str, Any]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        body: dict[str, Any] = (await c.get(path, headers=headers)).json()
        return body
