"""Read receipts over real HTTP: the first read of a received message at the recipient's
node sends the sender's node a receipt that node signed, through the hub like any envelope;
the sender checks it against the membership list, shows the recipient as ``read`` with the
time, tells its users, and never goes back. Forged or altered receipts are refused with a
reason and change nothing."""

from __future__ import annotations

import base64
import datetime as dt
import time
from functools import partial
from typing import Any

import httpx
import orjson
from joserfc import jws
from joserfc.jwk import ECKey
from sqlalchemy import select

from polex.domain.base import new_id
from polex.domain.roles import Role
from polex.message.schemas import DeliveryReport, ReadReceipt
from polex.message.service import READ_RECEIPT_TYPE, RECEIPT_TYPE
from polex.storage.tables import AuditEventRow, MessageRecipientRow, MessageRow
from tests.e2e.conftest import LiveServer, read_events
from tests.e2e.test_messages import wait_for


def delivery_of(client: httpx.Client, message_id: str) -> dict[str, dict[str, Any]]:
    read = client.get(f"/api/v1/messages/{message_id}").json()
    return {item["node"]: item for item in read["delivery"]}


def status_of(client: httpx.Client, message_id: str) -> dict[str, str]:
    return {node: item["status"] for node, item in delivery_of(client, message_id).items()}


def audited(server: LiveServer, tag: str, message_id: str) -> list[dict[str, Any]]:
    with server.node.uow(read_only=True) as uow:
        rows = uow.session.scalars(select(AuditEventRow).where(AuditEventRow.tag == tag)).all()
    entries = [orjson.loads(row.entry) for row in rows]
    return [entry for entry in entries if entry.get("details", {}).get("message") == message_id]


def receipts_queued(server: LiveServer, message_id: str) -> list[MessageRow]:
    """The read-receipt envelopes a node queued for a message (its service outbox)."""
    with server.node.uow(read_only=True) as uow:
        return list(
            uow.session.scalars(
                select(MessageRow).where(
                    MessageRow.box == "system", MessageRow.subject == f"read receipt for {message_id}"
                )
            ).all()
        )


def send_and_deliver(sender: httpx.Client, to: str, recipient_node: str, subject: str) -> str:
    sent = sender.post("/api/v1/messages", json={"to": [to], "subject": subject, "body": "for your eyes"})
    assert sent.status_code == 202, sent.text
    message_id: str = sent.json()["id"]
    wait_for(lambda: status_of(sender, message_id) == {recipient_node: "delivered"})
    return message_id


def test_the_sender_sees_the_first_read_of_its_message_once(network: tuple[LiveServer, LiveServer]) -> None:
    fra, hub = network
    officer = fra.as_roles(Role.INVESTIGATOR)
    reviewer = hub.as_roles(Role.NCB_OPERATOR)
    message_id = send_and_deliver(officer, "XPO", "hub", "Read me")
    assert delivery_of(officer, message_id)["hub"]["read_at"] is None

    with officer.stream("GET", "/api/v1/events", timeout=30) as stream:
        lines = stream.iter_lines()
        assert next(lines) == "retry: 3000"
        before = dt.datetime.now(dt.UTC)
        first = reviewer.get(f"/api/v1/messages/{message_id}")
        assert first.status_code == 200, first.text
        read_at = dt.datetime.fromisoformat(first.json()["read_at"])
        assert before <= read_at <= dt.datetime.now(dt.UTC)
        statuses: list[dict[str, Any]] = []
        for _ in range(20):  # statuses of earlier messages may come first
            statuses.extend(e["data"] for e in read_events(lines, 1) if e["event"] == "message.status")
            if any(item["id"] == message_id and item["status"] == "read" for item in statuses):
                break
    (event,) = [item for item in statuses if item["id"] == message_id and item["status"] == "read"]
    assert event["recipient"] == "hub"
    assert dt.datetime.fromisoformat(event["read_at"]) == read_at

    seen = delivery_of(officer, message_id)["hub"]
    assert seen["status"] == "read"
    assert dt.datetime.fromisoformat(seen["read_at"]) == read_at
    # Reading again, and by someone else, sends nothing more and changes nothing.
    again = hub.new_client([Role.ANALYST]).get(f"/api/v1/messages/{message_id}")
    assert dt.datetime.fromisoformat(again.json()["read_at"]) == read_at
    reviewer.get(f"/api/v1/messages/{message_id}")
    time.sleep(1.5)  # anything queued would have gone by now
    assert len(receipts_queued(hub, message_id)) == 1
    assert len(audited(fra, "message:read_receipt:received", message_id)) == 1
    assert len(audited(hub, "message:read_receipt:sent", message_id)) == 1
    reads = audited(hub, "message:message:read", message_id)
    assert len(reads) == 3
    assert [entry["details"].get("first") for entry in reads].count(True) == 1
    assert dt.datetime.fromisoformat(delivery_of(officer, message_id)["hub"]["read_at"]) == read_at
    # The sender keeps the recipient's signed receipt.
    with fra.node.uow(read_only=True) as uow:
        row = uow.session.get(MessageRecipientRow, (message_id, "hub"))
        assert row is not None
        assert row.read_receipt is not None
        assert row.receipt is not None  # the delivery receipt stays too


