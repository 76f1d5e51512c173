"""``polex demo``: a hub and national nodes on 127.0.0.1, each its own process and database.

The runner prepares each node once (config, keys, database, agencies, users, synthetic
records), starts ``polex serve`` for each, waits until every one is healthy, writes
``demo.json`` and waits for SIGINT or SIGTERM, then stops every node cleanly.

With ``--tls`` every node serves HTTPS with the certificate the hub's CA issued it, and every
link between nodes is mutual TLS; users' clients trust the CA (``ca_certificate`` in
``demo.json``) and present no certificate.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

from polex.auth.schemas import ApiKeyCreate
from polex.bootstrap import Node
from polex.bus.nats import delete_node_streams
from polex.demo.notices import national_request
from polex.domain.roles import Role
from polex.provision import own_agency, set_hub_url, set_witness_peers
from polex.settings import NodeRole, load_settings

DEMO_FILE = "demo.json"
WITNESS_FILE = "witness-access.json"
READY_MARK = ".demo-ready"
START_TIMEOUT_SECONDS = 120.0  # every node serving (/healthz): each first builds rigour's name tagger
READY_TIMEOUT_SECONDS = 300.0  # every node's person watch list loaded (/readyz)
STOP_TIMEOUT_SECONDS = 15.0


@dataclass(frozen=True)
class DemoNode:
    name: str
    country: str
    role: NodeRole
    seed: int


DEMO_NODES = (
    DemoNode("hub", "XPO", NodeRole.HUB, 1),
    DemoNode("fra", "FRA", NodeRole.NATIONAL, 2),
    DemoNode("ukr", "UKR", NodeRole.NATIONAL, 3),
    DemoNode("grc", "GRC", NodeRole.NATIONAL, 4),
    DemoNode("jpn", "JPN", NodeRole.NATIONAL, 5),
)


def _child_environment() -> dict[str, str]:
    # The demo runs on embedded defaults: no outside database, whatever the shell says.
    return {key: value for key, value in os.environ.items() if not key.startswith("POLEX_")}


def node_url(port: int, *, tls: bool) -> str:
    return f"{'https' if tls else 'http'}://127.0.0.1:{port}"


def trust(directory: Path, *, tls: bool) -> ssl.SSLContext | bool:
    """What the runner's own clients verify the nodes with: the demo network's CA over TLS."""
    hub = next(demo_node for demo_node in DEMO_NODES if demo_node.role is NodeRole.HUB)
    return ssl.create_default_context(cafile=directory / hub.name / "keys" / "network-ca.pem") if tls else True


def prepare_node(
    data_dir: Path, demo_node: DemoNode, port: int, size: float, tls: bool = False
) -> list[dict[str, str]]:
    """Create and seed one node; returns its users with their passwords (run in a worker)."""
    os.environ.pop("POLEX_DATABASE_URL", None)
    from polex.demo.seed import seed_node
    from polex.provision import NodeIdentity, initialise_node

    identity = NodeIdentity(name=demo_node.name, country=demo_node.country, role=demo_node.role, port=port)
    node = initialise_node(data_dir, identity, tls=tls)
    try:
        users = seed_node(node, seed=demo_node.seed, size=size)
        publish_witness_access(node, data_dir, node_url(port, tls=tls))
    finally:
        node.close()
    (data_dir / READY_MARK).write_text("seeded\n")
    return [
        {
            "node": demo_node.name,
            "username": user.username,
            "password": user.password,
            "role": user.role.value,
        }
        for user in users
    ]


def publish_witness_access(node: Node, data_dir: Path, url: str) -> None:
    """An API key with which the other demo nodes fetch this node's checkpoints and proofs."""
    key = node.auth.create_api_key(
        ApiKeyCreate(
            name="demo witnesses", roles=[Role.MONITOR], agency_id=node.agencies.ensure(own_agency(node.settings)).id
        )
    )
    access = {
        "name": node.settings.node_name,
        "url": url,
        "api_key": key.key,
        "verifier_key": node.audit.verifier_key(),
    }
    path = data_dir / WITNESS_FILE
    path.write_text(json.dumps(access))
    os.chmod(path, 0o600)


