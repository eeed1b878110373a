"""The change feed for partners (API.md §9)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from app.api.deps import PartnerReader
from app.api.params import Cursor, Limit
from app.api.problems import token
from app.api.session import Session
from app.auth import scopes as S
from app.pagination import DEFAULT_LIMIT
from app.webhooks.feed import read_changes
from app.webhooks.schemas import ProfileChangePage

router = APIRouter()
# A fixed path beside /v1/profiles/{profile_id}: matched first (see app.main).
CHANGES_PATH = "/v1/profiles/changes"


@router.get(
    CHANGES_PATH,
    tags=["profiles"],
    response_model=ProfileChangePage,
    responses=token(S.PROFILES_READ),
)
async def list_profile_changes(
    principal: PartnerReader, session: Session, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> dict[str, Any]:
    """What changed in the profiles shared with your organisation, **oldest first**.

    One item per change of what your organisation can see: `shared` (your first active
    grant for that profile), `updated` (what you can see changed while at least one grant
    stays active: a shared field edited, a grant added or ended), `unshared` (your last
    active grant ended: revoked or expired). Items carry no personal data, and reading them writes
    no access event: read the profile through `GET /v1/profiles/{id}` (logged) when you need
    it.

    Keep `next_cursor` and poll again with it: following it never skips or repeats an item,
    even while changes are being written. An empty page keeps the cursor you sent;
    `next_cursor` is null only when you sent none and there is nothing yet.
    """
    assert principal.org_id is not None  # a partner token names its organisation
    return await read_changes(session, principal.org_id, limit=limit, cursor=cursor)
