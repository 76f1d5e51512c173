"""Buses for the contract tests: every test runs on the in-process bus and on NATS JetStream.

NATS is required, like PostgreSQL for the storage tests: if the server at
POLEX_TEST_NATS_URL (default nats://127.0.0.1:4222) is down, the NATS half fails with
BusUnavailable instead of skipping, so a green run means both buses passed.

Each test gets its own stream and subject prefix on NATS (streams may not share subjects,
and a fresh stream means fresh consumers); the stream is deleted at teardown. The prefix is
used on the in-process bus as well, so the tests read the same on both.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from uuid import uuid4

import nats
import nats.js.errors
import pytest

from polex.bus.memory import InProcessBus
from polex.bus.nats import NatsJetStreamBus
from polex.bus.ports import Bus

NATS_URL = os.environ.get("POLEX_TEST_NATS_URL", "nats://127.0.0.1:4222")
BUS_KINDS = ["memory", "nats"]


@dataclass
class BusFactory:
    """Makes buses of one kind on one test's stream, and closes them all at teardown."""

    kind: str
    prefix: str
    made: list[Bus] = field(default_factory=list)

    @property
    def stream(self) -> str:
        return f"POLEX_TEST_{self.prefix}"

    def subject(self, relative: str) -> str:
        """This test's name for ``relative`` (``polex.node.fra.inbox`` -> ``T1a2b3c4d.polex...``)."""
        return f"{self.prefix}.{relative}"

    def __call__(self, *, ack_wait_seconds: float = 30.0, dedup_window_seconds: float = 120.0) -> Bus:
        bus: Bus
        if self.kind == "memory":
            bus = InProcessBus(ack_wait_seconds=ack_wait_seconds, dedup_window_seconds=dedup_window_seconds)
        else:
            bus = NatsJetStreamBus(
                NATS_URL,
                stream=self.stream,
                subjects=[f"{self.prefix}.>"],
                ack_wait_seconds=ack_wait_seconds,
                dedup_window_seconds=dedup_window_seconds,
            )
        self.made.append(bus)
        return bus

    def close_all(self) -> None:
        for bus in self.made:
            bus.close()
        if self.kind == "nats" and self.made:  # no bus made, no stream to delete
            asyncio.run(_delete_stream(self.stream))


async def _delete_stream(stream: str) -> None:
    client = await nats.connect(NATS_URL, connect_timeout=2, max_reconnect_attempts=1)
    try:
        with suppress(nats.js.errors.NotFoundError):  # a test that never connected made none
            await client.jsm().delete_stream(stream)
    finally:
        await client.close()


@pytest.fixture(params=BUS_KINDS)
def bus_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_bus(bus_kind: str) -> Iterator[BusFactory]:
    factory = BusFactory(kind=bus_kind, prefix=f"T{uuid4().hex[:8]}")
    yield factory
    factory.close_all()


@pytest.fixture
def bus(make_bus: BusFactory) -> Bus:
    """A fresh bus with the default ack wait (30 s: no redelivery unless a test waits for one)."""
    return make_bus()
