"""Correlations at the hub, on SQLite and PostgreSQL: persons of different countries that the
matcher finds alike become one correlation per pair, found by the worker after the commit,
refreshed, reopened and closed as the records change, withdrawn and purged; audited; and
changes left queued when a node stops are correlated when it next serves."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

import orjson
from sqlalchemy import select, update

from polex.auth.principal import Principal, PrincipalKind
from polex.bootstrap import Node
from polex.correlation.service import CorrelationService
from polex.domain.audit import AuditTag
from polex.domain.base import new_id
from polex.domain.notice import Action, NoticeRequest
from polex.domain.roles import Role
from polex.person.feature import PERSON_FEATURE
from polex.record.schemas import create_model_for, update_model_for
from polex.storage.tables import AuditEventRow, CorrelationRow, RecordRow
from tests.factories import red_notice_body
from tests.integration.test_notices import reviewer
from tests.integration.test_screening import agency

CREATE = create_model_for(PERSON_FEATURE.record_type)
UPDATE = update_model_for(PERSON_FEATURE.record_type)
# Letters Ukrainian writes one way in Latin, so that a made-up name and its transliteration match.
SYLLABLES = [("ко", "ko"), ("ва", "va"), ("ле", "le"), ("ми", "my"), ("ра", "ra"), ("до", "do"), ("ту", "tu")]
SYLLABLES += [("бо", "bo"), ("не", "ne"), ("са", "sa"), ("пу", "pu"), ("ло", "lo"), ("ре", "re"), ("да", "da")]


def made_up_name() -> tuple[str, str]:
    """A family name no other test uses, in Cyrillic and in its Latin transliteration."""
    parts = [secrets.choice(SYLLABLES) for _ in range(5)]
    cyrillic, latin = "".join(c for c, _ in parts), "".join(lt for _, lt in parts)
    return f"Олег {cyrillic.capitalize()}", f"Oleh {latin.capitalize()}"


def owner(node: Node, country: str, name: str = "Police") -> Principal:
    return Principal(
        PrincipalKind.USER,
        new_id(),
        f"officer-{country}",
        agency(node, country, f"{name} {secrets.token_hex(3)}"),
        country,
        frozenset({Role.NCB_OPERATOR}),
    )


def person(name: str, birth_date: str = "1983-02-17", **fields: Any) -> dict[str, Any]:
    return {"names": [{"full": name}], "birth_dates": [birth_date], "sex": "male", **fields}


def file(node: Node, principal: Principal, body: dict[str, Any]) -> str:
    return node.records["person"].create(CREATE.model_validate(body), principal).id


def change(node: Node, principal: Principal, record_id: str, body: dict[str, Any]) -> None:
    current = node.records["person"].to_record(_row(node, record_id))
    node.records["person"].update(record_id, UPDATE.model_validate({**body, "version": current.version}), principal)


def _row(node: Node, record_id: str) -> RecordRow:
    with node.uow(read_only=True) as uow:
        row = uow.session.get(RecordRow, record_id)
    assert row is not None
    return row


def correlations(node: Node, *record_ids: str) -> list[CorrelationRow]:
    assert node.correlations.drain(120)
    with node.uow(read_only=True) as uow:
        rows = list(uow.session.scalars(select(CorrelationRow).order_by(CorrelationRow.id)))
    return [row for row in rows if {row.record_a_id, row.record_b_id} & set(record_ids)]


def audit_events(node: Node, tag: AuditTag, correlation_id: str) -> list[dict[str, Any]]:
    with node.uow(read_only=True) as uow:
        rows = uow.session.scalars(select(AuditEventRow).where(AuditEventRow.tag == tag.value)).all()
    entries = [orjson.loads(row.entry) for row in rows]
    return [entry for entry in entries if entry["details"].get("correlation") == correlation_id]


def test_one_correlation_per_pair_refreshed_reopened_and_closed_as_the_records_change(hub_node: Node) -> None:
    node = hub_node
    ukr, fra, fra_customs = owner(node, "UKR"), owner(node, "FRA"), owner(node, "FRA", "Customs")
    cyrillic, latin = made_up_name()
    ukrainian = file(node, ukr, person(cyrillic, nationalities=["UKR"]))
    french = file(node, fra, person(latin, nationalities=["UKR"]))
    # A second French record of the same person pairs with the Ukrainian one, not with the first.
    customs = file(node, fra_customs, person(latin))

    rows = correlations(node, ukrainian, french, customs)
    assert sorted((row.record_a_id, row.record_b_id) for row in rows) == sorted(
        [tuple(sorted((ukrainian, french))), tuple(sorted((ukrainian, customs)))]
    )
    [pair] = [row for row in rows if french in (row.record_a_id, row.record_b_id)]
    assert {pair.country_a, pair.country_b} == {"UKR", "FRA"}
    assert {pair.agency_a_id, pair.agency_b_id} == {ukr.agency_id, fra.agency_id}
    assert pair.record_a_id < pair.record_b_id
    assert (pair.status_a, pair.status_b, pair.closed_at) == ("open", "open", None)
    assert pair.score >= 0.8
    assert [feature["feature"] for feature in pair.explanation] == [
        "name",
        "birth_date",
        "nationality",
        "sex",
        "identifiers",
    ]
    [raised] = audit_events(node, AuditTag.CORRELATION_RAISED, pair.id)
    assert sorted(raised["record_ids"]) == sorted([ukrainian, french])
    assert raised["actor"]["kind"] == "system"

    # A change of either record refreshes the same correlation; none is raised twice.
    change(node, fra, french, person(latin, birth_date="1983-02"))
    change(node, ukr, ukrainian, person(cyrillic, nationalities=["UKR"], identifiers=[]))
    [refreshed] = [row for row in correlations(node, french) if row.id == pair.id]
    assert len(correlations(node, french)) == 1
    assert refreshed.score < pair.score  # only the year and month agree now
    assert refreshed.updated_at > pair.updated_at
    assert len(audit_events(node, AuditTag.CORRELATION_RAISED, pair.id)) == 1

    # Renamed out of the pair: closed; renamed back: the same correlation reopens.
    change(node, fra, french, person("Jean-Baptiste Delacroix-Moreau"))
    [closed] = correlations(node, french)
    assert (closed.id, closed.closed_reason) == (pair.id, "no_longer_matches")
    assert closed.closed_at is not None
    change(node, fra, french, person(latin))
    [reopened] = correlations(node, french)
    assert (reopened.id, reopened.closed_at, reopened.closed_reason) == (pair.id, None, None)
    raised_again = audit_events(node, AuditTag.CORRELATION_RAISED, pair.id)
    assert [event["details"]["reopened"] for event in raised_again] == [False, True]

    # Withdrawn: closed, and kept closed.
    node.records["person"].delete(french, fra, if_match=_row(node, french).version)
    [withdrawn] = correlations(node, french)
    assert withdrawn.closed_reason == "withdrawn"
    [event] = audit_events(node, AuditTag.CORRELATION_CLOSED, pair.id)[-1:]
    assert event["details"]["reason"] == "withdrawn"
    # The other pair is untouched.
    [other] = correlations(node, customs)
    assert other.closed_at is None


def test_persons_of_one_country_never_correlate(hub_node: Node) -> None:
    node = hub_node
    _, latin = made_up_name()
    first = file(node, owner(node, "FRA"), person(latin))
    second = file(node, owner(node, "FRA", "Gendarmerie"), person(latin))
    assert correlations(node, first, second) == []


def test_a_notice_subject_correlates_with_a_person_and_its_cancellation_closes_it(hub_node: Node) -> None:
    node = hub_node
    ukr, fra = owner(node, "UKR", "NCB"), owner(node, "FRA")
    body = red_notice_body()
    cyrillic, latin = made_up_name()
    body["subject"]["names"] = [{"full": cyrillic}]
    notice_id = node.notices.create(NoticeRequest.model_validate(body), ukr).id
    node.notices.act(notice_id, Action.SUBMIT, ukr)
    node.notices.act(notice_id, Action.APPROVE, reviewer(node))
    french = file(node, fra, person(latin, birth_date=body["subject"]["birth_dates"][0]))
    [pair] = correlations(node, notice_id)
    assert {pair.kind_a, pair.kind_b} == {"notice", "person"}
    assert {pair.record_a_id, pair.record_b_id} == {notice_id, french}
    node.notices.act(notice_id, Action.CANCEL, ukr, reason="Arrested and extradited")
    [closed] = correlations(node, notice_id)
    assert closed.closed_reason == "withdrawn"


def test_a_purged_record_closes_its_correlations(hub_node: Node) -> None:
    node = hub_node
    cyrillic, latin = made_up_name()
    ukrainian = file(node, owner(node, "UKR"), person(cyrillic))
    file(node, owner(node, "FRA"), person(latin))
    [pair] = correlations(node, ukrainian)
    with node.uow() as uow:
        past = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
        uow.session.execute(update(RecordRow).where(RecordRow.id == ukrainian).values(retain_until=past))
        uow.commit()
    assert node.retention.run_once().purged >= 1
    [closed] = correlations(node, ukrainian)
    assert (closed.id, closed.closed_reason) == (pair.id, "purged")


def test_changes_queued_when_a_node_stops_are_correlated_when_it_next_serves(hub_node: Node) -> None:
    node = hub_node
    node.correlations.close()  # the node stops correlating: changes are no longer followed
    cyrillic, latin = made_up_name()
    ukrainian = file(node, owner(node, "UKR"), person(cyrillic))
    file(node, owner(node, "FRA"), person(latin))
    assert correlations(node, ukrainian) == []

    def serving() -> CorrelationService:
        # What bootstrap wires, started as a serving node starts it.
        service = CorrelationService(
            node.uow, node.audit, node.policy, node.records, node.events, node.screening.watchlist
        )
        service.start()
        return service

    first = serving()
    assert first.drain(120)  # the first start correlates every record
    first.close()
    [pair] = correlations(node, ukrainian)

    cyrillic, latin = made_up_name()
    later = file(node, owner(node, "UKR"), person(cyrillic))  # while no worker follows
    file(node, owner(node, "FRA"), person(latin))
    second = serving()
    assert second.drain(120)  # correlates what changed since the mark it left
    second.close()
    assert len(correlations(node, later)) == 1
    assert len(audit_events(node, AuditTag.CORRELATION_RAISED, pair.id)) == 1
