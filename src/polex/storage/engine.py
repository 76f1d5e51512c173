"""Engines for SQLite (the embedded default) and PostgreSQL (production)."""

from __future__ import annotations

import logging
import sqlite3
import threading
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import StaticPool

from polex.threads import run_in_background

READ_ONLY_OPTION = "polex_read_only"
# SQLite's page cache per connection, in KiB (negative: a size, not a page count). The
# default 2 MB holds a few thousand pages, far fewer than the indexes a node writes into
# (the audit trail alone keeps seven b-trees); a miss costs a read from the OS.
SQLITE_CACHE_KIB = 65_536
# A writer moves the write-ahead log into the database itself (a checkpoint, with an fsync)
# when the log passes this many pages; ``WalCheckpointer`` normally does it first, from a
# thread of its own, so this is the bound if that thread falls behind or is not running.
SQLITE_FALLBACK_CHECKPOINT_PAGES = 16_384
# Past a checkpoint the log is cut back to this size instead of keeping its largest size.
SQLITE_WAL_SIZE_LIMIT = 64 * 1024 * 1024
# ``WalCheckpointer`` lets the log start over from its beginning once it holds this many
# pages (``WalCheckpointer._let_the_log_start_over``): half the fallback's, so that the
# fallback never comes first (a round adds about 1,500 pages at the hub's busiest).
SQLITE_RESTART_LOG_PAGES = 8_192

log = logging.getLogger(__name__)


# How long a writer of this process waits for its turn (as SQLite's busy timeout, below).
SQLITE_WRITER_WAIT_SECONDS = 30.0
_writer_turns: dict[str, threading.Lock] = {}
_writer_turns_guard = threading.Lock()


def _writer_turn(database: str) -> threading.Lock:
    """The lock this process's writers of ``database`` take turns on (one per file, shared
    by every engine of the process on it; each in-memory database is its own)."""
    if database in ("", ":memory:"):
        return threading.Lock()
    with _writer_turns_guard:
        return _writer_turns.setdefault(str(Path(database).resolve()), threading.Lock())


