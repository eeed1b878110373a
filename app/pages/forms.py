"""Reading an HTML form post (``application/x-www-form-urlencoded``) without a multipart
parser: the pages' forms send nothing else. Values keep their order; a checkbox group
gives a list."""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request

MAX_FORM_BYTES = 64 * 1024
_FORM_KEY = "onward_form"


class FormData:
    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs

    def get(self, name: str, default: str = "") -> str:
        for key, value in self.pairs:
            if key == name:
                return value
        return default

    def text(self, name: str, max_length: int) -> str:
        """A field's value, stripped, cut to ``max_length``; NUL characters removed."""
        return self.get(name).replace("\x00", "").strip()[:max_length]

    def getlist(self, name: str) -> list[str]:
        return [value for key, value in self.pairs if key == name]


async def read_form(request: Request) -> FormData:
    """The posted form (read once per request; later calls return the same)."""
    cached: FormData | None = getattr(request.state, _FORM_KEY, None)
    if cached is not None:
        return cached
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body() if content_type == "application/x-www-form-urlencoded" else b""
    try:
        text = body[:MAX_FORM_BYTES].decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    form = FormData(parse_qsl(text, keep_blank_values=True))
    setattr(request.state, _FORM_KEY, form)
    return form
