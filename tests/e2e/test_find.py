"""FIND over real HTTP: a French officer checks on the French node, which asks the hub online
for the hub's records on the officer's behalf. The hub decides each record for that officer
(France, their agency, the purpose), audits the check as theirs and raises the hit for the
owner; the French node merges and audits its side. When the hub cannot answer, border checks
fall back on the replica and say so; other purposes say the hub's records were not checked."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select

from polex.domain.agency import AgencyKind
from polex.domain.base import Restrictions, Tlp, new_id
from polex.domain.document import TravelDocument
from polex.domain.policy import AccessLevel, Agreement, AgreementKind, DataCategory, Purpose
from polex.domain.roles import Role
from polex.errors import Forbidden
from polex.network.relayed import RelayedBy
from polex.policy.schemas import SubjectKind
from polex.record.service import NewRecord
from polex.screening.online import hub_principal
from polex.storage.tables import AgencyRow, AuditEventRow, HitRow
from tests.e2e.conftest import LiveServer, assert_problem, error_fields
from tests.e2e.test_replica import admin, file_at_hub, person_at_hub
from tests.factories import document_body


def _treaty(hub: LiveServer, name: str) -> None:
    treaty = Agreement(
        id=f"fra-ukr-find-{name}-{new_id()[-6:]}",
        title="Documents and persons",
        kind=AgreementKind.BILATERAL_TREATY,
        parties=["FRA", "UKR"],
        categories=[DataCategory.TRAVEL_DOCUMENTS, DataCategory.PERSONS],
        purposes=[Purpose.BORDER_CONTROL, Purpose.CRIMINAL_INVESTIGATION],
        level=AccessLevel.FULL,
        valid_from=dt.date(2020, 1, 1),
        legal_reference="FRA-UKR treaty, art. 7",
    )
    read = hub.node.policy.propose(treaty, admin("UKR"))
    for country in ("FRA", "UKR"):
        hub.node.policy.approve(treaty.id, read.version, admin(country))


def _check(client: httpx.Client, purpose: str, *numbers: str) -> dict[str, Any]:
    body = {"purpose": purpose, "documents": [{"number": n, "country": "UKR"} for n in numbers]}
    response = client.post("/api/v1/documents/check", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def _user(node: LiveServer, role: Role) -> tuple[str, httpx.Client]:
    """A fresh user whose client declares no purpose header (the body says it)."""
    username, _ = node.make_user([role])
    return username, node.bearer(node.token_for(username), purpose=None)


@pytest.fixture
def hub_down(network: tuple[LiveServer, LiveServer], monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """Makes France's node find the hub refusing connections (again: each call forgets the
    last failure); France's own client comes back after the test."""
    online = network[0].node.screening.online
    assert online is not None
    monkeypatch.setattr(online, "_client", online._client)
    monkeypatch.setattr(online, "_down_until", 0.0)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    def down() -> None:
        online._client = httpx.Client(transport=httpx.MockTransport(refuse))
        online._down_until = 0.0

    return down


