"""A writer turned into a streamed response body (polex.api.piped)."""

from __future__ import annotations

import contextvars
import threading
import time
from typing import IO

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polex.api.piped import CHUNK_BYTES, QUEUED_CHUNKS, piped


@given(st.lists(st.binary(max_size=3 * CHUNK_BYTES // 2), max_size=40))
@settings(max_examples=50, deadline=None)
def test_what_is_written_comes_out_in_order_and_whole(writes: list[bytes]) -> None:
    def write(stream: IO[bytes]) -> None:
        for data in writes:
            stream.write(data)

    chunks = list(piped(write))
    assert b"".join(chunks) == b"".join(writes)
    assert all(chunks)  # no empty chunks


def test_a_writers_error_reaches_the_reader_after_what_it_wrote() -> None:
    def write(stream: IO[bytes]) -> None:
        stream.write(b"a" * CHUNK_BYTES)
        stream.write(b"b" * CHUNK_BYTES)
        stream.write(b"<unfinished")  # less than a chunk: never sent
        raise ValueError("record 7 is not valid")

    body = piped(write)
    received = next(body) + next(body)
    with pytest.raises(ValueError, match="record 7"):
        next(body)
    assert received == b"a" * CHUNK_BYTES + b"b" * CHUNK_BYTES


def test_a_slow_reader_holds_the_writer_back_and_closing_stops_it() -> None:
    written = 0
    stopped = threading.Event()

    def write(stream: IO[bytes]) -> None:
        nonlocal written
        try:
            for _ in range(10_000):  # 640 MB if nothing held it back
                stream.write(b"x" * CHUNK_BYTES)
                written += CHUNK_BYTES
        finally:
            stopped.set()

    body = piped(write, name="test")
    next(body)
    time.sleep(0.3)  # the writer runs ahead until the queue is full, then waits
    assert written <= (QUEUED_CHUNKS + 3) * CHUNK_BYTES
    body.close()  # the client went away
    assert stopped.wait(5)
    assert not any(thread.name == "piped:test" for thread in threading.enumerate())


REQUEST: contextvars.ContextVar[str] = contextvars.ContextVar("request", default="none")


def test_the_writer_runs_in_the_callers_context() -> None:
    # Audit events written by the writer's thread carry the request's id and purpose.
    seen: list[str] = []

    def write(stream: IO[bytes]) -> None:
        seen.append(REQUEST.get())
        stream.write(b"x")

    REQUEST.set("request-42")
    body = piped(write)
    REQUEST.set("another")
    assert b"".join(body) == b"x"
    assert seen == ["request-42"]
