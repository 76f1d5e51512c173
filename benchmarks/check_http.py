"""Single document checks over HTTP against the hub of ``polex demo``: checks per second and
latency (p50, p99) of ``POST /api/v1/documents/check`` with one document, beside the same
questions asked through the record list filter (``GET /api/v1/travel-documents?number=&
issuing_country=``, a scan of the store's projected terms), in one run.

Run: .venv/bin/python benchmarks/check_http.py [--size 0.2] [--seconds 10] [--clients 4]

The demo (hub and four national nodes, separate processes, SQLite) is started; at the hub,
Ukraine's officer checks documents of every member country for border control: 1 % of
them on file (numbers read from the hub's store), the rest random. Latency is measured by
one client sending one check after another; throughput by ``--clients`` clients in
threads of this process (the server is the demo's hub process: one core for it, one for
the load). Targets (issue 5): 500 checks per second with p99 under 10 ms.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from message_throughput import percentile, start_demo

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


def by_check(client: httpx.Client, country: str, number: str) -> bool:
    body = {"purpose": "border_control", "documents": [{"number": number, "country": country}]}
    response = client.post("/api/v1/documents/check", json=body)
    response.raise_for_status()
    return bool(response.json()["results"][0]["hit"])


def by_list(client: httpx.Client, country: str, number: str) -> bool:
    response = client.get(
        "/api/v1/travel-documents",
        params={"number": number, "issuing_country": country, "limit": 1},
        headers={"X-Polex-Purpose": "border_control"},
    )
    response.raise_for_status()
    return bool(response.json()["items"])


Ask = Callable[[httpx.Client, str, str], bool]


def latency(client: httpx.Client, ask: Ask, asked: list[tuple[str, str]], seconds: float) -> tuple[list[float], int]:
    timings: list[float] = []
    hits = 0
    deadline = time.monotonic() + seconds
    for country, number in asked:
        started = time.perf_counter()
        hits += ask(client, country, number)
        timings.append((time.perf_counter() - started) * 1000)
        if time.monotonic() > deadline:
            break
    return sorted(timings), hits


def throughput(clients: list[httpx.Client], ask: Ask, asked: list[tuple[str, str]], seconds: float) -> float:
    done = [0] * len(clients)
    stop = time.monotonic() + seconds

    def work(slot: int) -> None:
        for position in range(slot, len(asked), len(clients)):
            if time.monotonic() > stop:
                return
            country, number = asked[position]
            ask(clients[slot], country, number)
            done[slot] += 1

    threads = [threading.Thread(target=work, args=(slot,)) for slot in range(len(clients))]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done) / (time.monotonic() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=float, default=0.2, help="the demo's data size")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--base-port", type=int, default=19400 + os.getpid() % 500 * 10)
    args = parser.parse_args()
    rng = random.Random(11)
    rows: list[tuple[str, float, float, float, int, int]] = []
    with tempfile.TemporaryDirectory(prefix="polex-bench-") as folder:
        process, summary = start_demo(Path(folder), args.base_port, size=args.size)
        try:
            hub = next(node for node in summary["nodes"] if node["role"] == "hub")  # type: ignore[attr-defined]
            officer = next(user for user in summary["users"] if user["username"] == "ukr.officer")  # type: ignore[attr-defined]
            filed = filed_numbers(Path(folder) / hub["name"] / "polex.db")
            asked = questions(filed, 200_000, rng)
            clients = [login(hub["url"], officer["username"], officer["password"]) for _ in range(args.clients)]
            for name, ask in (
                ("POST /api/v1/documents/check (index)", by_check),
                ("GET list filter (terms scan)", by_list),
            ):
                for country, number in asked[:200]:  # warm up
                    ask(clients[0], country, number)
                timings, hits = latency(clients[0], ask, asked, args.seconds)
                rate = throughput(clients, ask, asked, args.seconds)
                rows.append((name, rate, statistics.median(timings), percentile(timings, 0.99), len(timings), hits))
        finally:
            os.killpg(process.pid, signal.SIGINT)
            process.wait(timeout=60)
    print(f"hub with {len(filed):,} documents on file; 1 % of the questions are on file; {args.clients} clients")
    print(f"{'':<40}{'checks/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'asked':>8}{'hits':>6}{'x index':>9}")
    for name, rate, p50, p99, count, hits in rows:
        print(f"{name:<40}{rate:>10,.0f}{p50:>9.2f}{p99:>9.2f}{count:>8,}{hits:>6}{rows[0][1] / rate:>8.1f}x")


if __name__ == "__main__":
    main()
