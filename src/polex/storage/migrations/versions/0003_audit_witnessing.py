"""audit witnessing

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_alerts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("log", sa.String(length=200), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column(
            "evidence", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_alerts")),
    )
    with op.batch_alter_table("audit_alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_alerts_at"), ["at"], unique=False)

    op.create_table(
        "audit_witnessed",
        sa.Column("log", sa.String(length=200), nullable=False),
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root", sa.LargeBinary(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("via", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("log", "size", name=op.f("pk_audit_witnessed")),
    )


def downgrade() -> None:
    op.drop_table("audit_witnessed")
    with op.batch_alter_table("audit_alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_alerts_at"))

    op.drop_table("audit_alerts")