def wire_witnesses(nodes: list[tuple[DemoNode, int, Path]]) -> None:
    """The hub witnesses every national node and each national node the hub and its
    neighbour, so that a rewritten history anywhere is seen by at least two others."""
    access = {
        demo_node.name: json.loads((data_dir / WITNESS_FILE).read_text())
        for demo_node, _, data_dir in nodes
        if (data_dir / WITNESS_FILE).exists()
    }
    nationals = [demo_node.name for demo_node, _, _ in nodes if demo_node.role is NodeRole.NATIONAL]
    for demo_node, _, data_dir in nodes:
        if demo_node.role is NodeRole.HUB:
            watched = nationals
        else:
            position = nationals.index(demo_node.name)
            watched = ["hub", nationals[(position + 1) % len(nationals)]]
        peers = [access[name] for name in watched if name in access and name != demo_node.name]
        # The demo signs and witnesses often, so that a visitor sees it happen.
        set_witness_peers(data_dir, peers, witness_seconds=5.0, checkpoint_seconds=5.0)


def enrol_nationals(nodes: list[tuple[DemoNode, int, Path]], *, tls: bool = False) -> None:
    """Each national node joins the hub's network as an operator would (invitation, request,
    approval, certificate), done here in one step so that the demo starts as a network."""
    from polex.auth.principal import Principal, PrincipalKind
    from polex.bootstrap import build_node
    from polex.network.keys import CA_CERTIFICATE, NODE_CERTIFICATE, NODE_CSR, NodeKeyFiles
    from polex.network.schemas import EnrolmentCreate

    hub_dir, hub_port = next((data_dir, port) for demo_node, port, data_dir in nodes if demo_node.role is NodeRole.HUB)
    hub = build_node(load_settings(data_dir=hub_dir))
    try:
        agency = hub.agencies.ensure(own_agency(hub.settings))
        operator = Principal(
            PrincipalKind.LOCAL, "demo-setup", "demo", agency.id, hub.settings.node_country, frozenset({Role.ADMIN})
        )
        for demo_node, port, data_dir in nodes:
            if demo_node.role is NodeRole.HUB:
                continue
            set_hub_url(data_dir, node_url(hub_port, tls=tls))
            settings = load_settings(data_dir=data_dir)
            keys = NodeKeyFiles(settings.keys_dir)
            if keys.has(NODE_CERTIFICATE):
                continue
            invitation = hub.network.invite(demo_node.name, demo_node.country, operator)
            request = EnrolmentCreate(
                name=demo_node.name,
                csr=keys.read(NODE_CSR).decode(),
                encryption_key=keys.encryption_jwk(),
                url=node_url(port, tls=tls),
            )
            hub.network.enrol(request, invitation.code)
            hub.network.approve(demo_node.name, operator)
            issued = hub.network.enrolment(demo_node.name, invitation.code)
            if issued.certificate is None or issued.ca_certificate is None:
                raise RuntimeError(f"the hub approved {demo_node.name} but issued no certificate")
            keys.write_public(CA_CERTIFICATE, issued.ca_certificate.encode())
            keys.write_public(NODE_CERTIFICATE, issued.certificate.encode())
    finally:
        hub.close()


# The scripted exchange at the first start, so that inboxes are not empty: each national
# bureau writes to the hub, and the hub answers every bureau at once.
FIRST_MESSAGES = {
    "FRA": ("Demande de diffusion", "Merci de diffuser la fiche jointe aux bureaux voisins."),
    "UKR": ("Запит щодо викраденого транспорту", "Просимо перевірити VIN у базі викрадених автомобілів."),
    "GRC": ("Αίτημα ταυτοποίησης", "Παρακαλούμε ελέγξτε τα δακτυλικά αποτυπώματα του υπόπτου."),
    "JPN": ("盗難旅券の照会", "添付の旅券番号について照会をお願いします。"),
}


