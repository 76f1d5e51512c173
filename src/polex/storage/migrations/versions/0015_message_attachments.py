"""message attachments: uploads, sealed attachments of messages, the hub's store

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-29 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "attachment_uploads",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("agency_id", sa.String(length=36), nullable=False),
        sa.Column("uploader_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("media_type", sa.String(length=127), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("chunk_size", sa.Integer(), nullable=False),
        sa.Column("chunk_count", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("message_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attachment_uploads")),
    )
    with op.batch_alter_table("attachment_uploads", schema=None) as batch_op:
        batch_op.create_index("ix_attachment_uploads_agency", ["agency_id", "created_at"], unique=False)
        batch_op.create_index("ix_attachment_uploads_status", ["status", "updated_at"], unique=False)

    op.create_table(
        "attachment_upload_chunks",
        sa.Column("upload_id", sa.String(length=36), nullable=False),
        sa.Column("chunk", sa.Integer(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["upload_id"],
            ["attachment_uploads.id"],
            name=op.f("fk_attachment_upload_chunks_upload_id_attachment_uploads"),
        ),
        sa.PrimaryKeyConstraint("upload_id", "chunk", name=op.f("pk_attachment_upload_chunks")),
    )
    op.create_table(
        "message_attachments",
        sa.Column("box", sa.String(length=8), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("media_type", sa.String(length=127), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("chunk_size", sa.Integer(), nullable=False),
        sa.Column("chunk_count", sa.Integer(), nullable=False),
        sa.Column("content_key", sa.String(length=64), nullable=False),
        sa.Column(
            "chunks", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("box", "id", name=op.f("pk_message_attachments")),
    )
    with op.batch_alter_table("message_attachments", schema=None) as batch_op:
        batch_op.create_index("ix_message_attachments_due", ["box", "status", "next_attempt_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_message_attachments_message_id"), ["message_id"], unique=False)

    op.create_table(
        "hub_attachments",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("sender", sa.String(length=63), nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("chunk_bytes", sa.Integer(), nullable=False),
        sa.Column("chunk_count", sa.Integer(), nullable=False),
        sa.Column("received", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hub_attachments")),
    )
    with op.batch_alter_table("hub_attachments", schema=None) as batch_op:
        batch_op.create_index("ix_hub_attachments_status", ["status", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_hub_attachments_message_id"), ["message_id"], unique=False)

    op.create_table(
        "hub_attachment_chunks",
        sa.Column("attachment_id", sa.String(length=36), nullable=False),
        sa.Column("chunk", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["attachment_id"],
            ["hub_attachments.id"],
            name=op.f("fk_hub_attachment_chunks_attachment_id_hub_attachments"),
        ),
        sa.PrimaryKeyConstraint("attachment_id", "chunk", name=op.f("pk_hub_attachment_chunks")),
    )
    op.create_table(
        "hub_attachment_fetches",
        sa.Column("attachment_id", sa.String(length=36), nullable=False),
        sa.Column("recipient", sa.String(length=63), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("attachment_id", "recipient", name=op.f("pk_hub_attachment_fetches")),
    )


def downgrade() -> None:
    op.drop_table("hub_attachment_fetches")
    op.drop_table("hub_attachment_chunks")
    with op.batch_alter_table("hub_attachments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hub_attachments_message_id"))
        batch_op.drop_index("ix_hub_attachments_status")
    op.drop_table("hub_attachments")
    with op.batch_alter_table("message_attachments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_message_attachments_message_id"))
        batch_op.drop_index("ix_message_attachments_due")
    op.drop_table("message_attachments")
    op.drop_table("attachment_upload_chunks")
    with op.batch_alter_table("attachment_uploads", schema=None) as batch_op:
        batch_op.drop_index("ix_attachment_uploads_status")
        batch_op.drop_index("ix_attachment_uploads_agency")
    op.drop_table("attachment_uploads")
