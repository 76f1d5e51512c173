"""Single document checks over HTTP against the hub of ``polex demo``: capacity, and latency
(p50, p99) at a steady rate, of ``POST /api/v1/documents/check`` with one document, beside
the same questions asked through the record list filter (``GET /api/v1/travel-documents?
number=&issuing_country=``, a scan of the store's projected terms), in one run.

Run: .venv/bin/python benchmarks/check_http.py [--size 0.2] [--seconds 10] [--rate 500]

The demo (hub and four national nodes, separate processes, SQLite) is started; at the hub,
Ukraine's officer checks documents of every member country for border control: 1 % of
them on file (numbers read from the hub's store), the rest random. For each path: the
first 1,000 questions one after the other, whose hits must be exactly the documents on
file among them; the capacity (``--connections`` clients each asking again as soon as it
is answered), with the hub's CPU time per request over it; then ``--rate`` requests a
second offered on a fixed schedule for ``--seconds``, each latency counted from the moment
its request was due (load.py: an asyncio load generator on raw sockets, so that the client
costs the shared cores little).
Targets (issue 5): 500 checks per second with p99 under 10 ms.
"""

from __future__ import annotations

import argparse
import asyncio
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
from message_throughput import start_demo

COUNTRIES = ("FRA", "UKR", "GRC", "JPN")


def filed_numbers(db: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        rows = connection.execute("SELECT key FROM record_keys WHERE key LIKE 'doc:%'").fetchall()
    return [(key.split(":")[1], key.split(":")[2]) for (key,) in rows]


def questions(filed: list[tuple[str, str]], count: int, rng: random.Random) -> list[tuple[str, str]]:
    asked = []
    for index in range(count):
        if index % 100 == 0 and filed:
            asked.append(rng.choice(filed))
        else:
            asked.append((rng.choice(COUNTRIES), f"{rng.randrange(10**8, 10**9)}"))
    return asked


def login(url: str, username: str, password: str) -> httpx.Client:
    token = httpx.post(f"{url}/api/v1/auth/token", data={"username": username, "password": password})
    token.raise_for_status()
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token.json()['access_token']}"}, timeout=30)


def check_request(token: str, asked: list[tuple[str, str]]) -> Callable[[Connection, int], Awaitable[Response]]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

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


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=float, default=0.2, help="the demo's data size")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=500.0, help="the steady rate offered (requests/s)")
    parser.add_argument("--connections", type=int, default=8, help="clients of the capacity run")
    parser.add_argument("--base-port", type=int, default=19400 + os.getpid() % 500 * 10)
    args = parser.parse_args()
    rng = random.Random(11)
    rows: list[tuple[str, float, Run, float]] = []
    with tempfile.TemporaryDirectory(prefix="polex-bench-") as folder:
        process, summary = start_demo(Path(folder), args.base_port, size=args.size)
        try:
            hub = next(node for node in summary["nodes"] if node["role"] == "hub")  # type: ignore[attr-defined]
            officer = next(user for user in summary["users"] if user["username"] == "ukr.officer")  # type: ignore[attr-defined]
            filed = filed_numbers(Path(folder) / hub["name"] / "polex.db")
            asked = questions(filed, 200_000, rng)
            login = {"username": officer["username"], "password": officer["password"]}
            pid = server_pid(Path(folder) / hub["name"])
            token = httpx.post(f"{hub['url']}/api/v1/auth/token", data=login).raise_for_status().json()["access_token"]
            for name, make in (
                ("POST /api/v1/documents/check (index)", check_request),
                ("GET list filter (terms scan)", list_request),
            ):
                ask = make(token, asked)
                # Correctness first: the first 1,000 questions, one after the other, find exactly
                # the documents on file among them.
                answers = asyncio.run(sequential(hub["url"], ask, 1000))
                expected = sum(1 for question in asked[:1000] if question in set(filed))
                if any(answered(response) for response in answers) or hits_of(answers) != expected:
                    raise SystemExit(f"{name}: wrong answers ({hits_of(answers)} hits, {expected} on file)")
                used = cpu_seconds(pid)
                capacity = asyncio.run(closed_loop(hub["url"], ask, seconds=args.seconds, connections=args.connections))
                used = cpu_seconds(pid) - used
                cpu_ms = used / (capacity * args.seconds) * 1000
                steady = asyncio.run(open_loop(hub["url"], ask, rate=args.rate, seconds=args.seconds, check=answered))
                rows.append((name, capacity, steady, cpu_ms))
        finally:
            os.killpg(process.pid, signal.SIGINT)
            process.wait(timeout=60)
    print(f"hub with {len(filed):,} documents on file; 1 % of the questions are on file")
    print(f"capacity: {args.connections} clients, each asking again when answered; steady: {args.rate:,.0f}/s offered")
    print(f"load average during the run: {os.getloadavg()[0]:.2f} (2 cores)")
    header = f"{'':<40}{'capacity/s':>11}{'CPU ms':>8}{'steady/s':>9}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}"
    print(header + f"{'errors':>7}{'x index':>9}")
    for name, capacity, steady, cpu_ms in rows:
        print(
            f"{name:<40}{capacity:>11,.0f}{cpu_ms:>8.2f}{steady.achieved_rate:>9,.0f}{steady.percentile(0.5):>8.2f}"
            f"{steady.percentile(0.99):>8.2f}{steady.latencies_ms[-1]:>8.1f}{len(steady.failures):>7}"
            f"{rows[0][1] / capacity:>8.1f}x"
        )
    for name, _, steady, _ in rows:
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
