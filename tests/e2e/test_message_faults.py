"""Fault tests: the hub, the sender and the recipient are real ``polex serve`` processes,
killed with SIGKILL in the middle of a stream of messages and started again.

A hub and two national nodes (France sends, Germany receives) are initialised and enrolled
here, then each is served by its own process on the backend under test (SQLite files, or a
PostgreSQL schema per node). France's investigator sends messages from four client
threads while the test kills a process (no chance to finish a request, commit or roll
back) and restarts it a second later; nobody touches the queues or the back-off by hand:
the nodes catch up by themselves.

Then, from the three databases: every message France accepted (each 202) is in Germany's
inbox exactly once (stored once, and announced once in Germany's audit trail, whatever the
wire repeated), nothing arrives that France did not commit, the hub stored each envelope
once, and every recipient status at France ends ``delivered``. A request cut by the
sender's death has an unknown outcome for its client; it may or may not have been
committed, but if it was, it is delivered once like the others.

Every test runs on both transports: HTTP between the nodes (the embedded default) and NATS
JetStream (each node's stream; the NATS server itself is not killed).

``POLEX_TEST_FAULT_MESSAGES`` sets how many messages each test sends (1,000 by default;
the issue's figure is 5,000), ``POLEX_TEST_FAULT_RATE`` at most how many a second (50), and
``POLEX_TEST_BACKENDS`` which backends run.
"""

from __future__ import annotations

import itertools
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import Engine, select

from polex.auth.principal import Principal, PrincipalKind
from polex.auth.schemas import UserCreate
from polex.bus.nats import delete_node_streams
from polex.domain.audit import AuditTag
from polex.domain.roles import Role
from polex.network.keys import CA_CERTIFICATE, NODE_CERTIFICATE, NODE_CSR, NodeKeyFiles
from polex.network.schemas import EnrolmentCreate
from polex.provision import NodeIdentity, initialise_node, own_agency, set_hub_url
from polex.settings import NodeRole
from polex.storage.engine import make_engine
from polex.storage.tables import AuditEventRow, HubDeliveryRow, HubEnvelopeRow, MessageRecipientRow, MessageRow
from tests.conftest import PostgresSchema, backend_params, database_url_for
from tests.integration.bus.conftest import NATS_URL
from tests.ports import free_port

MESSAGES = int(os.environ.get("POLEX_TEST_FAULT_MESSAGES", "1000"))
THREADS = 4
# Sent at most this fast, so that the stream outlasts the faults put in it (a restart takes
# seconds) and every kill hits a node with traffic in flight.
RATE = float(os.environ.get("POLEX_TEST_FAULT_RATE", "50"))
# Each kill comes at a share of the stream drawn around its nominal point ("at any moment");
# the seed is printed with the figures, and POLEX_TEST_FAULT_SEED replays a run.
SEED = int(os.environ.get("POLEX_TEST_FAULT_SEED", str(random.SystemRandom().randrange(10**6))))
PASSWORD = "fault test password 42"
DOWN_SECONDS = 1.0  # how long a killed process stays down before it is started again
# At most, for everything accepted to arrive after the stream: usually seconds, but each hop
# retries an envelope with its own back-off (1 s doubling, at most 5 min), so an envelope
# that failed through both outages of a loaded machine may wait minutes before its next try.
SETTLE_SECONDS = 600
pytestmark = pytest.mark.timeout(900)


