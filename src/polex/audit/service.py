"""The audit trail of one node: append events, integrate them into the Merkle tree, sign
checkpoints, serve proofs and searches, and verify everything from the stored events.

Appending happens inside the caller's unit of work (a change and its event commit
together) or in a unit of its own just before data leaves the node (reads). Integration
runs apart, in batches, like Trillian's sequencer: appenders never wait for hashing.
"""

from __future__ import annotations

import base64
import datetime as dt
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Connection, Row

from polex.audit import merkle
from polex.audit.checkpoint import Checkpoint, CheckpointError, CheckpointSigner, open_note
from polex.audit.context import RequestInfo, current_request
from polex.audit.repository import (
    AuditRepository,
    EventQuery,
    insert_events,
    integration_state,
    leaf_hashes,
    reserve,
)
from polex.audit.sealing import TermSealer
from polex.auth.principal import Principal
from polex.domain.audit import Actor, AuditEvent, AuditTag, Decision, canonical_entry, entry_time
from polex.domain.base import new_id
from polex.domain.roles import Permission
from polex.errors import BadRequest, FieldError, NotFound
from polex.storage.group_commit import GroupCommit
from polex.storage.tables import AuditCheckpointRow
from polex.storage.unit_of_work import UnitOfWork, UnitOfWorkFactory

STRATUM = 4  # perfect subtrees are stored at levels 4, 8, 12, ...
NODE_CACHE_ENTRIES = 500_000  # about 60 MB of immutable hashes at most
INTEGRATE_BATCH = 10_000


@dataclass(frozen=True)
class EventDraft:
    """An event before it has its place in the log."""

    tag: AuditTag
    actor: Actor
    record_kind: str | None = None
    record_ids: Sequence[str] = ()
    decision: Decision = Decision.ALLOWED
    result_count: int | None = None
    query_terms: dict[str, str] = field(default_factory=dict)  # normalised term to the value as typed
    details: dict[str, Any] = field(default_factory=dict)
    # Declared in the request body rather than in headers (the screening endpoints' fixed
    # wire shape); the request's own declaration is used when these are None.
    purpose: str | None = None
    case_reference: str | None = None


def actor_of(principal: Principal) -> Actor:
    return Actor(
        kind=principal.kind.value,
        id=principal.id,
        name=principal.name,
        agency_id=principal.agency_id,
        country=principal.country,
    )


@dataclass(frozen=True)
class SignedCheckpoint:
    size: int
    root: bytes
    at: dt.datetime
    note: str


class VerificationFailed(Exception):
    """The stored log is not what its events and checkpoints say; names the first bad entry."""


