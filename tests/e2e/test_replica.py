"""The national replica over real HTTP: France pulls from the hub the documents its country
may see (decided by the hub's policy), answers border checks from that copy, follows
withdrawals, keeps answering when the hub is unreachable and says how old its data is."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from sqlalchemy import select

from polex.auth.principal import Principal, PrincipalKind
from polex.domain.base import Restrictions, Tlp, new_id
from polex.domain.document import TravelDocument
from polex.domain.person import Person
from polex.domain.policy import AccessLevel, Agreement, AgreementKind, DataCategory, Purpose
from polex.domain.roles import Role
from polex.record.service import NewRecord
from polex.storage.tables import AuditEventRow
from tests.e2e.conftest import LiveServer
from tests.factories import document_body


def admin(country: str) -> Principal:
    return Principal(PrincipalKind.LOCAL, new_id(), "admin", new_id(), country, frozenset({Role.ADMIN}))


@pytest.fixture
def replica_only(network: tuple[LiveServer, LiveServer], monkeypatch: pytest.MonkeyPatch) -> None:
    """France answers from its copy alone (find_online false), as a node configured for MIND
    only does; tests/e2e/test_find.py covers asking the hub online first."""
    monkeypatch.setattr(network[0].node.screening, "online", None)


def file_at_hub(hub: LiveServer, agency_id: str, number: str, restrictions: Restrictions) -> str:
    record = NewRecord(
        content=TravelDocument.model_validate(document_body(number=number, issuing_country="UKR")),
        owner_agency_id=agency_id,
        owner_country="UKR",
        restrictions=restrictions,
        id=new_id(),
    )
    hub.node.records["travel_document"].create_many([record])
    return record.id or ""


def check(client: httpx.Client, *numbers: str) -> dict[str, object]:
    body = {"purpose": "border_control", "documents": [{"number": n, "country": "UKR"} for n in numbers]}
    response = client.post("/api/v1/documents/check", json=body, headers={"X-Polex-Purpose": "border_control"})
    assert response.status_code == 200, response.text
    answer: dict[str, object] = response.json()
    return answer


def test_border_checks_answer_from_the_replica_online_and_offline(
    network: tuple[LiveServer, LiveServer], settled: None, replica_only: None
) -> None:
    fra, hub = network
    treaty = Agreement(
        id="fra-ukr-replica-e2e",
        title="Border documents",
        kind=AgreementKind.BILATERAL_TREATY,
        parties=["FRA", "UKR"],
        categories=[DataCategory.TRAVEL_DOCUMENTS, DataCategory.PERSONS],
        purposes=[Purpose.BORDER_CONTROL],
        level=AccessLevel.FULL,
        valid_from=dt.date(2020, 1, 1),
        legal_reference="FRA-UKR border treaty, art. 4",
    )
    read = hub.node.policy.propose(treaty, admin("UKR"))
    for country in ("FRA", "UKR"):
        hub.node.policy.approve(treaty.id, read.version, admin(country))
    ukr_ncb = hub.make_agency(country="UKR")
    shared = file_at_hub(hub, ukr_ncb, "UA1000001", Restrictions(handling=Tlp.GREEN))
    hit_only = file_at_hub(hub, ukr_ncb, "UA1000002", Restrictions(handling=Tlp.GREEN, hit_only_countries=["FRA"]))
    file_at_hub(hub, ukr_ncb, "UA1000003", Restrictions(handling=Tlp.GREEN, excluded_countries=["FRA"]))
    wanted_person = NewRecord(
        content=Person.model_validate({"names": [{"full": "Олег Бондар"}], "birth_dates": ["1979-04-02"]}),
        owner_agency_id=ukr_ncb,
        owner_country="UKR",
        restrictions=Restrictions(handling=Tlp.GREEN),
        id=new_id(),
    )
    hidden_person = NewRecord(
        content=Person.model_validate({"names": [{"full": "Олег Бондаренко"}], "birth_dates": ["1979-04-02"]}),
        owner_agency_id=ukr_ncb,
        owner_country="UKR",
        restrictions=Restrictions(handling=Tlp.GREEN, hit_only_countries=["FRA"]),
        id=new_id(),
    )
    hub.node.records["person"].create_many([wanted_person, hidden_person])

    replica = fra.node.replica
    assert replica is not None
    assert replica.sync_once() >= 3
    status = replica.status()
    assert status["hub_reachable"] is True
    assert status["as_of"] is not None

    officer = fra.as_roles(Role.BORDER_OFFICER)
    answer = check(officer, "UA1000001", "UA1000002", "UA1000003", "UA9999999")
    results = answer["results"]
    assert isinstance(results, list)
    assert [result["hit"] for result in results] == [True, True, False, False]
    assert results[0]["source"] == "replica"
    assert results[0]["reference"] == shared
    assert results[0]["access"] == "full"
    assert results[0]["record"]["number"] == "UA1000001"
    assert results[1]["reference"] == hit_only
    assert results[1]["access"] == "hit_only"
    assert "number" not in results[1]["record"]
    assert answer["replica"]["hub_reachable"] is True  # type: ignore[index]

    # Persons the country may see in full are matched offline too; a hit-only one cannot be.
    matched = officer.post(
        "/api/v1/persons/match",
        json={"purpose": "border_control", "query": {"names": ["Oleh Bondar"], "birth_date": "1979"}},
        headers={"X-Polex-Purpose": "border_control"},
    )
    assert matched.status_code == 200, matched.text
    candidates = matched.json()["candidates"]
    assert [candidate["id"] for candidate in candidates] == [wanted_person.id]
    assert candidates[0]["source"] == "replica"
    assert candidates[0]["match"] is True
    assert set(replica.rows([wanted_person.id or "", hidden_person.id or ""])) == {wanted_person.id}

    # Page by page, every change once, in order.
    feed = hub.node.replica_feed
    assert feed is not None
    seen: list[str] = []
    cursor = None
    while True:
        page = feed.changes(fra.node.settings.node_name, cursor, limit=2)
        seen += [change["id"] for change in page["changes"]]
        cursor = page["cursor"]
        if not page["more"]:
            break
    assert len(seen) == len(set(seen))
    assert {shared, hit_only} <= set(seen)

    # The hub audited what left for France.
    with hub.node.uow(read_only=True) as uow:
        served = uow.session.scalars(select(AuditEventRow).where(AuditEventRow.tag == "network:replica:served")).all()
    assert served

    # A withdrawal at the hub reaches the copy at the next pull.
    hub.node.records["travel_document"].delete(
        shared,
        Principal(PrincipalKind.USER, new_id(), "ukr", ukr_ncb, "UKR", frozenset({Role.NCB_OPERATOR})),
        if_match=1,
    )
    replica.sync_once()
    assert [result["hit"] for result in check(officer, "UA1000001")["results"]] == [False]  # type: ignore[union-attr]

    # The hub unreachable: the copy still answers, and says it is offline.
    def unreachable() -> httpx.Client:
        def refuse(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("connection refused", request=request)

        return httpx.Client(transport=httpx.MockTransport(refuse))

    working = replica._http
    replica._http = unreachable
    try:
        replica.sync_once()
        offline = check(officer, "UA1000002")
    finally:
        replica._http = working
    assert offline["results"][0]["hit"] is True  # type: ignore[index]
    assert offline["replica"]["hub_reachable"] is False  # type: ignore[index]
    assert "refused" in (replica.status()["last_error"] or "")

    # A full resync on demand rebuilds the same copy.
    resynced = fra.as_roles(Role.ADMIN).post("/api/v1/replica/resync")
    assert resynced.status_code == 200, resynced.text
    assert resynced.json()["full_syncs"] == 1
    assert resynced.json()["hub_reachable"] is True
    assert [r["hit"] for r in check(officer, "UA1000001", "UA1000002")["results"]] == [False, True]  # type: ignore[union-attr]
    metrics = fra.as_roles(Role.ADMIN).get("/metrics").text
    assert "polex_replica_lag_seconds" in metrics
    assert "polex_replica_hub_reachable 1.0" in metrics


def test_only_enrolled_nodes_read_the_feed_and_users_cannot(network: tuple[LiveServer, LiveServer]) -> None:
    fra, hub = network
    anonymous = hub.client().get("/api/v1/network/replica")
    assert anonymous.status_code == 401
    user = hub.as_roles(Role.NCB_OPERATOR).get("/api/v1/network/replica")
    assert user.status_code == 401
    assert fra.as_roles(Role.BORDER_OFFICER).get("/api/v1/replica").status_code == 200
    assert fra.as_roles(Role.BORDER_OFFICER).post("/api/v1/replica/resync").status_code == 403
    assert hub.as_roles(Role.ADMIN).get("/api/v1/replica").status_code == 404
