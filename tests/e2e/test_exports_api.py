"""Exports over HTTP (GET /api/v1/exports): records in an outside format, policy-checked for
the requester, audited a batch at a time before each batch leaves, streamed."""

from __future__ import annotations

import json

from sqlalchemy import select

from polex.domain.base import Restrictions, Tlp, new_id
from polex.domain.person import Person
from polex.domain.roles import Role
from polex.record.service import EXPORT_BATCH, NewRecord
from polex.storage.tables import AuditEventRow
from tests.e2e.conftest import LiveServer, assert_problem, error_fields
from tests.factories import document_body, unique


def _persons(live: LiveServer, agency_id: str, count: int, restrictions: Restrictions | None = None) -> list[str]:
    records = [
        NewRecord(
            content=Person.model_validate(
                {"names": [{"full": f"Exporté Numéro{index} {unique('P')[-6:]}"}], "birth_dates": ["1980-01-01"]}
            ),
            owner_agency_id=agency_id,
            owner_country="FRA",
            restrictions=restrictions or Restrictions(handling=Tlp.GREEN),
            id=new_id(),
        )
        for index in range(count)
    ]
    live.node.records["person"].create_many(records)
    return [record.id or "" for record in records]


def _export_events(live: LiveServer, export_id: str | None = None) -> list[dict[str, object]]:
    with live.node.uow(read_only=True) as uow:
        rows = uow.session.scalars(
            select(AuditEventRow).where(AuditEventRow.tag == "record:person:exported").order_by(AuditEventRow.seq)
        ).all()
        entries = [json.loads(row.entry) for row in rows]
    return [entry for entry in entries if export_id is None or entry["details"].get("export") == export_id]


def test_an_analyst_exports_an_agencys_persons_streamed_and_audited_batch_by_batch(live: LiveServer) -> None:
    agency = live.make_agency()
    count = 2 * EXPORT_BATCH + 100
    ids = _persons(live, agency, count)
    analyst = live.as_roles(Role.ANALYST)
    before = len(_export_events(live))
    with analyst.stream(
        "GET", "/api/v1/exports", params={"kind": "person", "format": "ftm", "agency_id": agency}
    ) as response:
        assert response.status_code == 200, response.read()
        assert "attachment" in response.headers["content-disposition"]
        assert response.headers.get("content-length") is None  # streamed, not built whole
        entities = [json.loads(line) for line in response.iter_lines() if line]
    people = [entity for entity in entities if entity["schema"] == "Person"]
    assert len(people) == count

    events = _export_events(live)[before:]
    [export_id] = {str(event["details"]["export"]) for event in events}  # type: ignore[index]
    assert [event["details"]["part"] for event in events] == [1, 2, 3]  # type: ignore[index]
    assert [event["details"].get("last") for event in events] == [None, None, True]  # type: ignore[union-attr]
    assert sorted(record for event in events for record in event["record_ids"]) == sorted(ids)  # type: ignore[attr-defined]
    assert [event["purpose"] for event in events] == ["criminal_investigation"] * 3
    assert export_id


def test_an_export_withholds_what_the_policy_lets_the_requester_only_know_of(live: LiveServer) -> None:
    agency = live.make_agency()
    shown = _persons(live, agency, 2)
    analyst = live.as_roles(Role.ANALYST)
    # The owner lets the analyst's agency know only that these exist (a hit), not take them.
    withheld = _persons(live, agency, 3, Restrictions(handling=Tlp.GREEN, hit_only_agencies=[live.own_agency_id]))
    response = analyst.get("/api/v1/exports", params={"kind": "person", "format": "ftm", "agency_id": agency})
    assert response.status_code == 200, response.text
    entities = [json.loads(line) for line in response.text.splitlines() if line]
    exported = [entity for entity in entities if entity["schema"] == "Person"]
    assert len(exported) == 2
    text = response.text
    assert all(record not in text for record in withheld)
    [event] = [e for e in _export_events(live) if set(e["record_ids"]) & set(shown)]  # type: ignore[arg-type]
    assert sorted(event["record_ids"]) == sorted(shown)  # type: ignore[arg-type]
    assert event["details"]["withheld"] == 3  # type: ignore[index]


def test_exports_are_authorised_and_refused_before_anything_is_sent(live: LiveServer) -> None:
    agency = live.make_agency()
    _persons(live, agency, 1)
    params = {"kind": "person", "format": "ftm", "agency_id": agency}
    assert_problem(live.bearer("not-a-token").get("/api/v1/exports", params=params), 401)
    assert_problem(live.as_roles(Role.MONITOR).get("/api/v1/exports", params=params), 403)
    analyst = live.as_roles(Role.ANALYST)
    before = len(_export_events(live))
    assert_problem(analyst.get("/api/v1/exports", params={**params, "format": "telex"}), 404)
    read_only = analyst.get("/api/v1/exports", params={**params, "format": "csv-mapping"})
    assert error_fields(assert_problem(read_only, 422)) == {"format"}
    # NIEM writes persons and vehicles: travel documents are refused before the response starts.
    filed = live.as_roles(Role.NCB_OPERATOR).post("/api/v1/travel-documents", json=document_body())
    assert filed.status_code == 201, filed.text
    documents = analyst.get(
        "/api/v1/exports",
        params={"kind": "travel_document", "format": "niem-xml", "agency_id": live.own_agency_id},
    )
    assert error_fields(assert_problem(documents, 422)) == {"format"}
    assert "kind" in error_fields(assert_problem(analyst.get("/api/v1/exports", params={**params, "kind": "x"}), 422))
    undeclared = live.new_client([Role.ANALYST])
    undeclared.headers.pop("X-Polex-Purpose", None)
    undeclared_answer = undeclared.get("/api/v1/exports", params=params)
    assert_problem(undeclared_answer, undeclared_answer.status_code)
    assert undeclared_answer.status_code in (400, 422)
    assert len(_export_events(live)) == before  # nothing refused was audited as exported