def test_a_national_check_is_answered_online_by_the_hub_for_that_officer(
    network: tuple[LiveServer, LiveServer],
) -> None:
    fra, hub = network
    _treaty(hub, "online")
    ukr = hub.make_agency(country="UKR")
    suffix = new_id()[-6:].upper()
    shared = file_at_hub(hub, ukr, f"UF{suffix}1", Restrictions(handling=Tlp.GREEN))
    hit_only = file_at_hub(hub, ukr, f"UF{suffix}2", Restrictions(handling=Tlp.GREEN, hit_only_countries=["FRA"]))
    file_at_hub(hub, ukr, f"UF{suffix}3", Restrictions(handling=Tlp.GREEN, excluded_countries=["FRA"]))

    username, investigator = _user(fra, Role.INVESTIGATOR)
    # Criminal investigation: the replica (made for border control) could not have answered.
    answer = _check(investigator, "criminal_investigation", f"UF{suffix}1", f"UF{suffix}2", f"UF{suffix}3", "UF0")
    assert answer["hub"] == {"checked": "online", "reachable": True}
    results = answer["results"]
    assert [result["hit"] for result in results] == [True, True, False, False]
    assert (results[0]["source"], results[0]["reference"], results[0]["access"]) == ("hub", shared, "full")
    assert (results[1]["reference"], results[1]["access"]) == (hit_only, "hit_only")
    assert "number" not in results[1]["record"]
    assert results[0]["hit_id"]

    # At the hub: the officer's agency under its national id, the check audited as theirs,
    # and the hits raised for the owner, naming France as the requester.
    officer_agency = fra.own_agency_id
    with hub.node.uow(read_only=True) as uow:
        agency = uow.session.get(AgencyRow, officer_agency)
        assert agency is not None
        assert agency.country == "FRA"
        events = uow.session.scalars(
            select(AuditEventRow).where(AuditEventRow.tag == "screening:document:checked").order_by(AuditEventRow.seq)
        ).all()
        hits = uow.session.scalars(select(HitRow).where(HitRow.record_id.in_([shared, hit_only]))).all()
    entries = [orjson.loads(event.entry) for event in events]
    mine = [entry for entry in entries if entry["actor"].get("name") == f"{username}@fra"]
    assert mine, "the hub did not audit the check as the French officer's"
    assert mine[-1]["actor"]["kind"] == "relayed"
    assert mine[-1]["purpose"] == "criminal_investigation"
    assert {hit.requester_country for hit in hits} == {"FRA"}
    assert {hit.requester_agency_id for hit in hits} == {officer_agency}
    # The French node audited its side and says the hub answered.
    with fra.node.uow(read_only=True) as uow:
        national = uow.session.scalars(
            select(AuditEventRow).where(AuditEventRow.tag == "screening:document:checked").order_by(AuditEventRow.seq)
        ).all()
    last = orjson.loads(national[-1].entry)
    assert last["details"]["hub"] == "online"
    assert set(last["record_ids"]) >= {shared, hit_only}


def test_a_person_the_country_sees_only_as_a_hit_is_matched_online(network: tuple[LiveServer, LiveServer]) -> None:
    fra, hub = network
    _treaty(hub, "persons")
    ukr = hub.make_agency(country="UKR")
    hidden_only = Restrictions(handling=Tlp.GREEN, hit_only_countries=["FRA"])
    hidden = person_at_hub(hub, ukr, "Тарас Гнатюк", "1981-09-14", hidden_only)
    _, officer = _user(fra, Role.BORDER_OFFICER)
    matched = officer.post(
        "/api/v1/persons/match",
        json={"purpose": "border_control", "query": {"names": ["Taras Hnatiuk"], "birth_date": "1981"}},
    )
    assert matched.status_code == 200, matched.text
    assert matched.json()["hub"]["checked"] == "online"
    [candidate] = [c for c in matched.json()["candidates"] if c["id"] == hidden.id]
    assert (candidate["source"], candidate["access"], candidate["match"]) == ("hub", "hit_only", True)
    assert "names" not in (candidate["record"] or {})


def test_without_the_hub_border_checks_fall_back_on_the_replica_and_say_so(
    network: tuple[LiveServer, LiveServer], hub_down: Callable[[], None]
) -> None:
    fra, _ = network
    hub_down()
    _, officer = _user(fra, Role.BORDER_OFFICER)

    border = _check(officer, "border_control", "UF-NOT-FILED")
    assert border["hub"]["checked"] == "replica"
    assert border["hub"]["reachable"] is False
    assert "refused" in border["hub"]["error"]
    assert "as_of" in border["replica"]

    _, investigator = _user(fra, Role.INVESTIGATOR)
    other = _check(investigator, "criminal_investigation", "UF-NOT-FILED")
    assert other["hub"]["checked"] == "none"  # never a silent miss
    assert other["replica"] is None


