"""The consent page of the authorization code flow (API.md §7), driven as a browser would:
push a request, open /oauth/authorize, sign in, decide, exchange the code, read."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from tests.api.consent_helpers import Leaver
from tests.api.identity_helpers import bearer, pin_login
from tests.api.oauth_helpers import REDIRECT, exchange, partner, pushed, verifier
from tests.pages.helpers import csrf_of, page_client, sign_in
from tests.support import Actor, Actors

THREE = ["contact.phone", "release.expected_at", "identity.given_name"]


async def _open(
    client: httpx.AsyncClient, browser: httpx.AsyncClient, actor: Actor, fields: list[str], v: str
) -> None:
    request_uri = await pushed(client, actor, v, fields)
    r = await browser.get(
        "/oauth/authorize", params={"client_id": actor.client_id, "request_uri": request_uri}
    )
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/oauth/authorize"


async def _consent_page(
    client: httpx.AsyncClient,
    browser: httpx.AsyncClient,
    actor: Actor,
    leaver: Leaver,
    fields: list[str] = THREE,
    v: str | None = None,
    helper: tuple[str, str] | None = None,
) -> httpx.Response:
    await _open(client, browser, actor, fields, v or verifier())
    r = await browser.get("/oauth/authorize")
    assert r.status_code == 303
    assert r.headers["location"] == "/account/sign-in?next=/oauth/authorize"
    signed = await sign_in(browser, leaver.reference, helper=helper, next_path="/oauth/authorize")
    assert signed.status_code == 303, signed.text
    assert signed.headers["location"] == "/oauth/authorize"
    page = await browser.get("/oauth/authorize")
    assert page.status_code == 200, page.text
    return page


async def _decide(
    browser: httpx.AsyncClient, page: httpx.Response, decision: str, fields: list[str], **extra: str
) -> httpx.Response:
    data: dict[str, Any] = {"csrf_token": csrf_of(page), "decision": decision, "fields": fields}
    data.update(extra)
    return await browser.post("/oauth/authorize", data=data)


def _back(r: httpx.Response) -> dict[str, list[str]]:
    assert r.status_code == 303, r.text
    location = r.headers["location"]
    assert location.startswith(REDIRECT + "?"), location
    return parse_qs(urlsplit(location).query)


async def _consents(client: httpx.AsyncClient, leaver: Leaver) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (
        await client.get("/v1/me/consents", headers=leaver.headers)
    ).json()["items"]
    return items


async def test_consent_grants_exactly_the_ticked_fields(
    client: httpx.AsyncClient,
    browser_client: httpx.AsyncClient,
    app: FastAPI,
    actors: Actors,
    leaver: Leaver,
) -> None:
    actor = await partner(actors)
    v = verifier()
    page = await _consent_page(client, browser_client, actor, leaver, v=v)
    # Who, why, every field with its label, nothing ticked.
    assert actor.organisation_name in page.text
    assert "to give you support" in page.text
    for label in ("Phone number", "Given name"):
        assert label in page.text
    assert len(re.findall(r'name="fields"', page.text)) == 3
    assert " checked" not in page.text
    csp = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "form-action 'self' https://partner.example.org" in csp
    assert page.headers["x-frame-options"] == "DENY"

    back = _back(
        await _decide(browser_client, page, "allow", ["contact.phone", "identity.given_name"])
    )
    assert back["state"] == ["xyz-state"]
    assert back["iss"] == ["http://testserver"]
    [code] = back["code"]
    token = await exchange(client, actor, code, v)
    assert token.status_code == 200, token.text
    body = token.json()
    assert body["profile_id"] == leaver.id
    assert body["authorization_details"][0]["fields"] == ["identity.given_name", "contact.phone"]
    read = await client.get(f"/v1/profiles/{leaver.id}", headers=bearer(body["access_token"]))
    assert read.json()["disclosed_fields"] == ["identity.given_name", "contact.phone"]
    assert "release" not in read.json()["data"]
    # An ordinary grant the leaver sees, made on the web.
    [made] = await _consents(client, leaver)
    assert made["organisation"]["id"] == str(actor.organisation_id)
    receipt = app.state.tokens.verify_detached_jws(made["receipt"])
    assert receipt["collection_method"] == "web"
    assert "assisted_by" not in receipt
    # The request is over: the page does not come back.
    again = await browser_client.get("/oauth/authorize")
    assert again.status_code == 400
    assert "location" not in again.headers


async def test_deny_and_nothing_ticked_send_access_denied(
    client: httpx.AsyncClient, browser_client: httpx.AsyncClient, actors: Actors, leaver: Leaver
) -> None:
    actor = await partner(actors)
    page = await _consent_page(client, browser_client, actor, leaver)
    back = _back(await _decide(browser_client, page, "deny", ["contact.phone"]))
    assert back == {
        "error": ["access_denied"],
        "state": ["xyz-state"],
        "iss": ["http://testserver"],
    }
    await _open(client, browser_client, actor, THREE, verifier())
    page = await browser_client.get("/oauth/authorize")
    back = _back(await _decide(browser_client, page, "allow", []))
    assert back["error"] == ["access_denied"]
    assert await _consents(client, leaver) == []


async def test_sensitive_fields_need_the_explicit_box(
    client: httpx.AsyncClient, browser_client: httpx.AsyncClient, actors: Actors, leaver: Leaver
) -> None:
    actor = await partner(actors)
    fields = ["contact.phone", "needs.health", "offence.summary"]
    page = await _consent_page(client, browser_client, actor, leaver, fields=fields)
    assert "govuk-warning-text" in page.text
    assert 'name="explicit" type="checkbox" value="yes"' in page.text
    again = await _decide(browser_client, page, "allow", ["contact.phone", "needs.health"])
    assert again.status_code == 400
    assert "govuk-error-summary" in again.text
    assert again.text.count("<title>Error: ") == 1
    assert await _consents(client, leaver) == []
    back = _back(
        await _decide(
            browser_client, again, "allow", ["contact.phone", "needs.health"], explicit="yes"
        )
    )
    assert "code" in back
    [made] = await _consents(client, leaver)
    assert made["fields"] == ["contact.phone", "needs.health"]
    assert made["explicit"] is True


async def test_a_post_without_csrf_token_does_nothing(
    client: httpx.AsyncClient, browser_client: httpx.AsyncClient, actors: Actors, leaver: Leaver
) -> None:
    actor = await partner(actors)
    await _consent_page(client, browser_client, actor, leaver)
    r = await browser_client.post(
        "/oauth/authorize", data={"decision": "allow", "fields": ["contact.phone"]}
    )
    assert r.status_code == 403
    assert "location" not in r.headers
    r = await browser_client.post(
        "/oauth/authorize",
        data={"csrf_token": "forged", "decision": "allow", "fields": ["contact.phone"]},
    )
    assert r.status_code == 403
    assert await _consents(client, leaver) == []


async def test_a_request_uri_works_once(
    client: httpx.AsyncClient, app: FastAPI, actors: Actors
) -> None:
    actor = await partner(actors)
    request_uri = await pushed(client, actor, verifier(), THREE)
    params = {"client_id": actor.client_id, "request_uri": request_uri}
    async with page_client(app) as first, page_client(app) as second:
        assert (await first.get("/oauth/authorize", params=params)).status_code == 303
        reused = await second.get("/oauth/authorize", params=params)
    assert reused.status_code == 400
    assert "location" not in reused.headers
    assert "does not work any more" in reused.text


@pytest.mark.parametrize("case", ["unknown", "other_client", "unregistered_since", "no_params"])
async def test_bad_requests_get_an_error_page_never_a_redirect(
    client: httpx.AsyncClient,
    browser_client: httpx.AsyncClient,
    admin_actor: Actor,
    actors: Actors,
    case: str,
) -> None:
    actor = await partner(actors)
    other = await partner(actors)
    request_uri = await pushed(client, actor, verifier(), THREE)
    params: dict[str, str] = {"client_id": actor.client_id, "request_uri": request_uri}
    if case == "unknown":
        params["request_uri"] = "urn:ietf:params:oauth:request_uri:forged"
    elif case == "other_client":
        params["client_id"] = other.client_id
    elif case == "unregistered_since":
        r = await client.patch(
            f"/v1/admin/clients/{actor.client_id}",
            json={"redirect_uris": ["https://partner.example.org/other"]},
            headers=admin_actor.headers,
        )
        assert r.status_code == 200
    else:
        params = {}
    r = await browser_client.get("/oauth/authorize", params=params)
    assert r.status_code == 400
    assert "location" not in r.headers
    assert "partner.example.org" not in r.text


async def test_a_redirect_uri_removed_while_deciding_gets_no_redirect(
    client: httpx.AsyncClient,
    browser_client: httpx.AsyncClient,
    admin_actor: Actor,
    actors: Actors,
    leaver: Leaver,
) -> None:
    actor = await partner(actors)
    page = await _consent_page(client, browser_client, actor, leaver)
    await client.patch(
        f"/v1/admin/clients/{actor.client_id}",
        json={"redirect_uris": []},
        headers=admin_actor.headers,
    )
    r = await _decide(browser_client, page, "allow", ["contact.phone"])
    assert r.status_code == 400
    assert "location" not in r.headers
    assert await _consents(client, leaver) == []


async def test_open_redirect_attempts_go_nowhere_but_the_registered_uri(
    client: httpx.AsyncClient, browser_client: httpx.AsyncClient, actors: Actors, leaver: Leaver
) -> None:
    actor = await partner(actors)
    request_uri = await pushed(client, actor, verifier(), THREE)
    # A redirect_uri in the browser's request is not a parameter of this endpoint.
    r = await browser_client.get(
        "/oauth/authorize",
        params={
            "client_id": actor.client_id,
            "request_uri": request_uri,
            "redirect_uri": "https://evil.example.net/cb",
        },
    )
    assert r.headers["location"] == "/oauth/authorize"
    # The sign-in's next only takes local paths.
    signed = await sign_in(browser_client, leaver.reference, next_path="https://evil.example.net/")
    assert signed.headers["location"] == "/account"
    page = await browser_client.get("/oauth/authorize")
    assert "evil" not in page.headers["content-security-policy"]
    # A tampered field outside the request is never granted.
    back = _back(
        await _decide(
            browser_client,
            page,
            "allow",
            ["contact.phone", "story.summary"],
            redirect_uri="https://evil.example.net/cb",
        )
    )
    assert "code" in back
    [made] = await _consents(client, leaver)
    assert made["fields"] == ["contact.phone"]


async def test_a_helped_session_records_assisted_consent(
    client: httpx.AsyncClient,
    browser_client: httpx.AsyncClient,
    app: FastAPI,
    actors: Actors,
    leaver: Leaver,
) -> None:
    actor = await partner(actors)
    page = await _consent_page(
        client, browser_client, actor, leaver, helper=("Sam Worker", "Reading Hub")
    )
    _back(await _decide(browser_client, page, "allow", ["contact.phone"]))
    [made] = await _consents(client, leaver)
    receipt = app.state.tokens.verify_detached_jws(made["receipt"])
    assert receipt["collection_method"] == "assisted"
    assert receipt["assisted_by"] == {"name": "Sam Worker", "organisation": "Reading Hub"}


async def test_a_reference_locked_on_the_api_is_locked_on_the_page(
    client: httpx.AsyncClient, browser_client: httpx.AsyncClient, actors: Actors, leaver: Leaver
) -> None:
    actor = await partner(actors)
    for _ in range(5):
        assert (await pin_login(client, leaver.reference, "999999")).status_code == 400
    await _open(client, browser_client, actor, THREE, verifier())
    r = await sign_in(browser_client, leaver.reference, next_path="/oauth/authorize")
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) > 0
    assert "location" not in r.headers
    page = await browser_client.get("/oauth/authorize")
    assert page.status_code == 303  # still not signed in: no consent page
    assert page.headers["location"].startswith("/account/sign-in")


async def test_a_reference_locked_on_the_page_is_locked_on_the_api(
    client: httpx.AsyncClient, browser_client: httpx.AsyncClient, actors: Actors, leaver: Leaver
) -> None:
    actor = await partner(actors)
    await _open(client, browser_client, actor, THREE, verifier())
    for _ in range(5):
        r = await sign_in(browser_client, leaver.reference, "999999", next_path="/oauth/authorize")
        assert r.status_code == 400
    from tests.api.consent_helpers import PIN

    locked = await pin_login(client, leaver.reference, PIN)
    assert locked.status_code == 429
    assert locked.json()["error"] == "invalid_grant"


@pytest.fixture
async def admin_actor(actors: Actors) -> Actor:
    return await actors.client("admin", kind="operator")
