"""SQLite's write-ahead log is checkpointed off the writers' path (polex.storage.engine)."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from polex.storage.engine import SQLITE_FALLBACK_CHECKPOINT_PAGES, WalCheckpointer, make_engine
from tests.conftest import make_node


def _write_rows(url: str, count: int) -> None:
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, body TEXT)"))
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO items (body) VALUES (:body)"), [{"body": "x" * 500}] * count)
    engine.dispose()


def test_a_round_checkpoints_what_was_written_and_an_idle_round_does_nothing(tmp_path: Path) -> None:
    database = tmp_path / "polex.db"
    _write_rows(f"sqlite:///{database}", 1)
    # An open connection keeps the log when the writer's engine closes (the last connection
    # to close checkpoints and removes it).
    connection = sqlite3.connect(database, isolation_level=None)
    connection.execute("SELECT count(*) FROM items").fetchone()
    _write_rows(f"sqlite:///{database}", 2_000)
    checkpointer = WalCheckpointer(database)
    assert checkpointer.checkpoint_if_written(connection)
    busy, logged, copied = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert (busy, copied) == (0, logged)  # the round copied everything: nothing was left
    assert not checkpointer.checkpoint_if_written(connection)  # nothing new: no checkpoint
    assert connection.execute("SELECT count(*) FROM items").fetchone() == (2_001,)
    connection.close()


def test_the_thread_keeps_the_log_short_while_a_writer_writes(tmp_path: Path) -> None:
    database = tmp_path / "polex.db"
    url = f"sqlite:///{database}"
    _write_rows(url, 1)
    checkpointer = WalCheckpointer(database, interval_seconds=0.01)
    checkpointer.start()
    try:
        engine = make_engine(url)
        largest = 0
        for _ in range(40):
            with engine.begin() as connection:
                connection.execute(text("INSERT INTO items (body) VALUES (:body)"), [{"body": "y" * 1000}] * 500)
            largest = max(largest, (tmp_path / "polex.db-wal").stat().st_size)
            time.sleep(0.02)
        deadline = time.monotonic() + 10
        while checkpointer.checkpoints == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert checkpointer.checkpoints > 0
        # 20 MB written in all, which the writer's own fallback (64 MB) would leave in the log.
        assert SQLITE_FALLBACK_CHECKPOINT_PAGES * 4096 > 20_000_000
        assert largest < 8_000_000, largest
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM items")).scalar_one() == 20_001
        engine.dispose()
    finally:
        checkpointer.close()
    assert not any(thread.name.startswith("wal-checkpoint:") for thread in threading.enumerate())


def _write_without_pause(url: str, seconds: float) -> int:
    """Small transactions one after the other, as border checks' audit events come at
    hundreds a second: the log never has a moment without new pages."""
    engine = make_engine(url)
    written = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO items (body) VALUES (:body)"), [{"body": "z" * 300}] * 20)
        written += 20
    engine.dispose()
    return written


def _largest_log(database: Path, stop: threading.Event, seen: list[int]) -> None:
    while not stop.is_set():
        with contextlib.suppress(FileNotFoundError):
            seen.append((database.parent / (database.name + "-wal")).stat().st_size)
        time.sleep(0.005)


@pytest.mark.parametrize("restart_pages", [256, 10**9], ids=["restarts", "never"])
def test_the_log_starts_over_while_writers_never_pause(tmp_path: Path, restart_pages: int) -> None:
    database = tmp_path / "polex.db"
    url = f"sqlite:///{database}"
    _write_rows(url, 1)
    checkpointer = WalCheckpointer(database, interval_seconds=0.01, restart_pages=restart_pages)
    checkpointer.start()
    stop, sizes = threading.Event(), [0]
    watcher = threading.Thread(target=_largest_log, args=(database, stop, sizes))
    watcher.start()
    try:
        written = _write_without_pause(url, 2.0)
    finally:
        stop.set()
        watcher.join()
        checkpointer.close()
    connection = sqlite3.connect(database)
    assert connection.execute("SELECT count(*) FROM items").fetchone() == (written + 1,)
    connection.close()
    if restart_pages == 256:
        assert checkpointer.restarts > 0
        # It starts over past 1 MB; what the writer adds during a round comes on top.
        assert max(sizes) < 8_000_000, max(sizes)
    else:
        # Without the second checkpoint the log only grows: each round leaves the pages
        # written while it ran, and no writer can start it over until the writer's own
        # fallback checkpoint, at 64 MB.
        assert checkpointer.restarts == 0
        assert max(sizes) > 16_000_000, max(sizes)


def test_a_sqlite_node_runs_one_and_stops_it_on_close(tmp_path: Path) -> None:
    node = make_node(tmp_path / "node", f"sqlite:///{tmp_path / 'polex.db'}")
    assert node.wal_checkpointer is not None
    assert any(thread.name == "wal-checkpoint:polex.db" for thread in threading.enumerate())
    node.close()
    assert not any(thread.name == "wal-checkpoint:polex.db" for thread in threading.enumerate())
