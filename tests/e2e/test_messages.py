"""Messages between a national node and the hub, over real HTTP: signed and encrypted at
the sender, stored in its outbox in the user's transaction, relayed to the hub, pushed to
the recipient, stored once, and acknowledged with a receipt the recipient signed."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import orjson
from sqlalchemy import select

from polex.crypto.envelope import seal
from polex.domain.audit import AuditTag
from polex.domain.base import new_id
from polex.domain.message import RoutingHeader
from polex.domain.roles import Role
from polex.storage.tables import AuditEventRow, MessageRow, OutboxRow
from tests.e2e.conftest import LiveServer, assert_problem, error_fields, read_events


def wait_for(condition: Callable[[], Any], seconds: float = 30) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out")


def delivery_of(client: httpx.Client, message_id: str) -> dict[str, str]:
    read = client.get(f"/api/v1/messages/{message_id}").json()
    return {item["node"]: item["status"] for item in read["delivery"]}


def test_a_message_goes_from_a_national_node_through_the_hub_and_back(network: tuple[LiveServer, LiveServer]) -> None:
    fra, hub = network
    officer = fra.as_roles(Role.INVESTIGATOR)
    sent = officer.post(
        "/api/v1/messages",
        json={
            "to": ["XPO"],
            "subject": "Red notice request",
            "body": "Please find the file attached.",
            "case_ref": "C-1",
        },
    )
    assert sent.status_code == 202, sent.text
    message_id = sent.json()["id"]
    assert sent.json()["recipients"] == ["hub"]

    reviewer = hub.as_roles(Role.NCB_OPERATOR)
    inbox = wait_for(
        lambda: [m for m in reviewer.get("/api/v1/messages?box=inbox").json()["items"] if m["id"] == message_id]
    )
    received = inbox[0]
    assert (received["subject"], received["body"], received["case_ref"]) == (
        "Red notice request",
        "Please find the file attached.",
        "C-1",
    )
    assert received["sender"] == fra.node.settings.node_name
    assert received["author"]["country"] == "FRA"
    # The sender sees the recipient's signed receipt arrive.
    wait_for(lambda: delivery_of(officer, message_id) == {"hub": "delivered"})

    # A reply in the same conversation, from the hub to France.
    reply = reviewer.post(
        "/api/v1/messages",
        json={"to": ["FRA"], "subject": "Re: Red notice request", "body": "Received.", "in_reply_to": message_id},
    )
    assert reply.status_code == 202, reply.text
    assert reply.json()["conversation_id"] == sent.json()["conversation_id"]
    answer = wait_for(
        lambda: [m for m in officer.get("/api/v1/messages?box=inbox").json()["items"] if m["id"] == reply.json()["id"]]
    )
    assert answer[0]["in_reply_to"] == message_id
    wait_for(lambda: delivery_of(reviewer, reply.json()["id"]) == {fra.node.settings.node_name: "delivered"})


def test_the_wire_may_repeat_the_application_sees_each_message_once(network: tuple[LiveServer, LiveServer]) -> None:
    fra, hub = network
    officer = fra.as_roles(Role.INVESTIGATOR)
    sent = officer.post("/api/v1/messages", json={"to": ["XPO"], "subject": "Once", "body": "only once"})
    message_id = sent.json()["id"]
    reviewer = hub.as_roles(Role.NCB_OPERATOR)
    wait_for(lambda: delivery_of(officer, message_id) == {"hub": "delivered"})
    with fra.node.uow(read_only=True) as uow:
        from polex.storage.tables import OutboxRow

        row = uow.session.get(OutboxRow, message_id)
        assert row is not None
        envelope = row.envelope
    token = fra.node.network_view.token_for(hub.node.settings.node_name)
    again = httpx.post(
        f"{hub.base_url}/api/v1/network/envelopes",
        content=envelope.encode(),
        headers={"Authorization": f"PolexNode {token}", "Content-Type": "application/json"},
    )
    assert again.status_code == 202, again.text
    assert again.json() == {"message_id": message_id, "duplicate": True}
    received = [m for m in reviewer.get("/api/v1/messages?box=inbox").json()["items"] if m["id"] == message_id]
    assert len(received) == 1


def test_envelopes_are_refused_without_a_node_token_or_when_tampered(network: tuple[LiveServer, LiveServer]) -> None:
    fra, hub = network
    keys = fra.node.network_view.node_keys()
    directory = hub.node.network_view.directory()
    body = orjson.dumps({"subject": "x", "body": "y", "author": {}})
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    header = RoutingHeader(
        sender=fra.node.settings.node_name,
        recipients=[hub.node.settings.node_name],
        created=now,
        expires=now + dt.timedelta(hours=1),
        conversation_id=new_id(),
        size=len(body),
    )
    envelope = seal(header, body, keys, directory)
    url = f"{hub.base_url}/api/v1/network/envelopes"
    assert_problem(httpx.post(url, json=envelope), 401)
    token = fra.node.network_view.token_for(hub.node.settings.node_name)
    headers = {"Authorization": f"PolexNode {token}"}
    tampered = {**envelope, "routing": {**envelope["routing"], "handling": "TLP:CLEAR"}}
    refused = assert_problem(httpx.post(url, json=tampered, headers=headers), 400)
    assert refused["detail"] == "routing altered"
    # A token for another audience is refused.
    other = fra.node.network_view.token_for("jpn")
    assert_problem(httpx.post(url, json=envelope, headers={"Authorization": f"PolexNode {other}"}), 401)


def test_sending_needs_known_recipients_and_the_right_role(network: tuple[LiveServer, LiveServer]) -> None:
    fra, _ = network
    officer = fra.as_roles(Role.INVESTIGATOR)
    unknown = assert_problem(officer.post("/api/v1/messages", json={"to": ["JPN"], "subject": "s", "body": "b"}), 400)
    assert error_fields(unknown) == {"to"}
    bad = assert_problem(officer.post("/api/v1/messages", json={"to": ["XX1"], "subject": "s", "body": "b"}), 422)
    assert "to" in error_fields(bad)
    assert_problem(
        fra.as_roles(Role.BORDER_OFFICER).post("/api/v1/messages", json={"to": ["XPO"], "subject": "s", "body": "b"}),
        403,
    )


def test_an_offline_recipient_gets_its_messages_when_it_returns_or_the_sender_learns_they_expired(
    network: tuple[LiveServer, LiveServer],
) -> None:
    import datetime as dt

    from sqlalchemy import update

    from polex.storage.tables import HubDeliveryRow, HubEnvelopeRow, NetworkMemberRow

    fra, hub = network
    name = fra.node.settings.node_name
    reviewer = hub.as_roles(Role.NCB_OPERATOR)

    def set_url(url: str) -> None:
        with hub.node.uow() as uow:
            uow.session.execute(update(NetworkMemberRow).where(NetworkMemberRow.name == name).values(url=url))
            uow.commit()

    set_url("http://127.0.0.1:9")  # France is "offline": nothing listens there
    time.sleep(1.2)  # the hub reads its member list at most once a second
    try:
        waiting = reviewer.post("/api/v1/messages", json={"to": ["FRA"], "subject": "Wait", "body": "for me"}).json()
        doomed = reviewer.post("/api/v1/messages", json={"to": ["FRA"], "subject": "Late", "body": "too late"}).json()

        def attempts(message_id: str) -> int:
            with hub.node.uow(read_only=True) as uow:
                row = uow.session.get(HubDeliveryRow, (message_id, name))
                return 0 if row is None else row.attempts

        # Both tried, failed and queued for a retry. Each is relayed into the hub's store in
        # its own round: waiting for the first alone, on a loaded machine, the second was
        # not at the hub yet when its time was cut short below, and so never expired.
        wait_for(lambda: attempts(waiting["id"]) >= 1 and attempts(doomed["id"]) >= 1)
        assert delivery_of(reviewer, waiting["id"]) == {name: "at_hub"}
        with hub.node.uow() as uow:  # the second message's time runs out while France is away
            past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
            cut = uow.session.execute(
                update(HubEnvelopeRow).where(HubEnvelopeRow.message_id == doomed["id"]).values(expires=past)
            )
            assert getattr(cut, "rowcount", 0) == 1
            uow.commit()
        wait_for(lambda: delivery_of(reviewer, doomed["id"]) == {name: "expired"})
    finally:
        set_url(fra.base_url)
    time.sleep(1.2)
    with hub.node.uow() as uow:  # France is back: retry now rather than after the back-off
        uow.session.execute(
            update(HubDeliveryRow)
            .where(HubDeliveryRow.message_id == waiting["id"])
            .values(next_attempt_at=dt.datetime.now(dt.UTC))
        )
        uow.commit()
    wait_for(lambda: delivery_of(reviewer, waiting["id"]) == {name: "delivered"})
    officer = fra.as_roles(Role.INVESTIGATOR)
    subjects = [m["subject"] for m in officer.get("/api/v1/messages?box=inbox").json()["items"]]
    assert "Wait" in subjects
    assert "Late" not in subjects


def test_a_node_whose_hub_was_away_sends_its_messages_within_seconds_of_its_return(
    network: tuple[LiveServer, LiveServer],
) -> None:
    """An unreachable hub says nothing about the envelopes: they stay due, the relay asks
    the hub again at most 10 s apart, and the first answer sends them all."""
    from sqlalchemy import select

    from polex.message.service import MAX_HUB_BACKOFF_SECONDS
    from polex.storage.tables import OutboxRow

    fra, hub = network
    officer = fra.as_roles(Role.INVESTIGATOR)
    view = fra.node.network_view
    view.hub_url = "http://127.0.0.1:9"  # nothing listens there
    try:
        sent = [
            officer.post("/api/v1/messages", json={"to": ["XPO"], "subject": f"Away {n}", "body": "b"}).json()
            for n in range(3)
        ]

        def outbox() -> list[tuple[int, dt.datetime]]:
            with fra.node.uow(read_only=True) as uow:
                rows = select(OutboxRow.attempts, OutboxRow.next_attempt_at, OutboxRow.last_error).where(
                    OutboxRow.message_id.in_([message["id"] for message in sent])
                )
                return [(attempts, due) for attempts, due, _ in uow.session.execute(rows)]

        # Tried several times over a few seconds, and still due: no per-envelope back-off.
        wait_for(lambda: len(rows := outbox()) == 3 and min(attempts for attempts, _ in rows) >= 3, seconds=20)
        now = dt.datetime.now(dt.UTC)
        assert all(due <= now for _, due in outbox())
        assert all(delivery_of(officer, message["id"]) == {"hub": "queued"} for message in sent)
    finally:
        view.hub_url = hub.base_url
    returned = time.monotonic()
    wait_for(lambda: all(delivery_of(officer, message["id"]) == {"hub": "delivered"} for message in sent))
    assert time.monotonic() - returned < MAX_HUB_BACKOFF_SECONDS + 5


def test_users_are_told_in_real_time_of_new_messages_and_receipts(network: tuple[LiveServer, LiveServer]) -> None:
    fra, hub = network
    officer = fra.as_roles(Role.INVESTIGATOR)
    reviewer = hub.as_roles(Role.NCB_OPERATOR)
    with officer.stream("GET", "/api/v1/events", timeout=30) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        assert next(lines) == "retry: 3000"  # subscribed
        sent = reviewer.post("/api/v1/messages", json={"to": ["FRA"], "subject": "Live", "body": "now"}).json()
        (event,) = read_events(lines, 1)
    assert event["event"] == "message.received"
    assert event["data"]["id"] == sent["id"]
    assert event["data"]["subject"] == "Live"

    # A client that was away resumes from the last event it saw.
    with officer.stream("GET", "/api/v1/events", headers={"Last-Event-ID": str(event["id"] - 1)}) as again:
        (replayed,) = read_events(again.iter_lines(), 1)
    assert replayed["id"] == event["id"]

    # The sender's users see the receipt arrive.
    with reviewer.stream("GET", "/api/v1/events", timeout=30) as stream:
        lines = stream.iter_lines()
        assert next(lines) == "retry: 3000"
        other = reviewer.post("/api/v1/messages", json={"to": ["FRA"], "subject": "Ack?", "body": "b"}).json()
        wanted = {"id": other["id"], "recipient": fra.node.settings.node_name, "status": "delivered"}
        statuses: list[dict[str, Any]] = []
        for _ in range(20):  # reports of earlier messages may come first
            statuses.extend(e["data"] for e in read_events(lines, 1) if e["event"] == "message.status")
            if wanted in statuses:
                break
    assert wanted in statuses


def test_event_streams_carry_only_what_the_user_may_see(network: tuple[LiveServer, LiveServer]) -> None:
    fra, hub = network
    import threading

    border = fra.as_roles(Role.BORDER_OFFICER)  # no message:read
    analyst = fra.as_roles(Role.ANALYST)  # message:read
    seen: dict[str, list[str]] = {"border": [], "analyst": []}

    def listen(name: str, client: httpx.Client, opened: threading.Event) -> None:
        with client.stream("GET", "/api/v1/events", headers={"Last-Event-ID": "0"}, timeout=10) as stream:
            lines = stream.iter_lines()
            next(lines)
            opened.set()
            try:
                for line in lines:
                    seen[name].append(line)
            except httpx.ReadTimeout:
                return

    listeners = []
    for name, client in (("border", border), ("analyst", analyst)):
        opened = threading.Event()
        thread = threading.Thread(target=listen, args=(name, client, opened), daemon=True)
        thread.start()
        assert opened.wait(10)
        listeners.append(thread)
    sent = hub.as_roles(Role.NCB_OPERATOR).post("/api/v1/messages", json={"to": ["FRA"], "subject": "x", "body": "y"})
    wait_for(lambda: any(sent.json()["id"] in line for line in seen["analyst"]), 20)
    for thread in listeners:
        thread.join(15)  # the streams end by read timeout: nothing more was sent
    assert not [line for line in seen["border"] if line.startswith("event:")]  # nothing, not even the replay
    assert_problem(fra.client().get("/api/v1/events"), 401)


def test_a_suspended_node_is_refused_until_reinstated(network: tuple[LiveServer, LiveServer]) -> None:
    fra, hub = network
    name = fra.node.settings.node_name
    admin = hub.as_roles(Role.ADMIN)
    fra.node.network_view.membership()  # France holds the hub's list from before the suspension
    assert admin.post(f"/api/v1/network/members/{name}/suspend", json={"reason": "misuse inquiry"}).status_code == 200
    try:
        time.sleep(1.2)  # the hub reads its member list at most once a second
        officer = fra.as_roles(Role.INVESTIGATOR)
        sending = officer.post("/api/v1/messages", json={"to": ["XPO"], "subject": "Held", "body": "b"})
        assert sending.status_code == 202, sending.text
        held = sending.json()
        # The hub refuses the suspended node's relay (its node token): the message waits at home.
        from polex.storage.tables import OutboxRow

        def attempts() -> int:
            with fra.node.uow(read_only=True) as uow:  # a fresh read each time
                row = uow.session.get(OutboxRow, held["id"])
                return 0 if row is None else row.attempts

        wait_for(lambda: attempts() >= 1)
        assert delivery_of(officer, held["id"]) == {"hub": "queued"}
        token = fra.node.network_view.token_for(hub.node.settings.node_name)
        refused = httpx.get(
            f"{hub.base_url}/api/v1/network/membership", headers={"Authorization": f"PolexNode {token}"}
        )
        assert "suspended" in assert_problem(refused, 401)["detail"]
    finally:
        reinstated = admin.post(f"/api/v1/network/members/{name}/reinstate", json={"reason": "inquiry closed"})
        assert reinstated.status_code == 200
    time.sleep(1.2)
    from sqlalchemy import update

    from polex.storage.tables import OutboxRow

    with fra.node.uow() as uow:  # retry now rather than after the back-off
        uow.session.execute(
            update(OutboxRow).where(OutboxRow.message_id == held["id"]).values(next_attempt_at=dt.datetime.now(dt.UTC))
        )
        uow.commit()
    fra.node.messages.relay_once()
    wait_for(lambda: delivery_of(officer, held["id"]) == {"hub": "delivered"})


def test_concurrent_sends_share_commits_yet_each_keeps_its_own_message_event_and_order(
    network: tuple[LiveServer, LiveServer],
) -> None:
    """Sends that arrive together are written in shared transactions (group commit): each
    still answers 202 only once its message, outbox row and audit event are stored, its
    event names its own request, and each sender's messages reach the hub in its order."""
    fra, hub = network
    senders, each = 6, 8
    clients = [fra.new_client([Role.INVESTIGATOR]) for _ in range(senders)]

    def send_all(index: int) -> list[str]:
        ids = []
        conversation = None
        for number in range(each):
            body: dict[str, Any] = {"to": ["XPO"], "subject": f"burst {index}/{number}", "body": "x" * 4096}
            if conversation is not None:
                body["in_reply_to"] = conversation
            response = clients[index].post(
                "/api/v1/messages", json=body, headers={"X-Request-ID": f"burst-{index}-{number}"}
            )
            assert response.status_code == 202, response.text
            ids.append(response.json()["id"])
            conversation = conversation or response.json()["id"]
        return ids

    with ThreadPoolExecutor(max_workers=senders) as pool:
        sent = list(pool.map(send_all, range(senders)))

    with fra.node.uow(read_only=True) as uow:
        events = {
            orjson.loads(entry)["details"]["message"]: request_id
            for entry, request_id in uow.session.execute(
                select(AuditEventRow.entry, AuditEventRow.request_id).where(
                    AuditEventRow.tag == AuditTag.MESSAGE_SENT.value
                )
            )
        }
        outbox = set(uow.session.scalars(select(OutboxRow.message_id)))
    for index, ids in enumerate(sent):
        assert [events[message_id] for message_id in ids] == [f"burst-{index}-{number}" for number in range(each)]
        assert set(ids) <= outbox

    every = [message_id for ids in sent for message_id in ids]

    def received_at() -> dict[str, dt.datetime]:
        with hub.node.uow(read_only=True) as uow:
            rows = uow.session.execute(
                select(MessageRow.id, MessageRow.received_at).where(MessageRow.box == "inbox", MessageRow.id.in_(every))
            ).all()
        return {message_id: at for message_id, at in rows if at is not None}

    received = wait_for(lambda: found if len(found := received_at()) == len(every) else None)
    for ids in sent:  # a conversation arrives in the order it was sent
        arrivals = [received[message_id] for message_id in ids]
        assert arrivals == sorted(arrivals)
    for client in clients:
        client.close()
