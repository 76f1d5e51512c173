"""Real-time notifications inside one node, for users' Server-Sent Events streams.

Services publish small events (a message arrived, a recipient's status changed) from any
thread; each open stream has its own bounded queue. Events carry ids and what a client
needs to fetch the rest through the API (which applies the usual authorisation); the
stream itself says nothing a subscriber may not know: each event names the permission
needed to receive it. A client that was away resumes with ``Last-Event-ID`` from the
events still in memory, and lists what it missed beyond them.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from polex.domain.roles import Permission

QUEUE_SIZE = 1000  # a subscriber that falls this far behind is dropped; it reconnects and resumes
REPLAY = 1000  # events kept for Last-Event-ID


@dataclass(frozen=True)
class Event:
    id: int
    kind: str  # e.g. message.received, message.status
    data: Mapping[str, Any]
    permission: Permission
    agency_id: str | None = None  # only this agency's users receive it (a hit on its record)

    def for_subscriber(self, permissions: frozenset[Permission], agency_id: str | None) -> bool:
        return self.permission in permissions and (self.agency_id is None or self.agency_id == agency_id)


@dataclass(eq=False)  # kept in a set, by identity
class Subscription:
    permissions: frozenset[Permission]
    loop: asyncio.AbstractEventLoop
    agency_id: str | None = None
    queue: asyncio.Queue[Event] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    overflowed: bool = False  # fell too far behind: its stream ends and the client resumes


class EventHub:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counter = itertools.count(1)
        self._recent: deque[Event] = deque(maxlen=REPLAY)
        self._subscriptions: set[Subscription] = set()

    def publish(
        self, kind: str, data: Mapping[str, Any], *, permission: Permission, agency_id: str | None = None
    ) -> None:
        with self._lock:
            event = Event(next(self._counter), kind, dict(data), permission, agency_id)
            self._recent.append(event)
            subscriptions = list(self._subscriptions)
        for subscription in subscriptions:
            if event.for_subscriber(subscription.permissions, subscription.agency_id):
                subscription.loop.call_soon_threadsafe(self._offer, subscription, event)

    @staticmethod
    def _offer(subscription: Subscription, event: Event) -> None:
        try:
            subscription.queue.put_nowait(event)
        except asyncio.QueueFull:  # too slow: end its stream rather than grow without bound
            subscription.overflowed = True

    def subscribe(
        self, permissions: frozenset[Permission], *, agency_id: str | None = None, after: int | None = None
    ) -> Subscription:
        """A new stream's queue, first filled with the events after ``after`` still kept."""
        subscription = Subscription(permissions=permissions, loop=asyncio.get_running_loop(), agency_id=agency_id)
        with self._lock:
            if after is not None:
                for event in self._recent:
                    if event.id > after and event.for_subscriber(permissions, agency_id):
                        subscription.queue.put_nowait(event)
            self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscriptions.discard(subscription)
