"""The error answers routes declare in ``responses={...}``, so OpenAPI lists them.

Each is an ``application/problem+json`` document: ``app.api.errors.problem_documents`` gives
every 4xx/5xx its ``Problem`` schema, so a declaration here is just a status and what it
means. Combine them with ``|``: ``responses=token(S.OFFERS_WRITE) | problem(404, "…")``.
"""

from __future__ import annotations

from typing import Any

Responses = dict[int | str, dict[str, Any]]


def problem(status: int, description: str) -> Responses:
    return {status: {"description": description}}


def token(scope: str) -> Responses:
    """401 and 403 of a route that needs a bearer token with ``scope``."""
    return problem(401, "No token, or an invalid, expired or revoked one") | problem(
        403, f"The token lacks scope `{scope}`"
    )
