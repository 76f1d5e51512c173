"""The in-process bus: the embedded default, needing no external service.

It behaves like one JetStream stream with durable pull consumers (same subjects, wildcards,
deduplication, ack wait, nak delay and redelivery), so the same contract tests pass on it
and on :mod:`polex.bus.nats`.

**Durable only for the life of this object.** Nothing is written to disk: when the process
(or the bus) goes, the log and every consumer's position go with it. That is by design: an
embedded node keeps its durability in its own database (the outbox), and this bus only
moves notifications between threads of one process; after a restart the outbox relay
publishes again whatever was not confirmed. The log is never trimmed, since a consumer
created later starts from the oldest message, as on JetStream; it lives as long as the bus.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from polex.bus.ports import (
    BusMessage,
    BusUnavailable,
    check_consumer_name,
    check_publication,
    check_subject_filter,
    subject_matches,
)


@dataclass(frozen=True)
class _Stored:
    sequence: int  # 1-based position in the log, as a JetStream stream sequence
    subject: str
    data: bytes
    message_id: str
    headers: Mapping[str, str]


@dataclass
class _Unacked:
    attempts: int
    redeliver_at: float  # monotonic time after which the message is handed out again


@dataclass
class _Consumer:
    subject_filter: str
    next_index: int = 0  # index in the log of the first message never delivered to this consumer
    unacked: dict[int, _Unacked] = field(default_factory=dict)  # by stream sequence


@dataclass
class _Receipt:
    bus: InProcessBus
    consumer: str
    sequence: int
    settled: bool = False  # acked or nakked through this delivery: later calls are ignored


class InProcessBus:
    """A thread-safe bus held in memory; see the module docstring for what it does not keep."""

    def __init__(self, ack_wait_seconds: float = 30.0, dedup_window_seconds: float = 120.0) -> None:
        if ack_wait_seconds <= 0 or dedup_window_seconds < 0:
            raise ValueError("ack_wait_seconds must be positive and dedup_window_seconds not negative")
        self._ack_wait = ack_wait_seconds
        self._dedup_window = dedup_window_seconds
        self._condition = threading.Condition()
        self._log: list[_Stored] = []
        # message id -> when it was accepted; insertion order is time order, so expiry pops the front.
        self._accepted_at: dict[str, float] = {}
        self._consumers: dict[str, _Consumer] = {}
        self._closed = False

    def __enter__(self) -> InProcessBus:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def publish(self, subject: str, data: bytes, *, message_id: str, headers: Mapping[str, str] | None = None) -> bool:
        check_publication(subject, message_id, headers or {})
        with self._condition:
            self._check_open()
            now = time.monotonic()
            self._forget_expired_ids(now)
            if message_id in self._accepted_at:
                return False
            self._accepted_at[message_id] = now
            stored = _Stored(
                sequence=len(self._log) + 1,
                subject=subject,
                data=bytes(data),
                message_id=message_id,
                headers=MappingProxyType(dict(headers or {})),
            )
            self._log.append(stored)
            self._condition.notify_all()
            return True

    def consume(
        self, consumer: str, subject_filter: str, *, batch: int = 100, wait_seconds: float = 1.0
    ) -> list[BusMessage]:
        check_consumer_name(consumer)
        check_subject_filter(subject_filter)
        if batch < 1 or wait_seconds < 0:
            raise ValueError("batch must be at least 1 and wait_seconds not negative")
        give_up_at = time.monotonic() + wait_seconds
        with self._condition:
            state = self._consumer(consumer, subject_filter)
            while True:
                self._check_open()
                now = time.monotonic()
                delivered = self._deliver(consumer, state, batch, now)
                if delivered or now >= give_up_at:
                    return delivered
                # Sleep until a publish wakes us, or the next unacked message falls due.
                next_due = min((entry.redeliver_at for entry in state.unacked.values()), default=math.inf)
                self._condition.wait(min(give_up_at, next_due) - now)

    def ack(self, message: BusMessage) -> None:
        with self._condition:
            receipt = self._receipt_of(message)
            if receipt is None:
                return
            self._consumers[receipt.consumer].unacked.pop(receipt.sequence, None)

    def nak(self, message: BusMessage, *, delay_seconds: float = 0) -> None:
        if delay_seconds < 0:
            raise ValueError("delay_seconds cannot be negative")
        with self._condition:
            receipt = self._receipt_of(message)
            if receipt is None:
                return
            unacked = self._consumers[receipt.consumer].unacked.get(receipt.sequence)
            if unacked is not None:
                unacked.redeliver_at = time.monotonic() + delay_seconds
                self._condition.notify_all()

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._condition.notify_all()  # consumers blocked in consume() raise rather than wait on

    # -- inside the lock ----------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise BusUnavailable("the in-process bus is closed")

    def _forget_expired_ids(self, now: float) -> None:
        while self._accepted_at:
            oldest_id, accepted_at = next(iter(self._accepted_at.items()))
            if now - accepted_at < self._dedup_window:
                return
            del self._accepted_at[oldest_id]

    def _consumer(self, name: str, subject_filter: str) -> _Consumer:
        state = self._consumers.setdefault(name, _Consumer(subject_filter))
        if state.subject_filter != subject_filter:
            raise ValueError(
                f"consumer {name!r} follows {state.subject_filter!r}, not {subject_filter!r}: "
                "a durable consumer keeps its filter (use another name)"
            )
        return state

    def _deliver(self, name: str, state: _Consumer, batch: int, now: float) -> list[BusMessage]:
        # Redeliveries first, oldest first, as JetStream does, so a stuck message is not starved.
        due = sorted(sequence for sequence, entry in state.unacked.items() if entry.redeliver_at <= now)
        chosen = [self._log[sequence - 1] for sequence in due[:batch]]
        while len(chosen) < batch and state.next_index < len(self._log):
            stored = self._log[state.next_index]
            state.next_index += 1
            if subject_matches(state.subject_filter, stored.subject):
                chosen.append(stored)
        delivered = []
        for stored in chosen:
            entry = state.unacked.setdefault(stored.sequence, _Unacked(attempts=0, redeliver_at=0.0))
            entry.attempts += 1
            entry.redeliver_at = now + self._ack_wait
            delivered.append(
                BusMessage(
                    subject=stored.subject,
                    data=stored.data,
                    message_id=stored.message_id,
                    headers=stored.headers,
                    delivery_attempt=entry.attempts,
                    receipt=_Receipt(self, name, stored.sequence),
                )
            )
        return delivered

    def _receipt_of(self, message: BusMessage) -> _Receipt | None:
        """The receipt to settle, or None when this delivery was already acked or nakked."""
        self._check_open()
        receipt = message.receipt
        if not isinstance(receipt, _Receipt) or receipt.bus is not self:
            raise ValueError("this message was not delivered by this bus")
        if receipt.settled:
            return None
        receipt.settled = True
        return receipt
