"""The hot read's SQL twin of disclosure equals ``consent.policy.disclose``, on PostgreSQL.

The partner read records its access event inside its own statement, so the leaves it
records are computed in SQL (``policy.disclosed_fields_sql`` inside
``profiles.service._READ_ONE``) while the leaves it returns are computed by
``policy.disclose``. These properties run the real statement on stored, generated
documents and grants and hold the two equal; the read also refuses to answer if they
ever differ (test_partner_read_hot_path.py).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.consent.catalogue import FIELDS, PATHS, SECTIONS
from app.consent.policy import GrantScope, disclose
from app.db import Database
from app.profiles import service
from tests.strategies import LEAF_PATHS, documents

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

granted_paths = st.lists(
    st.one_of(
        st.sampled_from(sorted(PATHS)),
        st.sampled_from(["bogus", "contact.x", "contact.", ".phone", "identity.given_name.x"]),
    ),
    min_size=1,
    max_size=6,
)


Partner = tuple[uuid.UUID, str, uuid.UUID]
EVERYTHING = sorted(SECTIONS)


@pytest.fixture
async def partner(db: Database) -> Partner:
    """An organisation, an active client of it, and another organisation, inside the
    test's transaction."""
    org, client, other = uuid.uuid4(), "sql-twin-" + uuid.uuid4().hex[:8], uuid.uuid4()
    async with db.raw() as conn:
        for organisation in (org, other):
            await conn.execute(
                "INSERT INTO organisations (id, name, kind) VALUES ($1, 'Twin', 'partner')",
                organisation,
            )
        await conn.execute(
            "INSERT INTO clients (client_id, organisation_id, name, scopes, secret_hash)"
            " VALUES ($1, $2, 'twin', '{profiles:read}', 'x')",
            client,
            org,
        )
    return org, client, other


async def read_one(
    db: Database,
    partner: Partner,
    document: dict[str, Any],
    grant_fields: list[list[str]],
) -> tuple[list[str], list[str]]:
    """Store the profile and grants, run the hot statement: (recorded, disclosed) leaves.

    Beside the active grants, the profile also holds grants of everything that must not
    count: one revoked, one expired at the statement's instant, one to another
    organisation."""
    org, client, other = partner
    profile = uuid.uuid4()
    async with db.raw() as conn:
        await conn.execute(
            "INSERT INTO profiles (id, reference, pin_hash, data)"
            " VALUES ($1, $2, 'x', $3::text::jsonb)",
            profile,
            profile.hex[:13],
            json.dumps(document),
        )
        for i, fields in enumerate(grant_fields):
            await conn.execute(
                "INSERT INTO consent_grants (id, profile_id, organisation_id, fields, purpose,"
                " granted_at, expires_at, receipt) VALUES ($1, $2, $3, $4, 'support_delivery',"
                " $5, $6, 'r')",
                uuid.uuid4(),
                profile,
                org,
                fields,
                NOW - timedelta(minutes=len(grant_fields) - i),
                NOW + timedelta(days=1),
            )
        for organisation, expires_at, revoked_at in (
            (org, NOW + timedelta(days=1), NOW - timedelta(minutes=1)),
            (org, NOW, None),
            (other, NOW + timedelta(days=1), None),
        ):
            await conn.execute(
                "INSERT INTO consent_grants (id, profile_id, organisation_id, fields, purpose,"
                " granted_at, expires_at, revoked_at, receipt) VALUES ($1, $2, $3, $4,"
                " 'support_delivery', $5, $6, $7, 'r')",
                uuid.uuid4(),
                profile,
                organisation,
                EVERYTHING,
                NOW - timedelta(days=1),
                expires_at,
                revoked_at,
            )
        row = await conn.fetchrow(service._READ_ONE, client, "no-such-jti", org, NOW, profile)
    grants = [GrantScope(uuid.uuid4(), tuple(f), NOW + timedelta(days=1)) for f in grant_fields]
    return row["event_fields"], disclose(document, grants, NOW).fields


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(document=documents(), grant_fields=st.lists(granted_paths, min_size=1, max_size=4))
async def test_the_hot_read_records_exactly_what_disclose_discloses(
    db: Database,
    partner: Partner,
    document: dict[str, Any],
    grant_fields: list[list[str]],
) -> None:
    recorded, disclosed = await read_one(db, partner, document, grant_fields)
    assert recorded == disclosed


async def test_every_leaf_is_recorded_in_catalogue_order(db: Database, partner: Partner) -> None:
    document: dict[str, Any] = {}
    for f in FIELDS:
        document.setdefault(f.section, {})[f.path.split(".", 1)[1]] = "x"
    # Sections granted in reverse across two grants: the record still follows the catalogue.
    sections = sorted(SECTIONS, reverse=True)
    recorded, disclosed = await read_one(db, partner, document, [sections[:3], sections[3:]])
    assert recorded == disclosed == LEAF_PATHS
