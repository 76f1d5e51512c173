"""A national bureau requests notices from its own node: the draft stays there, its steps
travel to the hub in signed, encrypted envelopes, the hub's reviewers decide, and the hub's
reports bring every step back to the national copy; the published notice reaches the
national replica under the same id and owner. Steps the hub refuses come back refused,
with the reason, and change nothing at the hub."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from polex.domain.notice import Action, NoticeRequest
from polex.domain.roles import Role
from polex.notice.relay import RelayedBy, RelayedStep, step_post
from polex.storage.tables import AppliedEnvelopeRow, NoticeRow
from tests.e2e.conftest import LiveServer, assert_problem, read_events
from tests.e2e.test_notices import _share_notices, _user
from tests.factories import red_notice_body


def _wait(check: Callable[[], Any], what: str, seconds: float = 15) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _hub_row(hub: LiveServer, notice_id: str) -> NoticeRow | None:
    with hub.node.uow(read_only=True) as uow:
        row = uow.session.get(NoticeRow, notice_id)
        if row is not None:
            uow.session.expunge(row)
        return row


def _applied_at_hub(hub: LiveServer, message_id: str) -> AppliedEnvelopeRow | None:
    with hub.node.uow(read_only=True) as uow:
        row = uow.session.get(AppliedEnvelopeRow, message_id)
        if row is not None:
            uow.session.expunge(row)
        return row


def _national_ncb(national: LiveServer) -> httpx.Client:
    username, _ = national.make_user([Role.NCB_OPERATOR])
    return national.bearer(national.token_for(username))


def _status(client: httpx.Client, notice_id: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/notices/{notice_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_national_request_goes_through_the_hub_review_and_comes_back_published(
    network: tuple[LiveServer, LiveServer],
) -> None:
    national, hub = network
    _share_notices(hub)
    ncb = _national_ncb(national)
    reviewer = _user(hub, [Role.REVIEWER])

    created = ncb.post("/api/v1/notices", json=red_notice_body())
    assert created.status_code == 201, created.text
    notice = created.json()
    notice_id = notice["id"]
    assert notice["owner"]["country"] == "FRA"
    photo = ncb.post(
        f"/api/v1/notices/{notice_id}/files",
        params={"kind": "photo", "name": "face.jpg"},
        content=b"\xff\xd8\xff\xe0" + b"\x01" * 512,
        headers={"Content-Type": "image/jpeg"},
    )
    assert photo.status_code == 201, photo.text
    updated = ncb.put(f"/api/v1/notices/{notice_id}", json=red_notice_body(attachments=[photo.json()], version=1))
    assert updated.status_code == 200, updated.text
    assert _hub_row(hub, notice_id) is None, "a draft stays on the national node"

    submitted = ncb.post(f"/api/v1/notices/{notice_id}/submit")
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["status"] == "submitted"
    assert submitted.json()["relay"]["action"] == "submit"

    # At the hub: the request, owned by the national agency (same id everywhere), with its photo.
    row = _wait(lambda: (r := _hub_row(hub, notice_id)) and r.status == "submitted" and r, "the request at the hub")
    assert (row.owner_country, row.owner_agency_id, row.source_node) == (
        "FRA",
        notice["owner"]["agency_id"],
        national.node.settings.node_name,
    )
    queue = reviewer.get("/api/v1/notices", params={"scope": "review", "status": "submitted"}).json()["items"]
    assert notice_id in {item["id"] for item in queue}
    at_hub = reviewer.get(f"/api/v1/notices/{notice_id}").json()
    assert at_hub["notice"]["attachments"][0]["id"] == photo.json()["id"]
    image = reviewer.get(f"/api/v1/notices/{notice_id}/files/{photo.json()['id']}")
    assert image.status_code == 200
    assert image.content == b"\xff\xd8\xff\xe0" + b"\x01" * 512
    # The hub's pre-check findings come back to the source.
    _wait(lambda: _status(ncb, notice_id)["relay"]["delivery"][0]["status"] == "delivered", "the delivery receipt")
    _wait(lambda: any(s["details"].get("by") == "source" for s in _status(ncb, notice_id)["history"][3:]), "report")

    returned = reviewer.post(f"/api/v1/notices/{notice_id}/return", json={"reason": "Add the warrant's date"})
    assert returned.status_code == 200, returned.text
    copy = _wait(lambda: (c := _status(ncb, notice_id))["status"] == "returned" and c, "the return at the source")
    assert copy["history"][-1]["reason"] == "Add the warrant's date"
    assert copy["history"][-1]["actor_kind"] == "hub"

    fixed = red_notice_body(attachments=[photo.json()], version=copy["version"])
    fixed["summary"] = {"language": "en", "text": "Wanted for armed robbery in Lyon, warrant of 2024-01-15"}
    assert ncb.put(f"/api/v1/notices/{notice_id}", json=fixed).status_code == 200
    assert ncb.post(f"/api/v1/notices/{notice_id}/submit").status_code == 200
    _wait(lambda: (r := _hub_row(hub, notice_id)) and r.status == "submitted", "the resubmission at the hub")
    assert "Lyon" in reviewer.get(f"/api/v1/notices/{notice_id}").json()["notice"]["summary"]["text"]

    approved = reviewer.post(f"/api/v1/notices/{notice_id}/approve")
    assert approved.status_code == 200, approved.text
    reference = approved.json()["reference"]
    published = _wait(lambda: (c := _status(ncb, notice_id))["status"] == "published" and c, "the publication")
    assert published["reference"] == reference
    assert published["expires_at"] is not None
    replica = national.node.replica
    assert replica is not None
    _wait(lambda: replica.rows([notice_id]), "the notice in the national replica")

    cancelled = ncb.post(f"/api/v1/notices/{notice_id}/cancel", json={"reason": "Arrested in Lyon"})
    assert cancelled.status_code == 200, cancelled.text
    _wait(lambda: (r := _hub_row(hub, notice_id)) and r.status == "cancelled", "the cancellation at the hub")
    _wait(lambda: not replica.rows([notice_id]), "the notice leaving the replica")
    hub_history = reviewer.get(f"/api/v1/notices/{notice_id}").json()["history"]
    assert hub_history[-1]["reason"] == "Arrested in Lyon"
    assert hub_history[-1]["actor_kind"] == "relayed"


def test_the_hub_refuses_relayed_steps_it_must_not_take_and_says_why(network: tuple[LiveServer, LiveServer]) -> None:
    national, hub = network
    ncb = _national_ncb(national)
    notice = ncb.post("/api/v1/notices", json=red_notice_body()).json()
    notice_id = notice["id"]

    # A hub-only step (approving one's own request) sent as if the national node took it.
    step = RelayedStep(
        notice_id=notice_id,
        request=NoticeRequest.model_validate(red_notice_body()),
        restrictions=notice["restrictions"],
        by=RelayedBy(
            user_id="u1",
            user="someone",
            agency_id=notice["owner"]["agency_id"],
            agency_name="NCB Paris",
            agency_kind="ncb",
            country="FRA",
        ),
        action=Action.APPROVE,
        source_version=1,
    )
    post = step_post(national.node.network_view.hub().name, step)
    with national.node.uow() as uow:
        message_id = national.node.notices._network.post(uow.session, post)  # type: ignore[union-attr]
        uow.commit()
    national.node.messages.on_outbox()

    applied = _wait(lambda: _applied_at_hub(hub, message_id), "the hub's decision")
    assert applied.outcome is not None
    assert "approve" in applied.outcome
    assert _hub_row(hub, notice_id) is None, "nothing was written at the hub"
    copy = _wait(
        lambda: (c := _status(ncb, notice_id))["history"][-1]["details"].get("refused") and c, "the refusal report"
    )
    assert copy["status"] == "draft"

    # Another country's data, claimed by this node, is refused the same way.
    forged = step.model_copy(update={"action": Action.SUBMIT, "by": step.by.model_copy(update={"country": "DEU"})})
    with national.node.uow() as uow:
        forged_id = national.node.notices._network.post(  # type: ignore[union-attr]
            uow.session, step_post(hub.node.settings.node_name, forged)
        )
        uow.commit()
    national.node.messages.on_outbox()
    refused = _wait(lambda: _applied_at_hub(hub, forged_id), "the forged step's refusal")
    assert "DEU" in (refused.outcome or "")
    assert _hub_row(hub, notice_id) is None


def test_hub_decisions_on_a_national_request_reach_its_source_in_real_time(
    network: tuple[LiveServer, LiveServer],
) -> None:
    national, hub = network
    ncb = _national_ncb(national)
    reviewer = _user(hub, [Role.REVIEWER])
    notice_id = ncb.post("/api/v1/notices", json=red_notice_body()).json()["id"]
    assert ncb.post(f"/api/v1/notices/{notice_id}/submit").status_code == 200
    _wait(lambda: (r := _hub_row(hub, notice_id)) and r.status == "submitted", "the request at the hub")
    with ncb.stream("GET", "/api/v1/events", timeout=30) as stream:
        lines = stream.iter_lines()
        refused = reviewer.post(f"/api/v1/notices/{notice_id}/refuse", json={"reason": "Article 3: political"})
        assert refused.status_code == 200, refused.text
        # The submission's own report may come first; the refusal follows it (envelopes'
        # delivery is not a user's news: no message.status comes for them).
        events = [
            e["data"]
            for e in read_events(lines, want=2, seconds=20)
            if e.get("event") == "notice.status" and e["data"]["status"] == "refused"
        ]
    assert events, "no notice.status event of the refusal at the source"
    assert (events[0]["id"], events[0]["by"]) == (notice_id, "hub")
    copy = _status(ncb, notice_id)
    assert copy["status"] == "refused"
    assert copy["history"][-1]["reason"] == "Article 3: political"
    # A refused request is over: the source cannot submit it again.
    assert_problem(ncb.post(f"/api/v1/notices/{notice_id}/submit"), 409)
