"""Sign-in, sign-out, sessions, CSRF and the security headers of the pages (API.md §8)."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import text

from app.db import Database
from tests.api.consent_helpers import PIN, Leaver
from tests.api.identity_helpers import lock_state, pin_login, set_lock_state
from tests.pages.helpers import COOKIE, csrf_of, page_client, sign_in

STRICT_CSP = (
    "default-src 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)


async def test_root_redirects_to_the_start_page(browser_client: httpx.AsyncClient) -> None:
    r = await browser_client.get("/")
    assert r.status_code == 303
    assert r.headers["location"] == "/account"


async def test_start_page_needs_sign_in_and_comes_back(
    browser_client: httpx.AsyncClient, leaver: Leaver
) -> None:
    r = await browser_client.get("/account/sharing")
    assert r.status_code == 303
    assert r.headers["location"] == "/account/sign-in?next=/account/sharing"
    signed = await sign_in(browser_client, leaver.reference, next_path="/account/sharing")
    assert signed.status_code == 303
    assert signed.headers["location"] == "/account/sharing"


async def test_sign_in_page_is_a_strict_page_with_a_host_cookie(
    browser_client: httpx.AsyncClient,
) -> None:
    r = await browser_client.get("/account/sign-in")
    assert r.status_code == 200
    assert r.headers["content-security-policy"] == STRICT_CSP
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["cache-control"] == "no-store"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(COOKIE + "=")
    lowered = cookie.lower()
    for part in ("secure", "httponly", "samesite=lax", "path=/"):
        assert part in lowered
    assert "domain=" not in lowered
    assert 'name="reference"' in r.text
    assert 'name="pin"' in r.text
    assert 'name="helper_name"' in r.text
    assert 'name="helper_organisation"' in r.text
    assert "<script" not in r.text.split('<script type="module" src="/static/pages/init.js">')[0]


async def test_a_right_pin_signs_in_with_a_new_session_id(
    browser_client: httpx.AsyncClient, leaver: Leaver
) -> None:
    await browser_client.get("/account/sign-in")
    before = browser_client.cookies.get(COOKIE)
    r = await sign_in(browser_client, leaver.reference)
    assert r.status_code == 303
    assert r.headers["location"] == "/account"
    after = browser_client.cookies.get(COOKIE)
    assert after
    assert after != before
    home = await browser_client.get("/account")
    assert home.status_code == 200
    assert "Sign out" in home.text


async def test_wrong_pin_says_so_without_echoing_it(
    browser_client: httpx.AsyncClient, leaver: Leaver
) -> None:
    r = await sign_in(browser_client, leaver.reference, "97531864")
    assert r.status_code == 400
    assert "The reference or the PIN is wrong" in r.text
    assert "97531864" not in r.text
    assert "govuk-error-summary" in r.text


async def test_empty_fields_are_named_and_not_counted(
    browser_client: httpx.AsyncClient, leaver: Leaver, db: Database
) -> None:
    r = await sign_in(browser_client, leaver.reference, "")
    assert r.status_code == 400
    assert "Enter your PIN" in r.text
    assert await lock_state(db, leaver.reference) == (0, None)


async def test_sign_in_without_its_csrf_token_is_refused_and_not_counted(
    browser_client: httpx.AsyncClient, leaver: Leaver, db: Database
) -> None:
    await browser_client.get("/account/sign-in")
    r = await browser_client.post(
        "/account/sign-in", data={"reference": leaver.reference, "pin": PIN}
    )
    assert r.status_code == 400
    assert (
        COOKIE not in browser_client.cookies
        or (await browser_client.get("/account")).status_code == 303
    )
    assert await lock_state(db, leaver.reference) == (0, None)


async def test_a_reference_locked_on_the_page_is_locked_on_the_token_endpoint(
    browser_client: httpx.AsyncClient, client: httpx.AsyncClient, leaver: Leaver
) -> None:
    for _ in range(5):
        r = await sign_in(browser_client, leaver.reference, "97531864")
        assert r.status_code == 400
    page = await sign_in(browser_client, leaver.reference, PIN)
    assert page.status_code == 429
    assert 0 < int(page.headers["retry-after"]) <= 15 * 60
    assert "You can try again in 15 minutes" in page.text
    token = await pin_login(client, leaver.reference, PIN)
    assert token.status_code == 429
    assert token.json()["error"] == "invalid_grant"


async def test_a_reference_locked_on_the_token_endpoint_is_locked_on_the_page(
    browser_client: httpx.AsyncClient, leaver: Leaver, db: Database
) -> None:
    from datetime import timedelta

    from app.models.base import utcnow

    await set_lock_state(
        db, leaver.reference, attempts=5, locked_until=utcnow() + timedelta(minutes=3)
    )
    page = await sign_in(browser_client, leaver.reference, PIN)
    assert page.status_code == 429
    assert 120 < int(page.headers["retry-after"]) <= 185
    assert re.search(r"You can try again in [34] minutes, after \d\d:\d\d", page.text)


async def test_sign_in_shares_the_per_address_limit(
    app: object, leaver: Leaver, settings: object
) -> None:
    async with page_client(app, "192.0.2.77") as c:  # type: ignore[arg-type]
        statuses = []
        for _ in range(21):
            statuses.append((await sign_in(c, leaver.reference, "97531864")).status_code)
        # 5 wrong PINs lock the reference (429), and the 21st attempt from one address is
        # refused by the per-address limit whatever the reference.
        assert statuses[-1] == 429
    async with page_client(app, "192.0.2.77") as c:  # type: ignore[arg-type]
        r = await sign_in(c, "ONW-2222-2222", "97531864")
        assert r.status_code == 429
        assert "Too many people tried to sign in from here" in r.text


async def test_sign_out_ends_the_session_everywhere(
    signed_in: httpx.AsyncClient, db: Database
) -> None:
    cookie = signed_in.cookies.get(COOKIE)
    home = await signed_in.get("/account")
    r = await signed_in.post("/account/sign-out", data={"csrf_token": csrf_of(home)})
    assert r.status_code == 200
    assert "You are signed out" in r.text
    # The old cookie, replayed, signs no one in.
    assert cookie
    signed_in.cookies.clear()
    again = await signed_in.get("/account", headers={"Cookie": f"{COOKIE}={cookie}"})
    assert again.status_code == 303
    assert again.headers["location"].startswith("/account/sign-in")


async def test_sign_out_needs_the_csrf_token(signed_in: httpx.AsyncClient) -> None:
    r = await signed_in.post("/account/sign-out", data={})
    assert r.status_code == 403
    assert (await signed_in.get("/account")).status_code == 200


async def test_an_idle_session_expires(signed_in: httpx.AsyncClient, db: Database) -> None:
    async with db.sessionmaker() as session:
        await session.execute(
            text("UPDATE web_sessions SET expires_at = now() - interval '1 second'")
        )
        await session.commit()
    r = await signed_in.get("/account")
    assert r.status_code == 303
    assert r.headers["location"] == "/account/sign-in?next=/account&timed_out=1"
    page = await signed_in.get(r.headers["location"])
    assert "You were signed out because you did nothing for 15 minutes" in page.text


async def test_a_forged_cookie_is_ignored(browser_client: httpx.AsyncClient) -> None:
    r = await browser_client.get("/account", headers={"Cookie": f"{COOKIE}=abc.def"})
    assert r.status_code == 303


async def test_next_only_takes_local_paths(
    browser_client: httpx.AsyncClient, leaver: Leaver
) -> None:
    for evil in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:x"):
        async with httpx.AsyncClient(
            transport=browser_client._transport, base_url="https://testserver"
        ) as fresh:
            r = await sign_in(fresh, leaver.reference, next_path=evil)
            assert r.status_code == 303
            assert r.headers["location"] == "/account", evil
