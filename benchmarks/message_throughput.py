"""Signed and encrypted 4 KB messages from one national node through the hub to another,
end to end, on the embedded transport (HTTP between the nodes) and on NATS JetStream (the
nodes' streams); beside a raw NATS JetStream publish and consume of the same payloads (the
physical reference), all in the same run.

Run: .venv/bin/python benchmarks/message_throughput.py [--messages 1000] [--rate 200] [--nats nats://127.0.0.1:4222]

1. Throughput: ``polex demo`` (hub and four national nodes, separate processes, SQLite,
   ``--nats`` or not) is started with little data, sends 100 messages to warm up and is
   left to finish starting up (its nodes under 0.4 cores); France's investigator sends
   ``--messages`` messages of 4 KB to Ukraine as fast as four connections are answered; the
   figure is messages per second from the first send until the last is stored in
   Ukraine's inbox (accepted by the sender's API until stored by the recipient).
2. Latency at a steady ``--rate`` messages per second, once the nodes have settled again,
   sent open loop over ``--steady-connections`` connections (message i leaves at i / rate
   seconds whatever the answers before it took): from the sender's ``created`` time to the
   recipient's ``received_at`` (one clock: every node runs on this machine); p50, p99, and
   the rate achieved; and the sender's answer (202) from each message's due time.
3. Raw JetStream: the same number of 4 KB payloads published (with a message id for
   deduplication, awaiting each acknowledgement) and consumed by a durable pull consumer.

With each phase, the CPU time each process spent per message during it (from
/proc/<pid>/stat), the benchmark's own ("client") included: what the 2 cores are shared
between, and so the bound the figure is under whatever else the machine runs (messages/s
can be at most cores x 1000 / the sum).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load import Connection, Response, Run, closed_count, open_loop
from machine import python_seconds, speed_line

from polex.bus.nats import delete_node_streams

BODY = "x" * 4096


def start_demo(
    directory: Path, base_port: int, *, size: float = 0.02, nats: str | None = None
) -> tuple[subprocess.Popen[bytes], dict[str, object]]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "polex",
            "demo",
            "--dir",
            str(directory),
            "--reset",
            "--size",
            str(size),
            "--base-port",
            str(base_port),
            *(["--nats", nats] if nats else []),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    summary_path = directory / "demo.json"
    deadline = time.monotonic() + 600  # the demo prepares five nodes; slow on a busy machine
    while not summary_path.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("polex demo did not start")
        time.sleep(0.5)
    return process, json.loads(summary_path.read_text())


def node_processes(directory: Path) -> dict[str, int]:
    """The demo's node processes (``polex serve --data-dir <directory>/<node>``), by node name."""
    found: dict[str, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            arguments = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"serve" in arguments and b"--data-dir" in arguments:
            data_dir = Path(arguments[arguments.index(b"--data-dir") + 1].decode())
            if data_dir.parent == directory:
                found[data_dir.name] = int(entry.name)
    return found


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


_TOKENS: dict[tuple[str, str], str] = {}
_TOKENS_LOCK = threading.Lock()


def settle(processes: dict[str, int], *, idle_cores: float = 0.4, timeout: float = 180.0) -> float:
    """Wait until the demo's nodes are done starting up (seeding, first replica pulls,
    indexes): their CPU over 2 s under ``idle_cores``. A measure taken during start-up
    counts that work against the messages. Returns the cores they used last."""
    deadline = time.monotonic() + timeout
    while True:
        before = {name: cpu_seconds(pid) for name, pid in processes.items()}
        time.sleep(2.0)
        used = sum(cpu_seconds(pid) - before[name] for name, pid in processes.items()) / 2.0
        if used < idle_cores or time.monotonic() > deadline:
            return used


def bearer_token(summary: dict[str, object], node_name: str, role: str) -> tuple[str, str]:
    """The URL of ``node_name`` and a bearer token of its user with ``role``. The user logs in
    once a run: a login verifies the password with Argon2 (tens of milliseconds of the node's
    CPU by design), which must not be counted against the messages."""
    node = next(n for n in summary["nodes"] if n["name"] == node_name)  # type: ignore[attr-defined]
    user = next(u for u in summary["users"] if u["node"] == node_name and u["role"] == role)  # type: ignore[attr-defined]
    url = node["url"]
    with _TOKENS_LOCK:
        token = _TOKENS.get((url, user["username"]))
        if token is None:
            answer = httpx.post(
                f"{url}/api/v1/auth/token", data={"username": user["username"], "password": user["password"]}
            )
            token = _TOKENS[(url, user["username"])] = answer.json()["access_token"]
    return url, token


def inbox_rows(db: Path, marker: str) -> list[tuple[str, str]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as connection:
        return connection.execute(
            "SELECT created, received_at FROM messages WHERE box = 'inbox' AND subject LIKE ?", (f"{marker}%",)
        ).fetchall()


def wait_for_inbox(db: Path, marker: str, count: int, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(inbox_rows(db, marker)) >= count:
            return time.monotonic()
        time.sleep(0.05)
    raise SystemExit(f"only {len(inbox_rows(db, marker))} of {count} messages arrived")


def send_many(summary: dict[str, object], marker: str, count: int, connections: int, rate: float | None = None) -> Run:
    """Send ``count`` messages from France's investigator to Ukraine over ``connections``
    keep-alive connections: as fast as they are answered (each connection sends its next
    message when the last is accepted), or, at ``rate``, message ``i`` at ``i / rate``
    seconds from the start whether or not earlier ones were answered (an open loop). The
    load comes from benchmarks/load.py (asyncio, raw sockets: tens of microseconds of the
    client's CPU a message, where an httpx client thread took 0.6 to 0.9 ms of the two
    cores the nodes run on). Returns the run: the rate achieved, and each message's time
    to its 202 from when it was due."""
    url, token = bearer_token(summary, "fra", "investigator")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def ask(connection: Connection, index: int) -> Awaitable[Response]:
        body = orjson.dumps({"to": ["UKR"], "subject": f"{marker} {index}", "body": BODY})
        return connection.request("POST", "/api/v1/messages", body, headers)

    def accepted(response: Response) -> str | None:
        return None if response.status == 202 else f"{response.status}: {response.body[:300]!r}"

    if rate is not None:
        run = asyncio.run(open_loop(url, ask, rate=rate, seconds=count / rate, connections=connections, check=accepted))
    else:
        run = asyncio.run(closed_count(url, ask, count, connections=connections, check=accepted))
    if run.failures:
        raise RuntimeError(f"{len(run.failures)} messages refused, the first: {run.failures[0]}")
    return run


def latencies_ms(db: Path, marker: str) -> list[float]:
    from datetime import datetime

    values = []
    for created, received in inbox_rows(db, marker):
        values.append((datetime.fromisoformat(received) - datetime.fromisoformat(created)).total_seconds() * 1000)
    return sorted(values)


async def raw_jetstream(url: str, count: int) -> float:
    import nats

    connection = await nats.connect(url)
    stream = f"BENCH{secrets.token_hex(4).upper()}"
    jetstream = connection.jetstream()
    await jetstream.add_stream(name=stream, subjects=[f"{stream}.>"])
    payload = BODY.encode()
    started = time.perf_counter()
    for index in range(count):
        await jetstream.publish(f"{stream}.ukr", payload, headers={"Nats-Msg-Id": f"m{index}"})
    subscription = await jetstream.pull_subscribe(f"{stream}.ukr", durable="bench")
    received = 0
    while received < count:
        for message in await subscription.fetch(min(500, count - received), timeout=10):
            await message.ack()
            received += 1
    elapsed = time.perf_counter() - started
    await jetstream.delete_stream(stream)
    await connection.close()
    return elapsed


def percentile(values: list[float], fraction: float) -> float:
    return values[min(len(values) - 1, int(fraction * len(values)))]


@dataclass
class Measured:
    throughput: float
    accepted: float
    achieved: float
    latencies: list[float]  # at the steady rate, from the sender's created to the recipient's received_at
    api_latencies: list[float]  # at the steady rate, from each message's due time to its 202
    cpu_ms: dict[str, float]  # per message, by process, during the throughput run
    steady_cpu_ms: dict[str, float]  # the same at the steady rate


def measure(args: argparse.Namespace, nats: str | None, base_port: int) -> Measured:
    with tempfile.TemporaryDirectory(prefix="polex-bench-") as folder:
        process, summary = start_demo(Path(folder), base_port, nats=nats)
        try:
            ukr_db = Path(folder) / "ukr" / "polex.db"
            processes = node_processes(Path(folder).resolve())
            warm = f"W{secrets.token_hex(3)}"  # connections, caches, the first rounds of each hop
            send_many(summary, warm, 100, args.connections)
            wait_for_inbox(ukr_db, warm, 100, timeout=300)
            idle = settle(processes)
            print(f"settled: the idle nodes use {idle:.2f} cores", file=sys.stderr)
            marker = f"T{secrets.token_hex(3)}"
            cpu_before = {name: cpu_seconds(pid) for name, pid in processes.items()}
            client_before = time.process_time()
            started = time.monotonic()
            send_many(summary, marker, args.messages, args.connections)
            accepted = time.monotonic()
            finished = wait_for_inbox(ukr_db, marker, args.messages, timeout=600)
            cpu_ms = {
                name: (cpu_seconds(pid) - cpu_before[name]) * 1000 / args.messages for name, pid in processes.items()
            }
            cpu_ms["client"] = (time.process_time() - client_before) * 1000 / args.messages

            # The burst leaves receipts and delivery reports to finish: the steady rate starts
            # on nodes that are done with it, as it would in a steady state.
            settle(processes)
            steady = f"S{secrets.token_hex(3)}"
            steady_count = int(args.rate * args.steady_seconds)
            cpu_before = {name: cpu_seconds(pid) for name, pid in processes.items()}
            client_before = time.process_time()
            sent = send_many(summary, steady, steady_count, args.steady_connections, rate=args.rate)
            wait_for_inbox(ukr_db, steady, steady_count, timeout=600)
            steady_cpu_ms = {
                name: (cpu_seconds(pid) - cpu_before[name]) * 1000 / steady_count for name, pid in processes.items()
            }
            steady_cpu_ms["client"] = (time.process_time() - client_before) * 1000 / steady_count
            return Measured(
                throughput=args.messages / (finished - started),
                accepted=args.messages / (accepted - started),
                achieved=sent.achieved_rate,
                latencies=latencies_ms(ukr_db, steady),
                api_latencies=sent.latencies_ms,
                cpu_ms=cpu_ms,
                steady_cpu_ms=steady_cpu_ms,
            )
        finally:
            os.killpg(process.pid, signal.SIGINT)
            process.wait(timeout=60)
            if nats:  # the demo's streams go with its data
                delete_node_streams(nats, [node["name"] for node in summary["nodes"]])  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--steady-seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=4, help="Clients sending as fast as they are answered")
    parser.add_argument("--steady-connections", type=int, default=16, help="Connections the steady rate is sent on")
    parser.add_argument("--nats", default="nats://127.0.0.1:4222")
    parser.add_argument("--base-port", type=int, default=18400 + os.getpid() % 500 * 10)
    args = parser.parse_args()

    speed = python_seconds()  # before any node starts: the machine as quiet as it gets
    runs = {
        "embedded transport (HTTP, SQLite)": measure(args, None, args.base_port),
        "NATS JetStream transport (SQLite)": measure(args, args.nats, args.base_port + 10),
    }
    raw_seconds = asyncio.run(raw_jetstream(args.nats, args.messages))
    raw_rate = args.messages / raw_seconds
    print(f"{args.messages} messages of 4 KB, fra -> hub -> ukr, signed and encrypted (ES256, ECDH-ES+A256KW, A256GCM)")
    print(speed_line(speed))
    print(f"{'path':<56}{'messages/s':>12}{'vs raw':>9}")
    for name, run in runs.items():
        print(f"{'polex, ' + name + ', end to end':<56}{run.throughput:>12,.0f}{run.throughput / raw_rate:>9.3f}")
        print(f"{'  of which accepted by the sender API':<56}{run.accepted:>12,.0f}")
    print(f"{'raw NATS JetStream publish + consume (reference)':<56}{raw_rate:>12,.0f}{1:>9.3f}")
    for name, run in runs.items():
        for phase, spent_ms in (("throughput", run.cpu_ms), (f"{args.rate:.0f}/s", run.steady_cpu_ms)):
            spent = ", ".join(
                f"{process} {ms:.2f}" for process, ms in sorted(spent_ms.items(), key=lambda item: -item[1])
            )
            print(f"{name}: CPU ms per message at {phase}, by process: {spent} (sum {sum(spent_ms.values()):.1f})")
    for name, run in runs.items():
        latencies, api = run.latencies, run.api_latencies
        print(
            f"{name}: latency at a steady {args.rate:.0f}/s asked, {run.achieved:.0f}/s achieved, "
            f"over {args.steady_seconds:.0f} s ({len(latencies)} messages): "
            f"p50 {statistics.median(latencies):.0f} ms, p99 {percentile(latencies, 0.99):.0f} ms, "
            f"max {latencies[-1]:.0f} ms; the sender's 202: p50 {statistics.median(api):.1f} ms, "
            f"p99 {percentile(api, 0.99):.1f} ms"
        )


if __name__ == "__main__":
    main()
