"""Document and vehicle checks against the store and its in-memory index, on SQLite and
PostgreSQL: normalised numbers and MRZs find what was filed, the policy decides what each
requester gets (a hidden record is answered exactly as a miss), the index follows every
change and survives a restart, and hits go through the confirmation exchange."""

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from polex.agency.schemas import AgencyCreate
from polex.auth.principal import Principal, PrincipalKind
from polex.bootstrap import Node
from polex.domain.agency import AgencyKind
from polex.domain.base import RecordKind, Restrictions, Tlp, new_id
from polex.domain.document import TravelDocument
from polex.domain.policy import AccessLevel, Agreement, AgreementKind, DataCategory, Purpose
from polex.domain.records import RECORD_TYPES
from polex.domain.roles import Role
from polex.domain.vehicle import Vehicle
from polex.errors import BadRequest, Conflict, NotFound, ValidationFailed
from polex.record.schemas import update_model_for
from polex.record.service import NewRecord
from polex.storage.tables import AuditEventRow, RecordKeyRow
from tests.conftest import make_node
from tests.factories import document_body, make_vin, td3_lines, vehicle_body

BORDER = Purpose.BORDER_CONTROL


def admin(country: str) -> Principal:
    return Principal(PrincipalKind.LOCAL, new_id(), "admin", new_id(), country, frozenset({Role.ADMIN}))


def officer(agency_id: str, country: str) -> Principal:
    return Principal(PrincipalKind.USER, new_id(), "officer", agency_id, country, frozenset({Role.NCB_OPERATOR}))


def agency(node: Node, country: str, name: str = "Border police") -> str:
    return node.agencies.ensure(AgencyCreate(name=f"{name} {country}", country=country, kind=AgencyKind.POLICE)).id


def agree(node: Node, level: AccessLevel, *categories: DataCategory, purposes: tuple[Purpose, ...] = (BORDER,)) -> None:
    agreement = Agreement(
        id=f"fra-ukr-{new_id()[-8:]}",
        title="Border checks",
        kind=AgreementKind.BILATERAL_TREATY,
        parties=["FRA", "UKR"],
        categories=list(categories),
        purposes=list(purposes),
        level=level,
        fields=["travel_document.number", "travel_document.status"] if level is AccessLevel.FIELDS else [],
        valid_from=dt.date(2020, 1, 1),
        legal_reference="FRA-UKR border treaty, art. 4",
    )
    read = node.policy.propose(agreement, admin("FRA"))
    for country in ("FRA", "UKR"):
        node.policy.approve(agreement.id, read.version, admin(country))


def file_document(node: Node, owner: str, handling: Tlp = Tlp.GREEN, **overrides: object) -> str:
    record = NewRecord(
        content=TravelDocument.model_validate(document_body(**overrides)),
        owner_agency_id=owner,
        owner_country="FRA",
        restrictions=Restrictions(handling=handling),
        id=new_id(),
    )
    node.records["travel_document"].create_many([record])
    return record.id or ""


@pytest.fixture
def world(hub_node: Node) -> tuple[Node, Principal, Principal]:
    """The hub, a French owner agency and a Ukrainian border officer."""
    fra = officer(agency(hub_node, "FRA", "Police nationale"), "FRA")
    ukr = officer(agency(hub_node, "UKR"), "UKR")
    return hub_node, fra, ukr


def test_a_document_is_found_by_its_normalised_number_or_its_mrz(world: tuple[Node, Principal, Principal]) -> None:
    node, fra, ukr = world
    agree(node, AccessLevel.FULL, DataCategory.TRAVEL_DOCUMENTS)
    reference = file_document(node, fra.agency_id, number="34EF56789")
    items = [
        {"number": "34 ef 567<89", "country": "fra", "type": "P"},
        {"mrz": "\n".join(td3_lines(number="34EF56789"))},
        {"number": "34EF56780", "country": "FRA"},
        {"number": "34EF56789", "country": "DEU"},
    ]
    results = node.screening.check_documents(items, ukr, purpose=BORDER)
    assert [result["hit"] for result in results] == [True, True, False, False]
    first = results[0]
    assert first["reference"] == reference
    assert first["access"] == "full"
    assert first["owner"] == {"agency_id": fra.agency_id, "country": "FRA"}
    assert first["record"]["number"] == "34EF56789"
    assert first["query"] == {"number": "34EF56789", "country": "FRA", "type": "P"}
    assert results[1]["query"]["source"] == "mrz"
    assert "hit_id" in first


