"""The production bus: NATS JetStream, behind the same blocking API as the in-process bus.

One stream per node (file storage) holds the node's subjects; each reader is a durable pull
consumer with explicit acks, so positions survive restarts of this process and of the
client. Publishes carry the ``message_id`` as ``Nats-Msg-Id``, which JetStream uses to
refuse duplicates within the stream's ``duplicate_window``.

nats-py is asyncio-only and the services are synchronous, so each bus runs a private event
loop on a daemon thread and every method hands a coroutine to it and waits, with a timeout,
for the answer. Anything that goes wrong on the way to the server becomes BusUnavailable.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext, JetStreamManager
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig

from polex.bus.ports import (
    RESERVED_HEADER_PREFIX,
    BusMessage,
    BusUnavailable,
    check_consumer_name,
    check_publication,
    check_subject_filter,
    subject_matches,
)

log = logging.getLogger("polex.bus")

_T = TypeVar("_T")

MESSAGE_ID_HEADER = "Nats-Msg-Id"
# nats-py refuses a fetch timeout of zero and subtracts a margin from it for the server's
# expiry, so a "do not wait" consume still waits this long.
_SHORTEST_FETCH_SECONDS = 0.05
# Errors nats-py raises when the server is gone or silent: all mean "try again later".
_UNREACHABLE = (
    OSError,  # includes asyncio/nats TimeoutError
    nats.errors.ConnectionClosedError,
    nats.errors.NoRespondersError,
    nats.errors.NoServersError,
    nats.js.errors.ServiceUnavailableError,
    nats.js.errors.NoStreamResponseError,
)


class StreamMissing(BusUnavailable):
    """The server answered, but no stream takes the subject (its node has not connected to
    JetStream, or does not use it): another transport must carry the message."""


def stream_for(node_name: str) -> str:
    """The name of a node's stream, which holds the subjects ``polex.<node>.>``."""
    return "POLEX_" + "".join(c if c.isalnum() else "_" for c in node_name.upper())


def delete_node_streams(url: str, nodes: list[str]) -> None:
    """Remove these nodes' streams and what waits in them (a node made afresh has new keys:
    what its old stream holds is nobody's). Missing streams are fine."""

    async def delete() -> None:
        client = await nats.connect(url, connect_timeout=5, max_reconnect_attempts=1)
        try:
            for node in nodes:
                with contextlib.suppress(nats.js.errors.NotFoundError):
                    await client.jsm().delete_stream(stream_for(node))
        finally:
            await client.close()

    asyncio.run(delete())


@dataclass
class _Receipt:
    bus: NatsJetStreamBus
    msg: Msg


@dataclass
class _Subscription:
    subject_filter: str
    pull: JetStreamContext.PullSubscription
    lock: asyncio.Lock  # nats-py's fetch is not safe to run twice at once on one subscription


