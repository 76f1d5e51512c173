"""Several hub access points, with real processes: two ``polex serve`` processes serve one
hub over a shared PostgreSQL database and NATS JetStream, every link in mutual TLS; a national
node lists both URLs. One hub process is killed mid-way: the national node moves to the
other and messages keep flowing both ways.

Everything is set up as operators would: ``polex init --tls``, ``polex network invite``,
``enrol --ca``, ``approve``, ``fetch``, ``polex user add``.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Any

import httpx
import pytest

from polex.bus.nats import delete_node_streams
from polex.provision import set_node_options
from tests.conftest import PostgresSchema
from tests.e2e.test_cli import POLEX, run
from tests.integration.bus.conftest import NATS_URL
from tests.ports import free_ports

PASSWORD = "correct horse battery staple"


def wait_until(condition: Callable[[], Any], seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with suppress(httpx.HTTPError):
            value = condition()
            if value:
                return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


class Processes:
    """``polex serve`` processes, each logging to a file, stopped at the end."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def serve(self, label: str, data_dir: Path, port: int, env: dict[str, str]) -> None:
        log = (self.folder / f"{label}.log").open("ab")
        self.running[label] = subprocess.Popen(
            [*POLEX, "serve", "--data-dir", str(data_dir), "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **env},
        )
        log.close()

    def log(self, label: str) -> str:
        return (self.folder / f"{label}.log").read_text(errors="replace")

    def kill(self, label: str) -> None:
        process = self.running.pop(label)
        process.send_signal(signal.SIGKILL)  # a crash: no graceful shutdown, connections cut
        process.wait(timeout=10)

    def stop_all(self) -> None:
        for process in self.running.values():
            process.send_signal(signal.SIGTERM)
        for process in self.running.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    made = Processes(tmp_path)
    try:
        yield made
    finally:
        made.stop_all()


@pytest.fixture
def shared_database() -> Iterator[str]:
    schema = PostgresSchema()
    try:
        yield schema.url
    finally:
        schema.drop()


def login(url: str, username: str, verify: ssl.SSLContext) -> httpx.Client:
    token = httpx.post(f"{url}/api/v1/auth/token", data={"username": username, "password": PASSWORD}, verify=verify)
    assert token.status_code == 200, token.text
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    return httpx.Client(base_url=url, headers=headers, verify=verify, timeout=30)


def ready(url: str, verify: ssl.SSLContext) -> bool:
    return httpx.get(f"{url}/readyz", verify=verify).status_code == 200


def delivery(client: httpx.Client, message_id: str) -> dict[str, str]:
    read = client.get(f"/api/v1/messages/{message_id}").json()
    return {item["node"]: item["status"] for item in read["delivery"]}


def in_inbox(client: httpx.Client, message_id: str) -> bool:
    return any(item["id"] == message_id for item in client.get("/api/v1/messages?box=inbox").json()["items"])


@pytest.mark.timeout(600)
def test_a_national_node_fails_over_between_two_hub_processes_of_one_network(
    tmp_path: Path, processes: Processes, shared_database: str
) -> None:
    base = free_ports(3)
    hub_ports, fra_port = (base, base + 1), base + 2
    hub_urls = [f"https://127.0.0.1:{port}" for port in hub_ports]
    fra_url = f"https://127.0.0.1:{fra_port}"
    hub_dir, fra_dir = tmp_path / "hub", tmp_path / "fra"
    # A hub name of its own: its JetStream stream (POLEX_<NAME>) is this test's alone.
    hub_name = f"hub-{secrets.token_hex(3)}"
    # France runs without NATS: the hub reaches it over HTTP because it has no stream. One
    # left by another run of a node named fra would take (and keep) what the hub sends it.
    delete_node_streams(NATS_URL, ["fra"])
    hub_env = {"POLEX_DATABASE_URL": shared_database, "POLEX_BUS_URL": NATS_URL}
    users = {"POLEX_USER_PASSWORD": PASSWORD}
    clients = ExitStack()
    try:
        # The hub: one data folder (its keys, the network CA) for both processes, one database.
        run(
            "init",
            "--hub",
            "--tls",
            "--name",
            hub_name,
            "--port",
            str(hub_ports[0]),
            "--data-dir",
            str(hub_dir),
            env=hub_env,
        )
        run("user", "add", "operator", "--role", "ncb_operator", "--data-dir", str(hub_dir), env={**hub_env, **users})
        processes.serve("hub-a", hub_dir, hub_ports[0], hub_env)
        ca_file = hub_dir / "keys" / "network-ca.pem"
        verify = ssl.create_default_context(cafile=ca_file)
        wait_until(lambda: ready(hub_urls[0], verify), 120, "hub a")

        # France enrols over HTTPS, checking the hub against the CA its operator was given.
        run("init", "--tls", "--name", "fra", "--country", "FRA", "--port", str(fra_port), "--data-dir", str(fra_dir))
        code = json.loads(
            run("network", "invite", "fra", "--country", "FRA", "--data-dir", str(hub_dir), env=hub_env).stdout
        )["code"]
        hub_option = ["--hub", hub_urls[0], "--code", code, "--data-dir", str(fra_dir)]
        run("network", "enrol", *hub_option, "--ca", str(ca_file))
        run("network", "approve", "fra", "--data-dir", str(hub_dir), env=hub_env)
        fetched = json.loads(run("network", "fetch", *hub_option).stdout)
        assert fetched["name"] == "fra"
        set_node_options(fra_dir, hub_urls=hub_urls)
        run("user", "add", "officer", "--role", "investigator", "--data-dir", str(fra_dir), env=users)

        processes.serve("hub-b", hub_dir, hub_ports[1], hub_env)
        processes.serve("fra", fra_dir, fra_port, {})
        wait_until(lambda: ready(hub_urls[1], verify) and ready(fra_url, verify), 120, "hub b and France")

        officer = clients.enter_context(login(fra_url, "officer", verify))
        operator_a, operator_b = (clients.enter_context(login(url, "operator", verify)) for url in hub_urls)
        # Both hub processes serve the same network: what reaches one is read at the other.
        first = officer.post("/api/v1/messages", json={"to": ["XPO"], "subject": "One", "body": "before"})
        assert first.status_code == 202, first.text
        wait_until(lambda: delivery(officer, first.json()["id"]) == {hub_name: "delivered"}, 60, "the first message")
        assert in_inbox(operator_a, first.json()["id"])
        assert in_inbox(operator_b, first.json()["id"])
        answer = operator_b.post("/api/v1/messages", json={"to": ["FRA"], "subject": "Re: One", "body": "from b"})
        assert answer.status_code == 202, answer.text
        wait_until(lambda: in_inbox(officer, answer.json()["id"]), 60, "the hub's answer")

        processes.kill("hub-a")
        second = officer.post("/api/v1/messages", json={"to": ["XPO"], "subject": "Two", "body": "after"})
        assert second.status_code == 202, second.text
        wait_until(lambda: delivery(officer, second.json()["id"]) == {hub_name: "delivered"}, 90, "failover")
        assert in_inbox(operator_b, second.json()["id"])
        assert f"now reaching {hub_urls[1]}" in processes.log("fra")
        again = operator_b.post("/api/v1/messages", json={"to": ["FRA"], "subject": "Re: Two", "body": "still here"})
        wait_until(lambda: in_inbox(officer, again.json()["id"]), 60, "the answer after the failover")
    finally:
        clients.close()
        processes.stop_all()
        delete_node_streams(NATS_URL, [hub_name])
