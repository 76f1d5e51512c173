"""message read receipts: when a received message was first read, and the sender's view of it

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("read_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("message_recipients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("read_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("read_receipt", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("message_recipients", schema=None) as batch_op:
        batch_op.drop_column("read_receipt")
        batch_op.drop_column("read_at")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("read_at")
