"""Plain words for what the API says in codes: field labels, purposes, dates in London time.

Used by the templates as filters. Labels come from the field catalogue
(``consent/catalogue.py``); only where a label reads badly in a sentence is a plainer
phrase given here ("release date", not "expected release").
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any, get_args

from app.clock import LONDON
from app.consent.catalogue import FIELDS, FIELDS_BY_PATH, PURPOSES, SECTIONS
from app.offers.places import area_name
from app.vocabulary import ProgressArea

SECTION_WORDS = {
    "identity": "your name and personal details",
    "contact": "your contact details",
    "release": "your release details",
    "key_worker": "your key worker's details",
    "needs": "what you need help with",
    "preferences": "your preferences",
    "story": "your story",
    "offence": "your offence",
    "plan": "your plan and goals",
    "progress": "your progress scores",
}
LEAF_WORDS = {
    "release.expected_at": "release date",
    "release.establishment": "prison",
    "release.establishment_code": "prison code",
    "story.summary": "story",
    "progress.latest": "latest progress scores",
    "referral.message": "message in a referral",
}
PURPOSE_WORDS = {
    "referral": "to act on a referral you asked for",
    "support_delivery": "to give you support",
    "case_coordination": "to work together on your case",
    "pre_release_planning": "to plan for your release",
}
_PURPOSES = {p.code: p for p in PURPOSES}


def field_label(path: str) -> str:
    """A path in words, for a sentence: "phone number", "your contact details"."""
    if path in SECTIONS or path in SECTION_WORDS:
        return SECTION_WORDS.get(path, path)
    if path in LEAF_WORDS:
        return LEAF_WORDS[path]
    known = FIELDS_BY_PATH.get(path)
    if known is None:
        return path.replace("_", " ").replace(".", " ")
    label = known.label
    return label[:1].lower() + label[1:] if not label[:2].isupper() else label


def join_words(items: Iterable[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    words = list(items)
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def fields_in_words(paths: Iterable[str]) -> str:
    return join_words(field_label(p) for p in paths)


def purpose_label(code: str) -> str:
    if code in PURPOSE_WORDS:
        return PURPOSE_WORDS[code]
    purpose = _PURPOSES.get(code)
    return purpose.label.lower() if purpose else code


def _local(value: datetime | str) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value.astimezone(LONDON)


def when(value: datetime | str | None) -> str:
    """ "Friday 4 December at 10:12" (London time); with the year when not this year."""
    if value is None:
        return ""
    local = _local(value)
    text = f"{local:%A} {local.day} {local:%B}"
    if local.year != datetime.now(LONDON).year:
        text += f" {local.year}"
    return f"{text} at {local:%H:%M}"


def day(value: datetime | date | str | None) -> str:
    """ "Friday 4 December 2026"."""
    if value is None:
        return ""
    if isinstance(value, str):
        if "T" not in value:
            value = date.fromisoformat(value)
        else:
            value = _local(value)
    elif isinstance(value, datetime):
        value = _local(value)
    return f"{value:%A} {value.day} {value:%B} {value.year}"


PROGRESS_AREAS: tuple[tuple[str, str], ...] = (
    ("accommodation", "Where you live"),
    ("living_skills", "Looking after yourself"),
    ("mental_health", "Mental health"),
    ("friends_community", "Friends and community"),
    ("relationships_family", "Relationships and family"),
    ("parenting", "Being a parent"),
    ("drugs_alcohol", "Drugs and alcohol"),
    ("use_of_time", "How you spend your time"),
    ("managing_feelings", "Managing feelings"),
    ("crime_free_life", "Staying out of trouble"),
)
assert {a for a, _ in PROGRESS_AREAS} == set(get_args(ProgressArea))  # every area, in words
_LEVELS = {"none": "No need", "low": "Low need", "medium": "Medium need", "high": "High need"}
_GOAL_STATUS = {"not_started": "not started", "in_progress": "in progress", "done": "done"}


def _goal(goal: dict[str, Any]) -> str:
    text = f"{goal.get('title', '')} ({_GOAL_STATUS.get(goal.get('status', ''), 'not started')}"
    if goal.get("target_date"):
        text += f", by {day(goal['target_date'])}"
    return text + ")"


def value_in_words(path: str, value: Any) -> list[str]:
    """One stored leaf as lines of plain words (never a code where a word exists)."""
    if value is None or value == [] or value == {}:
        return []
    if isinstance(value, bool):
        return ["Yes" if value else "No"]
    if path == "release.expected_at":
        return [when(value)]
    if path == "release.area":
        return [area_name(value)]
    if path == "release.local_connections":
        return [join_words(area_name(code) for code in value)]
    if path == "release.sentence_months":
        return [f"{value} months"]
    if path.startswith("needs."):
        level = _LEVELS.get(value.get("level", ""), "")
        return [level, *([value["notes"]] if value.get("notes") else [])]
    if path == "plan.goals":
        return [_goal(goal) for goal in value]
    if path == "progress.latest":
        readings = value.get("readings", {})
        lines = [
            f"{label}: {readings[key]} out of 10"
            for key, label in PROGRESS_AREAS
            if key in readings
        ]
        return (
            [f"Recorded {when(value['recorded_at'])}", *lines]
            if value.get("recorded_at")
            else lines
        )
    return [str(value)]


def held_in_words(data: dict[str, Any], section: str) -> list[tuple[str, list[str]]]:
    """Every leaf of one section the profile holds, as (label, lines), in catalogue order."""
    held = data.get(section) or {}
    rows: list[tuple[str, list[str]]] = []
    for field in FIELDS:
        if field.section != section:
            continue
        lines = value_in_words(field.path, held.get(field.path.split(".", 1)[1]))
        if lines:
            rows.append((field.label, lines))
    return rows