def test_a_national_node_reading_tells_the_hub(network: tuple[LiveServer, LiveServer]) -> None:
    fra, hub = network
    name = fra.node.settings.node_name
    reviewer = hub.as_roles(Role.NCB_OPERATOR)
    message_id = send_and_deliver(reviewer, "FRA", name, "To France")
    analyst = fra.as_roles(Role.ANALYST)
    listed = [m for m in analyst.get("/api/v1/messages?box=inbox").json()["items"] if m["id"] == message_id]
    assert listed[0]["read_at"] is None  # listing is not reading
    assert status_of(reviewer, message_id) == {name: "delivered"}
    assert analyst.get(f"/api/v1/messages/{message_id}").status_code == 200
    wait_for(lambda: status_of(reviewer, message_id) == {name: "read"})
    # A user without message:read reads nothing and sends no receipt.
    assert fra.as_roles(Role.BORDER_OFFICER).get(f"/api/v1/messages/{message_id}").status_code == 403
    assert len(receipts_queued(fra, message_id)) == 1


def test_a_late_delivery_report_does_not_undo_read(network: tuple[LiveServer, LiveServer]) -> None:
    fra, hub = network
    officer = fra.as_roles(Role.INVESTIGATOR)
    message_id = send_and_deliver(officer, "XPO", "hub", "Late report")
    hub.as_roles(Role.NCB_OPERATOR).get(f"/api/v1/messages/{message_id}")
    wait_for(lambda: status_of(officer, message_id) == {"hub": "read"})
    read_at = delivery_of(officer, message_id)["hub"]["read_at"]
    with fra.node.uow(read_only=True) as uow:
        row = uow.session.get(MessageRecipientRow, (message_id, "hub"))
        assert row is not None
        receipt = row.receipt
    # The hub repeats its delivery report (as after a crash before it noted it had sent it).
    report = DeliveryReport(message_id=message_id, recipient="hub", status="delivered", receipt=receipt)
    token = hub.node.network_view.token_for(fra.node.settings.node_name)
    answer = httpx.post(
        f"{fra.base_url}/api/v1/network/receipts",
        content=orjson.dumps({"reports": [report.model_dump(mode="json")]}),
        headers={"Authorization": f"PolexNode {token}", "Content-Type": "application/json"},
    )
    assert answer.status_code == 204, answer.text
    assert delivery_of(officer, message_id)["hub"] | {"updated_at": None} == {
        "node": "hub",
        "status": "read",
        "reason": None,
        "updated_at": None,
        "read_at": read_at,
    }


def test_a_repeated_read_receipt_changes_nothing(network: tuple[LiveServer, LiveServer]) -> None:
    fra, hub = network
    name = fra.node.settings.node_name
    reviewer = hub.as_roles(Role.NCB_OPERATOR)
    message_id = send_and_deliver(reviewer, "FRA", name, "Twice")
    fra.as_roles(Role.ANALYST).get(f"/api/v1/messages/{message_id}")
    wait_for(lambda: status_of(reviewer, message_id) == {name: "read"})
    before = delivery_of(reviewer, message_id)[name]
    (queued,) = receipts_queued(fra, message_id)
    # The same envelope pushed again (the hub's push repeated after a crash) is accepted,
    # and applied once.
    from polex.storage.tables import HubEnvelopeRow

    with hub.node.uow(read_only=True) as uow:
        stored = uow.session.get(HubEnvelopeRow, queued.id)
        assert stored is not None
        envelope = stored.envelope
    results = hub.node.messages.receive_batch([orjson.loads(envelope)], caller=hub.node.settings.node_name)
    assert "receipt" in results[0], results
    assert delivery_of(reviewer, message_id)[name] == before
    assert len(audited(hub, "message:read_receipt:received", message_id)) == 1