def test_a_record_the_policy_hides_is_answered_as_a_miss(world: tuple[Node, Principal, Principal]) -> None:
    node, fra, ukr = world
    file_document(node, fra.agency_id, number="11AA11111")
    no_agreement = node.screening.check_documents([{"number": "11AA11111", "country": "FRA"}], ukr, purpose=BORDER)
    miss = node.screening.check_documents([{"number": "99ZZ99999", "country": "FRA"}], ukr, purpose=BORDER)
    assert no_agreement == [{"hit": False, "query": {"number": "11AA11111", "country": "FRA", "type": None}}]
    assert miss == [{"hit": False, "query": {"number": "99ZZ99999", "country": "FRA", "type": None}}]
    # Nor does the owner learn of a check that found nothing it may show.
    assert node.screening.hits(fra, side="owner") == []


def test_hit_only_and_redacted_levels_leave_only_what_they_allow(world: tuple[Node, Principal, Principal]) -> None:
    node, fra, ukr = world
    agree(node, AccessLevel.HIT_ONLY, DataCategory.TRAVEL_DOCUMENTS)
    file_document(node, fra.agency_id, number="22BB22222")
    [hit_only] = node.screening.check_documents([{"number": "22BB22222", "country": "FRA"}], ukr, purpose=BORDER)
    assert hit_only["hit"] is True
    assert hit_only["access"] == "hit_only"
    assert set(hit_only["record"]) == {"id", "kind", "owner", "access"}
    # For another purpose the agreement does not apply: nothing at all.
    [other] = node.screening.check_documents(
        [{"number": "22BB22222", "country": "FRA"}], ukr, purpose=Purpose.CRIME_PREVENTION
    )
    assert other["hit"] is False


def test_owner_restrictions_are_applied_per_record(world: tuple[Node, Principal, Principal]) -> None:
    node, fra, ukr = world
    agree(node, AccessLevel.FULL, DataCategory.TRAVEL_DOCUMENTS)
    file_document(node, fra.agency_id, handling=Tlp.RED, number="33CC33333")  # named recipients only
    [red] = node.screening.check_documents([{"number": "33CC33333", "country": "FRA"}], ukr, purpose=BORDER)
    assert red["hit"] is False


def test_bad_items_get_their_own_errors_and_the_batch_goes_on(world: tuple[Node, Principal, Principal]) -> None:
    node, fra, ukr = world
    agree(node, AccessLevel.FULL, DataCategory.TRAVEL_DOCUMENTS)
    file_document(node, fra.agency_id, number="44DD44444")
    broken_mrz = list(td3_lines(number="44DD44444"))
    broken_mrz[1] = broken_mrz[1][:9] + ("0" if broken_mrz[1][9] != "0" else "1") + broken_mrz[1][10:]
    items = [
        {"number": "", "country": "FRA"},
        {"number": "44DD44444", "country": "ZZZ"},
        {"mrz": "\n".join(broken_mrz)},
        {"mrz": "P<FRA"},
        {"number": "44DD44444", "country": "FRA", "type": "Q9"},
        {"number": "44DD44444", "country": "FRA"},
    ]
    results = node.screening.check_documents(items, ukr, purpose=BORDER)
    assert [result["hit"] for result in results] == [None, None, None, None, None, True]
    fields = [[error["field"] for error in result["error"]["errors"]] for result in results[:5]]
    assert fields[0] == ["documents[0].number"]
    assert fields[1] == ["documents[1].country"]
    assert "documents[2].mrz.document_number" in fields[2]
    assert fields[3][0].startswith("documents[3].mrz")
    assert fields[4] == ["documents[4].type"]
    with pytest.raises(BadRequest):
        node.screening.check_documents([], ukr, purpose=BORDER)
    with pytest.raises(BadRequest):
        node.screening.check_documents([{"number": "1", "country": "FRA"}] * 1001, ukr, purpose=BORDER)


