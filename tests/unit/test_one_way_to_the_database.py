"""One way to reach the database (issue 12, item 3), checked on the source.

Each domain reaches PostgreSQL through SQLAlchemy Core statements in its ``repository.py``;
nothing in ``app/`` builds SQL from strings. ``sqlalchemy.text`` is allowed only where DDL
is declared (``models/``, server defaults and constraints); raw asyncpg only where the hot
path's measurement says so, and then with SQL compiled from a Core statement.
"""

from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "app"
DOMAINS = ("auth", "audit", "consent", "offers", "profiles", "referrals", "webhooks")
# Statement builders: outside a repository they mean SQL written where it should not be.
BUILDERS = frozenset({"select", "insert", "update", "delete", "text", "union_all", "exists"})


def _sources() -> list[Path]:
    return sorted(p for p in APP.rglob("*.py") if "static" not in p.parts)


def _imported(tree: ast.Module, module_prefix: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(module_prefix):
            names |= {alias.name for alias in node.names}
    return names


def test_no_sql_text_outside_table_declarations() -> None:
    offenders = [
        str(path.relative_to(APP))
        for path in _sources()
        if "models" not in path.parts
        and path.name != "embedded.py"  # the embedded server's own psql, names checked
        and "text" in _imported(ast.parse(path.read_text()), "sqlalchemy")
    ]
    assert offenders == []


def test_no_string_built_sql() -> None:
    offenders = [
        str(path.relative_to(APP))
        for path in _sources()
        if path.name != "embedded.py" and "S608" in path.read_text()
    ]
    assert offenders == []


def test_domain_statements_live_in_repositories() -> None:
    offenders: dict[str, list[str]] = {}
    for domain in DOMAINS:
        for path in sorted((APP / domain).glob("*.py")):
            if path.name == "repository.py":
                continue
            built = _imported(ast.parse(path.read_text()), "sqlalchemy") & BUILDERS
            if built:
                offenders[f"{domain}/{path.name}"] = sorted(built)
    assert offenders == {}


def test_http_layers_write_no_sql() -> None:
    offenders = [
        str(path.relative_to(APP))
        for layer in ("api", "pages")
        for path in sorted((APP / layer).glob("*.py"))
        if _imported(ast.parse(path.read_text()), "sqlalchemy") & BUILDERS
    ]
    assert offenders == []
