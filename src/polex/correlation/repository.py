"""All SQL of correlations. Never commits: the unit of work does."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterator, Sequence

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from polex.screening.persons import WATCHED_KINDS
from polex.storage.tables import CorrelationRow, CorrelationStateRow, RecordRow

_IDS_PER_STATEMENT = 500  # stays under every backend's bound-parameter limit
STATE = "records"


class CorrelationRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, correlation_id: str, *, for_update: bool = False) -> CorrelationRow | None:
        return self._session.get(CorrelationRow, correlation_id, with_for_update=for_update)

    def add(self, row: CorrelationRow) -> None:
        self._session.add(row)

    def of_record(self, record_id: str, *, for_update: bool = False) -> list[CorrelationRow]:
        """Every correlation the record is part of, open or closed."""
        statement = select(CorrelationRow).where(
            or_(CorrelationRow.record_a_id == record_id, CorrelationRow.record_b_id == record_id)
        )
        if for_update:
            statement = statement.with_for_update()
        return list(self._session.scalars(statement.order_by(CorrelationRow.id)))

    def of_agency(
        self,
        agency_id: str,
        *,
        before_id: str | None,
        limit: int,
        state: str = "open",
        record_id: str | None = None,
    ) -> list[CorrelationRow]:
        """The agency's correlations (it owns one side), newest first, after the cursor."""
        statement = select(CorrelationRow).where(
            or_(CorrelationRow.agency_a_id == agency_id, CorrelationRow.agency_b_id == agency_id)
        )
        if before_id is not None:
            statement = statement.where(CorrelationRow.id < before_id)
        if state == "open":
            statement = statement.where(CorrelationRow.closed_at.is_(None))
        elif state == "closed":
            statement = statement.where(CorrelationRow.closed_at.is_not(None))
        if record_id is not None:
            statement = statement.where(
                or_(CorrelationRow.record_a_id == record_id, CorrelationRow.record_b_id == record_id)
            )
        return list(self._session.scalars(statement.order_by(CorrelationRow.id.desc()).limit(limit)))

    def open_count(self) -> int:
        statement = select(func.count()).select_from(CorrelationRow).where(CorrelationRow.closed_at.is_(None))
        return int(self._session.scalar(statement) or 0)

    def records(self, ids: Collection[str]) -> dict[str, RecordRow]:
        """Records by id, withdrawn ones included."""
        wanted = sorted(ids)
        found: dict[str, RecordRow] = {}
        for start in range(0, len(wanted), _IDS_PER_STATEMENT):
            chunk = wanted[start : start + _IDS_PER_STATEMENT]
            found.update(
                (row.id, row) for row in self._session.scalars(select(RecordRow).where(RecordRow.id.in_(chunk)))
            )
        return found

    def other_owner_exists(self, country: str) -> bool:
        """Whether any live person or notice of another owner country is on this node: when
        none is, no record can correlate and nothing needs matching."""
        statement = (
            select(RecordRow.id)
            .where(
                RecordRow.kind.in_(WATCHED_KINDS),
                RecordRow.deleted_at.is_(None),
                RecordRow.owner_country != country,
            )
            .limit(1)
        )
        return self._session.scalars(statement).first() is not None

    def changed_since(self, since: dt.datetime | None, *, batch: int = 5_000) -> Iterator[Sequence[str]]:
        """Ids of persons and notices changed (withdrawals included) since ``since``, or of
        every live one when None, in batches."""
        after = ""
        while True:
            statement = select(RecordRow.id).where(RecordRow.kind.in_(WATCHED_KINDS), RecordRow.id > after)
            if since is None:
                statement = statement.where(RecordRow.deleted_at.is_(None))
            else:
                statement = statement.where(RecordRow.updated_at >= since)
            ids = list(self._session.scalars(statement.order_by(RecordRow.id).limit(batch)))
            if ids:
                yield ids
            if len(ids) < batch:
                return
            after = ids[-1]

    def mark(self) -> dt.datetime | None:
        row = self._session.get(CorrelationStateRow, STATE)
        return None if row is None else row.mark

    def set_mark(self, mark: dt.datetime) -> None:
        row = self._session.get(CorrelationStateRow, STATE)
        if row is None:
            self._session.add(CorrelationStateRow(name=STATE, mark=mark))
        elif row.mark < mark:
            row.mark = mark
