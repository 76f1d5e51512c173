"""Hit paths beside the main exchange (tests/e2e/test_hit_exchange.py), over real HTTP: a hub,
France and Ukraine.

- A person matched online at the hub (FIND) leaves the requester's copy on its node and the
  owner's on the owner country's, as a document check does.
- One node serving both the record's country and the requester's keeps one copy of the hit
  with both sides, listed among its country's records' hits and among its agency's.
- A manifest screened on a national node asks the hub online, or answers from the replica
  while the hub is away; either way the hit is the hub's and reaches the owner.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import httpx
from sqlalchemy import select

from polex.domain.base import Restrictions, Tlp, new_id
from polex.domain.person import Person
from polex.domain.policy import AccessLevel, Agreement, AgreementKind, DataCategory, Purpose
from polex.domain.roles import Role
from polex.record.service import NewRecord
from polex.storage.tables import HitRow
from tests.e2e.conftest import LiveServer
from tests.e2e.test_hit_exchange import _at_hub, _closed_port_url, _listed, _user, _wait
from tests.e2e.test_replica import admin, file_at_hub


def _agree(hub: LiveServer, name: str, parties: list[str], categories: list[DataCategory]) -> None:
    treaty = Agreement(
        id=f"hit-paths-{name}-{new_id()[-6:]}",
        title=name,
        kind=AgreementKind.BILATERAL_TREATY if len(parties) == 2 else AgreementKind.MULTILATERAL_CONVENTION,
        parties=parties,
        categories=categories,
        purposes=[Purpose.BORDER_CONTROL, Purpose.CRIMINAL_INVESTIGATION],
        level=AccessLevel.FULL,
        valid_from=dt.date(2020, 1, 1),
        legal_reference=f"{name}, art. 1",
    )
    read = hub.node.policy.propose(treaty, admin(parties[-1]))
    for country in parties:
        hub.node.policy.approve(treaty.id, read.version, admin(country))


def test_a_person_matched_online_at_the_hub_leaves_the_requesters_and_the_owners_copies(
    network: tuple[LiveServer, LiveServer], ukraine: LiveServer
) -> None:
    fra, hub = network
    _agree(hub, "fra-ukr-persons-find", ["FRA", "UKR"], [DataCategory.PERSONS])
    owner = hub.make_agency(country="UKR")
    wanted = NewRecord(
        content=Person.model_validate({"names": [{"full": "Олександр Кравченко"}], "birth_dates": ["1979-06-02"]}),
        owner_agency_id=owner,
        owner_country="UKR",
        restrictions=Restrictions(handling=Tlp.GREEN),
        id=new_id(),
    )
    hub.node.records["person"].create_many([wanted])
    _, investigator = _user(fra, Role.INVESTIGATOR)
    matched = investigator.post(
        "/api/v1/persons/match",
        json={
            "purpose": "criminal_investigation",
            "case_reference": "FR-2026-0107",
            "query": {"names": ["Oleksandr Kravchenko"], "birth_date": "1979-06-02"},
        },
    )
    assert matched.status_code == 200, matched.text
    assert matched.json()["hub"]["checked"] == "online"
    [candidate] = [c for c in matched.json()["candidates"] if c["id"] == wanted.id]
    assert (candidate["source"], candidate["match"]) == ("hub", True)
    hit_id = candidate["hit_id"]

    held = _wait(lambda: _at_hub(hub, hit_id), "the hit at the hub")
    assert (held.record_kind, held.owner_agency_id, held.requester_node) == ("person", owner, "fra")
    mine = _wait(lambda: _listed(investigator, "requester", hit_id), "the requester's copy in France")
    assert mine["record"] == {"id": wanted.id, "kind": "person"}
    assert (mine["purpose"], mine["case_reference"]) == ("criminal_investigation", "FR-2026-0107")
    assert mine["query"]["names"] == ["Oleksandr Kravchenko"]
    _, bureau = _user(ukraine, Role.NCB_OPERATOR)
    theirs = _wait(lambda: _listed(bureau, "owner", hit_id), "the owner's copy in Ukraine")
    assert theirs["checked_by"] == {"agency_id": fra.own_agency_id, "country": "FRA"}
    assert "case_reference" not in theirs
    # Each node was told its own side only.
    assert _listed(investigator, "owner", hit_id) is None
    with ukraine.node.uow(read_only=True) as uow:
        owner_copy = uow.session.get(HitRow, hit_id)
        assert owner_copy is not None
        assert (owner_copy.requester_user_id, owner_copy.case_reference) == (None, None)


def test_one_node_serving_the_owner_and_the_requester_gets_one_envelope_with_both_sides(
    network: tuple[LiveServer, LiveServer], ukraine: LiveServer
) -> None:
    _, hub = network
    owner = hub.make_agency(country="UKR")
    number = f"US{new_id()[-7:].upper()}"
    record = file_at_hub(hub, owner, number, Restrictions(handling=Tlp.GREEN))
    # A Ukrainian officer, on Ukraine's node, checks a Ukrainian agency's document at the hub.
    _, officer = _user(ukraine, Role.BORDER_OFFICER)
    body = {"purpose": "border_control", "documents": [{"number": number, "country": "UKR"}]}
    answer = officer.post("/api/v1/documents/check", json=body)
    assert answer.status_code == 200, answer.text
    [result] = answer.json()["results"]
    assert (result["reference"], result["source"]) == (record, "hub")
    hit_id = result["hit_id"]

    _, bureau = _user(ukraine, Role.NCB_OPERATOR)
    theirs = _wait(lambda: _listed(bureau, "owner", hit_id), "the hit among Ukraine's records' hits")
    assert theirs["checked_by"]["country"] == "UKR"
    mine = _listed(officer, "requester", hit_id)
    assert mine is not None
    assert mine["query"]["number"] == number
    with ukraine.node.uow(read_only=True) as uow:
        [copy] = uow.session.scalars(select(HitRow).where(HitRow.id == hit_id)).all()
        # One copy with both sides: the requester's user (only its own side carries it).
        assert copy.requester_user_id is not None
        assert copy.source_node == hub.node.settings.node_name

    # The bureau confirms on the node; the hub follows and so does the one copy.
    confirmed = bureau.post(f"/api/v1/hits/{hit_id}/confirm", json={"note": "Ours, stolen in Odesa"})
    assert confirmed.status_code == 200, confirmed.text
    _wait(lambda: (h := _at_hub(hub, hit_id)) is not None and h.status == "confirmed", "the answer at the hub")
    final = _wait(
        lambda: (h := officer.get(f"/api/v1/hits/{hit_id}").json())["status"] == "confirmed" and h,
        "the answer on the officer's side",
    )
    assert final["answer_note"] == "Ours, stolen in Odesa"


def _screen(client: httpx.Client, manifest: str) -> list[dict[str, Any]]:
    submitted = client.post(
        "/api/v1/screenings?purpose=border_control&source=PS731",
        content=manifest.encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert submitted.status_code == 202, submitted.text
    job = submitted.json()["id"]
    with client.stream("GET", f"/api/v1/screenings/{job}/results?follow=true", timeout=60) as stream:
        lines = [json.loads(line) for line in stream.iter_lines() if line]
    assert client.get(f"/api/v1/screenings/{job}").json()["status"] == "done"
    return lines


def test_a_manifest_on_a_national_node_asks_the_hub_online_and_the_replica_while_the_hub_is_away(
    network: tuple[LiveServer, LiveServer],
    ukraine: LiveServer,
    settled: None,
) -> None:
    fra, hub = network
    _agree(hub, "fra-ukr-manifests", ["FRA", "UKR"], [DataCategory.TRAVEL_DOCUMENTS])
    owner = hub.make_agency(country="UKR")
    online_number, offline_number = (f"UM{new_id()[-7:].upper()}" for _ in range(2))
    online_record = file_at_hub(hub, owner, online_number, Restrictions(handling=Tlp.GREEN))
    offline_record = file_at_hub(hub, owner, offline_number, Restrictions(handling=Tlp.GREEN))
    replica = fra.node.replica
    online = fra.node.screening.online
    assert replica is not None
    assert online is not None
    replica.sync_once()
    _, officer = _user(fra, Role.BORDER_OFFICER)
    header = "id,name,passport_number,issuing_country\n"

    lines = _screen(officer, header + f"A1,Anna Petrenko,{online_number},UKR\nA2,Ivan Moroz,UX0000001,UKR\n")
    assert [(line["ref"], line["hit"]) for line in lines] == [("A1", True), ("A2", False)]
    match = lines[0]["document"]
    assert (match["reference"], match["source"]) == (online_record, "hub")
    online_hit = match["hit_id"]
    assert _wait(lambda: _at_hub(hub, online_hit), "the online hit at the hub").requester_node == "fra"

    view = fra.node.network_view
    view.hub_url = _closed_port_url()  # the hub is unreachable from France
    try:
        lines = _screen(officer, header + f"B1,Olena Shevchuk,{offline_number},UKR\n")
        match = lines[0]["document"]
        assert (match["reference"], match["source"]) == (offline_record, "replica")
        offline_hit = match["hit_id"]
        assert _at_hub(hub, offline_hit) is None
    finally:
        view.hub_url = hub.base_url
        online._down_until = 0.0
        online.last_error = None

    # Back online, the hit found on the replica reaches the hub and the owner.
    held = _wait(lambda: _at_hub(hub, offline_hit), "the offline hit at the hub")
    assert (held.record_id, held.requester_node, held.purpose) == (offline_record, "fra", "border_control")
    _, bureau = _user(ukraine, Role.NCB_OPERATOR)
    for hit_id in (online_hit, offline_hit):
        theirs = _wait(lambda hit_id=hit_id: _listed(bureau, "owner", hit_id), f"hit {hit_id} in Ukraine")
        assert theirs["checked_by"] == {"agency_id": fra.own_agency_id, "country": "FRA"}
