"""One way to reach the database (issue 12, item 3), checked on the source.

Each domain reaches PostgreSQL through SQLAlchemy Core statements in its ``repository.py``;
nothing in ``app/`` builds SQL from strings. ``sqlalchemy.text`` is allowed only where DDL
is declared (``models/``, server defaults and constraints); raw asyncpg only where the hot
path's measurement says so, and then with SQL compiled from a Core statement (checked
beside each: ``test_data_access.py``, ``test_auth_data_access.py``).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "app"
DOMAINS = ("auth", "audit", "consent", "offers", "profiles", "referrals", "webhooks")
# The embedded server's own psql (database names checked before use) is the one exception.
EXEMPT = {"embedded.py"}
SOURCES = sorted(
    p
    for p in APP.rglob("*.py")
    if "static" not in p.parts and "models" not in p.parts and p.name not in EXEMPT
)
# SQL from strings: nowhere.
STRINGS = frozenset({"text", "literal_column", "TextClause"})
# What builds a statement: only a repository does.
BUILDERS = frozenset(
    {"select", "insert", "update", "delete", "exists", "union", "union_all", "values"}
    | {"text", "func", "literal_column", "bindparam"}
)
# What runs one: only a repository does.
RUNS = frozenset({"execute", "scalar", "scalars", "fetchrow", "fetch"})
SESSION_WORK = frozenset({"add", "flush", "get", "refresh"})
VALUES = frozenset({"Range"})
# SQL words in a string being formatted, or in an f-string's literal parts.
FORMAT_SQL = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|WHERE)\b")
FSTRING_SQL = re.compile(r"\b(SELECT|INSERT INTO|UPDATE|DELETE FROM|WHERE)\b")
SERVICES = sorted(p for d in DOMAINS for p in (APP / d).glob("*.py") if p.name != "repository.py")


def _id(path: Path) -> str:
    return str(path.relative_to(APP))


def _imported(tree: ast.Module) -> set[str]:
    """Names imported from SQLAlchemy, and the SQLAlchemy modules imported whole."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.Import):
            names |= {a.name for a in node.names if a.name.startswith("sqlalchemy")}
    return names


def _from_dialects(tree: ast.Module) -> set[str]:
    return {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and (node.module or "").startswith("sqlalchemy.dialects")
        for alias in node.names
    }


@pytest.mark.parametrize("path", SOURCES, ids=_id)
def test_no_sql_from_strings(path: Path) -> None:
    source = path.read_text()
    assert "S608" not in source
    tree = ast.parse(source)
    assert not _imported(tree) & STRINGS
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in STRINGS:  # sqlalchemy.text(...)
            value = node.value
            assert not (isinstance(value, ast.Name) and value.id in ("sqlalchemy", "sa"))
        if isinstance(node, ast.Attribute) and node.attr == "format":
            value = node.value
            assert not (isinstance(value, ast.Constant) and FORMAT_SQL.search(str(value.value)))
        if isinstance(node, ast.JoinedStr):
            literal = "".join(str(v.value) for v in node.values if isinstance(v, ast.Constant))
            assert not FSTRING_SQL.search(literal), f"f-string SQL at line {node.lineno}"


@pytest.mark.parametrize("path", SERVICES, ids=_id)
def test_domain_services_build_and_run_no_statement(path: Path) -> None:
    tree = ast.parse(path.read_text())
    imported = _imported(tree)
    assert not imported & BUILDERS, f"builds SQL: move it to {path.parent.name}/repository.py"
    # A dialect module is only for statements; its Range is a value (offers' week hours).
    assert _from_dialects(tree) <= VALUES, sorted(_from_dialects(tree))
    assert "sqlalchemy" not in imported
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            assert node.attr not in RUNS, (node.attr, node.lineno)
            session = isinstance(node.value, ast.Name) and node.value.id == "session"
            assert not (session and node.attr in SESSION_WORK), (node.attr, node.lineno)


def test_each_domain_has_its_repository() -> None:
    assert [d for d in DOMAINS if not (APP / d / "repository.py").is_file()] == []


def test_http_layers_write_no_sql() -> None:
    offenders = [
        _id(path)
        for layer in ("api", "pages")
        for path in sorted((APP / layer).glob("*.py"))
        if _imported(ast.parse(path.read_text())) & BUILDERS
    ]
    assert offenders == []