def test_only_the_hub_answers_find_and_only_nodes_ask(network: tuple[LiveServer, LiveServer]) -> None:
    fra, hub = network
    body = {
        "by": {
            "user_id": "u",
            "user": "x",
            "agency_id": new_id(),
            "agency_name": "x",
            "agency_kind": "police",
            "country": "FRA",
        },
        "purpose": "border_control",
        "items": [{"number": "X1", "country": "UKR"}],
    }
    assert hub.client().post("/api/v1/network/find/documents", json=body).status_code == 401
    user = hub.as_roles(Role.ADMIN).post("/api/v1/network/find/documents", json=body)
    assert user.status_code == 401
    assert_problem(fra.as_roles(Role.ADMIN).post("/api/v1/network/find/documents", json=body), 401)
    # A node speaks for its own country only.
    forged = RelayedBy.model_validate({**body["by"], "country": "DEU"})
    with pytest.raises(Forbidden, match="serves FRA"):
        hub_principal(hub.node.uow, hub.node.network_view, fra.node.settings.node_name, forged)


def test_an_agency_suspended_at_the_hub_is_refused_there_whichever_node_relays_it(
    network: tuple[LiveServer, LiveServer],
) -> None:
    fra, hub = network
    fra_name = fra.node.settings.node_name
    by = RelayedBy(
        user_id="u-1",
        user="officer",
        agency_id=fra.own_agency_id,
        agency_name="Police aux frontières",
        agency_kind=AgencyKind.POLICE,
        country="FRA",
        roles=[Role.BORDER_OFFICER],
    )
    hub_principal(hub.node.uow, hub.node.network_view, fra_name, by)  # the agency is registered at the hub
    sanction = hub.node.policy.suspend(SubjectKind.AGENCY, fra.own_agency_id, "bulk look-ups", admin("XPO"))
    with pytest.raises(Forbidden, match="agency is suspended at the hub"):
        hub_principal(hub.node.uow, hub.node.network_view, fra_name, by)
    # Over the wire: the node's FIND for that agency is refused, with the reason.
    token = fra.node.network_view.token_for(hub.node.settings.node_name)
    body = {
        "by": by.model_dump(mode="json"),
        "purpose": "border_control",
        "items": [{"number": "X1", "country": "UKR"}],
    }
    refused = httpx.post(
        f"{hub.base_url}/api/v1/network/find/documents", json=body, headers={"Authorization": f"PolexNode {token}"}
    )
    assert "suspended at the hub" in assert_problem(refused, 403)["detail"]
    hub.node.policy.lift(sanction.id, "explained", admin("XPO"))
    assert hub_principal(hub.node.uow, hub.node.network_view, fra_name, by).agency_id == fra.own_agency_id


