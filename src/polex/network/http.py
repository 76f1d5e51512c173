"""The HTTP clients a node calls other nodes with, made in one place; and the hub's access points.

National nodes call the hub (envelopes, attachments, FIND, the replica feed, the membership
list); the hub calls national nodes (deliveries, receipts, replica pushes); nodes witness each
other's audit logs. Every one of those clients comes from ``NodeClients``: towards an https URL
it presents the node's certificate and trusts the network CA and nothing else
(``pki.client_ssl_context``: TLS 1.3, strict X.509 checks, the host name checked against the
certificate). Plain http URLs, the embedded default, go out as they always did.

A node may get its certificate while it runs (``polex network fetch``, or the demo enrolling
its nodes): the transport looks at the key files at most once a second and makes its next
connections with the identity on disk, so no client has to be rebuilt by its owner.

A body sent to another node goes as :func:`consumed_body` with :func:`with_content_length`'s
headers, so that it is freed once sent rather than when the cyclic collector next runs.

``AccessPoints`` is a list of base URLs for one service (the hub's, when a national node's
config names several): a call goes to the one that answered last and moves on to the next
when a URL does not connect, times out or answers 5xx; the one that answers is remembered.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import httpx

from polex.crypto import pki
from polex.network.keys import CA_CERTIFICATE, NODE_CERTIFICATE, NODE_KEY, NodeKeyFiles

log = logging.getLogger("polex.network")

T = TypeVar("T")
DEFAULT_LIMITS = httpx.Limits(max_connections=20, max_keepalive_connections=20)
RECHECK_SECONDS = 1.0  # how often the key files are looked at for a new identity

_Generation = tuple[tuple[int, int] | None, ...]


class NodeTls:
    """The node's TLS identity as a client: its certificate and key, and the network CA it trusts.

    ``verify()`` is what httpx's ``verify`` takes: a client context once the node holds the
    CA's certificate (with its own certificate if it has one), else True (the system's trust
    store: an https hub before the node has the network CA, e.g. one with a public certificate).
    """

    def __init__(self, keys: NodeKeyFiles) -> None:
        self._keys = keys
        self._lock = threading.Lock()
        self._checked_at = float("-inf")
        self._generation: _Generation = ()
        self._context: ssl.SSLContext | bool = True

    def _files(self) -> tuple[Path, Path, Path]:
        return self._keys.path(CA_CERTIFICATE), self._keys.path(NODE_CERTIFICATE), self._keys.path(NODE_KEY)

    def verify(self) -> tuple[_Generation, ssl.SSLContext | bool]:
        """The current context and a token that changes whenever the files behind it change."""
        with self._lock:
            now = time.monotonic()
            if now - self._checked_at >= RECHECK_SECONDS:
                self._checked_at = now
                generation = tuple(_signature(path) for path in self._files())
                if generation != self._generation:
                    try:
                        self._context = self._load()
                    except (ssl.SSLError, OSError, ValueError) as error:
                        # A file being written as it was read: keep the identity we had, look again.
                        log.warning("the node's TLS files cannot be loaded yet: %s", error)
                    else:
                        self._generation = generation
            return self._generation, self._context

    def _load(self) -> ssl.SSLContext | bool:
        ca, certificate, key = self._files()
        if not ca.exists():
            return True
        if certificate.exists() and key.exists():
            return pki.client_ssl_context(ca, certificate, key)
        return pki.client_ssl_context(ca)


def _signature(path: Path) -> tuple[int, int] | None:
    try:
        status = path.stat()
    except FileNotFoundError:
        return None
    return status.st_mtime_ns, status.st_size


class _NodeTransport(httpx.BaseTransport):
    """httpx's transport, remade with the node's identity whenever the key files change."""

    def __init__(self, tls: NodeTls, limits: httpx.Limits) -> None:
        self._tls = tls
        self._limits = limits
        self._lock = threading.Lock()
        self._generation: _Generation | None = None
        self._inner: httpx.HTTPTransport | None = None
        # Pools of an older identity: a request may still be streaming on them; closed with this.
        self._retired: list[httpx.HTTPTransport] = []

    def _current(self) -> httpx.HTTPTransport:
        generation, verify = self._tls.verify()
        with self._lock:
            if self._inner is None or generation != self._generation:
                if self._inner is not None:
                    self._retired.append(self._inner)
                self._inner = httpx.HTTPTransport(verify=verify, limits=self._limits)
                self._generation = generation
            return self._inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._current().handle_request(request)

    def close(self) -> None:
        with self._lock:
            transports = [*self._retired, *([self._inner] if self._inner is not None else [])]
            self._retired, self._inner = [], None
        for transport in transports:
            transport.close()


class NodeClients:
    """Makes the HTTP clients a node calls other nodes with (see the module docstring)."""

    def __init__(self, keys: NodeKeyFiles) -> None:
        self.tls = NodeTls(keys)

    def client(
        self,
        *,
        timeout: float | httpx.Timeout = 10.0,
        limits: httpx.Limits = DEFAULT_LIMITS,
        base_url: str = "",
        headers: dict[str, str] | None = None,
    ) -> httpx.Client:
        """A new client; its owner closes it."""
        return httpx.Client(
            transport=_NodeTransport(self.tls, limits),
            timeout=timeout,
            base_url=base_url,
            headers=headers,
        )


class AccessPoints:
    """Base URLs of one service, tried in turn (see the module docstring). Thread-safe."""

    def __init__(self, urls: Sequence[str]) -> None:
        cleaned = [url.rstrip("/") for url in urls if url]
        if not cleaned:
            raise ValueError("no access point given")
        self.urls = list(dict.fromkeys(cleaned))
        self._preferred = 0
        self._lock = threading.Lock()

    @property
    def current(self) -> str:
        """The URL the next call goes to first: the one that answered last."""
        return self.urls[self._preferred]

    def call(self, attempt: Callable[[str], T]) -> T:
        """``attempt(base_url)`` at the preferred access point, then at the others in order
        while one fails to connect, times out or answers 5xx. The last access point's outcome
        is returned (or raised) as it is; the first that answers below 500 becomes preferred.

        ``attempt`` must be safe to repeat at another access point: everything a node sends the
        hub is (envelopes by message id, chunks by position, checks and pages are reads).
        """
        start = self._preferred
        order = [(start + offset) % len(self.urls) for offset in range(len(self.urls))]
        for position, index in enumerate(order):
            url = self.urls[index]
            last = position == len(order) - 1
            try:
                result = attempt(url)
            except httpx.TransportError as error:
                if last:
                    raise
                following = self.urls[order[position + 1]]
                log.warning("%s did not answer (%s: %s); trying %s", url, type(error).__name__, error, following)
                continue
            if isinstance(result, httpx.Response) and result.status_code >= 500:
                if last:
                    return result
                result.close()
                log.warning("%s answered %s; trying %s", url, result.status_code, self.urls[order[position + 1]])
                continue
            if index != self._preferred:
                with self._lock:
                    self._preferred = index
                log.warning("now reaching %s (the access point that answered)", url)
            return result
        raise AssertionError("unreachable: the last access point returns or raises")


def consumed_body(content: bytes | None) -> Iterator[bytes] | None:
    """A request body httpx lets go of once it is sent. Given bytes, an ``httpx.Request`` keeps
    them as long as it lives, and it lives as long as its response, which sits in a reference
    cycle that only the cyclic collector frees: the attachment relay, sending 8 MiB chunks,
    held up to a hundred of them between two collections (a 1.4 GB peak for a 1 GB
    attachment, ``polex serve`` collecting young objects every 10,000 allocations). An
    iterator is consumed as it is sent. Pass :func:`with_content_length`'s headers with it."""
    return None if content is None else iter((content,))


def with_content_length(headers: dict[str, str], content: bytes | None) -> dict[str, str]:
    """The headers with the body's length, which an iterator does not tell httpx (it would
    send the body chunked instead)."""
    return headers if content is None else {**headers, "Content-Length": str(len(content))}