class AuditTrail:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        signer: CheckpointSigner,
        sealer: TermSealer,
        origin: str,
        checkpoint_interval: dt.timedelta,
    ) -> None:
        self._uow = uow
        self._signer = signer
        self._sealer = sealer
        self.origin = origin
        self._interval = checkpoint_interval
        self._integrating = threading.Lock()
        self._node_cache: dict[tuple[int, int], bytes] = {}
        self._integrated_size = 0  # only grows; spares a query per proof
        # record() and record_requests(): concurrent callers' events share transactions.
        # A bare connection: an append is Core statements alone, and the session's own work was a
        # third of a lone event's transaction.
        self._group: GroupCommit[tuple[RequestInfo, Sequence[EventDraft]], int, Connection] = GroupCommit(
            uow.connection, self._append
        )

    # -- appending -----------------------------------------------------------------------

    def add(self, uow: UnitOfWork, drafts: Sequence[EventDraft]) -> int:
        """Append events in the caller's transaction; call it last, just before commit.
        Returns the sequence number of the first."""
        if not drafts:
            return -1
        return self._append(uow.session.connection(), [(current_request.get(), drafts)])[0]

    def _append(self, connection: Connection, batches: Sequence[tuple[RequestInfo, Sequence[EventDraft]]]) -> list[int]:
        """Append each batch's events in the connection's transaction, each under its own
        request's id, purpose and case; returns the sequence number of each batch's first event."""
        seq = reserve(connection, sum(len(drafts) for _, drafts in batches))
        now = dt.datetime.now(dt.UTC)
        now_text = entry_time(now)  # one time for the whole batch: they commit together
        rows: list[tuple[object, ...]] = []
        records: list[tuple[str, int]] = []
        terms: list[tuple[str, int]] = []
        firsts: list[int] = []
        for request, drafts in batches:
            firsts.append(seq)
            for draft in drafts:
                self._row(seq, draft, request, now_text, rows, records, terms)
                seq += 1
        insert_events(connection, now, rows, records, terms)
        return firsts

    def _row(
        self,
        seq: int,
        draft: EventDraft,
        request: RequestInfo,
        now_text: str,
        rows: list[tuple[object, ...]],
        records: list[tuple[str, int]],
        terms: list[tuple[str, int]],
    ) -> None:
        """One event's stored row, with its record and query-term index rows."""
        hashes = sorted({self._sealer.term_hash(term) for term in draft.query_terms})
        event_id = new_id()
        record_ids = list(draft.record_ids)
        entry = canonical_entry(
            seq=seq,
            id=event_id,
            at=now_text,
            tag=draft.tag,
            actor=draft.actor,
            record_kind=draft.record_kind,
            record_ids=record_ids,
            purpose=draft.purpose or request.purpose,
            case_reference=draft.case_reference or request.case_reference,
            decision=draft.decision,
            result_count=draft.result_count,
            request_id=request.request_id,
            query_hashes=hashes,
            query_sealed=self._sealer.seal(draft.query_terms, event_id) if draft.query_terms else None,
            details=draft.details,
        )
        actor = draft.actor
        rows.append(
            (
                seq,
                event_id,
                draft.tag.value,
                actor.id,
                actor.agency_id,
                actor.country,
                draft.decision.value,
                request.request_id,
                entry.decode(),
                merkle.leaf_hash(entry),
            )
        )
        records.extend((record_id, seq) for record_id in sorted(set(record_ids)))
        terms.extend((term_hash, seq) for term_hash in hashes)

    def add_requests(self, uow: UnitOfWork, requests: Sequence[tuple[RequestInfo, Sequence[EventDraft]]]) -> list[int]:
        """Several requests' events in the caller's transaction (call it last, just before
        commit), each under its own request's id, purpose and case; for a caller that commits
        many requests' writes together. Returns the sequence number of each one's first."""
        return self._append(uow.session.connection(), requests)

    def record(self, drafts: Sequence[EventDraft]) -> int:
        """Append events in a transaction of their own, durable when this returns; returns
        the sequence number of the first.

        Concurrent callers share transactions (``polex.storage.group_commit``): each queues
        its events, and whoever holds the writer's turn commits everything queued so far in
        one transaction, while the next callers queue up behind it. Under load a transaction
        carries the events of many requests, instead of each request waiting for the store's
        write lock in turn; a lone caller commits its own at once.
        """
        if not drafts:
            return -1
        return self._group.submit((current_request.get(), list(drafts)))

    def record_requests(
        self, requests: Sequence[tuple[RequestInfo, Sequence[EventDraft]]]
    ) -> list[int | BaseException]:
        """Several requests' events in one transaction, each under its own request's id,
        purpose and case, durable when this returns; for a caller that gathers them itself
        (the border checks gather on the event loop while the previous group commits). Each
        request's outcome in order: the sequence number of its first event, or the error
        that kept its events out (one request's bad events never fail the others')."""
        outcomes = iter(self._group.submit_group([(request, drafts) for request, drafts in requests if drafts]))
        return [next(outcomes) if drafts else -1 for _, drafts in requests]

    # -- integrating and checkpointing ----------------------------------------------------

    def integrate(self) -> int:
        """Hash appended events into the tree; returns the integrated size."""
        with self._integrating:
            while True:
                # The hashing is done outside the write lock (on SQLite every writer, the
                # border checks' audit commits among them, would wait for it): appended
                # entries never change, so what is hashed from a read is stored as long as
                # the tree is still where the read found it.
                with self._uow(read_only=True) as uow:
                    connection = uow.session.connection()
                    start, peaks, size = integration_state(connection)
                    if start >= size:
                        return start
                    accumulator = merkle.MerkleAccumulator.from_peaks(start, [bytes.fromhex(p) for p in peaks])
                    end = min(size, start + INTEGRATE_BATCH)
                    seqs, leaves = leaf_hashes(connection, start, end)
                    if len(seqs) != end - start or (seqs and (seqs[0] != start or seqs[-1] != end - 1)):
                        missing = next((start + i for i, seq in enumerate(seqs) if seq != start + i), start + len(seqs))
                        raise VerificationFailed(f"entry {missing} is missing from the audit log")
                    nodes = accumulator.extend(leaves, stride=STRATUM)
                with self._uow() as uow:
                    repository = AuditRepository(uow.session)
                    tree = repository.tree_state(lock=True)
                    if tree.size != start:
                        continue  # another process integrated meanwhile: again from where it left the tree
                    repository.insert_nodes(nodes)
                    tree.size = accumulator.size
                    tree.peaks = [peak.hex() for peak in accumulator.peaks()]
                    uow.commit()

    def checkpoint(self, *, force: bool = False) -> SignedCheckpoint | None:
        """Integrate, then sign a checkpoint if the tree grew and the interval has passed."""
        size = self.integrate()
        now = dt.datetime.now(dt.UTC)
        # Asked first without the write lock: most rounds sign nothing, and on SQLite a
        # writing unit waits for, and holds up, every writer (the border checks' audit commits).
        # The root of an integrated size never changes, so it is computed and signed there
        # too; the writing unit only checks that no other process signed meanwhile.
        with self._uow(read_only=True) as uow:
            if not self._signing_due(AuditRepository(uow.session), size, now, force=force):
                return None
            root = self._root(uow, size)
        note = self._signer.sign(Checkpoint(origin=self.origin, size=size, root=root))
        with self._uow() as uow:
            repository = AuditRepository(uow.session)
            if not self._signing_due(repository, size, now, force=force):
                return None  # another process signed it meanwhile
            repository.add_checkpoint(AuditCheckpointRow(size=size, root=root, at=now, note=note))
            uow.commit()
            return SignedCheckpoint(size=size, root=root, at=now, note=note)

    def _signing_due(self, repository: AuditRepository, size: int, now: dt.datetime, *, force: bool) -> bool:
        latest = repository.latest_checkpoint()
        if latest is None:
            return size > 0 or force
        return latest.size < size and (force or now - latest.at >= self._interval)

    def latest_checkpoint(self) -> SignedCheckpoint | None:
        with self._uow(read_only=True) as uow:
            row = AuditRepository(uow.session).latest_checkpoint()
            return (
                None if row is None else SignedCheckpoint(size=row.size, root=bytes(row.root), at=row.at, note=row.note)
            )

    def has_unsigned(self) -> bool:
        """Whether entries were appended after the latest signed checkpoint."""
        with self._uow(read_only=True) as uow:
            repository = AuditRepository(uow.session)
            latest = repository.latest_checkpoint()
            return repository.size() > (latest.size if latest else 0)

    def verifier_key(self) -> str:
        return self._signer.verifier_key()

    # -- proofs --------------------------------------------------------------------------

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        with self._uow(read_only=True) as uow:
            self._check_integrated(uow, size)
            if not 0 <= index < size:
                raise BadRequest(
                    "the leaf is not in a tree of that size",
                    errors=[FieldError("index", f"must be at least 0 and below the tree size {size}")],
                )
            ranges = merkle.inclusion_proof_ranges(index, size)
            return self._range_hashes(uow, ranges)

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        with self._uow(read_only=True) as uow:
            self._check_integrated(uow, new_size)
            if not 0 < old_size <= new_size:
                raise BadRequest(
                    "no consistency proof between those sizes (RFC 9162 defines none from an empty tree)",
                    errors=[FieldError("first", f"must be between 1 and the second size {new_size}")],
                )
            return self._range_hashes(uow, merkle.consistency_proof_ranges(old_size, new_size))

    def root(self, size: int) -> bytes:
        with self._uow(read_only=True) as uow:
            self._check_integrated(uow, size)
            return self._root(uow, size)

    def leaf(self, index: int) -> tuple[AuditEvent, bytes]:
        with self._uow(read_only=True) as uow:
            rows = AuditRepository(uow.session).event_rows(index, index + 1)
            if not rows:
                raise NotFound(f"no audit entry {index}")
            return AuditEvent.model_validate_json(rows[0].entry), bytes(rows[0].leaf_hash)

    def _check_integrated(self, uow: UnitOfWork, size: int) -> None:
        if size <= self._integrated_size:
            return
        integrated = self._integrated_size = AuditRepository(uow.session).tree_state().size
        if size > integrated:
            raise BadRequest(
                f"the log is integrated up to {integrated} entries",
                errors=[FieldError("size", f"must be at most {integrated}")],
            )

    def _root(self, uow: UnitOfWork, size: int) -> bytes:
        if size == 0:
            return merkle.EMPTY_ROOT
        return self._range_hashes(uow, [(0, size)])[0]

    def _range_hashes(self, uow: UnitOfWork, ranges: Sequence[tuple[int, int]], *, cached: bool = True) -> list[bytes]:
        cache = self._node_cache if cached else {}
        lookup = self._load(AuditRepository(uow.session), merkle.needed_coordinates(ranges), cache)
        return [merkle.range_hash(start, end, lookup.__getitem__) for start, end in ranges]

    @staticmethod
    def _load(
        repository: AuditRepository,
        coordinates: Iterable[merkle.Coordinate],
        cache: dict[tuple[int, int], bytes],
    ) -> dict[merkle.Coordinate, bytes]:
        """Hashes of perfect subtrees: the stored strata (and leaves) below them are read in
        one query per kind, each subtree's children being one index interval, then folded up
        (at most three levels of hashing). Stored hashes never change once written, so they
        are cached; ``verify`` never uses the cache."""
        plans: dict[merkle.Coordinate, tuple[int, int, int]] = {}
        missing: list[tuple[int, int, int]] = []
        for level, index in set(coordinates):
            base = level - level % STRATUM
            span = 1 << (level - base)
            first = index * span
            plans[(level, index)] = (base, first, span)
            if any((base, child) not in cache for child in range(first, first + span)):
                missing.append((base, first, first + span))
        fetched = repository.hashes_in_ranges(missing) if missing else {}
        if len(cache) > NODE_CACHE_ENTRIES:
            cache.clear()
        cache.update(fetched)
        result: dict[merkle.Coordinate, bytes] = {}
        for coordinate, (base, first, span) in plans.items():
            try:
                layer = [cache[(base, child)] for child in range(first, first + span)]
            except KeyError as error:
                raise VerificationFailed(f"the audit tree is missing the hash of {error.args[0]}") from error
            while len(layer) > 1:
                layer = [merkle.node_hash(layer[i], layer[i + 1]) for i in range(0, len(layer), 2)]
            result[coordinate] = layer[0]
        return result

    # -- searching -----------------------------------------------------------------------

    def search(self, principal: Principal, query: EventQuery, *, term: str | None = None) -> list[AuditEvent]:
        """Auditors only; the search is itself audited (the audit view is not exempt)."""
        principal.require(Permission.AUDIT_READ)
        if term is not None:
            query = EventQuery(**{**query.__dict__, "term_hash": self._sealer.term_hash(term)})
        with self._uow(read_only=True) as uow:
            rows = AuditRepository(uow.session).events(query)
            events = [AuditEvent.model_validate_json(row.entry) for row in rows]
        searched = {key: str(value) for key, value in query.__dict__.items() if value is not None and key != "limit"}
        self.record(
            [
                EventDraft(
                    tag=AuditTag.AUDIT_SEARCHED,
                    actor=actor_of(principal),
                    result_count=len(events),
                    query_terms={f"audit:{key}": value for key, value in searched.items() if key != "term_hash"}
                    | ({"audit:term": term} if term else {}),
                )
            ]
        )
        return events

    def export(self, principal: Principal, query: EventQuery, *, term: str | None = None) -> str:
        """A signed export for oversight: the matching entries exactly as logged, each with
        its inclusion proof in the latest signed checkpoint, and who exported what, when;
        the whole signed as a compact JWS by the node's audit key."""
        principal.require(Permission.AUDIT_READ)
        self.checkpoint(force=True)  # sign what is appended, so every entry can be proven
        events = self.search(principal, query, term=term)
        latest = self.latest_checkpoint()
        assert latest is not None  # just signed
        entries = []
        with self._uow(read_only=True) as uow:  # every proof from one read, not one each
            for event in events:
                if event.seq >= latest.size:
                    continue  # appended after the checkpoint (e.g. this export's own search)
                proof = self._range_hashes(uow, merkle.inclusion_proof_ranges(event.seq, latest.size))
                entries.append(
                    {
                        "seq": event.seq,
                        "entry": event.canonical().decode(),
                        "inclusion_proof": [base64.b64encode(item).decode() for item in proof],
                    }
                )
        document = {
            "origin": self.origin,
            "exported_at": dt.datetime.now(dt.UTC).isoformat(),
            "exported_by": actor_of(principal).model_dump(mode="json"),
            "query": {key: str(value) for key, value in query.__dict__.items() if value is not None}
            | ({"searched_for": term} if term else {}),
            "checkpoint": latest.note,
            "entries": entries,
        }
        return self._signer.sign_jws(orjson.dumps(document, option=orjson.OPT_SORT_KEYS))

    def accesses_to(self, record_id: str, *, limit: int = 1000) -> list[AuditEvent]:
        """Events naming a record, for its owner (the caller checks ownership and decides
        what of each event the owner may see)."""
        with self._uow(read_only=True) as uow:
            rows = AuditRepository(uow.session).events(EventQuery(record_id=record_id, limit=limit))
            return [AuditEvent.model_validate_json(row.entry) for row in rows]

    def unseal(self, principal: Principal, event: AuditEvent) -> dict[str, str]:
        principal.require(Permission.AUDIT_READ)
        if not event.query_sealed:
            return {}
        details = {"entry": event.seq}
        self.record([EventDraft(tag=AuditTag.AUDIT_UNSEALED, actor=actor_of(principal), details=details)])
        return self._sealer.unseal(event.query_sealed, event.id)

    # -- verifying -----------------------------------------------------------------------

    def verify(self, *, chunk: int = 10_000) -> int:
        """Recompute the whole log from the stored events; raise VerificationFailed naming the
        first bad entry. Returns the number of entries checked."""
        with self._uow(read_only=True) as uow:
            repository = AuditRepository(uow.session)
            state_size = repository.size()
            tree = repository.tree_state()
            checkpoints = repository.checkpoints()
            verifier = self._signer.verifier_key()
            accumulator = merkle.MerkleAccumulator()
            recomputed: dict[tuple[int, int], bytes] = {}
            roots: dict[int, bytes] = {0: merkle.EMPTY_ROOT}
            wanted_roots = {row.size for row in checkpoints} | {tree.size}
            position = 0
            while True:
                rows = repository.event_rows(position, position + chunk)
                if not rows:
                    break
                records = _group(repository.record_refs(position, position + chunk))
                terms = _group(repository.term_refs(position, position + chunk))
                for row in rows:
                    _check_entry(row, accumulator.size, records.get(row.seq, set()), terms.get(row.seq, set()))
                    for (level, index), value in accumulator.append(bytes(row.leaf_hash)):
                        if level >= STRATUM and level % STRATUM == 0:
                            recomputed[(level, index)] = value
                    if accumulator.size in wanted_roots:
                        roots[accumulator.size] = accumulator.root()
                position += chunk
            if accumulator.size != state_size:
                raise VerificationFailed(
                    f"entry {accumulator.size} is missing: the log says it holds {state_size} entries"
                    if accumulator.size < state_size
                    else f"entries beyond {state_size} were added outside the log"
                )
            for level, index, value in repository.all_nodes():
                if recomputed.get((level, index)) != value:
                    raise VerificationFailed(f"the stored tree node ({level}, {index}) does not match the events")
            if tree.size > accumulator.size:
                raise VerificationFailed(f"the tree claims {tree.size} entries, the log holds {accumulator.size}")
            previous: AuditCheckpointRow | None = None
            for checkpoint in checkpoints:
                _check_checkpoint(checkpoint, verifier, self.origin, roots.get(checkpoint.size))
                if previous is not None and previous.size > 0:
                    ranges = merkle.consistency_proof_ranges(previous.size, checkpoint.size)
                    proof = self._range_hashes(uow, ranges, cached=False)
                    try:
                        merkle.verify_consistency(previous.size, checkpoint.size, previous.root, checkpoint.root, proof)
                    except merkle.ProofError as error:
                        raise VerificationFailed(
                            f"checkpoints at sizes {previous.size} and {checkpoint.size} are not consistent: {error}"
                        ) from error
                previous = checkpoint
            return accumulator.size


