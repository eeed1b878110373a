"""One open referral per leaver per offer

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 09:00:00

API.md §5 (version 2): a leaver may have at most one referral to an offer that is
``pending``, ``accepted`` or ``in_progress``. A partial unique index holds the rule, so two
racing requests cannot both create one (the service inserts with ON CONFLICT DO NOTHING
and answers 409).

Referrals made before this rule may break it. Deciding which of them to end is a person's
decision (each has a provider working it and a grant behind it), so the upgrade stops with
a count rather than closing any; list them with::

    SELECT profile_id, offer_id, count(*) FROM referrals
     WHERE status IN ('pending', 'accepted', 'in_progress')
     GROUP BY 1, 2 HAVING count(*) > 1;
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of app.referrals.status.OPEN at this revision.
_OPEN_SQL = "status IN ('accepted', 'in_progress', 'pending')"

_DUPLICATES = text(
    f"""
    SELECT count(*) FROM (
        SELECT 1 FROM referrals WHERE {_OPEN_SQL}
         GROUP BY profile_id, offer_id HAVING count(*) > 1
    ) AS d
    """
)


def upgrade() -> None:
    # Never wait long for a lock on a busy table: fail and retry the deploy instead.
    op.execute("SET LOCAL lock_timeout = '5s'")
    clashes = op.get_bind().execute(_DUPLICATES).scalar_one()
    if clashes:
        raise RuntimeError(
            f"{clashes} leaver/offer pair(s) have more than one open referral; end all but "
            "one of each (see this migration's docstring for the query), then upgrade again"
        )
    op.create_index(
        "uq_referrals_profile_offer_open",
        "referrals",
        ["profile_id", "offer_id"],
        unique=True,
        postgresql_where=text(_OPEN_SQL),
    )


def downgrade() -> None:
    op.drop_index("uq_referrals_profile_offer_open", table_name="referrals")
