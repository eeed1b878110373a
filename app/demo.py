"""The Thames Valley demo data set (``onward seed-demo``, ``onward serve --demo``).

The data lives in ``app/demo_data.toml``; this module reads and checks it (a mistake in it
is a :class:`DemoDataError` naming the entry, raised before anything is written) and seeds
the database from it.

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

import functools
import json
import re
import tomllib
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from importlib import resources
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import demo_ids
from app.auth.pins import hash_pin
from app.auth.secrets import hash_secret, new_client_secret
from app.db import Database
from app.errors import ValidationFailed
from app.models import Client, Offer, Organisation, Profile
from app.offers import service
from app.offers.schedule import LONDON
from app.offers.schemas import OfferCreate
from app.profiles.schema import validate_document
from app.settings import Settings

NAMESPACE = uuid.UUID("6f1c1d2e-0d7a-4a51-9b7e-0a2c5e0f7a11")

# The data set itself: towns, opening-hour presets, providers and their offers, clients and
# leavers. Shipped in the package (pyproject.toml's package-data).
DATA_FILE = "demo_data.toml"

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# "<days> <opens>-<closes> [<opens>-<closes> …]", days "mon,wed" or "mon-fri" (demo_data.toml).
_PERIOD = re.compile(
    r"(?P<days>[a-z]{3}(?:[-,][a-z]{3})*)(?P<windows>(?: [0-9]{2}:[0-9]{2}-[0-9]{2}:[0-9]{2})+)"
)


class DemoDataError(ValueError):
    """The demo data file is not valid; the message names the entry and what is wrong."""


class _Entry(BaseModel):
    # A key the loader does not know is a typo, never silently ignored.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Town(_Entry):
    code: str
    name: str
    latitude: float
    longitude: float
    postcode: str


class EveryOffer(_Entry):
    status: str
    required_fields: list[str]
    contact: dict[str, str]


class DemoOffer(_Entry):
    title: str
    category: str
    towns: list[str]
    hours: list[str] = []
    always_open: bool = False
    modes: list[str] = ["in_person"]
    open_on_bank_holidays: bool = False
    christmas_closure: bool = False
    gate_establishments: list[str] = []
    worker_genders: list[str] = []
    genders: list[str] = []
    cohorts: list[str] = []
    min_age: int | None = None
    max_age: int | None = None
    requires_local_connection: bool = False
    capacity: int | None = None
    tags: list[str] = []

    @model_validator(mode="after")
    def _hours_or_always_open(self) -> DemoOffer:
        if self.always_open == bool(self.hours):
            raise ValueError("give either hours or always_open = true")
        return self


class DemoProvider(_Entry):
    name: str
    offers: list[DemoOffer]


class DemoClient(_Entry):
    client_id: str
    organisation: str
    kind: str
    scopes: list[str]


class DemoLeaver(_Entry):
    reference: str
    pin: str
    given_name: str
    gender: str
    date_of_birth: date
    needs: dict[str, str]
    release: dict[str, Any]
    key_worker: dict[str, str] | None = None


class DemoData(_Entry):
    towns: dict[str, Town]
    hours: dict[str, list[str]]
    every_offer: EveryOffer
    providers: list[DemoProvider]
    clients: list[DemoClient]
    leavers: list[DemoLeaver]


def _id(*parts: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, "/".join(parts))


def _london_today() -> date:
    return datetime.now(UTC).astimezone(LONDON).date()


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


def _days(text: str) -> list[str]:
    days: list[str] = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        if first not in DAYS or (last or first) not in DAYS:
            raise ValueError(f"unknown day in {text!r} (days are {', '.join(DAYS)})")
        if DAYS.index(last or first) < DAYS.index(first):
            raise ValueError(f"days {part!r} run backwards (a week starts on mon)")
        days += DAYS[DAYS.index(first) : DAYS.index(last or first) + 1]
    return days


def _weekly(data: DemoData, offer: DemoOffer) -> list[dict[str, str]]:
    """The offer's weekly periods in the order written, presets expanded in place."""
    weekly = []
    for item in offer.hours:
        for period in data.hours.get(item, [item]):
            match = _PERIOD.fullmatch(period)
            if match is None:
                raise ValueError(
                    f"hours {period!r} is neither a preset ({', '.join(data.hours)}) nor a "
                    'period like "mon-fri 09:00-17:00"'
                )
            windows = [w.split("-") for w in match["windows"].split()]
            weekly += [
                {"day": day, "opens": opens, "closes": closes}
                for day in _days(match["days"])
                for opens, closes in windows
            ]
    return weekly


def _offer_body(data: DemoData, offer: DemoOffer, today: date) -> OfferCreate:
    unknown = [t for t in offer.towns if t not in data.towns]
    if unknown:
        raise ValueError(f"unknown town {unknown[0]!r} (towns are {', '.join(data.towns)})")
    places = [data.towns[t] for t in offer.towns]
    title = offer.title
    document = {
        "title": title,
        "summary": f"{title} for people leaving prison in the Thames Valley.",
        "description": (
            f"{title}. Free and confidential. "
            + ("Call any time, day or night. " if offer.always_open else "")
            + (
                "We can meet you at the prison gate on the day you are released. "
                if offer.gate_establishments
                else ""
            )
            + "Bring what you have; we help with the rest."
        ),
        "category": offer.category,
        "tags": offer.tags,
        "eligibility": {
            "genders": offer.genders,
            "min_age": offer.min_age,
            "max_age": offer.max_age,
            "cohorts": offer.cohorts,
            "areas": [p.code for p in places],
            "requires_local_connection": offer.requires_local_connection,
        },
        "delivery": {
            "modes": offer.modes,
            "meet_at_gate": bool(offer.gate_establishments),
            "gate_establishments": offer.gate_establishments,
            "worker_genders": offer.worker_genders,
        },
        # A phone line has no place to go to.
        "locations": [
            {
                "name": f"{p.name} centre",
                "address": f"High Street, {p.name}",
                "postcode": p.postcode,
                "latitude": p.latitude,
                "longitude": p.longitude,
            }
            for p in places
        ]
        if "phone" not in offer.modes
        else [],
        "schedule": {
            "always_open": offer.always_open,
            "weekly": _weekly(data, offer),
            "open_on_bank_holidays": offer.open_on_bank_holidays,
            "closures": _christmas_closure(today) if offer.christmas_closure else [],
        },
        "contact": data.every_offer.contact,
        "required_fields": data.every_offer.required_fields,
        "capacity": offer.capacity,
        "status": data.every_offer.status,
    }
    try:
        return OfferCreate.model_validate(document)
    except ValidationError as exc:
        raise ValueError(f"the offer it makes is not valid: {_problems(exc.errors())}") from None


