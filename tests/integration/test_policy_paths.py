"""Every path that returns record data gives exactly what the policy engine decided, on
SQLite and PostgreSQL: random agreements, national rules, owner restrictions and
requesters; then reads, lists (every page), filters, exports and refused changes are
compared with the engine's own decision for each record. Nothing hidden leaves: not its
content, not its id, not its count, not a different error."""

import datetime as dt
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from polex.agency.schemas import AgencyCreate
from polex.auth.principal import Principal, PrincipalKind
from polex.bootstrap import Node
from polex.domain.agency import AgencyKind
from polex.domain.base import Restrictions, Tlp, new_id
from polex.domain.decisions import Outcome, RecordFacts, Requester
from polex.domain.person import Person
from polex.domain.policy import (
    AccessLevel,
    Agreement,
    AgreementKind,
    DataCategory,
    NationalRules,
    Purpose,
    content_fields,
)
from polex.domain.roles import Role
from polex.errors import NotFound
from polex.policy.service import requester_of
from polex.record.schemas import update_model_for
from polex.record.service import ListFilters, NewRecord
from polex.storage.tables import RecordRow
from tests.factories import person_body

COUNTRIES = ("FRA", "UKR", "GRC")
PURPOSES = (Purpose.CRIMINAL_INVESTIGATION, Purpose.BORDER_CONTROL)


def agencies_of(node: Node) -> dict[str, list[str]]:
    return {
        country: [
            node.agencies.ensure(AgencyCreate(name=f"Agency {n} {country}", country=country, kind=AgencyKind.POLICE)).id
            for n in range(2)
        ]
        for country in COUNTRIES
    }


def admin(country: str) -> Principal:
    return Principal(PrincipalKind.LOCAL, new_id(), "admin", new_id(), country, frozenset({Role.ADMIN}))


def officer(agency_id: str, country: str) -> Principal:
    return Principal(PrincipalKind.USER, new_id(), "officer", agency_id, country, frozenset({Role.INVESTIGATOR}))


@st.composite
def worlds(draw: st.DrawFn) -> dict[str, object]:
    agreements = []
    for index in range(draw(st.integers(0, 3))):
        parties = draw(st.lists(st.sampled_from(COUNTRIES), min_size=2, max_size=2, unique=True))
        level = draw(st.sampled_from(list(AccessLevel)))
        agreements.append(
            (
                {
                    "id": f"x-{index}",
                    "title": "Random treaty",
                    "kind": AgreementKind.BILATERAL_TREATY,
                    "parties": parties,
                    "categories": [DataCategory.PERSONS],
                    "purposes": draw(st.lists(st.sampled_from(PURPOSES), min_size=1, unique=True)),
                    "level": level,
                    "fields": ["person.names", "person.sex"] if level is AccessLevel.FIELDS else [],
                    "valid_from": dt.date(2020, 1, 1),
                    "legal_reference": "Random treaty, art. 1",
                },
                draw(st.lists(st.sampled_from(parties), unique=True)),  # who approved
            )
        )
    rules = {
        country: draw(st.lists(st.sampled_from(["biometrics", "health", "person.identifiers"]), unique=True))
        for country in COUNTRIES
    }
    seeds = draw(st.lists(st.integers(0, 2**32 - 1), min_size=4, max_size=14))
    return {"agreements": agreements, "rules": rules, "seeds": seeds}


def restrictions_for(rng: random.Random, agencies: dict[str, list[str]], owner: str) -> Restrictions:
    others = [country for country in COUNTRIES if country != owner]
    every_agency = [agency for country in COUNTRIES for agency in agencies[country]]
    choice = rng.random()
    return Restrictions(
        handling=rng.choice(list(Tlp)),
        excluded_countries=rng.sample(others, 1) if choice < 0.2 else [],
        allowed_countries=rng.sample(others, 1) if 0.2 <= choice < 0.35 else None,
        hit_only_countries=rng.sample(others, 1) if 0.35 <= choice < 0.5 else [],
        excluded_agencies=rng.sample(every_agency, 1) if 0.5 <= choice < 0.6 else [],
        allowed_agencies=rng.sample(every_agency, 2) if 0.6 <= choice < 0.65 else None,
        hit_only_agencies=rng.sample(every_agency, 1) if 0.65 <= choice < 0.75 else [],
        consult_owner=rng.random() < 0.3,
        onward_transmission=rng.random() < 0.5,
    )


