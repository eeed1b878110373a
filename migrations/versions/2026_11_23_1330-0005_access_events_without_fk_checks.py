"""Access events without per-insert foreign-key checks

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 13:30:00

Every partner read appends an access event, and each of the two foreign keys on
access_events ran a referential check per insert: an SPI query that also takes a FOR KEY
SHARE lock on the profile and organisation rows (one organisation row, locked by every
concurrent read of that partner). Measured on the benchmark: ~50 us of PostgreSQL CPU
per insert single-client (201 -> 152 us), PostgreSQL CPU per read under load 659 -> 592 us.

The checks were redundant: an event is only written by the statement that read its
profile through an active grant of its organisation (consent_grants keeps its own foreign
keys), so both rows exist. What RESTRICT also gave, that neither row can be deleted
while events point at it, is kept by privilege instead: the application role loses
DELETE on profiles and organisations (the application never deletes either).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_APP_ROLE = """
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'onward_app') THEN
        EXECUTE '{statement}';
    END IF;
END
$$
"""


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.drop_constraint(
        "fk_access_events_organisation_id_organisations", "access_events", type_="foreignkey"
    )
    op.drop_constraint("fk_access_events_profile_id_profiles", "access_events", type_="foreignkey")
    op.execute(
        _APP_ROLE.replace("{statement}", "REVOKE DELETE ON profiles, organisations FROM onward_app")
    )


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.execute(
        _APP_ROLE.replace("{statement}", "GRANT DELETE ON profiles, organisations TO onward_app")
    )
    op.create_foreign_key(
        "fk_access_events_profile_id_profiles",
        "access_events",
        "profiles",
        ["profile_id"],
        ["id"],
        ondelete="RESTRICT",
    )
    op.create_foreign_key(
        "fk_access_events_organisation_id_organisations",
        "access_events",
        "organisations",
        ["organisation_id"],
        ["id"],
        ondelete="RESTRICT",
    )
