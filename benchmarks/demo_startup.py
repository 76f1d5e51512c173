"""How long `polex demo` takes to be up (every node healthy) and to stop, against its 60 s budget.

Run: .venv/bin/python benchmarks/demo_startup.py [--runs 3] [--size 1.0]

Each run starts from empty data (preparing and seeding every node), then a second start
reuses that data, as a user's second `polex demo` does. Times are wall-clock seconds on
this machine; the ratio to the 60 s budget is what to compare across machines.
"""

from __future__ import annotations

import argparse
import json
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

BUDGET_SECONDS = 60.0


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def one_start(demo_dir: Path, base_port: int, size: float) -> tuple[float, float, int]:
    """Seconds until every node answers /healthz, seconds to stop, and records seeded."""
    command = [
        sys.executable,
        "-m",
        "polex",
        "demo",
        "--dir",
        str(demo_dir),
        "--base-port",
        str(base_port),
        "--size",
        str(size),
    ]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    summary = demo_dir / "demo.json"
    while True:
        if process.poll() is not None:
            raise SystemExit(f"polex demo exited with {process.returncode}")
        if summary.exists():
            nodes = json.loads(summary.read_text())["nodes"]
            if all(healthy(node["url"]) for node in nodes):
                break
        time.sleep(0.1)
    up = time.perf_counter() - started
    records = 0
    for node in nodes:
        with sqlite3.connect(Path(node["data_dir"]) / "polex.db") as connection:
            records += connection.execute("SELECT count(*) FROM records").fetchone()[0]
    stopping = time.perf_counter()
    process.send_signal(signal.SIGINT)
    process.wait(timeout=60)
    return up, time.perf_counter() - stopping, records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size", type=float, default=1.0)
    parser.add_argument("--base-port", type=int, default=18400)
    arguments = parser.parse_args()
    fresh, reused, stops = [], [], []
    records = 0
    for _ in range(arguments.runs):
        with tempfile.TemporaryDirectory() as directory:
            up, stop, records = one_start(Path(directory) / "demo", arguments.base_port, arguments.size)
            fresh.append(up)
            stops.append(stop)
            up, stop, _ = one_start(Path(directory) / "demo", arguments.base_port, arguments.size)
            reused.append(up)
            stops.append(stop)
    print(f"polex demo, {arguments.runs} runs, size {arguments.size} ({records} records over all nodes)")
    print(f"{'':28} {'min':>7} {'median':>7} {'max':>7}  median/budget")
    for label, values in (
        ("up, fresh data (s)", fresh),
        ("up, reusing data (s)", reused),
        ("stop on SIGINT (s)", stops),
    ):
        median = statistics.median(values)
        ratio = f"{median / BUDGET_SECONDS:.2f}" if "up" in label else ""
        print(f"{label:28} {min(values):7.1f} {median:7.1f} {max(values):7.1f}  {ratio}")


if __name__ == "__main__":
    main()
