"""Issue 12 item 3, "one way to reach the database", for profiles, audit and the token's
liveness: no SQL from strings, and the hot read's SQL is its Core statement, compiled."""

from __future__ import annotations

import ast
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect

APP = Path(__file__).resolve().parents[2] / "app"
MODULES = sorted(
    [
        *(APP / "profiles").glob("*.py"),
        *(APP / "audit").glob("*.py"),
        APP / "auth" / "principal.py",
    ]
)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(APP)))
def test_no_sql_from_strings(path: Path) -> None:
    source = path.read_text()
    assert "S608" not in source
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "sqlalchemy":
            assert "text" not in {alias.name for alias in node.names}, "sqlalchemy.text"
        if isinstance(node, ast.Attribute) and node.attr in ("text", "format"):
            # sqlalchemy.text(...) or "...".format(...) building a statement
            value = node.value
            assert not (isinstance(value, ast.Name) and value.id in ("sqlalchemy", "sa"))
            if node.attr == "format" and isinstance(value, ast.Constant):
                assert not re.search(r"\b(SELECT|INSERT|UPDATE|DELETE|WHERE)\b", str(value.value))
        if isinstance(node, ast.JoinedStr):
            literal = "".join(str(v.value) for v in node.values if isinstance(v, ast.Constant))
            assert not re.search(r"\b(SELECT|INSERT INTO|DELETE FROM|WHERE)\b", literal), (
                f"f-string SQL at line {node.lineno}"
            )


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
