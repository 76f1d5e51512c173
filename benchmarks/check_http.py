"""Single document checks over HTTP against the hub of ``polex demo``: capacity, and latency
(p50, p99) at a steady rate, of ``POST /api/v1/documents/check`` with one document (answered
by the lean path in front of the FastAPI route, polex.screening.border), beside the same
check answered by the FastAPI route (the lean path hands it over), and beside the same
questions asked through the record list filter (``GET /api/v1/travel-documents?
number=&issuing_country=``, a scan of the store's projected terms), in one run.

Run: .venv/bin/python benchmarks/check_http.py [--size 0.2] [--seconds 10] [--rate 500]
         [--paths lean,route,list] [--warm-up 0] [--on-file 0.01] [--placements shared,own-core]

``--warm-up S`` offers the steady rate for S seconds before the measured run (the hub's
caches and heap settle; ten seconds at 500/s hold too few requests for a stall every few
seconds to show in every run); ``--paths`` picks the rows.

The demo (hub and four national nodes, separate processes, SQLite) is started; at the hub,
Ukraine's officer checks documents of every member country for border control: 1 % of
them (``--on-file``) on file (numbers read from the hub's store), the rest random. For each path: the
first 1,000 questions one after the other, whose hits must be exactly the documents on
file among them; the capacity (``--connections`` clients each asking again as soon as it
is answered), with the hub's CPU time per request over it (all its threads, and its event
loop's alone); then ``--rate`` requests a
second offered on a fixed schedule for ``--seconds``, each latency counted from the moment
its request was due (load.py: an asyncio load generator on raw sockets, so that the client
costs the shared cores little).

``--placements`` says where the processes run, each a row of its own in the same run: on
``shared`` cores (every process wherever the kernel puts it), or with the hub on a core of
its ``own`` (``own-core``: every thread of the hub on the last CPU, the load generator, the
demo's other nodes and its supervisor on the others), as a hub would have its own machine
or a cpuset of its own in production, away from the clients and the national nodes.
Targets (issue 5): 500 checks per second with p99 under 10 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import sqlite3
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlencode

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load import Connection, Response, Run, closed_loop, open_loop
from machine import python_seconds, speed_line
from message_throughput import start_demo
from processes import descendants

COUNTRIES = ("FRA", "UKR", "GRC", "JPN")


def filed_numbers(db: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        rows = connection.execute("SELECT key FROM record_keys WHERE key LIKE 'doc:%'").fetchall()
    return [(key.split(":")[1], key.split(":")[2]) for (key,) in rows]


def questions(
    filed: list[tuple[str, str]], count: int, rng: random.Random, on_file: float = 0.01
) -> list[tuple[str, str]]:
    asked = []
    every = round(1 / on_file) if on_file > 0 else 0
    for index in range(count):
        if every and index % every == 0 and filed:
            asked.append(rng.choice(filed))
        else:
            asked.append((rng.choice(COUNTRIES), f"{rng.randrange(10**8, 10**9)}"))
    return asked


def login(url: str, username: str, password: str) -> httpx.Client:
    token = httpx.post(f"{url}/api/v1/auth/token", data={"username": username, "password": password})
    token.raise_for_status()
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token.json()['access_token']}"}, timeout=30)


def check_request(token: str, asked: list[tuple[str, str]]) -> Callable[[Connection, int], Awaitable[Response]]:
    headers = [("Authorization", f"Bearer {token}"), ("Content-Type", "application/json")]
    return _check(headers, asked)


def routed_check_request(token: str, asked: list[tuple[str, str]]) -> Callable[[Connection, int], Awaitable[Response]]:
    """The same check, answered by the FastAPI route rather than the lean path in front of it
    (polex.screening.border): the purpose header sent twice, which only the route decides on
    (it takes the first), so the lean path hands the request over. The answer is the same."""
    purpose = ("X-Polex-Purpose", "border_control")
    headers = [("Authorization", f"Bearer {token}"), ("Content-Type", "application/json"), purpose, purpose]
    return _check(headers, asked)


Ask = Callable[[Connection, int], Awaitable[Response]]


def _check(headers: list[tuple[str, str]], asked: list[tuple[str, str]]) -> Ask:
    def ask(connection: Connection, index: int) -> Awaitable[Response]:
        country, number = asked[index % len(asked)]
        body = {"purpose": "border_control", "documents": [{"number": number, "country": country}]}
        return connection.request("POST", "/api/v1/documents/check", json.dumps(body).encode(), headers)

    return ask


def list_request(token: str, asked: list[tuple[str, str]]) -> Callable[[Connection, int], Awaitable[Response]]:
    headers = {"Authorization": f"Bearer {token}", "X-Polex-Purpose": "border_control"}

    def ask(connection: Connection, index: int) -> Awaitable[Response]:
        country, number = asked[index % len(asked)]
        query = urlencode({"number": number, "issuing_country": country, "limit": 1})
        return connection.request("GET", f"/api/v1/travel-documents?{query}", b"", headers)

    return ask


def answered(response: Response) -> str | None:
    return None if response.status == 200 else f"HTTP {response.status}: {response.body[:200]!r}"


def hits_of(responses: list[Response]) -> int:
    found = 0
    for response in responses:
        data = json.loads(response.body)
        found += bool(data["results"][0]["hit"]) if "results" in data else bool(data["items"])
    return found


def server_pid(data_dir: Path) -> int:
    """The process serving a node of the demo (its command line names the node's folder)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                arguments = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"serve" in arguments and str(data_dir).encode() in arguments:
                return int(entry.name)
    raise SystemExit(f"no process serves {data_dir}")


def place(placement: str, demo_pid: int, hub_pid: int) -> None:
    """Put the hub on a core of its own (``own-core``), or every process on every core
    (``shared``). Threads started later inherit their creator's CPUs."""
    everything = set(range(os.cpu_count() or 1))
    own = {max(everything)} if placement == "own-core" and len(everything) > 1 else everything
    others = everything - own or everything
    for pid in [demo_pid, *descendants(demo_pid), os.getpid()]:
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):  # a thread that ended meanwhile
                os.sched_setaffinity(int(task.name), own if pid == hub_pid else others)


