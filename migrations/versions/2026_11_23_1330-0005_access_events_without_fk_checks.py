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
keys), so both rows exist. What RESTRICT also gave, that neither row can be deleted while
events point at it, is kept by BEFORE DELETE triggers on profiles and organisations,
which cost nothing per insert (the organisation check scans access_events: deleting an
organisation is a rare administrative act). And the application role loses DELETE on
both tables, which the application never needs.
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


# Refuses to delete a row that access events point at (TG_ARGV[0]: the events' column).
_GUARD_FUNCTION = """
CREATE FUNCTION onward_keep_audited() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    audited boolean;
BEGIN
    IF TG_ARGV[0] = 'profile_id' THEN  -- index-backed (ix_access_events_profile_seq)
        audited := EXISTS (SELECT 1 FROM access_events WHERE profile_id = OLD.id);
    ELSE
        audited := EXISTS (SELECT 1 FROM access_events WHERE organisation_id = OLD.id);
    END IF;
    IF audited THEN
        RAISE EXCEPTION '% % has access events and cannot be deleted', TG_TABLE_NAME, OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN OLD;
END
$$
"""


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.drop_constraint(
        "fk_access_events_organisation_id_organisations", "access_events", type_="foreignkey"
    )
    op.drop_constraint("fk_access_events_profile_id_profiles", "access_events", type_="foreignkey")
    op.execute(_GUARD_FUNCTION)
    for table, column in (("profiles", "profile_id"), ("organisations", "organisation_id")):
        op.execute(
            f"CREATE TRIGGER {table}_keep_audited BEFORE DELETE ON {table} FOR EACH ROW "
            f"EXECUTE FUNCTION onward_keep_audited('{column}')"
        )
    op.execute(
        _APP_ROLE.replace("{statement}", "REVOKE DELETE ON profiles, organisations FROM onward_app")
    )


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.execute(
        _APP_ROLE.replace("{statement}", "GRANT DELETE ON profiles, organisations TO onward_app")
    )
    op.execute("DROP TRIGGER organisations_keep_audited ON organisations")
    op.execute("DROP TRIGGER profiles_keep_audited ON profiles")
    op.execute("DROP FUNCTION onward_keep_audited()")
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