def exchange_messages(
    nodes: list[tuple[DemoNode, int, Path]], users: list[dict[str, str]], *, tls: bool = False
) -> None:
    """Each national investigator sends a message to the hub; the hub's NCB operator answers all."""
    verify = trust(nodes[0][2].parent, tls=tls)

    def client(node: DemoNode, port: int, role: str) -> httpx.Client | None:
        user = next((u for u in users if u["node"] == node.name and u["role"] == role), None)
        if user is None:
            return None
        url = node_url(port, tls=tls)
        token = httpx.post(
            f"{url}/api/v1/auth/token",
            data={"username": user["username"], "password": user["password"]},
            verify=verify,
        )
        if token.status_code != 200:
            return None
        return httpx.Client(
            base_url=url,
            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
            timeout=10,
            verify=verify,
        )

    for demo_node, port, _ in nodes:
        if demo_node.role is NodeRole.HUB:
            continue
        subject, body = FIRST_MESSAGES.get(demo_node.country, ("Request", "Please see the attached file."))
        sender = client(demo_node, port, Role.INVESTIGATOR.value)
        if sender is not None:
            with sender:
                sender.post("/api/v1/messages", json={"to": ["XPO"], "subject": subject, "body": body})
    hub_node, hub_port, _ = next(item for item in nodes if item[0].role is NodeRole.HUB)
    operator = client(hub_node, hub_port, Role.NCB_OPERATOR.value)
    if operator is not None:
        with operator:
            operator.post(
                "/api/v1/messages",
                json={
                    "to": ["*"],
                    "subject": "Network maintenance",
                    "body": "The hub's access points will be renewed on Sunday; no action is needed.",
                    "handling": "TLP:GREEN",
                },
            )


def national_requests(
    nodes: list[tuple[DemoNode, int, Path]], users: list[dict[str, str]], *, tls: bool = False
) -> None:
    """Each national bureau drafts a red notice request on its own node and submits it: it
    travels to the hub in signed envelopes and waits there for the reviewers."""
    verify = trust(nodes[0][2].parent, tls=tls)
    for position, (demo_node, port, _) in enumerate(nodes):
        if demo_node.role is NodeRole.HUB:
            continue
        user = next((u for u in users if u["node"] == demo_node.name and u["role"] == Role.NCB_OPERATOR.value), None)
        if user is None:
            continue
        url = node_url(port, tls=tls)
        form = {"username": user["username"], "password": user["password"]}
        token = httpx.post(f"{url}/api/v1/auth/token", data=form, timeout=10, verify=verify)
        if token.status_code != 200:
            continue
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        with httpx.Client(base_url=url, headers=headers, timeout=10, verify=verify) as client:
            draft = client.post("/api/v1/notices", json=national_request(demo_node.country, 40 + position))
            if draft.status_code == 201:
                client.post(f"/api/v1/notices/{draft.json()['id']}/submit")


def first_checks(nodes: list[tuple[DemoNode, int, Path]], users: list[dict[str, str]], *, tls: bool = False) -> None:
    """At the hub, each member's officer checks at a border some documents another member
    reported stolen, and some that nobody did: the owners get hits to confirm."""
    hub_node, hub_port, hub_dir = next(item for item in nodes if item[0].role is NodeRole.HUB)
    url = node_url(hub_port, tls=tls)
    verify = trust(hub_dir.parent, tls=tls)
    officers = [user for user in users if user["node"] == hub_node.name and user["username"].endswith(".officer")]
    for position, officer in enumerate(officers):
        token = httpx.post(
            f"{url}/api/v1/auth/token",
            data={"username": officer["username"], "password": officer["password"]},
            verify=verify,
        )
        if token.status_code != 200:
            continue
        headers = {"Authorization": f"Bearer {token.json()['access_token']}", "X-Polex-Purpose": "border_control"}
        with httpx.Client(base_url=url, headers=headers, timeout=10, verify=verify) as client:
            other = officers[(position + 1) % len(officers)]["username"].split(".")[0].upper()
            listed = client.get("/api/v1/travel-documents", params={"owner_country": other, "limit": 3})
            documents = [
                {"number": item["number"], "country": item["issuing_country"]}
                for item in listed.json().get("items", [])
                if "number" in item
            ]
            documents.append({"number": f"DEMO{position:05d}", "country": other})  # not on file
            client.post("/api/v1/documents/check", json={"purpose": "border_control", "documents": documents})


