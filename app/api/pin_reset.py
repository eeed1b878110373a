"""The kiosk resets a leaver's PIN (API.md §1): ``POST /v1/profiles/pin-reset``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Response
from pydantic import ConfigDict, Field, StringConstraints, field_validator

from app.api.deps import Kiosk
from app.api.problems import problem, token
from app.api.session import Session
from app.auth import scopes as S
from app.auth.pin_reset import reset_pin
from app.errors import refuse_nul
from app.schemas import StrictRequest

router = APIRouter()


class PinReset(StrictRequest):
    model_config = ConfigDict(
        str_strip_whitespace=True,
        title="PinReset",
        json_schema_extra={"examples": [{"reference": "ONW-DEM0-0001", "pin": "482915"}]},
    )

    reference: Annotated[str, StringConstraints(min_length=1, max_length=32)] = Field(
        description="The leaver's reference, `ONW-XXXX-XXXX` (as printed; case and spaces "
        "do not matter)."
    )
    pin: Annotated[str, StringConstraints(max_length=64)] = Field(
        description="The new PIN: 6–12 digits, not a common or trivial PIN. Stored only as "
        "an Argon2id hash; never echoed."
    )

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        return refuse_nul(value)


@router.post(
    "/v1/profiles/pin-reset",
    tags=["profiles"],
    status_code=204,
    summary="Reset a leaver's PIN",
    responses={
        **token(S.PROFILES_CREATE),
        **problem(404, "No profile created by your organisation has this reference"),
        **problem(422, "A PIN that is malformed or too easy, or an invalid body"),
    },
)
async def reset_leaver_pin(body: PinReset, principal: Kiosk, session: Session) -> Response:
    """Give a leaver a new PIN, at the kiosk, with the leaver present and known to staff.

    Only the organisation whose client created the profile may reset its PIN; any other
    reference (unknown, or another organisation's) answers 404, the same for both. The
    new PIN follows the rules of creation (6–12 digits, not on the block-list: 422
    otherwise, without repeating it). The reference's lock-out and count of wrong PINs are
    cleared, and a `pin.reset` event naming your organisation appears in the leaver's
    access log. Answers 204 with no body.
    """
    await reset_pin(
        session,
        organisation_id=principal.org_id,
        client_id=principal.client_id,
        reference=body.reference,
        pin=body.pin,
    )
    return Response(status_code=204)