def cpu_seconds(pid: int, thread: int | None = None) -> float:
    """User and system CPU time of a process so far (or of one of its threads)."""
    stat = Path(f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat")
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=float, default=0.2, help="the demo's data size")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=500.0, help="the steady rate offered (requests/s)")
    parser.add_argument("--connections", type=int, default=8, help="clients of the capacity run")
    parser.add_argument("--paths", default="lean,route,list", help="which of lean, route, list to measure")
    parser.add_argument("--warm-up", type=float, default=0.0, help="seconds at the steady rate before measuring")
    parser.add_argument("--on-file", type=float, default=0.01, help="the share of questions on file (hits)")
    parser.add_argument(
        "--placements", default="shared,own-core", help="shared cores, and/or the hub on a core of its own"
    )
    parser.add_argument("--base-port", type=int, default=19400 + os.getpid() % 500 * 10)
    args = parser.parse_args()
    unknown = set(args.placements.split(",")) - {"shared", "own-core"}
    if unknown:
        parser.error(f"--placements: {', '.join(sorted(unknown))} is not one of shared, own-core")
    speed = python_seconds()  # before the demo starts: the machine as quiet as it gets
    rng = random.Random(11)
    rows: list[tuple[str, float, Run, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="polex-bench-") as folder:
        process, summary = start_demo(Path(folder), args.base_port, size=args.size)
        try:
            hub = next(node for node in summary["nodes"] if node["role"] == "hub")  # type: ignore[attr-defined]
            officer = next(user for user in summary["users"] if user["username"] == "ukr.officer")  # type: ignore[attr-defined]
            filed = filed_numbers(Path(folder) / hub["name"] / "polex.db")
            asked = questions(filed, 200_000, rng, args.on_file)
            login = {"username": officer["username"], "password": officer["password"]}
            pid = server_pid(Path(folder) / hub["name"])
            token = httpx.post(f"{hub['url']}/api/v1/auth/token", data=login).raise_for_status().json()["access_token"]
            paths = {
                "lean": ("POST documents/check (lean path)", check_request),
                "route": ("POST documents/check (FastAPI route)", routed_check_request),
                "list": ("GET list filter (terms scan)", list_request),
            }
            runs = [(path, placement) for path in args.paths.split(",") for placement in args.placements.split(",")]
            for path, placement in runs:
                name, make = paths[path]
                name = f"{name}, {placement}"
                ask = make(token, asked)
                place(placement, process.pid, pid)
                # Correctness first: the first 1,000 questions, one after the other, find exactly
                # the documents on file among them.
                answers = asyncio.run(sequential(hub["url"], ask, 1000))
                expected = sum(1 for question in asked[:1000] if question in set(filed))
                if any(answered(response) for response in answers) or hits_of(answers) != expected:
                    raise SystemExit(f"{name}: wrong answers ({hits_of(answers)} hits, {expected} on file)")
                # The main thread runs the event loop; the others wait for the store (the audit
                # trail's commits) and run the node's background tasks.
                used, loop_used = cpu_seconds(pid), cpu_seconds(pid, pid)
                capacity = asyncio.run(closed_loop(hub["url"], ask, seconds=args.seconds, connections=args.connections))
                requests = capacity * args.seconds
                cpu_ms = (cpu_seconds(pid) - used) / requests * 1000
                loop_ms = (cpu_seconds(pid, pid) - loop_used) / requests * 1000
                if args.warm_up > 0:
                    asyncio.run(open_loop(hub["url"], ask, rate=args.rate, seconds=args.warm_up, check=answered))
                steady = asyncio.run(open_loop(hub["url"], ask, rate=args.rate, seconds=args.seconds, check=answered))
                rows.append((name, capacity, steady, cpu_ms, loop_ms))
        finally:
            os.killpg(process.pid, signal.SIGINT)
            process.wait(timeout=60)
    print(f"hub with {len(filed):,} documents on file; {args.on_file:.1%} of the questions are on file")
    print(f"capacity: {args.connections} clients, each asking again when answered; steady: {args.rate:,.0f}/s offered")
    if args.warm_up > 0:
        print(f"the steady run followed {args.warm_up:.0f} s of warm-up at the same rate")
    print(f"load average during the run: {os.getloadavg()[0]:.2f} (2 cores); {speed_line(speed)}")
    print("of capacity: the steady rate achieved, as a share of the capacity measured just before it")
    print("CPU ms: the hub's CPU time a request over the capacity run; loop ms: of which its event loop's")
    header = f"{'':<50}{'capacity/s':>11}{'CPU ms':>8}{'loop ms':>8}{'steady/s':>9}{'p50 ms':>8}{'p99 ms':>8}"
    print(header + f"{'max ms':>8}{'>10 ms':>8}{'errors':>7}{'x first':>8}{'of capacity':>12}")
    for name, capacity, steady, cpu_ms, loop_ms in rows:
        print(
            f"{name:<50}{capacity:>11,.0f}{cpu_ms:>8.2f}{loop_ms:>8.2f}{steady.achieved_rate:>9,.0f}"
            f"{steady.percentile(0.5):>8.2f}{steady.percentile(0.99):>8.2f}{steady.latencies_ms[-1]:>8.1f}"
            f"{sum(1 for latency in steady.latencies_ms if latency > 10):>8,}"
            f"{len(steady.failures):>7}{rows[0][1] / capacity:>7.1f}x{steady.achieved_rate / capacity:>12.0%}"
        )
    for name, _, steady, _, _ in rows:
        for failure in steady.failures[:3]:
            print(f"{name}: {failure}")


async def sequential(url: str, ask: Callable[[Connection, int], Awaitable[Response]], count: int) -> list[Response]:
    connection = await Connection.open(url)
    try:
        return [await ask(connection, index) for index in range(count)]
    finally:
        await connection.close()


if __name__ == "__main__":
    main()
