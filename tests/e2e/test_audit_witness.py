"""Cross-witnessing over real HTTP: the hub watches a national node's audit log and
catches a rewritten history, a rollback, a split view and a forged signature."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import text

from polex.audit import merkle
from polex.audit.checkpoint import Checkpoint
from polex.audit.witness import Witness
from polex.auth.schemas import ApiKeyCreate
from polex.domain.roles import Role
from polex.settings import PeerLog
from polex.storage.unit_of_work import UnitOfWork, UnitOfWorkFactory
from tests.e2e.conftest import LiveServer
from tests.factories import person_body


@pytest.fixture(scope="module")
def peer(live: LiveServer) -> PeerLog:
    key = live.node.auth.create_api_key(
        ApiKeyCreate(name="hub witness", roles=[Role.MONITOR], agency_id=live.own_agency_id)
    )
    return PeerLog(name="fra", url=live.base_url, api_key=key.key, verifier_key=live.node.audit.verifier_key())


@pytest.fixture
def witness(hub_live: LiveServer, peer: PeerLog) -> Iterator[Witness]:
    yield Witness(hub_live.node.uow, [peer])
    with hub_live.node.engine.begin() as connection:  # each test starts with a fresh view
        connection.execute(text("DELETE FROM audit_witnessed"))
        connection.execute(text("DELETE FROM audit_alerts"))


def grow(live: LiveServer) -> None:
    live.as_roles(Role.NCB_OPERATOR).post("/api/v1/persons", json=person_body())
    live.node.audit.checkpoint(force=True)


def test_an_honest_log_is_followed_checkpoint_after_checkpoint(
    live: LiveServer, witness: Witness, peer: PeerLog
) -> None:
    grow(live)
    assert witness.run_once() == []
    first = witness.witnessed()
    grow(live)
    assert witness.run_once() == []  # the consistency proof from the first checkpoint verified
    second = witness.witnessed()
    assert [(origin, size > first[0][1]) for origin, size, _ in second] == [(peer.origin, True)]


def test_a_forged_signature_is_an_alert(hub_live: LiveServer, live: LiveServer, peer: PeerLog) -> None:
    grow(live)
    impostor = peer.model_copy(
        update={"verifier_key": hub_live.node.audit.verifier_key().replace("polex/hub", "polex/fra")}
    )
    alerts = Witness(hub_live.node.uow, [impostor]).run_once()
    assert [alert.kind for alert in alerts] == ["bad_signature"]


def test_a_split_view_between_two_signed_checkpoints_is_a_fork(
    live: LiveServer, witness: Witness, peer: PeerLog
) -> None:
    grow(live)
    witness.run_once()
    origin, size, _ = witness.witnessed()[0]
    # The log signs a second, different tree of the same size and shows it to someone else.
    other_view = live.node.audit._signer.sign(Checkpoint(origin=origin, size=size, root=b"\x07" * 32))
    alerts = witness.consider(origin, other_view, via="ukr", proof_source=lambda first, second: [])
    assert [alert.kind for alert in alerts] == ["fork"]
    assert alerts[0].evidence["later"] == other_view


def test_a_log_that_shrinks_is_a_rollback(live: LiveServer, witness: Witness, peer: PeerLog) -> None:
    grow(live)
    smaller = live.node.audit.latest_checkpoint()
    grow(live)
    witness.run_once()
    assert smaller is not None
    earlier_note = live.node.audit._signer.sign(Checkpoint(origin=peer.origin, size=smaller.size, root=smaller.root))

    def proofs(first: int, second: int) -> list[bytes]:
        return live.node.audit.consistency_proof(first, second)

    alerts = witness.consider(peer.origin, earlier_note, via=peer.name, proof_source=proofs)
    assert [alert.kind for alert in alerts] == ["rollback"]


def test_a_rewritten_history_is_caught_by_the_consistency_proof(live: LiveServer, witness: Witness) -> None:
    grow(live)
    assert witness.run_once() == []
    # The national node's operator rewrites an old entry, recomputes every hash and signs
    # a new checkpoint: locally consistent, but not an extension of what the hub accepted.
    with live.node.engine.begin() as connection:
        entry = connection.execute(text("SELECT entry FROM audit_events WHERE seq = 1")).scalar_one()
        forged = entry.replace('"decision":"allowed"', '"decision":"denied"')
        assert forged != entry
        connection.execute(
            text("UPDATE audit_events SET entry = :entry, leaf_hash = :leaf WHERE seq = 1"),
            {"entry": forged, "leaf": merkle.leaf_hash(forged.encode())},
        )
        connection.execute(text("DELETE FROM audit_nodes"))
        connection.execute(text("UPDATE audit_tree SET size = 0, peaks = '[]' WHERE id = 1"))
    live.node.audit._node_cache.clear()
    grow(live)
    alerts = witness.run_once()
    assert [alert.kind for alert in alerts] == ["fork"]
    assert witness.alerts()[0].kind == "fork"


def test_rounds_keep_their_connection_and_do_not_judge_an_accepted_note_again(
    hub_live: LiveServer, live: LiveServer, peer: PeerLog
) -> None:
    """A witness round runs every few seconds on every node: it keeps one client per peer
    (and its connection) from round to round, and a note it has accepted, which the peer
    and the gossip serve again until the log grows, costs it no store read or signature
    check; a new note is judged in full, and a peer that stops answering gets a new client."""
    made: list[httpx.Client] = []

    def client(log: PeerLog) -> httpx.Client:
        made.append(httpx.Client(base_url=log.url, headers={"X-API-Key": log.api_key.get_secret_value()}))
        return made[-1]

    units = CountingUnits(hub_live.node.uow)
    witness = Witness(units, [peer], client=client)  # type: ignore[arg-type]
    try:
        grow(live)
        assert witness.run_once() == []
        assert units.opened > 0
        units.opened = 0
        assert witness.run_once() == []  # the same checkpoint again
        assert units.opened == 0
        grow(live)
        assert witness.run_once() == []
        assert units.opened > 0  # a new checkpoint: read, proven, stored
        assert len(made) == 1
        made[0].base_url = "http://127.0.0.1:9"  # the peer stops answering
        assert witness.run_once() == []
        assert made[0].is_closed
        grow(live)
        assert witness.run_once() == []
        assert len(made) == 2
    finally:
        witness.close()
        with hub_live.node.engine.begin() as connection:
            connection.execute(text("DELETE FROM audit_witnessed"))
    assert all(made_client.is_closed for made_client in made)


class CountingUnits:
    """The node's unit-of-work factory, counting the units opened."""

    def __init__(self, inner: UnitOfWorkFactory) -> None:
        self._inner = inner
        self.opened = 0

    def __call__(self, *, read_only: bool = False) -> UnitOfWork:
        self.opened += 1
        return self._inner(read_only=read_only)
