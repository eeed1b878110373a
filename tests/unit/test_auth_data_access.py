"""The auth domain reaches the database one way (issue 12, item 3): Core statements in
``app/auth/repository.py``; the service modules hold no SQL."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from app.auth import repository

AUTH = Path(__file__).resolve().parents[2] / "app" / "auth"
NOT_YET: set[str] = set()  # every auth module is held to the rule
SERVICES = sorted(p for p in AUTH.glob("*.py") if p.name not in {"repository.py", *NOT_YET})
# What builds or runs a statement; a service module imports none of it.
STATEMENT_NAMES = {
    "text",
    "select",
    "insert",
    "update",
    "delete",
    "func",
    "literal_column",
    "bindparam",
}


@pytest.mark.parametrize("path", SERVICES, ids=lambda p: p.name)
def test_service_modules_build_and_run_no_statement(path: Path) -> None:
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
            imported = {alias.name for alias in node.names}
            assert not imported & STATEMENT_NAMES, (path.name, imported & STATEMENT_NAMES)
        if isinstance(node, ast.Attribute):
            assert node.attr not in {"execute", "scalar", "scalars", "fetchrow", "fetch"}, (
                path.name,
                node.attr,
            )
            assert node.attr not in {"add", "flush", "get", "refresh"} or not (
                isinstance(node.value, ast.Name) and node.value.id == "session"
            ), (path.name, node.attr)


@pytest.mark.parametrize(
    "path", sorted(p for p in AUTH.glob("*.py") if p.name not in NOT_YET), ids=lambda p: p.name
)
def test_no_sql_from_strings_in_auth(path: Path) -> None:
    source = path.read_text()
    assert "noqa: S608" not in source
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "sqlalchemy":
            assert "text" not in {alias.name for alias in node.names}, path.name


def test_the_token_endpoint_sql_is_compiled_from_the_core_statement() -> None:
    # asyncpg's positional placeholders, one per parameter the compiled statement names.
    assert "$1" in repository.CLIENT_BY_ID_SQL
    assert ":client_id" not in repository.CLIENT_BY_ID_SQL
    assert repository._CLIENT_BY_ID_ORDER == ("client_id",)
