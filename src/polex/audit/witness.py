"""Cross-witnessing: each node checks the other nodes' audit logs, so that a node (or the
hub) that rewrites, rolls back or forks its history is caught by the others.

For every peer log it watches, a witness fetches the latest signed checkpoint, checks the
signature with the key it pinned for that log, and asks the log for a consistency proof
from the last checkpoint it accepted. It also reads which checkpoints of *other* logs the
peer has accepted (gossip): two signed checkpoints of one log that disagree are a proof
of a split view, whichever witness saw which. Anything wrong becomes an alert for the
node's auditors, with the signed notes as evidence.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select

from polex.audit import merkle
from polex.audit.checkpoint import Checkpoint, CheckpointError, open_note
from polex.domain.base import new_id
from polex.settings import PeerLog
from polex.storage.tables import AuditAlertRow, WitnessedCheckpointRow
from polex.storage.unit_of_work import UnitOfWorkFactory

log = logging.getLogger("polex.audit.witness")
ACCEPTED_KEPT = 8  # notes remembered per log: gossip lags a round or two behind the log itself


@dataclass(frozen=True)
class Alert:
    kind: str  # fork, rollback, bad_signature, unreachable, bad_proof
    log: str
    detail: str
    evidence: dict[str, Any]


class Witness:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        peers: list[PeerLog],
        *,
        client: Callable[[PeerLog], httpx.Client] | None = None,
    ) -> None:
        self._uow = uow
        self._peers = {peer.origin: peer for peer in peers}
        self._client = client or _default_client
        # One client per peer, kept from round to round (its connections with it): gossip
        # about a log asks that log for proofs. Only the witness's thread uses them.
        self._clients: dict[str, httpx.Client] = {}
        # The latest notes accepted of each log. Gossip repeats them round after round (each
        # peer passes on what it saw of the others), and judging a note already accepted
        # finds it again in the store and returns nothing: these skip that read and the
        # signature check.
        self._accepted: dict[str, deque[str]] = {}

    # -- one round -----------------------------------------------------------------------

    def run_once(self) -> list[Alert]:
        """Witness every peer once; returns (and stores) the alerts raised."""
        alerts: list[Alert] = []
        clients = {origin: self._client_of(peer) for origin, peer in self._peers.items()}
        for peer in self._peers.values():
            try:
                alerts.extend(self._witness(peer, clients))
            except httpx.HTTPError as error:
                # Unreachable is not tampering; it is logged, not alerted, and retried on
                # fresh connections.
                log.warning("cannot reach %s to witness its log: %s", peer.name, error)
                self._drop_client(peer.origin)
        for alert in alerts:
            self._store_alert(alert)
        return alerts

    def close(self) -> None:
        for origin in list(self._clients):
            self._drop_client(origin)

    def _client_of(self, peer: PeerLog) -> httpx.Client:
        client = self._clients.get(peer.origin)
        if client is None:
            client = self._clients[peer.origin] = self._client(peer)
        return client

    def _drop_client(self, origin: str) -> None:
        client = self._clients.pop(origin, None)
        if client is not None:
            client.close()

    def _witness(self, peer: PeerLog, clients: dict[str, httpx.Client]) -> list[Alert]:
        client = clients[peer.origin]
        response = client.get("/api/v1/audit/checkpoint")
        if response.status_code == 404:
            return []  # nothing signed yet
        response.raise_for_status()
        note = response.json()["note"]
        alerts = self.consider(peer.origin, note, via=peer.name, proof_source=_proof_source(client))
        gossip = client.get("/api/v1/audit/witnessed")
        if gossip.status_code == 200:
            for item in gossip.json()["items"]:
                other = self._peers.get(item["log"])
                if other is None or other.origin == peer.origin:
                    continue  # a log this node does not watch, or the peer's own
                proofs = _proof_source(clients[other.origin])
                alerts.extend(self.consider(other.origin, item["note"], via=peer.name, proof_source=proofs))
        return alerts

    # -- judging one signed checkpoint ----------------------------------------------------

    def consider(
        self,
        origin: str,
        note: str,
        *,
        via: str,
        proof_source: Callable[[int, int], list[bytes]],
    ) -> list[Alert]:
        """Check a signed checkpoint of ``origin`` against everything accepted of it so far."""
        peer = self._peers[origin]
        if note in self._accepted.get(origin, ()):
            return []
        try:
            stated = open_note(note, peer.verifier_key)
        except CheckpointError as error:
            return [Alert("bad_signature", origin, f"a checkpoint from {via} does not verify: {error}", {"note": note})]
        if stated.origin != origin:
            return [Alert("bad_signature", origin, f"{via} served a checkpoint of {stated.origin}", {"note": note})]
        with self._uow(read_only=True) as uow:
            known = list(
                uow.session.scalars(
                    select(WitnessedCheckpointRow)
                    .where(WitnessedCheckpointRow.log == origin)
                    .order_by(WitnessedCheckpointRow.size)
                )
            )
            accepted = [(row.size, bytes(row.root), row.note) for row in known]
        same = [entry for entry in accepted if entry[0] == stated.size]
        if same:
            if same[0][1] != stated.root:
                return [self._fork(origin, via, same[0][2], note, "two signed checkpoints of the same size differ")]
            self._remember(origin, note)
            return []
        alerts = []
        smaller = [entry for entry in accepted if entry[0] < stated.size]
        larger = [entry for entry in accepted if entry[0] > stated.size]
        if larger and via == peer.name:
            # The log itself now shows less than it once signed: a rollback (or a fork).
            alerts.append(
                Alert(
                    "rollback",
                    origin,
                    f"{peer.name} now serves size {stated.size} after signing size {larger[-1][0]}",
                    {"earlier": larger[-1][2], "now": note},
                )
            )
        for size, root, earlier in smaller[-1:] + larger[:1]:
            low, high = (size, stated.size) if size < stated.size else (stated.size, size)
            low_root, high_root = (root, stated.root) if size < stated.size else (stated.root, root)
            if low == 0:
                continue
            try:
                proof = proof_source(low, high)
                merkle.verify_consistency(low, high, low_root, high_root, proof)
            except (merkle.ProofError, httpx.HTTPError, KeyError, ValueError) as error:
                alerts.append(self._fork(origin, via, earlier, note, f"no valid consistency proof: {error}"))
        if not alerts:
            self._accept(origin, stated, note, via)
        return alerts

    def _fork(self, origin: str, via: str, earlier: str, later: str, reason: str) -> Alert:
        return Alert(
            "fork",
            origin,
            f"the history of {origin} was rewritten ({reason}; seen via {via})",
            {
                "earlier": earlier,
                "later": later,
            },
        )

    def _remember(self, origin: str, note: str) -> None:
        self._accepted.setdefault(origin, deque(maxlen=ACCEPTED_KEPT)).append(note)

    def _accept(self, origin: str, stated: Checkpoint, note: str, via: str) -> None:
        with self._uow() as uow:
            if uow.session.get(WitnessedCheckpointRow, (origin, stated.size)) is None:
                uow.session.add(
                    WitnessedCheckpointRow(
                        log=origin,
                        size=stated.size,
                        root=stated.root,
                        note=note,
                        seen_at=dt.datetime.now(dt.UTC),
                        via=via,
                    )
                )
                uow.commit()
        self._remember(origin, note)

    def _store_alert(self, alert: Alert) -> None:
        log.error("audit log alert (%s) on %s: %s", alert.kind, alert.log, alert.detail)
        with self._uow() as uow:
            uow.session.add(
                AuditAlertRow(
                    id=new_id(),
                    at=dt.datetime.now(dt.UTC),
                    kind=alert.kind,
                    log=alert.log,
                    detail=alert.detail,
                    evidence=alert.evidence,
                )
            )
            uow.commit()

    # -- what this node has seen, for its own API ----------------------------------------

    def witnessed(self) -> list[tuple[str, int, str]]:
        """The latest accepted checkpoint of each watched log: (origin, size, note)."""
        with self._uow(read_only=True) as uow:
            rows = uow.session.scalars(select(WitnessedCheckpointRow).order_by(WitnessedCheckpointRow.log))
            latest: dict[str, tuple[int, str]] = {}
            for row in rows:
                if row.log not in latest or row.size > latest[row.log][0]:
                    latest[row.log] = (row.size, row.note)
        return [(origin, size, note) for origin, (size, note) in sorted(latest.items())]

    def alerts(self, limit: int = 100) -> list[Alert]:
        with self._uow(read_only=True) as uow:
            rows = uow.session.scalars(select(AuditAlertRow).order_by(AuditAlertRow.at.desc()).limit(limit))
            return [Alert(row.kind, row.log, row.detail, row.evidence) for row in rows]


def _default_client(peer: PeerLog) -> httpx.Client:
    return httpx.Client(base_url=peer.url, headers={"X-API-Key": peer.api_key.get_secret_value()}, timeout=10.0)


def _proof_source(client: httpx.Client) -> Callable[[int, int], list[bytes]]:
    def fetch(first: int, second: int) -> list[bytes]:
        response = client.get("/api/v1/audit/proofs/consistency", params={"first": first, "second": second})
        response.raise_for_status()
        return [base64.b64decode(item) for item in response.json()["proof"]]

    return fetch
