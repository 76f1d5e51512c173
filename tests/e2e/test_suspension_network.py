"""Suspensions across the network, over real HTTP: the hub suspends an agency or a user of
France's national node; the suspension travels to France in a signed envelope, where the
node refuses that agency's or user's logins, tokens and API keys with the hub's reason until
the hub lifts it. France's administrators cannot lift it; an envelope of suspension from any
node but the hub is refused; a repeated envelope changes nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import orjson
from sqlalchemy import select

from polex.domain.audit import AuditTag
from polex.domain.base import new_id
from polex.domain.roles import Role
from polex.policy.schemas import SubjectKind
from polex.policy.suspension_relay import SUSPENSION_TYPE, HubSuspension
from polex.storage.tables import AuditEventRow, MessageRecipientRow, MessageRow, OutboxRow, SuspensionRow
from tests.e2e.conftest import LiveServer, assert_problem, error_fields
from tests.e2e.test_messages import wait_for


def _send_suspension(sender: LiveServer, to: str, suspension: HubSuspension) -> str:
    """``sender`` puts a suspension envelope for node ``to`` in its outbox; its message id."""
    with sender.node.uow() as uow:
        sent = sender.node.messages.enqueue(
            uow.session,
            to=[to],
            content_type=SUSPENSION_TYPE,
            body=orjson.dumps(suspension.model_dump(mode="json")),
            conversation_id=suspension.id,
            subject="suspension",
        )
        uow.commit()
    sender.node.messages.on_outbox()
    return sent


def json_of(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def suspend(admin: httpx.Client, kind: str, subject_id: str, reason: str, **extra: str) -> dict[str, Any]:
    body = {"subject_kind": kind, "subject_id": subject_id, "reason": reason, **extra}
    return json_of(admin.post("/api/v1/suspensions", json=body), 201)


def copy_at(node: LiveServer, suspension_id: str) -> dict[str, Any] | None:
    """The suspension as ``node``'s administrators list it (lifted ones too)."""
    listed = json_of(node.as_roles(Role.ADMIN).get("/api/v1/suspensions", params={"include_lifted": "true"}))
    return next((item for item in listed["items"] if item["id"] == suspension_id), None)


def events(node: LiveServer, tag: AuditTag, **details: str) -> list[dict[str, Any]]:
    with node.node.uow(read_only=True) as uow:
        rows = uow.session.scalars(select(AuditEventRow).where(AuditEventRow.tag == tag.value)).all()
    entries = [orjson.loads(row.entry) for row in rows]
    return [entry for entry in entries if all(entry["details"].get(k) == v for k, v in details.items())]


