"""hits: the national node whose user's check raised the hit (its requester's copy)

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-29 04:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hits") as batch:
        batch.add_column(sa.Column("requester_node", sa.String(length=63), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("hits") as batch:
        batch.drop_column("requester_node")