def _group(pairs: Iterable[tuple[int, str]]) -> dict[int, set[str]]:
    grouped: dict[int, set[str]] = {}
    for seq, value in pairs:
        grouped.setdefault(seq, set()).add(value)
    return grouped


def _check_entry(row: Row[Any], expected_seq: int, record_ids: set[str], term_hashes: set[str]) -> None:
    where = f"entry {expected_seq}"
    if row.seq != expected_seq:
        raise VerificationFailed(f"{where} is missing (the next stored entry is {row.seq})")
    try:
        event = AuditEvent.model_validate_json(row.entry)
    except ValueError as error:
        raise VerificationFailed(f"{where} is not a valid audit event: {error}") from error
    if event.canonical().decode() != row.entry:
        raise VerificationFailed(f"{where} is not in canonical form (edited by hand?)")
    if merkle.leaf_hash(row.entry.encode()) != bytes(row.leaf_hash):
        raise VerificationFailed(f"{where} (event {event.id}): its content does not match its leaf hash")
    if event.seq != row.seq:
        raise VerificationFailed(f"{where} (event {event.id}) was moved: its content says entry {event.seq}")
    projections = {
        "id": (row.id, event.id),
        "at": (row.at, event.at),
        "tag": (row.tag, event.tag.value),
        "actor_id": (row.actor_id, event.actor.id),
        "agency_id": (row.agency_id, event.actor.agency_id),
        "country": (row.country, event.actor.country),
        "decision": (row.decision, event.decision.value),
        "request_id": (row.request_id, event.request_id),
    }
    for name, (stored, stated) in projections.items():
        if stored != stated:
            raise VerificationFailed(f"{where} (event {event.id}): column {name} was changed from {stated!r}")
    if record_ids != set(event.record_ids):
        raise VerificationFailed(f"{where} (event {event.id}): its record index does not match its content")
    if term_hashes != set(event.query_hashes):
        raise VerificationFailed(f"{where} (event {event.id}): its search terms do not match its content")


def _check_checkpoint(row: AuditCheckpointRow, verifier: str, origin: str, root: bytes | None) -> None:
    where = f"checkpoint at size {row.size}"
    try:
        stated = open_note(row.note, verifier)
    except CheckpointError as error:
        raise VerificationFailed(f"{where}: {error}") from error
    if (stated.origin, stated.size, stated.root) != (origin, row.size, bytes(row.root)):
        raise VerificationFailed(f"{where}: the stored columns differ from the signed note")
    if root is None or root != stated.root:
        raise VerificationFailed(f"{where}: its signed root does not match the events (history was rewritten)")
