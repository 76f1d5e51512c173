"""CPU time of one round of each background task of a hub node: idle (nothing new since the
last round), and after a burst of border checks' audit entries.

Run: .venv/bin/python benchmarks/background_rounds.py [--entries 2500] [--repeat 7]
     [--database-url URL]

Every node runs these rounds in its serving process, beside the requests: the audit
checkpointer (integrate the new entries into the Merkle tree, sign when due), the misuse
monitor, the access reports' scan and send, the index follower, and the message hops
(relay, delivery, reports). An idle round is what a quiet node pays several times a second;
a round after ``--entries`` entries is what the hub pays every few seconds under border
checks (2,500 is five seconds at 500 checks a second). Each figure is the median thread CPU
time (``time.thread_time``) of ``--repeat`` rounds, so that other load on the machine
counts less than in wall time.

To compare two versions, run the same command against each (the older one through
``PYTHONPATH=<its src>``), alternately; figures in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from polex.audit.context import RequestInfo
from polex.audit.service import EventDraft
from polex.bootstrap import Node
from polex.domain.audit import Actor, AuditTag
from polex.provision import NodeIdentity, initialise_node
from polex.settings import NodeRole

BURST_ROUNDS = ("checkpoint", "misuse", "access reports", "index follower")


def thread_ms(work: Callable[[], object]) -> float:
    started = time.thread_time()
    work()
    return (time.thread_time() - started) * 1000


def check_entries(node: Node, count: int, *, per_commit: int = 25) -> None:
    """``count`` border checks' audit entries, committed as the border path commits them."""
    actor = Actor(kind="user", id="officer-1", name="ukr.officer", agency_id="agency-ukr", country="UKR")
    request = RequestInfo(request_id="bench", purpose="border_control")
    for first in range(0, count, per_commit):
        node.audit.record_requests(
            [
                (
                    request,
                    [
                        EventDraft(
                            tag=AuditTag.DOCUMENTS_CHECKED,
                            actor=actor,
                            record_kind="travel_document",
                            query_terms={f"doc:FRA:{number:09d}": str(number)},
                            details={"items": 1, "errors": 0, "hits": 0},
                            purpose="border_control",
                        )
                    ],
                )
                for number in range(first, min(count, first + per_commit))
            ]
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=2500, help="audit entries between two busy rounds")
    parser.add_argument("--repeat", type=int, default=7, help="rounds measured per figure (median)")
    parser.add_argument("--database-url", default=None, help="default: a SQLite file in a temporary folder")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="polex-rounds-") as folder:
        identity = NodeIdentity(name="hub", country="XPO", role=NodeRole.HUB, port=8400)
        node = initialise_node(Path(folder) / "hub", identity, database_url=args.database_url)
        try:
            node.screening.watchlist.wait_ready(timeout=300)
            assert node.access_reports is not None
            rounds: dict[str, Callable[[], object]] = {
                "checkpoint": lambda: node.audit.checkpoint(force=True),
                "misuse": node.misuse.run_once,
                "access reports": node.access_reports.run_once,
                "index follower": node.index_follower.run_once,
                "message relay": node.messages.relay_once,
                "message delivery": node.messages.deliver_once,
                "message reports": node.messages.report_once,
            }
            check_entries(node, args.entries)
            for work in rounds.values():  # warm: the monitor's first round reads the last day
                work()
            idle = {
                name: statistics.median(thread_ms(work) for _ in range(args.repeat * 5))
                for name, work in rounds.items()
            }
            busy: dict[str, list[float]] = {name: [] for name in BURST_ROUNDS}
            for _ in range(args.repeat):
                check_entries(node, args.entries)
                for name in BURST_ROUNDS:  # in turn, each after all the entries, as in a node
                    busy[name].append(thread_ms(rounds[name]))
            print(f"hub node, {node.engine.dialect.name}; median thread CPU of a round, ms")
            print(f"{'round':18s} {'idle':>8s} {f'after {args.entries:,} entries':>22s}")
            for name in rounds:
                after = f"{statistics.median(busy[name]):22.2f}" if name in busy else f"{'':>22s}"
                print(f"{name:18s} {idle[name]:8.2f} {after}")
            print(f"audit log: {node.audit.integrate():,} entries")
        finally:
            node.close()


if __name__ == "__main__":
    main()