def test_the_index_follows_every_change_and_a_restart(
    world: tuple[Node, Principal, Principal], tmp_path: Path, backend: str
) -> None:
    node, fra, ukr = world
    agree(node, AccessLevel.FULL, DataCategory.TRAVEL_DOCUMENTS)
    service = node.records["travel_document"]
    body_type = update_model_for(RECORD_TYPES[RecordKind.TRAVEL_DOCUMENT])

    def hit(number: str) -> bool:
        [result] = node.screening.check_documents([{"number": number, "country": "FRA"}], ukr, purpose=BORDER)
        return bool(result["hit"])

    created = service.create(body_type.model_validate(document_body(number="55EE55555")), fra)
    assert hit("55EE55555")
    service.update(created.id, body_type.model_validate(document_body(number="55EE55556", version=1)), fra)
    assert not hit("55EE55555")
    assert hit("55EE55556")
    service.delete(created.id, fra, if_match=2)
    assert not hit("55EE55556")
    with node.uow(read_only=True) as uow:
        assert list(uow.session.scalars(select(RecordKeyRow).where(RecordKeyRow.record_id == created.id))) == []

    # Two records under one number: withdrawing one leaves the other findable.
    kept = file_document(node, fra.agency_id, number="66FF66666", document_type="passport")
    second = service.create(
        body_type.model_validate(document_body(number="66FF66666", document_type="identity_card")), fra
    )
    service.delete(second.id, fra, if_match=1)
    [result] = node.screening.check_documents([{"number": "66FF66666", "country": "FRA"}], ukr, purpose=BORDER)
    assert result["reference"] == kept
    assert "more" not in result

    # Purged by retention: gone from the index too.
    purged = file_document(node, fra.agency_id, number="77GG77777")
    assert hit("77GG77777")
    node.retention.run_once(now=dt.datetime.now(dt.UTC) + dt.timedelta(days=365 * 30))
    assert not hit("77GG77777")
    assert purged

    # A node started on the same store loads the index from it.
    fresh_id = file_document(node, fra.agency_id, number="88HH88888")
    restarted = make_node(tmp_path / "hub", node.settings.database_url, name="hub", country="XPO", hub=True)
    try:
        assert restarted.screening.index.entries == node.screening.index.entries
        [again] = restarted.screening.check_documents([{"number": "88HH88888", "country": "FRA"}], ukr, purpose=BORDER)
        assert again["reference"] == fresh_id
    finally:
        restarted.close()


def test_vehicles_are_found_by_vin_or_plate_until_recovered(world: tuple[Node, Principal, Principal]) -> None:
    node, fra, ukr = world
    agree(node, AccessLevel.FULL, DataCategory.VEHICLES)
    vin = make_vin()
    record = NewRecord(
        content=Vehicle.model_validate(vehicle_body(vin=vin, plate="AB-123-CD", plate_country="FRA")),
        owner_agency_id=fra.agency_id,
        owner_country="FRA",
        restrictions=Restrictions(handling=Tlp.GREEN),
        id=new_id(),
    )
    node.records["vehicle"].create_many([record])
    items = [
        {"vin": vin.lower()},
        {"plate": "ab 123 cd", "country": "FRA"},
        {"plate": "AB123CD", "country": "BEL"},
        {"vin": vin, "plate": "AB123CD", "country": "FRA"},
        {"vin": "1HGCM82643A004352"},  # North American: its check digit (position 9) must be 3
        {"plate": "AB123CD"},
        {},
    ]
    results = node.screening.check_vehicles(items, ukr, purpose=BORDER)
    assert [result["hit"] for result in results] == [True, True, False, True, None, None, None]
    assert results[0]["reference"] == record.id
    assert "more" not in results[3]  # one vehicle, found by both keys, is one match
    assert results[4]["error"]["errors"][0]["field"] == "vehicles[4].vin"
    assert results[5]["error"]["errors"][0]["field"] == "vehicles[5].country"

    service = node.records["vehicle"]
    body_type = update_model_for(RECORD_TYPES[RecordKind.VEHICLE])
    recovered = vehicle_body(vin=vin, plate="AB-123-CD", plate_country="FRA", status="recovered", version=1)
    service.update(record.id or "", body_type.model_validate(recovered), fra)
    [after] = node.screening.check_vehicles([{"vin": vin}], ukr, purpose=BORDER)
    assert after["hit"] is False


def test_a_hit_is_confirmed_or_rejected_by_the_owner_only(world: tuple[Node, Principal, Principal]) -> None:
    node, fra, ukr = world
    agree(node, AccessLevel.FULL, DataCategory.TRAVEL_DOCUMENTS)
    file_document(node, fra.agency_id, number="99JJ99999")
    [result] = node.screening.check_documents(
        [{"number": "99JJ99999", "country": "FRA"}], ukr, purpose=BORDER, case_reference="UA-BRD-1"
    )
    hit_id = result["hit_id"]
    [seen] = node.screening.hits(fra, side="owner")
    assert seen["id"] == hit_id
    assert seen["checked_by"] == {"agency_id": ukr.agency_id, "country": "UKR"}
    assert seen["purpose"] == "border_control"
    assert seen["status"] == "unconfirmed"
    assert "case_reference" not in seen  # the requester's case file is its own
    assert node.screening.hits(ukr, side="requester")[0]["case_reference"] == "UA-BRD-1"

    stranger = officer(agency(node, "GRC"), "GRC")
    with pytest.raises(NotFound):
        node.screening.hit(hit_id, stranger)
    with pytest.raises(NotFound):
        node.screening.request_confirmation(hit_id, None, fra)  # only the requester asks
    asked = node.screening.request_confirmation(hit_id, "Holder at gate 4, please confirm", ukr)
    assert asked["status"] == "confirmation_requested"
    with pytest.raises(Conflict):
        node.screening.request_confirmation(hit_id, None, ukr)
    with pytest.raises(NotFound):
        node.screening.answer(hit_id, confirmed=True, note=None, principal=ukr)  # only the owner answers
    with pytest.raises(ValidationFailed):
        node.screening.answer(hit_id, confirmed=False, note=None, principal=fra)  # a rejection says why
    answered = node.screening.answer(hit_id, confirmed=True, note="Still reported stolen", principal=fra)
    assert answered["status"] == "confirmed"
    assert node.screening.hit(hit_id, ukr)["answer_note"] == "Still reported stolen"
    with pytest.raises(Conflict):
        node.screening.answer(hit_id, confirmed=False, note="changed my mind", principal=fra)


