"""All SQL of the audit log. Never commits: the caller's unit of work does."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, Row, Table, bindparam, select
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeEngine

from polex.storage.tables import (
    AuditCheckpointRow,
    AuditEventRecordRow,
    AuditEventRow,
    AuditEventTermRow,
    AuditNodeRow,
    AuditStateRow,
    AuditTreeRow,
    Base,
)

# UPDATE ... RETURNING (SQLite 3.35+, PostgreSQL) in each driver's parameter style.
_RESERVE = {
    "sqlite": "UPDATE audit_state SET size = size + ? WHERE id = 1 RETURNING size",
    "postgresql": "UPDATE audit_state SET size = size + %s WHERE id = 1 RETURNING size",
}
# Rows a SQLite INSERT carries at most (within the connection's limit on bound values).
SQLITE_ROWS_PER_STATEMENT = 200
EVENT_COLUMNS = ("seq", "id", "tag", "actor_id", "agency_id", "country", "decision", "request_id", "entry", "leaf_hash")


def bulk_insert(connection: Connection, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert rows as fast as the driver can: COPY on PostgreSQL, multi-row INSERT on SQLite.

    This runs for every access (the audit trail), where SQLAlchemy's per-row parameter
    handling, and even its per-statement execution context, would cost as much as the insert
    itself; the rows go straight to the driver's cursor, inside the connection's transaction.
    ``table`` and ``columns`` are fixed names from this module, never input; values are
    always bound."""
    if not rows:
        return
    names = ", ".join(f'"{name}"' for name in columns)
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        if connection.dialect.name == "postgresql":
            with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        # Several rows a statement: one step of SQLite's engine (and one release of Python's
        # lock around it) inserts them all, where executemany steps, and releases and takes
        # the lock back, once a row.
        dbapi = connection.connection.dbapi_connection
        variables = dbapi.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)  # type: ignore[union-attr]
        per_statement = max(1, min(SQLITE_ROWS_PER_STATEMENT, variables // len(columns)))
        marks = "(" + ", ".join(["?"] * len(columns)) + ")"
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            values = ", ".join([marks] * len(chunk))  # the same text for every full chunk: prepared once
            statement = f"INSERT INTO {table} ({names}) VALUES {values}"  # noqa: S608
            cursor.execute(statement, [value for row in chunk for value in row])
    finally:
        cursor.close()


def bind_value(connection: Connection, column_type: TypeEngine[Any], value: object) -> object:
    """A value as the column's type (and its dialect implementation) would bind it."""
    processor = column_type.dialect_impl(connection.dialect).bind_processor(connection.dialect)
    return processor(value) if processor else value


def _table(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


@dataclass(frozen=True)
class EventQuery:
    actor_id: str | None = None
    agency_id: str | None = None
    country: str | None = None
    tag_prefix: str | None = None
    record_id: str | None = None
    term_hash: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    after_seq: int | None = None
    limit: int = 100


def reserve(connection: Connection, count: int) -> int:
    """Take ``count`` sequence numbers of the audit log; returns the first. Holds the state
    row's lock until the connection's transaction ends, which orders sequence numbers by commit."""
    # Fixed SQL on the driver's cursor: every audited access runs this, and building,
    # caching and executing a Core statement cost several times the update itself.
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(_RESERVE[connection.dialect.name], (count,))
        (new_size,) = cursor.fetchone()  # type: ignore[misc]  # the state row always exists
    finally:
        cursor.close()
    return int(new_size) - count


def insert_events(
    connection: Connection,
    at: dt.datetime,
    rows: Sequence[tuple[object, ...]],
    records: Sequence[tuple[str, int]],
    terms: Sequence[tuple[str, int]],
) -> None:
    """Insert a batch of events (rows in ``EVENT_COLUMNS`` order, without ``at``, which the
    batch shares) with their record and term index rows, in the connection's transaction."""
    stored_at = bind_value(connection, _table(AuditEventRow).c.at.type, at)
    bulk_insert(connection, "audit_events", ("at", *EVENT_COLUMNS), [(stored_at, *row) for row in rows])
    bulk_insert(connection, "audit_event_records", ("record_id", "seq"), records)
    bulk_insert(connection, "audit_event_terms", ("term_hash", "seq"), terms)


_EVENTS = _table(AuditEventRow)
_TREE = _table(AuditTreeRow)
_STATE = _table(AuditStateRow)
# Built once: the integrator runs these every round, and building a statement (and its
# cache key) cost more than running it on an idle log.
_INTEGRATION_STATE = select(
    _TREE.c.size, _TREE.c.peaks, select(_STATE.c.size).where(_STATE.c.id == 1).scalar_subquery()
).where(_TREE.c.id == 1)
_LEAF_HASHES = (
    select(_EVENTS.c.seq, _EVENTS.c.leaf_hash)
    .where(_EVENTS.c.seq >= bindparam("start"), _EVENTS.c.seq < bindparam("end"))
    .order_by(_EVENTS.c.seq)
)

_LOG_SIZE = select(_STATE.c.size).where(_STATE.c.id == 1)
_CHECKPOINTS = _table(AuditCheckpointRow)
_LATEST_CHECKPOINT = (
    select(_CHECKPOINTS.c.size, _CHECKPOINTS.c.root, _CHECKPOINTS.c.at, _CHECKPOINTS.c.note)
    .order_by(_CHECKPOINTS.c.size.desc())
    .limit(1)
)
_ENTRY_TEXTS = (
    select(_EVENTS.c.entry)
    .where(_EVENTS.c.seq >= bindparam("start"), _EVENTS.c.seq < bindparam("end"))
    .order_by(_EVENTS.c.seq)
)


def integration_state(connection: Connection) -> tuple[int, list[str], int]:
    """How far the tree is integrated, its peaks (hex), and the log's size."""
    tree_size, peaks, log_size = connection.execute(_INTEGRATION_STATE).one()
    return int(tree_size), list(peaks), int(log_size)


def leaf_hashes(connection: Connection, start: int, end: int) -> tuple[list[int], list[bytes]]:
    """The sequence numbers and leaf hashes of the entries in ``[start, end)``, in order."""
    rows = connection.execute(_LEAF_HASHES, {"start": start, "end": end}).all()
    return [int(seq) for seq, _ in rows], [bytes(leaf) for _, leaf in rows]


def entry_texts(connection: Connection, start: int, end: int) -> list[str]:
    """The stored entries (canonical JSON) in ``[start, end)``, in order."""
    return list(connection.execute(_ENTRY_TEXTS, {"start": start, "end": end}).scalars())


class AuditRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def size(self) -> int:
        # Prepared (as the statements above): every background round of a node reads it.
        return int(self._session.connection().execute(_LOG_SIZE).scalar() or 0)

    # -- the tree ------------------------------------------------------------------------

    def tree_state(self, *, lock: bool = False) -> AuditTreeRow:
        query = select(AuditTreeRow).where(AuditTreeRow.id == 1)
        if lock:
            query = query.with_for_update()
        return self._session.scalars(query).one()

    def hashes_in_ranges(self, ranges: Sequence[tuple[int, int, int]]) -> dict[tuple[int, int], bytes]:
        """Hashes of ``(level, start, end)`` index ranges: level 0 from the leaves, the others
        from the stored strata; one query per kind, each range an indexed interval.

        Plain SQL with bound values: the number of ranges varies from proof to proof, so a
        SQLAlchemy construct would be compiled afresh each time, which costs more than
        the query."""
        found: dict[tuple[int, int], bytes] = {}
        connection = self._session.connection()
        mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
        leaf_ranges = [(start, end) for level, start, end in ranges if level == 0]
        node_ranges = [(level, start, end) for level, start, end in ranges if level > 0]
        if leaf_ranges:
            where = " OR ".join([f"(seq >= {mark} AND seq < {mark})"] * len(leaf_ranges))
            parameters = tuple(bound for pair in leaf_ranges for bound in pair)
            statement = f"SELECT seq, leaf_hash FROM audit_events WHERE {where}"  # noqa: S608 - only placeholders
            for seq, leaf in connection.exec_driver_sql(statement, parameters):
                found[(0, int(seq))] = bytes(leaf)
        if node_ranges:
            where = " OR ".join([f'(level = {mark} AND "index" >= {mark} AND "index" < {mark})'] * len(node_ranges))
            parameters = tuple(bound for triple in node_ranges for bound in triple)
            statement = f'SELECT level, "index", hash FROM audit_nodes WHERE {where}'  # noqa: S608 - only placeholders
            for level, index, value in connection.exec_driver_sql(statement, parameters):
                found[(int(level), int(index))] = bytes(value)
        return found

    def leaf_hashes_at(self, indices: Iterable[int]) -> dict[int, bytes]:
        wanted = sorted(set(indices))
        if not wanted:
            return {}
        query = select(AuditEventRow.seq, AuditEventRow.leaf_hash).where(AuditEventRow.seq.in_(wanted))
        return {int(seq): bytes(leaf) for seq, leaf in self._session.execute(query)}

    def insert_nodes(self, nodes: Sequence[tuple[int, int, bytes]]) -> None:
        # As the entries themselves are written (COPY, multi-row INSERT): the ORM's bulk
        # insert of a round's hundred-odd strata cost a fifth of the integrator's round.
        bulk_insert(self._session.connection(), "audit_nodes", ("level", "index", "hash"), nodes)

    def all_nodes(self) -> Iterator[tuple[int, int, bytes]]:
        query = select(AuditNodeRow.level, AuditNodeRow.index, AuditNodeRow.hash).order_by(
            AuditNodeRow.level, AuditNodeRow.index
        )
        for level, index, value in self._session.execute(query.execution_options(yield_per=10_000)):
            yield int(level), int(index), bytes(value)

    # -- checkpoints -------------------------------------------------------------------

    def add_checkpoint(self, row: AuditCheckpointRow) -> None:
        self._session.add(row)

    def latest_checkpoint(self) -> Row[int, bytes, dt.datetime, str] | None:
        """The latest signed checkpoint's size, root, at and note (a plain row: read by
        several background rounds of every node, never changed)."""
        return self._session.connection().execute(_LATEST_CHECKPOINT).first()

    def checkpoint_at(self, size: int) -> AuditCheckpointRow | None:
        return self._session.get(AuditCheckpointRow, size)

    def checkpoints(self) -> list[AuditCheckpointRow]:
        return list(self._session.scalars(select(AuditCheckpointRow).order_by(AuditCheckpointRow.size)))

    # -- reading events ----------------------------------------------------------------

    def events(self, query: EventQuery) -> list[AuditEventRow]:
        statement = select(AuditEventRow)
        if query.record_id is not None:
            statement = statement.join(AuditEventRecordRow, AuditEventRecordRow.seq == AuditEventRow.seq).where(
                AuditEventRecordRow.record_id == query.record_id
            )
        if query.term_hash is not None:
            statement = statement.join(AuditEventTermRow, AuditEventTermRow.seq == AuditEventRow.seq).where(
                AuditEventTermRow.term_hash == query.term_hash
            )
        if query.actor_id is not None:
            statement = statement.where(AuditEventRow.actor_id == query.actor_id)
        if query.agency_id is not None:
            statement = statement.where(AuditEventRow.agency_id == query.agency_id)
        if query.country is not None:
            statement = statement.where(AuditEventRow.country == query.country)
        if query.tag_prefix is not None:
            statement = statement.where(AuditEventRow.tag.startswith(query.tag_prefix, autoescape=True))
        if query.since is not None:
            statement = statement.where(AuditEventRow.at >= query.since)
        if query.until is not None:
            statement = statement.where(AuditEventRow.at < query.until)
        if query.after_seq is not None:
            statement = statement.where(AuditEventRow.seq > query.after_seq)
        return list(self._session.scalars(statement.order_by(AuditEventRow.seq).limit(query.limit)))

    def event_rows(self, start: int, end: int) -> Sequence[Row[Any]]:
        """Plain rows (attribute access by column name), not ORM objects: verification reads
        the whole log through here."""
        events = _table(AuditEventRow)
        query = select(events).where(events.c.seq >= start, events.c.seq < end).order_by(events.c.seq)
        return self._session.connection().execute(query).all()

    def record_refs(self, start: int, end: int) -> list[tuple[int, str]]:
        query = select(AuditEventRecordRow.seq, AuditEventRecordRow.record_id).where(
            AuditEventRecordRow.seq >= start, AuditEventRecordRow.seq < end
        )
        return [(int(seq), str(record_id)) for seq, record_id in self._session.execute(query)]

    def term_refs(self, start: int, end: int) -> list[tuple[int, str]]:
        query = select(AuditEventTermRow.seq, AuditEventTermRow.term_hash).where(
            AuditEventTermRow.seq >= start, AuditEventTermRow.seq < end
        )
        return [(int(seq), str(term)) for seq, term in self._session.execute(query)]