class Stop(Exception):
    pass


def _raise_stop(signum: int, _frame: FrameType | None) -> None:
    raise Stop(signal.Signals(signum).name)


def run_demo(
    directory: Path, *, reset: bool, base_port: int, size: float, tls: bool = False, nats_url: str | None = None
) -> int:
    directory = directory.resolve()
    if reset and directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)
    summary_path = directory / DEMO_FILE
    previous = json.loads(summary_path.read_text()) if summary_path.exists() else {"users": []}
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)

    started = time.monotonic()
    nodes = [(demo_node, base_port + index, directory / demo_node.name) for index, demo_node in enumerate(DEMO_NODES)]
    users: list[dict[str, str]] = []
    to_prepare = []
    for demo_node, port, data_dir in nodes:
        known = [user for user in previous["users"] if user["node"] == demo_node.name]
        if (data_dir / READY_MARK).exists() and known and load_settings(data_dir=data_dir).tls == tls:
            users.extend(known)  # reuse the data and the passwords of the last run
            continue
        if data_dir.exists():
            # Half-prepared, its passwords lost, or prepared with(out) TLS: start it afresh.
            shutil.rmtree(data_dir)
        to_prepare.append((demo_node, port, data_dir))

    processes: list[tuple[DemoNode, subprocess.Popen[bytes]]] = []
    try:
        if to_prepare:
            print(f"preparing {len(to_prepare)} node(s) with synthetic data ...", flush=True)
            with ProcessPoolExecutor(max_workers=min(len(to_prepare), os.cpu_count() or 2)) as pool:
                futures = [
                    pool.submit(prepare_node, data_dir, demo_node, port, size, tls)
                    for demo_node, port, data_dir in to_prepare
                ]
                for future in futures:
                    users.extend(future.result())
        wire_witnesses(nodes)
        enrol_nationals(nodes, tls=tls)
        if nats_url:
            # A node made afresh has new keys: what its stream kept from an earlier demo is
            # nobody's now. A node whose data is kept keeps its stream, and what waits in it.
            delete_node_streams(nats_url, [demo_node.name for demo_node, _, _ in to_prepare])
        for demo_node, port, data_dir in nodes:
            log = (data_dir / "serve.log").open("ab")
            command = [
                sys.executable,
                "-m",
                "polex",
                "serve",
                "--data-dir",
                str(data_dir),
                "--port",
                str(port),
            ]
            environment = _child_environment()
            if nats_url:
                environment["POLEX_BUS_URL"] = nats_url
            process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=environment,
                start_new_session=True,
            )
            processes.append((demo_node, process))
        _wait_healthy(nodes, processes, tls=tls)
        if to_prepare:
            exchange_messages(nodes, users, tls=tls)
            national_requests(nodes, users, tls=tls)
            first_checks(nodes, users, tls=tls)
        summary: dict[str, Any] = {
            "nodes": [
                {
                    "name": demo_node.name,
                    "country": demo_node.country,
                    "role": demo_node.role.value,
                    "url": node_url(port, tls=tls),
                    "data_dir": str(data_dir),
                }
                for demo_node, port, data_dir in nodes
            ],
            "users": sorted(users, key=lambda user: (user["node"], user["role"])),
        }
        if tls:
            hub_dir = next(data_dir for demo_node, _, data_dir in nodes if demo_node.role is NodeRole.HUB)
            summary["ca_certificate"] = str(hub_dir / "keys" / "network-ca.pem")
        summary_path.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
        os.chmod(summary_path, 0o600)  # it holds passwords
        _print_summary(summary, summary_path, time.monotonic() - started)
        while True:
            for demo_node, process in processes:
                if process.poll() is not None:
                    print(
                        f"node {demo_node.name} exited with {process.returncode}; stopping the demo",
                        file=sys.stderr,
                    )
                    return 1
            time.sleep(0.5)
    except Stop as stop:
        print(f"\n{stop}: stopping {len(processes)} node(s) ...", flush=True)
        return 0
    finally:
        _stop_all(processes)


