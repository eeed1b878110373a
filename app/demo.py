"""The Thames Valley demo data set (``onward seed-demo``, ``onward serve --demo``).

Fictional providers (a dozen) publish 40+ offers over the 13 local authorities of the
Thames Valley (ONS codes and town-centre coordinates as in the reference data), across all
seven resettlement pathways plus wellbeing and practical help: weekday, evening and
Saturday hours, always-open lines and a few meet-at-gate services.

The Friday-release story (API.md §4): the demo leavers walk out on the coming Friday at
15:30, Marcus from HMP Bullingdon (BLI) and Jade from HMP/YOI Bronzefield (BZI), both to
Reading. Marcus, with a high accommodation need, sees Reading's night shelter (opening at
20:00, open on bank holidays) first; gate pick-ups name the prisons whose gate they meet;
a weekend housing line opens on Saturday morning; the housing clinic closes over
Christmas and New Year, and offices with weekly hours shut on bank holidays.

Idempotent: every row has a fixed id (UUID 5 from its name), so a second run adds nothing.
Client secrets are never stored in clear, so to print working credentials each run
**rotates the demo clients' secrets** (earlier demo secrets stop working). The two demo
leavers keep fixed references and PINs (printed); their profiles are created once.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import demo_ids
from app.auth.pins import hash_pin
from app.auth.secrets import hash_secret, new_client_secret
from app.db import Database
from app.models import Client, Offer, Organisation, Profile
from app.offers import service
from app.offers.schedule import LONDON
from app.offers.schemas import OfferCreate
from app.profiles.schema import validate_document
from app.settings import Settings

NAMESPACE = uuid.UUID("6f1c1d2e-0d7a-4a51-9b7e-0a2c5e0f7a11")

# code, town, latitude, longitude, a postcode in that town
TOWNS: dict[str, tuple[str, str, float, float, str]] = {
    "bracknell": ("E06000036", "Bracknell", 51.4160, -0.7540, "RG12 1AA"),
    "newbury": ("E06000037", "Newbury", 51.4014, -1.3231, "RG14 5AA"),
    "reading": ("E06000038", "Reading", 51.4543, -0.9781, "RG1 1AA"),
    "slough": ("E06000039", "Slough", 51.5105, -0.5950, "SL1 1AA"),
    "maidenhead": ("E06000040", "Maidenhead", 51.5218, -0.7177, "SL6 1AA"),
    "wokingham": ("E06000041", "Wokingham", 51.4112, -0.8339, "RG40 1AA"),
    "milton_keynes": ("E06000042", "Milton Keynes", 52.0406, -0.7594, "MK9 1AA"),
    "aylesbury": ("E06000060", "Aylesbury", 51.8156, -0.8084, "HP20 1AA"),
    "banbury": ("E07000177", "Banbury", 52.0629, -1.3398, "OX16 1AA"),
    "oxford": ("E07000178", "Oxford", 51.7520, -1.2577, "OX1 1AA"),
    "didcot": ("E07000179", "Didcot", 51.6080, -1.2410, "OX11 7AA"),
    "abingdon": ("E07000180", "Abingdon", 51.6708, -1.2830, "OX14 3AA"),
    "witney": ("E07000181", "Witney", 51.7840, -1.4850, "OX28 6AA"),
}

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
OFFICE = [(d, "09:00", "17:00") for d in WEEKDAYS]
OFFICE_SAT = [*OFFICE, ("sat", "10:00", "14:00")]
EVENINGS = [(d, "18:00", "21:00") for d in ("mon", "wed", "thu")]
SPLIT = [(d, p[0], p[1]) for d in WEEKDAYS for p in (("09:30", "12:30"), ("13:30", "16:30"))]
ALWAYS = "always"

# provider → [(title, category, towns, hours, extras)]
PROVIDERS: dict[str, list[tuple[str, str, list[str], Any, dict[str, Any]]]] = {
    "Thames Valley Through the Gate": [
        (
            "Meet at the gate and first-day support",
            "practical",
            ["reading", "oxford", "slough", "milton_keynes"],
            [*OFFICE, ("sat", "08:00", "16:00")],
            {
                "gate": ["BLI", "HCI", "GNI", "SPI"],
                "workers": ["woman", "man"],
                "tags": ["gate", "transport", "accompaniment"],
            },
        ),
        (
            "Travel to your first appointments",
            "practical",
            ["aylesbury", "banbury"],
            OFFICE,
            {"gate": ["AYI", "WDI"], "tags": ["transport"]},
        ),
        (
            "Restart advocacy drop-in",
            "attitudes_behaviour",
            ["reading"],
            OFFICE_SAT,
            {"workers": ["woman", "man"], "tags": ["advocacy", "referral"]},
        ),
    ],
    "Kennet Housing Trust": [
        (
            "Emergency night shelter",
            "accommodation",
            ["reading"],
            [(d, "20:00", "24:00") for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")]
            + [(d, "00:00", "08:00") for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")],
            {"bank_holidays": True, "tags": ["shelter", "night"]},
        ),
        (
            "Housing options clinic",
            "accommodation",
            ["reading", "wokingham", "newbury"],
            OFFICE_SAT,
            {"christmas_closure": True, "tags": ["housing", "tenancy"]},
        ),
        (
            "Weekend housing advice line",
            "accommodation",
            [],
            [("sat", "09:00", "21:00"), ("sun", "09:00", "21:00")],
            {"modes": ["phone"], "bank_holidays": True, "tags": ["housing", "weekend"]},
        ),
        (
            "Rent deposit scheme",
            "accommodation",
            ["newbury"],
            OFFICE,
            {"local": True, "tags": ["deposit", "rent"]},
        ),
    ],
    "Isis Women's Centre": [
        (
            "Women's drop-in and key worker",
            "wellbeing",
            ["oxford", "abingdon"],
            OFFICE_SAT,
            {
                "genders": ["woman"],
                "cohorts": ["women"],
                "workers": ["woman"],
                "tags": ["women", "key worker"],
            },
        ),
        (
            "Women's gate pick-up from Bronzefield",
            "practical",
            ["oxford", "reading", "slough"],
            OFFICE,
            {"gate": ["BZI"], "genders": ["woman"], "cohorts": ["women"], "workers": ["woman"]},
        ),
        (
            "Safe housing for women",
            "accommodation",
            ["oxford"],
            OFFICE,
            {"genders": ["woman"], "cohorts": ["women"], "tags": ["refuge", "housing"]},
        ),
        (
            "Mothers and children contact support",
            "children_families",
            ["oxford", "witney"],
            SPLIT,
            {"genders": ["woman"], "tags": ["family", "children", "contact"]},
        ),
    ],
    "Chiltern Recovery Network": [
        (
            "Recovery café (evenings)",
            "drugs_alcohol",
            ["aylesbury"],
            EVENINGS,
            {"tags": ["recovery", "peer support"]},
        ),
        (
            "Alcohol and drugs advice line",
            "drugs_alcohol",
            [],
            ALWAYS,
            {"modes": ["phone"], "tags": ["helpline", "24 hours"]},
        ),
        (
            "Naloxone and harm reduction",
            "drugs_alcohol",
            ["aylesbury", "milton_keynes"],
            OFFICE_SAT,
            {"tags": ["naloxone", "harm reduction"]},
        ),
        (
            "Prescribing clinic fast-track",
            "health",
            ["milton_keynes"],
            OFFICE,
            {"tags": ["prescribing", "script"]},
        ),
    ],
    "Vale Skills and Work": [
        (
            "CSCS card and construction taster",
            "education_work",
            ["abingdon", "didcot"],
            OFFICE,
            {"min_age": 18, "tags": ["construction", "CSCS"]},
        ),
        (
            "CV and interview coaching",
            "education_work",
            ["abingdon", "witney", "oxford"],
            [*EVENINGS, ("sat", "10:00", "13:00")],
            {"tags": ["CV", "jobs"]},
        ),
        (
            "Forklift licence course",
            "education_work",
            ["didcot"],
            OFFICE,
            {"capacity": 12, "tags": ["forklift", "licence"]},
        ),
    ],
    "Berkshire Money Advice": [
        (
            "Benefits and Universal Credit help",
            "finance_id",
            ["reading", "bracknell", "wokingham", "slough"],
            OFFICE,
            {"tags": ["benefits", "universal credit"]},
        ),
        (
            "ID documents clinic",
            "finance_id",
            ["reading", "slough"],
            OFFICE_SAT,
            {"tags": ["ID", "birth certificate", "passport"]},
        ),
        (
            "Bank account opening",
            "finance_id",
            ["bracknell", "maidenhead"],
            OFFICE,
            {"tags": ["bank account"]},
        ),
    ],
    "Milton Keynes Family Links": [
        (
            "Family reconnection mediation",
            "children_families",
            ["milton_keynes"],
            SPLIT,
            {"tags": ["family", "mediation"]},
        ),
        (
            "Dads' parenting group",
            "children_families",
            ["milton_keynes", "aylesbury"],
            [("tue", "18:00", "20:00"), ("sat", "10:00", "12:00")],
            {"genders": ["man"], "tags": ["parenting", "fathers"]},
        ),
        ("Family visits travel fund", "children_families", ["milton_keynes"], OFFICE, {}),
    ],
    "Cherwell Community Kitchen": [
        (
            "Hot meals and showers",
            "practical",
            ["banbury"],
            [*OFFICE_SAT, ("sun", "11:00", "14:00")],
            {"tags": ["food", "showers", "laundry"]},
        ),
        (
            "Food bank parcels",
            "practical",
            ["banbury", "witney"],
            OFFICE_SAT,
            {"tags": ["food bank"]},
        ),
        (
            "Cooking on a budget course",
            "finance_id",
            ["banbury"],
            EVENINGS,
            {"tags": ["budgeting", "cooking"]},
        ),
    ],
    "Slough Young Futures": [
        (
            "Young adults mentoring (18 to 25)",
            "attitudes_behaviour",
            ["slough", "maidenhead"],
            [*EVENINGS, ("sat", "12:00", "16:00")],
            {"min_age": 18, "max_age": 25, "cohorts": ["young_adult"], "tags": ["mentoring"]},
        ),
        (
            "Football and fitness sessions",
            "wellbeing",
            ["slough"],
            [("wed", "18:00", "20:00"), ("sat", "10:00", "12:00")],
            {"max_age": 25, "cohorts": ["young_adult"], "tags": ["sport"]},
        ),
        (
            "Apprenticeship starter programme",
            "education_work",
            ["slough"],
            OFFICE,
            {"min_age": 18, "max_age": 25, "tags": ["apprenticeship"]},
        ),
    ],
    "Oxfordshire Mind Matters": [
        (
            "Talking therapies fast-track",
            "health",
            ["oxford", "didcot", "abingdon", "witney", "banbury"],
            OFFICE,
            {"tags": ["counselling", "anxiety"]},
        ),
        (
            "Crisis support line",
            "health",
            [],
            ALWAYS,
            {"modes": ["phone"], "tags": ["crisis", "24 hours"]},
        ),
        (
            "GP and dentist registration help",
            "health",
            ["oxford"],
            OFFICE_SAT,
            {"tags": ["GP", "dentist"]},
        ),
    ],
    "Veterans in the Valley": [
        (
            "Veterans' resettlement support",
            "practical",
            ["reading", "newbury", "aylesbury"],
            OFFICE,
            {"cohorts": ["veteran"], "tags": ["veterans", "armed forces"]},
        ),
        (
            "Care leavers' link worker",
            "attitudes_behaviour",
            ["wokingham", "bracknell"],
            OFFICE,
            {"cohorts": ["care_experienced"], "tags": ["care leavers"]},
        ),
    ],
    "Windsor Forest Short Sentence Service": [
        (
            "Short-sentence resettlement worker",
            "attitudes_behaviour",
            ["maidenhead", "bracknell", "wokingham"],
            OFFICE,
            {
                "cohorts": ["short_sentence"],
                "local": True,
                "gate": ["BLI"],
                "tags": ["short sentence"],
            },
        ),
        (
            "Probation appointment buddy",
            "practical",
            ["maidenhead", "slough"],
            OFFICE_SAT,
            {"tags": ["probation", "accompaniment"]},
        ),
        (
            "Evening support line",
            "wellbeing",
            [],
            [(d, "17:00", "23:00") for d in WEEKDAYS],
            {"modes": ["phone"], "tags": ["evening", "helpline"]},
        ),
    ],
    "West Berkshire Learning Hub": [
        (
            "Reading and maths for adults",
            "education_work",
            ["newbury", "reading"],
            [*OFFICE, *EVENINGS],
            {"tags": ["literacy", "numeracy"]},
        ),
        (
            "Digital skills and a free phone",
            "practical",
            ["newbury"],
            OFFICE_SAT,
            {"tags": ["phone", "digital"]},
        ),
        (
            "Debt advice appointments",
            "finance_id",
            ["newbury", "didcot"],
            SPLIT,
            {"tags": ["debt"]},
        ),
        (
            "Volunteering taster days",
            "education_work",
            ["witney", "didcot"],
            [("sat", "09:30", "15:30")],
            {"tags": ["volunteering"]},
        ),
    ],
    "Forest Road Lodgings": [
        (
            "Supported lodgings",
            "accommodation",
            ["bracknell", "wokingham"],
            OFFICE,
            {"local": True, "capacity": 8, "tags": ["lodgings", "supported housing"]},
        ),
        (
            "Same-day bed finder",
            "accommodation",
            ["bracknell", "maidenhead", "slough"],
            [*OFFICE, ("sat", "09:00", "17:00"), ("sun", "10:00", "16:00")],
            {"gate": ["BZI", "BLI"], "tags": ["bed", "emergency"]},
        ),
        (
            "Tenancy sustainment visits",
            "accommodation",
            ["wokingham"],
            OFFICE,
            {"modes": ["outreach"], "tags": ["tenancy"]},
        ),
    ],
}


def _id(*parts: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, "/".join(parts))


def _christmas_closure(today: date) -> list[dict[str, str]]:
    """Closed from Christmas Eve to New Year's Day: this year's, or next once it is past."""
    year = today.year if today <= date(today.year, 12, 24) else today.year + 1
    return [
        {
            "from": date(year, 12, 24).isoformat(),
            "until": date(year + 1, 1, 1).isoformat(),
            "note": "Closed for Christmas and New Year",
        }
    ]


def _offer_body(
    title: str,
    category: str,
    towns: list[str],
    hours: Any,
    extras: dict[str, Any],
    today: date | None = None,
) -> OfferCreate:
    today = today or datetime.now(UTC).astimezone(LONDON).date()
    places = [TOWNS[t] for t in towns]
    weekly = [] if hours == ALWAYS else [{"day": d, "opens": o, "closes": c} for d, o, c in hours]
    return OfferCreate.model_validate(
        {
            "title": title,
            "summary": f"{title} for people leaving prison in the Thames Valley.",
            "description": (
                f"{title}. Free and confidential. "
                + ("Call any time, day or night. " if hours == ALWAYS else "")
                + (
                    "We can meet you at the prison gate on the day you are released. "
                    if extras.get("gate")
                    else ""
                )
                + "Bring what you have; we help with the rest."
            ),
            "category": category,
            "tags": extras.get("tags", []),
            "eligibility": {
                "genders": extras.get("genders", []),
                "min_age": extras.get("min_age"),
                "max_age": extras.get("max_age"),
                "cohorts": extras.get("cohorts", []),
                "areas": [p[0] for p in places],
                "requires_local_connection": extras.get("local", False),
            },
            "delivery": {
                "modes": extras.get("modes", ["in_person"]),
                "meet_at_gate": bool(extras.get("gate")),
                "gate_establishments": extras.get("gate", []),
                "worker_genders": extras.get("workers", []),
            },
            "locations": [
                {
                    "name": f"{town} centre",
                    "address": f"High Street, {town}",
                    "postcode": postcode,
                    "latitude": lat,
                    "longitude": lon,
                }
                for _, town, lat, lon, postcode in places
            ]
            if "phone" not in extras.get("modes", [])
            else [],
            "schedule": {
                "always_open": hours == ALWAYS,
                "weekly": weekly,
                "open_on_bank_holidays": extras.get("bank_holidays", False),
                "closures": _christmas_closure(today) if extras.get("christmas_closure") else [],
            },
            "contact": {
                "phone": "0118 496 0000",
                "email": "hello@example.org",
                "url": "https://example.org",
            },
            "required_fields": ["identity.given_name", "contact.phone", "release"],
            "capacity": extras.get("capacity"),
            "status": "published",
        }
    )


_REDIRECT_URIS = {"demo-partner": demo_ids.PARTNER_REDIRECT_URIS}

CLIENTS = (
    ("demo-kiosk", "HMP Bullingdon kiosk", "establishment", ["profiles:create"]),
    (
        "demo-partner",
        "Thames Valley Probation partner",
        "partner",
        ["profiles:read", "referrals:read", "referrals:write", "webhooks:manage"],
    ),
    (
        "demo-provider",
        "Thames Valley Through the Gate",
        "provider",
        ["offers:write", "referrals:read", "referrals:write", "profiles:read"],
    ),
)

# reference, PIN, name, gender, date of birth, release area, needs, sentence months, and
# the rest of the release section and the key worker.
LEAVERS: tuple[
    tuple[str, str, str, str, str, str, dict[str, str], int, dict[str, Any], dict[str, Any]],
    ...,
] = (
    (
        "ONW-DEM0-0001",
        "482915",
        "Jade",
        "woman",
        "2003-04-12",
        "E06000038",
        {"accommodation": "high", "finance_id": "medium", "health": "low"},
        8,
        # Local connections not given: offers that need one say she may need it.
        {"establishment": "HMP/YOI Bronzefield", "establishment_code": "BZI"},
        {"name": "Ann Lee", "organisation": "Isis Women's Centre", "phone": "01865 496000"},
    ),
    (
        "ONW-DEM0-0002",
        "730264",
        "Marcus",
        "man",
        "1988-09-30",
        "E06000038",
        {
            "accommodation": "high",
            "education_work": "medium",
            "drugs_alcohol": "medium",
            "children_families": "low",
        },
        30,
        {
            "establishment": "HMP Bullingdon",
            "establishment_code": "BLI",
            # Family in Reading, worked in Oxford: the Newbury rent deposit scheme, which
            # needs a local connection to West Berkshire, is left out (and explained).
            "local_connections": ["E06000038", "E07000178"],
        },
        {},
    ),
)


def next_friday_afternoon(now: datetime) -> datetime:
    """The coming Friday at 15:30 London time (a third of releases are Friday afternoons)."""
    local = now.astimezone(LONDON)
    days = (4 - local.weekday()) % 7 or 7
    day = (local + timedelta(days=days)).date()
    return datetime.combine(day, time(15, 30), tzinfo=LONDON).astimezone(UTC)


async def _organisation(session: AsyncSession, name: str, kind: str) -> uuid.UUID:
    org_id = _id("organisation", name)
    if await session.get(Organisation, org_id) is None:
        session.add(Organisation(id=org_id, name=name, kind=kind))
        await session.flush()
    return org_id


async def seed_demo(db: Database, settings: Settings) -> dict[str, Any]:
    """Load the demo set once; return the credentials to try it with."""
    created_offers = 0
    async with db.sessionmaker() as session:
        for provider, offers in PROVIDERS.items():
            org_id = await _organisation(session, provider, "provider")
            for title, category, towns, hours, extras in offers:
                offer_id = _id("offer", provider, title)
                if await session.get(Offer, offer_id) is not None:
                    continue
                body = _offer_body(title, category, towns, hours, extras)
                await service.create_offer(session, org_id, body, offer_id=offer_id)
                created_offers += 1

        clients = []
        for client_id, name, kind, scopes in CLIENTS:
            org_id = await _organisation(session, name, kind)
            secret = new_client_secret()
            existing = await session.get(Client, client_id)
            if existing is None:
                session.add(
                    Client(
                        client_id=client_id,
                        organisation_id=org_id,
                        name=f"{name} (demo)",
                        scopes=scopes,
                        secret_hash=hash_secret(secret),
                        redirect_uris=list(_REDIRECT_URIS.get(client_id, ())),
                    )
                )
            else:
                existing.secret_hash = hash_secret(secret)
                existing.scopes = scopes  # a demo made before a scope was added gets it
                existing.active = True
                existing.redirect_uris = list(_REDIRECT_URIS.get(client_id, ()))
            clients.append(
                {
                    "client_id": client_id,
                    "client_secret": secret,
                    "organisation": name,
                    "organisation_id": str(org_id),
                    "scopes": scopes,
                }
            )

        leavers = []
        release_at = next_friday_afternoon(datetime.now(UTC))
        for reference, pin, name, gender, born, area, needs, months, more, worker in LEAVERS:
            row = (
                await session.execute(select(Profile).where(Profile.reference == reference))
            ).scalar_one_or_none()
            if row is None:
                row = Profile(
                    id=_id("profile", reference),
                    reference=reference,
                    pin_hash=await hash_pin(pin),
                    # Made "at" the demo kiosk, which may therefore reset the PIN.
                    created_by_client_id="demo-kiosk",
                    data=validate_document(
                        {
                            "identity": {
                                "given_name": name,
                                "gender": gender,
                                "date_of_birth": born,
                            },
                            "release": {
                                "expected_at": release_at.isoformat().replace("+00:00", "Z"),
                                "area": area,
                                "on_licence": True,
                                "sentence_months": months,
                                **more,
                            },
                            "key_worker": worker or None,
                            # Validated like any profile: a stored document the schema refuses (as
                            # `"notes": ""` once was) turns every read of it into a 500.
                            "needs": {k: {"level": v} for k, v in needs.items()},
                        },
                        ("demo",),
                    ),
                )
                session.add(row)
            elif row.created_by_client_id is None:
                row.created_by_client_id = "demo-kiosk"
            leavers.append(
                {"reference": reference, "pin": pin, "profile_id": str(row.id), "name": name}
            )
        await session.commit()
        total = (await session.execute(select(func.count()).select_from(Offer))).scalar_one()
    return {
        "seeded": True,
        "offers_created": created_offers,
        "offers_total": total,
        "clients": clients,
        "leavers": leavers,
        "note": "Client secrets are rotated on every run; earlier demo secrets stop working.",
    }
