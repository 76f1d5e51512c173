"""accesses to a record reported to its owner across the network

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-29 06:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    state = op.create_table(
        "access_report_state",
        sa.Column("id", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("next_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_report_state")),
    )
    # Reporting starts from the first entry: what the log held before is reported too.
    op.bulk_insert(state, [{"id": 1, "next_seq": 0}])
    op.create_table(
        "access_report_queue",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("record_id", sa.String(length=36), nullable=False),
        sa.Column("owner_country", sa.String(length=3), nullable=False),
        sa.Column("report", JSON, nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", "record_id", name=op.f("pk_access_report_queue")),
    )
    op.create_index("ix_access_report_queue_country", "access_report_queue", ["owner_country", "seq", "record_id"])
    op.create_table(
        "access_reports",
        sa.Column("node", sa.String(length=63), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("record_id", sa.String(length=36), nullable=False),
        sa.Column("record_kind", sa.String(length=32), nullable=False),
        sa.Column("owner_agency_id", sa.String(length=36), nullable=False),
        sa.Column("owner_country", sa.String(length=3), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tag", sa.String(length=64), nullable=False),
        sa.Column("agency_id", sa.String(length=36), nullable=True),
        sa.Column("country", sa.String(length=3), nullable=True),
        sa.Column("purpose", sa.String(length=64), nullable=True),
        sa.Column("case_declared", sa.Boolean(), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("checkpoint_size", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("node", "seq", "record_id", name=op.f("pk_access_reports")),
    )
    op.create_index("ix_access_reports_record", "access_reports", ["record_id", "at"])
    op.create_table(
        "access_report_checkpoints",
        sa.Column("node", sa.String(length=63), nullable=False),
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("origin", sa.String(length=200), nullable=False),
        sa.Column("root", sa.LargeBinary(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("verifier_key", sa.String(length=500), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("node", "size", name=op.f("pk_access_report_checkpoints")),
    )


def downgrade() -> None:
    op.drop_table("access_report_checkpoints")
    op.drop_index("ix_access_reports_record", table_name="access_reports")
    op.drop_table("access_reports")
    op.drop_index("ix_access_report_queue_country", table_name="access_report_queue")
    op.drop_table("access_report_queue")
    op.drop_table("access_report_state")
