"""Attachments over real HTTP, between a national node and the hub: uploaded in chunks (and
resumed after a dropped connection), sealed for the message, relayed to the hub's store,
fetched and verified by the recipient, downloaded byte for byte; a chunk altered at the hub
is refused by the recipient; bad input is refused with the field named."""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
import urllib.parse
from typing import Any

import httpx
import pytest

from polex.domain.roles import Role
from polex.message.chunks import ChunkSlot, ChunkWriter
from tests.e2e.conftest import LiveServer, assert_problem, error_fields, read_events
from tests.e2e.test_message_read_receipts import audited
from tests.e2e.test_messages import wait_for

CHUNK = 64 * 1024  # many chunks from little data


@pytest.fixture(autouse=True)
def _small_chunks(network: tuple[LiveServer, LiveServer]) -> None:
    for live in network:
        live.node.messages.attachments.uploads.chunk_bytes = CHUNK


def digest(data: bytes) -> str:
    return f"sha-256=:{base64.b64encode(hashlib.sha256(data).digest()).decode()}:"


def declare(client: httpx.Client, data: bytes, name: str = "evidence.bin", **extra: Any) -> dict[str, Any]:
    body = {"name": name, "media_type": "application/octet-stream", "size": len(data)}
    body["sha256"] = hashlib.sha256(data).hexdigest()
    response = client.post("/api/v1/attachments", json={**body, **extra})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    assert response.headers["Location"] == f"/api/v1/attachments/{created['id']}"
    return created


def put_chunk(client: httpx.Client, upload_id: str, index: int, part: bytes) -> httpx.Response:
    return client.put(
        f"/api/v1/attachments/{upload_id}/chunks/{index}",
        content=part,
        headers={"Content-Digest": digest(part), "Content-Type": "application/octet-stream"},
    )


def upload(client: httpx.Client, data: bytes, name: str = "evidence.bin") -> str:
    created = declare(client, data, name)
    size = created["chunk_size"]
    for index in range(created["chunk_count"]):
        response = put_chunk(client, created["id"], index, data[index * size : (index + 1) * size])
        assert response.status_code == 200, response.text
    done = client.post(f"/api/v1/attachments/{created['id']}/complete")
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "complete"
    return str(created["id"])


def attachment_of(client: httpx.Client, message_id: str) -> dict[str, Any]:
    (item,) = client.get(f"/api/v1/messages/{message_id}").json()["attachments"]
    return dict(item)


def inbox_message(client: httpx.Client, message_id: str) -> bool:
    return any(m["id"] == message_id for m in client.get("/api/v1/messages?box=inbox").json()["items"])


