"""Every call through the API leaves exactly the audit events it should, and the trail's
proofs and checkpoints can be fetched and checked by any authenticated client."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from polex.audit import merkle
from polex.audit.checkpoint import open_note
from polex.audit.repository import AuditRepository
from polex.domain.audit import AuditEvent
from polex.domain.base import new_id
from polex.domain.roles import Role
from tests.e2e.conftest import PASSWORD, LiveServer, assert_problem
from tests.factories import person_body


def log_size(live: LiveServer) -> int:
    with live.node.uow(read_only=True) as uow:
        return AuditRepository(uow.session).size()


def events_of(live: LiveServer, call: Callable[[], httpx.Response]) -> tuple[httpx.Response, list[AuditEvent]]:
    before = log_size(live)
    response = call()
    after = log_size(live)
    return response, [live.node.audit.leaf(seq)[0] for seq in range(before, after)]


def summary(events: list[AuditEvent]) -> list[tuple[str, str]]:
    return [(event.tag.value, event.decision.value) for event in events]


@pytest.fixture(scope="module")
def actors(live: LiveServer) -> dict[str, Any]:
    username, user_id = live.make_user([Role.NCB_OPERATOR])
    return {
        "operator": live.bearer(live.token_for(username)),
        "operator_id": user_id,
        "operator_name": username,
        "border": live.as_roles(Role.BORDER_OFFICER),
        "admin": live.as_roles(Role.ADMIN),
        "auditor": live.as_roles(Role.AUDITOR),
    }


def test_each_call_leaves_exactly_its_events(live: LiveServer, actors: dict[str, Any]) -> None:
    operator: httpx.Client = actors["operator"]
    declared = {
        "X-Polex-Purpose": "criminal_investigation",
        "X-Polex-Case": "FRA-2025-000123",
        "X-Request-ID": "walk-1",
    }

    response, events = events_of(live, lambda: live.login(actors["operator_name"], PASSWORD))
    assert summary(events) == [("auth:session:created", "allowed")]
    assert events[0].actor.id == actors["operator_id"]

    response, events = events_of(live, lambda: live.login(actors["operator_name"], "not the password"))
    assert summary(events) == [("auth:session:refused", "failed")]
    assert "not the password" not in events[0].canonical().decode()  # no secret in the trail

    response, events = events_of(live, lambda: operator.post("/api/v1/persons", json=person_body(), headers=declared))
    assert response.status_code == 201
    person_id = response.json()["id"]
    assert summary(events) == [("record:person:created", "allowed")]
    created = events[0]
    assert created.record_ids == [person_id]
    assert (created.purpose, created.case_reference, created.request_id) == (
        "criminal_investigation",
        "FRA-2025-000123",
        "walk-1",
    )
    assert (created.actor.agency_id, created.actor.country) == (live.own_agency_id, "FRA")

    response, events = events_of(live, lambda: operator.get(f"/api/v1/persons/{person_id}"))
    assert summary(events) == [("record:person:read", "allowed")]
    assert (events[0].record_ids, events[0].result_count) == ([person_id], 1)

    response, events = events_of(live, lambda: operator.get("/api/v1/persons", params={"name": "shevchenko"}))
    listed = [item["id"] for item in response.json()["items"]]
    assert summary(events) == [("record:person:listed", "allowed")]
    assert events[0].record_ids == listed
    assert person_id in listed
    assert events[0].query_hashes  # searchable by auditors ...
    assert "shevchenko" not in events[0].canonical().decode()  # ... without holding the name

    response, events = events_of(
        live, lambda: operator.put(f"/api/v1/persons/{person_id}", json=person_body(), headers={"If-Match": '"1"'})
    )
    assert response.status_code == 200
    assert summary(events) == [("record:person:updated", "allowed")]

    response, events = events_of(live, lambda: operator.get(f"/api/v1/persons/{new_id()}"))
    assert response.status_code == 404
    assert summary(events) == [("record:person:read", "allowed")]
    assert events[0].result_count == 0  # a miss is recorded: fishing shows in the trail

    border: httpx.Client = actors["border"]
    response, events = events_of(live, lambda: border.post("/api/v1/persons", json=person_body()))
    assert response.status_code == 403
    assert summary(events) == [("policy:access:denied", "denied")]

    response, events = events_of(live, lambda: operator.post("/api/v1/persons", json={"names": []}))
    assert response.status_code == 422
    assert events == []  # rejected input touched nothing

    response, events = events_of(
        live, lambda: operator.delete(f"/api/v1/persons/{person_id}", headers={"If-Match": '"2"'})
    )
    assert response.status_code == 204
    assert summary(events) == [("record:person:deleted", "allowed")]

    exports = {"kind": "person", "format": "ftm", "agency_id": live.make_agency()}
    response, events = events_of(live, lambda: operator.get("/api/v1/exports", params=exports, headers=declared))
    assert response.status_code == 200
    assert summary(events) == [("record:person:exported", "allowed")]
    assert (events[0].details["format"], events[0].details["last"], events[0].result_count) == ("ftm", True, 0)

    for path in ("/healthz", "/api/v1/auth/me", "/api/v1/node"):
        response, events = events_of(live, lambda path=path: operator.get(path))
        assert response.status_code == 200
        assert events == []


def test_administration_is_audited(live: LiveServer, actors: dict[str, Any]) -> None:
    admin: httpx.Client = actors["admin"]
    body = {
        "username": f"walker{new_id()[:8]}",
        "password": PASSWORD,
        "agency_id": live.own_agency_id,
        "roles": ["analyst"],
    }
    response, events = events_of(live, lambda: admin.post("/api/v1/users", json=body))
    user_id = response.json()["id"]
    assert summary(events) == [("admin:user:created", "allowed")]
    assert PASSWORD not in events[0].canonical().decode()

    response, events = events_of(live, lambda: admin.patch(f"/api/v1/users/{user_id}", json={"active": False}))
    assert summary(events) == [("admin:user:updated", "allowed")]

    response, events = events_of(
        live, lambda: admin.post("/api/v1/api-keys", json={"name": "scraper", "roles": ["monitor"]})
    )
    key = response.json()
    assert summary(events) == [("admin:api_key:created", "allowed")]
    assert key["key"] not in events[0].canonical().decode()

    response, events = events_of(live, lambda: admin.delete(f"/api/v1/api-keys/{key['id']}"))
    assert summary(events) == [("admin:api_key:revoked", "allowed")]

    agency = {"name": f"Brigade {new_id()[:8]}", "country": "FRA", "kind": "police"}
    response, events = events_of(live, lambda: admin.post("/api/v1/agencies", json=agency))
    assert summary(events) == [("admin:agency:created", "allowed")]


def test_auditors_search_and_the_search_is_audited(live: LiveServer, actors: dict[str, Any]) -> None:
    auditor: httpx.Client = actors["auditor"]
    operator: httpx.Client = actors["operator"]
    person_id = operator.post("/api/v1/persons", json=person_body()).json()["id"]
    operator.get(f"/api/v1/persons/{person_id}")

    response, events = events_of(live, lambda: auditor.get("/api/v1/audit/events", params={"record_id": person_id}))
    assert response.status_code == 200
    assert [item["tag"] for item in response.json()["items"]] == ["record:person:created", "record:person:read"]
    assert summary(events) == [("audit:event:searched", "allowed")]

    listing = operator.get("/api/v1/persons", params={"name": "shevchenko"})
    assert listing.status_code == 200
    found = auditor.get("/api/v1/audit/events", params={"searched_for": "person|name:shevchenko"}).json()["items"]
    assert found
    assert all(item["tag"] == "record:person:listed" for item in found)
    entry = auditor.get(f"/api/v1/audit/events/{found[-1]['seq']}").json()
    assert entry["query_terms"] == {"person|name:shevchenko": "name=shevchenko"}

    assert operator.get("/api/v1/audit/events").status_code == 403  # auditors only


def test_proofs_from_the_api_verify_against_the_signed_checkpoint(live: LiveServer, actors: dict[str, Any]) -> None:
    operator: httpx.Client = actors["operator"]
    live.node.audit.checkpoint(force=True)
    first = operator.get("/api/v1/audit/checkpoint").json()
    operator.post("/api/v1/persons", json=person_body())
    live.node.audit.checkpoint(force=True)
    second = operator.get("/api/v1/audit/checkpoint").json()
    assert second["size"] > first["size"]
    stated = open_note(second["note"], second["verifier_key"])
    assert stated.size == second["size"]

    def decoded(items: list[str]) -> list[bytes]:
        return [base64.b64decode(item) for item in items]

    index = second["size"] - 1
    inclusion = operator.get("/api/v1/audit/proofs/inclusion", params={"index": index, "size": second["size"]}).json()
    merkle.verify_inclusion(
        base64.b64decode(inclusion["leaf_hash"]), index, second["size"], decoded(inclusion["proof"]), stated.root
    )
    consistency = operator.get(
        "/api/v1/audit/proofs/consistency", params={"first": first["size"], "second": second["size"]}
    ).json()
    merkle.verify_consistency(
        first["size"], second["size"], base64.b64decode(first["root"]), stated.root, decoded(consistency["proof"])
    )
    too_far = operator.get("/api/v1/audit/proofs/inclusion", params={"index": 0, "size": second["size"] + 10**6})
    assert too_far.status_code == 400


def test_monitoring_shows_the_audit_log_and_denials(live: LiveServer, actors: dict[str, Any]) -> None:
    border: httpx.Client = actors["border"]
    assert border.post("/api/v1/persons", json=person_body()).status_code == 403
    live.node.audit.checkpoint(force=True)
    metrics = live.as_roles(Role.MONITOR).get("/metrics")
    assert metrics.status_code == 200
    text = metrics.text
    for name in (
        "polex_audit_log_entries",
        "polex_audit_checkpoint_age_seconds",
        "polex_audit_unsigned_entries",
        "polex_access_denied_total",
        "polex_http_request_duration_seconds_bucket",
    ):
        assert name in text
    health = live.client().get("/healthz")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    assert health.json()["checks"] == {"database": True, "schema": True, "audit_checkpoints": True}


def test_a_signed_export_proves_each_entry_against_the_signed_checkpoint(
    live: LiveServer, actors: dict[str, Any]
) -> None:
    import orjson

    from polex.audit.checkpoint import CheckpointError, verify_jws

    operator: httpx.Client = actors["operator"]
    person_id = operator.post("/api/v1/persons", json=person_body()).json()["id"]
    operator.get(f"/api/v1/persons/{person_id}")
    auditor: httpx.Client = actors["auditor"]
    response = auditor.get("/api/v1/audit/export", params={"record_id": person_id})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/jose")
    verifier = auditor.get("/api/v1/audit/checkpoint").json()["verifier_key"]
    export = orjson.loads(verify_jws(response.text, verifier))
    checkpoint = open_note(export["checkpoint"], verifier)
    assert export["query"] == {"record_id": person_id, "limit": "1000"}
    assert [orjson.loads(item["entry"])["tag"] for item in export["entries"]] == [
        "record:person:created",
        "record:person:read",
    ]
    for item in export["entries"]:
        leaf = merkle.leaf_hash(item["entry"].encode())
        proof = [base64.b64decode(element) for element in item["inclusion_proof"]]
        merkle.verify_inclusion(leaf, item["seq"], checkpoint.size, proof, checkpoint.root)
    forged = response.text[:-4] + ("AAAA" if not response.text.endswith("AAAA") else "BBBB")
    with pytest.raises(CheckpointError):
        verify_jws(forged, verifier)
    assert operator.get("/api/v1/audit/export").status_code == 403


def test_an_owner_sees_who_accessed_its_record_when_and_why(live: LiveServer, actors: dict[str, Any]) -> None:
    owner: httpx.Client = actors["operator"]
    person_id = owner.post("/api/v1/persons", json=person_body()).json()["id"]
    elsewhere = live.make_agency()
    reader = live.new_client([Role.INVESTIGATOR], agency_id=elsewhere)
    reader.get(
        f"/api/v1/persons/{person_id}", headers={"X-Polex-Purpose": "criminal_investigation", "X-Polex-Case": "C-7"}
    )
    response = owner.get(f"/api/v1/persons/{person_id}/accesses")
    assert response.status_code == 200
    items = response.json()["items"]
    assert [item["tag"] for item in items] == ["record:person:created", "record:person:read"]
    read = items[1]
    assert (read["agency_id"], read["country"], read["purpose"], read["case_reference"]) == (
        elsewhere,
        "FRA",
        "criminal_investigation",
        "C-7",
    )
    assert "name" not in read  # the owner learns the agency, not the officer
    # Only the owner: another agency learns nothing, not even that the record exists.
    assert_problem(reader.get(f"/api/v1/persons/{person_id}/accesses"), 404)
    assert_problem(actors["border"].get(f"/api/v1/persons/{person_id}/accesses"), 403)  # no record:write at all
