"""Messages that forward records, over real HTTP: a French officer forwards records held on
the French node (its own agency's, other French agencies', and its replica of the hub's) to
Ukraine's node and the hub. France's policy engine decides, for every recipient country, what
it may have of each record: it travels at that level in the encrypted body, and the
recipient reads it with the level and the rules that decided. A record some recipient may
not see, one the sender may not pass on, or one the recipients would get at different levels
refuses the send (422, naming the record and the rule); one the sender cannot see is
answered as one that does not exist (404)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select

from polex.domain.audit import AuditTag
from polex.domain.base import Restrictions, Tlp, new_id
from polex.domain.person import Person
from polex.domain.policy import AccessLevel, Agreement, AgreementKind, DataCategory, NationalRules, Purpose
from polex.domain.roles import Role
from polex.record.service import NewRecord
from polex.storage.tables import AuditEventRow, MessageRow
from tests.e2e.conftest import LiveServer, assert_problem, error_fields
from tests.e2e.test_messages import wait_for
from tests.e2e.test_replica import admin, file_at_hub
from tests.factories import person_body


@dataclass(frozen=True)
class Held:
    """Records on the French node, by who owns them and how."""

    own: str  # the sender's agency's
    excluded: str  # the sender's agency's, Ukraine excluded
    split: str  # the sender's agency's, the hub a hit only
    closed: str  # another French agency's, not to be passed on
    open: str  # another French agency's, to be passed on
    secret: str  # another French agency's, for that agency alone


def _treaty(node: LiveServer, other: str, *, onward: bool = False) -> None:
    """France and ``other`` share persons in full for investigations (on ``node``'s policy)."""
    treaty = Agreement(
        id=f"fra-{other.lower()}-persons-{new_id()[-6:]}",
        title=f"France and {other}: persons for investigations",
        kind=AgreementKind.BILATERAL_TREATY,
        parties=["FRA", other],
        categories=[DataCategory.PERSONS],
        purposes=[Purpose.CRIMINAL_INVESTIGATION],
        level=AccessLevel.FULL,
        onward_transmission=onward,
        valid_from=dt.date(2020, 1, 1),
        legal_reference=f"FRA-{other} treaty, art. 3",
    )
    read = node.node.policy.propose(treaty, admin("FRA"))
    for country in ("FRA", other):
        node.node.policy.approve(treaty.id, read.version, admin(country))


@pytest.fixture(scope="module")
def held(network: tuple[LiveServer, LiveServer]) -> Held:
    fra, _ = network
    _treaty(fra, "UKR")
    _treaty(fra, "XPO")
    rules = NationalRules(
        country="FRA", never_shared=["person.identifiers"], legal_reference="Demo French rule: identifiers stay home"
    )
    fra.node.policy.set_national_rules(rules, admin("FRA"))
    colleague = fra.make_agency()

    def person(owner: str, restrictions: Restrictions) -> NewRecord:
        content = Person.model_validate(person_body())
        return NewRecord(content, owner, "FRA", restrictions=restrictions, id=new_id())

    green = Tlp.GREEN
    made = Held(
        own=(own := person(fra.own_agency_id, Restrictions(handling=green))).id or "",
        excluded=(excluded := person(fra.own_agency_id, Restrictions(excluded_countries=["UKR"]))).id or "",
        split=(split := person(fra.own_agency_id, Restrictions(hit_only_countries=["XPO"]))).id or "",
        closed=(closed := person(colleague, Restrictions(handling=green))).id or "",
        open=(opened := person(colleague, Restrictions(handling=green, onward_transmission=True))).id or "",
        secret=(secret := person(colleague, Restrictions(allowed_agencies=[colleague]))).id or "",
    )
    fra.node.records["person"].create_many([own, excluded, split, closed, opened, secret])
    return made


def _forward(client: httpx.Client, to: list[str], *records: tuple[str, str], **extra: Any) -> httpx.Response:
    body = {
        "to": to,
        "subject": "Records for your inquiry",
        "body": "See the records attached.",
        "records": [{"kind": kind, "id": record_id} for kind, record_id in records],
        **extra,
    }
    return client.post("/api/v1/messages", json=body)


def _events(node: LiveServer, tag: AuditTag) -> list[dict[str, Any]]:
    with node.node.uow(read_only=True) as uow:
        rows = uow.session.scalars(select(AuditEventRow).where(AuditEventRow.tag == tag.value)).all()
    return [orjson.loads(row.entry) for row in rows]


def _outbox(node: LiveServer) -> int:
    with node.node.uow(read_only=True) as uow:
        return len(uow.session.scalars(select(MessageRow.id).where(MessageRow.box == "outbox")).all())


def _received(client: httpx.Client, message_id: str) -> dict[str, Any] | None:
    response = client.get(f"/api/v1/messages/{message_id}")
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    read: dict[str, Any] = response.json()
    return read


def test_a_forwarded_record_reaches_the_recipient_as_the_policy_decided(
    network: tuple[LiveServer, LiveServer], ukraine: LiveServer, held: Held
) -> None:
    fra, _ = network
    officer = fra.as_roles(Role.INVESTIGATOR)
    sent = _forward(officer, ["UKR"], ("persons", held.own), ("persons", held.open))
    assert sent.status_code == 202, sent.text
    message_id = sent.json()["id"]

    bureau = ukraine.as_roles(Role.NCB_OPERATOR)
    received = wait_for(lambda: _received(bureau, message_id))
    own, passed = received["records"]
    # The sender's agency's record: France's law keeps identifiers at home.
    assert (own["kind"], own["id"], own["owner"]) == (
        "person",
        held.own,
        {"agency_id": fra.own_agency_id, "country": "FRA"},
    )
    assert own["access"]["outcome"] == "redacted"
    assert own["access"]["removed_fields"] == ["identifiers"]
    assert own["access"]["purpose"] == "criminal_investigation"
    assert {rule["code"] for rule in own["access"]["rules"]} == {"agreement.full", "national.never_shared"}
    assert "identifiers" not in own["record"]
    assert own["record"]["names"][0]["full"] == "Олександр Шевченко"
    # Another French agency's record, which its owner lets recipients pass on.
    assert passed["access"]["outcome"] == "redacted"
    assert "forward.onward_transmission" in {rule["code"] for rule in passed["access"]["rules"]}
    assert "identifiers" not in passed["record"]

    # The sender's outbox keeps what left; its trail names the records and the decisions.
    mine = officer.get(f"/api/v1/messages/{message_id}").json()
    assert [item["id"] for item in mine["records"]] == [held.own, held.open]
    [event] = [e for e in _events(fra, AuditTag.MESSAGE_SENT) if e["details"]["message"] == message_id]
    assert event["record_ids"] == [held.own, held.open]
    assert event["record_kind"] == "person"
    assert event["purpose"] == "criminal_investigation"
    first = event["details"]["records"][0]
    assert (first["id"], first["outcome"], first["removed_fields"], first["held_as"]) == (
        held.own,
        "redacted",
        ["identifiers"],
        "record",
    )
    assert first["rules"]["UKR"] == ["agreement.full", "national.never_shared"]


def test_the_policy_refuses_what_a_recipient_may_not_have(
    network: tuple[LiveServer, LiveServer], ukraine: LiveServer, held: Held
) -> None:
    fra, _ = network
    officer = fra.as_roles(Role.INVESTIGATOR)
    before = _outbox(fra)

    # The owner excluded Ukraine: nothing of it may go there.
    refused = assert_problem(_forward(officer, ["UKR"], ("persons", held.own), ("persons", held.excluded)), 422)
    assert error_fields(refused) == {"records[1]"}
    assert "restriction.excluded_countries" in refused["errors"][0]["reason"]
    [item] = refused["forwarding"]
    assert (item["id"], item["refusal"]) == (held.excluded, "not_visible")
    assert item["recipients"]["UKR"]["level"] == "none"

    # Ukraine would get it redacted, the hub only as a hit: one envelope cannot carry both.
    refused = assert_problem(_forward(officer, ["UKR", "XPO"], ("persons", held.split)), 422)
    [item] = refused["forwarding"]
    assert item["refusal"] == "different_levels"
    assert item["recipients"] == {"UKR": {"level": "redacted (identifiers)"}, "XPO": {"level": "hit_only"}}
    assert "UKR redacted (identifiers), XPO hit_only" in refused["detail"]
    # Each on its own is fine.
    assert _forward(officer, ["XPO"], ("persons", held.split)).status_code == 202
    before += 1

    # Another French agency's record that its owner does not let others pass on.
    refused = assert_problem(_forward(officer, ["UKR"], ("persons", held.closed)), 422)
    [item] = refused["forwarding"]
    assert item["refusal"] == "onward_transmission"
    assert item["recipients"]["UKR"]["rules"][0]["code"] == "forward.onward_transmission"
    assert "may not pass this record on" in refused["detail"]

    # A record the sender may not see is the same 404 as one that does not exist.
    hidden = assert_problem(_forward(officer, ["UKR"], ("persons", held.secret)), 404)
    missing_id = new_id()
    missing = assert_problem(_forward(officer, ["UKR"], ("persons", missing_id)), 404)
    assert hidden["detail"] == f"no person '{held.secret}'"
    assert missing["detail"] == f"no person '{missing_id}'"
    assert hidden["errors"] == [{"field": "records[0]", "reason": f"no person '{held.secret}'"}]
    assert "forwarding" not in hidden

    # Nothing left, and every refusal is in the trail.
    assert _outbox(fra) == before
    refusals = _events(fra, AuditTag.MESSAGE_FORWARD_REFUSED)
    refused_ids = {record_id for event in refusals for record_id in event["record_ids"]}
    assert {held.excluded, held.split, held.closed, held.secret, missing_id} <= refused_ids
    assert all(event["decision"] == "denied" for event in refusals)


def test_forwarding_needs_a_purpose_and_well_formed_references(
    network: tuple[LiveServer, LiveServer], ukraine: LiveServer, held: Held
) -> None:
    fra, _ = network
    username, _ = fra.make_user([Role.INVESTIGATOR])
    undeclared = fra.bearer(fra.token_for(username), purpose=None)
    refused = assert_problem(_forward(undeclared, ["UKR"], ("persons", held.own)), 400)
    assert error_fields(refused) == {"X-Polex-Purpose"}
    # A message without records needs no purpose.
    assert undeclared.post("/api/v1/messages", json={"to": ["UKR"], "subject": "s", "body": "b"}).status_code == 202

    officer = fra.as_roles(Role.INVESTIGATOR)
    assert assert_problem(_forward(officer, ["UKR"], ("people", held.own)), 422)["errors"]
    assert assert_problem(_forward(officer, ["UKR"], ("persons", "not-an-id")), 422)["errors"]
    twice = assert_problem(_forward(officer, ["UKR"], ("persons", held.own), ("persons", held.own)), 422)
    assert "twice" in str(twice["errors"])
    many = [("persons", new_id()) for _ in range(21)]
    assert assert_problem(_forward(officer, ["UKR"], *many), 422)["errors"]


def test_a_replica_record_goes_back_to_its_owner_country_no_more_than_france_holds(
    network: tuple[LiveServer, LiveServer], ukraine: LiveServer, held: Held, settled: None
) -> None:
    fra, hub = network
    treaty = Agreement(
        id=f"fra-ukr-documents-{new_id()[-6:]}",
        title="Border documents",
        kind=AgreementKind.BILATERAL_TREATY,
        parties=["FRA", "UKR"],
        categories=[DataCategory.TRAVEL_DOCUMENTS],
        purposes=[Purpose.BORDER_CONTROL],
        level=AccessLevel.FULL,
        valid_from=dt.date(2020, 1, 1),
        legal_reference="FRA-UKR border treaty, art. 4",
    )
    read = hub.node.policy.propose(treaty, admin("UKR"))
    for country in ("FRA", "UKR"):
        hub.node.policy.approve(treaty.id, read.version, admin(country))
    owner = hub.make_agency(country="UKR")
    number = f"UF{new_id()[-7:].upper()}"
    record_id = file_at_hub(hub, owner, number, Restrictions(handling=Tlp.GREEN, hit_only_countries=["FRA"]))
    replica = fra.node.replica
    assert replica is not None
    wait_for(lambda: replica.sync_once() >= 0 and record_id in replica.rows([record_id]))

    officer = fra.as_roles(Role.INVESTIGATOR)
    sent = _forward(officer, ["UKR"], ("travel-documents", record_id))
    assert sent.status_code == 202, sent.text
    received = wait_for(lambda: _received(ukraine.as_roles(Role.NCB_OPERATOR), sent.json()["id"]))
    [item] = received["records"]
    # France holds it as a hit only: Ukraine, its owner's country, gets no more.
    assert item["access"]["outcome"] == "hit_only"
    assert item["record"] == {
        "id": record_id,
        "kind": "travel_document",
        "owner": {"agency_id": owner, "country": "UKR"},
    }
    codes = {rule["code"] for rule in item["access"]["rules"]}
    assert {"forward.owner_country", "forward.held_as"} <= codes
    [event] = [e for e in _events(fra, AuditTag.MESSAGE_SENT) if e["details"]["message"] == sent.json()["id"]]
    assert event["details"]["records"][0]["held_as"] == "replica"

    # To anyone else it would be passed on, which the hub's decision for France does not allow.
    refused = assert_problem(_forward(officer, ["XPO"], ("travel-documents", record_id)), 422)
    [item] = refused["forwarding"]
    assert (item["id"], item["refusal"]) == (record_id, "onward_transmission")
