"""Shared fixtures: one real PostgreSQL per test run, one rolled-back transaction per test.

The database is the embedded one under ``.onward-test`` (or ``<db>_test`` on the server of
``DATABASE_URL`` when that is set), dropped, recreated and migrated with Alembic once per
run. Each test's app shares a single connection inside a transaction that is rolled back
afterwards (services' commits become savepoint releases). Tests that need real
concurrency use ``committed_app`` instead and must create their own uniquely named data.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from app.db import Database
from app.main import create_app
from app.migrate import upgrade
from app.settings import Settings
from tests.support import Actors, recreate_database

ROOT = Path(__file__).resolve().parent.parent
TEST_DATA_DIR = ROOT / ".onward-test"


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings(
        environment="test",
        data_dir=TEST_DATA_DIR,
        issuer="http://testserver",
        database_url=None,
        background_tasks=False,
        # Webhook tests deliver to a receiver on 127.0.0.1; the SSRF tests turn it off.
        webhooks_allow_private=True,
    )


@pytest.fixture(scope="session")
async def database_url() -> str:
    url = await recreate_database(os.environ.get("DATABASE_URL"), TEST_DATA_DIR)
    await upgrade(url)
    return url


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database_url, pool_size=20, max_overflow=20)
    yield engine
    await engine.dispose()


@pytest.fixture
async def db(engine: AsyncEngine) -> AsyncIterator[Database]:
    async with engine.connect() as conn:
        trans = await conn.begin()
        maker = async_sessionmaker(
            bind=conn, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )
        yield Database(engine, maker)
        await trans.rollback()


async def _running(settings: Settings, database: Database) -> AsyncIterator[FastAPI]:
    app = create_app(settings, database=database)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def app(settings: Settings, db: Database) -> AsyncIterator[FastAPI]:
    async for running in _running(settings, db):
        yield running


@pytest.fixture
async def committed_app(settings: Settings, engine: AsyncEngine) -> AsyncIterator[FastAPI]:
    """An app whose requests each get their own pooled connection and really commit."""
    database = Database(engine, async_sessionmaker(engine, expire_on_commit=False))
    async for running in _running(settings, database):
        yield running


def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(app) as c:
        yield c


@pytest.fixture
async def committed_client(committed_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(committed_app) as c:
        yield c


@pytest.fixture
def actors(app: FastAPI) -> Actors:
    """Makes organisations, clients and their tokens straight in the test's transaction."""
    return Actors(app)


@pytest.fixture
def committed_actors(committed_app: FastAPI) -> Actors:
    return Actors(committed_app)


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:8]


def problem(response: httpx.Response) -> dict[str, Any]:
    """The problem document of an error response, checking its media type."""
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == response.status_code
    assert {"type", "title", "status", "detail"} <= body.keys()
    return body
