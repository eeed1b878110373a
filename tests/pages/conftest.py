from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from tests.api.consent_helpers import Leaver, make_leaver
from tests.pages.helpers import page_client, sign_in
from tests.support import Actors


@pytest.fixture
async def browser_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with page_client(app) as c:
        yield c


@pytest.fixture
async def leaver(client: httpx.AsyncClient, actors: Actors) -> Leaver:
    return await make_leaver(client, actors)


@pytest.fixture
async def signed_in(browser_client: httpx.AsyncClient, leaver: Leaver) -> httpx.AsyncClient:
    response = await sign_in(browser_client, leaver.reference)
    assert response.status_code == 303, response.text
    return browser_client
