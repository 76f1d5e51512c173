"""hub_deliveries.sent_at: an envelope handed to the recipient's JetStream stream

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-29 07:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hub_deliveries") as batch:
        batch.add_column(sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("hub_deliveries") as batch:
        batch.drop_column("sent_at")
