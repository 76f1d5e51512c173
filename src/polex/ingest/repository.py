"""All SQL of imports and their quarantine. Never commits."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from polex.storage.tables import ImportRow, NoticeRow, QuarantineRow


class ImportRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, row: ImportRow | QuarantineRow) -> None:
        self._session.add(row)

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