def test_checks_are_audited_with_their_purpose_and_what_was_found(world: tuple[Node, Principal, Principal]) -> None:
    node, fra, ukr = world
    agree(node, AccessLevel.FULL, DataCategory.TRAVEL_DOCUMENTS)
    reference = file_document(node, fra.agency_id, number="12KK12345")
    node.screening.check_documents(
        [{"number": "12KK12345", "country": "FRA"}, {"number": "X", "country": "?"}], ukr, purpose=BORDER
    )
    with node.uow(read_only=True) as uow:
        row = uow.session.scalars(select(AuditEventRow).where(AuditEventRow.tag == "screening:document:checked")).one()
    events = node.audit.accesses_to(reference)
    [checked] = [event for event in events if event.tag.value == "screening:document:checked"]
    assert checked.purpose == "border_control"
    assert checked.result_count == 1
    assert checked.details == {"items": 2, "errors": 1, "hits": 1}
    assert row is not None


def test_a_check_the_index_rules_out_is_answered_from_memory_as_the_full_check_answers_it(
    world: tuple[Node, Principal, Principal],
) -> None:
    """``check_in_memory`` (the border routes' lean path): the full check's results and audit
    event for what nothing is filed under; None, so that the full check runs, whenever a key
    may be on file or the caller may not read records."""
    node, fra, ukr = world
    agree(node, AccessLevel.FULL, DataCategory.TRAVEL_DOCUMENTS)
    file_document(node, fra.agency_id, number="56GH78901")
    items = [{"number": "56gh 78900", "country": "fra"}, {"mrz": "\n".join(td3_lines(number="56GH78902"))}, {}]
    quick = node.screening.check_in_memory("travel_document", items, ukr, purpose=BORDER, case_reference="K-1")
    assert quick is not None
    results, draft = quick
    assert results == node.screening.check_documents(items, ukr, purpose=BORDER, case_reference="K-1")
    assert [result["hit"] for result in results] == [False, False, None]
    with node.uow(read_only=True) as uow:
        full = uow.session.scalars(select(AuditEventRow).order_by(AuditEventRow.seq.desc()).limit(1)).one()
    node.audit.record([draft])
    with node.uow(read_only=True) as uow:
        lean = uow.session.scalars(select(AuditEventRow).order_by(AuditEventRow.seq.desc()).limit(1)).one()
    assert (lean.seq, lean.tag) == (full.seq + 1, "screening:document:checked")

    def comparable(row: AuditEventRow) -> dict[str, object]:
        entry: dict[str, object] = json.loads(row.entry)
        return {key: value for key, value in entry.items() if key not in ("seq", "id", "at", "query_sealed")}

    assert comparable(lean) == comparable(full)
    assert draft.details == {"items": 3, "errors": 1, "hits": 0}
    assert (draft.purpose, draft.case_reference) == ("border_control", "K-1")
    assert sorted(draft.query_terms) == ["doc:FRA:56GH78900", "doc:FRA:56GH78902"]

    vehicles = [{"vin": make_vin()}, {"plate": "zz-999-zz", "country": "FRA"}]
    quick_vehicles = node.screening.check_in_memory("vehicle", vehicles, ukr, purpose=BORDER)
    assert quick_vehicles is not None
    assert quick_vehicles[0] == node.screening.check_vehicles(vehicles, ukr, purpose=BORDER)
    assert quick_vehicles[1].tag.value == "screening:vehicle:checked"

    filed = [{"number": "56GH78901", "country": "FRA"}]
    assert node.screening.check_in_memory("travel_document", filed, ukr, purpose=BORDER) is None
    auditor = Principal(PrincipalKind.USER, new_id(), "auditor", ukr.agency_id, "UKR", frozenset({Role.AUDITOR}))
    assert node.screening.check_in_memory("travel_document", items, auditor, purpose=BORDER) is None
    assert node.screening.check_in_memory("travel_document", [], ukr, purpose=BORDER) is None
