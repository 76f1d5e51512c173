"""cross-border correlation alerts between person records of different countries

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-29 06:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "correlations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("record_a_id", sa.String(length=36), nullable=False),
        sa.Column("kind_a", sa.String(length=32), nullable=False),
        sa.Column("agency_a_id", sa.String(length=36), nullable=False),
        sa.Column("country_a", sa.String(length=3), nullable=False),
        sa.Column("status_a", sa.String(length=16), nullable=False),
        sa.Column("note_a", sa.Text(), nullable=True),
        sa.Column("answered_at_a", sa.DateTime(timezone=True), nullable=True),
        sa.Column("record_b_id", sa.String(length=36), nullable=False),
        sa.Column("kind_b", sa.String(length=32), nullable=False),
        sa.Column("agency_b_id", sa.String(length=36), nullable=False),
        sa.Column("country_b", sa.String(length=3), nullable=False),
        sa.Column("status_b", sa.String(length=16), nullable=False),
        sa.Column("note_b", sa.Text(), nullable=True),
        sa.Column("answered_at_b", sa.DateTime(timezone=True), nullable=True),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column(
            "explanation",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_reason", sa.String(length=24), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_correlations")),
    )
    with op.batch_alter_table("correlations", schema=None) as batch_op:
        batch_op.create_index("uq_correlations_pair", ["record_a_id", "record_b_id"], unique=True)
        batch_op.create_index(batch_op.f("ix_correlations_record_b_id"), ["record_b_id"], unique=False)
        batch_op.create_index("ix_correlations_agency_a", ["agency_a_id", "id"], unique=False)
        batch_op.create_index("ix_correlations_agency_b", ["agency_b_id", "id"], unique=False)

    op.create_table(
        "correlation_state",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("mark", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_correlation_state")),
    )


def downgrade() -> None:
    op.drop_table("correlation_state")
    with op.batch_alter_table("correlations", schema=None) as batch_op:
        batch_op.drop_index("ix_correlations_agency_b")
        batch_op.drop_index("ix_correlations_agency_a")
        batch_op.drop_index(batch_op.f("ix_correlations_record_b_id"))
        batch_op.drop_index("uq_correlations_pair")
    op.drop_table("correlations")
