"""A body sent to another node is let go of once sent (polex.network.http.consumed_body).

httpx keeps a request's bytes content as long as the request, which its response keeps in a
reference cycle: with bytes, every chunk a relay sent stayed in memory until the cyclic
collector ran. Real httpx against a real HTTP server on localhost."""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import httpx
import pytest

from polex.network.http import consumed_body, with_content_length

CHUNK = 1 << 20


@pytest.fixture
def server() -> Iterator[tuple[str, list[tuple[str | None, str | None, int]]]]:
    received: list[tuple[str | None, str | None, int]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            length = int(self.headers["Content-Length"])
            body = self.rfile.read(length)
            received.append((self.headers.get("Content-Length"), self.headers.get("Transfer-Encoding"), len(body)))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *_: object) -> None:
            pass

    httpd = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}/chunk", received
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def no_cyclic_collection() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def send(url: str, chunk: bytes, *, let_go: bool) -> None:
    with httpx.Client() as client:
        if let_go:
            response = client.put(
                url, content=consumed_body(chunk), headers=with_content_length({"X-Test": "1"}, chunk)
            )
        else:
            response = client.put(url, content=chunk)
        assert response.status_code == 200
        del response


@pytest.mark.usefixtures("no_cyclic_collection")
def test_a_sent_chunk_is_held_by_nobody(server: tuple[str, list[tuple[str | None, str | None, int]]]) -> None:
    url, received = server
    chunk = bytes(CHUNK)
    send(url, chunk, let_go=True)
    assert sys.getrefcount(chunk) == 2  # this function's name and getrefcount's argument
    assert received == [(str(CHUNK), None, CHUNK)]  # sent whole, with its length, not chunked


@pytest.mark.usefixtures("no_cyclic_collection")
def test_bytes_given_to_httpx_outlive_the_request(server: tuple[str, list[tuple[str | None, str | None, int]]]) -> None:
    """Why the relay does not hand httpx its bytes: the cycle keeps them (should httpx stop
    doing so, this test says the workaround can go)."""
    url, _ = server
    chunk = bytes(CHUNK)
    send(url, chunk, let_go=False)
    assert sys.getrefcount(chunk) > 2
    gc.collect()
    assert sys.getrefcount(chunk) == 2


def test_no_body_sends_no_length() -> None:
    assert consumed_body(None) is None
    assert with_content_length({"A": "b"}, None) == {"A": "b"}
