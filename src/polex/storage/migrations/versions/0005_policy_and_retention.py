"""policy and retention

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agreements",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "document", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column(
            "approvals", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("proposed_by_country", sa.String(length=3), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agreements")),
    )
    op.create_table(
        "policy_documents",
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "document", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("kind", "name", name=op.f("pk_policy_documents")),
    )
    op.create_table(
        "suspensions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("subject_kind", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.String(length=36), nullable=False),
        sa.Column("country", sa.String(length=3), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("suspended_by", sa.String(length=36), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lifted_by", sa.String(length=36), nullable=True),
        sa.Column("lift_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suspensions")),
    )
    with op.batch_alter_table("suspensions", schema=None) as batch_op:
        batch_op.create_index("ix_suspensions_subject", ["subject_kind", "subject_id"], unique=False)

    op.create_table(
        "agreement_versions",
        sa.Column("agreement_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column(
            "document", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("proposed_by", sa.String(length=36), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agreement_id"], ["agreements.id"], name=op.f("fk_agreement_versions_agreement_id_agreements")
        ),
        sa.PrimaryKeyConstraint("agreement_id", "version", name=op.f("pk_agreement_versions")),
    )
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retain_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("review_requested_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_records_retain_until", ["retain_until"], unique=False)
    op.drop_index("uq_records_kind_key_live", table_name="records")
    op.create_index(
        "uq_records_kind_owner_key_live",
        "records",
        ["kind", "owner_country", "key"],
        unique=True,
        sqlite_where=sa.text("deleted_at IS NULL AND key IS NOT NULL"),
        postgresql_where=sa.text("deleted_at IS NULL AND key IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_records_kind_owner_key_live", table_name="records")
    op.create_index(
        "uq_records_kind_key_live",
        "records",
        ["kind", "key"],
        unique=True,
        sqlite_where=sa.text("deleted_at IS NULL AND key IS NOT NULL"),
        postgresql_where=sa.text("deleted_at IS NULL AND key IS NOT NULL"),
    )
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.drop_index("ix_records_retain_until")
        batch_op.drop_column("purged_at")
        batch_op.drop_column("review_requested_at")
        batch_op.drop_column("retain_until")

    op.drop_table("agreement_versions")
    with op.batch_alter_table("suspensions", schema=None) as batch_op:
        batch_op.drop_index("ix_suspensions_subject")

    op.drop_table("suspensions")
    op.drop_table("policy_documents")
    op.drop_table("agreements")
