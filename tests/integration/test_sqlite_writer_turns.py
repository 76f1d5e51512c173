"""SQLite writers of one process take turns on a lock before ``BEGIN IMMEDIATE``, instead
of being refused and retried by SQLite's busy handler (polex.storage.engine)."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from polex.storage import engine as engine_module
from polex.storage.engine import TurnTakingConnection, make_engine


@pytest.fixture
def database(tmp_path: Path) -> Iterator[tuple[Engine, threading.Lock]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'polex.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE items (id INTEGER PRIMARY KEY, body TEXT)"))
    with engine.connect() as connection:
        dbapi = connection.connection.dbapi_connection
        assert isinstance(dbapi, TurnTakingConnection)
        turn = dbapi.writer_turn
    assert turn is not None
    yield engine, turn
    engine.dispose()


def test_a_writer_waits_for_the_turn_and_gets_it_when_the_last_one_commits(
    database: tuple[Engine, threading.Lock],
) -> None:
    engine, turn = database
    began = threading.Event()
    second_wrote = threading.Event()

    def second() -> None:
        began.wait()
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO items (body) VALUES ('second')"))
        second_wrote.set()

    worker = threading.Thread(target=second)
    worker.start()
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO items (body) VALUES ('first')"))
        began.set()
        # The second writer waits on the turn, not in SQLite: it has not written, and the
        # turn is held by this transaction.
        assert not second_wrote.wait(0.3)
        assert turn.locked()
    worker.join(timeout=10)
    assert second_wrote.is_set()
    assert not turn.locked()
    with engine.connect() as connection:
        assert connection.execute(text("SELECT body FROM items ORDER BY id")).scalars().all() == ["first", "second"]


def test_the_turn_is_given_back_on_rollback_on_error_and_when_the_connection_is_closed(
    database: tuple[Engine, threading.Lock],
) -> None:
    engine, turn = database
    with engine.connect() as connection:
        transaction = connection.begin()
        connection.execute(text("INSERT INTO items (body) VALUES ('undone')"))
        assert turn.locked()
        transaction.rollback()
        assert not turn.locked()
    with pytest.raises(OperationalError), engine.begin() as connection:
        connection.execute(text("INSERT INTO missing_table (body) VALUES ('x')"))
    assert not turn.locked()
    with engine.connect() as connection:
        connection.begin()
        connection.execute(text("INSERT INTO items (body) VALUES ('abandoned')"))
        assert turn.locked()
        connection.invalidate()  # the DBAPI connection is closed mid-transaction
    assert not turn.locked()
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM items")).scalar() == 0


def test_readers_take_no_turn_and_engines_on_one_file_share_it(
    database: tuple[Engine, threading.Lock], tmp_path: Path
) -> None:
    engine, turn = database
    other = make_engine(f"sqlite:///{tmp_path / 'polex.db'}")
    try:
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO items (body) VALUES ('x')"))
            # A reader of the same file, through another engine, is not held up.
            with other.connect().execution_options(polex_read_only=True) as reader, reader.begin():
                assert reader.execute(text("SELECT count(*) FROM items")).scalar() == 0
            with other.connect() as writer:
                assert writer.connection.dbapi_connection.writer_turn is turn  # type: ignore[union-attr]
    finally:
        other.dispose()
    separate = make_engine(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        with separate.connect() as connection:
            assert connection.connection.dbapi_connection.writer_turn is not turn  # type: ignore[union-attr]
    finally:
        separate.dispose()


def test_a_writer_kept_waiting_too_long_is_refused_with_the_reason(
    database: tuple[Engine, threading.Lock], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, turn = database
    monkeypatch.setattr(engine_module, "SQLITE_WRITER_WAIT_SECONDS", 0.2)
    assert turn.acquire()  # a writer of this process that does not end
    try:
        started = time.monotonic()
        with pytest.raises(OperationalError, match="another writer of this process"), engine.begin() as connection:
            connection.execute(text("INSERT INTO items (body) VALUES ('x')"))
        assert time.monotonic() - started < 5
    finally:
        turn.release()
    with engine.begin() as connection:  # and the next one writes
        connection.execute(text("INSERT INTO items (body) VALUES ('y')"))


def test_writers_of_another_process_still_meet_sqlite_s_own_lock(
    database: tuple[Engine, threading.Lock], tmp_path: Path
) -> None:
    engine, turn = database
    outsider = sqlite3.connect(tmp_path / "polex.db", isolation_level=None, timeout=0.1)
    outsider.execute("BEGIN IMMEDIATE")
    try:
        with engine.connect() as connection:
            connection.connection.dbapi_connection.execute("PRAGMA busy_timeout=100")  # type: ignore[union-attr]
            started = time.monotonic()
            with pytest.raises(OperationalError, match="database is locked"):
                connection.begin()
            assert time.monotonic() - started < 5  # SQLite's busy timeout, not the turn's wait
            assert not turn.locked()
    finally:
        outsider.execute("ROLLBACK")
        outsider.close()
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO items (body) VALUES ('y')"))
