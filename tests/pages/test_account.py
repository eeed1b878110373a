"""Every page of the leaver's account over HTTP (API.md §8): what the leaver sees, and
that each action goes through the same domain rule as the API."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import httpx
from sqlalchemy import text

from app.db import Database
from tests.api.consent_helpers import Leaver, grant
from tests.api.referral_helpers import make_provider, publish
from tests.pages.helpers import COOKIE, csrf_of, page_client, post_form, sign_in
from tests.support import Actors

PAGES = (
    "/account",
    "/account/sharing",
    "/account/who-has-looked",
    "/account/support",
    "/account/referrals",
    "/account/progress",
    "/account/profile",
    "/account/profile/contact",
    "/account/profile/identity",
    "/account/profile/key_worker",
    "/account/download",
)
STRICT_CSP = (
    "default-src 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)


def claims(jws: str) -> dict[str, Any]:
    payload = jws.split(".")[1]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return decoded


async def test_every_page_answers_with_the_strict_headers(signed_in: httpx.AsyncClient) -> None:
    for path in PAGES:
        r = await signed_in.get(path)
        assert r.status_code == 200, (path, r.text[:500])
        assert r.headers["content-type"].startswith("text/html")
        assert r.headers["content-security-policy"] == STRICT_CSP
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["cache-control"] == "no-store"
        assert 'action="/account/sign-out"' in r.text, path
        assert 'href="http' not in r.text, path
        assert 'src="http' not in r.text, path


async def test_every_page_needs_sign_in(browser_client: httpx.AsyncClient) -> None:
    for path in PAGES:
        r = await browser_client.get(path)
        assert r.status_code == 303, path
        assert r.headers["location"] == f"/account/sign-in?next={path}"


async def test_every_form_carries_the_csrf_token(signed_in: httpx.AsyncClient) -> None:
    for path in PAGES:
        page = (await signed_in.get(path)).text
        forms = re.findall(r"<form[^>]*>.*?</form>", page, flags=re.S)
        assert forms, path
        for form in forms:
            assert 'name="csrf_token"' in form, (path, form[:200])
            assert 'method="post"' in form


async def test_no_personal_data_in_any_url(signed_in: httpx.AsyncClient, leaver: Leaver) -> None:
    """Links, form actions and redirects carry ids and paths only: no reference, name,
    phone number or other value from the profile."""
    secrets_of_leaver = [leaver.reference, "SENTINEL", "07700"]
    for path in PAGES:
        page = (await signed_in.get(path)).text
        for url in re.findall(r'(?:href|action|src)="([^"]*)"', page):
            for secret in secrets_of_leaver:
                assert secret.lower() not in url.lower(), (path, url)


async def test_start_page_shows_release_date_and_reference(
    signed_in: httpx.AsyncClient, leaver: Leaver
) -> None:
    r = await signed_in.get("/account")
    assert leaver.reference in r.text
    assert "Friday 4 December 2026" in r.text


async def test_stop_sharing_ends_the_partner_read_at_once(
    signed_in: httpx.AsyncClient, client: httpx.AsyncClient, actors: Actors, leaver: Leaver
) -> None:
    partner = await actors.client("profiles:read", name="Reading Probation")
    given = await grant(client, leaver, partner.organisation_id, ["contact.phone", "release"])
    assert (
        await client.get(f"/v1/profiles/{leaver.id}", headers=partner.headers)
    ).status_code == 200

    page = await signed_in.get("/account/sharing")
    assert "Reading Probation" in page.text
    assert "Phone number" in page.text
    assert "Your release details" in page.text
    assert "To give you support" in page.text
    assert given["receipt"] in page.text
    assert f'action="/account/sharing/{given["id"]}/stop"' in page.text

    stopped = await signed_in.post(
        f"/account/sharing/{given['id']}/stop", data={"csrf_token": csrf_of(page)}
    )
    assert stopped.status_code == 303
    assert stopped.headers["location"] == "/account/sharing?stopped=1"
    assert (
        await client.get(f"/v1/profiles/{leaver.id}", headers=partner.headers)
    ).status_code == 404
    after = await signed_in.get(stopped.headers["location"])
    assert "You stopped sharing" in after.text
    assert f'action="/account/sharing/{given["id"]}/stop"' not in after.text


async def test_stop_sharing_without_the_token_changes_nothing(
    signed_in: httpx.AsyncClient, client: httpx.AsyncClient, actors: Actors, leaver: Leaver
) -> None:
    partner = await actors.client("profiles:read")
    given = await grant(client, leaver, partner.organisation_id, ["contact.phone"])
    for data in ({}, {"csrf_token": "forged"}):
        r = await signed_in.post(f"/account/sharing/{given['id']}/stop", data=data)
        assert r.status_code == 403
        assert "nothing was changed" in r.text
    assert (
        await client.get(f"/v1/profiles/{leaver.id}", headers=partner.headers)
    ).status_code == 200


async def test_a_csrf_token_of_another_session_is_refused(
    app: Any,
    signed_in: httpx.AsyncClient,
    client: httpx.AsyncClient,
    actors: Actors,
    leaver: Leaver,
) -> None:
    partner = await actors.client("profiles:read")
    given = await grant(client, leaver, partner.organisation_id, ["contact.phone"])
    async with page_client(app) as other:
        assert (await sign_in(other, leaver.reference)).status_code == 303
        foreign_token = csrf_of(await other.get("/account"))
    r = await signed_in.post(
        f"/account/sharing/{given['id']}/stop", data={"csrf_token": foreign_token}
    )
    assert r.status_code == 403


async def test_another_leavers_grant_cannot_be_stopped(
    signed_in: httpx.AsyncClient, client: httpx.AsyncClient, actors: Actors
) -> None:
    from tests.api.consent_helpers import make_leaver

    someone = await make_leaver(client, actors)
    partner = await actors.client("profiles:read")
    theirs = await grant(client, someone, partner.organisation_id, ["contact.phone"])
    page = await signed_in.get("/account/sharing")
    r = await signed_in.post(
        f"/account/sharing/{theirs['id']}/stop", data={"csrf_token": csrf_of(page)}
    )
    assert r.status_code == 404
    assert (
        await client.get(f"/v1/profiles/{someone.id}", headers=partner.headers)
    ).status_code == 200


async def test_who_has_looked_speaks_in_sentences(
    signed_in: httpx.AsyncClient, client: httpx.AsyncClient, actors: Actors, leaver: Leaver
) -> None:
    partner = await actors.client("profiles:read", name="Reading Probation")
    await grant(client, leaver, partner.organisation_id, ["contact.phone", "release.expected_at"])
    assert (
        await client.get(f"/v1/profiles/{leaver.id}", headers=partner.headers)
    ).status_code == 200
    page = await signed_in.get("/account/who-has-looked")
    assert re.search(
        r"Reading Probation looked at your phone number and release date on "
        r"[A-Z][a-z]+day \d{1,2} \w+( \d{4})? at \d\d:\d\d",
        page.text,
    ), page.text


async def test_support_lists_offers_and_asking_makes_a_referral_of_the_ticked_fields(
    signed_in: httpx.AsyncClient, client: httpx.AsyncClient, actors: Actors, leaver: Leaver
) -> None:
    provider = await make_provider(actors, name="Thames Housing")
    offer = await publish(client, provider)
    listing = await signed_in.get("/account/support")
    assert f'href="/account/support/{offer["id"]}"' in listing.text
    page = await signed_in.get(f"/account/support/{offer['id']}")
    assert page.status_code == 200
    # Every checkbox starts unticked: the leaver chooses.
    assert " checked" not in page.text
    r = await signed_in.post(
        f"/account/support/{offer['id']}",
        data={
            "csrf_token": csrf_of(page),
            "offer_version": str(offer["version"]),
            "fields": ["identity.given_name"],
        },
    )
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/account/referrals?asked=1"
    grants = (await client.get("/v1/me/consents", headers=leaver.headers)).json()["items"]
    assert len(grants) == 1
    assert grants[0]["fields"] == ["identity.given_name"]
    assert grants[0]["purpose"] == "referral"
    receipt = claims(grants[0]["receipt"])
    assert receipt["collection_method"] == "referral"
    assert "assisted_by" not in receipt
    referrals = await signed_in.get("/account/referrals")
    assert offer["title"] in referrals.text
    assert "Waiting for them to reply" in referrals.text


async def test_asking_with_nothing_ticked_creates_nothing(
    signed_in: httpx.AsyncClient, client: httpx.AsyncClient, actors: Actors, leaver: Leaver
) -> None:
    provider = await make_provider(actors)
    offer = await publish(client, provider)
    r = await post_form(
        signed_in,
        f"/account/support/{offer['id']}",
        f"/account/support/{offer['id']}",
        {"offer_version": str(offer["version"])},
    )
    assert r.status_code == 400
    assert "Tick at least one" in r.text
    assert "govuk-error-summary" in r.text
    assert (await client.get("/v1/me/consents", headers=leaver.headers)).json()["items"] == []


async def test_a_changed_offer_is_shown_again_and_nothing_is_shared(
    signed_in: httpx.AsyncClient, client: httpx.AsyncClient, actors: Actors, leaver: Leaver
) -> None:
    provider = await make_provider(actors)
    offer = await publish(client, provider)
    r = await post_form(
        signed_in,
        f"/account/support/{offer['id']}",
        f"/account/support/{offer['id']}",
        {"offer_version": str(offer["version"] + 1), "fields": ["identity.given_name"]},
    )
    assert r.status_code == 409
    assert "changed since you opened it" in r.text
    assert (await client.get("/v1/me/consents", headers=leaver.headers)).json()["items"] == []


async def test_assisted_session_end_to_end(
    browser_client: httpx.AsyncClient, client: httpx.AsyncClient, actors: Actors, leaver: Leaver
) -> None:
    signed = await sign_in(
        browser_client, leaver.reference, helper=("Sam Patel", "Reading Probation")
    )
    assert signed.status_code == 303
    home = await browser_client.get("/account")
    assert "Sam Patel from Reading Probation is helping you" in home.text
    provider = await make_provider(actors, name="Thames Housing")
    offer = await publish(client, provider)
    r = await post_form(
        browser_client,
        f"/account/support/{offer['id']}",
        f"/account/support/{offer['id']}",
        {"offer_version": str(offer["version"]), "fields": ["identity.given_name"]},
    )
    assert r.status_code == 303, r.text
    grants = (await client.get("/v1/me/consents", headers=leaver.headers)).json()["items"]
    receipt = claims(grants[0]["receipt"])
    assert receipt["collection_method"] == "referral"
    assert receipt["assisted_by"] == {"name": "Sam Patel", "organisation": "Reading Probation"}
    sharing = await browser_client.get("/account/sharing")
    assert "with help from Sam Patel (Reading Probation)" in sharing.text


async def test_helped_without_a_name_is_asked_for_it(
    browser_client: httpx.AsyncClient, leaver: Leaver
) -> None:
    r = await sign_in(browser_client, leaver.reference, helper=("", "Somewhere"))
    assert r.status_code == 400
    assert "Enter the name of the person helping you" in r.text


async def test_progress_records_a_reading(
    signed_in: httpx.AsyncClient, leaver: Leaver, client: httpx.AsyncClient
) -> None:
    r = await post_form(
        signed_in,
        "/account/progress",
        "/account/progress",
        {"accommodation": "7", "mental_health": "4"},
    )
    assert r.status_code == 303
    page = await signed_in.get(r.headers["location"])
    assert "Where you live: 7 out of 10" in page.text
    assert "Mental health: 4 out of 10" in page.text
    api = (await client.get("/v1/me/progress", headers=leaver.headers)).json()["items"]
    assert api[0]["readings"] == {"accommodation": 7, "mental_health": 4}


async def test_progress_refuses_nothing_and_out_of_range(signed_in: httpx.AsyncClient) -> None:
    empty = await post_form(signed_in, "/account/progress", "/account/progress", {})
    assert empty.status_code == 400
    assert "at least one area" in empty.text
    wrong = await post_form(
        signed_in, "/account/progress", "/account/progress", {"parenting": "11"}
    )
    assert wrong.status_code == 400
    assert "from 1 to 10" in wrong.text


async def test_profile_change_goes_through_the_merge_patch(
    signed_in: httpx.AsyncClient, client: httpx.AsyncClient, leaver: Leaver
) -> None:
    before = (await client.get("/v1/me", headers=leaver.headers)).json()
    r = await post_form(
        signed_in,
        "/account/profile/contact",
        "/account/profile/contact",
        {
            "phone": "07700 900456",
            "email": "",
            "address": "1 New Road",
            "best_times": "",
            "preferred_method": "post",
        },
    )
    assert r.status_code == 303, r.text
    after = (await client.get("/v1/me", headers=leaver.headers)).json()
    assert after["version"] == before["version"] + 1
    assert after["data"]["contact"] == {
        "phone": "07700 900456",
        "address": "1 New Road",
        "preferred_method": "post",
    }
    page = await signed_in.get("/account/profile")
    assert "07700 900456" in page.text


async def test_the_profile_page_shows_every_section_in_words(
    signed_in: httpx.AsyncClient,
) -> None:
    """What others recorded (release, needs, plan, offence) is shown too, in words."""
    page = (await signed_in.get("/account/profile")).text
    assert "What others have recorded" in page
    assert "SENTINEL-HMP Bronzefield" in page
    assert "Reading" in page
    assert "E06000038" not in page
    assert "High need" in page
    assert "SENTINEL-accommodation" in page
    assert "SENTINEL-drugs" in page  # the leaver's own special-category data
    assert "SENTINEL-goal (in progress, by Sunday 31 January 2027)" in page
    assert "SENTINEL-offence-summary" in page
    assert "18 months" in page
    assert "Date of birth" in page
    assert "2 April 1990" in page
    assert "SENTINEL-pronouns" in page


async def test_key_worker_and_name_change_through_the_merge_patch(
    signed_in: httpx.AsyncClient, client: httpx.AsyncClient, leaver: Leaver
) -> None:
    r = await post_form(
        signed_in,
        "/account/profile/key_worker",
        "/account/profile/key_worker",
        {"name": "Sam Patel", "organisation": "Reading Probation", "phone": "0118 900 1234"},
    )
    assert r.status_code == 303, r.text
    r = await post_form(
        signed_in,
        "/account/profile/identity",
        "/account/profile/identity",
        {
            "given_name": "Jo",
            "family_name": "",
            "preferred_name": "",
            "pronouns": "they/them",
            "gender": "prefer_not_to_say",
        },
    )
    assert r.status_code == 303, r.text
    data = (await client.get("/v1/me", headers=leaver.headers)).json()["data"]
    assert data["key_worker"] == {
        "name": "Sam Patel",
        "organisation": "Reading Probation",
        "phone": "0118 900 1234",
    }
    # Emptied boxes remove their value; what the form does not show is kept.
    assert data["identity"] == {
        "given_name": "Jo",
        "pronouns": "they/them",
        "gender": "prefer_not_to_say",
        "date_of_birth": "1990-04-02",
    }
    page = (await signed_in.get("/account/profile")).text
    assert "Sam Patel" in page
    assert "I prefer not to say" in page


async def test_profile_change_says_what_is_wrong_and_keeps_the_old_data(
    signed_in: httpx.AsyncClient, client: httpx.AsyncClient, leaver: Leaver
) -> None:
    r = await post_form(
        signed_in, "/account/profile/contact", "/account/profile/contact", {"phone": "call me"}
    )
    assert r.status_code == 400
    assert "Enter a phone number" in r.text
    assert (await client.get("/v1/me", headers=leaver.headers)).json()["data"]["contact"][
        "phone"
    ] == "07700 900123"


async def test_a_stale_profile_form_is_refused(
    signed_in: httpx.AsyncClient, client: httpx.AsyncClient, leaver: Leaver
) -> None:
    page = await signed_in.get("/account/profile/contact")
    patched = await client.patch(
        "/v1/me",
        json={"contact": {"best_times": "evenings"}},
        headers={
            **leaver.headers,
            "If-Match": '"1"',
            "Content-Type": "application/merge-patch+json",
        },
    )
    assert patched.status_code == 200
    version = re.search(r'name="version" value="(\d+)"', page.text)
    assert version is not None
    r = await signed_in.post(
        "/account/profile/contact",
        data={"csrf_token": csrf_of(page), "version": version.group(1), "phone": "07700 900999"},
    )
    assert r.status_code == 409
    assert "changed since you opened this page" in r.text


async def test_download_is_the_export_and_is_logged(
    signed_in: httpx.AsyncClient, client: httpx.AsyncClient, actors: Actors, leaver: Leaver
) -> None:
    partner = await actors.client("profiles:read")
    await grant(client, leaver, partner.organisation_id, ["contact.phone"])
    r = await post_form(signed_in, "/account/download", "/account/download")
    assert r.status_code == 200
    assert r.headers["content-disposition"] == 'attachment; filename="onward-my-record.json"'
    assert r.headers["cache-control"] == "no-store"
    record = r.json()
    assert set(record) >= {"profile", "grants", "access_log", "referrals", "progress"}
    assert record["profile"]["reference"] == leaver.reference
    assert record["grants"][0]["receipt"]
    log = (await client.get("/v1/me/access-log", headers=leaver.headers)).json()["items"]
    assert log[0]["action"] == "profile.exported"
    looked = await signed_in.get("/account/who-has-looked")
    assert "You downloaded a copy of your information on" in looked.text


async def test_api_export_matches_and_is_logged(client: httpx.AsyncClient, leaver: Leaver) -> None:
    r = await client.get("/v1/me/export", headers=leaver.headers)
    assert r.status_code == 200
    assert r.headers["content-disposition"].startswith("attachment")
    assert r.json()["profile"]["id"] == leaver.id
    log = (await client.get("/v1/me/access-log", headers=leaver.headers)).json()["items"]
    assert [e["action"] for e in log] == ["profile.exported"]
    assert (await client.get("/v1/me/export")).status_code == 401


async def test_unknown_ids_are_a_not_found_page(signed_in: httpx.AsyncClient) -> None:
    for path in (
        "/account/support/not-a-uuid",
        "/account/support/00000000-0000-4000-8000-000000000000",
        "/account/profile/offence",
    ):
        r = await signed_in.get(path)
        assert r.status_code == 404, path
        assert "Page not found" in r.text


async def test_session_state_is_shared_by_replicas(
    app: Any, signed_in: httpx.AsyncClient, db: Database, settings: Any
) -> None:
    """The session lives in PostgreSQL: a second app (another replica) with the same
    secret serves the same cookie, and signing out on one ends it on the other."""
    from app.main import create_app

    other = create_app(settings, database=db)
    async with other.router.lifespan_context(other):
        async with page_client(other) as replica:
            cookie = {"Cookie": f"{COOKIE}={signed_in.cookies.get(COOKIE)}"}
            home = await replica.get("/account", headers=cookie)
            assert home.status_code == 200
            out = await replica.post(
                "/account/sign-out", data={"csrf_token": csrf_of(home)}, headers=cookie
            )
            assert out.status_code == 200
    assert (await signed_in.get("/account")).status_code == 303
    async with db.sessionmaker() as session:
        left = (
            await session.execute(
                text("SELECT count(*) FROM web_sessions WHERE profile_id IS NOT NULL")
            )
        ).scalar_one()
    assert left == 0
