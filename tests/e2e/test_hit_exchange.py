"""The hit-confirmation exchange across nodes, over real HTTP: a hub, France and Ukraine.

A French officer checks on the French node; the hub's record belongs to a Ukrainian agency.
Online (FIND) the hub raises the hit and sends it to both countries' nodes: Ukraine's copy
(the owner's) and France's (the requester's), where the officer asks for confirmation; the
request goes through the hub to Ukraine, whose bureau answers on its node, and every copy
follows the hub. Offline (the hub unreachable) France answers from its replica, keeps the
hit, and the outbox carries it, and the request made meanwhile, to the hub once it is back.
"""

from __future__ import annotations

import datetime as dt
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select

from polex.crypto.envelope import seal
from polex.domain.agency import AgencyKind
from polex.domain.audit import AuditTag
from polex.domain.base import Restrictions, Tlp, new_id
from polex.domain.message import RoutingHeader
from polex.domain.person import Person
from polex.domain.policy import AccessLevel, Agreement, AgreementKind, DataCategory, Purpose
from polex.domain.roles import Role
from polex.message import service as message_service
from polex.network.relayed import RelayedBy
from polex.record.service import NewRecord
from polex.screening import hit_exchange
from polex.storage.tables import AppliedEnvelopeRow, AuditEventRow, HitRow, MessageRow, OutboxRow
from tests.conftest import database_url_for
from tests.e2e.conftest import LiveServer, _start_node, assert_problem, enrol, read_events
from tests.e2e.test_replica import admin, file_at_hub
from tests.e2e.writing import WorkWhileWriting


