"""Test helpers that are not fixtures: database set-up and actors with tokens."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from fastapi import FastAPI

from app import embedded
from app.auth.principal import LEAVER_CLIENT_ID
from app.auth.scopes import SELF
from app.auth.secrets import hash_secret, new_client_id, new_client_secret
from app.auth.tokens import TokenService
from app.db import Database
from app.models import Client, Organisation


async def recreate_database(explicit_url: str | None, data_dir: Path) -> str:
    """Drop and create the test database; return its asyncpg URL."""
    if not explicit_url:
        embedded.start_embedded(data_dir)
        server_url = embedded.embedded_url(data_dir, "postgres")
        name = "onward_test"
    else:
        server_url = embedded.to_asyncpg_url(explicit_url)
        name = (urlsplit(server_url).path.lstrip("/") or "onward") + "_test"
    parts = urlsplit(server_url)
    admin_dsn = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return urlunsplit(parts._replace(path="/" + name))


@dataclass
class Actor:
    organisation_id: uuid.UUID
    organisation_name: str
    client_id: str
    client_secret: str
    scopes: list[str]
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Actors:
    app: FastAPI
    made: list[Actor] = field(default_factory=list)

    @property
    def db(self) -> Database:
        database: Database = self.app.state.db
        return database

    @property
    def tokens(self) -> TokenService:
        service: TokenService = self.app.state.tokens
        return service

    async def client(
        self,
        *scopes: str,
        kind: str = "partner",
        name: str | None = None,
        organisation_id: uuid.UUID | None = None,
    ) -> Actor:
        """A new organisation (unless given) with one active client holding ``scopes``."""
        org_name = name or f"Test {kind} {uuid.uuid4().hex[:6]}"
        secret = new_client_secret()
        client_id = new_client_id()
        async with self.db.sessionmaker() as session:
            if organisation_id is None:
                org = Organisation(name=org_name, kind=kind)
                session.add(org)
                await session.flush()
                organisation_id = org.id
            session.add(
                Client(
                    client_id=client_id,
                    organisation_id=organisation_id,
                    name=f"{org_name} client",
                    scopes=list(scopes),
                    secret_hash=hash_secret(secret),
                )
            )
            await session.commit()
        issued = self.tokens.issue(
            subject=client_id,
            client_id=client_id,
            scopes=list(scopes),
            organisation_id=str(organisation_id),
        )
        actor = Actor(organisation_id, org_name, client_id, secret, list(scopes), issued.token)
        self.made.append(actor)
        return actor

    def leaver_token(self, profile_id: uuid.UUID | str) -> str:
        return self.tokens.issue(
            subject=str(profile_id), client_id=LEAVER_CLIENT_ID, scopes=[SELF]
        ).token

    def leaver_headers(self, profile_id: uuid.UUID | str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.leaver_token(profile_id)}"}
