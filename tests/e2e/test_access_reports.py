"""The owner's view of accesses across the network, over real HTTP: a hub, France, Germany
(and, for the restart, Belgium).

Germany's bureau files a stolen passport on its node and at the hub (under the same id and
owner). A French officer checks it on France's replica (MIND) and online at the hub (FIND):
France reports its replica's access, the hub its own, each as a signed envelope through the
hub; Germany's owner agency sees both beside its own entries, with the node, the entry in
that node's log and the signed checkpoint it can be proven in. Nobody else sees them.
A reporting node that stops with reports queued and entries unread sends each once when it
is back. Reports that do not come through the hub, are not signed by their sender, or speak
of records the sender could not have held are refused with the reason, and audited.
"""

from __future__ import annotations

import base64
import datetime as dt
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from polex.audit import merkle
from polex.audit.access_reports import ACCESS_REPORT_TYPE
from polex.audit.checkpoint import Checkpoint, CheckpointSigner
from polex.crypto.envelope import new_node_keys, seal
from polex.domain.agency import AgencyKind
from polex.domain.audit import AuditTag
from polex.domain.base import Restrictions, Tlp, new_id
from polex.domain.document import TravelDocument
from polex.domain.message import RoutingHeader
from polex.domain.policy import AccessLevel, Agreement, AgreementKind, DataCategory, Purpose
from polex.domain.roles import Role
from polex.message import service as message_service
from polex.record.service import NewRecord
from polex.storage.tables import AccessReportRow, AgencyRow, AuditEventRow, HubEnvelopeRow
from tests.conftest import database_url_for
from tests.e2e.conftest import LiveServer, _start_node, assert_problem, enrol
from tests.e2e.test_replica import admin
from tests.e2e.writing import WorkWhileWriting
from tests.factories import document_body

T = TypeVar("T")
DOCUMENTS = "/api/v1/travel-documents"


