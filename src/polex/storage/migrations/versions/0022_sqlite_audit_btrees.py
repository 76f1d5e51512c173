"""SQLite: the audit log's sequence number as the rowid; its index tables without rowid

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-29 10:00:00

Every audited access writes one event row and its record and query-term rows. On SQLite a
BIGINT primary key is kept as a unique index beside the table's own rowid b-tree, and a
table whose key is all its columns stores each row twice (the table and its key index).
Rebuilt with ``seq`` an INTEGER primary key (the rowid itself) and the two index tables
WITHOUT ROWID, an event writes three b-trees fewer; the rows, their order and every index
are unchanged. PostgreSQL has no rowid: nothing changes there.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table("audit_events", recreate="always") as batch:
        batch.alter_column("seq", existing_type=sa.BigInteger(), type_=sa.Integer(), autoincrement=False)
    for table in ("audit_event_records", "audit_event_terms"):
        with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_with_rowid": False}):
            pass


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table("audit_events", recreate="always") as batch:
        batch.alter_column("seq", existing_type=sa.Integer(), type_=sa.BigInteger(), autoincrement=False)
    for table in ("audit_event_records", "audit_event_terms"):
        with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_with_rowid": True}):
            pass