def test_a_hit_at_the_hub_reaches_the_owner_country_whose_bureau_answers_from_its_node(
    network: tuple[LiveServer, LiveServer],
) -> None:
    fra, hub = network
    _treaty(hub, "hits")
    french_agency = hub.make_agency(country="FRA")
    number = f"FR{new_id()[-7:].upper()}"
    record = NewRecord(
        content=TravelDocument.model_validate(document_body(number=number, issuing_country="FRA")),
        owner_agency_id=french_agency,
        owner_country="FRA",
        restrictions=Restrictions(handling=Tlp.GREEN),
        id=new_id(),
    )
    hub.node.records["travel_document"].create_many([record])
    ukrainian = hub.make_agency(country="UKR")
    username, _ = hub.make_user([Role.BORDER_OFFICER], agency_id=ukrainian)
    border = hub.bearer(hub.token_for(username), purpose=None)
    body = {"purpose": "border_control", "documents": [{"number": number, "country": "FRA"}]}
    checked = border.post("/api/v1/documents/check", json=body)
    assert checked.status_code == 200, checked.text
    hit_id = checked.json()["results"][0]["hit_id"]

    # France's bureau, on its own node, sees the hit on its country's record.
    _, bureau = _user(fra, Role.NCB_OPERATOR)

    def owner_copy() -> dict[str, Any] | None:
        items = bureau.get("/api/v1/hits", params={"side": "owner"}).json()["items"]
        return next((item for item in items if item["id"] == hit_id), None)

    copy = _wait(owner_copy, "the hit on the French node")
    assert copy["checked_by"] == {"agency_id": ukrainian, "country": "UKR"}
    assert copy["record"]["id"] == record.id
    assert copy["status"] == "unconfirmed"

    # The requester asks at the hub; the request reaches France; France confirms from there.
    asked = border.post(f"/api/v1/hits/{hit_id}/confirmation-request", json={"note": "Traveller held at gate 12"})
    assert asked.status_code == 200, asked.text
    _wait(lambda: (c := owner_copy()) and c["status"] == "confirmation_requested", "the request in France")
    answered = bureau.post(f"/api/v1/hits/{hit_id}/confirm", json={"note": "Stolen in Lyon, still wanted"})
    assert answered.status_code == 200, answered.text

    def at_hub() -> dict[str, Any]:
        body: dict[str, Any] = border.get(f"/api/v1/hits/{hit_id}").json()
        return body

    final = _wait(lambda: (h := at_hub())["status"] == "confirmed" and h, "the answer at the hub")
    assert final["answer_note"] == "Stolen in Lyon, still wanted"
    assert_problem(bureau.post(f"/api/v1/hits/{hit_id}/reject", json={"note": "changed my mind"}), 409)


