"""notices

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-28 21:54:20.932366
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notice_counters",
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_notice_counters")),
    )
    op.create_table(
        "notices",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("notice_type", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reference", sa.String(length=32), nullable=True),
        sa.Column("owner_agency_id", sa.String(length=36), nullable=False),
        sa.Column("owner_country", sa.String(length=3), nullable=False),
        sa.Column("label", sa.String(length=500), nullable=False),
        sa.Column(
            "content", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column(
            "restrictions",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "findings", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("review_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("review_requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["owner_agency_id"], ["agencies.id"], name=op.f("fk_notices_owner_agency_id_agencies")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notices")),
        sa.UniqueConstraint("reference", name=op.f("uq_notices_reference")),
    )
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.create_index("ix_notices_expires_at", ["expires_at"], unique=False)
        batch_op.create_index("ix_notices_owner_agency", ["owner_agency_id", "updated_at"], unique=False)
        batch_op.create_index("ix_notices_status", ["status", "updated_at"], unique=False)

    op.create_table(
        "notice_files",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("notice_id", sa.String(length=36), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=500), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["notice_id"], ["notices.id"], name=op.f("fk_notice_files_notice_id_notices")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice_files")),
    )
    with op.batch_alter_table("notice_files", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notice_files_notice_id"), ["notice_id"], unique=False)

    op.create_table(
        "notice_transitions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("notice_id", sa.String(length=36), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_kind", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.String(length=36), nullable=True),
        sa.Column("actor_agency_id", sa.String(length=36), nullable=True),
        sa.Column("actor_country", sa.String(length=3), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column(
            "details", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.ForeignKeyConstraint(["notice_id"], ["notices.id"], name=op.f("fk_notice_transitions_notice_id_notices")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice_transitions")),
    )
    with op.batch_alter_table("notice_transitions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notice_transitions_notice_id"), ["notice_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("notice_transitions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notice_transitions_notice_id"))

    op.drop_table("notice_transitions")
    with op.batch_alter_table("notice_files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notice_files_notice_id"))

    op.drop_table("notice_files")
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.drop_index("ix_notices_status")
        batch_op.drop_index("ix_notices_owner_agency")
        batch_op.drop_index("ix_notices_expires_at")

    op.drop_table("notices")
    op.drop_table("notice_counters")
