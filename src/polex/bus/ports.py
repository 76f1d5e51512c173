"""The message bus port: what the services ask of a bus, whichever one carries the messages.

The exchange network delivers *at least once* on the wire and *exactly once in effect*: a
receiver may see a message again (a redelivery after a crash, a lost ack) and must treat
the ``message_id`` as the key that makes handling it twice harmless. The bus helps from
the sending side too: a publish that reuses a ``message_id`` within the deduplication
window is refused, so an outbox relay can retry a publish whose answer it never saw.

Subjects are dot-separated tokens (``polex.node.fra.inbox``). Consumers select them with
NATS wildcards: ``*`` matches exactly one token, ``>`` (last token only) one or more.
Header names beginning with ``Nats-`` are reserved for the bus itself.

The API is synchronous because the services are; an implementation over an asyncio client
hides its event loop behind blocking calls.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

WILDCARD_ONE = "*"  # matches exactly one token
WILDCARD_REST = ">"  # as the last token: matches one or more tokens
RESERVED_HEADER_PREFIX = "nats-"  # compared case-insensitively, as NATS headers are

# Durable consumer names end up in NATS API subjects, so they must be a single token.
_CONSUMER_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


class BusUnavailable(Exception):
    """The bus cannot be reached, did not answer in time, or has been closed."""


@dataclass(frozen=True)
class BusMessage:
    """One delivery of a message to one consumer.

    ``delivery_attempt`` is 1 for the first delivery and grows with each redelivery (after
    a nak, or when the ack wait ran out). ``receipt`` is the bus's own handle for acking
    this delivery; it means nothing to callers and is not part of equality.
    """

    subject: str
    data: bytes
    message_id: str
    headers: Mapping[str, str]
    delivery_attempt: int
    receipt: object = field(default=None, repr=False, compare=False)


class Bus(Protocol):
    def publish(self, subject: str, data: bytes, *, message_id: str, headers: Mapping[str, str] | None = None) -> bool:
        """Store the message durably before returning.

        Returns False when a message with this ``message_id`` was already accepted within
        the deduplication window (the message is then not stored again), True otherwise.
        """
        ...

    def consume(
        self, consumer: str, subject_filter: str, *, batch: int = 100, wait_seconds: float = 1.0
    ) -> list[BusMessage]:
        """Up to ``batch`` messages for the named durable consumer, waiting up to
        ``wait_seconds`` when none is ready; ``[]`` when the wait ran out.

        A consumer is created on first use, starting from the oldest stored message, and is
        bound to its ``subject_filter`` from then on (another filter raises ValueError).
        Messages of one subject come in the order they were published (first deliveries;
        a redelivery can overtake later messages). A message not acked within the ack wait
        is delivered again.
        """
        ...

    def ack(self, message: BusMessage) -> None:
        """The consumer is done with this message; it will not be delivered to it again."""
        ...

    def nak(self, message: BusMessage, *, delay_seconds: float = 0) -> None:
        """The consumer could not handle this message now: deliver it again after the delay."""
        ...

    def close(self) -> None:
        """Release the bus; later calls raise BusUnavailable. Closing twice is harmless."""
        ...


def check_subject(subject: str) -> None:
    """A subject messages are published to: non-empty tokens, no wildcard, no whitespace."""
    tokens = _tokens(subject, "subject")
    if any(token in (WILDCARD_ONE, WILDCARD_REST) for token in tokens):
        raise ValueError(f"a message subject cannot contain wildcards: {subject!r}")


def check_subject_filter(subject_filter: str) -> None:
    """A consumer's filter: tokens, ``*`` for one whole token, ``>`` only as the last token."""
    tokens = _tokens(subject_filter, "subject filter")
    for position, token in enumerate(tokens):
        if token == WILDCARD_REST and position != len(tokens) - 1:
            raise ValueError(f"'>' may only be the last token of a subject filter: {subject_filter!r}")
        if token not in (WILDCARD_ONE, WILDCARD_REST) and (WILDCARD_ONE in token or WILDCARD_REST in token):
            raise ValueError(f"a wildcard must be a whole token: {subject_filter!r}")


def check_consumer_name(consumer: str) -> None:
    if not _CONSUMER_NAME.fullmatch(consumer):
        raise ValueError(f"a consumer name is 1-64 letters, digits, '-' or '_': {consumer!r}")


def check_headers(headers: Mapping[str, str]) -> None:
    for name in headers:
        if name.lower().startswith(RESERVED_HEADER_PREFIX):
            raise ValueError(f"header names beginning with 'Nats-' are reserved for the bus: {name!r}")


def subject_matches(subject_filter: str, subject: str) -> bool:
    """Whether ``subject`` is selected by ``subject_filter``, by the NATS rules."""
    wanted = subject_filter.split(".")
    actual = subject.split(".")
    for position, token in enumerate(wanted):
        if token == WILDCARD_REST:
            return len(actual) > position  # '>' needs at least one token to match
        if position >= len(actual) or token not in (WILDCARD_ONE, actual[position]):
            return False
    return len(wanted) == len(actual)


def _tokens(subject: str, what: str) -> list[str]:
    if not subject or any(character.isspace() for character in subject):
        raise ValueError(f"a {what} is non-empty and has no whitespace: {subject!r}")
    tokens = subject.split(".")
    if any(token == "" for token in tokens):
        raise ValueError(f"a {what} has no empty tokens: {subject!r}")
    return tokens


def check_publication(subject: str, message_id: str, headers: Mapping[str, str]) -> None:
    """What every bus refuses before publishing: a bad subject, no id, reserved headers."""
    check_subject(subject)
    if not message_id:
        raise ValueError("a message needs a message_id: it is what makes redelivery harmless")
    check_headers(headers)
