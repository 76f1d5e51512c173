"""What a hit costs the hub beside a miss: one document checked at a time, in-process, on a
copy of ``polex demo``'s hub (SQLite), by Ukraine's officer for border control.

A miss reads the in-memory index and commits its audit event with other checks' (group
commit). A hit also reads the record, decides the policy, writes the hit, seals a report
to the owner country's node (signed and encrypted) and queues it in the outbox, with its
audit event, in one transaction: on SQLite that transaction holds the writer's turn which
every border check's audit commit waits for, so its length shows in the checks' p99 over
HTTP (``check_http.py``).

Run: .venv/bin/python benchmarks/hit_cost.py [--size 0.2] [--checks 400] [--rounds 3]

Prints, per kind of check, the CPU and wall time a check (the median of ``--rounds``
rounds of ``--checks`` checks, hits and misses alternating by round), the writing
transactions' hold (begin to commit, SQLAlchemy's engine events) at the median and p90,
and the hit's CPU as a multiple of the miss's.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import event, select

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.append(str(Path(__file__).resolve().parents[1] / "src"))  # last: PYTHONPATH may name another src/

from machine import python_seconds, speed_line
from message_throughput import start_demo

from polex.bootstrap import build_node
from polex.domain.policy import Purpose
from polex.settings import load_settings
from polex.storage.engine import READ_ONLY_OPTION
from polex.storage.tables import RecordKeyRow, RecordRow, UserRow


class WritingTransactions:
    """How long each writing transaction stays open (begin to commit or rollback, on the
    thread that began it): on SQLite, how long it holds the writer's turn."""

    def __init__(self, engine: Any) -> None:
        self._engine = engine
        self._began: dict[int, float] = {}
        self.holds: list[float] = []

    def _begin(self, connection: Any) -> None:
        if not connection.get_execution_options().get(READ_ONLY_OPTION):
            self._began[threading.get_ident()] = time.perf_counter()

    def _end(self, connection: Any) -> None:
        began = self._began.pop(threading.get_ident(), None)
        if began is not None:
            self.holds.append(time.perf_counter() - began)

    def __enter__(self) -> WritingTransactions:
        for name, listener in (("begin", self._begin), ("commit", self._end), ("rollback", self._end)):
            event.listen(self._engine, name, listener)
        return self

    def __exit__(self, *_: object) -> None:
        for name, listener in (("begin", self._begin), ("commit", self._end), ("rollback", self._end)):
            event.remove(self._engine, name, listener)


def prepared_hub(folder: Path, size: float) -> Path:
    """A demo's data, its nodes stopped: the hub's directory."""
    process, summary = start_demo(folder, 19900 + os.getpid() % 50 * 10, size=size)
    os.killpg(process.pid, signal.SIGINT)
    process.wait(timeout=120)
    hub = next(node for node in summary["nodes"] if node["role"] == "hub")  # type: ignore[attr-defined]
    return folder / str(hub["name"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=float, default=0.2, help="the demo's data size")
    parser.add_argument("--checks", type=int, default=400, help="checks a round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each kind")
    args = parser.parse_args()
    speed = python_seconds()
    rng = random.Random(5)
    with tempfile.TemporaryDirectory(prefix="polex-bench-") as folder:
        node = build_node(load_settings(data_dir=prepared_hub(Path(folder), args.size)))
        try:
            node.screening.load_index()
            with node.uow(read_only=True) as uow:
                officer = uow.session.scalar(select(UserRow.id).where(UserRow.username == "ukr.officer"))
                keys = uow.session.scalars(
                    select(RecordKeyRow.key)
                    .join(RecordRow, RecordRow.id == RecordKeyRow.record_id)
                    .where(RecordKeyRow.key.like("doc:%"), RecordRow.owner_country != "UKR")
                ).all()
            assert officer is not None, "the demo has no ukr.officer"
            principal = node.auth.principal_of(officer)

            def check(document: dict[str, str]) -> dict[str, Any]:
                [result] = node.screening.check_documents([document], principal, purpose=Purpose.BORDER_CONTROL)
                return result

            # The documents on file that the officer may see (a restricted record answers as a miss).
            filed = [{"number": key.split(":")[2], "country": key.split(":")[1]} for key in keys]
            on_file = [document for document in filed if check(document)["hit"]]
            if not on_file:
                raise SystemExit("no document on file is visible to Ukraine's officer")

            def hit() -> None:
                if not check(rng.choice(on_file))["hit"]:
                    raise SystemExit("a document on file was not found")

            def miss() -> None:
                if check({"number": str(rng.randrange(10**8, 10**9)), "country": "FRA"})["hit"]:
                    raise SystemExit("a random number was found")

            for _ in range(50):  # warm: caches, the statements' compiled forms, the keys
                hit()
                miss()
            figures: dict[str, list[tuple[float, float]]] = {"hit": [], "miss": []}
            holds: dict[str, list[float]] = {"hit": [], "miss": []}
            kinds: tuple[tuple[str, Callable[[], None]], ...] = (("hit", hit), ("miss", miss))
            for _ in range(args.rounds):
                for name, run in kinds:
                    with WritingTransactions(node.engine) as writing:
                        wall, cpu = time.perf_counter(), time.thread_time()
                        for _ in range(args.checks):
                            run()
                        cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
                    figures[name].append((cpu / args.checks, wall / args.checks))
                    holds[name] += writing.holds
        finally:
            node.close()
    print(f"hub of polex demo --size {args.size}: {len(on_file):,} documents on file visible to ukr.officer")
    print(f"{args.rounds} rounds of {args.checks} checks of each kind, one document a check; {speed_line(speed)}")
    print(f"{'':<8}{'CPU ms':>9}{'wall ms':>9}{'writes/check':>14}{'hold p50 ms':>13}{'hold p90 ms':>13}")
    cpu_of: dict[str, float] = {}
    for name in ("hit", "miss"):
        cpu_of[name] = statistics.median(cpu for cpu, _ in figures[name])
        wall = statistics.median(wall for _, wall in figures[name])
        held = sorted(holds[name])
        per_check = len(held) / (args.rounds * args.checks)
        p50 = f"{statistics.median(held) * 1000:.3f}" if held else "-"
        p90 = f"{held[int(len(held) * 0.9)] * 1000:.3f}" if held else "-"
        print(f"{name:<8}{cpu_of[name] * 1000:>9.3f}{wall * 1000:>9.3f}{per_check:>14.2f}{p50:>13}{p90:>13}")
    print(f"a hit costs {cpu_of['hit'] / cpu_of['miss']:.1f} times a miss's CPU")
    print("(a miss's audit event is committed by the group commit's thread, whose time is not counted here)")


if __name__ == "__main__":
    main()
