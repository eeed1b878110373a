"""Issue 12, item 3: the consent, referrals and webhooks domains reach the database one
way, through SQLAlchemy Core statements in their ``repository.py``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "app"
DOMAINS = ("consent", "referrals", "webhooks")
MODULES = sorted(p for d in DOMAINS for p in (APP / d).glob("*.py"))
# Building a statement: only a repository does.
STATEMENTS = {"select", "insert", "update", "delete", "exists", "union", "values"}
# SQL from strings: nowhere.
STRINGS = {"text", "literal_column", "TextClause"}


def _imported(module: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
            names.update(alias.name for alias in node.names)
            if node.module and node.module.startswith("sqlalchemy.dialects"):
                names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("sqlalchemy"))
    return names


@pytest.mark.parametrize("module", MODULES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_sql_from_strings(module: Path) -> None:
    source = module.read_text()
    assert not _imported(module) & STRINGS
    assert "S608" not in source


@pytest.mark.parametrize(
    "module",
    [m for m in MODULES if m.name != "repository.py"],
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_services_build_no_statement(module: Path) -> None:
    imported = _imported(module)
    assert not imported & STATEMENTS, f"{module.name} builds SQL: move it to repository.py"
    assert not any(name.startswith("sqlalchemy.dialects") for name in imported)
    assert "sqlalchemy" not in imported


def test_each_domain_has_its_repository() -> None:
    for domain in DOMAINS:
        assert (APP / domain / "repository.py").is_file()
