"""Start-up: make sure the bootstrap admin client exists when the settings name one."""

from __future__ import annotations

import logging

from sqlalchemy import select, text

from app.auth.scopes import ADMIN
from app.auth.secrets import hash_secret
from app.db import Database
from app.models import Client, Organisation
from app.settings import Settings

log = logging.getLogger(__name__)

OPERATOR_NAME = "Onward operator"
# Several workers start at once: one transaction-scoped advisory lock makes the check and
# the insert a single step, so the operator organisation and client are made exactly once.
_BOOTSTRAP_LOCK = text("SELECT pg_advisory_xact_lock(hashtext('onward:bootstrap-admin'))")


async def ensure_bootstrap_admin(db: Database, settings: Settings) -> None:
    client_id = settings.bootstrap_admin_client_id
    secret = settings.bootstrap_admin_client_secret
    if not client_id or secret is None:
        return
    async with db.sessionmaker() as session, session.begin():
        await session.execute(_BOOTSTRAP_LOCK)
        client = await session.get(Client, client_id, with_for_update=True)
        if client is None:
            org = (
                (
                    await session.execute(
                        select(Organisation).where(
                            Organisation.kind == "operator", Organisation.name == OPERATOR_NAME
                        )
                    )
                )
                .scalars()
                .first()
            )
            if org is None:
                org = Organisation(name=OPERATOR_NAME, kind="operator")
                session.add(org)
                await session.flush()
            session.add(
                Client(
                    client_id=client_id,
                    organisation_id=org.id,
                    name="Bootstrap admin",
                    scopes=[ADMIN],
                    secret_hash=hash_secret(secret.get_secret_value()),
                )
            )
            log.info("bootstrap admin client created")
        else:
            # The environment is the source of truth for this one client's secret and
            # scope, but never for whether it may act: a client an operator disabled (a
            # leaked bootstrap secret) stays disabled through every restart.
            client.secret_hash = hash_secret(secret.get_secret_value())
            if not client.active:
                log.warning("bootstrap admin client is disabled; leaving it disabled")
            if ADMIN not in client.scopes:
                client.scopes = [*client.scopes, ADMIN]
