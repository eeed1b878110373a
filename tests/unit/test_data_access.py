"""Issue 12 item 3 for the hot read: its SQL is its Core statement, compiled, and the
read and the list share one choke point. The source rules for every domain are in
``test_one_way_to_the_database.py``."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect


def test_the_hot_read_runs_its_core_statement_compiled_for_asyncpg() -> None:
    from app.profiles import repository

    compiled = repository.PARTNER_READ.compile(dialect=asyncpg_dialect())  # type: ignore[no-untyped-call]
    assert repository.PARTNER_READ_SQL == compiled.string
    assert compiled.positiontup is not None
    # Each argument sits at its own placeholder, whatever order the compiler chose.
    inputs: dict[str, Any] = {
        "client_id": "partner-client",
        "jti": "the-jti",
        "organisation_id": uuid.uuid4(),
        "now": datetime(2030, 1, 2, tzinfo=UTC),
        "profile_id": uuid.uuid4(),
    }
    args = repository.partner_read_args(**inputs)
    assert len(args) == len(compiled.positiontup)
    assert max(int(n) for n in re.findall(r"\$(\d+)", compiled.string)) == len(args)
    for name, value in inputs.items():
        assert args[compiled.positiontup.index(name)] == value


def test_the_read_and_the_list_share_one_choke_point() -> None:
    """The servable condition is written once: the hot read's SQL holds exactly the
    clause that servable_cuts renders for the list."""
    from sqlalchemy import bindparam
    from sqlalchemy.dialects import postgresql

    from app.profiles import repository

    listing = str(
        repository.servable_cuts(bindparam("o"), bindparam("n")).compile(
            dialect=postgresql.dialect()  # type: ignore[no-untyped-call]
        )
    )
    assert "cardinality(disclosure_cuts.grant_ids) >" in listing
    assert "disclosure_cuts.valid_until >" in listing
    hot = repository.PARTNER_READ_SQL
    assert hot.count("cardinality(disclosure_cuts.grant_ids) >") == 1
    assert hot.count("disclosure_cuts.valid_until >") == 1
