"""The national replica over real HTTP: France pulls from the hub the documents its country
may see (decided by the hub's policy), answers border checks from that copy, follows
withdrawals, keeps answering when the hub is unreachable and says how old its data is."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time

import httpx
import pytest
from sqlalchemy import select

from polex.api.app import create_app
from polex.auth.principal import Principal, PrincipalKind
from polex.bootstrap import Node
from polex.domain.base import Restrictions, Tlp, new_id
from polex.domain.document import TravelDocument
from polex.domain.person import Person
from polex.domain.policy import AccessLevel, Agreement, AgreementKind, DataCategory, Purpose
from polex.domain.roles import Role
from polex.matching.model import PersonQuery
from polex.record.service import NewRecord
from polex.screening.persons import record_of
from polex.storage.tables import AuditEventRow
from tests.conftest import make_node
from tests.e2e.conftest import LiveServer, serve_again, stop_serving
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


def border_treaty(hub: LiveServer, agreement_id: str, article: str) -> None:
    """France and Ukraine share documents and persons in full for border control."""
    treaty = Agreement(
        id=agreement_id,
        title="Border documents",
        kind=AgreementKind.BILATERAL_TREATY,
        parties=["FRA", "UKR"],
        categories=[DataCategory.TRAVEL_DOCUMENTS, DataCategory.PERSONS],
        purposes=[Purpose.BORDER_CONTROL],
        level=AccessLevel.FULL,
        valid_from=dt.date(2020, 1, 1),
        legal_reference=f"FRA-UKR border treaty, {article}",
    )
    read = hub.node.policy.propose(treaty, admin("UKR"))
    for country in ("FRA", "UKR"):
        hub.node.policy.approve(treaty.id, read.version, admin(country))


def person_at_hub(hub: LiveServer, agency_id: str, name: str, birth_date: str, restrictions: Restrictions) -> NewRecord:
    record = NewRecord(
        content=Person.model_validate({"names": [{"full": name}], "birth_dates": [birth_date]}),
        owner_agency_id=agency_id,
        owner_country="UKR",
        restrictions=restrictions,
        id=new_id(),
    )
    hub.node.records["person"].create_many([record])
    return record


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
    border_treaty(hub, "fra-ukr-replica-e2e", "art. 4")
    ukr_ncb = hub.make_agency(country="UKR")
    shared = file_at_hub(hub, ukr_ncb, "UA1000001", Restrictions(handling=Tlp.GREEN))
    hit_only = file_at_hub(hub, ukr_ncb, "UA1000002", Restrictions(handling=Tlp.GREEN, hit_only_countries=["FRA"]))
    file_at_hub(hub, ukr_ncb, "UA1000003", Restrictions(handling=Tlp.GREEN, excluded_countries=["FRA"]))
    wanted_person = person_at_hub(hub, ukr_ncb, "Олег Бондар", "1979-04-02", Restrictions(handling=Tlp.GREEN))
    hidden = Restrictions(handling=Tlp.GREEN, hit_only_countries=["FRA"])
    hidden_person = person_at_hub(hub, ukr_ncb, "Олег Бондаренко", "1979-04-02", hidden)

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


def test_what_one_process_stores_in_the_replica_reaches_the_other_process_s_checks(
    network: tuple[LiveServer, LiveServer], settled: None, replica_only: None
) -> None:
    """Two processes of France over one database take turns pulling from the hub: each
    page is stored once, by whichever asked first, and reaches the other's indexes through
    the audit log (polex.replica.service.ReplicaFollower)."""
    fra, hub = network
    border_treaty(hub, "fra-ukr-replica-processes", "art. 5")
    ukr_ncb = hub.make_agency(country="UKR")
    ukr_operator = Principal(PrincipalKind.USER, new_id(), "ukr", ukr_ncb, "UKR", frozenset({Role.NCB_OPERATOR}))
    officer = Principal(
        PrincipalKind.USER, new_id(), "officer", fra.own_agency_id, "FRA", frozenset({Role.BORDER_OFFICER})
    )
    a = fra.node
    b = make_node(a.settings.data_dir, a.settings.sqlalchemy_url)
    stop_serving(fra)  # A's own rounds would race the test's: it pulls and follows when told
    try:
        b.network_view.hub_url = hub.base_url
        b.screening.online = None
        assert a.replica is not None
        assert b.replica is not None

        def on_file(node: Node, *numbers: str) -> list[bool | None]:
            items = [{"number": number, "country": "UKR"} for number in numbers]
            results = node.screening.check_documents(items, officer, purpose=Purpose.BORDER_CONTROL)
            return [result["hit"] for result in results]

        def matched(node: Node) -> list[str]:
            assert node.replica is not None
            found = node.replica.watchlist.search(
                PersonQuery(names=("Taras Shevchuk",), birth_date="1981-09-30"),
                limit=5,
                threshold=0.7,
            )
            return [record_of(candidate.entry_id) for candidate in found]

        document = file_at_hub(hub, ukr_ncb, "UA2000001", Restrictions(handling=Tlp.GREEN))
        person = person_at_hub(hub, ukr_ncb, "Тарас Шевчук", "1981-09-30", Restrictions(handling=Tlp.GREEN))

        # A stores the page; B's indexes know nothing of it until B follows the log.
        assert a.replica.sync_once() >= 2
        assert on_file(a, "UA2000001") == [True]
        assert on_file(b, "UA2000001") == [False]
        assert b.replica.follower.run_once() >= 2
        assert on_file(b, "UA2000001") == [True]
        assert matched(b) == [person.id]
        # A replays its own page: nothing changes.
        a.replica.follower.run_once()
        assert on_file(a, "UA2000001") == [True]
        assert matched(a) == [person.id]

        # B asks for the next page, A stores it before B's answer is back: B leaves it.
        withdrawn = file_at_hub(hub, ukr_ncb, "UA2000002", Restrictions(handling=Tlp.GREEN))
        asked = b.replica._page

        def overtaken(*args: object, **kwargs: object) -> httpx.Response:
            response = asked(*args, **kwargs)  # type: ignore[arg-type]
            assert a.replica is not None
            a.replica.sync_once()
            return response

        b.replica._page = overtaken  # type: ignore[method-assign]
        try:
            b.replica.sync_once()
        finally:
            b.replica._page = asked  # type: ignore[method-assign]
        with a.uow(read_only=True) as uow:
            entries = uow.session.scalars(
                select(AuditEventRow.entry).where(AuditEventRow.tag == "network:replica:applied")
            ).all()
        named = [record_id for entry in entries for record_id in json.loads(entry)["record_ids"]]
        assert named.count(withdrawn) == 1  # stored once, by A
        b.replica.follower.run_once()
        assert on_file(b, "UA2000002") == [True]

        # Withdrawals stored by B: A's checks and watch list follow.
        hub.node.records["travel_document"].delete(document, ukr_operator, if_match=1)
        hub.node.records["person"].delete(person.id or "", ukr_operator, if_match=1)
        b.replica.sync_once()
        # A's index still holds the number's digest, but a hit is read from the copy.
        assert on_file(a, "UA2000001") == [False]
        assert matched(a) == [person.id]  # A's watch list, until A follows
        a.replica.follower.run_once()
        assert matched(a) == []

        # A serving process follows on its own, every ``index_follow_seconds``.
        async def served_b_learns(number: str) -> bool:
            assert a.replica is not None
            assert b.replica is not None
            app = create_app(b)
            before = b.replica.status()["last_attempt_at"]
            async with app.router.lifespan_context(app):
                deadline = time.monotonic() + 60
                while b.replica.status()["last_attempt_at"] == before:  # B's first pull is over
                    assert time.monotonic() < deadline, "B's replica-sync task did not pull"
                    await asyncio.sleep(0.05)
                file_at_hub(hub, ukr_ncb, number, Restrictions(handling=Tlp.GREEN))
                assert a.replica.sync_once() >= 1  # B pulls again only in replica_seconds
                deadline = time.monotonic() + 20 * b.settings.index_follow_seconds
                while on_file(b, number) != [True]:
                    if time.monotonic() > deadline:
                        return False
                    await asyncio.sleep(0.05)
                return True

        assert asyncio.run(served_b_learns("UA2000003"))

        # The treaties end. The incremental feed replays no change of policy: only a full
        # resync drops what France may no longer see. B resyncs; A loads its indexes again.
        again = person_at_hub(hub, ukr_ncb, "Тарас Шевчук", "1981-09-30", Restrictions(handling=Tlp.GREEN))
        a.replica.sync_once()
        a.replica.follower.run_once()  # A is current: only the resync's entry is left to follow
        b.replica.follower.run_once()
        assert matched(a) == matched(b) == [again.id]
        for agreement in hub.node.policy.agreements(admin("UKR")):
            if set(agreement.document.parties) == {"FRA", "UKR"} and agreement.retired_at is None:
                hub.node.policy.retire(agreement.document.id, "test: the treaty ends", admin("UKR"))
        b.replica.resync(admin("FRA"))
        assert matched(b) == []
        assert matched(a) == [again.id]  # until A follows
        a.replica.follower.run_once()
        assert matched(a) == []
        assert on_file(a, "UA2000002") == on_file(b, "UA2000002") == [False]
    finally:
        b.close()
        serve_again(fra)
