"""The serving process's heap and Python's cyclic garbage collector.

A full collection walks every object the collector tracks, holding the interpreter lock
throughout. A serving node holds hundreds of thousands of them that live as long as the
process: the screening indexes, the person watch list, rigour's name data, the misuse
monitor's windows. Under a steady 300 border checks a second the demo's hub ran a full
collection every 3 to 15 s, each 170 to 240 ms of CPU, and every request in flight waited
for it (a ``gc.callbacks`` probe during ``benchmarks/check_http.py``; docs/benchmarks.md).
Frozen once start-up is done (``gc.freeze``), those objects are left out of every later
collection, which walks only what was allocated since: 13 to 40 ms in the same run.

The young generations are collected less often than Python's default (every 10,000 net
allocations rather than 700, and the older ones after 50 and 100 of them): a serving
process allocates and drops tens of objects a request, and at the default every request
in flight when a young collection ran was promoted, to be found dead only by a full one.

The price: a frozen object that later becomes unreachable inside a reference cycle is never
reclaimed (one that its reference count frees still is). What is frozen here is built once,
at start-up and when the person watch list finishes loading; a full reload of the watch
list (a resync) can leave its previous index behind.

``polex_gc_pause_seconds`` (per generation) and ``polex_gc_frozen_objects`` on /metrics
let an operator see both.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from polex.bootstrap import Node

# (young, middle, old): see the module's docstring.
SERVING_THRESHOLDS = (10_000, 50, 100)
# From a young collection's tens of microseconds to a full collection's stall.
PAUSE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


def tune_for_serving(node: Node) -> None:
    """Once start-up is done: collect what it left as garbage, then freeze every object
    alive, and again each time the person watch list finishes loading in the background;
    collect the young generations less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*SERVING_THRESHOLDS)
    node.screening.watchlist.loaded_listeners.append(gc.freeze)


def tune_for_batch() -> None:
    """For a command that streams many records through a node it has just built (``polex
    import``): the node's objects frozen and the young generations collected less often,
    as when serving. An import makes a few objects a row that live until their batch is
    written; at Python's default every young collection also walked the node's heap (a
    tenth of the importing process's CPU, benchmarks/import_csv.py)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*SERVING_THRESHOLDS)


class CollectorWatch(Collector):
    """Times every collection (wall clock: what a request waiting for it sees) into a
    histogram per generation, and reports how many objects are frozen."""

    def __init__(self, registry: CollectorRegistry) -> None:
        pauses = Histogram(
            "polex_gc_pause_seconds",
            "Pauses of Python's cyclic garbage collector, by generation (2: a full collection)",
            ["generation"],
            buckets=PAUSE_BUCKETS,
            registry=registry,
        )
        self._generations = [pauses.labels(generation=str(generation)) for generation in range(3)]
        self._started = 0.0
        registry.register(self)
        gc.callbacks.append(self._timed)

    def _timed(self, phase: str, info: dict[str, Any]) -> None:
        # Collections run with the interpreter lock held, one at a time: one start time is enough.
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self._generations[info["generation"]].observe(time.perf_counter() - self._started)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(
            "polex_gc_frozen_objects",
            "Objects frozen out of the garbage collector's reach (what start-up built)",
            value=gc.get_freeze_count(),
        )

    def close(self) -> None:
        gc.callbacks.remove(self._timed)
