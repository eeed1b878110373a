"""The token endpoint's raw asyncpg SQL is its Core statement, compiled (issue 12, item 3).
The source rules for every domain are in ``test_one_way_to_the_database.py``."""

from __future__ import annotations

from app.auth import repository


def test_the_token_endpoint_sql_is_compiled_from_the_core_statement() -> None:
    # asyncpg's positional placeholders, one per parameter the compiled statement names.
    assert "$1" in repository.CLIENT_BY_ID_SQL
    assert ":client_id" not in repository.CLIENT_BY_ID_SQL
    assert repository._CLIENT_BY_ID_ORDER == ("client_id",)