def _wait(check: Callable[[], T | None], what: str, seconds: float = 60) -> T:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def germany(
    network: tuple[LiveServer, LiveServer], live_backend: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A German national node in the network: the owner country of the records checked."""
    fra, hub = network
    directory = tmp_path_factory.mktemp(f"deu-{live_backend}")
    url, schema = database_url_for(live_backend, directory)
    started = _start_node(directory / "deu", url, name="deu", country="DEU")
    try:
        deu = next(started)
        enrol(hub, deu.node, deu.base_url)
        deu.node.network_view.hub_url = hub.base_url
        for node in (hub, fra, deu):
            node.node.network_view.refresh()
        for country in ("FRA", "BEL"):
            _treaty(hub, country)
        yield deu
    finally:
        next(started, None)
        if schema is not None:
            schema.drop()


def _treaty(hub: LiveServer, country: str) -> None:
    treaty = Agreement(
        id=f"{country.lower()}-deu-reports-{new_id()[-6:]}",
        title="Travel documents",
        kind=AgreementKind.BILATERAL_TREATY,
        parties=[country, "DEU"],
        categories=[DataCategory.TRAVEL_DOCUMENTS],
        purposes=[Purpose.BORDER_CONTROL, Purpose.CRIMINAL_INVESTIGATION],
        level=AccessLevel.FULL,
        valid_from=dt.date(2020, 1, 1),
        legal_reference=f"{country}-DEU treaty, art. 5",
    )
    read = hub.node.policy.propose(treaty, admin("DEU"))
    for party in (country, "DEU"):
        hub.node.policy.approve(treaty.id, read.version, admin(party))


def _file_for_germany(deu: LiveServer, hub: LiveServer) -> tuple[str, str]:
    """A stolen German passport, on Germany's node and at the hub under the same id and owner
    (the agency registered at the hub under its national id); its id and number."""
    number = f"C{new_id()[-8:].upper()}"
    record = NewRecord(
        content=TravelDocument.model_validate(document_body(number=number, issuing_country="DEU")),
        owner_agency_id=deu.own_agency_id,
        owner_country="DEU",
        restrictions=Restrictions(handling=Tlp.GREEN),
        id=new_id(),
    )
    with hub.node.uow() as uow:
        if uow.session.get(AgencyRow, deu.own_agency_id) is None:
            uow.session.add(
                AgencyRow(
                    id=deu.own_agency_id,
                    name="NCB Germany",
                    country="DEU",
                    kind=AgencyKind.NCB.value,
                    created_at=dt.datetime.now(dt.UTC),
                )
            )
            uow.commit()
    for node in (deu, hub):
        node.node.records["travel_document"].create_many([record])
    assert record.id is not None
    return record.id, number


def _check(client: httpx.Client, purpose: str, number: str, case: str | None = None) -> dict[str, Any]:
    body = {"purpose": purpose, "case_reference": case, "documents": [{"number": number, "country": "DEU"}]}
    response = client.post("/api/v1/documents/check", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def _officer(node: LiveServer, role: Role = Role.BORDER_OFFICER) -> httpx.Client:
    username, _ = node.make_user([role])
    return node.bearer(node.token_for(username), purpose=None)


def _report(*servers: LiveServer) -> None:
    """What the background rounds do, now: sign the log, report what it holds."""
    for server in servers:
        _sign(server)
        reports = server.node.access_reports
        assert reports is not None
        reports.run_once()


def _sign(server: LiveServer) -> None:
    """Sign a checkpoint of the log now. The node's own checkpointer may sign the same size
    at the same moment (on PostgreSQL one of the two inserts then fails): the log is signed
    either way."""
    for _ in range(3):
        try:
            server.node.audit.checkpoint(force=True)
            return
        except IntegrityError:
            time.sleep(0.1)
    raise AssertionError("the log could not be signed")


def _accesses(client: httpx.Client, record_id: str) -> list[dict[str, Any]]:
    response = client.get(f"{DOCUMENTS}/{record_id}/accesses")
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def _reported_by(client: httpx.Client, record_id: str, node: str, count: int) -> list[dict[str, Any]] | None:
    items = [item for item in _accesses(client, record_id) if item["node"] == node and item["reported"]]
    return items if len(items) >= count else None


def _entries(server: LiveServer, tag: AuditTag, record_id: str) -> list[dict[str, Any]]:
    with server.node.uow(read_only=True) as uow:
        rows = uow.session.scalars(select(AuditEventRow.entry).where(AuditEventRow.tag == tag.value)).all()
    return [entry for entry in map(orjson.loads, rows) if record_id in entry["record_ids"]]


def _stored(server: LiveServer, record_id: str, node: str) -> list[tuple[int, str]]:
    with server.node.uow(read_only=True) as uow:
        rows = uow.session.execute(
            select(AccessReportRow.seq, AccessReportRow.message_id).where(
                AccessReportRow.record_id == record_id, AccessReportRow.node == node
            )
        ).all()
    return [(int(seq), str(message)) for seq, message in rows]


def test_the_owner_sees_accesses_on_a_replica_and_at_the_hub(
    network: tuple[LiveServer, LiveServer], germany: LiveServer, settled: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    fra, hub = network
    deu = germany
    record_id, number = _file_for_germany(deu, hub)
    replica = fra.node.replica
    assert replica is not None
    replica.sync_once()
    assert replica.rows([record_id])
    # Germany's own replica takes the hub's copy too, and says so in Germany's log. Its
    # background round would do it at a moment of its own; it is done here so that the
    # owner's view below is the same on every run.
    own_replica = deu.node.replica
    assert own_replica is not None
    own_replica.sync_once()
    assert own_replica.rows([record_id])

    # On France's replica: the hub is not asked (a node that answers from its copy).
    officer = _officer(fra)
    with monkeypatch.context() as offline:
        offline.setattr(fra.node.screening, "online", None)
        answer = _check(officer, "border_control", number)
    assert (answer["results"][0]["source"], answer["results"][0]["reference"]) == ("replica", record_id)
    # Online at the hub (FIND), for an investigation with a case.
    investigator = _officer(fra, Role.INVESTIGATOR)
    answer = _check(investigator, "criminal_investigation", number, case="FR-2026-117")
    assert answer["hub"]["checked"] == "online"
    assert (answer["results"][0]["source"], answer["results"][0]["reference"]) == ("hub", record_id)
    _report(fra, hub)

    owner = deu.as_roles(Role.NCB_OPERATOR)
    _wait(partial(_reported_by, owner, record_id, "fra", 1), "France's report in Germany")
    _wait(partial(_reported_by, owner, record_id, "hub", 1), "the hub's report in Germany")
    items = _accesses(owner, record_id)
    local = [item for item in items if not item["reported"] and not item["tag"].endswith(":accesses_viewed")]
    assert [item["tag"] for item in local] == ["record:travel_document:imported", "network:replica:applied"]
    assert {item["node"] for item in local} == {"deu"}
    [from_replica] = [item for item in items if item["node"] == "fra"]
    [from_hub] = [item for item in items if item["node"] == "hub"]
    assert (from_replica["tag"], from_replica["purpose"], from_replica["decision"]) == (
        "screening:document:checked",
        "border_control",
        "allowed",
    )
    assert (from_replica["agency_id"], from_replica["country"]) == (fra.own_agency_id, "FRA")
    assert (from_replica["case_declared"], from_replica["case_reference"]) == (False, None)
    assert (from_hub["tag"], from_hub["purpose"], from_hub["decision"]) == (
        "screening:document:checked",
        "criminal_investigation",
        "allowed",
    )
    assert (from_hub["agency_id"], from_hub["country"]) == (fra.own_agency_id, "FRA")
    # The owner learns that a case was declared, never which, nor who the officer is.
    assert (from_hub["case_declared"], from_hub["case_reference"]) == (True, None)
    assert "name" not in from_hub
    assert "FR-2026-117" not in orjson.dumps(items).decode()

    # Each is the reporter's own entry: its log names the record at that sequence number, and
    # an inclusion proof from the reporter checks against the root the report came with.
    [checked_in_france] = [
        entry
        for entry in _entries(fra, AuditTag.DOCUMENTS_CHECKED, record_id)
        if entry["details"].get("hub") == "replica"
    ]
    assert from_replica["entry"] == checked_in_france["seq"]
    [checked_at_hub] = _entries(hub, AuditTag.DOCUMENTS_CHECKED, record_id)
    assert from_hub["entry"] == checked_at_hub["seq"]
    assert checked_at_hub["actor"]["kind"] == "relayed"
    checkpoint = from_replica["checkpoint"]
    assert checkpoint["log"] == "polex/fra/audit"
    proof = fra.as_roles(Role.AUDITOR).get(
        "/api/v1/audit/proofs/inclusion", params={"index": from_replica["entry"], "size": checkpoint["size"]}
    )
    assert proof.status_code == 200, proof.text
    merkle.verify_inclusion(
        merkle.leaf_hash(orjson.dumps(checked_in_france, option=orjson.OPT_SORT_KEYS)),
        from_replica["entry"],
        checkpoint["size"],
        [base64.b64decode(item) for item in proof.json()["proof"]],
        base64.b64decode(checkpoint["root"]),
    )
    # France does not report the online check it logged too: the hub reported its own entry.
    [online_in_france] = [
        entry
        for entry in _entries(fra, AuditTag.DOCUMENTS_CHECKED, record_id)
        if entry["details"].get("hub") == "online"
    ]
    assert online_in_france["seq"] not in {seq for seq, _ in _stored(deu, record_id, "fra")}

    # Receiving was audited in Germany; viewing too.
    received = _entries(deu, AuditTag.ACCESS_REPORTS_RECEIVED, record_id)
    assert {entry["actor"]["name"] for entry in received} == {"fra", "hub"}
    assert _entries(deu, AuditTag.TRAVEL_DOCUMENT_ACCESSES_VIEWED, record_id)

    # Only the owner agency and Germany's auditors see it; anyone else learns nothing.
    reported = [item for item in items if item["reported"]]
    assert [item for item in _accesses(deu.as_roles(Role.AUDITOR), record_id) if item["reported"]] == reported
    other_agency = deu.new_client([Role.NCB_OPERATOR], agency_id=deu.make_agency())
    assert_problem(other_agency.get(f"{DOCUMENTS}/{record_id}/accesses"), 404)
    assert_problem(fra.as_roles(Role.NCB_OPERATOR).get(f"{DOCUMENTS}/{record_id}/accesses"), 404)
    assert_problem(deu.as_roles(Role.BORDER_OFFICER).get(f"{DOCUMENTS}/{record_id}/accesses"), 403)

    # Nothing is reported twice: more rounds send nothing new.
    _report(fra, hub)
    time.sleep(1)
    assert [item for item in _accesses(owner, record_id) if item["reported"]] == reported


def test_a_reporting_node_that_stops_sends_every_report_once_when_it_is_back(
    network: tuple[LiveServer, LiveServer],
    germany: LiveServer,
    settled: None,
    live_backend: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    _, hub = network
    deu = germany
    record_id, number = _file_for_germany(deu, hub)
    directory = tmp_path_factory.mktemp(f"bel-{live_backend}")
    url, schema = database_url_for(live_backend, directory)
    try:
        checked = _stop_with_reports_pending(hub, deu, directory / "bel", url, number, record_id)
        # Belgium is back, on the same data: what was queued and what was not read yet leave.
        started = _start_node(directory / "bel", url, name="bel", country="BEL")
        try:
            bel = next(started)
            bel.node.network_view.hub_url = hub.base_url
            _report(bel)
            owner = deu.as_roles(Role.NCB_OPERATOR)
            reported = _wait(partial(_reported_by, owner, record_id, "bel", len(checked)), "Belgium's reports")
            assert sorted(item["entry"] for item in reported) == checked
            assert {item["purpose"] for item in reported} == {"border_control"}
            # Once each: further rounds, and the hub pushing an envelope again, add nothing.
            _report(bel)
            assert bel.node.access_reports is not None
            assert bel.node.access_reports.queued() == 0
            sent = _entries(bel, AuditTag.ACCESS_REPORTS_SENT, record_id)
            assert sum(entry["result_count"] for entry in sent) == len(checked)
            stored = _stored(deu, record_id, "bel")
            with hub.node.uow(read_only=True) as uow:
                envelopes = [
                    orjson.loads(row.envelope)
                    for row in uow.session.scalars(
                        select(HubEnvelopeRow).where(HubEnvelopeRow.message_id.in_({m for _, m in stored}))
                    )
                ]
            assert envelopes
            results = deu.node.messages.receive_batch(envelopes, caller=hub.node.settings.node_name)
            assert all("receipt" in result for result in results), results
            # The same reports in another envelope (a reporter that sent them twice) are kept once.
            latest = bel.node.audit.latest_checkpoint()
            assert latest is not None
            again = {
                "owner_country": "DEU",
                "checkpoint": latest.note,
                "verifier_key": bel.node.audit.verifier_key(),
                "reports": [
                    {
                        "seq": item["entry"],
                        "at": item["at"],
                        "tag": item["tag"],
                        "agency_id": item["agency_id"],
                        "country": item["country"],
                        "purpose": item["purpose"],
                        "case_declared": item["case_declared"],
                        "decision": item["decision"],
                        "records": [{"id": record_id, "kind": "travel_document", "owner_agency_id": deu.own_agency_id}],
                    }
                    for item in reported
                ],
            }
            now = dt.datetime.now(dt.UTC)
            header = RoutingHeader(
                sender="bel",
                recipients=["deu"],
                created=now,
                expires=now + dt.timedelta(hours=1),
                conversation_id=new_id(),
                content_type=ACCESS_REPORT_TYPE,
                size=0,
            )
            assert deu.node.access_reports is not None
            deu.node.access_reports.apply(header, orjson.dumps(again))
            assert sorted(_stored(deu, record_id, "bel")) == sorted(stored)
            assert len({seq for seq, _ in stored}) == len(stored) == len(checked)
        finally:
            next(started, None)
    finally:
        if schema is not None:
            schema.drop()


def _stop_with_reports_pending(
    hub: LiveServer, deu: LiveServer, directory: Path, url: str, number: str, record_id: str
) -> list[int]:
    """Belgium checks the German passport three times on its replica and stops as a crash
    would leave it: two checks queued as reports, not sent; the third logged, not yet read.
    Returns the sequence numbers of the three checks in Belgium's log."""
    started = _start_node(directory, url, name="bel", country="BEL")
    try:
        bel = next(started)
        enrol(hub, bel.node, bel.base_url)
        bel.node.network_view.hub_url = hub.base_url
        for node in (hub, deu, bel):
            node.node.network_view.refresh()
        reports = bel.node.access_reports
        assert reports is not None
        reports.send_once = lambda: 0  # type: ignore[method-assign]  # it stops before it can send
        assert bel.node.replica is not None
        bel.node.replica.sync_once()
        bel.node.screening.online = None
        officer = _officer(bel)
        for _ in range(2):
            assert _check(officer, "border_control", number)["results"][0]["hit"] is True
        _sign(bel)
        reports.scan_once()
        assert reports.queued() == 2
        assert _check(officer, "border_control", number)["results"][0]["hit"] is True
        checked = sorted(entry["seq"] for entry in _entries(bel, AuditTag.DOCUMENTS_CHECKED, record_id))
        assert len(checked) == 3
    finally:
        next(started, None)
    assert not _stored(deu, record_id, "bel")
    return checked


def _forged_batch(fra: LiveServer, **changes: Any) -> dict[str, Any]:
    """A batch of one report France could send, with ``changes`` to its parts."""
    latest = fra.node.audit.latest_checkpoint()
    assert latest is not None
    record = {"id": new_id(), "kind": "travel_document", "owner_agency_id": new_id()} | changes.pop("record", {})
    report = {
        "seq": 0,
        "at": dt.datetime.now(dt.UTC).isoformat(),
        "tag": "screening:document:checked",
        "agency_id": fra.own_agency_id,
        "country": "FRA",
        "purpose": "border_control",
        "case_declared": False,
        "decision": "allowed",
        "records": [record],
    } | changes.pop("report", {})
    return {
        "owner_country": "DEU",
        "checkpoint": latest.note,
        "verifier_key": fra.node.audit.verifier_key(),
        "reports": [report],
    } | changes


def test_reports_not_through_the_hub_not_signed_by_their_sender_or_impossible_are_refused(
    network: tuple[LiveServer, LiveServer], germany: LiveServer, settled: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    fra, hub = network
    deu = germany
    record_id, number = _file_for_germany(deu, hub)
    # One real report first: Germany then holds a checkpoint of France's log it was signed in.
    assert fra.node.replica is not None
    fra.node.replica.sync_once()
    with monkeypatch.context() as offline:
        offline.setattr(fra.node.screening, "online", None)
        _check(_officer(fra), "border_control", number)
    _report(fra)
    owner = deu.as_roles(Role.NCB_OPERATOR)
    [genuine] = _wait(partial(_reported_by, owner, record_id, "fra", 1), "France's genuine report")
    signer = CheckpointSigner.load_or_create("polex/fra", fra.node.settings.keys_dir)
    other_view = signer.sign(
        Checkpoint(origin="polex/fra/audit", size=genuine["checkpoint"]["size"], root=bytes(range(32)))
    )
    valid = orjson.dumps(_forged_batch(fra, record={"id": record_id, "owner_agency_id": deu.own_agency_id}))

    # Straight to Germany's inbox, not through the hub: refused whoever signed it.
    now = dt.datetime.now(dt.UTC)
    header = RoutingHeader(
        sender="fra",
        recipients=["deu"],
        created=now,
        expires=now + dt.timedelta(hours=1),
        conversation_id=new_id(),
        content_type=ACCESS_REPORT_TYPE,
        size=len(valid),
    )
    envelope = seal(header, valid, fra.node.network_view.node_keys(), fra.node.network_view.directory())
    token = fra.node.network_view.token_for("deu")
    direct = httpx.post(
        f"{deu.base_url}/api/v1/network/inbox",
        content=orjson.dumps({"envelopes": [envelope]}),
        headers={"Authorization": f"PolexNode {token}", "Content-Type": "application/json"},
    )
    assert_problem(direct, 403)
    # Signed by a key that is not France's: the hub refuses to carry it.
    stranger = seal(header, valid, new_node_keys("fra"), fra.node.network_view.directory())
    to_hub = httpx.post(
        f"{hub.base_url}/api/v1/network/envelopes",
        content=orjson.dumps(stranger),
        headers={
            "Authorization": f"PolexNode {fra.node.network_view.token_for(hub.node.settings.node_name)}",
            "Content-Type": "application/json",
        },
    )
    assert_problem(to_hub, 400)

    # Through the hub, signed by France, but about what France could not have held or said.
    other_agency = deu.make_agency()
    cases = {
        "a case file": (_forged_batch(fra, record={"kind": "case"}), "holds no copies of case records"),
        "Germany's own user": (_forged_batch(fra, report={"country": "DEU"}), "reports its own users' accesses"),
        "another owner": (
            _forged_batch(fra, record={"id": record_id, "owner_agency_id": other_agency}),
            "is not a travel document of agency",
        ),
        "another country's": (_forged_batch(fra, owner_country="ITA"), "this node serves DEU, not ITA"),
        "the hub's key": (
            _forged_batch(fra, verifier_key=hub.node.audit.verifier_key()),
            "does not verify with the key given",
        ),
        "beyond the checkpoint": (_forged_batch(fra, report={"seq": 2**40}), "is not in the checkpoint"),
        "a change": (_forged_batch(fra, report={"tag": "record:travel_document:updated"}), "is not an access"),
        "another view of the log": (
            _forged_batch(fra, checkpoint=other_view, report={"seq": genuine["entry"]}),
            "differs from the one sent before",
        ),
        "garbage": ({"hello": "world"}, "not an access report"),
    }
    sent: dict[str, str] = {}
    for case, (body, _) in cases.items():
        with fra.node.uow() as uow:
            sent[case] = fra.node.messages.enqueue(
                uow.session,
                to=["deu"],
                content_type=ACCESS_REPORT_TYPE,
                body=orjson.dumps(body),
                conversation_id=new_id(),
                subject=f"forged: {case}",
            )
            uow.commit()
    fra.node.messages.on_outbox()

    def outcome(message_id: str) -> tuple[str, str | None] | None:
        (status,) = fra.node.messages.delivery(message_id)
        return (status.status, status.reason) if status.status in ("refused", "delivered") else None

    for case, message_id in sent.items():
        status, reason = _wait(partial(outcome, message_id), f"the outcome of {case}")
        assert status == "refused", case
        assert reason is not None
        assert cases[case][1] in reason, (case, reason)
    # Nothing of them is kept, each refusal is audited in Germany with its reason.
    assert _stored(deu, record_id, "fra") == [(genuine["entry"], _stored(deu, record_id, "fra")[0][1])]
    assert [item for item in _accesses(owner, record_id) if item["reported"]] == [genuine]
    assert_problem(
        deu.new_client([Role.NCB_OPERATOR], agency_id=other_agency).get(f"{DOCUMENTS}/{record_id}/accesses"), 404
    )
    with deu.node.uow(read_only=True) as uow:
        rows = uow.session.scalars(
            select(AuditEventRow.entry).where(AuditEventRow.tag == AuditTag.ACCESS_REPORTS_REFUSED.value)
        ).all()
    refusals = {entry["details"]["envelope"]: entry for entry in map(orjson.loads, rows)}
    for case, message_id in sent.items():
        assert message_id in refusals, case
        assert refusals[message_id]["decision"] == "denied"
        assert cases[case][1] in orjson.dumps(refusals[message_id]["details"]).decode(), case


def test_the_hub_seals_its_reports_and_signs_its_checkpoints_before_it_starts_writing(
    network: tuple[LiveServer, LiveServer], germany: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An access-report batch's envelope is signed and encrypted, and a checkpoint's root
    computed and signed, before the transaction that records them issues its first
    statement: on SQLite that statement takes the store's writer's turn, which every border
    check's audit commit waits for."""
    fra, hub = network
    _, number = _file_for_germany(germany, hub)
    investigator = _officer(fra, Role.INVESTIGATOR)
    watch = WorkWhileWriting(hub.node.engine, ["_send_batch", "checkpoint"])
    with watch:
        monkeypatch.setattr(message_service, "seal", watch.wrap(seal))
        monkeypatch.setattr(CheckpointSigner, "sign", watch.wrap(CheckpointSigner.sign))
        try:  # watched from the check on: the hub's own rounds may report it first
            answer = _check(investigator, "criminal_investigation", number)
            assert answer["results"][0]["hit"] is True
            _report(hub)
        finally:
            monkeypatch.undo()
    done = watch.calls
    assert done["checkpoint"], "the hub signed no checkpoint"
    assert done["_send_batch"], "the hub sealed no access report"
    assert not any(done["checkpoint"]), "a checkpoint was signed inside a writing transaction"
    assert not any(done["_send_batch"]), "access reports were sealed inside a writing transaction"
