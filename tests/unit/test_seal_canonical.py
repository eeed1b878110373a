"""The sealed log's canonical JSON is byte for byte ``json.dumps``'s (sorted keys, no
spaces, ASCII): seals written before the faster encoder must still verify, and anyone can
recompute a seal with a stock JSON library."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from app.audit.seal import Event, canonical_json

texts = st.text(max_size=40)  # quotes, backslashes, control characters, any plane


def reference(event: Event) -> bytes:
    """The encoding as it was first written: a dict through json.dumps."""
    document = {
        "seq": event.seq,
        "id": str(event.id),
        "at": event.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "profile_id": str(event.profile_id),
        "organisation_id": str(event.organisation_id) if event.organisation_id else None,
        "client_id": event.client_id,
        "action": event.action,
        "fields": list(event.fields),
        "grant_ids": [str(g) for g in event.grant_ids],
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


events = st.builds(
    Event,
    seq=st.integers(min_value=1, max_value=2**63 - 1),
    id=st.uuids(),
    at=st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2100, 1, 1),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=1)), timezone(-timedelta(hours=5))]
        ),
    ),
    profile_id=st.uuids(),
    organisation_id=st.none() | st.uuids(),
    client_id=st.none() | texts,
    action=texts,
    fields=st.lists(texts, max_size=6),
    grant_ids=st.lists(st.uuids(), max_size=4),
)


@settings(max_examples=500, deadline=None)
@given(events)
def test_canonical_json_is_json_dumps_sorted(event: Event) -> None:
    assert canonical_json(event) == reference(event)


def test_a_known_event_encodes_as_published() -> None:
    event = Event(
        7,
        uuid.UUID("00000000-0000-0000-0000-000000000001"),
        datetime(2026, 12, 4, 10, 12, tzinfo=UTC),
        uuid.UUID("00000000-0000-0000-0000-000000000002"),
        None,
        'say "hi" — ok',
        "profile.read",
        ["contact.phone"],
        [],
    )
    assert canonical_json(event) == (
        b'{"action":"profile.read","at":"2026-12-04T10:12:00.000000Z",'
        b'"client_id":"say \\"hi\\" \\u2014 ok","fields":["contact.phone"],"grant_ids":[],'
        b'"id":"00000000-0000-0000-0000-000000000001","organisation_id":null,'
        b'"profile_id":"00000000-0000-0000-0000-000000000002","seq":7}'
    )
