"""The audit log on SQLite and PostgreSQL: appending, the Merkle tree, proofs, checkpoints,
and detection of every kind of tampering done directly in the database."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable

import pytest
from pymerkle import InmemoryTree
from sqlalchemy import Connection, text

from polex.audit import merkle
from polex.audit import service as audit_service
from polex.audit.checkpoint import open_note
from polex.audit.context import RequestInfo, current_request
from polex.audit.repository import EventQuery
from polex.audit.service import AuditTrail, EventDraft, VerificationFailed
from polex.auth.principal import Principal, PrincipalKind
from polex.bootstrap import Node
from polex.domain.audit import Actor, AuditTag
from polex.domain.base import new_id
from polex.domain.roles import Role

ACTOR = Actor(kind="user", id=new_id(), name="officer", agency_id=new_id(), country="FRA")


def draft(index: int, *, record_id: str | None = None, term: str | None = None) -> EventDraft:
    return EventDraft(
        tag=AuditTag.PERSON_READ,
        actor=ACTOR,
        record_kind="person",
        record_ids=[record_id or new_id()],
        result_count=1,
        query_terms={term: f"name={term.rsplit(':', 1)[-1]}"} if term else {},
        details={"n": index},
    )


def fill(node: Node, count: int, *, batch: int = 7) -> None:
    for start in range(0, count, batch):
        node.audit.record([draft(index) for index in range(start, min(count, start + batch))])


def auditor(node: Node) -> Principal:
    return Principal(PrincipalKind.USER, new_id(), "auditor", new_id(), "FRA", frozenset({Role.AUDITOR}))


def test_events_get_gapless_sequence_numbers_even_from_parallel_writers(node: Node) -> None:
    start = node.audit.integrate()  # setting the node up wrote its own events
    threads = [threading.Thread(target=fill, args=(node, 20)) for _ in range(4)]
    for thread in threads:
        thread.start()  # setting the node up wrote its own events
    for thread in threads:
        thread.join()
    assert node.audit.integrate() == start + 80
    assert node.audit.verify() == start + 80


def test_concurrent_readers_share_a_commit_and_keep_their_own_request(node: Node) -> None:
    """Group commit: events of callers that queue while another commits go out together in
    the next transaction, each with its own request id and purpose, each caller told where
    its own events are."""
    node.audit.integrate()
    firsts: dict[int, int] = {}

    def read(index: int) -> None:
        token = current_request.set(RequestInfo(request_id=f"request-{index}", purpose="criminal_investigation"))
        try:
            firsts[index] = node.audit.record([draft(index), draft(index)])
        finally:
            current_request.reset(token)

    with node.audit._group._committing:  # someone else is committing: the callers queue
        threads = [threading.Thread(target=read, args=(index,)) for index in range(5)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10
        while len(node.audit._group._waiting) < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
    for thread in threads:
        thread.join()
    events = {index: [node.audit.leaf(first)[0], node.audit.leaf(first + 1)[0]] for index, first in firsts.items()}
    assert sorted(first for first in firsts.values()) == list(range(min(firsts.values()), max(firsts.values()) + 1, 2))
    for index, pair in events.items():
        assert [event.details["n"] for event in pair] == [index, index]
        assert {event.request_id for event in pair} == {f"request-{index}"}
        assert {event.purpose for event in pair} == {"criminal_investigation"}
    # One transaction for all of them: one time stamp.
    assert len({event.at for pair in events.values() for event in pair}) == 1
    assert node.audit.verify() == node.audit.integrate()


def test_one_callers_bad_event_does_not_fail_the_others_in_its_group(node: Node) -> None:
    node.audit.integrate()
    outcomes: dict[int, object] = {}
    bad = EventDraft(tag=AuditTag.PERSON_READ, actor=ACTOR, details={"not json": object()})

    def read(index: int) -> None:
        try:
            outcomes[index] = node.audit.record([bad if index == 2 else draft(index)])
        except TypeError as error:
            outcomes[index] = error

    with node.audit._group._committing:
        threads = [threading.Thread(target=read, args=(index,)) for index in range(4)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10
        while len(node.audit._group._waiting) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
    for thread in threads:
        thread.join()
    assert isinstance(outcomes.pop(2), TypeError)
    for index, first in outcomes.items():
        assert isinstance(first, int)
        assert node.audit.leaf(first)[0].details["n"] == index
    assert node.audit.verify() == node.audit.integrate()


def test_a_change_and_its_event_commit_together(node: Node) -> None:
    start = node.audit.integrate()

    def failing_use_case() -> None:
        with node.uow() as uow:
            node.audit.add(uow, [draft(0)])
            raise RuntimeError("the use case failed after writing its event")

    with pytest.raises(RuntimeError):
        failing_use_case()
    node.audit.record([draft(1)])
    assert node.audit.integrate() == start + 1  # the failed one left nothing, not even a gap


def test_roots_agree_with_pymerkle_and_every_proof_verifies(node: Node) -> None:
    start = node.audit.integrate()
    fill(node, 45)
    first = node.audit.checkpoint(force=True)
    fill(node, 38)
    second = node.audit.checkpoint(force=True)
    assert first is not None
    assert second is not None
    assert (first.size, second.size) == (start + 45, start + 83)

    independent = InmemoryTree(algorithm="sha256")
    for index in range(second.size):
        event, leaf = node.audit.leaf(index)
        assert leaf == merkle.leaf_hash(event.canonical())
        independent.append_entry(event.canonical())
    assert independent.get_root(first.size) == first.root
    assert independent.get_root(second.size) == second.root

    for index in range(second.size):
        _, leaf = node.audit.leaf(index)
        merkle.verify_inclusion(leaf, index, second.size, node.audit.inclusion_proof(index, second.size), second.root)
    proof = node.audit.consistency_proof(first.size, second.size)
    merkle.verify_consistency(first.size, second.size, first.root, second.root, proof)
    for old in range(1, second.size + 1, 7):
        merkle.verify_consistency(
            old, second.size, node.audit.root(old), second.root, node.audit.consistency_proof(old, second.size)
        )


def test_checkpoints_are_signed_notes_any_node_can_check(node: Node) -> None:
    start = node.audit.integrate()
    fill(node, 10)
    signed = node.audit.checkpoint(force=True)
    assert signed is not None
    stated = open_note(signed.note, node.audit.verifier_key())
    assert (stated.size, stated.root) == (start + 10, signed.root)
    assert node.audit.checkpoint() is None  # nothing new: no new checkpoint


def test_search_by_record_actor_tag_and_searched_term(node: Node) -> None:
    record_id = new_id()
    node.audit.record([draft(0, record_id=record_id), draft(1, term="person|name:petrov"), draft(2)])
    who = auditor(node)
    assert [event.record_ids for event in node.audit.search(who, EventQuery(record_id=record_id))] == [[record_id]]
    found = node.audit.search(who, EventQuery(), term="person|name:petrov")
    assert [event.details["n"] for event in found] == [1]
    assert node.audit.unseal(who, found[0]) == {"person|name:petrov": "name=petrov"}
    everything = node.audit.search(who, EventQuery(actor_id=ACTOR.id, tag_prefix="record:person:"))
    assert len(everything) == 3
    # Times are stored as the column type stores them, so SQL compares them correctly.
    now = dt.datetime.now(dt.UTC)
    recent = EventQuery(actor_id=ACTOR.id, since=now - dt.timedelta(minutes=5), until=now + dt.timedelta(seconds=5))
    assert len(node.audit.search(who, recent)) == 3
    assert node.audit.search(who, EventQuery(actor_id=ACTOR.id, until=now - dt.timedelta(minutes=5))) == []
    # The searches themselves were audited.
    searches = node.audit.search(who, EventQuery(tag_prefix="audit:"))
    assert len(searches) >= 3


Tamper = Callable[[Node], None]


def sql(node: Node, statement: str, **parameters: object) -> None:
    with node.engine.begin() as connection:
        connection.execute(text(statement), parameters)


TAMPERING: dict[str, tuple[Tamper, str]] = {
    "entry text edited": (
        lambda node: sql(node, "UPDATE audit_events SET entry = replace(entry, 'person', 'vehicle') WHERE seq = 5"),
        "entry 5",
    ),
    "entry removed": (lambda node: sql(node, "DELETE FROM audit_events WHERE seq = 12"), "entry 12 is missing"),
    "last entry removed": (lambda node: sql(node, "DELETE FROM audit_events WHERE seq = 29"), "entry 29 is missing"),
    "entries swapped": (
        lambda node: (
            sql(node, "UPDATE audit_events SET seq = -1 WHERE seq = 3"),
            sql(node, "UPDATE audit_events SET seq = 3 WHERE seq = 4"),
            sql(node, "UPDATE audit_events SET seq = 4 WHERE seq = -1"),
        ),
        "entry 3",
    ),
    "actor column rewritten": (
        lambda node: sql(node, "UPDATE audit_events SET actor_id = 'someone-else' WHERE seq = 7"),
        "column actor_id",
    ),
    "record index erased": (
        lambda node: sql(node, "DELETE FROM audit_event_records WHERE seq = 9"),
        "entry 9",
    ),
    "tree node replaced": (
        lambda node: sql(node, 'UPDATE audit_nodes SET hash = :fake WHERE level = 4 AND "index" = 0', fake=b"\0" * 32),
        r"tree node \(4, 0\)",
    ),
    "checkpoint root replaced": (
        lambda node: sql(node, "UPDATE audit_checkpoints SET root = :fake WHERE size = 20", fake=b"\1" * 32),
        "checkpoint at size 20",
    ),
}


@pytest.mark.parametrize("tampering", list(TAMPERING))
def test_tampering_in_the_database_is_detected_and_named(node: Node, tampering: str) -> None:
    start = node.audit.integrate()
    fill(node, 20 - start)  # the entry numbers below count the node's own set-up events
    node.audit.checkpoint(force=True)
    fill(node, 10)
    node.audit.checkpoint(force=True)
    assert node.audit.verify() == 30
    change, expected = TAMPERING[tampering]
    change(node)
    with pytest.raises(VerificationFailed, match=expected):
        node.audit.verify()


def test_a_rewritten_history_with_recomputed_hashes_still_contradicts_the_signed_checkpoint(node: Node) -> None:
    # The attacker edits an entry AND recomputes its leaf hash; only the signed checkpoint
    # (and the witnesses that hold it) can tell.
    fill(node, 16 - node.audit.integrate())
    node.audit.checkpoint(force=True)
    with node.engine.begin() as connection:
        entry = connection.execute(text("SELECT entry FROM audit_events WHERE seq = 2")).scalar_one()
        forged = entry.replace('"record_kind":"person"', '"record_kind":"vehicle"')
        assert forged != entry
        connection.execute(
            text("UPDATE audit_events SET entry = :entry, leaf_hash = :leaf WHERE seq = 2"),
            {"entry": forged, "leaf": merkle.leaf_hash(forged.encode())},
        )
    with pytest.raises(VerificationFailed, match=r"checkpoint at size 16|tree node"):
        node.audit.verify()


def test_several_requests_events_commit_together_each_under_its_own_request(node: Node) -> None:
    actor = Actor(kind="user", id=new_id(), name="officer", agency_id=new_id(), country="FRA")

    def draft(**details: object) -> EventDraft:
        return EventDraft(tag=AuditTag.DOCUMENTS_CHECKED, actor=actor, result_count=0, details=details)

    first = RequestInfo(request_id="req-1", purpose="border_control")
    second = RequestInfo(request_id="req-2", purpose="criminal_investigation", case_reference="FR-9")
    broken = RequestInfo(request_id="req-3", purpose="border_control")
    outcomes = node.audit.record_requests(
        [(first, [draft(), draft()]), (broken, [draft(bad=object())]), (second, [draft()]), (first, [])]
    )
    assert isinstance(outcomes[0], int)
    assert isinstance(outcomes[1], TypeError)  # not serialisable: that request alone fails
    assert isinstance(outcomes[2], int)
    assert outcomes[3] == -1  # nothing to record
    events = [node.audit.leaf(seq)[0] for seq in (outcomes[0], outcomes[0] + 1, outcomes[2])]
    assert [(event.request_id, event.purpose, event.case_reference) for event in events] == [
        ("req-1", "border_control", None),
        ("req-1", "border_control", None),
        ("req-2", "criminal_investigation", "FR-9"),
    ]
    assert node.audit.verify() == node.audit.integrate()


def test_a_tree_another_process_moved_while_this_one_hashed_is_integrated_from_where_it_is(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``integrate`` hashes outside the write lock; the tree it stores must start where the
    read found it. Another process (here another trail on the same store) integrates part
    of the log meanwhile: this one starts again from there, and the roots stay right."""
    start = node.audit.integrate()
    fill(node, 30)
    other = AuditTrail(
        node.uow,
        signer=node.audit._signer,
        sealer=node.audit._sealer,
        origin=node.audit.origin,
        checkpoint_interval=dt.timedelta(seconds=10),
    )
    reads = 0
    hashed = audit_service.leaf_hashes

    def meanwhile(connection: Connection, first: int, end: int) -> tuple[list[int], list[bytes]]:
        nonlocal reads
        reads += 1
        leaves = hashed(connection, first, end)
        if reads == 1:
            fill(node, 5)
            assert other.integrate() == start + 35  # the other process moves the tree
        return leaves

    monkeypatch.setattr(audit_service, "leaf_hashes", meanwhile)
    assert node.audit.integrate() == start + 35
    assert reads == 2  # its first pass was thrown away
    monkeypatch.undo()
    independent = InmemoryTree(algorithm="sha256")
    for index in range(start + 35):
        event, _ = node.audit.leaf(index)
        independent.append_entry(event.canonical())
    assert node.audit.root(start + 35) == independent.get_root(start + 35)
    assert node.audit.verify() == start + 35
