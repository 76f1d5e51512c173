"""The bus contract, run on the in-process bus and on NATS JetStream alike.

At-least-once on the wire (unacked and nakked messages come back, with a higher
delivery_attempt), duplicates by message_id refused at publish, per-subject order,
durable consumers that each see every message of their filter. Waits are short: the
ack-wait tests use 1 s, and the whole file stays well under a minute on NATS.
"""

from __future__ import annotations

import re
import threading
import time

import pytest

from polex.bus.nats import NatsJetStreamBus
from polex.bus.ports import Bus, BusMessage, BusUnavailable, subject_matches
from tests.integration.bus.conftest import BusFactory

# Long enough for a NATS round trip on a busy CI machine; a consume returns as soon as it has something.
WAIT = 3.0


def consume_all(bus: Bus, consumer: str, subject_filter: str, expected: int, *, batch: int = 100) -> list[BusMessage]:
    """Consume and ack until ``expected`` messages came, or a consume came back empty."""
    received: list[BusMessage] = []
    while len(received) < expected:
        messages = bus.consume(consumer, subject_filter, batch=batch, wait_seconds=WAIT)
        if not messages:
            break
        for message in messages:
            bus.ack(message)
        received.extend(messages)
    return received


def test_publish_consume_ack_round_trip(make_bus: BusFactory) -> None:
    bus = make_bus()
    inbox = make_bus.subject("polex.node.fra.inbox")

    assert bus.publish(inbox, b"notice 1", message_id="msg-1", headers={"X-Polex-Kind": "notice"}) is True
    [message] = bus.consume("fra-reader", inbox, wait_seconds=WAIT)

    assert message.subject == inbox
    assert message.data == b"notice 1"
    assert message.message_id == "msg-1"
    assert dict(message.headers) == {"X-Polex-Kind": "notice"}  # the bus's own Nats-* headers are hidden
    assert message.delivery_attempt == 1
    bus.ack(message)
    bus.ack(message)  # acking a settled delivery again is harmless
    assert bus.consume("fra-reader", inbox, wait_seconds=0.2) == []


def test_duplicate_message_id_is_refused_and_delivered_once(make_bus: BusFactory) -> None:
    bus = make_bus()
    inbox = make_bus.subject("polex.node.fra.inbox")

    assert bus.publish(inbox, b"first", message_id="same") is True
    assert bus.publish(inbox, b"retried", message_id="same") is False  # an outbox relay's retry
    assert bus.publish(inbox, b"other", message_id="different") is True

    received = consume_all(bus, "reader", inbox, expected=2)
    assert [(message.message_id, message.data) for message in received] == [("same", b"first"), ("different", b"other")]
    assert bus.consume("reader", inbox, wait_seconds=0.2) == []


def test_message_id_is_accepted_again_after_the_dedup_window(make_bus: BusFactory) -> None:
    bus = make_bus(dedup_window_seconds=1.0)
    inbox = make_bus.subject("polex.node.fra.inbox")

    assert bus.publish(inbox, b"1", message_id="again") is True
    assert bus.publish(inbox, b"2", message_id="again") is False
    time.sleep(1.5)
    assert bus.publish(inbox, b"3", message_id="again") is True
    assert [message.data for message in consume_all(bus, "reader", inbox, expected=2)] == [b"1", b"3"]


def test_unacked_message_is_redelivered_after_ack_wait(make_bus: BusFactory) -> None:
    bus = make_bus(ack_wait_seconds=1.0)
    inbox = make_bus.subject("polex.node.fra.inbox")
    bus.publish(inbox, b"handled", message_id="a")
    bus.publish(inbox, b"crashed", message_id="b")

    handled, crashed = bus.consume("reader", inbox, batch=10, wait_seconds=WAIT)
    assert (handled.delivery_attempt, crashed.delivery_attempt) == (1, 1)
    bus.ack(handled)  # ... and the receiver "crashes" before acking the second

    [again] = bus.consume("reader", inbox, batch=10, wait_seconds=WAIT)
    assert (again.message_id, again.data, again.delivery_attempt) == ("b", b"crashed", 2)
    bus.ack(again)
    assert bus.consume("reader", inbox, wait_seconds=1.5) == []  # neither comes back once acked