def test_a_hub_suspension_of_a_national_agency_binds_on_its_node_until_the_hub_lifts_it(
    network: tuple[LiveServer, LiveServer],
) -> None:
    fra, hub = network
    fra_name, hub_name = fra.node.settings.node_name, hub.node.settings.node_name
    agency = fra.make_agency()
    username, _ = fra.make_user([Role.BORDER_OFFICER, Role.INVESTIGATOR], agency_id=agency)
    officer = fra.bearer(fra.token_for(username))
    created = fra.as_roles(Role.ADMIN).post(
        "/api/v1/api-keys", json={"name": "gate 4", "roles": ["border_officer"], "agency_id": agency}
    )
    gate = fra.client({"X-API-Key": json_of(created, 201)["key"], "X-Polex-Purpose": "border_control"})
    bystander = fra.as_roles(Role.INVESTIGATOR)  # another French agency: the node's own
    # The agency's first check through the hub registers it there, under its national id.
    check = {"purpose": "border_control", "documents": [{"number": "SN0000001", "country": "UKR"}]}
    checked = officer.post("/api/v1/documents/check", json=check, headers={"X-Polex-Purpose": "border_control"})
    assert json_of(checked)["hub"]["checked"] == "online"
    assert gate.get("/api/v1/persons").status_code == 200

    hub_admin = hub.as_roles(Role.ADMIN)
    suspension = suspend(hub_admin, "agency", agency, "bulk look-ups under inquiry")
    assert suspension["country"] == "FRA"
    copy = wait_for(lambda: copy_at(fra, suspension["id"]))
    assert (copy["subject_kind"], copy["subject_id"], copy["country"]) == ("agency", agency, "FRA")
    assert (copy["imposed_by"], copy["reason"], copy["lifted_at"]) == (hub_name, "bulk look-ups under inquiry", None)
    assert copy["suspended_by"] == suspension["suspended_by"]
    assert copy["suspended_by_name"] == suspension["suspended_by_name"]

    # France refuses the agency everything, with the hub's reason: its live token, its API
    # key and a new login. Another French agency carries on.
    detail = assert_problem(officer.get("/api/v1/persons"), 403)["detail"]
    assert "your agency is suspended by the hub" in detail
    assert "bulk look-ups under inquiry" in detail
    assert "bulk look-ups" in assert_problem(gate.get("/api/v1/persons"), 403)["detail"]
    assert "suspended by the hub" in assert_problem(fra.login(username), 403)["detail"]
    assert bystander.get("/api/v1/persons").status_code == 200
    refusals = [e for e in events(fra, AuditTag.SUSPENDED_REFUSED) if e["actor"]["agency_id"] == agency]
    assert refusals
    [applied] = events(fra, AuditTag.SUSPENSION_CREATED, suspension=suspension["id"])
    assert applied["actor"]["kind"] == "node"
    assert applied["actor"]["name"] == hub_name
    assert applied["details"]["imposed_by"] == hub_name
    assert applied["details"]["known_here"] is True
    # The hub audited whom it told.
    [imposed] = events(hub, AuditTag.SUSPENSION_CREATED, suspension=suspension["id"])
    assert imposed["details"]["copied_to"] == fra_name

    # France's administrator cannot lift the hub's suspension, and a suspension of France's
    # own is its own: lifting that leaves the hub's in force.
    fra_admin = fra.as_roles(Role.ADMIN)
    lift = {"reason": "we see no misuse"}
    refused = assert_problem(fra_admin.post(f"/api/v1/suspensions/{suspension['id']}/lift", json=lift), 403)
    assert "only the hub" in refused["detail"]
    own = suspend(fra_admin, "agency", agency, "our own inquiry")
    assert own["id"] != suspension["id"]
    assert own["imposed_by"] is None
    json_of(fra_admin.post(f"/api/v1/suspensions/{own['id']}/lift", json=lift))
    assert "bulk look-ups" in assert_problem(officer.get("/api/v1/persons"), 403)["detail"]

    # The hub lifts it: the lift follows, and France lets the agency in again.
    lifted = json_of(hub_admin.post(f"/api/v1/suspensions/{suspension['id']}/lift", json={"reason": "cleared"}))
    assert lifted["lifted_at"] is not None
    copy = wait_for(lambda: (found := copy_at(fra, suspension["id"])) and found["lifted_at"] and found)
    assert (copy["lift_reason"], copy["lifted_by"]) == ("cleared", lifted["lifted_by"])
    assert officer.get("/api/v1/persons").status_code == 200
    assert gate.get("/api/v1/persons").status_code == 200
    assert fra.login(username).status_code == 200
    assert len(events(fra, AuditTag.SUSPENSION_LIFTED, suspension=suspension["id"])) == 1


def test_the_hub_suspends_a_national_user_it_knows_by_its_node(network: tuple[LiveServer, LiveServer]) -> None:
    fra, hub = network
    fra_name, hub_name = fra.node.settings.node_name, hub.node.settings.node_name
    username, user_id = fra.make_user([Role.INVESTIGATOR])
    officer = fra.bearer(fra.token_for(username))
    colleague = fra.new_client([Role.INVESTIGATOR])  # same agency, not suspended
    hub_admin = hub.as_roles(Role.ADMIN)

    # The hub has never registered this user: it needs the node the user belongs to.
    body = {"subject_kind": "user", "subject_id": user_id, "reason": "shared credentials"}
    assert_problem(hub_admin.post("/api/v1/suspensions", json=body), 404)
    for bad in ("nowhere", hub_name):
        assert error_fields(assert_problem(hub_admin.post("/api/v1/suspensions", json={**body, "node": bad}), 422)) == {
            "node"
        }
    assert error_fields(assert_problem(hub_admin.post("/api/v1/suspensions", json={**body, "node": "Bad Name"}), 422))
    # Only the hub names a node.
    fra_body = {**body, "node": fra_name}
    assert error_fields(assert_problem(fra.as_roles(Role.ADMIN).post("/api/v1/suspensions", json=fra_body), 400)) == {
        "node"
    }

    suspension = suspend(hub_admin, "user", user_id, "shared credentials", node=fra_name)
    assert suspension["country"] == "FRA"
    wait_for(lambda: copy_at(fra, suspension["id"]))
    detail = assert_problem(officer.get("/api/v1/messages"), 403)["detail"]
    assert "your account is suspended by the hub" in detail
    assert "shared credentials" in detail
    assert "shared credentials" in assert_problem(fra.login(username), 403)["detail"]
    assert colleague.get("/api/v1/messages").status_code == 200
    # At the hub, what France relays for this user is refused too (by its national id).
    with hub.node.uow(read_only=True) as uow:
        row = uow.session.get(SuspensionRow, suspension["id"])
        assert row is not None
        assert (row.subject_id, row.lifted_at, row.imposed_by) == (user_id, None, None)

    json_of(hub_admin.post(f"/api/v1/suspensions/{suspension['id']}/lift", json={"reason": "new password set"}))
    wait_for(lambda: (found := copy_at(fra, suspension["id"])) and found["lifted_at"])
    assert officer.get("/api/v1/messages").status_code == 200


