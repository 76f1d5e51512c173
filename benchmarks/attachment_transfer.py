"""One large attachment from a user at one national node to a user at another, through the
hub, over HTTP on localhost: throughput of each step and peak resident memory of every node,
beside ``cp`` of the same bytes (the physical reference).

Run: .venv/bin/python benchmarks/attachment_transfer.py [--size-mb 1024] [--baseline-mb 64]

A hub and two national nodes (France, Germany) are initialised and enrolled here, then each
is served by its own ``polex serve`` process (SQLite, default settings: 8 MiB chunks, each
chunk fsynced before it is acknowledged). For ``--baseline-mb`` and then ``--size-mb``, with
fresh processes each time (peak RSS is a high-water mark):

1. upload: France's investigator declares the file and PUTs its chunks (Content-Digest
   each), read from disk one chunk at a time; then ``complete`` hashes the whole file;
2. seal: ``POST /api/v1/messages`` with the attachment: each chunk encrypted (AES-256-GCM)
   and written, the message committed;
3. relay: until France's outbox shows the attachment at the hub (chunks PUT to the hub's
   store), then until Germany's inbox shows it available (envelope pushed, every chunk fetched
   from the hub, checked against the signed hashes, opened, and the whole SHA-256 checked);
4. download: Germany's analyst streams it (each chunk opened again) and hashes it.

Peak RSS is each server's VmHWM (/proc/<pid>/status): over its whole life (start-up
included: the node's indexes and name data), and over the transfer alone (the mark reset
through /proc/<pid>/clear_refs once the servers are up, before the upload). Two references: ``cp`` of
the source file to another file on the same disk, then ``sync`` (the disk), and the same bytes
PUT in 8 MiB requests to, and streamed back from, a bare Starlette app on the same uvicorn in a
process of its own, writing them to a file and reading them back with no checks (the HTTP
stack polex runs on: the ceiling of any upload or download here).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from polex.auth.principal import Principal, PrincipalKind
from polex.auth.schemas import UserCreate
from polex.domain.roles import Role
from polex.network.keys import CA_CERTIFICATE, NODE_CERTIFICATE, NODE_CSR, NodeKeyFiles
from polex.network.schemas import EnrolmentCreate
from polex.provision import NodeIdentity, initialise_node, own_agency, set_hub_url
from polex.settings import NodeRole

PASSWORD = "benchmark password 42"  # noqa: S105 - a throw-away user of throw-away nodes
MB = 1_000_000
PIECE = 8 * 1024 * 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Running:
    name: str
    url: str
    process: subprocess.Popen[bytes]

    def reset_peak_rss(self) -> None:
        """Start the high-water mark again from the current resident set (Linux: writing 5 to
        clear_refs), so that the peak read later is the transfer's, not the start-up's."""
        Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / MB
        return float("nan")


def prepare(folder: Path) -> dict[str, int]:
    """Initialise and enrol the three nodes, with one user each; returns their ports."""
    ports = {name: free_port() for name in ("hub", "fra", "deu")}
    hub = initialise_node(folder / "hub", NodeIdentity("hub", "XPO", NodeRole.HUB, ports["hub"]))
    hub_url = f"http://127.0.0.1:{ports['hub']}"
    hub.network.ensure_hub_member(hub_url)
    operator = Principal(
        PrincipalKind.LOCAL, "bench", "bench", hub.agencies.ensure(own_agency(hub.settings)).id, "XPO",
        frozenset({Role.ADMIN}),
    )  # fmt: skip
    for name, country, role in (("fra", "FRA", Role.INVESTIGATOR), ("deu", "DEU", Role.ANALYST)):
        node = initialise_node(folder / name, NodeIdentity(name, country, NodeRole.NATIONAL, ports[name]))
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
        agency = node.agencies.ensure(own_agency(node.settings)).id
        node.auth.create_user(UserCreate(username=f"{name}.user", password=PASSWORD, agency_id=agency, roles=[role]))
        node.close()
        set_hub_url(folder / name, hub_url)
    hub.close()
    return ports


def serve(folder: Path, name: str, port: int) -> Running:
    environment = {**os.environ, "POLEX_LOG_LEVEL": "warning"}
    process = subprocess.Popen(
        [sys.executable, "-m", "polex", "serve", "--data-dir", str(folder / name)],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                return Running(name, url, process)
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            raise SystemExit(f"polex serve {name} stopped")
        time.sleep(0.3)
    raise SystemExit(f"polex serve {name} did not get ready")


def login(running: Running) -> httpx.Client:
    form = {"username": f"{running.name}.user", "password": PASSWORD}
    token = httpx.post(f"{running.url}/api/v1/auth/token", data=form, timeout=30).json()["access_token"]
    return httpx.Client(base_url=running.url, headers={"Authorization": f"Bearer {token}"}, timeout=600)


def make_source(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as out:
        left = size
        while left:
            piece = os.urandom(min(PIECE, left))
            digest.update(piece)
            out.write(piece)
            left -= len(piece)
    return digest.hexdigest()


def reference_copy(source: Path) -> float:
    """Seconds for ``cp`` of the file, flushed to disk (``sync``): what the bytes cost to move once."""
    target = source.with_suffix(".copy")
    started = time.perf_counter()
    subprocess.run(["cp", str(source), str(target)], check=True)  # noqa: S607 - the system's cp, by design
    subprocess.run(["sync"], check=True)  # noqa: S607
    elapsed = time.perf_counter() - started
    target.unlink()
    return elapsed


def wait_until(check: object, timeout: float = 3600) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return time.perf_counter()
        time.sleep(0.1)
    raise SystemExit("timed out")


def attachment_status(client: httpx.Client, message_id: str) -> str:
    response = client.get(f"/api/v1/messages/{message_id}")
    if response.status_code != 200:
        return "absent"
    items = response.json()["attachments"]
    return str(items[0]["status"]) if items else "absent"


def run(size_mb: int, folder: Path) -> dict[str, float]:
    size = size_mb * MB
    ports = prepare(folder)
    source = folder / "source.bin"
    sha256 = make_source(source, size)
    put_seconds, get_seconds = raw_http(source, folder)
    figures = {"cp": size / MB / reference_copy(source), "raw_put": size / MB / put_seconds}
    figures["raw_get"] = size / MB / get_seconds
    servers = [serve(folder, name, ports[name]) for name in ("hub", "fra", "deu")]
    try:
        _, fra, deu = servers
        sender, reader = login(fra), login(deu)
        started_peaks = {server.name: server.peak_rss_mb() for server in servers}
        for server in servers:
            server.reset_peak_rss()
        started = time.perf_counter()
        created = sender.post("/api/v1/attachments", json={"name": "image.dd", "size": size, "sha256": sha256}).json()
        chunk = created["chunk_size"]
        with source.open("rb") as data:
            for index in range(created["chunk_count"]):
                part = data.read(chunk)
                digest = hashlib.sha256(part).digest()
                response = sender.put(
                    f"/api/v1/attachments/{created['id']}/chunks/{index}",
                    content=part,
                    headers={"Content-Digest": f"sha-256=:{base64.b64encode(digest).decode()}:"},
                )
                assert response.status_code == 200, response.text
        uploaded = time.perf_counter()
        assert sender.post(f"/api/v1/attachments/{created['id']}/complete").json()["status"] == "complete"
        completed = time.perf_counter()
        sent = sender.post(
            "/api/v1/messages",
            json={"to": ["DEU"], "subject": "Disk image", "body": "b", "attachments": [created["id"]]},
        )
        assert sent.status_code == 202, sent.text
        message_id = sent.json()["id"]
        sealed = time.perf_counter()
        at_hub = wait_until(lambda: attachment_status(sender, message_id) == "at_hub")
        available = wait_until(lambda: attachment_status(reader, message_id) in ("available", "refused"))
        assert attachment_status(reader, message_id) == "available"
        digest_out = hashlib.sha256()
        received = 0
        with reader.stream("GET", f"/api/v1/messages/{message_id}/attachments/{created['id']}") as download:
            for piece in download.iter_bytes(PIECE):
                digest_out.update(piece)
                received += len(piece)
        downloaded = time.perf_counter()
        assert (received, digest_out.hexdigest()) == (size, sha256), "the download is not the file sent"
        megabytes = size / MB
        figures.update(
            upload=megabytes / (uploaded - started),
            complete=megabytes / (completed - uploaded),
            seal=megabytes / (sealed - completed),
            relay=megabytes / (at_hub - sealed),
            fetch=megabytes / (available - at_hub),
            download=megabytes / (downloaded - available),
            end_to_end=megabytes / (downloaded - started),
        )
        for server in servers:
            figures[f"transfer_{server.name}"] = transfer_peak = server.peak_rss_mb()
            figures[f"rss_{server.name}"] = max(started_peaks[server.name], transfer_peak)
        sender.close()
        reader.close()
    finally:
        for server in servers:
            os.killpg(server.process.pid, signal.SIGINT)
        for server in servers:
            server.process.wait(timeout=60)
    return figures


def serve_raw(port: int, folder: Path) -> None:
    """The bare HTTP reference: PUT appends the body to a file, GET streams the file back."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response, StreamingResponse
    from starlette.routing import Route

    target = folder / "raw.bin"

    async def put(request: Request) -> Response:
        with target.open("ab") as out:
            async for piece in request.stream():
                out.write(piece)
        return JSONResponse({"ok": True})

    def pieces() -> Iterator[bytes]:
        with target.open("rb") as source:
            while piece := source.read(PIECE):
                yield piece

    async def get(_: Request) -> Response:
        return StreamingResponse(pieces(), headers={"Content-Length": str(target.stat().st_size)})

    app = Starlette(routes=[Route("/raw", put, methods=["PUT"]), Route("/raw", get, methods=["GET"])])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def raw_http(source: Path, folder: Path) -> tuple[float, float]:
    """Seconds to PUT the file in 8 MiB requests to the bare server and to stream it back."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve-raw", str(port), "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/raw"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(url, timeout=5)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise SystemExit("the bare server did not start") from None
                time.sleep(0.1)
        (folder / "raw.bin").unlink(missing_ok=True)
        with httpx.Client(timeout=600) as client:
            started = time.perf_counter()
            with source.open("rb") as data:
                while part := data.read(PIECE):
                    client.put(url, content=part).raise_for_status()
            put_seconds = time.perf_counter() - started
            started = time.perf_counter()
            with client.stream("GET", url) as response:
                for _ in response.iter_bytes(PIECE):
                    pass
            get_seconds = time.perf_counter() - started
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=60)
        (folder / "raw.bin").unlink(missing_ok=True)
    return put_seconds, get_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=1024, help="the attachment, in MB (10^6 bytes)")
    parser.add_argument("--baseline-mb", type=int, default=64, help="a smaller run first, for peak RSS (0: none)")
    parser.add_argument("--dir", type=Path, default=None, help="where the nodes and files go (a temporary folder)")
    parser.add_argument("--serve-raw", type=int, default=None, help=argparse.SUPPRESS)  # the bare HTTP reference
    args = parser.parse_args()
    if args.serve_raw is not None:
        serve_raw(args.serve_raw, args.dir)
        return
    sizes = [size for size in (args.baseline_mb, args.size_mb) if size > 0]
    results: dict[int, dict[str, float]] = {}
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="polex-attach-", dir=args.dir) as folder:
            results[size] = run(size, Path(folder))
            free = shutil.disk_usage(folder).free / MB
        print(f"{size} MB done ({free:,.0f} MB free)", file=sys.stderr, flush=True)

    print("MB/s (10^6 bytes), one attachment fra -> hub -> deu, 8 MiB chunks, SQLite, HTTP on localhost")
    steps = ("upload", "complete", "seal", "relay", "fetch", "download", "end_to_end", "raw_put", "raw_get", "cp")
    labels = {
        "upload": "upload (user -> fra, chunks fsynced)",
        "complete": "complete (whole SHA-256 at fra)",
        "seal": "seal (AES-256-GCM, fsynced) + commit",
        "relay": "relay fra -> hub store",
        "fetch": "hub -> deu: fetch, check, open, SHA-256",
        "download": "download (deu -> user, opened again)",
        "end_to_end": "end to end (upload to verified download)",
        "raw_put": "bare uvicorn: PUT 8 MiB bodies to a file (ref.)",
        "raw_get": "bare uvicorn: stream the file back (ref.)",
        "cp": "cp + sync of the same file (reference)",
    }
    print(f"{'step':<46}" + "".join(f"{f'{size} MB':>12}" for size in sizes))
    for step in steps:
        print(f"{labels[step]:<46}" + "".join(f"{results[size][step]:>12,.0f}" for size in sizes))
    for size in sizes:
        figures = results[size]
        print(
            f"at {size} MB: end to end / cp {figures['end_to_end'] / figures['cp']:.3f}; "
            f"upload / bare PUT {figures['upload'] / figures['raw_put']:.2f}; "
            f"relay / bare PUT {figures['relay'] / figures['raw_put']:.2f}; "
            f"download / bare GET {figures['download'] / figures['raw_get']:.2f}"
        )
    print(f"{'peak RSS (VmHWM), MB: whole life / transfer':<46}" + "".join(f"{f'{size} MB':>16}" for size in sizes))
    for name, label in (("fra", "fra (sender)"), ("hub", "hub"), ("deu", "deu (recipient)")):
        peaks = (f"{results[size]['rss_' + name]:,.0f} / {results[size]['transfer_' + name]:,.0f}" for size in sizes)
        print(f"{label:<46}" + "".join(f"{peak:>16}" for peak in peaks))


if __name__ == "__main__":
    main()
