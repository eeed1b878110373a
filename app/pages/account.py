"""The leaver's own pages (API.md §8) behind sign-in. Each is another face of the domain
services ``api/`` uses: the same grant, revoke, referral, progress, profile and export
functions, so no rule is copied here. Anything decided in a helped session is recorded as
``assisted`` with ``assisted_by`` (``SignedInLeaver.collection_method``/``assisted_by``).
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.api.me import export_response
from app.api.session import Session
from app.audit.log import access_log
from app.consent import service as consent
from app.consent.catalogue import FIELDS_BY_PATH, is_path, sensitive_paths
from app.errors import (
    Conflict,
    ExplicitConsentRequired,
    NotFound,
    PreconditionFailed,
    ValidationFailed,
)
from app.etags import IfMatch
from app.offers import service as offers
from app.pages import words
from app.pages.forms import read_form
from app.pages.rendering import redirect, render
from app.pages.security import page_headers
from app.pages.sessions import SignedIn, SignedInPost
from app.profiles import service as profiles
from app.profiles.export import export_record, leaver_principal
from app.referrals import progress as progress_service
from app.referrals import service as referrals

router = APIRouter(include_in_schema=False)

SECTION_TITLES = {
    "identity": "Your name and personal details (all of them)",
    "contact": "Your contact details (all of them)",
    "release": "Your release details (all of them)",
    "needs": "What you need help with (all of it)",
    "preferences": "Your preferences (all of them)",
    "story": "Your story",
    "offence": "Your offence (all of it)",
    "plan": "Your plan and goals",
    "progress": "Your progress scores",
}
OPEN_REFERRAL_STATUSES = frozenset({"pending", "accepted", "in_progress"})
MAX_MESSAGE = 2000


def not_found_page(request: Request) -> Response:
    return render(
        request,
        "message.html",
        {
            "heading": "Page not found",
            "paragraphs": ["We could not find that page. It may have been taken away."],
            "link": ("/account", "Go to your start page"),
        },
        title="Page not found",
        status=404,
    )


def _uuid(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


# --- start ------------------------------------------------------------------------------


@router.get("/account")
async def start(request: Request, leaver: SignedIn, session: Session) -> Response:
    """The start page: release date, key worker, what's next, links to the rest."""
    profile = await profiles.get_own_profile(session, leaver.profile_id)
    data: dict[str, Any] = profile["data"]
    mine, _ = await referrals.list_referrals(
        session, leaver_principal(leaver.profile_id), status=None, limit=20, cursor=None
    )
    soon, _ = await offers.offers_for_leaver(
        session, leaver.profile_id, within_hours=72, limit=3, cursor=None
    )
    return render(
        request,
        "start.html",
        {
            "reference": profile["reference"],
            "release": data.get("release") or {},
            "key_worker": data.get("key_worker") or {},
            "open_referrals": [r for r in mine if r["status"] in OPEN_REFERRAL_STATUSES],
            "soon": soon,
        },
        title="Your account",
    )


# --- sharing ----------------------------------------------------------------------------


def receipt_claims(receipt: str | None) -> dict[str, Any]:
    """The payload of a receipt we signed ourselves (shown, not trusted for a decision)."""
    if not receipt or receipt.count(".") != 2:
        return {}
    payload = receipt.split(".")[1]
    try:
        decoded: dict[str, Any] = json.loads(
            base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        )
    except ValueError:
        return {}
    return decoded


@router.get("/account/sharing")
async def sharing(
    request: Request, leaver: SignedIn, session: Session, stopped: str | None = None
) -> Response:
    """Every grant in words: who, which information, why, until when, its receipt."""
    grants, _ = await consent.list_grants(
        session, profile_id=leaver.profile_id, status=None, limit=100, cursor=None
    )
    for grant in grants:
        grant["claims"] = receipt_claims(grant["receipt"])
    return render(
        request,
        "sharing.html",
        {
            "active": [g for g in grants if g["status"] == "active"],
            "ended": [g for g in grants if g["status"] != "active"],
            "stopped": stopped == "1",
        },
        title="Who you share with",
    )


@router.post("/account/sharing/{grant_id}/stop")
async def stop_sharing(
    request: Request, grant_id: str, leaver: SignedInPost, session: Session
) -> Response:
    """Revoke a grant: committed before the redirect, so every replica's next partner read
    discloses nothing under it (consent.service.revoke_grant refreshes the stored cut)."""
    parsed = _uuid(grant_id)
    if parsed is None:
        return not_found_page(request)
    try:
        await consent.revoke_grant(
            session,
            request.app.state.receipts,
            profile_id=leaver.profile_id,
            grant_id=parsed,
            collection_method=leaver.collection_method,
            assisted_by=leaver.assisted_by,
        )
    except NotFound:
        return not_found_page(request)
    return redirect(request, "/account/sharing?stopped=1")


