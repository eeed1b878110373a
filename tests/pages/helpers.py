"""Driving the leaver's pages over HTTP: an https client (the session cookie is Secure),
reading CSRF tokens out of forms, signing in."""

from __future__ import annotations

import re
from typing import Any

import httpx
from fastapi import FastAPI

from tests.api.consent_helpers import PIN

COOKIE = "__Host-onward_session"
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]*)" value="([^"]*)"')
_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


def page_client(app: FastAPI, address: str = "127.0.0.1") -> httpx.AsyncClient:
    """A browser-like client over https (httpx sends a Secure cookie only over https)."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(address, 50_000)),
        base_url="https://testserver",
    )


def csrf_of(response: httpx.Response) -> str:
    found = _CSRF.search(response.text)
    assert found, response.text
    return found.group(1)


async def sign_in(
    client: httpx.AsyncClient,
    reference: str,
    pin: str = PIN,
    *,
    helper: tuple[str, str] | None = None,
    next_path: str | None = None,
) -> httpx.Response:
    form_page = await client.get(
        "/account/sign-in", params={"next": next_path} if next_path else None
    )
    assert form_page.status_code in (200, 303), form_page.text
    if form_page.status_code == 303:
        return form_page
    data: dict[str, Any] = {
        "csrf_token": csrf_of(form_page),
        "reference": reference,
        "pin": pin,
        "next": next_path or "",
    }
    if helper is not None:
        data |= {"helped": "yes", "helper_name": helper[0], "helper_organisation": helper[1]}
    return await client.post("/account/sign-in", data=data)


async def post_form(
    client: httpx.AsyncClient, page: str, action: str, data: dict[str, Any] | None = None
) -> httpx.Response:
    """Open ``page`` and post ``data`` to ``action`` with the hidden inputs of that form
    (its CSRF token, versions), as a browser would."""
    opened = await client.get(page)
    assert opened.status_code == 200, opened.text
    form = re.search(
        rf'<form[^>]*action="{re.escape(action)}"[^>]*>(.*?)</form>', opened.text, re.S
    )
    assert form, (action, opened.text)
    hidden = dict(_HIDDEN.findall(form.group(1)))
    return await client.post(action, data={**hidden, **(data or {})})