def _signed(server: LiveServer, claims: dict[str, Any]) -> str:
    return jws.serialize_compact(
        {"alg": "ES256", "typ": RECEIPT_TYPE},
        orjson.dumps(claims, option=orjson.OPT_SORT_KEYS),
        server.node.network_view.node_keys().signing,
        algorithms=["ES256"],
    )


def _tampered(token: str, **changes: Any) -> str:
    """The same signature over a payload changed: what an altered receipt looks like."""
    head, payload, signature = token.split(".")
    claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    altered = base64.urlsafe_b64encode(orjson.dumps({**claims, **changes})).rstrip(b"=").decode()
    return f"{head}.{altered}.{signature}"


def test_forged_or_altered_read_receipts_are_refused_and_change_nothing(
    network: tuple[LiveServer, LiveServer],
) -> None:
    fra, hub = network
    name = fra.node.settings.node_name
    reviewer = hub.as_roles(Role.NCB_OPERATOR)
    message_id = send_and_deliver(reviewer, "FRA", name, "Not read yet")
    now = dt.datetime.now(dt.UTC)
    claims = {"message_id": message_id, "recipient": name, "status": "read", "at": now.isoformat()}
    stranger = ECKey.generate_key("P-256")  # a key the network never certified
    forged_key = jws.serialize_compact(
        {"alg": "ES256", "typ": RECEIPT_TYPE}, orjson.dumps(claims), stranger, algorithms=["ES256"]
    )
    future = (now + dt.timedelta(days=1)).isoformat()
    cases = {
        "altered": (message_id, _tampered(_signed(fra, claims), at=future), "is not signed by node 'fra'"),
        "stranger's key": (message_id, forged_key, "is not signed by node 'fra'"),
        "a delivery receipt": (message_id, _signed(fra, {**claims, "status": "delivered"}), "not 'read'"),
        "another node's read": (message_id, _signed(fra, {**claims, "recipient": "deu"}), "another message or node"),
        "another message": (message_id, _signed(fra, {**claims, "message_id": new_id()}), "another message or node"),
        "never sent to fra": (new_id(), None, "was sent from here to 'fra'"),
        "dated tomorrow": (message_id, _signed(fra, {**claims, "at": future}), "in the future"),
    }
    sent: dict[str, str] = {}
    for case, (about, token, _) in cases.items():
        receipt = token or _signed(fra, {**claims, "message_id": about})
        body = ReadReceipt(message_id=about, receipt=receipt).model_dump_json().encode()
        with fra.node.uow() as uow:
            sent[case] = fra.node.messages.enqueue(
                uow.session,
                to=["hub"],
                content_type=READ_RECEIPT_TYPE,
                body=body,
                conversation_id=new_id(),
                subject=f"forged: {case}",
            )
            uow.commit()
    with fra.node.uow() as uow:  # not even a receipt's shape
        sent["garbage"] = fra.node.messages.enqueue(
            uow.session,
            to=["hub"],
            content_type=READ_RECEIPT_TYPE,
            body=b'{"hello": "world"}',
            conversation_id=new_id(),
            subject="forged: garbage",
        )
        uow.commit()
    fra.node.messages.on_outbox()

    def outcome(envelope_id: str) -> tuple[str, str | None] | None:
        (status,) = fra.node.messages.delivery(envelope_id)
        return (status.status, status.reason) if status.status in ("refused", "delivered") else None

    for case, envelope_id in sent.items():
        status, reason = wait_for(partial(outcome, envelope_id))
        assert status == "refused", case
        expected = cases[case][2] if case in cases else "not a read receipt"
        assert reason is not None
        assert expected in reason, (case, reason)
    # Nothing changed at the hub, and each refusal is audited there.
    assert delivery_of(reviewer, message_id)[name] | {"updated_at": None} == {
        "node": name,
        "status": "delivered",
        "reason": None,
        "updated_at": None,
        "read_at": None,
    }
    with hub.node.uow(read_only=True) as uow:
        refusals = uow.session.scalars(
            select(AuditEventRow).where(AuditEventRow.tag == "message:read_receipt:refused")
        ).all()
    envelopes = {orjson.loads(row.entry)["details"]["envelope"] for row in refusals}
    assert set(sent.values()) <= envelopes
    # The genuine read still counts.
    fra.as_roles(Role.ANALYST).get(f"/api/v1/messages/{message_id}")
    wait_for(lambda: status_of(reviewer, message_id) == {name: "read"})