def test_an_attachment_goes_from_a_national_node_to_the_hub_after_an_interrupted_upload(
    network: tuple[LiveServer, LiveServer],
) -> None:
    fra, hub = network
    officer = fra.as_roles(Role.INVESTIGATOR)
    data = os.urandom(5 * CHUNK + 1234)  # six chunks, the last short
    created = declare(officer, data, "cctv 2024-03-01.mp4", media_type="video/mp4")
    assert (created["chunk_size"], created["chunk_count"], created["missing"]) == (CHUNK, 6, [[0, 5]])
    upload_id = created["id"]
    for index in (0, 1, 4):
        assert put_chunk(officer, upload_id, index, data[index * CHUNK : (index + 1) * CHUNK]).status_code == 200

    # The connection drops in the middle of chunk 2: the node keeps nothing of it.
    url = urllib.parse.urlsplit(fra.base_url)
    connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=10)
    connection.putrequest("PUT", f"/api/v1/attachments/{upload_id}/chunks/2")
    connection.putheader("Authorization", officer.headers["Authorization"])
    connection.putheader("Content-Digest", digest(data[2 * CHUNK : 3 * CHUNK]))
    connection.putheader("Content-Length", str(CHUNK))
    connection.endheaders()
    connection.send(data[2 * CHUNK : 2 * CHUNK + CHUNK // 3])
    connection.close()

    state = wait_for(lambda: (s := officer.get(f"/api/v1/attachments/{upload_id}").json())["missing"] and s)
    assert (state["status"], state["received"], state["missing"]) == ("uploading", 3, [[2, 3], [5, 5]])
    early = assert_problem(officer.post(f"/api/v1/attachments/{upload_id}/complete"), 422)
    assert error_fields(early) == {"chunks"}
    for index in (2, 3, 5, 2):  # resumed, and one chunk twice: a no-op
        assert put_chunk(officer, upload_id, index, data[index * CHUNK : (index + 1) * CHUNK]).status_code == 200
    assert officer.post(f"/api/v1/attachments/{upload_id}/complete").json()["status"] == "complete"

    sent = officer.post(
        "/api/v1/messages",
        json={"to": ["XPO"], "subject": "Footage", "body": "See the attached video.", "attachments": [upload_id]},
    )
    assert sent.status_code == 202, sent.text
    message_id = sent.json()["id"]
    reused = officer.post(
        "/api/v1/messages", json={"to": ["XPO"], "subject": "s", "body": "b", "attachments": [upload_id]}
    )
    assert error_fields(assert_problem(reused, 400)) == {"attachments"}  # an upload goes with one message

    reviewer = hub.as_roles(Role.NCB_OPERATOR)
    wait_for(lambda: inbox_message(reviewer, message_id))
    received = wait_for(lambda: (a := attachment_of(reviewer, message_id))["status"] == "available" and a)
    assert (received["name"], received["media_type"], received["size"]) == (
        "cctv 2024-03-01.mp4",
        "video/mp4",
        len(data),
    )
    assert received["sha256"] == hashlib.sha256(data).hexdigest()
    download = reviewer.get(f"/api/v1/messages/{message_id}/attachments/{upload_id}")
    assert download.status_code == 200
    assert download.content == data
    assert download.headers["content-type"] == "video/mp4"
    assert download.headers["repr-digest"] == digest(data)
    assert download.headers["content-disposition"].startswith("attachment;")
    part = reviewer.get(
        f"/api/v1/messages/{message_id}/attachments/{upload_id}", headers={"Range": "bytes=65000-131100"}
    )
    assert part.status_code == 206
    assert part.content == data[65000:131101]
    assert part.headers["content-range"] == f"bytes 65000-131100/{len(data)}"
    # Each step under its own tag: the hub stored the file, the recipient (the hub here)
    # verified it, the reviewer downloaded it whole, then a range.
    [stored] = audited(hub, "network:attachment:stored", message_id)
    assert (stored["details"]["attachment"], stored["details"]["chunks"]) == (upload_id, 6)  # sealed: no plaintext
    assert stored["actor"]["name"] == fra.node.settings.node_name
    [verified] = audited(hub, "message:attachment:received", message_id)
    assert verified["details"]["sha256"] == hashlib.sha256(data).hexdigest()
    downloads = audited(hub, "message:attachment:downloaded", message_id)
    assert [entry["details"].get("range") for entry in downloads] == [None, [65000, 131100]]
    assert {entry["details"]["attachment"] for entry in downloads} == {upload_id}

    # The sender sees the attachment at the hub and the delivery, then the read (the reviewer
    # opened the message above); it can read back what it sent.
    assert wait_for(lambda: attachment_of(officer, message_id)["status"] == "at_hub")
    wait_for(
        lambda: {d["status"] for d in officer.get(f"/api/v1/messages/{message_id}").json()["delivery"]} == {"read"}
    )
    assert officer.get(f"/api/v1/messages/{message_id}/attachments/{upload_id}").content == data
    gone = officer.get(f"/api/v1/attachments/{upload_id}").json()
    assert (gone["status"], gone["message_id"]) == ("sent", message_id)
    # The hub dropped its copy in transit once its one recipient had verified it.
    assert wait_for(lambda: not (hub.node.settings.data_dir / "attachments" / "hub" / upload_id).exists())


def send_from_hub(hub: LiveServer, data: bytes, subject: str) -> tuple[str, str]:
    reviewer = hub.as_roles(Role.NCB_OPERATOR)
    upload_id = upload(reviewer, data, "scan.pdf")
    sent = reviewer.post(
        "/api/v1/messages", json={"to": ["FRA"], "subject": subject, "body": "Attached.", "attachments": [upload_id]}
    )
    assert sent.status_code == 202, sent.text
    return str(sent.json()["id"]), upload_id


def test_a_national_node_fetches_an_attachment_from_the_hub_and_checks_it(
    network: tuple[LiveServer, LiveServer],
) -> None:
    fra, hub = network
    data = os.urandom(3 * CHUNK)  # the last chunk full
    officer = fra.as_roles(Role.ANALYST)  # reads messages
    with officer.stream("GET", "/api/v1/events", timeout=30) as stream:
        lines = stream.iter_lines()
        assert next(lines) == "retry: 3000"
        message_id, attachment_id = send_from_hub(hub, data, "Warrant")
        seen: list[dict[str, Any]] = []
        for _ in range(20):  # the message arrives first, then its attachment is ready
            seen.extend(event["data"] for event in read_events(lines, 1) if event["event"] == "message.attachment")
            if any(item["id"] == message_id for item in seen):
                break
    assert {"id": message_id, "attachment": attachment_id, "status": "available"} in seen
    assert attachment_of(officer, message_id)["status"] == "available"
    assert officer.get(f"/api/v1/messages/{message_id}/attachments/{attachment_id}").content == data
    # Only recipients fetch from the hub: the hub's chunks are not served to the sender's
    # own token holder nor without a node token.
    chunk_url = f"{hub.base_url}/api/v1/network/attachments/{attachment_id}/chunks/0"
    assert_problem(httpx.get(chunk_url), 401)
    assert not fra.node.settings.data_dir.joinpath("attachments", "uploads", attachment_id).exists()


def test_a_chunk_altered_at_the_hub_is_refused_by_the_recipient(
    network: tuple[LiveServer, LiveServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    fra, hub = network
    store = hub.node.messages.attachments.hub
    original = store.store_chunk

    def store_then_alter(slot: ChunkSlot, writer: ChunkWriter, expected: str, *, caller: str) -> Any:
        result = original(slot, writer, expected, caller=caller)
        if slot.index == 1:  # once accepted, someone at the hub changes a byte of it
            path = slot.folder / f"{slot.index:08d}"
            altered = bytearray(path.read_bytes())
            altered[100] ^= 0x01
            path.write_bytes(bytes(altered))
        return result

    monkeypatch.setattr(store, "store_chunk", store_then_alter)
    message_id, attachment_id = send_from_hub(hub, os.urandom(2 * CHUNK + 7), "Altered")
    officer = fra.as_roles(Role.INVESTIGATOR)
    wait_for(lambda: inbox_message(officer, message_id))
    refused = wait_for(lambda: (a := attachment_of(officer, message_id))["status"] == "refused" and a)
    assert "chunk 1" in refused["reason"]
    assert "altered" in refused["reason"]
    blocked = assert_problem(officer.get(f"/api/v1/messages/{message_id}/attachments/{attachment_id}"), 409)
    assert "refused" in blocked["detail"]
    # The message itself arrived; the hub learns the recipient refused the attachment.
    from polex.storage.tables import HubAttachmentFetchRow

    def outcome() -> str | None:
        with hub.node.uow(read_only=True) as uow:
            row = uow.session.get(HubAttachmentFetchRow, (attachment_id, fra.node.settings.node_name))
            return None if row is None else row.outcome

    assert wait_for(outcome) == "refused"
    # Both sides audit the refusal under the attachments' own tag, with the reason.
    [at_recipient] = audited(fra, "network:attachment:refused", message_id)
    assert (at_recipient["decision"], at_recipient["details"]["attachment"]) == ("denied", attachment_id)
    assert "chunk 1" in at_recipient["details"]["reason"]
    [at_hub] = audited(hub, "network:attachment:refused", message_id)
    assert at_hub["actor"]["name"] == fra.node.settings.node_name
    assert audited(fra, "message:attachment:received", message_id) == []


def test_bad_attachment_input_is_refused_with_a_clear_reason(network: tuple[LiveServer, LiveServer]) -> None:
    fra, _ = network
    officer = fra.as_roles(Role.INVESTIGATOR)
    huge = {"name": "disk.img", "size": fra.node.settings.attachment_max_bytes + 1, "sha256": "0" * 64}
    too_large = assert_problem(officer.post("/api/v1/attachments", json=huge), 413)
    assert error_fields(too_large) == {"size"}
    assert error_fields(assert_problem(officer.post("/api/v1/attachments", json={**huge, "name": "a/b"}), 422)) >= {
        "name"
    }

    data = os.urandom(CHUNK + 5)
    created = declare(officer, data)
    chunk_url = f"/api/v1/attachments/{created['id']}/chunks/0"
    no_digest = assert_problem(officer.put(chunk_url, content=data[:CHUNK]), 400)
    assert error_fields(no_digest) == {"Content-Digest"}
    damaged = officer.put(chunk_url, content=data[:CHUNK], headers={"Content-Digest": digest(b"other")})
    assert error_fields(assert_problem(damaged, 422)) == {"Content-Digest"}
    longer = officer.put(chunk_url, content=data[: CHUNK + 1], headers={"Content-Digest": digest(data[: CHUNK + 1])})
    body = assert_problem(longer, 413)
    assert (error_fields(body), body["detail"]) == ({"body"}, f"chunk 0 has more than the {CHUNK} bytes it must have")
    shorter = officer.put(chunk_url, content=data[:10], headers={"Content-Digest": digest(data[:10])})
    assert error_fields(assert_problem(shorter, 400)) == {"body"}
    beyond = officer.put(
        f"/api/v1/attachments/{created['id']}/chunks/2", content=b"x", headers={"Content-Digest": digest(b"x")}
    )
    assert error_fields(assert_problem(beyond, 422)) == {"chunk"}

    # A body over the node's limit for uploads is refused by its declared length, unread.
    url = urllib.parse.urlsplit(fra.base_url)
    connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=10)
    connection.putrequest("PUT", chunk_url)
    connection.putheader("Authorization", officer.headers["Authorization"])
    connection.putheader("Content-Length", str(fra.node.settings.attachment_chunk_bytes + 1))
    connection.endheaders()
    answer = connection.getresponse()
    assert answer.status == 413
    assert b"exceeds the limit" in answer.read()
    connection.close()

    unknown = officer.post(
        "/api/v1/messages", json={"to": ["XPO"], "subject": "s", "body": "b", "attachments": [created["id"]]}
    )
    assert error_fields(assert_problem(unknown, 400)) == {"attachments"}  # not complete
    assert_problem(fra.client().put(chunk_url, content=b"x"), 401)
    border = fra.as_roles(Role.BORDER_OFFICER)  # may not send messages
    assert_problem(border.post("/api/v1/attachments", json={"name": "a", "size": 1, "sha256": "0" * 64}), 403)
    other_agency = fra.new_client([Role.INVESTIGATOR], agency_id=fra.make_agency())
    assert_problem(other_agency.get(f"/api/v1/attachments/{created['id']}"), 404)
    assert officer.delete(f"/api/v1/attachments/{created['id']}").status_code == 204
    assert_problem(officer.get(f"/api/v1/attachments/{created['id']}"), 404)
