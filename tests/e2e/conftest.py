"""Live servers for end-to-end tests: a real uvicorn on a free port, spoken to over HTTP.

Each test module gets one national node (France) per storage backend, and, when it asks
for one, a hub on the same backend. Users are created directly through the node's
services (``principal=None`` is set-up), then log in through ``POST /api/v1/auth/token``
like any client. Argon2 makes every user cost ~50 ms, so clients for the common roles are
created once per module and cached.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import uvicorn

from polex.agency.schemas import AgencyCreate
from polex.api.app import create_app
from polex.api.server import uvicorn_config
from polex.auth import service as auth_service
from polex.auth.principal import Principal, PrincipalKind
from polex.auth.schemas import UserCreate
from polex.bootstrap import Node
from polex.domain.agency import AgencyKind
from polex.domain.roles import Role
from polex.matching.names import load_name_data
from polex.network.keys import CA_CERTIFICATE, NODE_CERTIFICATE, NODE_CSR, NodeKeyFiles
from polex.network.schemas import EnrolmentCreate
from polex.provision import own_agency
from polex.replica import service as replica_service
from tests.conftest import backend_params, database_url_for, make_node
from tests.factories import unique

PASSWORD = "correct horse battery staple"
PROBLEM_JSON = "application/problem+json"


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status; its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    for member in ("type", "title", "detail"):
        assert isinstance(body[member], str)
        assert body[member]
    return body


def read_events(lines: Iterator[str], want: int, seconds: float = 20) -> list[dict[str, Any]]:
    """The first ``want`` events of a Server-Sent Events stream (comments skipped)."""
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    deadline = time.monotonic() + seconds
    for line in lines:
        if time.monotonic() > deadline:
            break
        if not line:
            if "event" in current:
                events.append(current)
                if len(events) >= want:
                    break
            current = {}
        elif line.startswith("id: "):
            current["id"] = int(line[4:])
        elif line.startswith("event: "):
            current["event"] = line[7:]
        elif line.startswith("data: "):
            current["data"] = orjson.loads(line[6:])
    return events


def error_fields(body: dict[str, Any]) -> set[str]:
    return {item["field"] for item in body.get("errors", [])}


@dataclass
class LiveServer:
    node: Node
    base_url: str
    own_agency_id: str
    # Over HTTPS, users' clients trust the network CA (they present no certificate).
    verify: ssl.SSLContext | bool = True
    _clients: list[httpx.Client] = field(default_factory=list)
    _by_roles: dict[tuple[str, ...], httpx.Client] = field(default_factory=dict)
    # Its uvicorn server, when a fixture of this module serves it (stopped and served again
    # by tests of a node that goes away for a while).
    running: _Running | None = None

    # -- set-up through the services --------------------------------------------------

    def make_agency(self, *, kind: AgencyKind = AgencyKind.POLICE, country: str | None = None) -> str:
        data = AgencyCreate(name=unique("Agency "), country=country or self.node.settings.node_country, kind=kind)
        return self.node.agencies.create(data).id

    def make_user(
        self, roles: list[Role], *, agency_id: str | None = None, password: str = PASSWORD
    ) -> tuple[str, str]:
        """A new user; returns its username and id."""
        username = unique("user.")
        user = self.node.auth.create_user(
            UserCreate(
                username=username,
                password=password,
                agency_id=agency_id or self.own_agency_id,
                roles=roles,
            )
        )
        return username, user.id

    # -- HTTP -------------------------------------------------------------------------

    def client(self, headers: dict[str, str] | None = None) -> httpx.Client:
        """A client without credentials (or with the headers given), closed at teardown."""
        made = httpx.Client(base_url=self.base_url, headers=headers or {}, timeout=30, verify=self.verify)
        self._clients.append(made)
        return made

    def login(self, username: str, password: str = PASSWORD, totp: str | None = None) -> httpx.Response:
        form = {"username": username, "password": password}
        if totp is not None:
            form["totp"] = totp
        with httpx.Client(base_url=self.base_url, timeout=30, verify=self.verify) as anonymous:
            return anonymous.post("/api/v1/auth/token", data=form)

    def token_for(self, username: str, password: str = PASSWORD) -> str:
        response = self.login(username, password)
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    def bearer(self, token: str, *, purpose: str | None = "criminal_investigation") -> httpx.Client:
        """A client with this token; it declares a purpose on every request, as officers'
        clients do (tests of undeclared purposes pass ``purpose=None``)."""
        headers = {"Authorization": f"Bearer {token}"}
        if purpose is not None:
            headers["X-Polex-Purpose"] = purpose
        return self.client(headers)

    def new_client(self, roles: list[Role], *, agency_id: str | None = None) -> httpx.Client:
        """A fresh user with these roles, logged in through the token endpoint."""
        username, _ = self.make_user(roles, agency_id=agency_id)
        return self.bearer(self.token_for(username))

    def as_roles(self, *roles: Role) -> httpx.Client:
        """A cached client of the node's own agency with these roles."""
        key = tuple(sorted(role.value for role in roles))
        if key not in self._by_roles:
            self._by_roles[key] = self.new_client(list(roles))
        return self._by_roles[key]

    def close(self) -> None:
        for made in self._clients:
            made.close()


