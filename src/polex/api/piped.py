"""A writer that writes to a file object, turned into an iterator of byte chunks for a
streamed HTTP response, in constant memory.

Format writers take a stream (``adapter.write(records, stream)``) and some of them (XML,
a STIX bundle) cannot be cut into independent pieces. The writer runs in a thread of its
own and writes into a bounded queue; the response takes chunks from it as the client reads,
so a slow client slows the writer (back-pressure) instead of the export piling up in memory.
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Callable, Iterator
from typing import IO, Any, cast

CHUNK_BYTES = 64 * 1024
QUEUED_CHUNKS = 16  # at most about a megabyte in flight
_END = object()


class _Cancelled(Exception):
    """The reader went away: the writer stops at its next write."""


class _QueueWriter:
    """The write side of the pipe: buffers small writes into chunks."""

    def __init__(self, chunks: queue.Queue[object], cancelled: threading.Event) -> None:
        self._chunks = chunks
        self._cancelled = cancelled
        self._buffer = bytearray()

    def write(self, data: bytes) -> int:
        self._buffer += data
        if len(self._buffer) >= CHUNK_BYTES:
            self.flush()
        return len(data)

    def flush(self) -> None:
        if self._buffer:
            self._put(bytes(self._buffer))
            self._buffer.clear()

    def _put(self, item: object) -> None:
        while True:
            if self._cancelled.is_set():
                raise _Cancelled
            try:
                self._chunks.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    def writable(self) -> bool:
        return True


def piped(write: Callable[[IO[bytes]], None], *, name: str = "export") -> Iterator[bytes]:
    """Run ``write(stream)`` in a thread and yield what it writes, chunk by chunk. An error of
    the writer is raised to the reader once the chunks before it are taken (a response that
    has started cannot change its status: the connection is cut, and the client sees a
    truncated body, never a complete-looking one). Closing the iterator stops the writer. The
    thread starts at the first ``next()``, in the context of the call to ``piped`` (taken now:
    the response may be iterated from another thread)."""
    return _pipe(write, name, contextvars.copy_context())


def _pipe(write: Callable[[IO[bytes]], None], name: str, context: contextvars.Context) -> Iterator[bytes]:
    chunks: queue.Queue[object] = queue.Queue(maxsize=QUEUED_CHUNKS)
    cancelled = threading.Event()
    failure: list[BaseException] = []
    sink = _QueueWriter(chunks, cancelled)

    def run() -> None:
        try:
            write(cast(IO[bytes], sink))
            sink.flush()
        except _Cancelled:
            return
        except BaseException as error:  # handed to the reader, which raises it
            failure.append(error)
        try:
            sink._put(_END)
        except _Cancelled:
            return

    # The writer runs in the caller's context: what the request set (its id, purpose and case,
    # which audit events record) holds in the writer's thread too.
    thread = threading.Thread(target=context.run, args=(run,), name=f"piped:{name}", daemon=True)
    thread.start()
    try:
        while True:
            item: Any = chunks.get()
            if item is _END:
                break
            yield item
        if failure:
            raise failure[0]
    finally:
        cancelled.set()
        thread.join(timeout=5)
