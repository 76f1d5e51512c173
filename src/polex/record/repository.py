"""All SQL on the ``records`` table. Never commits: the unit of work does."""

from __future__ import annotations

import builtins
import datetime as dt
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

from sqlalchemy import Table, and_, bindparam, delete, or_, select, update
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

from polex.audit.repository import bind_value, bulk_insert
from polex.storage.tables import RecordKeyRow, RecordRow

_KEYS_PER_STATEMENT = 500  # stays under every backend's bound-parameter limit
_RECORDS = RecordRow.__table__
assert isinstance(_RECORDS, Table)
_KEYS = cast(Table, RecordKeyRow.__table__)
# A check's candidates, read by Core: an ORM entity per record cost a hit at the hub about a
# fifth of its CPU, and the check only reads the rows.
_LIVE_BY_KEYS = (
    select(_KEYS.c.key.label("lookup_key"), _RECORDS)
    .join(_RECORDS, _RECORDS.c.id == _KEYS.c.record_id)
    .where(_KEYS.c.key.in_(bindparam("keys", expanding=True)), _RECORDS.c.deleted_at.is_(None))
    .order_by(_KEYS.c.key, _RECORDS.c.id)
)


class StoredRecord(Protocol):
    """A ``records`` row as read: the ORM's ``RecordRow``, or a Core row of its columns."""

    @property
    def id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def owner_agency_id(self) -> str: ...
    @property
    def owner_country(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def created_at(self) -> dt.datetime: ...
    @property
    def updated_at(self) -> dt.datetime: ...
    @property
    def retain_until(self) -> dt.datetime | None: ...
    @property
    def restrictions(self) -> dict[str, Any]: ...
    @property
    def provenance(self) -> dict[str, Any]: ...
    @property
    def content(self) -> dict[str, Any]: ...


# The columns a new record fills; the others (deleted_at, review_requested_at, purged_at) start NULL.
NEW_RECORD_COLUMNS = (
    "id", "kind", "owner_agency_id", "owner_country", "version", "created_at", "updated_at", "key", "label",
    "status", "terms", "restrictions", "provenance", "content", "retain_until",
)  # fmt: skip


@dataclass(slots=True)
class NewRow:
    """A new record ready to insert: its projected columns, and its JSON documents already
    serialised (``restrictions``, ``provenance``, ``content``)."""

    id: str
    id_given: bool  # by the caller (a source's stable id), not made for this row
    owner_agency_id: str
    owner_country: str
    key: str | None
    label: str
    status: str | None
    terms: str
    restrictions: str
    provenance: str
    content: str
    lookup: frozenset[str]


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

    def insert_new(
        self, kind: str, now: dt.datetime, deadlines: Mapping[str, dt.datetime | None], rows: Sequence[NewRow]
    ) -> None:
        """Insert new records of one kind created at ``now``, with their lookup keys and the
        retention deadline of their owner country, as the driver inserts fastest (COPY on
        PostgreSQL, executemany on SQLite): imports store millions, where the ORM's unit of
        work costs more than the insert. Raises IntegrityError for a duplicate and DataError
        for a value the database refuses, as a flush would, whatever the driver."""
        connection = self._session.connection()
        column_type = _RECORDS.c.created_at.type
        stored_now = bind_value(connection, column_type, now)
        stored_deadlines = {country: bind_value(connection, column_type, at) for country, at in deadlines.items()}
        records: list[tuple[object, ...]] = []
        keys: list[tuple[str, str]] = []
        for row in rows:
            records.append(
                (
                    row.id, kind, row.owner_agency_id, row.owner_country, 1, stored_now, stored_now, row.key,
                    row.label, row.status, row.terms, row.restrictions, row.provenance, row.content,
                    stored_deadlines[row.owner_country],
                )
            )  # fmt: skip
            keys.extend((key, row.id) for key in row.lookup)
        dbapi = connection.dialect.dbapi
        try:
            bulk_insert(connection, "records", NEW_RECORD_COLUMNS, records)
            bulk_insert(connection, "record_keys", ("key", "record_id"), keys)
        except (IntegrityError, DataError):
            raise
        except Exception as error:  # COPY raises the driver's own errors: named as SQLAlchemy would
            if dbapi is not None and isinstance(error, dbapi.IntegrityError):
                raise IntegrityError("COPY records", None, error) from error
            if dbapi is not None and isinstance(error, dbapi.DataError):
                raise DataError("COPY records", None, error) from error
            raise

    def recorded_ids(self, ids: Collection[str]) -> set[str]:
        """Which of these record ids are taken (by any record, withdrawn ones too)."""
        found: set[str] = set()
        wanted = sorted(set(ids))
        for start in range(0, len(wanted), _KEYS_PER_STATEMENT):
            chunk = wanted[start : start + _KEYS_PER_STATEMENT]
            found.update(self._session.scalars(select(RecordRow.id).where(RecordRow.id.in_(chunk))))
        return found

    def live_natural_keys(self, kind: str, owner_country: str, keys: Collection[str]) -> set[str]:
        """Which of these natural keys a live record of the kind and owner country holds
        (what the unique index ``uq_records_kind_owner_key_live`` would refuse)."""
        found: set[str] = set()
        wanted = sorted(set(keys))
        for start in range(0, len(wanted), _KEYS_PER_STATEMENT):
            statement = select(RecordRow.key).where(
                RecordRow.kind == kind,
                RecordRow.owner_country == owner_country,
                RecordRow.key.in_(wanted[start : start + _KEYS_PER_STATEMENT]),
                RecordRow.key.is_not(None),
                RecordRow.deleted_at.is_(None),
            )
            found.update(key for key in self._session.scalars(statement) if key is not None)
        return found

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

    # -- lookup keys --------------------------------------------------------------------

    def add_keys(self, record_id: str, keys: Collection[str]) -> None:
        self._session.add_all(RecordKeyRow(key=key, record_id=record_id) for key in keys)

    def replace_keys(self, record_id: str, keys: Collection[str]) -> tuple[set[str], set[str]]:
        """Make ``keys`` the record's lookup keys; returns (added, removed)."""
        current = set(self._session.scalars(select(RecordKeyRow.key).where(RecordKeyRow.record_id == record_id)))
        wanted = set(keys)
        added, removed = wanted - current, current - wanted
        if removed:
            self._session.execute(
                delete(RecordKeyRow).where(RecordKeyRow.record_id == record_id, RecordKeyRow.key.in_(removed))
            )
        self.add_keys(record_id, added)
        return added, removed

    def remove_keys(self, record_ids: Collection[str]) -> builtins.list[str]:
        """Drop the lookup keys of withdrawn or purged records; returns the keys dropped."""
        removed: builtins.list[str] = []
        ids = list(record_ids)
        for start in range(0, len(ids), _KEYS_PER_STATEMENT):
            chunk = ids[start : start + _KEYS_PER_STATEMENT]
            removed += self._session.scalars(select(RecordKeyRow.key).where(RecordKeyRow.record_id.in_(chunk)))
            self._session.execute(delete(RecordKeyRow).where(RecordKeyRow.record_id.in_(chunk)))
        return removed

    def live_by_keys(self, keys: Collection[str]) -> builtins.list[tuple[str, StoredRecord]]:
        """The live records filed under any of ``keys``, each with the key that found it
        (read-only rows, not ORM entities)."""
        found: builtins.list[tuple[str, StoredRecord]] = []
        wanted = sorted(set(keys))
        connection = self._session.connection()
        for start in range(0, len(wanted), _KEYS_PER_STATEMENT):
            rows = connection.execute(_LIVE_BY_KEYS, {"keys": wanted[start : start + _KEYS_PER_STATEMENT]})
            found += [(row.lookup_key, cast(StoredRecord, row)) for row in rows]
        return found

    def iter_keys(self, batch: int = 50_000) -> Iterator[str]:
        """Every lookup key, once per record filed under it (the index counts them), read
        in batches in key order (building the in-memory index)."""
        after_key, after_id = "", ""
        while True:
            rows = self._session.execute(
                select(RecordKeyRow.key, RecordKeyRow.record_id)
                .where(
                    or_(
                        RecordKeyRow.key > after_key,
                        and_(RecordKeyRow.key == after_key, RecordKeyRow.record_id > after_id),
                    )
                )
                .order_by(RecordKeyRow.key, RecordKeyRow.record_id)
                .limit(batch)
            ).all()
            for row in rows:
                yield row.key
            if len(rows) < batch:
                return
            after_key, after_id = rows[-1].key, rows[-1].record_id
