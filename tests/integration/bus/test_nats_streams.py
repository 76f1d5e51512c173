"""Publishing into another node's stream (what the JetStream message transport does): in
order, deduplicated by message id within the receiver's window, and a clear StreamMissing
when no stream takes the subject (its node does not use JetStream), never a plain outage."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from uuid import uuid4

import pytest

from polex.bus.nats import NatsJetStreamBus, StreamMissing, stream_for
from polex.bus.ports import BusUnavailable
from tests.integration.bus.conftest import NATS_URL, _delete_stream


@pytest.fixture
def two_nodes() -> Iterator[tuple[NatsJetStreamBus, NatsJetStreamBus, str]]:
    name = f"t{uuid4().hex[:8]}"
    sender = NatsJetStreamBus(NATS_URL, stream=stream_for(f"{name}-a"), subjects=[f"polex.{name}-a.>"])
    receiver = NatsJetStreamBus(NATS_URL, stream=stream_for(f"{name}-b"), subjects=[f"polex.{name}-b.>"])
    yield sender, receiver, name
    sender.close()
    receiver.close()
    for stream in (stream_for(f"{name}-a"), stream_for(f"{name}-b")):
        asyncio.run(_delete_stream(stream))


def test_a_node_publishes_into_another_nodes_stream_in_order_and_once(
    two_nodes: tuple[NatsJetStreamBus, NatsJetStreamBus, str],
) -> None:
    sender, receiver, name = two_nodes
    subject = f"polex.{name}-b.net.envelopes.{name}-a"
    fresh = sender.publish_to(stream_for(f"{name}-b"), [(subject, f"m{n}".encode(), f"id-{n}") for n in range(50)])
    assert fresh == [True] * 50
    again = sender.publish_to(stream_for(f"{name}-b"), [(subject, b"m0", "id-0"), (subject, b"m50", "id-50")])
    assert again == [False, True]  # the first was in the stream already
    received = receiver.consume("inbox", f"polex.{name}-b.net.>", batch=100, wait_seconds=3)
    assert [message.data for message in received] == [f"m{n}".encode() for n in range(51)]
    assert received[0].message_id == "id-0"


def test_a_node_without_a_stream_is_stream_missing_not_an_outage(
    two_nodes: tuple[NatsJetStreamBus, NatsJetStreamBus, str],
) -> None:
    sender, _, name = two_nodes
    with pytest.raises(StreamMissing, match="no JetStream stream"):
        sender.publish_to(stream_for(f"{name}-c"), [(f"polex.{name}-c.net.envelopes.x", b"m", "id")])
    # A stream that exists but does not take the subject is refused the same way.
    with pytest.raises(StreamMissing):
        sender.publish_to(stream_for(f"{name}-b"), [(f"polex.{name}-c.net.envelopes.x", b"m", "id")])


def test_publishing_on_a_closed_bus_is_an_outage(two_nodes: tuple[NatsJetStreamBus, NatsJetStreamBus, str]) -> None:
    sender, _, name = two_nodes
    sender.close()
    with pytest.raises(BusUnavailable) as raised:
        sender.publish_to(stream_for(f"{name}-b"), [(f"polex.{name}-b.net.envelopes.x", b"m", "id")])
    assert not isinstance(raised.value, StreamMissing)
