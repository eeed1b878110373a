"""Every request body is built on the one strict base (issue 12, item 4).

Walks the routes the app serves, not a list kept by hand: a new operation whose body model
forgets ``StrictRequest`` fails here.
"""

from __future__ import annotations

import inspect
import typing
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, ValidationError

from app.auth.codes import ProfileDetails
from app.main import create_app
from app.schemas import StrictRequest
from app.settings import Settings


def _models(annotation: Any) -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = []
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        found.append(annotation)
    for arg in typing.get_args(annotation):
        found.extend(_models(arg))
    return found


def _body_models() -> dict[str, type[BaseModel]]:
    app = create_app(Settings(database_url="postgresql+asyncpg://unused/unused"))
    models: dict[str, type[BaseModel]] = {}
    for context in iter_route_contexts(app.routes):
        route = context.route
        if not isinstance(route, APIRoute) or route.body_field is None:
            continue  # no body, or a form / merge patch parsed by its own code
        for model in _models(route.body_field.field_info.annotation):
            models[f"{sorted(context.methods or ())} {context.path}"] = model
    return models


def test_every_request_body_uses_the_strict_base() -> None:
    models = _body_models()
    assert len(models) >= 10  # the walk found the API's bodies
    loose = {op: m.__name__ for op, m in models.items() if not issubclass(m, StrictRequest)}
    assert loose == {}


@pytest.mark.parametrize("model", [ProfileDetails])
def test_the_base_refuses_unknown_keys_and_nul_and_strips(model: type[BaseModel]) -> None:
    good = {"type": "onward_profile", "fields": ["contact.phone"], "purpose": "case_coordination"}
    with pytest.raises(ValidationError) as unknown:
        model.model_validate({**good, "pin": "482915"})
    assert unknown.value.errors()[0]["type"] == "extra_forbidden"
    with pytest.raises(ValidationError):
        model.model_validate({**good, "purpose": "case_coordination\x00"})
    assert model.model_validate({**good, "purpose": " case_coordination "}) is not None
