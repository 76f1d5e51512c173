"""The price of tamper evidence, and proof and verification times of the audit log.

Run: .venv/bin/python benchmarks/audit_log.py [--events 200000] [--batch 1000]
         [--proof-size 10000000] [--verify-events 1000000] [--backends sqlite,postgresql]

1. Throughput: the same audit events written (a) as plain inserts into copies of the audit
   tables, without sequence numbers, leaf hashes, tree or checkpoints, and (b) through
   polex's audit trail with integration and a signed checkpoint every second, on each
   backend, side by side in one run. The ratio is the overhead of tamper evidence.
2. Proofs at --proof-size entries (SQLite): a log of synthetic leaves is built directly,
   integrated into the tree, then inclusion and consistency proofs are timed (median and
   99th percentile over random positions) and checked.
3. Full verification (`polex audit verify`) time per million real events.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import MetaData, Table, create_engine, insert, text

from polex.audit import merkle
from polex.audit.repository import EVENT_COLUMNS, AuditRepository, bind_value, bulk_insert
from polex.audit.sealing import TermSealer
from polex.audit.service import EventDraft
from polex.bootstrap import Node
from polex.domain.audit import Actor, AuditTag, canonical_entry
from polex.domain.base import new_id
from polex.provision import NodeIdentity, initialise_node
from polex.settings import NodeRole
from polex.storage.tables import AuditEventRecordRow, AuditEventRow, AuditEventTermRow

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SEALERS: dict[Path, TermSealer] = {}
ACTOR = Actor(kind="user", id=new_id(), name="officer", agency_id=new_id(), country="FRA")


def node_on(backend: str, directory: Path) -> tuple[Node, Callable[[], None]]:
    identity = NodeIdentity(name="bench", country="FRA", role=NodeRole.NATIONAL, port=8499)
    if backend == "sqlite":
        return initialise_node(directory, identity), lambda: None
    schema = f"polex_bench_{new_id()[:8]}"
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{POSTGRES}?options=-csearch_path%3D{schema}"

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return initialise_node(directory, identity, database_url=url), drop


def drafts(count: int) -> list[EventDraft]:
    return [
        EventDraft(
            tag=AuditTag.PERSON_LISTED,
            actor=ACTOR,
            record_kind="person",
            record_ids=[new_id(), new_id()],
            result_count=2,
            query_terms={f"person|name:n{index}": f"name=n{index}"},
        )
        for index in range(count)
    ]


def plain_tables(node: Node) -> tuple[Table, Table, Table]:
    """Copies of the audit tables under other names: the same columns and indexes."""
    copies = []
    metadata = MetaData()
    for table in (AuditEventRow.__table__, AuditEventRecordRow.__table__, AuditEventTermRow.__table__):
        copy = table.to_metadata(metadata, name=f"plain_{table.name}")  # type: ignore[attr-defined]
        for index in list(copy.indexes):
            index.name = f"plain_{index.name}"
        for constraint in copy.constraints:
            if constraint.name:
                constraint.name = f"plain_{constraint.name}"
        copies.append(copy)
    metadata.create_all(node.engine, tables=copies)
    return copies[0], copies[1], copies[2]


def write_plain(node: Node, tables: tuple[Table, Table, Table], batch: list[EventDraft], offset: int) -> None:
    """What any audit log must do: build each event, serialise it, store it with its index
    rows. No sequence reservation, leaf hash, tree or checkpoint."""
    events: list[tuple[object, ...]] = []
    records: list[tuple[str, int]] = []
    terms: list[tuple[str, int]] = []
    now = dt.datetime.now(dt.UTC)
    sealer = SEALERS.setdefault(node.settings.keys_dir, TermSealer.load_or_create(node.settings.keys_dir))
    for seq, draft in enumerate(batch, start=offset):
        hashes = sorted({sealer.term_hash(term) for term in draft.query_terms})
        event_id = new_id()
        entry = canonical_entry(
            seq=seq,
            id=event_id,
            at=now,
            tag=draft.tag,
            actor=draft.actor,
            record_kind=draft.record_kind,
            record_ids=list(draft.record_ids),
            purpose=None,
            case_reference=None,
            decision=draft.decision,
            result_count=draft.result_count,
            request_id=None,
            query_hashes=hashes,
            query_sealed=sealer.seal(draft.query_terms, event_id),
            details=draft.details,
        )
        events.append(
            (
                seq,
                event_id,
                draft.tag.value,
                ACTOR.id,
                ACTOR.agency_id,
                ACTOR.country,
                draft.decision.value,
                None,
                entry.decode(),
                b"",
            )
        )
        records.extend((record_id, seq) for record_id in sorted(set(draft.record_ids)))
        terms.extend((term_hash, seq) for term_hash in hashes)
    # The same bulk insert the audit trail uses (COPY or executemany), into the copies.
    with node.engine.begin() as connection:
        stored_at = bind_value(connection, tables[0].c.at.type, now)
        bulk_insert(connection, tables[0].name, ("at", *EVENT_COLUMNS), [(stored_at, *row) for row in events])
        bulk_insert(connection, tables[1].name, ("record_id", "seq"), records)
        bulk_insert(connection, tables[2].name, ("term_hash", "seq"), terms)


def throughput(backend: str, events: int, batch_size: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as directory:
        node, drop = node_on(backend, Path(directory))
        try:
            tables = plain_tables(node)
            batches = [drafts(batch_size) for _ in range(events // batch_size)]
            started = time.perf_counter()
            for number, batch in enumerate(batches):
                write_plain(node, tables, batch, number * batch_size)
            plain = events / (time.perf_counter() - started)

            started = time.perf_counter()
            last_checkpoint = started
            for batch in batches:
                node.audit.record(batch)
                if time.perf_counter() - last_checkpoint >= 1.0:
                    node.audit.checkpoint(force=True)
                    last_checkpoint = time.perf_counter()
            node.audit.checkpoint(force=True)
            audited = events / (time.perf_counter() - started)
            assert node.audit.verify() == events + 1  # every event made it, the set-up one too
        finally:
            node.close()
            drop()
    return plain, audited


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def proofs(size: int, samples: int) -> dict[str, tuple[float, float]]:
    with tempfile.TemporaryDirectory() as directory:
        node, _ = node_on("sqlite", Path(directory))
        try:
            built = time.perf_counter()
            start = node.audit.integrate()
            with node.engine.begin() as connection:
                rows = []
                for seq in range(start, size):
                    rows.append(
                        {
                            "seq": seq,
                            "id": f"{seq:036d}",
                            "at": dt.datetime.now(dt.UTC),
                            "tag": "bench",
                            "decision": "allowed",
                            "entry": "{}",
                            "leaf_hash": hashlib.sha256(b"\0" + seq.to_bytes(8, "big")).digest(),
                        }
                    )
                    if len(rows) == 100_000:
                        connection.execute(insert(AuditEventRow.__table__), rows)  # type: ignore[arg-type]
                        rows = []
                if rows:
                    connection.execute(insert(AuditEventRow.__table__), rows)  # type: ignore[arg-type]
                connection.execute(text("UPDATE audit_state SET size = :size WHERE id = 1"), {"size": size})
            node.audit.integrate()
            root = node.audit.root(size)
            print(f"  built a log of {size:,} synthetic leaves in {time.perf_counter() - built:.0f} s", flush=True)
            rng = random.Random(7)
            timings: dict[str, list[float]] = {"inclusion": [], "consistency": []}
            for _ in range(samples):
                index = rng.randrange(size)
                began = time.perf_counter()
                proof = node.audit.inclusion_proof(index, size)
                timings["inclusion"].append(time.perf_counter() - began)
                with node.uow(read_only=True) as uow:
                    leaf = AuditRepository(uow.session).leaf_hashes_at([index])[index]
                merkle.verify_inclusion(leaf, index, size, proof, root)
                old = rng.randrange(1, size)
                began = time.perf_counter()
                proof = node.audit.consistency_proof(old, size)
                timings["consistency"].append(time.perf_counter() - began)
                merkle.verify_consistency(old, size, node.audit.root(old), root, proof)
        finally:
            node.close()
    return {name: (statistics.median(values), percentile(values, 0.99)) for name, values in timings.items()}


def verification(events: int, backend: str) -> float:
    with tempfile.TemporaryDirectory() as directory:
        node, drop = node_on(backend, Path(directory))
        try:
            for _ in range(events // 1000):
                node.audit.record(drafts(1000))
            node.audit.checkpoint(force=True)
            began = time.perf_counter()
            checked = node.audit.verify()
            elapsed = time.perf_counter() - began
        finally:
            node.close()
            drop()
    return elapsed / checked * 1_000_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--proof-size", type=int, default=10_000_000)
    parser.add_argument("--proof-samples", type=int, default=1000)
    parser.add_argument("--verify-events", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    arguments = parser.parse_args()
    backends = arguments.backends.split(",")

    print(f"1. {arguments.events:,} audit events in batches of {arguments.batch}, checkpoint every second")
    print(f"  {'backend':<11} {'plain inserts/s':>16} {'audited/s':>12} {'audited/plain':>14} {'overhead':>9}")
    for backend in backends:
        plain, audited = throughput(backend, arguments.events, arguments.batch)
        print(f"  {backend:<11} {plain:16,.0f} {audited:12,.0f} {audited / plain:14.2f} {plain / audited - 1:9.0%}")

    print(f"\n2. proofs at {arguments.proof_size:,} entries (SQLite), {arguments.proof_samples} random positions")
    for name, (median, p99) in proofs(arguments.proof_size, arguments.proof_samples).items():
        print(f"  {name:<12} median {median * 1000:.3f} ms, 99th percentile {p99 * 1000:.3f} ms")

    print(f"\n3. full verification of {arguments.verify_events:,} real events")
    for backend in backends:
        print(f"  {backend:<11} {verification(arguments.verify_events, backend):.1f} s per million entries")


if __name__ == "__main__":
    main()
