"""Statements whose form depends on the database, written once for both."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.schema import Table

from polex.storage.tables import Base


def insert_if_absent(session: Session, model: type[Base], values: dict[str, Any]) -> bool:
    """Insert ``values`` unless a row with the same primary key exists; True if this call
    inserted it. Two transactions registering the same row at once (two requests meeting a
    new agency) then both succeed: on PostgreSQL the second waits for the first to commit
    and inserts nothing, where a plain INSERT would fail it with a unique violation."""
    table = cast(Table, model.__table__)
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(values).on_conflict_do_nothing(index_elements=table.primary_key.columns)
    result = cast(CursorResult[Any], session.execute(statement))
    return bool(result.rowcount)