def test_nak_redelivers_after_the_delay(make_bus: BusFactory) -> None:
    bus = make_bus()
    inbox = make_bus.subject("polex.node.fra.inbox")
    bus.publish(inbox, b"try later", message_id="n")

    [first] = bus.consume("reader", inbox, wait_seconds=WAIT)
    bus.nak(first, delay_seconds=1.0)
    assert bus.consume("reader", inbox, wait_seconds=0.3) == []  # not before the delay

    [second] = bus.consume("reader", inbox, wait_seconds=WAIT)
    assert (second.message_id, second.delivery_attempt) == ("n", 2)
    bus.nak(second)  # no delay: straight back

    [third] = bus.consume("reader", inbox, wait_seconds=WAIT)
    assert third.delivery_attempt == 3
    bus.ack(third)
    assert bus.consume("reader", inbox, wait_seconds=0.2) == []


def test_order_is_kept_per_subject(make_bus: BusFactory) -> None:
    bus = make_bus()
    fra, deu = make_bus.subject("polex.node.fra.inbox"), make_bus.subject("polex.node.deu.inbox")
    for number in range(200):
        bus.publish(fra if number % 3 else deu, str(number).encode(), message_id=f"m{number}")

    received = consume_all(bus, "reader", make_bus.subject("polex.node.*.inbox"), expected=200, batch=32)

    for subject in (fra, deu):
        numbers = [int(message.data) for message in received if message.subject == subject]
        assert numbers == sorted(numbers)
    assert sorted(int(message.data) for message in received) == list(range(200))


def test_reopened_bus_resumes_durable_consumer_on_nats_and_forgets_everything_in_memory(
    make_bus: BusFactory, bus_kind: str
) -> None:
    inbox = make_bus.subject("polex.node.fra.inbox")
    first = make_bus()
    for number in range(10):
        first.publish(inbox, str(number).encode(), message_id=f"m{number}")
    for message in first.consume("reader", inbox, batch=4, wait_seconds=WAIT):
        first.ack(message)
    first.close()

    reopened = make_bus()
    if bus_kind == "nats":
        # The stream and the consumer's position live on the server.
        remaining = consume_all(reopened, "reader", inbox, expected=6)
        assert [message.data for message in remaining] == [str(number).encode() for number in range(4, 10)]
        assert reopened.consume("reader", inbox, wait_seconds=0.2) == []
    else:
        # Documented limit: an in-process bus keeps nothing beyond its own life; an embedded
        # node's durability is its outbox, which publishes again after a restart.
        assert reopened.consume("reader", inbox, wait_seconds=0.2) == []


def test_wildcard_filters(make_bus: BusFactory) -> None:
    bus = make_bus()
    for relative in ("polex.node.fra.inbox", "polex.node.deu.inbox", "polex.node.fra.outbox", "polex.hub.inbox"):
        bus.publish(make_bus.subject(relative), relative.encode(), message_id=relative)
    bus.publish(make_bus.subject("polex"), b"bare", message_id="bare")  # '>' needs at least one more token

    inboxes = consume_all(bus, "inboxes", make_bus.subject("polex.node.*.inbox"), expected=2)
    everything = consume_all(bus, "everything", make_bus.subject("polex.>"), expected=4)

    assert [message.data for message in inboxes] == [b"polex.node.fra.inbox", b"polex.node.deu.inbox"]
    assert sorted(message.data for message in everything) == sorted(
        [b"polex.node.fra.inbox", b"polex.node.deu.inbox", b"polex.node.fra.outbox", b"polex.hub.inbox"]
    )
    assert bus.consume("everything", make_bus.subject("polex.>"), wait_seconds=0.2) == []


@pytest.mark.parametrize(
    ("subject_filter", "subject", "expected"),
    [
        ("polex.node.fra.inbox", "polex.node.fra.inbox", True),
        ("polex.node.fra.inbox", "polex.node.fra", False),
        ("polex.node.*.inbox", "polex.node.deu.inbox", True),
        ("polex.node.*.inbox", "polex.node.deu.outbox", False),
        ("polex.node.*.inbox", "polex.node.deu.x.inbox", False),
        ("polex.>", "polex.node.fra.inbox", True),
        ("polex.>", "polex.hub", True),
        ("polex.>", "polex", False),
        ("*", "polex", True),
        ("*", "polex.node", False),
        (">", "polex.node", True),
    ],
)
def test_subject_matching_follows_the_nats_rules(subject_filter: str, subject: str, expected: bool) -> None:
    assert subject_matches(subject_filter, subject) is expected


