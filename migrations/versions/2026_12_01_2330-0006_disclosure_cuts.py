"""Disclosure cuts: each organisation's view of a profile, decided when consent changes

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 23:30:00

The partner read used to decide disclosure per read, once in Python and once again in
SQL (for the access event). Now ``consent.cuts.refresh_cuts`` decides it when a grant or
the profile changes and stores the result here; the read serves the stored row.

The triggers are the safety net that makes the stored decision impossible to leave
stale: any insert or update of a grant, and any change of a profile's data, marks the
affected cuts unservable (``valid_until = '-infinity'``) in the same transaction, so a
code path that forgot to refresh causes a recomputation on the next read, never an
over-wide disclosure. Existing grants get such stale rows here; they are computed on
first use.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_UPGRADE = [
    """
    CREATE FUNCTION disclosure_cut_stale_for_grant() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO disclosure_cuts AS c (profile_id, organisation_id, data, fields,
                                          grant_ids, version, updated_at, valid_until)
        VALUES (NEW.profile_id, NEW.organisation_id, '{}'::jsonb, '{}', '{}', 0,
                NEW.granted_at, '-infinity')
        ON CONFLICT (profile_id, organisation_id)
        DO UPDATE SET valid_until = '-infinity';
        RETURN NULL;
    END $$;
    """,
    """
    CREATE TRIGGER consent_grants_stale_cut
        AFTER INSERT OR UPDATE ON consent_grants
        FOR EACH ROW EXECUTE FUNCTION disclosure_cut_stale_for_grant();
    """,
    """
    CREATE FUNCTION disclosure_cut_stale_for_profile() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE disclosure_cuts SET valid_until = '-infinity' WHERE profile_id = NEW.id;
        RETURN NULL;
    END $$;
    """,
    """
    CREATE TRIGGER profiles_stale_cut
        AFTER UPDATE OF data ON profiles
        FOR EACH ROW WHEN (OLD.data IS DISTINCT FROM NEW.data)
        EXECUTE FUNCTION disclosure_cut_stale_for_profile();
    """,
    """
    INSERT INTO disclosure_cuts (profile_id, organisation_id, data, fields, grant_ids,
                                 version, updated_at, valid_until)
    SELECT g.profile_id, g.organisation_id, '{}'::jsonb, '{}', '{}', 0,
           greatest(max(g.granted_at), max(p.updated_at)), '-infinity'
      FROM consent_grants AS g
      JOIN profiles AS p ON p.id = g.profile_id
     GROUP BY g.profile_id, g.organisation_id;
    """,
]


def upgrade() -> None:
    op.create_table(
        "disclosure_cuts",
        sa.Column("profile_id", sa.UUID(), nullable=False),
        sa.Column("organisation_id", sa.UUID(), nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("fields", postgresql.ARRAY(sa.String(length=64)), nullable=False),
        sa.Column("grant_ids", postgresql.ARRAY(sa.UUID()), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_disclosure_cuts_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["profile_id"],
            ["profiles.id"],
            name=op.f("fk_disclosure_cuts_profile_id_profiles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("profile_id", "organisation_id", name=op.f("pk_disclosure_cuts")),
    )
    op.create_index(
        "ix_disclosure_cuts_org_updated",
        "disclosure_cuts",
        ["organisation_id", sa.text("updated_at DESC"), sa.text("profile_id DESC")],
    )
    # Stale cuts of an organisation, refreshed before its list read.
    op.create_index(
        "ix_disclosure_cuts_org_valid_until",
        "disclosure_cuts",
        ["organisation_id", "valid_until"],
    )
    for statement in _UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TRIGGER profiles_stale_cut ON profiles")
    op.execute("DROP FUNCTION disclosure_cut_stale_for_profile()")
    op.execute("DROP TRIGGER consent_grants_stale_cut ON consent_grants")
    op.execute("DROP FUNCTION disclosure_cut_stale_for_grant()")
    op.drop_index("ix_disclosure_cuts_org_valid_until", table_name="disclosure_cuts")
    op.drop_index("ix_disclosure_cuts_org_updated", table_name="disclosure_cuts")
    op.drop_table("disclosure_cuts")
