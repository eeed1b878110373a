"""Start-up: make sure the bootstrap admin client exists when the settings name one."""

from __future__ import annotations

import logging

from app.auth import repository
from app.auth.scopes import ADMIN
from app.auth.secrets import hash_secret
from app.db import Database
from app.settings import Settings

log = logging.getLogger(__name__)

OPERATOR_NAME = "Onward operator"
OPERATOR_KIND = "operator"


async def ensure_bootstrap_admin(db: Database, settings: Settings) -> None:
    client_id = settings.bootstrap_admin_client_id
    secret = settings.bootstrap_admin_client_secret
    if not client_id or secret is None:
        return
    async with db.sessionmaker() as session, session.begin():
        # Several workers start at once: one transaction-scoped advisory lock makes the
        # check and the insert a single step, so the operator organisation and client are
        # made exactly once.
        await repository.take_bootstrap_lock(session)
        client = await repository.client_for_update(session, client_id)
        if client is None:
            org_id = await repository.organisation_id_of_kind(
                session, kind=OPERATOR_KIND, name=OPERATOR_NAME
            )
            if org_id is None:
                org_id = await repository.insert_organisation_id(
                    session, name=OPERATOR_NAME, kind=OPERATOR_KIND
                )
            await repository.insert_client(
                session,
                client_id=client_id,
                organisation_id=org_id,
                name="Bootstrap admin",
                scopes=[ADMIN],
                secret_hash=hash_secret(secret.get_secret_value()),
                redirect_uris=[],
            )
            log.info("bootstrap admin client created")
        else:
            # The environment is the source of truth for this one client's secret and
            # scope, but never for whether it may act: a client an operator disabled (a
            # leaked bootstrap secret) stays disabled through every restart.
            if not client.active:
                log.warning("bootstrap admin client is disabled; leaving it disabled")
            scopes = list(client.scopes)
            await repository.set_client_secret_and_scopes(
                session,
                client_id=client_id,
                secret_hash=hash_secret(secret.get_secret_value()),
                scopes=scopes if ADMIN in scopes else [*scopes, ADMIN],
            )
