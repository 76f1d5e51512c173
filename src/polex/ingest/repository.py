"""All SQL of imports and their quarantine. Never commits."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from polex.audit.repository import bind_value, bulk_insert
from polex.storage.tables import ImportRow, NoticeRow, QuarantineRow

QUARANTINE_COLUMNS = ("id", "import_id", "location", "field", "reason", "errors", "raw", "at", "status")


@dataclass(frozen=True, slots=True)
class QuarantinedItem:
    """An item to keep in quarantine: where it was, what was wrong, and the item as received."""

    id: str
    location: str
    field: str
    reason: str
    errors: list[dict[str, str]]
    raw: str


class ImportRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, row: ImportRow) -> None:
        self._session.add(row)

    def quarantine(self, import_id: str, items: Sequence[QuarantinedItem], at: dt.datetime) -> None:
        """Keep rejected items of an import, as the driver inserts fastest (COPY on PostgreSQL,
        multi-row INSERT on SQLite): a file whose rows are all refused (imported a second
        time) quarantines as many rows as the first import stored."""
        connection = self._session.connection()
        stored_at = bind_value(connection, QuarantineRow.__table__.c.at.type, at)
        bulk_insert(
            connection,
            "quarantine",
            QUARANTINE_COLUMNS,
            [
                (
                    item.id, import_id, item.location[:200], item.field[:300], item.reason,
                    json.dumps(item.errors, ensure_ascii=False), item.raw, stored_at, "open",
                )
                for item in items
            ],
        )  # fmt: skip

    def get(self, import_id: str) -> ImportRow | None:
        return self._session.get(ImportRow, import_id)

    def quarantined(self, import_id: str) -> list[QuarantineRow]:
        query = select(QuarantineRow).where(QuarantineRow.import_id == import_id).order_by(QuarantineRow.at)
        return list(self._session.scalars(query))

    def quarantined_item(self, item_id: str) -> QuarantineRow | None:
        return self._session.get(QuarantineRow, item_id)

    def close(self, item_id: str, *, status: str, resolution: str, by: str, at: dt.datetime) -> bool:
        """Close an open item; False if it was closed meanwhile (two reviewers, one decision)."""
        statement = (
            update(QuarantineRow)
            .where(QuarantineRow.id == item_id, QuarantineRow.status == "open")
            .values(status=status, resolution=resolution, resolved_by=by, resolved_at=at)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(self._session.execute(statement), "rowcount", 0) == 1)

    def of_agency(self, agency_id: str, *, limit: int) -> list[ImportRow]:
        statement = (
            select(ImportRow)
            .where(ImportRow.owner_agency_id == agency_id)
            .order_by(ImportRow.started_at.desc(), ImportRow.id)
            .limit(limit)
        )
        return list(self._session.scalars(statement))

    def running(self) -> list[ImportRow]:
        return list(self._session.scalars(select(ImportRow).where(ImportRow.status == "running")))

    def notices_of(self, agency_id: str) -> list[tuple[str, str, dict[str, Any]]]:
        """Every notice and diffusion of an agency, whatever its status: id, status and the
        request as stored (an import recognises what the agency has drafted already)."""
        statement = select(NoticeRow.id, NoticeRow.status, NoticeRow.content).where(
            NoticeRow.owner_agency_id == agency_id
        )
        return [(notice_id, status, content) for notice_id, status, content in self._session.execute(statement)]