def build(node: Node, world: dict[str, object], agencies: dict[str, list[str]]) -> list[str]:
    with node.uow() as uow:  # each example starts from no records
        uow.session.execute(delete(RecordRow))
        uow.commit()
    for country, never in world["rules"].items():  # type: ignore[attr-defined]
        node.policy.set_national_rules(
            NationalRules(country=country, never_shared=never, legal_reference=f"Law of {country}"), admin(country)
        )
    for body, approvers in world["agreements"]:  # type: ignore[attr-defined]
        # A fresh id per example: an id already used names an agreement of other parties.
        agreement = Agreement.model_validate({**body, "id": f"x-{new_id()[-12:]}"})
        read = node.policy.propose(agreement, admin(agreement.parties[0]))
        for country in approvers:
            node.policy.approve(agreement.id, read.version, admin(country))
    ids = []
    for seed in world["seeds"]:  # type: ignore[attr-defined]
        rng = random.Random(seed)
        owner_country = rng.choice(COUNTRIES)
        body = person_body(
            health="diabetic" if rng.random() < 0.5 else None,
            biometrics=[{"modality": "fingerprints", "reference": f"TCN-{seed}"}] if rng.random() < 0.5 else [],
        )
        record = NewRecord(
            content=Person.model_validate(body),
            owner_agency_id=rng.choice(agencies[owner_country]),
            owner_country=owner_country,
            restrictions=restrictions_for(rng, agencies, owner_country),
            id=new_id(),
        )
        node.records["person"].create_many([record])
        ids.append(record.id or "")
    return ids


def expected(node: Node, requester: Requester, record_id: str) -> tuple[Outcome, tuple[str, ...]]:
    with node.uow(read_only=True) as uow:
        row = uow.session.get(RecordRow, record_id)
        assert row is not None
        facts = RecordFacts(row.kind, row.owner_agency_id, row.owner_country, row.restrictions, row.retain_until)
    decision = node.policy.snapshot().decide(requester, facts)
    return decision.outcome, decision.removed_fields


@pytest.mark.parametrize("purpose", PURPOSES)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(world=worlds(), who=st.tuples(st.sampled_from(COUNTRIES), st.integers(0, 1)))
def test_every_path_returns_what_the_engine_decided(
    hub_node: Node, purpose: Purpose, world: dict[str, object], who: tuple[str, int]
) -> None:
    node = hub_node
    agencies = agencies_of(node)
    ids = build(node, world, agencies)
    country, index = who
    principal = officer(agencies[country][index], country)
    requester = requester_of(principal, purpose)
    service = node.records["person"]
    person_fields = set(content_fields("person"))
    decided = {record_id: expected(node, requester, record_id) for record_id in ids}
    visible = {record_id for record_id, (outcome, _) in decided.items() if outcome is not Outcome.NONE}

    # Reads: each record exactly as decided; hidden ones exactly as missing ones.
    missing_error = None
    try:
        service.get(new_id(), principal, purpose=purpose)
    except NotFound as error:
        missing_error = error.status
    for record_id, (outcome, removed) in decided.items():
        if outcome is Outcome.NONE:
            with pytest.raises(NotFound) as hidden:
                service.get(record_id, principal, purpose=purpose)
            assert hidden.value.status == missing_error
            assert str(hidden.value) == f"no person '{record_id}'"
            continue
        shown = service.get(record_id, principal, purpose=purpose)
        assert shown["access"]["outcome"] == outcome.value
        if outcome is Outcome.HIT_ONLY:
            assert set(shown) == {"id", "kind", "owner", "access"}
        else:
            assert not set(removed) & set(shown)
            assert set(shown["access"]["removed_fields"]) == set(removed)
            assert person_fields - set(removed) <= set(shown)  # everything else is there

    # Lists: every page together is exactly the visible set, in order, each as decided; no
    # cursor names a hidden record.
    for limit in (1, 3, 50):
        seen: list[str] = []
        cursor = None
        while True:
            page = service.list(principal, ListFilters(), purpose=purpose, cursor=cursor, limit=limit)
            for item in page.items:
                assert item["access"]["outcome"] == decided[item["id"]][0].value
            seen.extend(item["id"] for item in page.items)
            if page.next_cursor is None:
                break
            assert seen[-1] in visible
            cursor = page.next_cursor
        assert seen == sorted(visible)
    # A filter finds nothing hidden.
    named = service.list(principal, ListFilters(terms={"name": "shevchenko"}), purpose=purpose, cursor=None, limit=500)
    assert {item["id"] for item in named.items} == visible

    # Export: the full and redacted ones only; hidden ones are not even counted.
    exported = service.export(principal, purpose=purpose, format_name="test")
    disclosing = {rid for rid, (outcome, _) in decided.items() if outcome in (Outcome.FULL, Outcome.REDACTED)}
    assert len(exported.contents) == len(disclosing)
    assert exported.withheld == len(visible - disclosing)

    # Changes by anyone but the owner: the same 404 for hidden, visible and missing records.
    body = update_model_for(service.feature.record_type).model_validate(person_body())
    for record_id in [*ids, new_id()]:
        with node.uow(read_only=True) as uow:
            row = uow.session.get(RecordRow, record_id)
            owned = row is not None and row.owner_agency_id == principal.agency_id
        if owned:
            continue
        with pytest.raises(NotFound, match="of your agency"):
            service.update(record_id, body, principal, if_match=1)
        with pytest.raises(NotFound, match="of your agency"):
            service.delete(record_id, principal, if_match=1)
