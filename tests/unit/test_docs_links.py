"""The README and docs/ are readable from the repository alone: every relative link points
at a file in the checkout (nothing under ../shared, which a fresh clone does not have)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_the_docs_folder_has_the_newcomers_pages() -> None:
    names = {p.name for p in DOCS}
    assert {"api.md", "design.md", "security.md", "operations.md"} <= names


def test_every_relative_link_resolves_inside_the_repository() -> None:
    for page in DOCS:
        for target in LINK.findall(page.read_text()):
            if re.match(r"^[a-z]+:", target):
                continue  # http(s), mailto: not checked here
            resolved = (page.parent / target).resolve()
            assert resolved.is_relative_to(ROOT), (page.name, target)
            # docs/oauth.md and docs/webhooks.md come from other work; they may be absent.
            if resolved.name in {"oauth.md", "webhooks.md"}:
                continue
            assert resolved.exists(), (page.name, target)
