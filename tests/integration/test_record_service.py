"""The record service and repository against SQLite and PostgreSQL."""

import threading

import pytest
from pydantic import BaseModel
from sqlalchemy import func, select

from polex.agency.schemas import AgencyCreate
from polex.auth.principal import Principal, PrincipalKind
from polex.bootstrap import Node
from polex.domain.agency import AgencyKind
from polex.domain.base import Tlp, new_id
from polex.domain.policy import Purpose
from polex.domain.roles import Role
from polex.errors import (
    AlreadyExists,
    Forbidden,
    InvalidCursor,
    NotFound,
    PreconditionRequired,
    StaleVersion,
)
from polex.record.schemas import create_model_for, update_model_for
from polex.record.service import ListFilters
from polex.storage.tables import RecordRow
from tests.factories import case_body, document_body, person_body, vehicle_body

INVESTIGATION = Purpose.CRIMINAL_INVESTIGATION


def principal_of(node: Node, agency_name: str = "Police nationale", roles: frozenset[Role] | None = None) -> Principal:
    agency = node.agencies.ensure(AgencyCreate(name=agency_name, country="FRA", kind=AgencyKind.POLICE))
    return Principal(
        PrincipalKind.USER,
        new_id(),
        "officer",
        agency.id,
        "FRA",
        roles or frozenset({Role.INVESTIGATOR}),
    )


def create_body(node: Node, kind: str, body: dict[str, object]) -> BaseModel:
    return create_model_for(node.records[kind].feature.record_type).model_validate(body)


def update_body(node: Node, kind: str, body: dict[str, object]) -> BaseModel:
    return update_model_for(node.records[kind].feature.record_type).model_validate(body)


BODIES = {
    "person": person_body,
    "travel_document": document_body,
    "vehicle": vehicle_body,
    "case": case_body,
}


@pytest.mark.parametrize("kind", list(BODIES))
def test_create_read_update_delete(node: Node, kind: str) -> None:
    officer = principal_of(node)
    service = node.records[kind]
    raw = BODIES[kind]()
    created = service.create(create_body(node, kind, raw), officer, raw=raw)
    assert created.version == 1
    assert created.owner.agency_id == officer.agency_id
    assert created.owner.country == "FRA"
    shown = service.get(created.id, officer, purpose=INVESTIGATION)
    assert shown == {**created.model_dump(mode="json", by_alias=True), "access": shown["access"]}
    assert shown["access"]["outcome"] == "full"
    assert [rule["code"] for rule in shown["access"]["rules"]] == ["owner"]

    changed = {**raw, "restrictions": {"handling": "TLP:RED"}}
    updated = service.update(created.id, update_body(node, kind, changed), officer, if_match=1)
    assert updated.version == 2
    assert updated.restrictions.handling is Tlp.RED
    assert updated.created_at == created.created_at
    assert updated.updated_at >= created.updated_at

    with pytest.raises(StaleVersion) as stale:
        service.update(created.id, update_body(node, kind, raw), officer, if_match=1)
    assert stale.value.extra["current_version"] == 2
    with pytest.raises(PreconditionRequired):
        service.update(created.id, update_body(node, kind, raw), officer)

    service.delete(created.id, officer, if_match=2)
    with pytest.raises(NotFound):
        service.get(created.id, officer, purpose=INVESTIGATION)
    assert service.list(officer, ListFilters(), purpose=INVESTIGATION, cursor=None, limit=10).items == []


def test_only_the_owner_changes_a_record(node: Node) -> None:
    owner = principal_of(node)
    other = principal_of(node, "Gendarmerie nationale")
    service = node.records["person"]
    created = service.create(create_body(node, "person", person_body()), owner)
    # The same answer as for a record that does not exist: a 403 would confirm it exists.
    with pytest.raises(NotFound, match="of your agency: only the owning agency"):
        service.update(created.id, update_body(node, "person", person_body()), other, if_match=1)
    with pytest.raises(NotFound, match="of your agency"):
        service.delete(created.id, other, if_match=1)
    shown = service.get(created.id, other, purpose=INVESTIGATION)  # a compatriot may still read it
    assert shown["version"] == 1
    assert [rule["code"] for rule in shown["access"]["rules"]] == ["domestic"]


def test_roles_without_write_permission_cannot_create(node: Node) -> None:
    border = principal_of(node, roles=frozenset({Role.BORDER_OFFICER}))
    with pytest.raises(Forbidden, match="record:write"):
        node.records["vehicle"].create(create_body(node, "vehicle", vehicle_body()), border)


