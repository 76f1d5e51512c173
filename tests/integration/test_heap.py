"""The serving process's heap (polex.api.heap), on SQLite and PostgreSQL: once start-up is
done, what it built is frozen out of the garbage collector's reach, and again when the
person watch list finishes loading; the collector's pauses are timed for /metrics."""

from __future__ import annotations

import asyncio
import gc
import threading
import weakref
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from polex.api.app import create_app
from polex.api.heap import SERVING_THRESHOLDS, CollectorWatch, tune_for_serving
from polex.bootstrap import Node
from polex.screening.persons import PersonWatchlist
from tests.integration.test_watchlist_loading import loading_watchlist


@pytest.fixture
def unfrozen() -> Iterator[None]:
    """The test process's heap as it was: nothing frozen before, nothing left frozen after,
    the collector's thresholds restored."""
    thresholds = gc.get_threshold()
    gc.unfreeze()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("unfrozen")
def test_serving_freezes_the_start_up_heap_then_the_loaded_watch_list(hub_node: Node) -> None:
    frozen_when_serving: list[int] = []

    def on_serving() -> None:
        tune_for_serving(hub_node)
        frozen_when_serving.append(gc.get_freeze_count())

    index = hub_node.screening.index
    loaded = threading.Event()
    paused = loading_watchlist(hub_node)  # a watch list whose background load waits
    app = create_app(hub_node, on_serving=on_serving)

    async def serve() -> None:  # the application's start-up and shutdown, as uvicorn runs them
        async with app.router.lifespan_context(app):
            # Once start-up is done; the node's indexes among what was frozen.
            [frozen] = frozen_when_serving
            assert frozen > 10_000
            assert gc.get_threshold() == SERVING_THRESHOLDS
            assert gc.is_tracked(index)  # so that its absence below means frozen
            assert not any(found is index for found in gc.get_objects())
            # The watch list loads in the background after that; its listeners run in order.
            watchlist = hub_node.screening.watchlist
            assert watchlist.loaded_listeners == [gc.freeze]
            watchlist.loaded_listeners.append(loaded.set)
            paused.resume.set()
            assert watchlist.wait_ready(60)
            assert loaded.wait(60)
            assert gc.is_tracked(watchlist.index)
            assert not any(found is watchlist.index for found in gc.get_objects())

    asyncio.run(serve())
    assert len(frozen_when_serving) == 1


def test_a_failed_watch_list_load_tells_no_listener(hub_node: Node) -> None:
    attempts = threading.Semaphore(0)

    def unreachable() -> Iterator[tuple[str, Mapping[str, Any] | None]]:
        attempts.release()
        raise OSError("the store is unreachable")
        yield  # a generator, as the store's read is

    watchlist = PersonWatchlist(hub_node.uow, source=unreachable)
    told: list[str] = []
    watchlist.loaded_listeners.append(lambda: told.append("loaded"))
    watchlist.start()
    assert attempts.acquire(timeout=30)
    watchlist.close()
    assert told == []
    assert watchlist.failure == "the store is unreachable"


@pytest.mark.usefixtures("unfrozen")
def test_the_collector_s_pauses_are_timed_per_generation_and_the_frozen_objects_counted() -> None:
    registry = CollectorRegistry()
    watch = CollectorWatch(registry)
    try:

        def count(generation: int) -> float:
            value = registry.get_sample_value("polex_gc_pause_seconds_count", {"generation": str(generation)})
            return value or 0.0

        before = count(2)
        gc.collect()
        assert count(2) == before + 1
        assert (registry.get_sample_value("polex_gc_pause_seconds_sum", {"generation": "2"}) or 0) > 0
        gc.freeze()
        # A frozen object freed by its reference count leaves the permanent generation, so
        # the count can only fall between the two reads that bracket the gauge's.
        frozen_before = gc.get_freeze_count()
        frozen = registry.get_sample_value("polex_gc_frozen_objects")
        frozen_after = gc.get_freeze_count()
        assert frozen is not None
        assert frozen_after <= frozen <= frozen_before
        assert frozen > 0
    finally:
        watch.close()
    gc.collect()
    assert count(2) == before + 1  # closed: no longer timed


class _Cycle:
    me: _Cycle | None = None


@pytest.mark.usefixtures("unfrozen")
def test_tune_for_serving_collects_first(hub_node: Node) -> None:
    gc.disable()  # no automatic collection between here and there
    try:
        garbage = _Cycle()
        garbage.me = garbage  # a cycle only the collector reclaims
        ref = weakref.ref(garbage)
        del garbage
        tune_for_serving(hub_node)
    finally:
        gc.enable()
    assert ref() is None  # collected, not frozen alive
    assert gc.get_freeze_count() > 0
