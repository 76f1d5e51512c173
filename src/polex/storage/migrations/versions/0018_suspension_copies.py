"""message forwarding of records and hub suspensions copied to national nodes

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-29 06:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("suspensions") as batch:
        batch.add_column(sa.Column("imposed_by", sa.String(length=63), nullable=True))
        batch.add_column(sa.Column("suspended_by_name", sa.String(length=300), nullable=True))
        batch.add_column(sa.Column("lifted_by_name", sa.String(length=300), nullable=True))
    with op.batch_alter_table("messages") as batch:
        batch.add_column(
            sa.Column(
                "records", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("records")
    with op.batch_alter_table("suspensions") as batch:
        batch.drop_column("lifted_by_name")
        batch.drop_column("suspended_by_name")
        batch.drop_column("imposed_by")