def _free_socket() -> socket.socket:
    """A socket bound to a free port, handed to uvicorn so that no other process takes the port.

    The protocol must be given explicitly: asyncio sets TCP_NODELAY only on sockets whose
    ``proto`` is IPPROTO_TCP, and without it every response waits ~40 ms for a delayed ACK.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@dataclass
class _Running:
    server: uvicorn.Server
    thread: threading.Thread
    sock: socket.socket


def _serve(node: Node, sock: socket.socket | None = None, app: Any = None) -> tuple[_Running, str]:
    """Serve ``node`` on ``sock`` (a free port by default): HTTPS when its settings set tls.
    ``app``: the node's application made before (served again), else a new one."""
    sock = sock or _free_socket()
    port = sock.getsockname()[1]
    app = app or create_app(node)
    config = uvicorn_config(app, node.settings, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the live server did not start")
        time.sleep(0.01)
    return _Running(server, thread, sock), f"{'https' if node.settings.tls else 'http'}://127.0.0.1:{port}"


def _stop(running: _Running) -> None:
    running.server.should_exit = True
    running.thread.join(timeout=60)
    running.sock.close()
    # A server still stopping would run its node's tasks on against a store being closed.
    # (It waits at most 10 s for requests in flight, then stops each background task.)
    assert not running.thread.is_alive(), "the live server did not stop within 60 s"


def stop_serving(live: LiveServer) -> None:
    """The node stops serving (and its background tasks stop): it is away."""
    assert live.running is not None, "not served by a fixture of this module"
    _stop(live.running)


def serve_again(live: LiveServer) -> None:
    """The node serves again on the port it had (its URL is unchanged)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", int(live.base_url.rsplit(":", 1)[1])))
    app = live.running.server.config.app if live.running is not None else None
    live.running, _ = _serve(live.node, sock, app)


@pytest.fixture(scope="session", autouse=True)
def _name_data_loaded() -> None:
    """rigour's name tagger built once, before any live server starts: built on the first
    name a node's watch list analyses, it holds the interpreter for about 10 s, freezing
    the in-process servers of whichever test comes first (polex serve does the same)."""
    load_name_data()


@pytest.fixture(scope="module")
def principals_remembered_for_the_module() -> Iterator[None]:
    """Users' principals remembered for ten minutes instead of five seconds, for a module of
    lean-path tests. The lean path admits only a principal the node remembers; the memory
    runs from the first authentication and is not renewed by the requests it answers. A test
    that sends a request to the route and the same to the lean path, or warms up and then
    sends a burst, fails when the memory lapses in between: on a loaded machine it did."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(auth_service, "PRINCIPAL_CACHE_SECONDS", 600.0)
        yield


@pytest.fixture(scope="module", params=backend_params())
def live_backend(request: pytest.FixtureRequest) -> str:
    """The backend of this module's servers (one parameter shared by the national node and hub)."""
    return str(request.param)


@pytest.fixture(scope="module")
def _live_database(live_backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    directory = tmp_path_factory.mktemp(f"live-{live_backend}")
    url, schema = database_url_for(live_backend, directory)
    yield directory, url
    if schema is not None:
        schema.drop()


def _start_node(directory: Path, url: str, **identity: Any) -> Iterator[LiveServer]:
    # Module fixtures run before the function-scoped guard against POLEX_* variables.
    with pytest.MonkeyPatch.context() as patch:
        for key in list(os.environ):
            if key.startswith("POLEX_") and not key.startswith("POLEX_TEST_"):
                patch.delenv(key)
        # A check online at the hub waits 2 s by default, then falls back on the replica; a
        # hub of these tests, sharing a loaded machine with the rest of the network, may
        # answer later than that, and the tests that ask the hub expect its answer.
        patch.setenv("POLEX_FIND_TIMEOUT_SECONDS", "30")
        node = make_node(directory, url, **identity)
    running, base_url = _serve(node)
    agency_id = node.agencies.ensure(own_agency(node.settings)).id
    live = LiveServer(node=node, base_url=base_url, own_agency_id=agency_id, running=running)
    try:
        yield live
    finally:
        live.close()
        _stop(live.running or running)
        node.close()


@pytest.fixture(scope="module")
def live(_live_database: tuple[Path, str]) -> Iterator[LiveServer]:
    """A national node (France) served over HTTP on the module's backend."""
    directory, url = _live_database
    yield from _start_node(directory / "fra", url)


@pytest.fixture(scope="module")
def hub_live(live_backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A hub node served over HTTP, on its own database of the module's backend."""
    directory = tmp_path_factory.mktemp(f"hub-{live_backend}")
    url, schema = database_url_for(live_backend, directory)
    try:
        yield from _start_node(directory / "hub", url, name="hub", country="XPO", hub=True)
    finally:
        if schema is not None:
            schema.drop()


def enrol(hub: LiveServer, national: Node, url: str) -> None:
    """``national`` enrolled in ``hub``'s network at ``url``, as the operators would do it:
    invited, its request sent with the code, approved, its certificate and the CA kept."""
    operator = Principal(PrincipalKind.LOCAL, "setup", "setup", hub.own_agency_id, "XPO", frozenset({Role.ADMIN}))
    keys = NodeKeyFiles(national.settings.keys_dir)
    name, country = national.settings.node_name, national.settings.node_country
    invitation = hub.node.network.invite(name, country, operator)
    hub.node.network.enrol(
        EnrolmentCreate(name=name, csr=keys.read(NODE_CSR).decode(), encryption_key=keys.encryption_jwk(), url=url),
        invitation.code,
    )
    hub.node.network.approve(name, operator)
    issued = hub.node.network.enrolment(name, invitation.code)
    assert issued.certificate is not None
    assert issued.ca_certificate is not None
    keys.write_public(CA_CERTIFICATE, issued.ca_certificate.encode())
    keys.write_public(NODE_CERTIFICATE, issued.certificate.encode())


@pytest.fixture(scope="module")
def network(live: LiveServer, hub_live: LiveServer) -> tuple[LiveServer, LiveServer]:
    """France enrolled in the hub's network, as the operators would do it."""
    enrol(hub_live, live.node, live.base_url)
    hub_live.node.network.ensure_hub_member(hub_live.base_url)
    live.node.network_view.hub_url = hub_live.base_url
    return live, hub_live


@pytest.fixture(scope="module")
def tls_network(live_backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, LiveServer]]:
    """A hub and France serving HTTPS, France enrolled: every link between them is mutual TLS
    (each presents its node certificate and trusts the network CA alone). Users' clients
    trust the CA and present no certificate."""
    directory = tmp_path_factory.mktemp(f"tls-{live_backend}")
    (directory / "hub").mkdir()
    (directory / "fra").mkdir()
    hub_url, hub_schema = database_url_for(live_backend, directory / "hub")
    fra_url, fra_schema = database_url_for(live_backend, directory / "fra")
    running: list[_Running] = []
    nodes: list[Node] = []
    try:
        with pytest.MonkeyPatch.context() as patch:
            for key in list(os.environ):
                if key.startswith("POLEX_") and not key.startswith("POLEX_TEST_"):
                    patch.delenv(key)
            nodes.append(
                hub_node := make_node(directory / "hub", hub_url, name="hub", country="XPO", hub=True, tls=True)
            )
            nodes.append(fra_node := make_node(directory / "fra", fra_url, tls=True))
        verify = ssl.create_default_context(cafile=hub_node.settings.keys_dir / CA_CERTIFICATE)
        hub_running, hub_base = _serve(hub_node)
        running.append(hub_running)
        hub_node.network.ensure_hub_member(hub_base)
        hub_agency = hub_node.agencies.ensure(own_agency(hub_node.settings)).id
        hub = LiveServer(hub_node, hub_base, hub_agency, verify, running=hub_running)
        # France serves with the certificate it gets at enrolment: its port is chosen first.
        fra_socket = _free_socket()
        fra_base = f"https://127.0.0.1:{fra_socket.getsockname()[1]}"
        enrol(hub, fra_node, fra_base)
        fra_node.network_view.hub_url = hub_base
        fra_running, _ = _serve(fra_node, fra_socket)
        running.append(fra_running)
        fra_agency = fra_node.agencies.ensure(own_agency(fra_node.settings)).id
        fra = LiveServer(fra_node, fra_base, fra_agency, verify, running=fra_running)
        try:
            yield fra, hub
        finally:
            fra.close()
            hub.close()
    finally:
        for each in reversed(running):
            _stop(each)
        for built in nodes:
            built.close()
        for schema in (hub_schema, fra_schema):
            if schema is not None:
                schema.drop()


@pytest.fixture(scope="module")
def ukraine(
    network: tuple[LiveServer, LiveServer], live_backend: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A second national node, Ukraine's, enrolled in the hub of ``network`` (France and the
    hub then read their member lists again)."""
    fra, hub = network
    directory = tmp_path_factory.mktemp(f"ukr-{live_backend}")
    url, schema = database_url_for(live_backend, directory)
    started = _start_node(directory / "ukr", url, name="ukr", country="UKR")
    try:
        ukr = next(started)
        enrol(hub, ukr.node, ukr.base_url)
        ukr.node.network_view.hub_url = hub.base_url
        hub.node.network_view.refresh()
        fra.node.network_view.refresh()
        yield ukr
    finally:
        next(started, None)
        if schema is not None:
            schema.drop()


@pytest.fixture
def settled(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hub serves replica changes at once (not once they are two seconds old)."""
    monkeypatch.setattr(replica_service, "SETTLE", dt.timedelta(0))