def _wait(check: Any, what: str, seconds: float = 15) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _screen(client: httpx.Client, purpose: str, manifest: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A manifest screened on the node: the finished job and its result lines."""
    submitted = client.post(
        f"/api/v1/screenings?purpose={purpose}", content=manifest.encode(), headers={"Content-Type": "text/csv"}
    )
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["id"]
    with client.stream("GET", f"/api/v1/screenings/{job_id}/results?follow=true", timeout=60) as stream:
        lines = [orjson.loads(line) for line in stream.iter_lines() if line]
    job: dict[str, Any] = client.get(f"/api/v1/screenings/{job_id}").json()
    assert job["status"] == "done", job
    return job, lines


def test_a_national_manifest_is_checked_online_at_the_hub_row_by_row(network: tuple[LiveServer, LiveServer]) -> None:
    fra, hub = network
    _treaty(hub, "manifest")
    ukr = hub.make_agency(country="UKR")
    suffix = new_id()[-6:].upper()
    document = file_at_hub(hub, ukr, f"UM{suffix}1", Restrictions(handling=Tlp.GREEN))
    wanted = person_at_hub(hub, ukr, "Олександр Кравчук", "1977-02-03", Restrictions(handling=Tlp.GREEN))
    username, investigator = _user(fra, Role.INVESTIGATOR)
    # 120 rows: more than one batch of person queries to the hub (MAX_QUERIES is 100).
    rows = ["id,name,birth_date,document_number,document_country"]
    rows += [f"p{n},Passenger Number{n},1990-01-01,," for n in range(117)]
    rows += [
        "kravchuk,Oleksandr Kravchuk,1977-02-03,,",
        f"document,,,UM{suffix}1,UKR",
        "empty,,,,",
    ]
    # Criminal investigation: the replica (made for border control) cannot have answered.
    job, lines = _screen(investigator, "criminal_investigation", "\n".join(rows) + "\n")

    assert len(lines) == 120
    by_ref = {line["ref"]: line for line in lines}
    [candidate] = [c for c in by_ref["kravchuk"]["candidates"] if c["id"] == wanted.id]
    assert (candidate["source"], candidate["match"], candidate["access"]) == ("hub", True, "full")
    assert by_ref["kravchuk"]["hit"] is True
    assert by_ref["kravchuk"]["hub"] == "online"
    found = by_ref["document"]["document"]
    assert (found["hit"], found["source"], found["reference"]) == (True, "hub", document)
    assert by_ref["document"]["hub"] == "online"
    assert "hub" not in by_ref["empty"]  # nothing of it could be checked anywhere
    assert all(line["hub"] == "online" for line in lines if line["ref"] != "empty")
    assert job["summary"]["hub"] == {"online": 119, "replica": 0, "unchecked": 0}
    assert job["summary"]["person_matches"] >= 1
    assert job["summary"]["document_hits"] == 1

    # At the hub: the persons matched in batches audited as the French officer's, and the
    # hit raised for the owner, naming France as the requester and its node as the asker.
    with hub.node.uow(read_only=True) as uow:
        events = uow.session.scalars(
            select(AuditEventRow).where(AuditEventRow.tag == "screening:person:matched").order_by(AuditEventRow.seq)
        ).all()
        hits = uow.session.scalars(select(HitRow).where(HitRow.record_id == wanted.id)).all()
    mine = [
        e for e in map(orjson.loads, (event.entry for event in events)) if e["actor"].get("name") == f"{username}@fra"
    ]
    assert [entry["details"]["queries"] for entry in mine] == [100, 18]
    assert all(entry["purpose"] == "criminal_investigation" for entry in mine)
    assert [(hit.requester_country, hit.requester_node) for hit in hits] == [("FRA", fra.node.settings.node_name)]


def test_without_the_hub_a_manifest_says_which_rows_it_could_not_check_there(
    network: tuple[LiveServer, LiveServer], hub_down: Callable[[], None]
) -> None:
    fra, _ = network
    hub_down()
    manifest = "id,name,document_number,document_country\na,Anna Example,,\nb,,UX0001,UKR\nc,Bo Both,UX0002,UKR\n"

    _, investigator = _user(fra, Role.INVESTIGATOR)
    job, lines = _screen(investigator, "criminal_investigation", manifest)
    assert [line["hub"] for line in lines] == ["none", "none", "none"]  # never a silent miss
    assert job["summary"]["hub"] == {"online": 0, "replica": 0, "unchecked": 3}

    # Border control: the replica stands in, and every row says so.
    hub_down()
    _, officer = _user(fra, Role.BORDER_OFFICER)
    job, lines = _screen(officer, "border_control", manifest)
    assert [line["hub"] for line in lines] == ["replica", "replica", "replica"]
    assert job["summary"]["hub"] == {"online": 0, "replica": 3, "unchecked": 0}


def test_a_batch_of_relayed_query_persons_is_refused_naming_the_bad_one(network: tuple[LiveServer, LiveServer]) -> None:
    fra, hub = network
    token = fra.node.network_view.token_for(hub.node.settings.node_name)
    by = {
        "user_id": "u-1",
        "user": "officer",
        "agency_id": fra.own_agency_id,
        "agency_name": "Police aux frontières",
        "agency_kind": "police",
        "country": "FRA",
        "roles": ["investigator"],
    }
    body = {"by": by, "purpose": "criminal_investigation", "threshold": 0.8}

    def post(queries: list[dict[str, Any]]) -> httpx.Response:
        return httpx.post(
            f"{hub.base_url}/api/v1/network/find/persons/batch",
            json={**body, "queries": queries},
            headers={"Authorization": f"PolexNode {token}"},
        )

    refused = assert_problem(post([{"names": ["Anna Example"]}, {"names": []}]), 422)
    assert error_fields(refused) == {"queries[1].names"}
    unreadable = assert_problem(post([{"names": ["Anna Example"], "birth_date": "1980-13-45"}]), 422)
    assert "queries[0].birth_date" in error_fields(unreadable)
    assert_problem(post([{"names": ["Anna Example"]}] * 101), 422)
    answered = post([{"names": ["Anna Example"]}, {"names": ["Nobody Filed"], "birth_date": "1980"}])
    assert answered.status_code == 200, answered.text
    assert len(answered.json()["results"]) == 2
