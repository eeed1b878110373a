"""A Python client generated from the served spec works end to end (API.md §0 "docs").

``openapi-python-client`` turns ``app.openapi()`` into a package with no warning, and the
whole journey runs through that package against the app: the kiosk creates a profile, the
leaver signs in with the PIN grant, edits the profile, shares it; a partner reads it; the
leaver sees the read; a provider publishes an offer; the leaver asks for it; the provider
moves the referral; the leaver records progress and revokes the grant. Run these alone with
``make test PYTEST_ARGS="-m generated_client"``.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from http import HTTPStatus
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.main import create_app
from app.settings import Settings
from tests.support import Actors

pytestmark = pytest.mark.generated_client

PACKAGE = "onward_generated_client"
GENERATOR = Path(sys.executable).parent / "openapi-python-client"


def generate(spec: dict[str, Any], workdir: Path) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Run the generator on ``spec``; its own ruff post-hook needs ruff on PATH (the venv's)."""
    spec_file = workdir / "openapi.json"
    spec_file.write_text(json.dumps(spec))
    output = workdir / PACKAGE
    env = {**os.environ, "PATH": f"{GENERATOR.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    run = subprocess.run(
        [
            str(GENERATOR),
            "generate",
            "--path",
            str(spec_file),
            "--output-path",
            str(output),
            "--meta",
            "none",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    return run, output


@pytest.fixture(scope="module")
def generated(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[subprocess.CompletedProcess[str], Path]]:
    workdir = tmp_path_factory.mktemp("generated")
    run, output = generate(create_app(settings).openapi(), workdir)
    sys.path.insert(0, str(workdir))
    try:
        yield run, output
    finally:
        sys.path.remove(str(workdir))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def module(name: str) -> ModuleType:
    return importlib.import_module(f"{PACKAGE}.{name}")


def test_generator_accepts_the_spec_without_a_warning(
    generated: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    run, output = generated
    said = (run.stdout + run.stderr).strip().splitlines()
    # A clean run says only where it wrote; anything else is a warning (a model dropped, a
    # response left out, a duplicate name, the post-hook not found).
    assert run.returncode == 0, run.stdout + run.stderr
    assert said == [f"Generating {output}"], run.stdout + run.stderr
    # Every operation got its own module named for its operationId, under its tag.
    for path in (
        "api/consent/create_grant.py",
        "api/profiles/read_profile.py",
        "api/offers/list_offers.py",
        "api/referrals/create_referral.py",
        "api/oauth/issue_token.py",
        "models/offer_contact.py",
        "models/profile_contact.py",
        "models/profile_data.py",
        "models/own_profile.py",
        "models/partner_profile.py",
    ):
        assert (output / path).is_file(), path


# --- the journey, through the generated package ------------------------------------------


class Api:
    """The generated package's clients, bound to the app in this test's transaction."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.client_module = module("client")

    def _args(self) -> dict[str, Any]:
        return {"transport": httpx.ASGITransport(app=self.app)}

    def anonymous(self) -> Any:
        return self.client_module.Client(base_url="http://testserver", httpx_args=self._args())

    def bearer(self, token: str) -> Any:
        return self.client_module.AuthenticatedClient(
            base_url="http://testserver", token=token, httpx_args=self._args()
        )


def call_ok(response: Any, status: HTTPStatus = HTTPStatus.OK) -> Any:
    assert response.status_code == status, (response.status_code, response.content)
    return response.parsed


def referral_body(models: ModuleType, offer: Any, fields: list[str], message: str) -> Any:
    """The referral request: ``fields`` and ``offer_version`` (the version the leaver saw,
    ``offer.version``) are required (API.md §5)."""
    return models.ReferralCreate(
        offer_id=offer.id, offer_version=offer.version, fields=fields, message=message
    )


async def test_journey_through_the_generated_client(
    generated: tuple[subprocess.CompletedProcess[str], Path], app: FastAPI, actors: Actors
) -> None:
    assert generated[0].returncode == 0
    models = module("models")
    api = Api(app)
    kiosk = await actors.client("profiles:create", kind="establishment")
    partner = await actors.client("profiles:read", kind="partner", name="Reading Probation")
    provider = await actors.client(
        "offers:write", "referrals:read", "referrals:write", kind="provider", name="Kennet Homes"
    )

    # An organisation's system gets its token through the generated token call
    # (client_secret_post), as the partner does here.
    issue_token = module("api.oauth.issue_token")
    issued = call_ok(
        await issue_token.asyncio_detailed(
            client=api.anonymous(),
            body=models.IssueTokenBody(
                grant_type=models.IssueTokenBodyGrantType("client_credentials"),
                client_id=partner.client_id,
                client_secret=partner.client_secret,
            ),
        )
    )
    assert isinstance(issued, models.TokenResponse), issued
    assert issued.scope == "profiles:read"
    as_partner = api.bearer(issued.access_token)

    # The kiosk creates the profile.
    created = call_ok(
        await module("api.profiles.create_profile").asyncio_detailed(
            client=api.bearer(kiosk.token),
            body=models.ProfileCreate(
                pin="284913",
                data=models.ProfileData.from_dict(
                    {
                        "identity": {"given_name": "Sam", "date_of_birth": "1990-06-01"},
                        "release": {"establishment": "HMP Bullingdon", "area": "E06000038"},
                        "story": {"summary": "Not for the partner."},
                    }
                ),
            ),
        ),
        HTTPStatus.CREATED,
    )
    assert isinstance(created, models.ProfileCreated)

    # The leaver signs in with reference and PIN: the form-encoded PIN grant, generated too.
    signed_in = call_ok(
        await issue_token.asyncio_detailed(
            client=api.anonymous(),
            body=models.IssueTokenBody(
                grant_type=models.IssueTokenBodyGrantType("urn:onward:grant-type:leaver-pin"),
                reference=created.reference,
                pin="284913",
            ),
        )
    )
    assert signed_in.scope == "self"
    as_leaver = api.bearer(signed_in.access_token)

    # Read, then change the profile with the ETag as If-Match (a required argument).
    read_me = await module("api.me.read_me").asyncio_detailed(client=as_leaver)
    own = call_ok(read_me)
    assert isinstance(own, models.OwnProfile)
    assert own.data.identity.given_name == "Sam"
    patched = call_ok(
        await module("api.me.patch_me").asyncio_detailed(
            client=as_leaver,
            if_match=read_me.headers["etag"],
            body=models.ProfileData.from_dict({"contact": {"phone": "07700 900123"}}),
        )
    )
    assert patched.version == own.version + 1
    assert patched.data.contact.phone == "07700 900123"

    # Share three fields with the partner.
    grant = call_ok(
        await module("api.consent.create_grant").asyncio_detailed(
            client=as_leaver,
            body=models.GrantCreate(
                organisation_id=partner.organisation_id,
                fields=["identity.given_name", "contact.phone", "release.area"],
                purpose=models.GrantCreatePurpose("case_coordination"),
            ),
        ),
        HTTPStatus.CREATED,
    )
    assert isinstance(grant, models.Grant)
    assert grant.status == models.GrantStatus.ACTIVE

    # The partner reads exactly those fields.
    read_profile = module("api.profiles.read_profile")
    seen = call_ok(await read_profile.asyncio_detailed(profile_id=created.id, client=as_partner))
    assert isinstance(seen, models.PartnerProfile)
    assert sorted(seen.disclosed_fields) == [
        "contact.phone",
        "identity.given_name",
        "release.area",
    ]
    assert seen.data.to_dict() == {
        "identity": {"given_name": "Sam"},
        "contact": {"phone": "07700 900123"},
        "release": {"area": "E06000038"},
    }

    # The leaver sees who read what.
    log = call_ok(await module("api.me.read_access_log").asyncio_detailed(client=as_leaver))
    assert isinstance(log, models.AccessLogPage)
    assert log.items[0].action == "profile.read"
    assert log.items[0].organisation.name == "Reading Probation"
    assert sorted(log.items[0].fields) == sorted(seen.disclosed_fields)

    # A provider publishes an offer; the public catalogue lists it.
    offer = call_ok(
        await module("api.offers.create_offer").asyncio_detailed(
            client=api.bearer(provider.token),
            body=models.OfferCreate.from_dict(
                {
                    "title": "Housing advice drop-in",
                    "category": "accommodation",
                    "eligibility": {"areas": ["E06000038"]},
                    "schedule": {"always_open": True},
                    "contact": {"phone": "0118 496 0000"},
                    "required_fields": ["identity.given_name", "contact.phone"],
                    "status": "published",
                }
            ),
        ),
        HTTPStatus.CREATED,
    )
    assert isinstance(offer, models.Offer)
    catalogue = call_ok(
        await module("api.offers.list_offers").asyncio_detailed(
            client=api.anonymous(), q="housing advice"
        )
    )
    assert [item.id for item in catalogue.items] == [offer.id]

    # The leaver asks for it; the provider reads the referral and moves it on.
    referral = call_ok(
        await module("api.referrals.create_referral").asyncio_detailed(
            client=as_leaver,
            body=referral_body(
                models, offer, ["identity.given_name", "contact.phone"], "Friday, please."
            ),
        ),
        HTTPStatus.CREATED,
    )
    assert isinstance(referral, models.Referral)
    assert referral.status == models.ReferralStatus.PENDING
    as_provider = api.bearer(provider.token)
    inbox = call_ok(
        await module("api.referrals.list_referrals").asyncio_detailed(client=as_provider)
    )
    assert isinstance(inbox, models.ProviderReferralPage)
    assert [item.id for item in inbox.items] == [referral.id]
    opened = call_ok(
        await module("api.referrals.read_referral").asyncio_detailed(
            referral_id=str(referral.id), client=as_provider
        )
    )
    assert opened.profile_id == created.id
    assert opened.message == "Friday, please."
    moved = call_ok(
        await module("api.referrals.update_referral_status").asyncio_detailed(
            referral_id=str(referral.id),
            client=as_provider,
            body=models.StatusChange(
                status=models.StatusChangeStatus("accepted"), note="See you at the gate."
            ),
        )
    )
    assert [entry.status.value for entry in moved.history] == ["pending", "accepted"]

    # Progress, recorded and listed.
    reading = call_ok(
        await module("api.referrals.record_progress").asyncio_detailed(
            client=as_leaver,
            body=models.ProgressCreate(
                readings=models.ProgressCreateReadings.from_dict(
                    {"accommodation": 3, "mental_health": 6}
                )
            ),
        ),
        HTTPStatus.CREATED,
    )
    assert isinstance(reading, models.ProgressReading)
    readings = call_ok(
        await module("api.referrals.list_progress").asyncio_detailed(client=as_leaver)
    )
    assert isinstance(readings, models.ProgressReadingPage)
    assert [item.id for item in readings.items] == [reading.id]
    assert readings.items[0].readings.to_dict() == {"accommodation": 3, "mental_health": 6}

    # Revoking the grant stops the partner's reads at once.
    revoked = call_ok(
        await module("api.consent.revoke_grant").asyncio_detailed(
            grant_id=str(grant.id), client=as_leaver
        )
    )
    assert revoked.status == models.GrantStatus.REVOKED
    gone = await read_profile.asyncio_detailed(profile_id=created.id, client=as_partner)
    assert gone.status_code == HTTPStatus.NOT_FOUND
