"""Work a node does while it serves: sign audit checkpoints, witness the peers' logs."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from polex.threads import run_in_background

log = logging.getLogger("polex.audit")


class PeriodicTask:
    """Runs ``work`` every ``interval_seconds`` in a daemon thread, at once when woken (new
    work arrived), and once more on stop."""

    def __init__(self, name: str, work: Callable[[], object], interval_seconds: float) -> None:
        self._name = name
        self._work = work
        self._interval = interval_seconds
        self._stop = threading.Event()
        self._nudge = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """Run the next round now rather than at the end of the interval."""
        self._nudge.set()

    def stop(self) -> None:
        self._stop.set()
        self._nudge.set()
        self._thread.join(timeout=30)
        self._tick()  # a last round, so a clean stop leaves everything signed

    def _run(self) -> None:
        run_in_background()
        while not self._stop.is_set():
            self._nudge.wait(self._interval)
            self._nudge.clear()
            if self._stop.is_set():
                break
            self._tick()

    def _tick(self) -> None:
        try:
            self._work()
        except Exception:  # a failed round is retried next interval; the log says why
            log.exception("%s failed", self._name)