# --- who has looked -----------------------------------------------------------------------


def sentence(event: dict[str, Any]) -> str:
    """An access event in words (London time)."""
    who = event["organisation"]["name"] if event.get("organisation") else "Someone"
    at = words.when(event["at"])
    action = event["action"]
    if action == "profile.read":
        if not event["fields"]:
            return f"{who} looked, but saw none of your information, on {at}"
        labels = [words.field_label(f).removeprefix("your ") for f in event["fields"]]
        return f"{who} looked at your {words.join_words(labels)} on {at}"
    if action == "referral.read":
        if event["fields"]:
            return f"{who} opened your referral and read your message on {at}"
        return f"{who} opened your referral on {at}"
    if action == "profile.exported":
        return f"You downloaded a copy of your information on {at}"
    if action == "pin.reset":
        return f"{who} gave you a new PIN on {at}"
    return f"{who} used your information on {at}"


@router.get("/account/who-has-looked")
async def who_has_looked(
    request: Request, leaver: SignedIn, session: Session, cursor: str | None = None
) -> Response:
    """The access log as sentences, newest first."""
    try:
        events, next_cursor = await access_log(
            session, profile_id=leaver.profile_id, limit=50, cursor=cursor or None
        )
    except ValidationFailed:
        events, next_cursor = await access_log(
            session, profile_id=leaver.profile_id, limit=50, cursor=None
        )
    return render(
        request,
        "who_has_looked.html",
        {"sentences": [sentence(e) for e in events], "next_cursor": next_cursor},
        title="Who has looked at your information",
    )


# --- support and referrals ----------------------------------------------------------------


@router.get("/account/support")
async def support(request: Request, leaver: SignedIn, session: Session) -> Response:
    """Offers open when the leaver walks out, ranked as GET /v1/me/offers."""
    matches, _ = await offers.offers_for_leaver(
        session, leaver.profile_id, within_hours=72, limit=20, cursor=None
    )
    return render(request, "support.html", {"matches": matches}, title="Support you can get")


def _share_choices(required: list[str]) -> list[dict[str, Any]]:
    """What the leaver may tick: the offer's required information (leaves or sections),
    each unticked until they tick it."""
    paths = [p for p in dict.fromkeys(required) if is_path(p)] or [
        "identity.given_name",
        "identity.family_name",
        "contact.phone",
    ]
    sensitive = {path for _, path in sensitive_paths(paths)}
    return [
        {
            "path": p,
            "label": FIELDS_BY_PATH[p].label if p in FIELDS_BY_PATH else SECTION_TITLES.get(p, p),
            "sensitive": p in sensitive,
        }
        for p in paths
    ]


async def _offer_page(
    request: Request,
    session: Session,
    offer_id: uuid.UUID,
    *,
    status: int = 200,
    errors: list[tuple[str, str]] | None = None,
    ticked: list[str] | None = None,
    message: str = "",
) -> Response:
    offer = await offers.published_offer(session, offer_id)
    return render(
        request,
        "offer.html",
        {
            "offer": offer,
            "choices": _share_choices(list(offer.required_fields)),
            "ticked": set(ticked or []),
            "message": message,
            "error_summary": errors or [],
            "errors": dict(errors or []),
        },
        title=offer.title,
        status=status,
    )


@router.get("/account/support/{offer_id}")
async def offer(request: Request, offer_id: str, leaver: SignedIn, session: Session) -> Response:
    """One offer, and the form to ask for it (a referral: tick what to share)."""
    parsed = _uuid(offer_id)
    if parsed is None:
        return not_found_page(request)
    try:
        return await _offer_page(request, session, parsed)
    except NotFound:
        return not_found_page(request)


@router.post("/account/support/{offer_id}")
async def ask_for_offer(
    request: Request, offer_id: str, leaver: SignedInPost, session: Session
) -> Response:
    """Create the referral and its grant of exactly the ticked information."""
    parsed = _uuid(offer_id)
    if parsed is None:
        return not_found_page(request)
    form = await read_form(request)
    fields = form.getlist("fields")
    message = form.text("message", MAX_MESSAGE)
    explicit = form.get("explicit") == "yes"
    try:
        version = int(form.get("offer_version"))
    except ValueError:
        version = -1

    async def again(status: int, errors: list[tuple[str, str]]) -> Response:
        try:
            return await _offer_page(
                request,
                session,
                parsed,
                status=status,
                errors=errors,
                ticked=fields,
                message=message,
            )
        except NotFound:
            return not_found_page(request)

    if not fields:
        return await again(400, [("fields", "Tick at least one piece of information to share")])
    try:
        await referrals.create_referral(
            session,
            request.app.state.receipts,
            leaver_principal(leaver.profile_id),
            offer_id=parsed,
            offer_version=version,
            fields=fields,
            message=message or None,
            explicit=explicit,
            assisted_by=leaver.assisted_by,
        )
    except NotFound:
        return not_found_page(request)
    except ExplicitConsentRequired:
        return await again(
            400,
            [("explicit", "Tick the box to say you agree to share private information")],
        )
    except PreconditionFailed:
        return await again(
            409, [("fields", "This support changed since you opened it. Check it and ask again")]
        )
    except Conflict:
        return await again(409, [("fields", "You have already asked for this support")])
    except ValidationFailed:
        return await again(400, [("fields", "Tick only the information listed")])
    return redirect(request, "/account/referrals?asked=1")


