"""screenings: rows whose hub records were checked online, on the replica, or not at all

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-30 10:40:00

A national node's manifest jobs ask the hub online for the hub's records, and fall back on
the replica (border control) or leave them unchecked when the hub cannot answer. Each
result line says which; the job's summary counts the rows of each kind, so that an
officer sees at a glance whether the whole manifest was checked against the hub.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

COLUMNS = ("hub_online_rows", "hub_replica_rows", "hub_unchecked_rows")


def upgrade() -> None:
    with op.batch_alter_table("screenings") as table:
        for name in COLUMNS:
            table.add_column(sa.Column(name, sa.BigInteger(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("screenings") as table:
        for name in COLUMNS:
            table.drop_column(name)
