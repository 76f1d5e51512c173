"""Serving a node with uvicorn: plain HTTP by default, HTTPS when ``tls`` is set.

Over HTTPS the server asks every client for a certificate but does not require one
(``CERT_OPTIONAL``): users' browsers and API clients connect without, while a certificate
that is presented must chain to the client CA (the network CA by default) or the handshake
fails. Which routes need a certificate is the application's business: the node-to-node
routes refuse a call without the calling node's certificate (``NetworkView.caller``).

uvicorn (0.54) does not give the application the client's certificate, so ``TlsH11Protocol``
adds the ASGI TLS extension (``scope["extensions"]["tls"]``, version 0.2 of the spec, with
``client_cert_chain`` holding the verified client certificate as PEM) to every request of a
TLS connection; ``client_certificate`` reads it back. A later uvicorn that fills the
extension itself serves the same application.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from polex.crypto import pki
from polex.settings import Settings

TLS_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}
# At shutdown, requests in flight get this long to finish before uvicorn cancels them (their
# transactions roll back); without a bound one stream left open held the stop for ever.
GRACEFUL_SHUTDOWN_SECONDS = 10


class TlsNotReady(Exception):
    """``tls`` is set but a file the server needs is missing; the message says which and what to do."""


def tls_extension(ssl_object: ssl.SSLObject) -> dict[str, Any]:
    """The ASGI TLS extension of one established connection."""
    der = ssl_object.getpeercert(binary_form=True)
    return {
        "server_cert": None,  # the ssl module cannot read back the server's own certificate
        "client_cert_chain": [ssl.DER_cert_to_PEM_cert(der)] if der else [],
        "client_cert_name": None,
        "client_cert_error": None,  # a certificate that fails verification fails the handshake
        "tls_version": TLS_VERSIONS.get(ssl_object.version() or ""),
        "cipher_suite": None,
    }


class TlsH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, with the ASGI TLS extension in the scope of TLS connections."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is None:
            return
        # One protocol instance per connection: the handshake is done, the peer is known.
        extension = tls_extension(ssl_object)
        app = self.app

        async def with_tls(scope: Scope, receive: Receive, send: Send) -> None:
            scope.setdefault("extensions", {})["tls"] = extension
            await app(scope, receive, send)

        self.app = with_tls

    def shutdown(self) -> None:
        """At the server's shutdown, an idle keep-alive connection is dropped at once.

        uvicorn closes it, and asyncio's TLS close then waits for the peer's close_notify
        (up to 30 s) before the connection counts as gone: another node's pooled
        connection, read by nobody until that node's next request, never answers, and the
        server waited for it before it stopped. Between requests nothing is lost by not
        saying goodbye: HTTP/1.1 framing, not the TLS close, delimits every response."""
        if self.cycle is None or self.cycle.response_complete:
            self.transport.abort()
        else:
            super().shutdown()  # the response in progress ends the connection when done


def client_certificate(scope: Scope) -> bytes | None:
    """The certificate (DER) the client presented on this request's TLS connection, or None."""
    tls = (scope.get("extensions") or {}).get("tls")
    chain = tls.get("client_cert_chain") if isinstance(tls, dict) else None
    if not chain:
        return None
    return ssl.PEM_cert_to_DER_cert(chain[0])


def server_ssl_context(settings: Settings) -> ssl.SSLContext:
    """The HTTPS server's context: the server certificate, and client certificates asked for,
    verified against the client CA, not required. TlsNotReady names a missing file."""
    certificate, key, client_ca = settings.tls_files
    for path, what in (
        (certificate, "server certificate (tls_certificate)"),
        (key, "server key (tls_private_key)"),
        (client_ca, "client CA (tls_client_ca)"),
    ):
        if not path.exists():
            raise TlsNotReady(
                f"tls is set but the {what} {path} does not exist: enrol the node in the network first "
                "('polex network enrol' then 'polex network fetch'), or name the file in node.toml"
            )
    return pki.server_ssl_context(client_ca, certificate, key, require_client_certificate=False)


def uvicorn_config(app: ASGIApp, settings: Settings, **options: Any) -> uvicorn.Config:
    """uvicorn's configuration for a node: HTTPS with the TLS extension when ``settings.tls``;
    a shutdown waits at most ``GRACEFUL_SHUTDOWN_SECONDS`` for requests in flight."""
    options.setdefault("timeout_graceful_shutdown", GRACEFUL_SHUTDOWN_SECONDS)
    if not settings.tls:
        return uvicorn.Config(app, **options)
    context = server_ssl_context(settings)
    return uvicorn.Config(
        app,
        http=TlsH11Protocol,
        ssl_context_factory=lambda _config, _default: context,
        **options,
    )