def _leaver_document(leaver: DemoLeaver, release_at: datetime) -> dict[str, Any]:
    """The leaver's profile document, validated like any profile: a stored document the
    schema refuses (as `"notes": ""` once was) turns every read of it into a 500."""
    document = {
        "identity": {
            "given_name": leaver.given_name,
            "gender": leaver.gender,
            "date_of_birth": leaver.date_of_birth.isoformat(),
        },
        "release": {
            "expected_at": release_at.isoformat().replace("+00:00", "Z"),
            **leaver.release,
        },
        "key_worker": leaver.key_worker,
        "needs": {pathway: {"level": level} for pathway, level in leaver.needs.items()},
    }
    try:
        return validate_document(document, ())
    except ValidationFailed as exc:
        raise ValueError(f"the profile it makes is not valid: {_problems(exc.errors)}") from None


def _problems(errors: Sequence[Mapping[str, Any]] | None) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in e['loc'])}: {e['msg']}" for e in errors or ()
    )


def _where(raw: Any, loc: Sequence[int | str]) -> str:
    """A pydantic error's location in the file's words: `providers["Kennet Housing
    Trust"].offers["Emergency night shelter"].tagz`, entries named by their name or title."""
    where, node = "", raw
    for part in loc:
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            node = None
        if isinstance(part, str):
            where += f".{part}" if where else part
            continue
        names = ("name", "title", "reference", "client_id")
        label = next((node[k] for k in names if isinstance(node, dict) and k in node), None)
        where += (
            f"[{json.dumps(label, ensure_ascii=False)}]" if isinstance(label, str) else f"[{part}]"
        )
    return where or "the file"


def load_demo_data(text: str, source: str = DATA_FILE) -> DemoData:
    """Parse and check the whole data set, including every offer and profile it makes
    (with today's dates), before anything is written; a mistake is a :class:`DemoDataError`
    naming the file and the entry."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DemoDataError(f"{source}: not valid TOML: {exc}") from None
    try:
        data = DemoData.model_validate(raw)
    except ValidationError as exc:
        problems = [f"{_where(raw, e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise DemoDataError(f"{source}: " + "; ".join(problems)) from None
    today, release_at = _london_today(), next_friday_afternoon(datetime.now(UTC))
    seen: set[str] = set()
    for provider in data.providers:
        for offer in provider.offers:
            entry = f'providers["{provider.name}"].offers["{offer.title}"]'
            if entry in seen:
                # The id is made from provider and title: a second one would never be seeded.
                raise DemoDataError(f"{source}: {entry}: appears twice")
            seen.add(entry)
            try:
                _offer_body(data, offer, today)
            except ValueError as exc:
                raise DemoDataError(f"{source}: {entry}: {exc}") from None
    for leaver in data.leavers:
        try:
            _leaver_document(leaver, release_at)
        except ValueError as exc:
            raise DemoDataError(f'{source}: leavers["{leaver.reference}"]: {exc}') from None
    return data


@functools.cache
def demo_data() -> DemoData:
    """The shipped data set, read and checked once per process."""
    text = resources.files("app").joinpath(DATA_FILE).read_text(encoding="utf-8")
    return load_demo_data(text, f"app/{DATA_FILE}")


_REDIRECT_URIS = {"demo-partner": demo_ids.PARTNER_REDIRECT_URIS}


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
    data = demo_data()  # checked whole before anything is written
    created_offers = 0
    async with db.sessionmaker() as session:
        for provider in data.providers:
            org_id = await _organisation(session, provider.name, "provider")
            for offer in provider.offers:
                offer_id = _id("offer", provider.name, offer.title)
                if await session.get(Offer, offer_id) is not None:
                    continue
                body = _offer_body(data, offer, _london_today())
                await service.create_offer(session, org_id, body, offer_id=offer_id)
                created_offers += 1

        clients = []
        for entry in data.clients:
            client_id, name, scopes = entry.client_id, entry.organisation, entry.scopes
            org_id = await _organisation(session, name, entry.kind)
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
        for leaver in data.leavers:
            reference = leaver.reference
            row = (
                await session.execute(select(Profile).where(Profile.reference == reference))
            ).scalar_one_or_none()
            if row is None:
                row = Profile(
                    id=_id("profile", reference),
                    reference=reference,
                    pin_hash=await hash_pin(leaver.pin),
                    # Made "at" the demo kiosk, which may therefore reset the PIN.
                    created_by_client_id="demo-kiosk",
                    data=_leaver_document(leaver, release_at),
                )
                session.add(row)
            elif row.created_by_client_id is None:
                row.created_by_client_id = "demo-kiosk"
            leavers.append(
                {
                    "reference": reference,
                    "pin": leaver.pin,
                    "profile_id": str(row.id),
                    "name": leaver.given_name,
                }
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
