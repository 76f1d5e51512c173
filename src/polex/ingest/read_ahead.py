"""Reading an import's input in a thread of its own, a few batches ahead of the writer.

Reading, mapping and validating are Python work; writing a batch is mostly the database's
(SQLite runs a statement without Python's global lock, PostgreSQL in its own process). With
the reader a batch or two ahead, the next batch is validated while the last one is being
written. The reader never runs more than ``depth`` batches ahead, so memory stays that of a
few batches whatever the size of the input.
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Generator, Iterator
from typing import TypeVar

Item = TypeVar("Item")

_END = object()  # the reader finished the input


class _Failed:
    """What the reader raised, carried to the consumer to raise there."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


def read_ahead(items: Iterator[Item], *, chunk: int, depth: int = 2) -> Generator[Item, None, None]:
    """The items of ``items``, read in a thread of its own, ``chunk`` at a time, at most
    ``depth`` chunks ahead of the consumer. An exception the reader meets is raised to the
    consumer where it would have met it; a consumer that stops early (or fails) stops the
    reader, which is joined before this generator ends."""
    ready: queue.Queue[list[Item] | _Failed | object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(value: list[Item] | _Failed | object) -> bool:
        while not stop.is_set():
            try:
                ready.put(value, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        pending: list[Item] = []
        try:
            for item in items:
                pending.append(item)
                if len(pending) >= chunk:
                    if not offer(pending):
                        return
                    pending = []
            if pending and not offer(pending):
                return
            offer(_END)
        except BaseException as error:  # raised to the consumer, in its thread
            offer(_Failed(error))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()  # a generator's own cleanup runs in the thread that ran it

    # The reader sees the context of the import (a request's id, for one).
    reader = threading.Thread(target=contextvars.copy_context().run, args=(read,), name="polex-import-read")
    reader.start()
    try:
        while True:
            value = ready.get()
            if value is _END:
                return
            if isinstance(value, _Failed):
                raise value.error
            assert isinstance(value, list)
            yield from value
    finally:
        stop.set()
        reader.join()