def test_two_consumers_each_see_every_message(make_bus: BusFactory) -> None:
    bus = make_bus()
    inbox = make_bus.subject("polex.node.fra.inbox")
    for number in range(20):
        bus.publish(inbox, str(number).encode(), message_id=f"m{number}")

    expected = [str(number).encode() for number in range(20)]
    assert [message.data for message in consume_all(bus, "screening", inbox, expected=20)] == expected
    assert [message.data for message in consume_all(bus, "archive", inbox, expected=20)] == expected


def test_consume_with_nothing_pending_returns_empty_within_the_wait(make_bus: BusFactory) -> None:
    bus = make_bus()
    inbox = make_bus.subject("polex.node.fra.inbox")

    started = time.monotonic()
    assert bus.consume("reader", inbox, wait_seconds=0.5) == []
    assert time.monotonic() - started < 0.5 + 1.0  # generous: this is about not hanging

    started = time.monotonic()
    assert bus.consume("reader", inbox, wait_seconds=0) == []
    assert time.monotonic() - started < 1.0


def test_a_waiting_consume_wakes_up_for_a_new_message(make_bus: BusFactory) -> None:
    bus = make_bus()
    inbox = make_bus.subject("polex.node.fra.inbox")
    received: list[BusMessage] = []
    reader = threading.Thread(target=lambda: received.extend(bus.consume("reader", inbox, wait_seconds=WAIT)))
    reader.start()
    time.sleep(0.2)
    bus.publish(inbox, b"late", message_id="late")
    reader.join(timeout=WAIT + 2)

    assert [message.data for message in received] == [b"late"]


def test_thousand_messages_of_4_kb_all_arrive(make_bus: BusFactory) -> None:
    bus = make_bus()
    inbox = make_bus.subject("polex.node.fra.inbox")
    payloads = {f"m{number:04d}": f"{number:04d}".encode().ljust(4096, b".") for number in range(1000)}
    for message_id, payload in payloads.items():
        assert bus.publish(inbox, payload, message_id=message_id)

    received = consume_all(bus, "reader", inbox, expected=1000)

    assert {message.message_id: message.data for message in received} == payloads
    assert len(received) == 1000  # and none twice


def test_a_consumer_keeps_its_filter(make_bus: BusFactory) -> None:
    bus = make_bus()
    bus.consume("reader", make_bus.subject("polex.node.fra.inbox"), wait_seconds=0)

    with pytest.raises(ValueError, match="keeps its filter"):
        bus.consume("reader", make_bus.subject("polex.node.deu.inbox"), wait_seconds=0)


def test_malformed_subjects_and_reserved_headers_are_refused(make_bus: BusFactory) -> None:
    bus = make_bus()
    inbox = make_bus.subject("polex.node.fra.inbox")

    for bad_subject in (make_bus.subject("polex.*"), make_bus.subject("polex..inbox"), "", "polex node"):
        with pytest.raises(ValueError, match="subject"):
            bus.publish(bad_subject, b"x", message_id="x")
    with pytest.raises(ValueError, match="reserved"):
        bus.publish(inbox, b"x", message_id="x", headers={"Nats-Msg-Id": "sneaky"})
    with pytest.raises(ValueError, match="last token"):
        bus.consume("reader", make_bus.subject("polex.>.inbox"), wait_seconds=0)
    with pytest.raises(ValueError, match="consumer name"):
        bus.consume("not.a.token", inbox, wait_seconds=0)


def test_a_closed_bus_refuses_work(make_bus: BusFactory) -> None:
    bus = make_bus()
    inbox = make_bus.subject("polex.node.fra.inbox")
    bus.publish(inbox, b"x", message_id="x")
    [message] = bus.consume("reader", inbox, wait_seconds=WAIT)
    bus.close()
    bus.close()  # twice is harmless

    with pytest.raises(BusUnavailable):
        bus.publish(inbox, b"y", message_id="y")
    with pytest.raises(BusUnavailable):
        bus.consume("reader", inbox, wait_seconds=0)
    with pytest.raises(BusUnavailable):
        bus.ack(message)


def test_unreachable_nats_raises_bus_unavailable_naming_the_url() -> None:
    url = "nats://127.0.0.1:1"  # nothing listens on port 1
    before = set(threading.enumerate())

    with pytest.raises(BusUnavailable, match=re.escape(url)):
        NatsJetStreamBus(url, stream="NOWHERE", subjects=["nowhere.>"], connect_timeout=1.0)

    assert set(threading.enumerate()) <= before  # the event-loop thread was stopped, not leaked
