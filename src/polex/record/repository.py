"""All SQL on the ``records`` table. Never commits: the unit of work does."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from polex.storage.tables import RecordRow


@dataclass(frozen=True)
class RecordQuery:
    kind: str
    after_id: str | None = None
    limit: int = 50
    owner_country: str | None = None
    owner_countries: tuple[str, ...] | None = None  # the policy's pre-filter: only these owners
    owner_agency_id: str | None = None
    status: str | None = None
    terms: tuple[str, ...] = ()
    updated_since: dt.datetime | None = None


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class RecordRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, row: RecordRow) -> None:
        self._session.add(row)

    def add_all(self, rows: Sequence[RecordRow]) -> None:
        self._session.add_all(rows)

    def get(self, kind: str, record_id: str, *, include_deleted: bool = False) -> RecordRow | None:
        query = select(RecordRow).where(RecordRow.id == record_id, RecordRow.kind == kind)
        if not include_deleted:
            query = query.where(RecordRow.deleted_at.is_(None))
        return self._session.scalars(query).first()

    def list(self, query: RecordQuery) -> list[RecordRow]:
        """Live records in id order (UUIDv7: creation order), ``limit`` of them after the cursor."""
        statement = select(RecordRow).where(RecordRow.kind == query.kind, RecordRow.deleted_at.is_(None))
        if query.after_id is not None:
            statement = statement.where(RecordRow.id > query.after_id)
        if query.owner_country is not None:
            statement = statement.where(RecordRow.owner_country == query.owner_country)
        if query.owner_countries is not None:
            statement = statement.where(RecordRow.owner_country.in_(query.owner_countries))
        if query.owner_agency_id is not None:
            statement = statement.where(RecordRow.owner_agency_id == query.owner_agency_id)
        if query.status is not None:
            statement = statement.where(RecordRow.status == query.status)
        if query.updated_since is not None:
            statement = statement.where(RecordRow.updated_at >= query.updated_since)
        for term in query.terms:
            statement = statement.where(RecordRow.terms.like(f"%|{_like_escape(term)}|%", escape="\\"))
        statement = statement.order_by(RecordRow.id).limit(query.limit)
        return list(self._session.scalars(statement))

    def update_if_version(self, row_id: str, expected_version: int, values: dict[str, object]) -> bool:
        """Write ``values`` and bump the version only if nobody changed the record since."""
        statement = (
            update(RecordRow)
            .where(
                RecordRow.id == row_id,
                RecordRow.version == expected_version,
                RecordRow.deleted_at.is_(None),
            )
            .values(**values, version=expected_version + 1)
            .execution_options(synchronize_session=False)
        )
        result = self._session.execute(statement)
        return bool(getattr(result, "rowcount", 0) == 1)