@router.get("/account/referrals")
async def referral_list(
    request: Request, leaver: SignedIn, session: Session, asked: str | None = None
) -> Response:
    """Each referral with its timeline."""
    mine, _ = await referrals.list_referrals(
        session, leaver_principal(leaver.profile_id), status=None, limit=100, cursor=None
    )
    return render(
        request,
        "referrals.html",
        {"referrals": mine, "asked": asked == "1"},
        title="Support you asked for",
    )


# --- progress -----------------------------------------------------------------------------


async def _progress_page(
    request: Request,
    session: Session,
    profile_id: uuid.UUID,
    *,
    status: int = 200,
    errors: list[tuple[str, str]] | None = None,
    saved: bool = False,
) -> Response:
    readings, _ = await progress_service.list_progress(session, profile_id, 20, None)
    return render(
        request,
        "progress.html",
        {
            "areas": words.PROGRESS_AREAS,
            "readings": readings,
            "error_summary": errors or [],
            "saved": saved,
        },
        title="Your progress",
        status=status,
    )


@router.get("/account/progress")
async def progress(
    request: Request, leaver: SignedIn, session: Session, saved: str | None = None
) -> Response:
    """Record a reading (ten areas, 1 to 10) and see earlier ones."""
    return await _progress_page(request, session, leaver.profile_id, saved=saved == "1")


@router.post("/account/progress")
async def record_progress(request: Request, leaver: SignedInPost, session: Session) -> Response:
    form = await read_form(request)
    readings: dict[str, int] = {}
    for area, _ in words.PROGRESS_AREAS:
        raw = form.get(area).strip()
        if raw:
            if not raw.isdigit() or not 1 <= int(raw) <= 10:
                return await _progress_page(
                    request,
                    session,
                    leaver.profile_id,
                    status=400,
                    errors=[(area, "Choose a number from 1 to 10")],
                )
            readings[area] = int(raw)
    if not readings:
        return await _progress_page(
            request,
            session,
            leaver.profile_id,
            status=400,
            errors=[(words.PROGRESS_AREAS[0][0], "Choose a number for at least one area")],
        )
    await progress_service.record_progress(session, leaver.profile_id, readings)
    return redirect(request, "/account/progress?saved=1")


# --- profile ------------------------------------------------------------------------------

# The sections a leaver can change here, each field with its form control.
EDITABLE: dict[str, dict[str, Any]] = {
    "contact": {
        "heading": "Your contact details",
        "fields": [
            ("phone", "Phone number", "text", "For example 07700 900123"),
            ("email", "Email address", "email", ""),
            ("address", "Postal address", "textarea", ""),
            ("best_times", "Best times to contact you", "text", "For example weekday mornings"),
        ],
        "choices": (
            "preferred_method",
            "How should people contact you?",
            [
                ("phone", "Phone"),
                ("email", "Email"),
                ("post", "Post"),
                ("via_worker", "Through my key worker"),
            ],
        ),
    },
    "preferences": {
        "heading": "Your preferences",
        "fields": [
            (
                "language",
                "Language you prefer",
                "text",
                "For example en for English, pl for Polish",
            ),
            (
                "accessibility",
                "Anything that makes things easier for you",
                "textarea",
                "For example large print, or someone to read letters to you",
            ),
        ],
        "choices": (
            "worker_gender",
            "Would you like your worker to be a woman or a man?",
            [("any", "I do not mind"), ("woman", "A woman"), ("man", "A man")],
        ),
    },
    "identity": {
        "heading": "Your name and personal details",
        "fields": [
            ("given_name", "First name", "text", ""),
            ("family_name", "Last name", "text", ""),
            ("preferred_name", "The name you like to be called", "text", ""),
            ("pronouns", "Your pronouns", "text", "For example she/her, he/him or they/them"),
        ],
        "also_shown": [("date_of_birth", "Date of birth")],
        "choices": (
            "gender",
            "Your gender",
            [
                ("woman", "Woman"),
                ("man", "Man"),
                ("non_binary", "Non-binary"),
                ("other", "Another gender"),
                ("prefer_not_to_say", "I prefer not to say"),
            ],
        ),
    },
    "key_worker": {
        "heading": "Your key worker",
        "fields": [
            ("name", "Their name", "text", "The one worker you trust people to contact"),
            ("organisation", "Where they work", "text", ""),
            ("phone", "Their phone number", "text", "For example 01865 900123"),
        ],
        "choices": None,
    },
    "story": {
        "heading": "Your story",
        "fields": [
            (
                "summary",
                "Your story, in your own words",
                "textarea",
                "Tell it once here. Only people you choose to share it with can see it.",
            ),
        ],
        "choices": None,
    },
}
# Sections shown but not changed here (the prison, probation or a key worker records
# them through the API); each leaf is a row, in the catalogue's words.
SHOWN: dict[str, str] = {
    "release": "Your release",
    "needs": "What you need help with",
    "plan": "Your plan and goals",
    "offence": "Your offence",
    "progress": "Your latest progress scores",
}
FIELD_MESSAGES = {
    "phone": "Enter a phone number using only numbers, spaces and brackets, like 07700 900123",
    "email": "Enter an email address like name@example.com",
    "language": "Enter a language code like en or pl",
}


