"""Retention on SQLite and PostgreSQL: deadlines from national rules, reviews asked six
months ahead, purges that leave only a tombstone, extensions with reasons, all audited."""

import datetime as dt

import pytest
from sqlalchemy import update

from polex.agency.schemas import AgencyCreate
from polex.auth.principal import Principal, PrincipalKind
from polex.bootstrap import Node
from polex.domain.agency import AgencyKind
from polex.domain.base import new_id
from polex.domain.policy import DataCategory, NationalRules, Purpose
from polex.domain.roles import Role
from polex.errors import BadRequest, NotFound
from polex.record.schemas import create_model_for
from polex.record.service import ListFilters
from polex.storage.tables import RecordRow
from tests.factories import case_body, person_body, vehicle_body


def officer_of(node: Node, agency: str = "Police nationale", roles: frozenset[Role] | None = None) -> Principal:
    row = node.agencies.ensure(AgencyCreate(name=agency, country="FRA", kind=AgencyKind.POLICE))
    return Principal(PrincipalKind.USER, new_id(), "officer", row.id, "FRA", roles or frozenset({Role.INVESTIGATOR}))


def create(node: Node, kind: str, body: dict[str, object], principal: Principal) -> str:
    model = create_model_for(node.records[kind].feature.record_type).model_validate(body)
    return node.records[kind].create(model, principal).id


def row_of(node: Node, record_id: str) -> RecordRow:
    with node.uow(read_only=True) as uow:
        row = uow.session.get(RecordRow, record_id)
        assert row is not None
        uow.session.expunge(row)
        return row


def set_rules(node: Node, months: dict[DataCategory, int]) -> None:
    admin = officer_of(node, roles=frozenset({Role.ADMIN}))
    node.policy.set_national_rules(
        NationalRules(country="FRA", retention_months=months, legal_reference="Code de la sécurité intérieure"),
        admin,
    )


def test_the_deadline_follows_the_owner_countrys_rules(node: Node) -> None:
    officer = officer_of(node)
    before = dt.datetime.now(dt.UTC)
    default = row_of(node, create(node, "vehicle", vehicle_body(), officer))
    assert default.retain_until is not None
    assert 1825 <= (default.retain_until - before).days <= 1827  # five years
    set_rules(node, {DataCategory.PERSONS: 6})
    person = row_of(node, create(node, "person", person_body(), officer))
    assert person.retain_until is not None
    assert 180 <= (person.retain_until - before).days <= 185


def test_reviews_are_asked_then_the_record_is_purged_and_audited(node: Node) -> None:
    officer = officer_of(node)
    set_rules(node, {DataCategory.PERSONS: 12})
    person_id = create(node, "person", person_body(), officer)
    kept_id = create(node, "vehicle", vehicle_body(), officer)
    deadline = row_of(node, person_id).retain_until
    assert deadline is not None

    early = node.retention.run_once(now=deadline - dt.timedelta(days=200))
    assert (early.review_requested, early.purged) == (0, 0)
    review = node.retention.run_once(now=deadline - dt.timedelta(days=100))
    assert (review.review_requested, review.purged) == (1, 0)
    assert row_of(node, person_id).review_requested_at is not None
    assert [due.id for due in node.retention.due(officer)] == [person_id]
    assert node.retention.run_once(now=deadline - dt.timedelta(days=99)).review_requested == 0  # asked once

    purge = node.retention.run_once(now=deadline + dt.timedelta(seconds=1))
    assert purge.purged == 1
    purged = row_of(node, person_id)
    assert (purged.content, purged.provenance, purged.label, purged.terms, purged.key) == ({}, {}, "", "", None)
    assert purged.deleted_at is not None
    assert purged.purged_at is not None
    assert row_of(node, kept_id).deleted_at is None
    with pytest.raises(NotFound):
        node.records["person"].get(person_id, officer, purpose=Purpose.CRIMINAL_INVESTIGATION)
    listed = node.records["person"].list(
        officer, ListFilters(), purpose=Purpose.CRIMINAL_INVESTIGATION, cursor=None, limit=50
    )
    assert person_id not in [item["id"] for item in listed.items]

    tags = []
    for seq in range(node.audit.integrate()):
        event, _ = node.audit.leaf(seq)
        if person_id in event.record_ids:
            tags.append(event.tag.value)
    assert tags == [
        "record:person:created",
        "record:person:review_requested",
        "record:person:purged",
        "record:person:read",  # the refused read after the purge is on the trail too
    ]


def test_an_extension_with_reasons_keeps_the_record(node: Node) -> None:
    officer = officer_of(node)
    set_rules(node, {DataCategory.PERSONS: 12})
    person_id = create(node, "person", person_body(), officer)
    deadline = row_of(node, person_id).retain_until
    assert deadline is not None
    node.retention.run_once(now=deadline - dt.timedelta(days=30))

    with pytest.raises(BadRequest) as earlier:
        node.retention.extend("person", person_id, deadline - dt.timedelta(days=1), "still wanted", officer)
    assert earlier.value.errors[0].field == "retain_until"
    with pytest.raises(BadRequest, match="at most 12 months past the current deadline"):
        node.retention.extend("person", person_id, deadline + dt.timedelta(days=400), "still wanted", officer)
    stranger = officer_of(node, "Gendarmerie nationale")
    with pytest.raises(NotFound):
        node.retention.extend("person", person_id, deadline + dt.timedelta(days=30), "mine now", stranger)

    extended = deadline + dt.timedelta(days=30)
    node.retention.extend("person", person_id, extended, "the arrest warrant was renewed", officer)
    row = row_of(node, person_id)
    assert row.retain_until == extended
    assert row.review_requested_at is None  # asked again when the new deadline nears
    assert node.retention.run_once(now=deadline + dt.timedelta(days=1)).purged == 0
    assert node.retention.run_once(now=extended + dt.timedelta(seconds=1)).purged == 1


def test_records_stored_before_retention_get_a_deadline(node: Node) -> None:
    officer = officer_of(node)
    record_id = create(node, "case", case_body(), officer)
    with node.uow() as uow:
        uow.session.execute(update(RecordRow).where(RecordRow.id == record_id).values(retain_until=None))
        uow.commit()
    assert node.retention.run_once().assigned == 1
    assert row_of(node, record_id).retain_until is not None
