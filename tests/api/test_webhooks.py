"""Webhooks (API.md §9): registration, SSRF refusals, the outbox, signed delivery, retries.

Deliveries go to a real HTTP server on 127.0.0.1 (so these tests run with
ONWARD_WEBHOOKS_ALLOW_PRIVATE on, as the test settings have it) and are verified with the
`standardwebhooks` library, not with our own code. The delivery worker is run by hand.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from app.db import Database
from app.main import create_app
from app.settings import Settings
from app.webhooks.delivery import deliver_due
from tests.api.consent_helpers import grant, make_leaver, revoke
from tests.api.referral_helpers import referred, scene
from tests.api.webhook_helpers import Receiver, deliver, register, start_receiver
from tests.conftest import problem
from tests.support import Actors

PROFILE_EVENTS = ["profile.shared", "profile.updated", "profile.unshared"]
_FAILING_SINCE = "SELECT failing_since FROM webhooks WHERE id = :id"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = start_receiver()
    yield running
    running.server.shutdown()
    running.server.server_close()


async def _sql(app: FastAPI, statement: str, **params: Any) -> list[Any]:
    async with app.state.db.sessionmaker() as session:
        result = await session.execute(text(statement), params)
        rows = list(result.all()) if result.returns_rows else []
        await session.commit()
    return rows


async def _deliveries(app: FastAPI, webhook_id: str) -> list[Any]:
    return await _sql(
        app,
        "SELECT id, status, attempts, next_attempt_at FROM webhook_deliveries "
        "WHERE webhook_id = :id ORDER BY created_at",
        id=webhook_id,
    )


async def _make_due(app: FastAPI, webhook_id: str) -> None:
    """Advance time for the webhook's messages: due now."""
    await _sql(
        app,
        "UPDATE webhook_deliveries SET next_attempt_at = now() "
        "WHERE webhook_id = :id AND status = 'pending'",
        id=webhook_id,
    )


# --- registration --------------------------------------------------------------------


async def test_register_list_rotate_delete(client: httpx.AsyncClient, actors: Actors) -> None:
    partner = await actors.client("webhooks:manage")
    body = {
        "url": "https://partner.example/hooks",
        "events": ["profile.shared", "profile.erased", "profile.shared"],
        "description": "Case system",
    }
    r = await client.post("/v1/webhooks", json=body, headers=partner.headers)
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["secret"].startswith("whsec_")
    assert 24 <= len(base64.b64decode(made["secret"].removeprefix("whsec_"))) <= 32
    assert made["events"] == ["profile.shared", "profile.erased"]
    assert made["active"] is True
    assert made["disabled_reason"] is None
    assert r.headers["cache-control"] == "no-store"

    listed = await client.get("/v1/webhooks", headers=partner.headers)
    assert listed.status_code == 200
    page = listed.json()
    assert page["next_cursor"] is None
    assert [w["id"] for w in page["items"]] == [made["id"]]
    assert "secret" not in page["items"][0]
    assert made["secret"] not in listed.text

    rotated = await client.post(f"/v1/webhooks/{made['id']}/rotate-secret", headers=partner.headers)
    assert rotated.status_code == 200
    assert rotated.json()["id"] == made["id"]
    assert rotated.json()["secret"].startswith("whsec_")
    assert rotated.json()["secret"] != made["secret"]

    deliveries = await client.get(f"/v1/webhooks/{made['id']}/deliveries", headers=partner.headers)
    assert deliveries.json() == {"items": [], "next_cursor": None}

    gone = await client.delete(f"/v1/webhooks/{made['id']}", headers=partner.headers)
    assert gone.status_code == 204
    assert gone.content == b""
    assert (await client.get("/v1/webhooks", headers=partner.headers)).json()["items"] == []
    again = await client.delete(f"/v1/webhooks/{made['id']}", headers=partner.headers)
    assert again.status_code == 404


async def test_lists_are_paged_newest_first(client: httpx.AsyncClient, actors: Actors) -> None:
    partner = await actors.client("webhooks:manage")
    ids = [
        (await register(client, partner, f"https://partner.example/{i}", ["profile.shared"]))["id"]
        for i in range(3)
    ]
    first = (await client.get("/v1/webhooks?limit=2", headers=partner.headers)).json()
    assert [w["id"] for w in first["items"]] == ids[::-1][:2]
    rest = await client.get(
        "/v1/webhooks", params={"limit": 2, "cursor": first["next_cursor"]}, headers=partner.headers
    )
    assert [w["id"] for w in rest.json()["items"]] == [ids[0]]
    assert (await client.get("/v1/webhooks?limit=0", headers=partner.headers)).status_code == 422