@pytest.fixture(scope="module")
def ukraine(
    network: tuple[LiveServer, LiveServer], live_backend: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A Ukrainian national node in the same network: the owner country of the hub's records."""
    fra, hub = network
    directory = tmp_path_factory.mktemp(f"ukr-{live_backend}")
    url, schema = database_url_for(live_backend, directory)
    started = _start_node(directory / "ukr", url, name="ukr", country="UKR")
    try:
        ukr = next(started)
        enrol(hub, ukr.node, ukr.base_url)
        ukr.node.network_view.hub_url = hub.base_url
        hub.node.network_view.refresh()  # the hub addresses Ukraine from now on
        fra.node.network_view.refresh()
        yield ukr
    finally:
        next(started, None)  # the node stops
        if schema is not None:
            schema.drop()


def _treaty(hub: LiveServer, name: str) -> None:
    treaty = Agreement(
        id=f"fra-ukr-hits-{name}-{new_id()[-6:]}",
        title="Documents",
        kind=AgreementKind.BILATERAL_TREATY,
        parties=["FRA", "UKR"],
        categories=[DataCategory.TRAVEL_DOCUMENTS],
        purposes=[Purpose.BORDER_CONTROL, Purpose.CRIMINAL_INVESTIGATION],
        level=AccessLevel.FULL,
        valid_from=dt.date(2020, 1, 1),
        legal_reference="FRA-UKR treaty, art. 9",
    )
    read = hub.node.policy.propose(treaty, admin("UKR"))
    for country in ("FRA", "UKR"):
        hub.node.policy.approve(treaty.id, read.version, admin(country))


def _ukrainian_document_at_hub(hub: LiveServer, treaty: str, prefix: str = "UR") -> str:
    """A travel document a Ukrainian agency files at the hub, under a new FRA-UKR treaty: a
    French check of its number raises a hit on a record of Ukraine's. Returns the number."""
    _treaty(hub, treaty)
    owner = hub.make_agency(country="UKR")
    number = f"{prefix}{new_id()[-7:].upper()}"
    file_at_hub(hub, owner, number, Restrictions(handling=Tlp.GREEN))
    return number


def _user(node: LiveServer, role: Role) -> tuple[str, httpx.Client]:
    username, _ = node.make_user([role])
    return username, node.bearer(node.token_for(username), purpose=None)


def _check(client: httpx.Client, purpose: str, number: str, case: str | None = None) -> dict[str, Any]:
    body = {"purpose": purpose, "case_reference": case, "documents": [{"number": number, "country": "UKR"}]}
    response = client.post("/api/v1/documents/check", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def _listed(client: httpx.Client, side: str, hit_id: str) -> dict[str, Any] | None:
    response = client.get("/api/v1/hits", params={"side": side})
    assert response.status_code == 200, response.text
    return next((item for item in response.json()["items"] if item["id"] == hit_id), None)


def _at_hub(hub: LiveServer, hit_id: str) -> HitRow | None:
    with hub.node.uow(read_only=True) as uow:
        row = uow.session.get(HitRow, hit_id)
        if row is not None:
            uow.session.expunge(row)
        return row


def _events(client: httpx.Client, hit_id: str, until: str) -> list[str]:
    """The kinds of the events on ``hit_id`` this user's stream replays, up to ``until``."""
    kinds: list[str] = []
    with client.stream("GET", "/api/v1/events", headers={"Last-Event-ID": "0"}, timeout=30) as stream:
        lines = stream.iter_lines()
        for _ in range(500):
            [event] = read_events(lines, 1)
            if event["data"].get("id") == hit_id:
                kinds.append(event["event"])
                if event["event"] == until:
                    return kinds
    raise AssertionError(f"no {until} event for hit {hit_id}: {kinds}")


def _wait(check: Any, what: str, seconds: float = 30) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _hub_events(hub: LiveServer, tag: AuditTag, hit_id: str) -> list[dict[str, Any]]:
    with hub.node.uow(read_only=True) as uow:
        rows = uow.session.scalars(select(AuditEventRow).where(AuditEventRow.tag == tag.value)).all()
    entries = [orjson.loads(row.entry) for row in rows]
    return [entry for entry in entries if entry["details"].get("hit") == hit_id]


def test_a_find_hit_is_kept_on_the_requesters_node_which_asks_the_owner_through_the_hub(
    network: tuple[LiveServer, LiveServer], ukraine: LiveServer
) -> None:
    fra, hub = network
    ukr = ukraine
    _treaty(hub, "find")
    owner = hub.make_agency(country="UKR")
    number = f"UH{new_id()[-7:].upper()}"
    # France may see it only as a hit: its copy must hold no more than that.
    record = file_at_hub(hub, owner, number, Restrictions(handling=Tlp.GREEN, hit_only_countries=["FRA"]))
    username, investigator = _user(fra, Role.INVESTIGATOR)
    answer = _check(investigator, "criminal_investigation", number, case="FR-2026-0042")
    assert answer["hub"]["checked"] == "online"
    [result] = answer["results"]
    assert (result["reference"], result["access"], result["source"]) == (record, "hit_only", "hub")
    hit_id = result["hit_id"]

    # France's node keeps the requester's copy and lists it among its agency's hits.
    mine = _wait(lambda: _listed(investigator, "requester", hit_id), "the requester's copy in France")
    assert mine["status"] == "unconfirmed"
    assert mine["record"] == {"id": record, "kind": "travel_document"}
    assert mine["owner"] == {"agency_id": owner, "country": "UKR"}
    assert (mine["access"], mine["purpose"], mine["case_reference"]) == (
        "hit_only",
        "criminal_investigation",
        "FR-2026-0042",
    )
    assert mine["query"]["number"] == number
    assert isinstance(mine["age_seconds"], int)
    assert _listed(investigator, "owner", hit_id) is None  # Ukraine's record, not France's
    with fra.node.uow(read_only=True) as uow:
        copy = uow.session.get(HitRow, hit_id)
        assert copy is not None
        assert copy.source_node == hub.node.settings.node_name
        assert copy.requester_agency_id == fra.own_agency_id
        assert copy.requester_user_id is not None

    # Ukraine's bureau sees the owner's copy: who checked, never the officer's case.
    _, bureau = _user(ukr, Role.NCB_OPERATOR)
    theirs = _wait(lambda: _listed(bureau, "owner", hit_id), "the owner's copy in Ukraine")
    assert theirs["checked_by"] == {"agency_id": fra.own_agency_id, "country": "FRA"}
    assert "case_reference" not in theirs
    with ukr.node.uow(read_only=True) as uow:
        owner_copy = uow.session.get(HitRow, hit_id)
        assert owner_copy is not None
        assert (owner_copy.case_reference, owner_copy.requester_user_id) == (None, None)

    # The officer asks on the French node; the request goes through the hub to Ukraine.
    asked = investigator.post(f"/api/v1/hits/{hit_id}/confirmation-request", json={"note": "Holder detained, Lyon"})
    assert asked.status_code == 200, asked.text
    assert asked.json()["status"] == "confirmation_requested"
    assert_problem(investigator.post(f"/api/v1/hits/{hit_id}/confirmation-request", json={}), 409)
    _, colleague = _user(ukr, Role.INVESTIGATOR)
    assert_problem(colleague.post(f"/api/v1/hits/{hit_id}/confirmation-request", json={}), 404)
    requested = _wait(
        lambda: (c := _listed(bureau, "owner", hit_id)) and c["status"] == "confirmation_requested" and c,
        "the request in Ukraine",
    )
    assert requested["request_note"] == "Holder detained, Lyon"
    at_hub = _at_hub(hub, hit_id)
    assert at_hub is not None
    assert (at_hub.status, at_hub.request_note) == ("confirmation_requested", "Holder detained, Lyon")
    assert at_hub.requester_node == fra.node.settings.node_name
    [audited] = _hub_events(hub, AuditTag.HIT_CONFIRMATION_REQUESTED, hit_id)
    assert audited["actor"]["name"] == f"{username}@{fra.node.settings.node_name}"
    # France cannot answer for Ukraine's record, on its copy.
    assert_problem(fra.as_roles(Role.NCB_OPERATOR).post(f"/api/v1/hits/{hit_id}/confirm", json={}), 404)

    # Ukraine confirms on its node: the hub and France's copy follow.
    confirmed = bureau.post(f"/api/v1/hits/{hit_id}/confirm", json={"note": "Stolen in Kharkiv, still wanted"})
    assert confirmed.status_code == 200, confirmed.text
    _wait(lambda: (h := _at_hub(hub, hit_id)) is not None and h.status == "confirmed", "the answer at the hub")
    final = _wait(
        lambda: (h := investigator.get(f"/api/v1/hits/{hit_id}").json())["status"] == "confirmed" and h,
        "the answer in France",
    )
    assert final["answer_note"] == "Stolen in Kharkiv, still wanted"
    assert final["answered_at"] is not None
    assert _events(investigator, hit_id, "hit.answered") == ["hit.recorded", "hit.answered"]


class _CountedWakes:
    """The hub's network as its screening service sees it, counting the service's wakes."""

    def __init__(self, network: Any, woken: list[str]) -> None:
        self._network, self._woken = network, woken

    def wake(self) -> None:
        self._woken.append("wake")
        self._network.wake()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._network, name)


def test_a_hit_s_reports_wait_for_the_relay_s_next_round_instead_of_waking_it(
    network: tuple[LiveServer, LiveServer], ukraine: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At border rates a hit comes every few checks: its reports go into the hub's outbox in
    the check's transaction and leave with the relay's next round, which carries every
    report since the last one, rather than each hit waking a round (relay, push, receipts)."""
    fra, hub = network
    ukr = ukraine
    number = _ukrainian_document_at_hub(hub, "rounds")
    _, investigator = _user(fra, Role.INVESTIGATOR)
    woken: list[str] = []
    screening = hub.node.screening
    monkeypatch.setattr(screening, "network", _CountedWakes(screening.network, woken))
    [result] = _check(investigator, "criminal_investigation", number)["results"]
    monkeypatch.undo()
    assert result["hit"] is True
    hit_id = result["hit_id"]
    assert woken == []
    with hub.node.uow(read_only=True) as uow:  # queued by the check, for both countries' nodes
        told = uow.session.scalars(select(MessageRow.recipients).where(MessageRow.conversation_id == hit_id)).all()
    assert sorted(node for recipients in told for node in recipients) == sorted(
        [fra.node.settings.node_name, ukr.node.settings.node_name]
    )
    # The relay's own round carries them: both copies arrive.
    _, bureau = _user(ukr, Role.NCB_OPERATOR)
    _wait(lambda: _listed(bureau, "owner", hit_id), "the owner's copy in Ukraine")
    _wait(lambda: _listed(investigator, "requester", hit_id), "the requester's copy in France")


def test_a_hit_s_reports_are_sealed_before_its_transaction_starts_writing(
    network: tuple[LiveServer, LiveServer], ukraine: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reports' envelopes are signed and encrypted before the hit's transaction issues its
    first statement: on SQLite that statement takes the store's writer's turn, which the border
    checks' audit commits wait for, and a report's sealing took as long as the inserts."""
    fra, hub = network
    number = _ukrainian_document_at_hub(hub, "sealed-first")
    _, investigator = _user(fra, Role.INVESTIGATOR)
    # Only the hit's reports: the hub seals other envelopes (receipts, rounds) meanwhile.
    with WorkWhileWriting(hub.node.engine, ["_report_hits"]) as watch:
        monkeypatch.setattr(message_service, "seal", watch.wrap(seal))
        try:
            [result] = _check(investigator, "criminal_investigation", number)["results"]
        finally:
            monkeypatch.undo()
    assert result["hit"] is True
    assert watch.calls["_report_hits"], "the hub sealed no report of the hit"
    assert not any(watch.calls["_report_hits"]), "a report was sealed inside a writing transaction"


def test_the_hub_takes_a_relayed_request_once_and_only_from_the_requesters_node_for_its_agency(
    network: tuple[LiveServer, LiveServer], ukraine: LiveServer
) -> None:
    fra, hub = network
    number = _ukrainian_document_at_hub(hub, "forged", "UG")
    _, investigator = _user(fra, Role.INVESTIGATOR)
    hit_id = _check(investigator, "criminal_investigation", number)["results"][0]["hit_id"]
    _wait(lambda: _listed(investigator, "requester", hit_id), "the requester's copy in France")

    def relayed(sender: str, agency_id: str, message_id: str | None = None) -> None:
        now = dt.datetime.now(dt.UTC)
        by = RelayedBy(
            user_id=new_id(),
            user="officer",
            agency_id=agency_id,
            agency_name="Police nationale",
            agency_kind=AgencyKind.POLICE,
            country="FRA",
            roles=[Role.INVESTIGATOR],
        )
        request = hit_exchange.HitRequest(hit_id=hit_id, note="forged?", requested_at=now, by=by)
        body = orjson.dumps(request.model_dump(mode="json"))
        header = RoutingHeader(
            id=message_id or new_id(),
            sender=sender,
            recipients=[hub.node.settings.node_name],
            created=now,
            expires=now + dt.timedelta(hours=1),
            conversation_id=hit_id,
            content_type=hit_exchange.HIT_REQUEST_TYPE,
            size=len(body),
        )
        hub.node.screening.apply_hit_request(header, body)

    def outcome_of(message_id: str) -> str | None:
        with hub.node.uow(read_only=True) as uow:
            applied = uow.session.get(AppliedEnvelopeRow, message_id)
            assert applied is not None
            return applied.outcome

    # Another country's node, or France for another of its agencies: refused, and kept as such.
    forged, stranger = new_id(), new_id()
    relayed(ukraine.node.settings.node_name, fra.own_agency_id, forged)
    relayed(fra.node.settings.node_name, new_id(), stranger)
    assert "may not ask" in (outcome_of(forged) or "")
    assert "only the requesting agency" in (outcome_of(stranger) or "")
    held = _at_hub(hub, hit_id)
    assert held is not None
    assert held.status == "unconfirmed"

    # The genuine request, delivered twice: applied once.
    genuine = new_id()
    relayed(fra.node.settings.node_name, fra.own_agency_id, genuine)
    relayed(fra.node.settings.node_name, fra.own_agency_id, genuine)
    assert outcome_of(genuine) is None
    held = _at_hub(hub, hit_id)
    assert held is not None
    assert (held.status, held.request_note) == ("confirmation_requested", "forged?")
    assert len(_hub_events(hub, AuditTag.HIT_CONFIRMATION_REQUESTED, hit_id)) == 1
    # Another request, in a new envelope, finds the hit already asked about.
    again = new_id()
    relayed(fra.node.settings.node_name, fra.own_agency_id, again)
    assert "already confirmation requested" in (outcome_of(again) or "")
    # France's copy follows the hub's status.
    _wait(
        lambda: (c := _listed(investigator, "requester", hit_id)) and c["status"] == "confirmation_requested",
        "France's copy to follow",
    )


def _outbox(node: LiveServer, hit_id: str) -> list[int]:
    """The tries so far of the envelopes about ``hit_id`` still in ``node``'s outbox."""
    with node.node.uow(read_only=True) as uow:
        about = select(MessageRow.id).where(MessageRow.conversation_id == hit_id)
        waiting = select(OutboxRow.attempts).where(OutboxRow.message_id.in_(about), OutboxRow.relayed_at.is_(None))
        return list(uow.session.scalars(waiting))


def _closed_port_url() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_a_hit_found_offline_on_the_replica_reaches_the_hub_and_the_owner_when_the_hub_is_back(
    network: tuple[LiveServer, LiveServer], ukraine: LiveServer, settled: None
) -> None:
    fra, hub = network
    ukr = ukraine
    _treaty(hub, "offline")
    owner = hub.make_agency(country="UKR")
    number = f"UR{new_id()[-7:].upper()}"
    record = file_at_hub(hub, owner, number, Restrictions(handling=Tlp.GREEN))
    replica = fra.node.replica
    online = fra.node.screening.online
    assert replica is not None
    assert online is not None
    replica.sync_once()
    _, officer = _user(fra, Role.BORDER_OFFICER)

    view = fra.node.network_view
    view.hub_url = _closed_port_url()  # the hub is unreachable from France
    try:
        answer = _check(officer, "border_control", number, case="FR-BORDER-7")
        assert (answer["hub"]["checked"], answer["hub"]["reachable"]) == ("replica", False)
        [result] = answer["results"]
        assert (result["reference"], result["source"], result["access"]) == (record, "replica", "full")
        hit_id = result["hit_id"]
        # France keeps the hit and may ask at once; both wait in its outbox.
        asked = officer.post(f"/api/v1/hits/{hit_id}/confirmation-request", json={"note": "Car held at Modane"})
        assert asked.status_code == 200, asked.text
        assert asked.json()["status"] == "confirmation_requested"
        # The relay tries, fails, and keeps both for later.
        _wait(lambda: (w := _outbox(fra, hit_id)) and len(w) == 2 and min(w) >= 1, "France's relay to fail")
        assert _at_hub(hub, hit_id) is None
    finally:
        view.hub_url = hub.base_url
        online._down_until = 0.0
        online.last_error = None

    # The hub back: it holds the hit (its own record's owner, kind and id), asked about.
    held = _wait(
        lambda: (h := _at_hub(hub, hit_id)) is not None and h.status == "confirmation_requested" and h,
        "the hit at the hub",
    )
    assert (held.record_id, held.record_kind, held.owner_agency_id, held.owner_country) == (
        record,
        "travel_document",
        owner,
        "UKR",
    )
    assert (held.requester_agency_id, held.requester_country) == (fra.own_agency_id, "FRA")
    assert (held.requester_node, held.purpose, held.access) == (fra.node.settings.node_name, "border_control", "full")
    assert held.request_note == "Car held at Modane"
    [reported] = _hub_events(hub, AuditTag.HIT_REPORTED, hit_id)
    assert reported["record_ids"] == [record]
    assert reported["actor"]["kind"] == "relayed"

    # Ukraine's bureau has it, and rejects it on its node; France's copy follows.
    _, bureau = _user(ukr, Role.NCB_OPERATOR)
    theirs = _wait(
        lambda: (c := _listed(bureau, "owner", hit_id)) and c["status"] == "confirmation_requested" and c,
        "the hit in Ukraine",
    )
    assert theirs["checked_by"] == {"agency_id": fra.own_agency_id, "country": "FRA"}
    assert theirs["request_note"] == "Car held at Modane"
    rejected = bureau.post(f"/api/v1/hits/{hit_id}/reject", json={"note": "Recovered last week"})
    assert rejected.status_code == 200, rejected.text
    mine = _wait(
        lambda: (h := officer.get(f"/api/v1/hits/{hit_id}").json())["status"] == "rejected" and h,
        "the answer in France",
    )
    assert mine["answer_note"] == "Recovered last week"
    assert mine["case_reference"] == "FR-BORDER-7"
    final = _at_hub(hub, hit_id)
    assert final is not None
    assert final.status == "rejected"


def test_a_person_matched_on_the_replica_by_a_node_answering_from_its_copy_is_told_to_the_owner(
    network: tuple[LiveServer, LiveServer], ukraine: LiveServer, settled: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    fra, hub = network
    treaty = Agreement(
        id=f"fra-ukr-hits-persons-{new_id()[-6:]}",
        title="Persons",
        kind=AgreementKind.BILATERAL_TREATY,
        parties=["FRA", "UKR"],
        categories=[DataCategory.PERSONS],
        purposes=[Purpose.BORDER_CONTROL],
        level=AccessLevel.FULL,
        valid_from=dt.date(2020, 1, 1),
        legal_reference="FRA-UKR treaty, art. 10",
    )
    read = hub.node.policy.propose(treaty, admin("UKR"))
    for country in ("FRA", "UKR"):
        hub.node.policy.approve(treaty.id, read.version, admin(country))
    owner = hub.make_agency(country="UKR")
    wanted = NewRecord(
        content=Person.model_validate({"names": [{"full": "Богдан Ткаченко"}], "birth_dates": ["1983-02-11"]}),
        owner_agency_id=owner,
        owner_country="UKR",
        restrictions=Restrictions(handling=Tlp.GREEN),
        id=new_id(),
    )
    hub.node.records["person"].create_many([wanted])
    replica = fra.node.replica
    assert replica is not None
    replica.sync_once()
    monkeypatch.setattr(fra.node.screening, "online", None)  # a node answering from its copy (MIND)
    _, officer = _user(fra, Role.BORDER_OFFICER)
    matched = officer.post(
        "/api/v1/persons/match",
        json={"purpose": "border_control", "query": {"names": ["Bohdan Tkachenko"], "birth_date": "1983"}},
    )
    assert matched.status_code == 200, matched.text
    [candidate] = [c for c in matched.json()["candidates"] if c["id"] == wanted.id]
    assert (candidate["source"], candidate["match"]) == ("replica", True)
    hit_id = candidate["hit_id"]

    held = _wait(lambda: _at_hub(hub, hit_id), "the hit at the hub")
    assert (held.record_kind, held.owner_agency_id) == ("person", owner)
    assert held.requester_node == fra.node.settings.node_name
    _, bureau = _user(ukraine, Role.NCB_OPERATOR)
    theirs = _wait(lambda: _listed(bureau, "owner", hit_id), "the hit in Ukraine")
    assert theirs["record"] == {"id": wanted.id, "kind": "person"}
    assert _listed(officer, "requester", hit_id) is not None
