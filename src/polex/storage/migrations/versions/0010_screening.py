"""screening: record lookup keys for document and vehicle checks, and hits

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_records = sa.table(
    "records",
    sa.column("id", sa.String),
    sa.column("kind", sa.String),
    sa.column("deleted_at", sa.DateTime),
    sa.column("content", sa.JSON),
)


def _keys(kind: str, content: dict[str, Any]) -> set[str]:
    # The projection as it was when this revision was written (documents by issuer and
    # number; vehicles not recovered by VIN and by plate), on already normalised content.
    if kind == "travel_document" and content.get("number") and content.get("issuing_country"):
        return {f"doc:{content['issuing_country']}:{content['number']}"}
    if kind == "vehicle" and content.get("status") != "recovered":
        keys = set()
        if content.get("vin"):
            keys.add(f"vin:{content['vin']}")
        if content.get("plate") and content.get("plate_country"):
            keys.add(f"plate:{content['plate_country']}:{content['plate']}")
        return keys
    return set()


def upgrade() -> None:
    op.create_table(
        "record_keys",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(["record_id"], ["records.id"], name=op.f("fk_record_keys_record_id_records")),
        sa.PrimaryKeyConstraint("key", "record_id", name=op.f("pk_record_keys")),
    )
    with op.batch_alter_table("record_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_record_keys_record_id"), ["record_id"], unique=False)

    op.create_table(
        "hits",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("record_id", sa.String(length=36), nullable=False),
        sa.Column("record_kind", sa.String(length=32), nullable=False),
        sa.Column("owner_agency_id", sa.String(length=36), nullable=False),
        sa.Column("owner_country", sa.String(length=3), nullable=False),
        sa.Column("requester_agency_id", sa.String(length=36), nullable=False),
        sa.Column("requester_country", sa.String(length=3), nullable=False),
        sa.Column("requester_user_id", sa.String(length=36), nullable=True),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("case_reference", sa.String(length=128), nullable=True),
        sa.Column("access", sa.String(length=16), nullable=False),
        sa.Column(
            "query", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("request_note", sa.Text(), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answer_note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hits")),
    )
    with op.batch_alter_table("hits", schema=None) as batch_op:
        batch_op.create_index("ix_hits_owner_agency", ["owner_agency_id", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_hits_record_id"), ["record_id"], unique=False)
        batch_op.create_index("ix_hits_requester_agency", ["requester_agency_id", "created_at"], unique=False)

    connection = op.get_bind()
    rows = connection.execute(
        sa.select(_records.c.id, _records.c.kind, _records.c.content).where(
            _records.c.kind.in_(("travel_document", "vehicle")), _records.c.deleted_at.is_(None)
        )
    )
    batch: list[dict[str, str]] = []
    keys_table = sa.table("record_keys", sa.column("key", sa.String), sa.column("record_id", sa.String))
    for record_id, kind, content in rows:
        batch += [{"key": key, "record_id": record_id} for key in _keys(kind, content or {})]
        if len(batch) >= 5000:
            connection.execute(keys_table.insert(), batch)
            batch = []
    if batch:
        connection.execute(keys_table.insert(), batch)


def downgrade() -> None:
    with op.batch_alter_table("hits", schema=None) as batch_op:
        batch_op.drop_index("ix_hits_requester_agency")
        batch_op.drop_index(batch_op.f("ix_hits_record_id"))
        batch_op.drop_index("ix_hits_owner_agency")
    op.drop_table("hits")
    with op.batch_alter_table("record_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_record_keys_record_id"))
    op.drop_table("record_keys")
