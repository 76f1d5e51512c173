"""PostgreSQL: a record's documents as json, not jsonb

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-01 04:50:00

A record's content, provenance and restrictions are written and read whole; no query looks
inside them (filters use the projected columns and terms). ``jsonb`` parsed every document
into its binary form on the way in (15 % of the server's time in an import of travel
documents: the parser and key sorting) and printed it back on every read; ``json``
keeps the text as written, still checked to be JSON. SQLite stores JSON as text already:
nothing changes there. Rewrites the table once.
"""

from __future__ import annotations

from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

COLUMNS = ("content", "provenance", "restrictions")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    changes = ", ".join(f"ALTER COLUMN {name} TYPE json USING {name}::json" for name in COLUMNS)
    op.execute(f"ALTER TABLE records {changes}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    changes = ", ".join(f"ALTER COLUMN {name} TYPE jsonb USING {name}::jsonb" for name in COLUMNS)
    op.execute(f"ALTER TABLE records {changes}")
