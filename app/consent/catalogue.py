"""The field catalogue and the purposes: defined once, used everywhere.

Profile validation (``profiles/schema.py`` checks its leaves against this list in a
unit test), grant validation, disclosure (``policy.py``) and the public endpoints
``GET /v1/consent/fields`` and ``GET /v1/consent/purposes`` all read from here.

A **path** is either a leaf (``contact.phone``) or a section (``contact``); a section
stands for all of its leaves. Sensitivity follows UK GDPR: ``special_category``
(Art. 9: health, drugs and alcohol, the leaver's own story) and ``criminal_offence``
(Art. 10); a grant that reaches any such leaf needs explicit consent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Sensitivity = Literal["standard", "special_category", "criminal_offence"]
SENSITIVE: frozenset[str] = frozenset({"special_category", "criminal_offence"})

# The version of the privacy notice and consent wording a receipt was given under.
POLICY_VERSION = "2026-11"
JURISDICTION = "GB"


@dataclass(frozen=True, slots=True)
class Field:
    path: str
    label: str
    sensitivity: Sensitivity
    description: str

    @property
    def section(self) -> str:
        return self.path.split(".", 1)[0]


@dataclass(frozen=True, slots=True)
class Purpose:
    code: str
    label: str
    description: str


def _need(key: str, label: str, sensitivity: Sensitivity = "standard") -> Field:
    return Field(
        f"needs.{key}",
        label,
        sensitivity,
        f"{label}: level of need (none, low, medium, high) and notes in the leaver's words.",
    )


FIELDS: tuple[Field, ...] = (
    Field("identity.given_name", "Given name", "standard", "First name(s), up to 100 characters."),
    Field("identity.family_name", "Family name", "standard", "Surname, up to 100 characters."),
    Field(
        "identity.preferred_name",
        "Preferred name",
        "standard",
        "The name the leaver wants to be called, up to 100 characters.",
    ),
    Field("identity.date_of_birth", "Date of birth", "standard", "A date (YYYY-MM-DD)."),
    Field("identity.pronouns", "Pronouns", "standard", "Free text, up to 40 characters."),
    Field(
        "identity.gender",
        "Gender",
        "standard",
        "One of woman, man, non_binary, other, prefer_not_to_say.",
    ),
    Field("contact.phone", "Phone number", "standard", "Up to 40 characters."),
    Field("contact.email", "Email address", "standard", "Up to 254 characters."),
    Field("contact.address", "Postal address", "standard", "Up to 500 characters."),
    Field(
        "contact.preferred_method",
        "Preferred contact method",
        "standard",
        "One of phone, email, post, via_worker.",
    ),
    Field(
        "contact.best_times",
        "Best times to contact",
        "standard",
        "Free text, up to 200 characters.",
    ),
    Field(
        "release.establishment",
        "Releasing prison",
        "standard",
        "The establishment released from, up to 200 characters.",
    ),
    Field(
        "release.establishment_code",
        "Releasing prison code",
        "standard",
        "The prison's three-letter HMPPS code (e.g. BLI, HMP Bullingdon).",
    ),
    Field(
        "release.expected_at",
        "Expected release",
        "standard",
        "Date and time of the expected release (RFC 3339, UTC).",
    ),
    Field(
        "release.area",
        "Release area",
        "standard",
        "ONS local authority code of the area released to (e.g. E06000038 Reading).",
    ),
    Field(
        "release.local_connections",
        "Local connections",
        "standard",
        "ONS codes of up to 20 areas where the leaver has a local connection (lived, worked "
        "or has family).",
    ),
    Field("release.on_licence", "On licence", "standard", "Whether released on licence."),
    Field("release.sentence_months", "Sentence length", "standard", "In months."),
    Field("key_worker.name", "Key worker's name", "standard", "Up to 100 characters."),
    Field(
        "key_worker.organisation",
        "Key worker's organisation",
        "standard",
        "Up to 200 characters.",
    ),
    Field("key_worker.phone", "Key worker's phone number", "standard", "Up to 40 characters."),
    _need("accommodation", "Accommodation"),
    _need("attitudes_behaviour", "Attitudes, thinking and behaviour"),
    _need("children_families", "Children and families"),
    _need("drugs_alcohol", "Drugs and alcohol", "special_category"),
    _need("education_work", "Education, training and employment"),
    _need("finance_id", "Finance, benefit, debt and ID"),
    _need("health", "Health", "special_category"),
    Field(
        "preferences.language",
        "Language",
        "standard",
        "Preferred language as a BCP 47 tag (e.g. en, cy, pl), up to 35 characters.",
    ),
    Field("preferences.interpreter", "Interpreter needed", "standard", "true or false."),
    Field(
        "preferences.accessibility",
        "Accessibility needs",
        "standard",
        "Free text, up to 1000 characters.",
    ),
    Field(
        "preferences.worker_gender",
        "Preferred worker gender",
        "standard",
        "One of any, woman, man.",
    ),
    Field(
        "story.summary",
        "My story",
        "special_category",
        "The leaver's own account, told once, up to 4000 characters.",
    ),
    Field(
        "offence.summary",
        "Offence summary",
        "criminal_offence",
        "Summary of the index offence, up to 2000 characters.",
    ),
    Field(
        "offence.category",
        "Offence category",
        "criminal_offence",
        "Category of the index offence, up to 100 characters.",
    ),
    Field(
        "plan.goals",
        "Goals",
        "standard",
        "Up to 50 goals: title, category, status (not_started, in_progress, done), target date.",
    ),
    Field(
        "progress.latest",
        "Latest progress reading",
        # Special-category (API.md §2, version 2): the reading scores mental health, drugs
        # and alcohol and offending.
        "special_category",
        "The newest self-assessed progress reading (areas scored 1–10, including mental "
        "health, drugs and alcohol and offending); read-only, written when the leaver "
        "records progress.",
    ),
)

PURPOSES: tuple[Purpose, ...] = (
    Purpose("referral", "Referral", "To consider and act on a referral the leaver made to you."),
    Purpose(
        "support_delivery",
        "Support delivery",
        "To deliver support the leaver receives from you.",
    ),
    Purpose(
        "case_coordination",
        "Case coordination",
        "To coordinate the leaver's support with the other organisations they work with.",
    ),
    Purpose(
        "pre_release_planning",
        "Pre-release planning",
        "To plan the leaver's release and the first days after it.",
    ),
)

FIELDS_BY_PATH: dict[str, Field] = {f.path: f for f in FIELDS}
LEAVES: frozenset[str] = frozenset(FIELDS_BY_PATH)
SECTIONS: dict[str, tuple[str, ...]] = {}
for _field in FIELDS:
    SECTIONS.setdefault(_field.section, ())
    SECTIONS[_field.section] += (_field.path,)
PATHS: frozenset[str] = LEAVES | frozenset(SECTIONS)
PURPOSE_CODES: tuple[str, ...] = tuple(p.code for p in PURPOSES)
# Leaves the leaver cannot write through PATCH /v1/me (another service records them).
READ_ONLY_SECTIONS: frozenset[str] = frozenset({"progress"})
# The longest path, for column and request bounds.
MAX_PATH_LENGTH = 64


def is_path(path: str) -> bool:
    return path in PATHS


def expand(paths: Iterable[str]) -> frozenset[str]:
    """The leaves a set of paths stands for (a section stands for all of its leaves).

    Unknown paths expand to nothing: they can never widen a disclosure.
    """
    leaves: set[str] = set()
    for path in paths:
        if path in LEAVES:
            leaves.add(path)
        else:
            leaves.update(SECTIONS.get(path, ()))
    return frozenset(leaves)


def sensitive_leaves(paths: Iterable[str]) -> list[str]:
    """The special-category and criminal-offence leaves the paths reach, in catalogue order."""
    reached = expand(paths)
    return [f.path for f in FIELDS if f.path in reached and f.sensitivity in SENSITIVE]


def sensitive_paths(paths: Iterable[str]) -> list[tuple[int, str]]:
    """Each given path (index, path) that reaches a special-category or offence leaf.

    The explicit-consent refusal names every one of them (API.md §3), so a client can
    show the leaver exactly which of their choices needs the explicit box.
    """
    return [(i, path) for i, path in enumerate(paths) if sensitive_leaves([path])]


def normalise_paths(paths: Iterable[str]) -> list[str]:
    """Paths as given, stripped and deduplicated in first-seen order."""
    seen: dict[str, None] = {}
    for path in paths:
        seen.setdefault(path.strip(), None)
    return list(seen)