class NatsJetStreamBus:
    """A bus on one JetStream stream, created (or updated) with ``subjects`` on connect.

    ``ack_wait_seconds`` applies to the consumers this bus creates (and is updated on
    existing ones); ``dedup_window_seconds`` is the stream's ``duplicate_window``.
    ``operation_timeout`` bounds every call to the server after connecting.
    """

    def __init__(
        self,
        url: str = "nats://127.0.0.1:4222",
        *,
        stream: str,
        subjects: list[str],
        ack_wait_seconds: float = 30.0,
        dedup_window_seconds: float = 120.0,
        connect_timeout: float = 5.0,
        operation_timeout: float = 10.0,
    ) -> None:
        if not subjects:
            raise ValueError("a stream needs at least one subject")
        for subject in subjects:
            check_subject_filter(subject)
        if ack_wait_seconds <= 0 or dedup_window_seconds < 0 or connect_timeout <= 0 or operation_timeout <= 0:
            raise ValueError("timeouts and windows must be positive")
        self.url = url
        self.stream = stream
        self._subjects = list(subjects)
        self._ack_wait = ack_wait_seconds
        self._dedup_window = dedup_window_seconds
        self._connect_timeout = connect_timeout
        self._timeout = operation_timeout
        self._client: Client | None = None
        self._jetstream_context: JetStreamContext | None = None
        self._subscriptions: dict[str, _Subscription] = {}
        self._subscriptions_lock: asyncio.Lock | None = None  # made on the loop, which it belongs to
        self._closed = False
        self._close_lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run_loop, name=f"polex-bus-{stream}", daemon=True)
        self._thread.start()
        try:
            self._call(self._connect(), timeout=connect_timeout + operation_timeout)
        except BaseException:
            self._stop_loop()
            raise

    def __enter__(self) -> NatsJetStreamBus:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the Bus port -------------------------------------------------------------------

    def publish(self, subject: str, data: bytes, *, message_id: str, headers: Mapping[str, str] | None = None) -> bool:
        check_publication(subject, message_id, headers or {})
        if not any(subject_matches(pattern, subject) for pattern in self._subjects):
            raise ValueError(f"subject {subject!r} is not among the subjects of stream {self.stream}: {self._subjects}")
        return self._run(self._publish(subject, bytes(data), message_id, dict(headers or {})))

    def publish_to(self, stream: str, messages: list[tuple[str, bytes, str]]) -> list[bool]:
        """Publish ``(subject, data, message_id)`` messages into another node's stream, all at
        once (their acks awaited together; order is kept: the client sends them in turn on
        one connection); per message, False when the stream had it already. Raises
        StreamMissing when no stream takes the subjects, BusUnavailable when NATS is away."""
        for subject, _, message_id in messages:
            check_publication(subject, message_id, {})
        if not messages:
            return []
        return self._run(self._publish_all(stream, messages), extra_seconds=len(messages) * 0.01)

    def consume(
        self, consumer: str, subject_filter: str, *, batch: int = 100, wait_seconds: float = 1.0
    ) -> list[BusMessage]:
        check_consumer_name(consumer)
        check_subject_filter(subject_filter)
        if batch < 1 or wait_seconds < 0:
            raise ValueError("batch must be at least 1 and wait_seconds not negative")
        wait = max(wait_seconds, _SHORTEST_FETCH_SECONDS)
        return self._run(self._fetch(consumer, subject_filter, batch, wait), extra_seconds=wait)

    def ack(self, message: BusMessage) -> None:
        self._run(self._ack(self._msg_of(message)))

    def ack_all(self, messages: list[BusMessage]) -> None:
        """Settle several messages at once: their acks go out together and are awaited
        together, one round trip for the lot rather than one each. If one fails, those not
        acked come again (as after a crash between two acks)."""
        if messages:
            msgs = [self._msg_of(message) for message in messages]
            self._run(self._ack_all(msgs), extra_seconds=len(msgs) * 0.01)

    def nak(self, message: BusMessage, *, delay_seconds: float = 0) -> None:
        if delay_seconds < 0:
            raise ValueError("delay_seconds cannot be negative")
        self._run(self._nak(self._msg_of(message), delay_seconds))

    def close(self) -> None:
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        try:
            self._call(self._disconnect(), timeout=2 * self._timeout)
        except BusUnavailable:
            log.warning("the NATS connection to %s did not close in time; stopping anyway", self.url)
        finally:
            self._stop_loop()

    # -- the event-loop thread ----------------------------------------------------------

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
        finally:
            # Whatever nats-py left running is cancelled and awaited, so the loop closes clean.
            leftover = asyncio.all_tasks(self._loop)
            for task in leftover:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*leftover, return_exceptions=True))
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()

    def _stop_loop(self) -> None:
        if self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def _run(self, coroutine: Coroutine[Any, Any, _T], *, extra_seconds: float = 0) -> _T:
        if self._closed:
            coroutine.close()  # never scheduled: close it, or Python warns it was never awaited
            raise BusUnavailable(f"the NATS bus for stream {self.stream} is closed")
        return self._call(coroutine, timeout=self._timeout + extra_seconds)

    def _call(self, coroutine: Coroutine[Any, Any, _T], *, timeout: float) -> _T:
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError as error:
            future.cancel()
            raise BusUnavailable(f"NATS at {self.url} did not answer within {timeout:.1f} s") from error

    # -- coroutines, run on the loop ----------------------------------------------------

    async def _connect(self) -> None:
        client = Client()
        try:
            # nats-py retries the first connect on its own (max_reconnect_attempts * 2 s, or
            # forever at -1), so the overall wait is bounded here instead.
            await asyncio.wait_for(
                client.connect(
                    self.url,
                    name=f"polex-bus-{self.stream}",
                    connect_timeout=max(1, round(self._connect_timeout)),
                    max_reconnect_attempts=-1,  # once connected, ride out server restarts
                    error_cb=self._on_error,
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                ),
                timeout=self._connect_timeout,
            )
        except (*_UNREACHABLE, nats.errors.Error) as error:
            with contextlib.suppress(Exception):
                await client.close()
            reason = str(error) or type(error).__name__
            raise BusUnavailable(f"cannot connect to NATS at {self.url}: {reason}") from error
        self._client = client
        self._jetstream_context = client.jetstream(timeout=self._timeout)
        self._subscriptions_lock = asyncio.Lock()
        try:
            await self._ensure_stream(client.jsm(timeout=self._timeout))
        except BaseException:
            await client.close()
            raise

    async def _ensure_stream(self, manager: JetStreamManager) -> None:
        try:
            info = await manager.stream_info(self.stream)
        except nats.js.errors.NotFoundError:
            config = StreamConfig(
                name=self.stream,
                subjects=self._subjects,
                storage=StorageType.FILE,
                duplicate_window=self._dedup_window,
            )
            await self._guarded(manager.add_stream(config), f"create stream {self.stream}")
            return
        except _UNREACHABLE as error:
            raise BusUnavailable(f"JetStream at {self.url} did not answer (is it enabled?): {error}") from error
        current = info.config
        if set(current.subjects or []) != set(self._subjects) or current.duplicate_window != self._dedup_window:
            # Keep whatever an operator set (limits, replicas); change only what this bus owns.
            wanted = current.evolve(subjects=self._subjects, duplicate_window=self._dedup_window)
            await self._guarded(manager.update_stream(wanted), f"update stream {self.stream}")

    async def _publish(self, subject: str, data: bytes, message_id: str, headers: dict[str, str]) -> bool:
        jetstream = self._jetstream()
        headers[MESSAGE_ID_HEADER] = message_id
        # stream= makes the server refuse the message if another stream owns the subject.
        ack = await self._guarded(
            jetstream.publish(subject, data, timeout=self._timeout, stream=self.stream, headers=headers),
            f"publish to {subject}",
        )
        return not ack.duplicate  # None (not False) on a fresh message

    async def _publish_all(self, stream: str, messages: list[tuple[str, bytes, str]]) -> list[bool]:
        jetstream = self._jetstream()
        pending = [
            jetstream.publish(
                subject, data, timeout=self._timeout, stream=stream, headers={MESSAGE_ID_HEADER: message_id}
            )
            for subject, data, message_id in messages
        ]
        try:
            acks = await asyncio.gather(*pending)
        except (nats.errors.NoRespondersError, nats.js.errors.NoStreamResponseError) as error:
            # "No responders": the server is there, but no stream takes the subject.
            if self._connected().is_connected:
                raise StreamMissing(f"no JetStream stream {stream} on NATS at {self.url}") from error
            raise BusUnavailable(f"could not publish to {stream} on NATS at {self.url}") from error
        except _UNREACHABLE as error:
            raise BusUnavailable(f"could not publish to {stream} on NATS at {self.url}: {error}") from error
        except nats.js.errors.APIError as error:  # e.g. "expected stream does not match"
            raise StreamMissing(f"stream {stream} on NATS at {self.url} refused the messages: {error}") from error
        return [not ack.duplicate for ack in acks]

    async def _fetch(self, consumer: str, subject_filter: str, batch: int, wait: float) -> list[BusMessage]:
        subscription = await self._subscription(consumer, subject_filter)
        async with subscription.lock:
            try:
                received = await subscription.pull.fetch(batch, timeout=wait)
            except TimeoutError:
                # "Nothing came". nats-py raises its own TimeoutError or, when its deadline runs
                # out between two steps, asyncio's plain one; both subclass the builtin.
                if not self._connected().is_connected:
                    raise BusUnavailable(f"lost the connection to NATS at {self.url}") from None
                return []
            except _UNREACHABLE as error:
                raise BusUnavailable(f"could not fetch for consumer {consumer} from NATS at {self.url}") from error
        return [self._bus_message(msg) for msg in received]

    async def _subscription(self, consumer: str, subject_filter: str) -> _Subscription:
        if self._subscriptions_lock is None:
            raise BusUnavailable(f"the NATS bus for stream {self.stream} is not connected")
        async with self._subscriptions_lock:
            known = self._subscriptions.get(consumer)
            if known is None:
                await self._ensure_consumer(consumer, subject_filter)
                pull = await self._guarded(
                    self._jetstream().pull_subscribe_bind(durable=consumer, stream=self.stream),
                    f"bind to consumer {consumer}",
                )
                known = self._subscriptions[consumer] = _Subscription(subject_filter, pull, asyncio.Lock())
        if known.subject_filter != subject_filter:
            raise _filter_clash(consumer, known.subject_filter, subject_filter)
        return known

    async def _ensure_consumer(self, consumer: str, subject_filter: str) -> None:
        manager = self._jetstream()  # the JetStream context is also a manager
        config = ConsumerConfig(
            name=consumer,
            durable_name=consumer,
            filter_subject=subject_filter,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=self._ack_wait,
            max_deliver=-1,  # at-least-once: never give up on a message
        )
        try:
            info = await manager.consumer_info(self.stream, consumer, timeout=self._timeout)
        except nats.js.errors.NotFoundError:
            await self._guarded(manager.add_consumer(self.stream, config), f"create consumer {consumer}")
            return
        except _UNREACHABLE as error:
            raise BusUnavailable(f"NATS at {self.url} did not answer about consumer {consumer}") from error
        existing = info.config
        # The server would accept a new filter silently; the contract says a consumer keeps its own.
        if existing.filter_subject != subject_filter:
            raise _filter_clash(consumer, str(existing.filter_subject), subject_filter)
        if existing.ack_wait != self._ack_wait:
            await self._guarded(manager.add_consumer(self.stream, config), f"update consumer {consumer}")

    async def _ack(self, msg: Msg) -> None:
        with contextlib.suppress(nats.errors.MsgAlreadyAckdError):  # settled already: nothing to do
            # Wait for the server to record the ack, so that "acked" survives a crash right after.
            await self._guarded(msg.ack_sync(timeout=self._timeout), "ack")

    async def _ack_all(self, msgs: list[Msg]) -> None:
        # Each ack_sync is a request of its own (a reply inbox, a future, a timer): at a few
        # hundred messages a second, 3 to 4 % of the hub's interpreter time (py-spy). The acks
        # go out as plain publishes and one flush (a PING answered once the server has read
        # them all) waits for the lot: once it returns, a crash of this node no longer undoes
        # them. A server that crashes before JetStream records one redelivers that message,
        # which the intake then finds stored already (by its message id), as after any crash.
        for msg in msgs:
            with contextlib.suppress(nats.errors.MsgAlreadyAckdError):  # settled already: nothing to do
                await self._guarded(msg.ack(), "ack")
        await self._guarded(self._connected().flush(timeout=max(1, round(self._timeout))), "ack")

    async def _nak(self, msg: Msg, delay_seconds: float) -> None:
        with contextlib.suppress(nats.errors.MsgAlreadyAckdError):
            await self._guarded(msg.nak(delay=delay_seconds or None), "nak")
            await self._guarded(self._connected().flush(timeout=max(1, round(self._timeout))), "nak")

    async def _disconnect(self) -> None:
        client, self._client, self._jetstream_context = self._client, None, None
        if client is None:
            return
        # Not client.drain(): it waits for each subscription's queue to empty, and a pull
        # subscription's queue keeps the server's "request expired" notices, which nothing reads,
        # so drain would sit out its whole timeout. Every publish, ack and nak has already been
        # confirmed or flushed; a message fetched but never handed out is redelivered after ack_wait.
        try:
            await client.flush(timeout=max(1, round(self._timeout)))
        except Exception:  # closing is what matters; a failed flush only means the server went first
            log.warning("flushing the NATS connection to %s failed", self.url, exc_info=True)
        finally:
            await client.close()
        self._subscriptions.clear()

    # -- helpers ------------------------------------------------------------------------

    async def _guarded(self, step: Coroutine[Any, Any, _T], what: str) -> _T:
        try:
            return await step
        except _UNREACHABLE as error:
            raise BusUnavailable(f"could not {what} on NATS at {self.url}: {error or type(error).__name__}") from error

    def _connected(self) -> Client:
        if self._client is None:
            raise BusUnavailable(f"the NATS bus for stream {self.stream} is closed")
        return self._client

    def _jetstream(self) -> JetStreamContext:
        if self._client is None or self._jetstream_context is None:
            raise BusUnavailable(f"the NATS bus for stream {self.stream} is closed")
        return self._jetstream_context

    def _bus_message(self, msg: Msg) -> BusMessage:
        headers = msg.headers or {}
        return BusMessage(
            subject=msg.subject,
            data=msg.data,
            message_id=headers.get(MESSAGE_ID_HEADER, ""),
            # The server adds its own (Nats-Msg-Id, Nats-Expected-Stream); callers see only theirs.
            headers={name: value for name, value in headers.items() if not _reserved(name)},
            delivery_attempt=msg.metadata.num_delivered,
            receipt=_Receipt(self, msg),
        )

    def _msg_of(self, message: BusMessage) -> Msg:
        receipt = message.receipt
        if not isinstance(receipt, _Receipt) or receipt.bus is not self:
            raise ValueError("this message was not delivered by this bus")
        return receipt.msg

    async def _on_error(self, error: Exception) -> None:
        # nats-py would log each failed (re)connect attempt with a traceback; one line is enough.
        log.warning("NATS at %s: %s", self.url, error or type(error).__name__)

    async def _on_disconnected(self) -> None:
        if self._client is not None:  # nats-py calls this on our own close() too: not worth a warning
            log.warning("disconnected from NATS at %s; reconnecting", self.url)

    async def _on_reconnected(self) -> None:
        log.info("reconnected to NATS at %s", self.url)


def _reserved(header: str) -> bool:
    return header.lower().startswith(RESERVED_HEADER_PREFIX)


def _filter_clash(consumer: str, existing: str, wanted: str) -> ValueError:
    return ValueError(
        f"consumer {consumer!r} follows {existing!r}, not {wanted!r}: a durable consumer keeps its filter "
        "(use another name)"
    )
