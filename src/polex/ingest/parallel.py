"""Converting a large import in worker processes.

Mapping, validating and preparing a record is Python work, about four fifths of an
import's time, and one process runs Python on one core at a time. An input that an adapter
splits into items (:class:`polex.formats.registry.SplitFormatAdapter`: the rows of a CSV
file) is read in the importing process, which only finds the items; batches of them go to
worker processes that convert and stage them (:class:`polex.ingest.staging.Stager`) and
send back rows ready to insert. Results come back in the order of the input, and at most
``2 * workers`` batches are out at once, so memory stays that of a few batches whatever the
size of the input.

Workers come from a fork server that imported the conversion code once (a clean process,
not a fork of the node with its threads and connections; polex.ingest.forkserver), so an
import pays their start once per node rather than once per import.
"""

from __future__ import annotations

import gc
import itertools
import multiprocessing
import threading
from collections import deque
from collections.abc import Generator, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

from polex.formats.registry import ItemConverter, ReadResult, SplitRead
from polex.ingest.staging import Staged, Stager

_context_lock = threading.Lock()
_context: Any = None

# What a worker process converts with, set once when it starts.
_converter: ItemConverter | None = None
_stager: Stager | None = None


def _worker_context() -> Any:
    global _context
    with _context_lock:
        if _context is None:
            context = multiprocessing.get_context("forkserver")
            # The fork server imports these once; each worker forked from it starts ready.
            context.set_forkserver_preload(["polex.ingest.forkserver"])
            _context = context
        return _context


def _start_worker(converter: ItemConverter, stager: Stager) -> None:
    global _converter, _stager
    _converter, _stager = converter, stager
    # The fork server froze what it imported (polex.ingest.forkserver); what the converter
    # and stager brought is frozen too. A batch makes tens of thousands of short-lived
    # containers: collecting young objects every 50,000 allocations rather than every 700
    # saves a fifth of a worker's time (measured: benchmarks/import_csv.py).
    gc.freeze()
    gc.set_threshold(50_000, 20, 10)


def _stage_batch(items: tuple[object, ...]) -> list[ReadResult | tuple[Any, ...]]:
    """A batch converted and staged, each staged row as plain values (Staged.as_tuple)."""
    assert _converter is not None, "the worker was started without its converter"
    assert _stager is not None, "the worker was started without its stager"
    staged = (_stager.stage(result) for result in _converter.convert(items))
    return [item.as_tuple() if isinstance(item, Staged) else item for item in staged]


def _unpacked(batch: list[ReadResult | tuple[Any, ...]]) -> Iterator[ReadResult | Staged]:
    for item in batch:
        yield Staged.from_tuple(item) if isinstance(item, tuple) else item


def staged_in_workers(
    split: SplitRead, stager: Stager, *, workers: int, batch: int
) -> Generator[ReadResult | Staged, None, None]:
    """What converting and staging ``split``'s items gives, in their order, converted by
    ``workers`` processes ``batch`` items at a time. A worker's exception is raised here;
    closing the generator stops the workers (after the batches they are converting) and
    closes the input."""
    items = iter(split.items)
    try:
        # The first batch is read before the workers start: reading the header is what
        # completes the converter (and finds a mapping's missing columns) in this process.
        first = tuple(itertools.islice(items, batch))
        if not first:
            return
        pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=_worker_context(),
            initializer=_start_worker,
            initargs=(split.converter, stager),
        )
        try:
            pending: deque[Future[list[ReadResult | tuple[Any, ...]]]] = deque([pool.submit(_stage_batch, first)])
            for chunk in _batches(items, batch):
                pending.append(pool.submit(_stage_batch, chunk))
                if len(pending) >= 2 * workers:
                    yield from _unpacked(pending.popleft().result())
            while pending:
                yield from _unpacked(pending.popleft().result())
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    finally:
        close = getattr(split.items, "close", None)
        if close is not None:
            close()


def _batches(items: Iterator[object], size: int) -> Iterator[tuple[object, ...]]:
    while chunk := tuple(itertools.islice(items, size)):
        yield chunk
