"""notice requests relayed from national nodes to the hub; imported notices' provenance;
hits raised at the hub copied to the owner's national node

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-29 00:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "applied_envelopes",
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("sender", sa.String(length=63), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_applied_envelopes")),
    )
    with op.batch_alter_table("notices") as batch:
        batch.add_column(sa.Column("source_node", sa.String(length=63), nullable=True))
        batch.add_column(
            sa.Column(
                "provenance",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )
    with op.batch_alter_table("notice_files") as batch:
        batch.add_column(sa.Column("relayed_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("hits") as batch:
        batch.add_column(sa.Column("source_node", sa.String(length=63), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("hits") as batch:
        batch.drop_column("source_node")
    with op.batch_alter_table("notice_files") as batch:
        batch.drop_column("relayed_at")
    with op.batch_alter_table("notices") as batch:
        batch.drop_column("provenance")
        batch.drop_column("source_node")
    op.drop_table("applied_envelopes")
