"""The import's read-ahead: every item in order, never more than a few chunks ahead, the
reader's errors raised to the consumer, and the reader stopped when the consumer stops."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator

import pytest

from polex.ingest.read_ahead import read_ahead


def test_every_item_in_order_in_another_thread() -> None:
    threads: set[str] = set()

    def numbers() -> Iterator[int]:
        for number in range(1003):
            threads.add(threading.current_thread().name)
            yield number

    assert list(read_ahead(numbers(), chunk=10)) == list(range(1003))
    assert threads == {"polex-import-read"}
    assert list(read_ahead(iter([]), chunk=10)) == []


def test_the_reader_stays_at_most_depth_chunks_ahead() -> None:
    produced = 0

    def counted() -> Iterator[int]:
        nonlocal produced
        for number in range(10_000):
            produced += 1
            yield number

    items = read_ahead(counted(), chunk=100, depth=2)
    for consumed, _ in enumerate(items, start=1):
        # the chunk consumed, two queued, one being filled
        assert produced <= consumed + 100 + 2 * 100 + 100
    assert produced == 10_000


def test_an_error_of_the_reader_is_raised_to_the_consumer_after_the_items_before_it() -> None:
    def failing() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("the input is broken")

    items = read_ahead(failing(), chunk=1)
    assert [next(items), next(items)] == [1, 2]
    with pytest.raises(ValueError, match="the input is broken"):
        next(items)


def test_a_consumer_that_stops_stops_the_reader_and_its_input_is_closed() -> None:
    closed = threading.Event()

    def endless() -> Iterator[int]:
        try:
            number = 0
            while True:
                yield number
                number += 1
        finally:
            closed.set()

    items = read_ahead(endless(), chunk=5, depth=1)
    assert [next(items) for _ in range(12)] == list(range(12))
    items.close()  # as leaving the import's loop does
    assert closed.is_set()
    assert not any(thread.name == "polex-import-read" for thread in threading.enumerate())


def test_the_reader_sees_the_context_of_the_import() -> None:
    request: contextvars.ContextVar[str] = contextvars.ContextVar("request", default="none")
    request.set("import-7")

    def tagged() -> Iterator[str]:
        yield request.get()

    assert list(read_ahead(tagged(), chunk=1)) == ["import-7"]
