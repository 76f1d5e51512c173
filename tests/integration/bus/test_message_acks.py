"""Settling a run of envelopes at once (``NatsJetStreamBus.ack_all``, what the JetStream
message transport's intake does): every message acked comes back no more, one left unacked
comes back after the ack wait, and an empty run is nothing to do."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from uuid import uuid4

import pytest

from polex.bus.nats import NatsJetStreamBus, stream_for
from tests.integration.bus.conftest import NATS_URL, _delete_stream


@pytest.fixture
def node() -> Iterator[tuple[NatsJetStreamBus, str]]:
    name = f"t{uuid4().hex[:8]}"
    bus = NatsJetStreamBus(NATS_URL, stream=stream_for(name), subjects=[f"polex.{name}.>"], ack_wait_seconds=1.0)
    yield bus, name
    bus.close()
    asyncio.run(_delete_stream(stream_for(name)))


def test_a_run_acked_at_once_is_settled_except_what_was_left_out(node: tuple[NatsJetStreamBus, str]) -> None:
    bus, name = node
    subject = f"polex.{name}.net.envelopes.hub"
    bus.publish_to(stream_for(name), [(subject, f"m{n}".encode(), f"id-{n}") for n in range(200)])
    received = bus.consume("inbox", f"polex.{name}.net.>", batch=256, wait_seconds=3)
    assert len(received) == 200
    bus.ack_all([message for message in received if message.message_id != "id-7"])
    bus.ack_all([])

    [again] = bus.consume("inbox", f"polex.{name}.net.>", batch=256, wait_seconds=5)
    assert (again.message_id, again.delivery_attempt) == ("id-7", 2)
    bus.ack_all([again])
    assert bus.consume("inbox", f"polex.{name}.net.>", batch=256, wait_seconds=1.5) == []
