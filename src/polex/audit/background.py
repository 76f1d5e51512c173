"""Signs checkpoints while a node serves: integrate and checkpoint every interval."""

from __future__ import annotations

import logging
import threading

from polex.audit.service import AuditTrail

log = logging.getLogger("polex.audit")


class PeriodicCheckpointer:
    def __init__(self, audit: AuditTrail, interval_seconds: float) -> None:
        self._audit = audit
        self._interval = interval_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audit-checkpointer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self._tick()  # a last checkpoint, so a clean stop leaves everything signed

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._tick()

    def _tick(self) -> None:
        try:
            self._audit.checkpoint()
        except Exception:  # a failed round is retried next interval; the log says why
            log.exception("audit checkpoint failed")