def _wait_healthy(
    nodes: list[tuple[DemoNode, int, Path]],
    processes: list[tuple[DemoNode, subprocess.Popen[bytes]]],
    *,
    tls: bool = False,
) -> None:
    # Alive within the start budget, then ready: the summary invites to match persons,
    # which waits for the watch list each node loads once it serves. That load starts with
    # rigour's name tagger, about 10 s of CPU a process that holds the interpreter (rigour
    # 2.x builds it in its Rust core on first use): five nodes on two cores take well over
    # a minute to be ready on a busy machine, so readiness has a budget of its own.
    started = time.monotonic()
    for path, budget in (("/healthz", START_TIMEOUT_SECONDS), ("/readyz", READY_TIMEOUT_SECONDS)):
        pending = {demo_node.name: f"{node_url(port, tls=tls)}{path}" for demo_node, port, _ in nodes}
        with httpx.Client(timeout=5.0, verify=trust(nodes[0][2].parent, tls=tls)) as client:
            while pending:
                for demo_node, process in processes:
                    if process.poll() is not None:
                        data_dir = next(folder for node, _, folder in nodes if node.name == demo_node.name)
                        raise RuntimeError(
                            f"node {demo_node.name} exited with {process.returncode}; the end of its "
                            f"{data_dir / 'serve.log'}:\n{_log_tail(data_dir / 'serve.log')}"
                        )
                for name, url in list(pending.items()):
                    try:
                        if client.get(url).status_code == 200:
                            del pending[name]
                    except httpx.HTTPError:
                        pass
                if pending and time.monotonic() - started > budget:
                    state = "serving" if path == "/healthz" else "ready"
                    raise RuntimeError(f"nodes not {state} after {budget:.0f} s: {sorted(pending)}")
                if pending:
                    time.sleep(0.2)


def _log_tail(path: Path, lines: int = 20) -> str:
    try:
        with path.open("rb") as log:
            log.seek(max(0, log.seek(0, os.SEEK_END) - 8192))
            return "\n".join(log.read().decode("utf-8", "replace").splitlines()[-lines:])
    except OSError as error:
        return f"(unreadable: {error})"


def _stop_all(processes: list[tuple[DemoNode, subprocess.Popen[bytes]]]) -> None:
    for _, process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    for demo_node, process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"node {demo_node.name} did not stop in time; killing it", file=sys.stderr)
            process.kill()
            process.wait()


def _print_summary(summary: dict[str, Any], path: Path, elapsed: float) -> None:
    print(f"\npolex demo is up in {elapsed:.1f} s. Nodes:")
    for node in summary["nodes"]:
        print(
            f"  {node['name']:<4} {node['country']} {node['role']:<8} {node['url']}  "
            f"(console: {node['url']}/console, API docs: {node['url']}/docs)"
        )
    print("\nLogins (one user per role on each node; username = role):")
    for node in summary["nodes"]:
        logins = [
            f"{user['username']} / {user['password']}" for user in summary["users"] if user["node"] == node["name"]
        ]
        print(f"  {node['name']}: " + ", ".join(logins))
    if "ca_certificate" in summary:
        print(
            "\nEvery node serves HTTPS, and the links between nodes are mutual TLS; trust the demo network's CA "
            f"to connect (curl --cacert {summary['ca_certificate']} ...)."
        )
    print(f"\nThe same as JSON: {path}\nPress Ctrl-C to stop every node.", flush=True)