def test_a_document_is_reported_once(node: Node) -> None:
    officer = principal_of(node)
    service = node.records["travel_document"]
    body = document_body(number="99XY12345")
    service.create(create_body(node, "travel_document", body), officer)
    with pytest.raises(AlreadyExists):
        service.create(create_body(node, "travel_document", body), officer)
    # Nothing half-written: exactly one row.
    with node.uow() as uow:
        assert (
            uow.session.scalar(select(func.count()).select_from(RecordRow).where(RecordRow.kind == "travel_document"))
            == 1
        )


def test_only_the_issuing_country_reports_its_documents(node: Node) -> None:
    with pytest.raises(Forbidden, match="only agencies of DEU"):
        node.records["travel_document"].create(
            create_body(node, "travel_document", document_body(issuing_country="DEU")),
            principal_of(node),
        )


def test_pagination_walks_every_record_once(node: Node) -> None:
    officer = principal_of(node)
    service = node.records["vehicle"]
    ids = {service.create(create_body(node, "vehicle", vehicle_body()), officer).id for _ in range(23)}
    seen: list[str] = []
    cursor = None
    while True:
        page = service.list(officer, ListFilters(), purpose=INVESTIGATION, cursor=cursor, limit=5)
        seen.extend(item["id"] for item in page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert sorted(seen) == sorted(ids)
    assert len(seen) == len(ids)
    with pytest.raises(InvalidCursor):
        node.records["person"].list(officer, ListFilters(), purpose=INVESTIGATION, cursor=cursor, limit=5)


def test_filters(node: Node) -> None:
    officer = principal_of(node)
    persons = node.records["person"]
    shevchenko = persons.create(create_body(node, "person", person_body()), officer)
    persons.create(
        create_body(node, "person", person_body(names=[{"full": "Camille Martin"}], nationalities=["FRA"])),
        officer,
    )

    def names(**terms: str) -> list[str]:
        page = persons.list(officer, ListFilters(terms=terms), purpose=INVESTIGATION, cursor=None, limit=50)
        return [item["id"] for item in page.items]

    assert names(name="shevchenko") == [shevchenko.id]  # Latin finds the Cyrillic name
    assert names(name="ШЕВЧЕНКО") == [shevchenko.id]
    assert names(nationality="ukr") == [shevchenko.id]
    assert names(birth_year="1984", nationality="UKR") == [shevchenko.id]
    assert names(name="100%_") == []  # LIKE wildcards are matched literally
    cases = node.records["case"]
    theft = cases.create(create_body(node, "case", case_body(crime_types=["0502"])), officer)
    cases.create(create_body(node, "case", case_body(crime_types=["0101"])), officer)
    page = cases.list(officer, ListFilters(terms={"crime_type": "05"}), purpose=INVESTIGATION, cursor=None, limit=50)
    assert [item["id"] for item in page.items] == [theft.id]
    status_page = cases.list(
        officer, ListFilters(status="under_investigation"), purpose=INVESTIGATION, cursor=None, limit=50
    )
    assert len(status_page.items) == 2


def test_concurrent_updates_from_the_same_version_let_exactly_one_win(node: Node) -> None:
    officer = principal_of(node)
    service = node.records["person"]
    created = service.create(create_body(node, "person", person_body()), officer)
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def attempt(index: int) -> None:
        body = update_body(node, "person", person_body(remarks=f"writer {index}"))
        barrier.wait()
        try:
            service.update(created.id, body, officer, if_match=1)
            outcomes.append("won")
        except StaleVersion:
            outcomes.append("stale")

    threads = [threading.Thread(target=attempt, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["stale", "stale", "stale", "won"]
    assert service.get(created.id, officer, purpose=INVESTIGATION)["version"] == 2


def test_create_many_is_all_or_nothing(node: Node) -> None:
    from polex.domain.document import TravelDocument
    from polex.record.service import NewRecord

    officer = principal_of(node)
    duplicate = TravelDocument.model_validate(document_body(number="11AA11111"))
    records = [NewRecord(content=duplicate, owner_agency_id=officer.agency_id, owner_country="FRA") for _ in range(2)]
    with pytest.raises(AlreadyExists):
        node.records["travel_document"].create_many(records)
    documents = node.records["travel_document"]
    assert documents.list(officer, ListFilters(), purpose=INVESTIGATION, cursor=None, limit=10).items == []
    first = TravelDocument.model_validate(document_body(number="22BB22222"))
    second = TravelDocument.model_validate(document_body(number="33CC33333"))
    imported = [
        NewRecord(content=item, owner_agency_id=officer.agency_id, owner_country="FRA") for item in (first, second)
    ]
    before = node.audit.integrate()
    assert node.records["travel_document"].create_many(imported) == 2
    event, _ = node.audit.leaf(node.audit.integrate() - 1)
    assert node.audit.integrate() == before + 1  # one import, one event naming both records
    assert (event.tag.value, len(event.record_ids)) == ("record:travel_document:imported", 2)
