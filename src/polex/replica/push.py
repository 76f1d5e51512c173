"""Real-time dissemination: the hub pushes a change to every national replica the moment
it commits, rather than waiting for each node's next pull.

The service that committed the change publishes the record ids on the bus (the in-process
bus by default, NATS JetStream in production, so a hub process that dies between the
commit and the push leaves the work to the next one). The pusher consumes them in
batches, decides each record for each enrolled national node (the same policy as the
settled feed: in full, redacted, hit-only, or a removal) and posts the result to the
node, which applies it at once unless its copy is already newer.

A push is an accelerator, not the guarantee: a node that was down or unreachable gets
the same changes from the settled feed on its next pull, within ``replica_seconds`` of
coming back.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

import httpx
import orjson

from polex.bus.ports import Bus, BusUnavailable
from polex.domain.base import new_id
from polex.network.view import NetworkUnavailable, NetworkView
from polex.replica.service import ReplicaFeed

log = logging.getLogger("polex.replica")

PUSH_PATH = "/api/v1/network/replica/push"
CONSUMER = "replica-push"
BATCH = 500


def push_subject(node_name: str) -> str:
    return f"polex.{node_name}.replica.changed"


class ReplicaPush:
    def __init__(
        self,
        feed: ReplicaFeed,
        network: NetworkView,
        bus: Bus,
        *,
        node_name: str,
        http: Callable[[], httpx.Client] | None = None,
    ) -> None:
        self._feed = feed
        self._network = network
        self._bus = bus
        self._node_name = node_name
        self._subject = push_subject(node_name)
        self._http = http
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()
        self.on_published: Callable[[], None] = lambda: None  # wakes the pusher
        self.pushed = 0  # changes delivered to nodes since start (metrics, tests)

    def changed(self, ids: Sequence[str]) -> None:
        """After a commit: these records changed; push them. Never raises: the settled feed
        delivers whatever a lost publication would have."""
        if not ids:
            return
        try:
            self._bus.publish(self._subject, orjson.dumps(list(ids)), message_id=new_id())
        except (BusUnavailable, OSError) as error:
            log.warning("replica push not queued (the next pull brings it): %s", error)
            return
        self.on_published()

    def push_once(self, *, wait_seconds: float = 0.2) -> int:
        """Push what the bus holds; returns the records pushed."""
        try:
            messages = self._bus.consume(CONSUMER, self._subject, batch=BATCH, wait_seconds=wait_seconds)
        except BusUnavailable as error:
            log.warning("replica push: bus unavailable: %s", error)
            return 0
        if not messages:
            return 0
        ids = sorted({record_id for message in messages for record_id in orjson.loads(message.data)})
        try:
            members = self._network.usable_members()
        except NetworkUnavailable as error:
            log.warning("replica push: no member list: %s", error)
            members = {}
        for member in members.values():
            if member.name == self._node_name or member.role == "hub" or not member.url:
                continue
            self._push_to(member.name, member.url, ids)
        for message in messages:
            self._bus.ack(message)  # a node the push missed catches up from the settled feed
        return len(ids)

    def _push_to(self, name: str, url: str, ids: list[str]) -> None:
        try:
            changes = self._feed.changes_for(name, ids)
            if not changes:
                return
            response = self._client_for().post(
                f"{url.rstrip('/')}{PUSH_PATH}",
                content=orjson.dumps({"changes": changes}),
                headers={
                    "Authorization": f"PolexNode {self._network.token_for(name)}",
                    "Content-Type": "application/json",
                },
            )
            if response.status_code != 200:
                log.warning("replica push to %s answered %s", name, response.status_code)
                return
            self.pushed += len(changes)
        except (httpx.HTTPError, NetworkUnavailable, ValueError) as error:
            log.warning("replica push to %s failed (its next pull brings the changes): %s", name, error)

    def _client_for(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = self._http() if self._http else self._network.clients.client(timeout=5)
            return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