@dataclass
class Server:
    """One node served by its own ``polex serve`` process, which the test may kill."""

    name: str
    folder: Path
    port: int
    database_url: str
    bus_url: str | None = None  # NATS JetStream: the node's bus and its envelopes
    process: subprocess.Popen[bytes] | None = None
    kills: int = 0
    log: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> float:
        """Start the process and wait until it serves; returns the seconds it took."""
        environment = {key: value for key, value in os.environ.items() if not key.startswith("POLEX_")}
        environment |= {"POLEX_LOG_LEVEL": "warning", "POLEX_DATABASE_URL": self.database_url}
        if self.bus_url:
            environment["POLEX_BUS_URL"] = self.bus_url
        started = time.monotonic()
        with (self.folder / "serve.log").open("ab") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "polex", "serve", "--data-dir", str(self.folder)],
                env=environment,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = started + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"polex serve {self.name} stopped: see {self.folder / 'serve.log'}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"polex serve {self.name} did not start")

    def kill(self) -> None:
        """SIGKILL: no request finishes, nothing is flushed, no transaction ends cleanly."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.kills += 1

    def restart(self) -> None:
        self.kill()
        time.sleep(DOWN_SECONDS)
        seconds = self.start()
        self.log.append(f"{self.name} killed and back in {seconds:.1f} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)


@dataclass
class Cluster:
    hub: Server
    fra: Server
    deu: Server
    engines: dict[str, Engine]

    def login(self, server: Server, username: str) -> httpx.Client:
        form = {"username": username, "password": PASSWORD}
        token = httpx.post(f"{server.url}/api/v1/auth/token", data=form, timeout=30)
        assert token.status_code == 200, token.text
        headers = {
            "Authorization": f"Bearer {token.json()['access_token']}",
            "X-Polex-Purpose": "criminal_investigation",
        }
        return httpx.Client(base_url=server.url, headers=headers, timeout=30)


def _prepare(folder: Path, urls: dict[str, str]) -> dict[str, int]:
    """Initialise the hub, France and Germany, enrol the two in the hub's network as its
    operators would, and give each national node a user; returns their ports."""
    ports = {name: free_port() for name in ("hub", "fra", "deu")}
    hub = initialise_node(
        folder / "hub", NodeIdentity("hub", "XPO", NodeRole.HUB, ports["hub"]), database_url=urls["hub"]
    )
    try:
        hub_url = f"http://127.0.0.1:{ports['hub']}"
        hub.network.ensure_hub_member(hub_url)
        agency = hub.agencies.ensure(own_agency(hub.settings)).id
        operator = Principal(PrincipalKind.LOCAL, "setup", "setup", agency, "XPO", frozenset({Role.ADMIN}))
        for name, country, role in (("fra", "FRA", Role.INVESTIGATOR), ("deu", "DEU", Role.ANALYST)):
            identity = NodeIdentity(name, country, NodeRole.NATIONAL, ports[name])
            node = initialise_node(folder / name, identity, database_url=urls[name])
            try:
                keys = NodeKeyFiles(node.settings.keys_dir)
                invitation = hub.network.invite(name, country, operator)
                hub.network.enrol(
                    EnrolmentCreate(
                        name=name,
                        csr=keys.read(NODE_CSR).decode(),
                        encryption_key=keys.encryption_jwk(),
                        url=f"http://127.0.0.1:{ports[name]}",
                    ),
                    invitation.code,
                )
                hub.network.approve(name, operator)
                issued = hub.network.enrolment(name, invitation.code)
                assert issued.certificate is not None
                assert issued.ca_certificate is not None
                keys.write_public(CA_CERTIFICATE, issued.ca_certificate.encode())
                keys.write_public(NODE_CERTIFICATE, issued.certificate.encode())
                own = node.agencies.ensure(own_agency(node.settings)).id
                user = UserCreate(username=f"{name}.user", password=PASSWORD, agency_id=own, roles=[role])
                node.auth.create_user(user)
            finally:
                node.close()
            set_hub_url(folder / name, hub_url)
    finally:
        hub.close()
    return ports


@pytest.fixture(scope="module", params=["http", "nats"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module", params=backend_params())
def cluster(
    request: pytest.FixtureRequest, transport: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    backend = str(request.param)
    bus_url = NATS_URL if transport == "nats" else None
    if bus_url:
        delete_node_streams(NATS_URL, ["hub", "fra", "deu"])  # nothing left from an earlier run
    folder = tmp_path_factory.mktemp(f"faults-{backend}-{transport}")
    urls: dict[str, str] = {}
    schemas: list[PostgresSchema] = []
    for name in ("hub", "fra", "deu"):
        (folder / name).mkdir()
        url, schema = database_url_for(backend, folder / name)
        urls[name] = url
        if schema is not None:
            schemas.append(schema)
    servers: list[Server] = []
    engines: dict[str, Engine] = {}
    try:
        # Module fixtures run before the function-scoped guard against POLEX_* variables.
        with pytest.MonkeyPatch.context() as patch:
            for key in list(os.environ):
                if key.startswith("POLEX_") and not key.startswith("POLEX_TEST_"):
                    patch.delenv(key)
            ports = _prepare(folder, urls)
        servers = [Server(name, folder / name, ports[name], urls[name], bus_url) for name in ("hub", "fra", "deu")]
        for server in servers:
            server.start()
        engines = {name: make_engine(url) for name, url in urls.items()}
        hub, fra, deu = servers
        yield Cluster(hub, fra, deu, engines=engines)
    finally:
        for server in servers:
            server.stop()
        for engine in engines.values():
            engine.dispose()
        for schema in schemas:
            schema.drop()
        if bus_url:
            delete_node_streams(NATS_URL, ["hub", "fra", "deu"])


@dataclass
class Sending:
    """What France's clients got back: ids accepted (202), requests whose outcome they
    cannot know (cut by the sender's death), and anything else."""

    accepted: list[str] = field(default_factory=list)
    unknown: int = 0
    refused: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # The last tenth of the stream waits for the faults: however long a restart takes, each
    # fault comes with messages still to send after it.
    faults_done: threading.Event = field(default_factory=threading.Event)

    @property
    def count(self) -> int:
        with self.lock:
            return len(self.accepted)


def send(cluster: Cluster, marker: str, count: int, sending: Sending) -> None:
    """Send ``count`` messages from France to Germany over ``THREADS`` clients. A request
    refused at connection (the sender is down) is sent again once it is back; a request cut
    mid-way is not (its outcome is unknown: it may have been committed)."""
    numbers = itertools.count()
    take = threading.Lock()
    started = time.monotonic()

    def client() -> httpx.Client:
        wait_until(lambda: _serving(cluster.fra), 120, "France to come back")
        return cluster.login(cluster.fra, "fra.user")

    def work() -> None:
        http = client()
        while True:
            with take:
                index = next(numbers)
            if index >= count:
                break
            if index >= count * 9 // 10:
                sending.faults_done.wait()
            pause = started + index / RATE - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            body = {"to": ["DEU"], "subject": f"{marker} {index:06d}", "body": f"message {index} of {marker}"}
            while True:
                try:
                    response = http.post("/api/v1/messages", json=body)
                except httpx.ConnectError:  # nothing reached the node: send it again when it is back
                    http.close()
                    http = client()
                    continue
                except httpx.TransportError:  # cut mid-way: committed or not, the client cannot tell
                    with sending.lock:
                        sending.unknown += 1
                    http.close()
                    http = client()
                    break
                if response.status_code == 401:  # the token ran out on a long run
                    http.close()
                    http = client()
                    continue
                with sending.lock:
                    if response.status_code == 202:
                        sending.accepted.append(response.json()["id"])
                    else:
                        sending.refused.append(f"{response.status_code}: {response.text[:200]}")
                break
        http.close()

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        for future in [pool.submit(work) for _ in range(THREADS)]:
            future.result()


def _serving(server: Server) -> bool:
    try:
        return httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def wait_until(condition: Callable[[], Any], seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def stream_with_faults(cluster: Cluster, marker: str, faults: list[tuple[float, Server]]) -> tuple[Sending, float]:
    """Send MESSAGES while killing and restarting each server in ``faults`` once the share
    of messages given (give or take 5 %) has been accepted; returns what the clients got and
    the seconds the sending took."""
    sending = Sending()
    jitter = random.Random(f"{SEED}-{marker[0]}")
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=1) as pool:
        sender: Future[None] = pool.submit(send, cluster, marker, MESSAGES, sending)
        try:
            for share, server in faults:
                point = share + jitter.uniform(-0.05, 0.05)
                while sending.count < point * MESSAGES and not sender.done():
                    time.sleep(0.01)
                assert not sender.done(), "the stream ended before the fault"
                server.restart()
        finally:
            sending.faults_done.set()
        sender.result()
    return sending, time.monotonic() - started


@dataclass
class Outcome:
    committed: set[str]  # France's outbox
    statuses: Counter[str]  # France's view of Germany, per message
    inbox: list[str]  # Germany's inbox (ids, one per row)
    announced: Counter[str]  # how often each id appears in Germany's message:message:received events
    hub_envelopes: int
    hub_deliveries: Counter[str]


def outcome(cluster: Cluster, marker: str) -> Outcome:
    like = f"{marker} %"
    with cluster.engines["fra"].connect() as connection:
        committed = set(
            connection.scalars(select(MessageRow.id).where(MessageRow.box == "outbox", MessageRow.subject.like(like)))
        )
        statuses = Counter(
            connection.scalars(
                select(MessageRecipientRow.status)
                .join(MessageRow, (MessageRow.id == MessageRecipientRow.message_id) & (MessageRow.box == "outbox"))
                .where(MessageRow.subject.like(like))
            )
        )
    with cluster.engines["deu"].connect() as connection:
        inbox = list(
            connection.scalars(select(MessageRow.id).where(MessageRow.box == "inbox", MessageRow.subject.like(like)))
        )
        entries = connection.scalars(
            select(AuditEventRow.entry).where(AuditEventRow.tag == AuditTag.MESSAGE_RECEIVED.value)
        ).all()
    announced: Counter[str] = Counter()
    for entry in entries:
        announced.update(item for item in orjson.loads(entry)["details"]["messages"] if item in committed)
    with cluster.engines["hub"].connect() as connection:
        ids = list(committed)
        hub_envelopes = 0
        hub_deliveries: Counter[str] = Counter()
        for start in range(0, len(ids), 500):  # bounded IN lists
            part = ids[start : start + 500]
            hub_envelopes += len(
                connection.scalars(select(HubEnvelopeRow.message_id).where(HubEnvelopeRow.message_id.in_(part))).all()
            )
            hub_deliveries.update(
                connection.scalars(select(HubDeliveryRow.status).where(HubDeliveryRow.message_id.in_(part)))
            )
    return Outcome(committed, statuses, inbox, announced, hub_envelopes, hub_deliveries)


def settled(cluster: Cluster, marker: str, sending: Sending) -> Outcome:
    """Wait until France shows every message it committed delivered; the outcome then."""

    last: list[Outcome] = []

    def done() -> Outcome | None:
        seen = outcome(cluster, marker)
        last[:] = [seen]
        total = len(seen.committed)
        return seen if total >= len(sending.accepted) and seen.statuses == Counter({"delivered": total}) else None

    try:
        result: Outcome = wait_until(done, SETTLE_SECONDS, "every message to be delivered and reported")
    except AssertionError:
        (seen,) = last
        raise AssertionError(
            f"not settled after {SETTLE_SECONDS} s: {len(sending.accepted)} accepted, {len(seen.committed)} "
            f"committed, France's statuses {dict(seen.statuses)}, {len(seen.inbox)} in Germany's inbox, "
            f"{seen.hub_envelopes} envelopes at the hub, its deliveries {dict(seen.hub_deliveries)}"
        ) from None
    return result


def check_exactly_once(sending: Sending, seen: Outcome) -> None:
    accepted = set(sending.accepted)
    assert len(accepted) == len(sending.accepted)  # the sender never gave one id twice
    assert not sending.refused, sending.refused[:5]
    assert accepted <= seen.committed  # a 202 is a commit
    # Requests cut by the sender's death were committed or not; nothing else was committed.
    assert len(seen.committed) - len(accepted) <= sending.unknown
    inbox = Counter(seen.inbox)
    assert set(inbox) == seen.committed  # every committed message arrived, and nothing else
    assert max(inbox.values()) == 1  # stored once
    assert set(seen.announced) == seen.committed
    assert max(seen.announced.values()) == 1  # received once, as the application sees it
    assert seen.hub_envelopes == len(seen.committed)  # the hub stored each envelope once
    assert seen.hub_deliveries == Counter({"delivered": len(seen.committed)})


def report(name: str, sending: Sending, seen: Outcome, seconds: float, settle: float, servers: list[Server]) -> None:
    """The figures of a run, shown by ``pytest -s``."""
    events = "; ".join(line for server in servers for line in server.log)
    cut = len(seen.committed) - len(sending.accepted)
    print(
        f"\n{name}: {MESSAGES} sent, {len(sending.accepted)} accepted, {sending.unknown} cut by a kill "
        f"({cut} of them committed), in {seconds:.1f} s; all {len(seen.committed)} committed delivered exactly "
        f"once {settle:.1f} s after the stream ended ({events}; seed {SEED})"
    )


def test_the_hub_killed_twice_mid_stream_loses_and_repeats_nothing(cluster: Cluster) -> None:
    marker = f"H{time.monotonic_ns() % 10**8}"
    sending, seconds = stream_with_faults(cluster, marker, [(1 / 4, cluster.hub), (3 / 5, cluster.hub)])
    assert cluster.hub.kills >= 2
    waited = time.monotonic()
    seen = settled(cluster, marker, sending)
    check_exactly_once(sending, seen)
    assert sending.unknown == 0  # the sender never died: every request has its answer
    assert len(sending.accepted) == MESSAGES
    report("hub killed twice", sending, seen, seconds, time.monotonic() - waited, [cluster.hub])
    cluster.hub.log.clear()


def test_the_recipient_then_the_sender_killed_mid_stream_lose_and_repeat_nothing(cluster: Cluster) -> None:
    marker = f"S{time.monotonic_ns() % 10**8}"
    sending, seconds = stream_with_faults(cluster, marker, [(1 / 4, cluster.deu), (3 / 5, cluster.fra)])
    waited = time.monotonic()
    seen = settled(cluster, marker, sending)
    check_exactly_once(sending, seen)
    assert len(sending.accepted) + sending.unknown == MESSAGES
    servers = [cluster.deu, cluster.fra]
    report("recipient, then sender killed", sending, seen, seconds, time.monotonic() - waited, servers)
    cluster.deu.log.clear()
    cluster.fra.log.clear()