def _hub_envelope(hub: LiveServer, suspension_id: str) -> dict[str, Any]:
    """The envelope the hub queued for a suspension (its conversation is the suspension)."""
    with hub.node.uow(read_only=True) as uow:
        message_id = uow.session.scalar(
            select(MessageRow.id).where(MessageRow.conversation_id == suspension_id, MessageRow.box == "system")
        )
        outbox = uow.session.get(OutboxRow, message_id)
        assert outbox is not None
        envelope: dict[str, Any] = orjson.loads(outbox.envelope)
        return envelope


def _delivery(node: LiveServer, message_id: str) -> MessageRecipientRow | None:
    with node.node.uow(read_only=True) as uow:
        row = uow.session.scalars(
            select(MessageRecipientRow).where(MessageRecipientRow.message_id == message_id)
        ).first()
        if row is not None:
            uow.session.expunge(row)
        return row


def test_a_repeated_envelope_changes_nothing_and_only_the_hub_suspends(
    network: tuple[LiveServer, LiveServer], ukraine: LiveServer
) -> None:
    fra, hub = network
    fra_name, hub_name = fra.node.settings.node_name, hub.node.settings.node_name
    username, user_id = fra.make_user([Role.INVESTIGATOR])
    officer = fra.bearer(fra.token_for(username))
    suspension = suspend(hub.as_roles(Role.ADMIN), "user", user_id, "under inquiry", node=fra_name)
    wait_for(lambda: copy_at(fra, suspension["id"]))

    # The wire delivers the same envelope again: the copy and the trail stay as they were.
    envelope = _hub_envelope(hub, suspension["id"])
    [result] = fra.node.messages.receive_batch([envelope], caller=hub_name)
    assert "error" not in result
    assert len(events(fra, AuditTag.SUSPENSION_CREATED, suspension=suspension["id"])) == 1
    with fra.node.uow(read_only=True) as uow:
        copies = uow.session.scalars(select(SuspensionRow).where(SuspensionRow.subject_id == user_id)).all()
        assert [(row.id, row.imposed_by) for row in copies] == [(suspension["id"], hub_name)]

    # Ukraine's node sends France an envelope of suspension, through the hub: France
    # refuses it, the hub tells Ukraine why, and France's officer is untouched.
    victim, victim_id = fra.make_user([Role.INVESTIGATOR])
    victim_client = fra.bearer(fra.token_for(victim))
    now = dt.datetime.now(dt.UTC)
    forged = HubSuspension(
        id=new_id(),
        subject_kind=SubjectKind.USER,
        subject_id=victim_id,
        country="FRA",
        reason="forged by another member",
        suspended_by=new_id(),
        suspended_by_name="admin",
        at=now,
    )
    sent = _send_suspension(ukraine, fra_name, forged)
    refused = wait_for(lambda: (row := _delivery(ukraine, sent)) is not None and row.status == "refused" and row)
    assert "imposed by the hub, not by node 'ukr'" in (refused.reason or "")
    assert copy_at(fra, forged.id) is None
    assert victim_client.get("/api/v1/messages").status_code == 200
    [audited] = events(fra, AuditTag.SUSPENSION_COPY_REFUSED, envelope=sent)
    assert (audited["decision"], audited["actor"]["name"]) == ("denied", "ukr")

    # Even from the hub, a suspension is for the node of the subject's country only.
    elsewhere = forged.model_copy(update={"id": new_id(), "country": "UKR"})
    sent = _send_suspension(hub, fra_name, elsewhere)
    refused = wait_for(lambda: (row := _delivery(hub, sent)) is not None and row.status == "refused" and row)
    assert "not for the node of FRA" in (refused.reason or "")
    assert copy_at(fra, elsewhere.id) is None
    assert victim_client.get("/api/v1/messages").status_code == 200
    assert officer.get("/api/v1/messages").status_code == 403  # the genuine one still binds
