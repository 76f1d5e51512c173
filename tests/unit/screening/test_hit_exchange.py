"""The envelopes of the hit exchange: what each side's copy carries, and what is refused."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest
from pydantic import ValidationError

from polex.domain.agency import AgencyKind
from polex.domain.base import new_id
from polex.domain.policy import Purpose
from polex.domain.roles import Role
from polex.network.relayed import RelayedBy
from polex.screening import hit_exchange
from polex.screening.hit_exchange import HitFound, HitReport, HitRequest
from polex.storage.tables import HitRow

NOW = dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.UTC)


def _row(**changes: object) -> HitRow:
    fields: dict[str, object] = {
        "id": new_id(),
        "record_id": new_id(),
        "record_kind": "travel_document",
        "owner_agency_id": new_id(),
        "owner_country": "UKR",
        "requester_agency_id": new_id(),
        "requester_country": "FRA",
        "requester_user_id": new_id(),
        "purpose": "border_control",
        "case_reference": "FR-2026-0042",
        "access": "hit_only",
        "query": {"number": "UA1000001", "country": "UKR"},
        "status": "unconfirmed",
        "created_at": NOW,
        "requested_at": None,
        "request_note": None,
        "answered_at": None,
        "answer_note": None,
    }
    fields.update(changes)
    return HitRow(**fields)


def _by(**changes: object) -> RelayedBy:
    fields: dict[str, object] = {
        "user_id": new_id(),
        "user": "officer",
        "agency_id": new_id(),
        "agency_name": "Police aux frontières",
        "agency_kind": AgencyKind.POLICE,
        "country": "FRA",
        "roles": [Role.BORDER_OFFICER],
    }
    fields.update(changes)
    return RelayedBy.model_validate(fields)


def test_the_owners_report_never_names_the_officer_nor_the_case() -> None:
    row = _row()
    post = hit_exchange.report_post("ukr", row)
    body = orjson.loads(post.body)
    assert (post.to, post.content_type, post.conversation_id) == ("ukr", hit_exchange.HIT_TYPE, row.id)
    # Left out at their defaults: the body an older national node reads.
    assert not {"sides", "case_reference", "requester_user_id"} & set(body)
    report = HitReport.model_validate(body)
    assert report.sides == ["owner"]
    copy = report.new_row("hub")
    assert (copy.requester_user_id, copy.case_reference, copy.source_node) == (None, None, "hub")


def test_the_requesters_report_carries_its_own_case_and_nothing_of_the_record() -> None:
    row = _row(status="confirmed", answered_at=NOW, answer_note="Still wanted")
    body = orjson.loads(hit_exchange.report_post("fra", row, ["requester"]).body)
    assert body["sides"] == ["requester"]
    assert (body["case_reference"], body["requester_user_id"]) == (row.case_reference, row.requester_user_id)
    # The reference, kind and owner every answer shows (a hit-only one too), never the record.
    assert "record" not in body
    assert set(body) <= set(HitReport.model_fields)
    copy = HitReport.model_validate(body).new_row("hub")
    assert (copy.case_reference, copy.requester_user_id) == (row.case_reference, row.requester_user_id)
    assert (copy.status, copy.answer_note) == ("confirmed", "Still wanted")


def test_one_node_of_both_countries_gets_one_report_with_both_sides() -> None:
    report = HitReport.of(_row(), ["requester", "owner", "owner"])
    assert report.sides == ["owner", "requester"]
    assert report.case_reference == "FR-2026-0042"


@pytest.mark.parametrize("sides", [[], ["bystander"], ["owner", "requester", "owner"]])
def test_a_report_names_its_sides(sides: list[str]) -> None:
    body = {**HitReport.of(_row()).model_dump(mode="json"), "sides": sides}
    with pytest.raises(ValidationError):
        HitReport.model_validate(body)


def test_a_found_hit_travels_with_its_request_and_back() -> None:
    row = _row()
    by = _by(agency_id=row.requester_agency_id)
    found = HitFound.of(row, by)
    assert found.purpose is Purpose.BORDER_CONTROL
    request = HitRequest(hit_id=row.id, note="Holder at gate 4", requested_at=NOW, by=by, found=found)
    post = hit_exchange.request_post("hub", request)
    assert (post.to, post.content_type, post.conversation_id) == ("hub", hit_exchange.HIT_REQUEST_TYPE, row.id)
    assert HitRequest.model_validate_json(post.body) == request
    alone = hit_exchange.found_post("hub", found)
    assert (alone.content_type, alone.conversation_id) == (hit_exchange.HIT_FOUND_TYPE, row.id)
    assert HitFound.model_validate_json(alone.body) == found


def test_found_hits_and_requests_are_refused_when_malformed() -> None:
    body = HitFound.of(_row(), _by()).model_dump(mode="json")
    with pytest.raises(ValidationError):  # a time without its offset means another instant elsewhere
        HitFound.model_validate({**body, "created_at": "2026-12-01T09:30:00"})
    with pytest.raises(ValidationError):
        HitFound.model_validate({**body, "purpose": "curiosity"})
    with pytest.raises(ValidationError):
        HitFound.model_validate({**body, "owner": "anyone"})  # nothing unknown is dropped silently
    request = HitRequest(hit_id=new_id(), requested_at=NOW, by=_by()).model_dump(mode="json")
    with pytest.raises(ValidationError):
        HitRequest.model_validate({**request, "note": "x" * 2001})


def test_a_copy_never_moves_back() -> None:
    order = hit_exchange.STATUS_ORDER
    assert order["unconfirmed"] < order["confirmation_requested"] < order["confirmed"] == order["rejected"]
