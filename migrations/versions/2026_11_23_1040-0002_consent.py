"""Consent: purpose vocabulary, and the application role that cannot rewrite the audit log

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 10:40:00

Production connects as a LOGIN role that is a member of ``onward_app`` (``GRANT
onward_app TO onward_web``), never as the owner that runs migrations. ``onward_app`` may
read and write every table but may only SELECT and INSERT ``access_events``: the access
log is append-only by privilege as well as by the trigger of 0001. The role is created
only when the migrating role may create roles; otherwise a DBA creates it and re-runs the
grants (the DO block below is idempotent).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PURPOSES = ("referral", "support_delivery", "case_coordination", "pre_release_planning")

APP_ROLE_GRANTS = """
DO $$
DECLARE
    schema_name text := current_schema();
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'onward_app')
       AND EXISTS (SELECT 1 FROM pg_roles
                    WHERE rolname = current_user AND (rolsuper OR rolcreaterole)) THEN
        CREATE ROLE onward_app NOLOGIN;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'onward_app') THEN
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO onward_app', schema_name);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I '
                       'TO onward_app', schema_name);
        EXECUTE 'REVOKE UPDATE, DELETE, TRUNCATE ON access_events FROM onward_app';
        EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO onward_app',
                       schema_name);
        -- Tables and sequences that later migrations create get the same rights.
        EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT, INSERT, UPDATE, '
                       'DELETE ON TABLES TO onward_app', schema_name);
        EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT USAGE, SELECT ON '
                       'SEQUENCES TO onward_app', schema_name);
    END IF;
END
$$
"""

APP_ROLE_REVOKES = """
DO $$
DECLARE
    schema_name text := current_schema();
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'onward_app') THEN
        EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I REVOKE ALL ON TABLES '
                       'FROM onward_app', schema_name);
        EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I REVOKE ALL ON SEQUENCES '
                       'FROM onward_app', schema_name);
        EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA %I FROM onward_app', schema_name);
        EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA %I FROM onward_app',
                       schema_name);
        EXECUTE format('REVOKE USAGE ON SCHEMA %I FROM onward_app', schema_name);
    END IF;
END
$$
"""


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    quoted = ", ".join(f"'{p}'" for p in PURPOSES)
    op.create_check_constraint(
        op.f("ck_consent_grants_purpose"), "consent_grants", f"purpose IN ({quoted})"
    )
    # 0001's row trigger covers UPDATE and DELETE; TRUNCATE needs a statement trigger.
    op.execute(
        "CREATE TRIGGER access_events_no_truncate BEFORE TRUNCATE ON access_events "
        "FOR EACH STATEMENT EXECUTE FUNCTION access_events_append_only()"
    )
    op.execute(APP_ROLE_GRANTS)


def downgrade() -> None:
    op.execute("DROP TRIGGER access_events_no_truncate ON access_events")
    # The role itself is cluster-wide (other databases may use it), so it is left in place.
    op.execute(APP_ROLE_REVOKES)
    op.drop_constraint(op.f("ck_consent_grants_purpose"), "consent_grants", type_="check")