@router.get("/account/profile")
async def profile_page(
    request: Request, leaver: SignedIn, session: Session, saved: str | None = None
) -> Response:
    """See what they have told Onward, section by section, with a link to change each."""
    profile = await profiles.get_own_profile(session, leaver.profile_id)
    return render(
        request,
        "profile.html",
        {
            "data": profile["data"],
            "editable": EDITABLE,
            "shown": [
                (heading, words.held_in_words(profile["data"], section))
                for section, heading in SHOWN.items()
            ],
            "saved": saved == "1",
        },
        title="Your information",
    )


async def _section_page(
    request: Request,
    session: Session,
    profile_id: uuid.UUID,
    section: str,
    *,
    values: dict[str, str] | None = None,
    errors: list[tuple[str, str]] | None = None,
    status: int = 200,
) -> Response:
    profile = await profiles.get_own_profile(session, profile_id)
    current = profile["data"].get(section) or {}
    return render(
        request,
        "profile_section.html",
        {
            "section": section,
            "spec": EDITABLE[section],
            "values": values if values is not None else current,
            "version": profile["version"],
            "error_summary": errors or [],
            "errors": dict(errors or []),
        },
        title=EDITABLE[section]["heading"],
        status=status,
    )


@router.get("/account/profile/{section}")
async def profile_section(
    request: Request, section: str, leaver: SignedIn, session: Session
) -> Response:
    if section not in EDITABLE:
        return not_found_page(request)
    return await _section_page(request, session, leaver.profile_id, section)


@router.post("/account/profile/{section}")
async def change_profile_section(
    request: Request, section: str, leaver: SignedInPost, session: Session
) -> Response:
    """Change one section through the same merge-patch service as PATCH /v1/me."""
    if section not in EDITABLE:
        return not_found_page(request)
    spec = EDITABLE[section]
    form = await read_form(request)
    names = [name for name, *_ in spec["fields"]]
    if spec["choices"]:
        names.append(spec["choices"][0])
    values = {name: form.text(name, 4000) for name in names}
    patch = {section: {name: (value or None) for name, value in values.items()}}
    try:
        version = int(form.get("version"))
    except ValueError:
        version = -1
    try:
        await profiles.patch_own_profile(
            session, leaver.profile_id, patch, if_match=IfMatch(frozenset({version}))
        )
    except PreconditionFailed:
        return await _section_page(
            request,
            session,
            leaver.profile_id,
            section,
            values=values,
            status=409,
            errors=[
                (
                    names[0],
                    "Your information changed since you opened this page. Check it and save again",
                )
            ],
        )
    except ValidationFailed as exc:
        errors: list[tuple[str, str]] = []
        for error in exc.errors or []:
            loc = [str(part) for part in error.get("loc", [])]
            name = next((n for n in reversed(loc) if n in names), names[0])
            message = FIELD_MESSAGES.get(name, "Check what you entered here")
            if (name, message) not in errors:
                errors.append((name, message))
        return await _section_page(
            request,
            session,
            leaver.profile_id,
            section,
            values=values,
            status=400,
            errors=errors,
        )
    return redirect(request, "/account/profile?saved=1")


# --- download -----------------------------------------------------------------------------


@router.get("/account/download")
async def download_page(request: Request, leaver: SignedIn) -> Response:
    """What the download holds, and the button that takes it."""
    return render(request, "download.html", {}, title="Download your information")


@router.post("/account/download")
async def download(request: Request, leaver: SignedInPost, session: Session) -> Response:
    """The leaver's record as a JSON file (the same export as GET /v1/me/export)."""
    response = export_response(await export_record(session, leaver.profile_id))
    for name, value in page_headers(request).items():
        response.headers.setdefault(name, value)
    return response