class TurnTakingConnection(sqlite3.Connection):
    """A SQLite connection whose writing transactions take turns on a lock of the process
    before ``BEGIN IMMEDIATE``, and give it back once they end.

    SQLite has one writer at a time. A second writer that finds the lock taken is refused
    and retried by SQLite's busy handler, which sleeps 1, 2, 5, 10, 15, 20 ms and so on
    between tries: a transaction that held the lock for 4 ms made the next writer wait 8 ms,
    and one that held it for 20 ms, 33 ms. Every border check commits its audit event
    before it answers, so a background task's short write (a checkpoint, a delivery round)
    became a 34 to 55 ms stall of the checks behind it. Waiting on a lock instead wakes the
    next writer of the process the moment the last one ends. Writers in other processes
    still meet SQLite's busy handler.
    """

    writer_turn: threading.Lock | None = None
    _holding = False

    def take_writer_turn(self) -> None:
        turn = self.writer_turn
        if turn is None or self._holding:
            return
        if not turn.acquire(timeout=SQLITE_WRITER_WAIT_SECONDS):
            raise sqlite3.OperationalError(
                f"database is locked: another writer of this process held it for {SQLITE_WRITER_WAIT_SECONDS:g} s"
            )
        self._holding = True

    def give_back_writer_turn(self) -> None:
        if self._holding and self.writer_turn is not None:
            self._holding = False
            self.writer_turn.release()

    def _give_back_when_done(self) -> None:
        try:
            done = not self.in_transaction
        except sqlite3.ProgrammingError:  # closed
            done = True
        if done:
            self.give_back_writer_turn()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._give_back_when_done()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._give_back_when_done()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.give_back_writer_turn()

    def __del__(self) -> None:
        # A connection dropped mid-transaction without being closed: SQLite lets go of its
        # lock when the connection is freed, and so does this.
        self.give_back_writer_turn()


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine with the settings each backend needs for concurrent, safe use."""
    if url.startswith("sqlite"):
        connect_args = {"check_same_thread": False, "timeout": 30, "factory": TurnTakingConnection}
        kwargs: dict[str, Any] = {"connect_args": connect_args}
        if url in ("sqlite://", "sqlite:///:memory:"):
            kwargs["poolclass"] = StaticPool  # one shared in-memory database
        engine = create_engine(url, echo=echo, **kwargs)
        turn = _writer_turn(engine.url.database or "")
        event.listen(engine, "connect", partial(_sqlite_pragmas, turn=turn))
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any, *, turn: threading.Lock) -> None:
    if isinstance(dbapi_connection, TurnTakingConnection):
        dbapi_connection.writer_turn = turn
    # The driver's own transaction handling is off; "begin" below starts transactions.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_FALLBACK_CHECKPOINT_PAGES}")
    cursor.execute(f"PRAGMA journal_size_limit={SQLITE_WAL_SIZE_LIMIT}")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # A writing transaction takes the write lock at BEGIN, so that read-then-write (optimistic
    # concurrency, counters) cannot fail with "database is locked" when another writer
    # commits in between; read-only ones take no lock and never wait for writers (WAL).
    if connection.get_execution_options().get(READ_ONLY_OPTION):
        connection.exec_driver_sql("BEGIN")
        return
    dbapi_connection = connection.connection.dbapi_connection
    taking_turns = isinstance(dbapi_connection, TurnTakingConnection)
    if taking_turns:
        try:
            dbapi_connection.take_writer_turn()
        except sqlite3.OperationalError as refused:
            raise OperationalError("BEGIN IMMEDIATE", None, refused) from refused
    try:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    except BaseException:
        if taking_turns:
            dbapi_connection.give_back_writer_turn()
        raise


def sqlite_file(engine: Engine) -> Path | None:
    """The database file of a SQLite engine; None for PostgreSQL and in-memory SQLite."""
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return None
    return Path(str(engine.url.database))


class WalCheckpointer:
    """Checkpoints a SQLite database's write-ahead log from a thread of its own.

    Left to SQLite, the writer whose commit takes the log past its limit copies the log into
    the database and syncs it, inside that commit: every few thousand pages one request (an
    audited access, an import batch) pays for everyone's writes. This thread does it instead,
    a few times a second while the log is being written, with a PASSIVE checkpoint, which
    never blocks the writer or the readers (it copies what no reader still needs and leaves
    the rest for the next round). The commits themselves stay as durable as before: WAL with
    synchronous=NORMAL, where a commit is in the log before it returns.
    """

    def __init__(
        self, database: Path, *, interval_seconds: float = 0.25, restart_pages: int = SQLITE_RESTART_LOG_PAGES
    ) -> None:
        self._database = database
        self._turn = _writer_turn(str(database))
        self._restart_pages = restart_pages
        self._wal = database.with_name(database.name + "-wal")
        self._interval = interval_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seen: tuple[int, int] | None = None  # the log's (size, mtime) at the last round
        self.checkpoints = 0
        self.restarts = 0  # second checkpoints taken in the writers' turn

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"wal-checkpoint:{self._database.name}", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def checkpoint_if_written(self, connection: sqlite3.Connection) -> bool:
        """One round: a checkpoint if anything was written to the log since the last round."""
        try:
            stat = self._wal.stat()
        except FileNotFoundError:
            return False
        seen = (stat.st_size, stat.st_mtime_ns)
        if seen == self._seen:
            return False  # an idle node costs a stat() a round
        _, logged, _ = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if logged >= self._restart_pages:
            self._let_the_log_start_over(connection)
        self._seen = seen
        self.checkpoints += 1
        return True

    def _let_the_log_start_over(self, connection: sqlite3.Connection) -> None:
        """A writer starts the log over from its beginning only when every page in it was
        copied before it began. A checkpoint beside writers that never pause always finds
        new pages behind it, so the log grew until a writer's own fallback checkpoint (at
        ``SQLITE_FALLBACK_CHECKPOINT_PAGES``) started it over inside a commit: on the hub
        under 500 border checks a second, every 2.8 s one group commit of their audit
        events took 13 to 15 ms (the rest of a quarter second's pages copied, the log and
        the database synced), and every check waiting on it with it. Here a second
        checkpoint, taken in the writers' turn, copies the few pages written during the
        first one, so the next writer starts the log over. It holds the turn for that copy
        and its two syncs of the disk (6 to 9 ms on the same hub), once per
        ``restart_pages`` pages written: half as long a stall as the fallback's, twice as
        often."""
        if not self._turn.acquire(timeout=1.0):
            return  # a long writer: the next round tries again
        try:
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            self.restarts += 1
        finally:
            self._turn.release()

    def _run(self) -> None:
        run_in_background()
        connection = sqlite3.connect(self._database, isolation_level=None, check_same_thread=False)
        try:
            while not self._stop.wait(self._interval):
                try:
                    self.checkpoint_if_written(connection)
                except sqlite3.Error:
                    # Busy or locked (another checkpoint, a schema change): the next round tries again.
                    log.debug("WAL checkpoint skipped", exc_info=True)
        finally:
            connection.close()
