"""Admin helpers for the ``onward`` command. Each prints JSON on stdout.

    onward create-organisation --name "Reading Housing Trust" --kind provider
    onward create-client --organisation-id <uuid> --name "CMS" --scope offers:write
    onward rotate-secret <client_id>
    onward disable-client <client_id>
    onward disable-organisation <organisation_id>

A client secret is printed once (by create-client and rotate-secret) and stored only as a
hash. On an error (unknown organisation or client, invalid scope) a JSON object
``{"error": ...}`` goes to stderr and the exit status is 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from app.auth import clients, organisations
from app.auth.schemas import Client, Organisation
from app.auth.scopes import CLIENT_SCOPES, ORGANISATION_KINDS
from app.db import Database
from app.errors import OnwardError
from app.settings import Settings

Job = Callable[[Database, Settings], Awaitable[dict[str, Any]]]


def _in_transaction(
    work: Callable[[Any], Awaitable[dict[str, Any]]],
) -> Job:
    async def job(database: Database, _settings: Settings) -> dict[str, Any]:
        async with database.sessionmaker() as session, session.begin():
            return await work(session)

    return job


def _run(with_db: Callable[[Job], Any], job: Job) -> int:
    try:
        result = with_db(job)
    except OnwardError as exc:
        print(json.dumps({"error": exc.detail}), file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2, default=str))
    return 0


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise argparse.ArgumentTypeError("not a UUID") from None


def add_admin_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    with_db: Callable[..., Any],
) -> None:
    def create_organisation(args: argparse.Namespace) -> int:
        async def work(session: Any) -> dict[str, Any]:
            made = await organisations.create_organisation(session, name=args.name, kind=args.kind)
            return Organisation.model_validate(made).model_dump(mode="json")

        return _run(with_db, _in_transaction(work))

    def create_client(args: argparse.Namespace) -> int:
        async def work(session: Any) -> dict[str, Any]:
            made = await clients.create_client(
                session, organisation_id=args.organisation_id, name=args.name, scopes=args.scope
            )
            listed = Client.model_validate(made.client).model_dump(mode="json")
            return {**listed, "client_secret": made.client_secret}

        return _run(with_db, _in_transaction(work))

    def rotate_secret(args: argparse.Namespace) -> int:
        async def work(session: Any) -> dict[str, Any]:
            made = await clients.rotate_secret(session, args.client_id)
            return {"client_id": made.client.client_id, "client_secret": made.client_secret}

        return _run(with_db, _in_transaction(work))

    def disable_client(args: argparse.Namespace) -> int:
        async def work(session: Any) -> dict[str, Any]:
            client = await clients.disable_client(session, args.client_id)
            return {"client_id": client.client_id, "active": client.active}

        return _run(with_db, _in_transaction(work))

    def disable_organisation(args: argparse.Namespace) -> int:
        async def work(session: Any) -> dict[str, Any]:
            organisation = await organisations.disable_organisation(session, args.organisation_id)
            return {"id": str(organisation.id), "active": organisation.active}

        return _run(with_db, _in_transaction(work))

    p = sub.add_parser("create-organisation", help="create an organisation; prints it as JSON")
    p.add_argument("--name", required=True)
    p.add_argument("--kind", required=True, choices=ORGANISATION_KINDS)
    p.set_defaults(func=create_organisation)

    p = sub.add_parser(
        "create-client", help="create a client; prints it with its secret (shown once)"
    )
    p.add_argument("--organisation-id", required=True, type=_uuid)
    p.add_argument("--name", required=True)
    p.add_argument(
        "--scope",
        required=True,
        action="append",
        choices=CLIENT_SCOPES,
        help="repeat for several scopes",
    )
    p.set_defaults(func=create_client)

    p = sub.add_parser("rotate-secret", help="give a client a new secret; prints it once")
    p.add_argument("client_id")
    p.set_defaults(func=rotate_secret)

    p = sub.add_parser("disable-client", help="disable a client and refuse all its tokens")
    p.add_argument("client_id")
    p.set_defaults(func=disable_client)

    p = sub.add_parser(
        "disable-organisation", help="disable an organisation and refuse all its clients"
    )
    p.add_argument("organisation_id")
    p.set_defaults(func=disable_organisation)
