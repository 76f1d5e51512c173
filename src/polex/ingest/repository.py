"""All SQL of imports and their quarantine. Never commits."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from polex.storage.tables import ImportRow, QuarantineRow


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