async def test_another_organisations_webhook_is_404(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    owner = await actors.client("webhooks:manage")
    other = await actors.client("webhooks:manage")
    made = await register(client, owner, "https://partner.example/hooks", ["profile.shared"])
    for method, path in (
        ("DELETE", f"/v1/webhooks/{made['id']}"),
        ("POST", f"/v1/webhooks/{made['id']}/rotate-secret"),
        ("GET", f"/v1/webhooks/{made['id']}/deliveries"),
        ("DELETE", f"/v1/webhooks/{uuid.uuid4()}"),
        ("GET", "/v1/webhooks/not-a-uuid/deliveries"),
    ):
        r = await client.request(method, path, headers=other.headers)
        assert r.status_code == 404, (method, path)
        problem(r)
    assert (await client.get("/v1/webhooks", headers=other.headers)).json()["items"] == []
    # Still there for its owner.
    listed = await client.get("/v1/webhooks", headers=owner.headers)
    assert [w["id"] for w in listed.json()["items"]] == [made["id"]]


async def test_the_scope_is_needed_and_bodies_are_checked(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    reader = await actors.client("profiles:read")
    r = await client.get("/v1/webhooks", headers=reader.headers)
    assert r.status_code == 403
    assert "webhooks:manage" in r.headers["www-authenticate"]
    assert (await client.get("/v1/webhooks")).status_code == 401
    manager = await actors.client("webhooks:manage")
    for body in (
        {"url": "https://partner.example/h", "events": []},
        {"url": "https://partner.example/h", "events": ["profile.read"]},
        {"url": "https://partner.example/h", "events": ["profile.shared"], "secret": "x"},
        {"url": "https://partner.example/" + "a" * 2000, "events": ["profile.shared"]},
        {"events": ["profile.shared"]},
    ):
        r = await client.post("/v1/webhooks", json=body, headers=manager.headers)
        assert r.status_code == 422, body
        problem(r)


# --- SSRF: without ONWARD_WEBHOOKS_ALLOW_PRIVATE -----------------------------------------


@pytest.fixture
async def strict_app(settings: Settings, db: Database) -> AsyncIterator[FastAPI]:
    strict = create_app(settings.model_copy(update={"webhooks_allow_private": False}), database=db)
    async with strict.router.lifespan_context(strict):
        yield strict


REFUSED_URLS = [
    "http://partner.example/hooks",  # not https
    "ftp://partner.example/hooks",
    "https://user:pass@partner.example/hooks",  # credentials in the URL
    "https://127.0.0.1/hooks",  # loopback
    "https://localhost:8443/hooks",
    "https://2130706433/hooks",  # 127.0.0.1 spelt as a number
    "https://0x7f.1/hooks",
    "https://[::1]/hooks",
    "https://0.0.0.0/hooks",  # unspecified
    "https://10.1.2.3/hooks",  # private
    "https://172.16.0.10/hooks",
    "https://192.168.1.20/hooks",
    "https://100.64.0.1/hooks",  # CGNAT
    "https://169.254.169.254/latest/meta-data",  # cloud metadata
    "https://169.254.10.10/hooks",  # link-local
    "https://[fe80::1]/hooks",
    "https://[fd00:ec2::254]/hooks",  # IPv6 ULA (an IPv6 metadata address)
    "https://[::ffff:127.0.0.1]/hooks",  # IPv4-mapped
    "https://[::ffff:169.254.169.254]/hooks",
    "https://[64:ff9b::a00:1]/hooks",  # NAT64 of 10.0.0.1
    "https://224.0.0.1/hooks",  # multicast
    "https://does-not-exist.invalid/hooks",  # does not resolve
]


@pytest.mark.parametrize("url", REFUSED_URLS)
async def test_unsafe_urls_are_refused(strict_app: FastAPI, url: str) -> None:
    actors = Actors(strict_app)
    manager = await actors.client("webhooks:manage")
    transport = httpx.ASGITransport(app=strict_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        r = await client.post(
            "/v1/webhooks", json={"url": url, "events": ["profile.shared"]}, headers=manager.headers
        )
        assert r.status_code == 422, r.text
        body = problem(r)
        assert body["errors"][0]["loc"] == ["body", "url"]
        host = httpx.URL(url).host
        assert host not in r.text  # the URL is not echoed
        assert (await client.get("/v1/webhooks", headers=manager.headers)).json()["items"] == []


async def test_the_address_is_checked_again_at_delivery(
    client: httpx.AsyncClient, app: FastAPI, actors: Actors, receiver: Receiver
) -> None:
    """A URL accepted earlier (here: allowed private) that now points at a private address
    is refused when the worker runs without the allowance: nothing is sent."""
    partner = await actors.client("profiles:read", "webhooks:manage")
    made = await register(client, partner, receiver.url, PROFILE_EVENTS)
    leaver = await make_leaver(client, actors)
    await grant(client, leaver, partner.organisation_id, ["contact.phone"])
    assert await deliver_due(app.state.db.sessionmaker, allow_private=False) >= 1
    assert receiver.received == []
    attempts = (
        await client.get(f"/v1/webhooks/{made['id']}/deliveries", headers=partner.headers)
    ).json()["items"]
    assert [(a["outcome"], a["status_code"]) for a in attempts] == [("refused", None)]


# --- the outbox and delivery -----------------------------------------------------------


async def test_a_grant_and_its_revocation_reach_a_standard_webhooks_receiver(
    client: httpx.AsyncClient, app: FastAPI, actors: Actors, receiver: Receiver
) -> None:
    partner = await actors.client("profiles:read", "webhooks:manage")
    made = await register(client, partner, receiver.url, PROFILE_EVENTS)
    leaver = await make_leaver(client, actors)
    given = await grant(client, leaver, partner.organisation_id, ["contact.phone"])
    await deliver(app)

    [shared] = receiver.received
    assert shared.path == "/hook"
    assert shared.headers["Content-Type"] == "application/json"
    event = Webhook(made["secret"]).verify(shared.body, shared.headers)
    assert event["type"] == "profile.shared"
    assert event["data"] == {"profile_id": leaver.id, "grant_id": given["id"]}
    assert datetime.fromisoformat(event["timestamp"]).tzinfo is not None
    assert "07700" not in shared.body  # ids only, never personal data
    # The library really checks: a changed body or another secret fails.
    with pytest.raises(WebhookVerificationError):
        Webhook(made["secret"]).verify(shared.body.replace("shared", "updated"), shared.headers)
    other_secret = "whsec_" + base64.b64encode(b"x" * 32).decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(other_secret).verify(shared.body, shared.headers)

    # Nothing more is due: a second round sends nothing.
    await deliver(app)
    assert len(receiver.received) == 1

    assert (await revoke(client, leaver, given["id"])).status_code == 200
    await deliver(app)
    unshared = Webhook(made["secret"]).verify(
        receiver.received[1].body, receiver.received[1].headers
    )
    assert unshared["type"] == "profile.unshared"
    assert unshared["data"] == {"profile_id": leaver.id, "grant_id": given["id"]}

    attempts = (
        await client.get(f"/v1/webhooks/{made['id']}/deliveries", headers=partner.headers)
    ).json()["items"]
    assert [(a["type"], a["status_code"], a["outcome"]) for a in attempts] == [
        ("profile.unshared", 204, "delivered"),
        ("profile.shared", 204, "delivered"),
    ]
    assert attempts[1]["message_id"] == shared.headers["webhook-id"]


async def test_only_subscribed_events_and_only_changes_the_partner_can_see(
    client: httpx.AsyncClient, app: FastAPI, actors: Actors, receiver: Receiver
) -> None:
    partner = await actors.client("profiles:read", "webhooks:manage")
    made = await register(client, partner, receiver.url, ["profile.updated"])
    leaver = await make_leaver(client, actors)
    await grant(client, leaver, partner.organisation_id, ["contact.phone"])  # shared: not wanted
    own = await client.get("/v1/me", headers=leaver.headers)
    # An edit of a field the partner was not given: no event.
    await client.patch(
        "/v1/me",
        json={"identity": {"pronouns": "they/them"}},
        headers={**leaver.headers, "If-Match": own.headers["etag"]},
    )
    assert await _deliveries(app, made["id"]) == []
    own = await client.get("/v1/me", headers=leaver.headers)
    await client.patch(
        "/v1/me",
        json={"contact": {"phone": "07700 900999"}},
        headers={**leaver.headers, "If-Match": own.headers["etag"]},
    )
    await deliver(app)
    [received] = receiver.received
    event = Webhook(made["secret"]).verify(received.body, received.headers)
    assert event["type"] == "profile.updated"
    assert event["data"] == {"profile_id": leaver.id}
    assert "900999" not in received.body


async def test_referral_events_go_to_the_provider(
    client: httpx.AsyncClient, app: FastAPI, actors: Actors, receiver: Receiver
) -> None:
    s = await scene(client, actors)
    manager = await actors.client(
        "webhooks:manage", kind="provider", organisation_id=s.provider.actor.organisation_id
    )
    made = await register(client, manager, receiver.url, ["referral.created", "referral.withdrawn"])
    referral = await referred(client, s.leaver, s.offer, message="A story")
    withdrawn = await client.post(
        f"/v1/me/referrals/{referral['id']}/withdraw", headers=s.leaver.headers
    )
    assert withdrawn.status_code == 200
    await deliver(app)
    events = [Webhook(made["secret"]).verify(r.body, r.headers) for r in receiver.received]
    expected = {
        "profile_id": s.leaver.id,
        "referral_id": referral["id"],
        "grant_id": referral["grant_id"],
    }
    assert sorted((e["type"], json.dumps(e["data"], sort_keys=True)) for e in events) == [
        ("referral.created", json.dumps(expected, sort_keys=True)),
        ("referral.withdrawn", json.dumps(expected, sort_keys=True)),
    ]
    assert all("A story" not in r.body for r in receiver.received)


async def test_failures_are_retried_with_growing_delays_and_delivered_once(
    client: httpx.AsyncClient, app: FastAPI, actors: Actors, receiver: Receiver
) -> None:
    partner = await actors.client("profiles:read", "webhooks:manage")
    made = await register(client, partner, receiver.url, PROFILE_EVENTS)
    receiver.statuses.extend([500, 503])
    leaver = await make_leaver(client, actors)
    await grant(client, leaver, partner.organisation_id, ["contact.phone"])

    before = datetime.now(UTC)
    await deliver(app)
    [(_, status, attempts, next_at)] = await _deliveries(app, made["id"])
    assert (status, attempts) == ("pending", 1)
    assert before + timedelta(seconds=4) < next_at < datetime.now(UTC) + timedelta(seconds=6)
    # Not due yet: nothing is sent.
    await deliver(app)
    assert len(receiver.received) == 1

    await _make_due(app, made["id"])
    before = datetime.now(UTC)
    await deliver(app)
    [(_, status, attempts, next_at)] = await _deliveries(app, made["id"])
    assert (status, attempts) == ("pending", 2)
    assert next_at > before + timedelta(minutes=4)  # the delay grew: about 5 minutes
    assert next_at < datetime.now(UTC) + timedelta(minutes=6)

    # The secret is rotated meanwhile: the retry is signed with the new one.
    rotated = await client.post(f"/v1/webhooks/{made['id']}/rotate-secret", headers=partner.headers)
    new_secret = rotated.json()["secret"]
    await _make_due(app, made["id"])
    await deliver(app)
    [(_, status, attempts, next_at)] = await _deliveries(app, made["id"])
    assert (status, attempts, next_at) == ("delivered", 3, None)

    last = receiver.received[-1]
    assert Webhook(new_secret).verify(last.body, last.headers)["type"] == "profile.shared"
    with pytest.raises(WebhookVerificationError):
        Webhook(made["secret"]).verify(last.body, last.headers)
    # Three attempts of one message: the receiver can tell by `webhook-id`.
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1
    assert len({r.body for r in receiver.received}) == 1
    attempts_seen = (
        await client.get(f"/v1/webhooks/{made['id']}/deliveries", headers=partner.headers)
    ).json()["items"]
    assert [(a["status_code"], a["outcome"]) for a in attempts_seen] == [
        (204, "delivered"),
        (503, "http_error"),
        (500, "http_error"),
    ]
    listed = (await client.get("/v1/webhooks", headers=partner.headers)).json()["items"]
    assert listed[0]["active"] is True


async def test_redirects_are_not_followed(
    client: httpx.AsyncClient, app: FastAPI, actors: Actors, receiver: Receiver
) -> None:
    partner = await actors.client("profiles:read", "webhooks:manage")
    made = await register(client, partner, receiver.url, PROFILE_EVENTS)
    receiver.statuses.append(302)
    leaver = await make_leaver(client, actors)
    await grant(client, leaver, partner.organisation_id, ["contact.phone"])
    await deliver(app)
    assert [r.path for r in receiver.received] == ["/hook"]  # never /elsewhere
    [(_, status, attempts, _next)] = await _deliveries(app, made["id"])
    assert (status, attempts) == ("pending", 1)
    attempts_seen = (
        await client.get(f"/v1/webhooks/{made['id']}/deliveries", headers=partner.headers)
    ).json()["items"]
    assert [(a["status_code"], a["outcome"]) for a in attempts_seen] == [(302, "http_error")]


async def test_a_message_is_given_up_a_day_after_the_event(
    client: httpx.AsyncClient, app: FastAPI, actors: Actors, receiver: Receiver
) -> None:
    partner = await actors.client("profiles:read", "webhooks:manage")
    made = await register(client, partner, receiver.url, PROFILE_EVENTS)
    receiver.default = 500
    leaver = await make_leaver(client, actors)
    await grant(client, leaver, partner.organisation_id, ["contact.phone"])
    await deliver(app)
    # Time passes: the event is now 23 h 59 min old, and the next delay would pass a day.
    await _sql(
        app,
        "UPDATE webhook_deliveries SET created_at = now() - interval '23 hours 59 minutes', "
        "next_attempt_at = now() WHERE webhook_id = :id",
        id=made["id"],
    )
    await deliver(app)
    [(_, status, attempts, next_at)] = await _deliveries(app, made["id"])
    assert (status, attempts, next_at) == ("failed", 2, None)
    # Given up: even when "due", it is not sent again.
    await _sql(
        app,
        "UPDATE webhook_deliveries SET next_attempt_at = now() WHERE webhook_id = :id",
        id=made["id"],
    )
    await deliver(app)
    assert len(receiver.received) == 2


async def test_an_endpoint_failing_for_three_days_is_disabled(
    client: httpx.AsyncClient, app: FastAPI, actors: Actors, receiver: Receiver
) -> None:
    partner = await actors.client("profiles:read", "webhooks:manage")
    made = await register(client, partner, receiver.url, PROFILE_EVENTS)
    receiver.default = 500
    leaver = await make_leaver(client, actors)
    await grant(client, leaver, partner.organisation_id, ["contact.phone"])
    await deliver(app)
    # Failing for two days: still active.
    await _sql(
        app,
        "UPDATE webhooks SET failing_since = now() - interval '2 days' WHERE id = :id",
        id=made["id"],
    )
    await _make_due(app, made["id"])
    await deliver(app)
    listed = (await client.get("/v1/webhooks", headers=partner.headers)).json()["items"]
    assert listed[0]["active"] is True
    # Three days: disabled, and shown as such.
    await _sql(
        app,
        "UPDATE webhooks SET failing_since = now() - interval '3 days 1 minute' WHERE id = :id",
        id=made["id"],
    )
    await _make_due(app, made["id"])
    await deliver(app)
    [webhook] = (await client.get("/v1/webhooks", headers=partner.headers)).json()["items"]
    assert webhook["active"] is False
    assert "three days" in webhook["disabled_reason"]
    # Nothing more is queued or sent.
    sent = len(receiver.received)
    other = await make_leaver(client, actors)
    await grant(client, other, partner.organisation_id, ["contact.phone"])
    await _make_due(app, made["id"])
    await deliver(app)
    assert len(receiver.received) == sent
    assert len(await _deliveries(app, made["id"])) == 1


async def test_a_success_resets_the_failing_clock(
    client: httpx.AsyncClient, app: FastAPI, actors: Actors, receiver: Receiver
) -> None:
    partner = await actors.client("profiles:read", "webhooks:manage")
    made = await register(client, partner, receiver.url, PROFILE_EVENTS)
    receiver.statuses.append(500)
    leaver = await make_leaver(client, actors)
    await grant(client, leaver, partner.organisation_id, ["contact.phone"])
    await deliver(app)
    [(failing,)] = await _sql(
        app, "SELECT failing_since FROM webhooks WHERE id = :id", id=made["id"]
    )
    assert failing is not None
    await _make_due(app, made["id"])
    await deliver(app)
    [(failing,)] = await _sql(
        app, "SELECT failing_since FROM webhooks WHERE id = :id", id=made["id"]
    )
    assert failing is None


async def test_a_disabled_organisations_webhooks_stop(
    client: httpx.AsyncClient, app: FastAPI, actors: Actors, receiver: Receiver
) -> None:
    partner = await actors.client("profiles:read", "webhooks:manage")
    await register(client, partner, receiver.url, PROFILE_EVENTS)
    admin = await actors.client("admin", kind="operator")
    leaver = await make_leaver(client, actors)
    await grant(client, leaver, partner.organisation_id, ["contact.phone"])
    r = await client.post(
        f"/v1/admin/organisations/{partner.organisation_id}/disable", headers=admin.headers
    )
    assert r.status_code == 200
    await deliver(app)
    assert receiver.received == []
