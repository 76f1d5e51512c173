"""The policy engine: one test per rule, what leaves the node, and a differential test of
both evaluations against a small reference written from the rules the engine's docstring
states."""

from __future__ import annotations

import copy
import datetime as dt
import functools
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from polex.domain.base import RecordKind, Restrictions, Tlp
from polex.domain.case import Case
from polex.domain.decisions import (
    AgreementState,
    Decision,
    Outcome,
    PolicySet,
    RecordFacts,
    Requester,
    RequesterPolicy,
    apply_decision,
    decide,
)
from polex.domain.document import TravelDocument
from polex.domain.notice import Notice
from polex.domain.person import Person
from polex.domain.policy import (
    ALL_MEMBERS,
    CATEGORY_OF_KIND,
    SPECIAL_FIELDS,
    AccessLevel,
    Agreement,
    AgreementKind,
    CountryGroup,
    DataCategory,
    NationalRules,
    Purpose,
    SpecialCategory,
    content_fields,
)
from polex.domain.records import RECORD_TYPES
from polex.domain.vehicle import Vehicle
from tests.factories import case_body, document_body, person_body, red_notice_body, vehicle_body

NOW = dt.datetime(2025, 6, 15, 12, 0, tzinfo=dt.UTC)
TODAY = NOW.date()

FRA_POLICE = "01900000-0000-7000-8000-00000000f001"
FRA_GENDARMERIE = "01900000-0000-7000-8000-00000000f002"
UKR_POLICE = "01900000-0000-7000-8000-00000000a001"
UKR_BORDER_GUARD = "01900000-0000-7000-8000-00000000a002"
DEU_POLICE = "01900000-0000-7000-8000-00000000d001"

INVESTIGATION = Purpose.CRIMINAL_INVESTIGATION
FROM_KYIV = Requester(UKR_POLICE, "UKR", INVESTIGATION, user_id="ukr-officer")
FROM_PARIS = Requester(FRA_GENDARMERIE, "FRA", INVESTIGATION, user_id="fra-officer")
FROM_BERLIN = Requester(DEU_POLICE, "DEU", INVESTIGATION)

PERSON_FIELDS = content_fields("person")


def make_agreement(**overrides: Any) -> Agreement:
    body: dict[str, Any] = {
        "id": "fra-ukr",
        "title": "Franco-Ukrainian police cooperation",
        "kind": "bilateral_treaty",
        "parties": ["FRA", "UKR"],
        "categories": ["persons", "cases"],
        "purposes": ["criminal_investigation"],
        "level": "full",
        "valid_from": "2024-01-01",
        "legal_reference": "Treaty of Kyiv, art. 4",
    }
    body.update(overrides)
    return Agreement.model_validate(body)


def approved(agreement: Agreement, by: Iterable[str] | None = None, *, retired: bool = False) -> AgreementState:
    """The agreement at version 2, approved by ``by`` (by default every party that is a country)."""
    approvals = frozenset(by) if by is not None else frozenset(party for party in agreement.parties if party.isupper())
    return AgreementState(agreement, 2, approvals, retired)


def policy(
    *states: AgreementState,
    laws: Iterable[NationalRules] = (),
    groups: dict[str, Iterable[str]] | None = None,
    suspended_agencies: Iterable[str] = (),
    suspended_users: Iterable[str] = (),
) -> PolicySet:
    return PolicySet(
        agreements=states,
        national_rules={law.country: law for law in laws},
        groups={name: frozenset(countries) for name, countries in (groups or {}).items()},
        suspended_agencies=frozenset(suspended_agencies),
        suspended_users=frozenset(suspended_users),
    )


def french_record(
    kind: str = "person", owner: str = FRA_POLICE, retain_until: dt.datetime | None = None, **restrictions: Any
) -> RecordFacts:
    stored = Restrictions.model_validate(restrictions).model_dump(mode="json")
    return RecordFacts(kind, owner, "FRA", stored, retain_until)


def judge(policy: PolicySet, requester: Requester, facts: RecordFacts) -> Decision:
    """The decision, which both evaluations must reach identically, explanation included."""
    straightforward = decide(policy, requester, facts, NOW)
    compiled = policy.snapshot(NOW).for_requester(requester).decide(facts)
    assert compiled == straightforward
    assert straightforward.rules, "every decision says why"
    return straightforward


def codes(decision: Decision) -> list[str]:
    return [rule.code for rule in decision.rules]


def cites(decision: Decision, code: str, reference: str) -> bool:
    """Some rule of this code quotes this legal reference."""
    return any(
        rule.code == code and rule.reference is not None and reference in rule.reference for rule in decision.rules
    )


FRA_UKR = make_agreement()
TREATY = policy(approved(FRA_UKR))
FRENCH_LAW = NationalRules(
    country="FRA",
    never_shared=["health", "person.identifiers"],
    refused_purposes=[Purpose.CRIME_PREVENTION],
    legal_reference="Loi Informatique et Libertés, art. 123",
)


def assert_none(decision: Decision, code: str) -> None:
    assert decision.outcome is Outcome.NONE
    assert codes(decision) == [code]
    assert decision.removed_fields == ()
    assert (decision.consult_owner, decision.onward_transmission) == (False, False)


# -- 1. sanctions ------------------------------------------------------------------------


def test_a_suspended_user_gets_nothing_not_even_their_own_agencys_records() -> None:
    suspended = policy(approved(FRA_UKR), suspended_users=["ukr-officer", "fra-officer"])
    assert_none(judge(suspended, FROM_KYIV, french_record()), "sanction.user_suspended")
    own = french_record(owner=FRA_GENDARMERIE)
    assert_none(judge(suspended, FROM_PARIS, own), "sanction.user_suspended")
    colleague = Requester(UKR_POLICE, "UKR", INVESTIGATION, user_id="another-officer")
    assert judge(suspended, colleague, french_record()).outcome is Outcome.FULL


def test_a_suspended_agency_gets_nothing() -> None:
    suspended = policy(approved(FRA_UKR), suspended_agencies=[UKR_POLICE, FRA_GENDARMERIE])
    assert_none(judge(suspended, FROM_KYIV, french_record()), "sanction.agency_suspended")
    assert_none(judge(suspended, FROM_PARIS, french_record(owner=FRA_GENDARMERIE)), "sanction.agency_suspended")
    anonymous = Requester(UKR_POLICE, "UKR", INVESTIGATION)
    assert_none(judge(suspended, anonymous, french_record()), "sanction.agency_suspended")


# -- 2. the owner ------------------------------------------------------------------------


def test_the_owner_gets_everything_whatever_the_restrictions() -> None:
    strict = french_record(
        owner=UKR_POLICE,  # the requesting agency owns it, whatever country the record is filed under
        handling="TLP:RED",
        allowed_countries=["DEU"],
        allowed_agencies=[DEU_POLICE],
        excluded_countries=["UKR"],
        excluded_agencies=[UKR_POLICE],
        hit_only_agencies=[UKR_POLICE],
        consult_owner=True,
        retain_until=NOW - dt.timedelta(days=1),
    )
    decision = judge(policy(laws=[FRENCH_LAW]), FROM_KYIV, strict)  # no agreement at all
    assert decision.outcome is Outcome.FULL
    assert codes(decision) == ["owner"]
    assert decision.removed_fields == ()
    assert decision.onward_transmission is True
    assert decision.consult_owner is False


# -- 3. retention ------------------------------------------------------------------------


@pytest.mark.parametrize("late", [dt.timedelta(0), dt.timedelta(seconds=1), dt.timedelta(days=400)])
def test_past_its_retention_deadline_only_the_owner_sees_a_record(late: dt.timedelta) -> None:
    expired = french_record(retain_until=NOW - late)
    assert_none(judge(TREATY, FROM_KYIV, expired), "retention.expired")
    assert_none(judge(TREATY, FROM_PARIS, expired), "retention.expired")  # compatriots too
    owner = Requester(FRA_POLICE, "FRA", INVESTIGATION)
    assert judge(TREATY, owner, expired).outcome is Outcome.FULL


def test_before_its_retention_deadline_a_record_is_shared() -> None:
    current = french_record(retain_until=NOW + dt.timedelta(seconds=1))
    assert judge(TREATY, FROM_KYIV, current).outcome is Outcome.FULL


# -- 4. the owner's agency lists -------------------------------------------------------


def test_allowed_agencies_bind_every_other_agency_compatriots_too() -> None:
    named = french_record(allowed_agencies=[UKR_POLICE])
    assert judge(TREATY, FROM_KYIV, named).outcome is Outcome.FULL
    assert_none(judge(TREATY, FROM_PARIS, named), "restriction.allowed_agencies")
    other_ukrainian = Requester(UKR_BORDER_GUARD, "UKR", INVESTIGATION)
    assert_none(judge(TREATY, other_ukrainian, named), "restriction.allowed_agencies")
    nobody = french_record(allowed_agencies=[])
    assert_none(judge(TREATY, FROM_KYIV, nobody), "restriction.allowed_agencies")
    assert_none(judge(TREATY, FROM_PARIS, nobody), "restriction.allowed_agencies")


def test_excluded_agencies_bind_compatriots_too() -> None:
    excluded = french_record(excluded_agencies=[UKR_POLICE, FRA_GENDARMERIE])
    assert_none(judge(TREATY, FROM_KYIV, excluded), "restriction.excluded_agencies")
    assert_none(judge(TREATY, FROM_PARIS, excluded), "restriction.excluded_agencies")
    assert judge(TREATY, Requester(UKR_BORDER_GUARD, "UKR", INVESTIGATION), excluded).outcome is Outcome.FULL


def test_excluded_agencies_win_over_allowed_agencies() -> None:
    both = french_record(allowed_agencies=[UKR_POLICE], excluded_agencies=[UKR_POLICE])
    assert_none(judge(TREATY, FROM_KYIV, both), "restriction.excluded_agencies")


def test_a_hit_only_agency_at_home_sees_the_hit() -> None:
    record = french_record(hit_only_agencies=[FRA_GENDARMERIE], consult_owner=True, onward_transmission=True)
    decision = judge(policy(), FROM_PARIS, record)
    assert decision.outcome is Outcome.HIT_ONLY
    assert codes(decision) == ["domestic", "restriction.hit_only_agencies"]
    assert decision.removed_fields == ()
    assert decision.consult_owner is True
    assert decision.onward_transmission is False


def test_a_hit_only_agency_abroad_sees_the_hit_where_an_agreement_allows_more() -> None:
    record = french_record(hit_only_agencies=[UKR_POLICE], onward_transmission=True)
    decision = judge(TREATY, FROM_KYIV, record)
    assert decision.outcome is Outcome.HIT_ONLY
    assert codes(decision) == ["agreement.full", "restriction.hit_only_agencies"]
    assert cites(decision, "agreement.full", "Treaty of Kyiv, art. 4 (fra-ukr v2)")
    assert decision.removed_fields == ()
    assert decision.onward_transmission is False
    # The agency list wins over the country list in the explanation.
    both = french_record(hit_only_agencies=[UKR_POLICE], hit_only_countries=["UKR"])
    assert codes(judge(TREATY, FROM_KYIV, both)) == ["agreement.full", "restriction.hit_only_agencies"]


def test_a_hit_only_agency_abroad_sees_nothing_without_an_agreement() -> None:
    decision = judge(policy(), FROM_KYIV, french_record(hit_only_agencies=[UKR_POLICE]))
    assert_none(decision, "no_agreement")


# -- 5. at home --------------------------------------------------------------------------


def test_agencies_of_the_owners_country_get_everything_national_law_governs() -> None:
    record = french_record(
        handling="TLP:RED",
        excluded_countries=["FRA"],
        allowed_countries=["UKR"],
        hit_only_countries=["FRA"],
        consult_owner=True,
    )
    # No agreement, and French law refusing the purpose and withholding fields abroad: none applies at home.
    at_home = Requester(FRA_GENDARMERIE, "FRA", Purpose.CRIME_PREVENTION)
    decision = judge(policy(laws=[FRENCH_LAW]), at_home, record)
    assert decision.outcome is Outcome.FULL
    assert codes(decision) == ["domestic"]
    assert decision.removed_fields == ()
    assert decision.consult_owner is True


# -- 6. the owner's country lists and TLP:RED ------------------------------------------


def test_excluded_countries_get_nothing_even_under_an_agreement() -> None:
    record = french_record(excluded_countries=["UKR"], allowed_agencies=[UKR_POLICE])
    assert_none(judge(TREATY, FROM_KYIV, record), "restriction.excluded_countries")


def test_allowed_countries_bind_abroad() -> None:
    treaties = policy(approved(FRA_UKR), approved(make_agreement(id="fra-deu", parties=["FRA", "DEU"])))
    listed = french_record(allowed_countries=["UKR"])
    assert judge(treaties, FROM_KYIV, listed).outcome is Outcome.FULL
    assert_none(judge(treaties, FROM_BERLIN, listed), "restriction.allowed_countries")
    nowhere = french_record(allowed_countries=[])
    assert_none(judge(treaties, FROM_KYIV, nowhere), "restriction.allowed_countries")
    assert judge(treaties, FROM_PARIS, nowhere).outcome is Outcome.FULL  # at home the country lists do not apply


def test_tlp_red_goes_only_to_countries_or_agencies_the_owner_named() -> None:
    unnamed = french_record(handling="TLP:RED")
    assert_none(judge(TREATY, FROM_KYIV, unnamed), "restriction.tlp_red")
    hit_only_is_not_naming = french_record(handling="TLP:RED", hit_only_countries=["UKR"])
    assert_none(judge(TREATY, FROM_KYIV, hit_only_is_not_naming), "restriction.tlp_red")
    by_country = french_record(handling="TLP:RED", allowed_countries=["UKR"])
    assert codes(judge(TREATY, FROM_KYIV, by_country)) == ["agreement.full"]
    by_agency = french_record(handling="TLP:RED", allowed_agencies=[UKR_POLICE])
    assert codes(judge(TREATY, FROM_KYIV, by_agency)) == ["agreement.full"]
    assert judge(TREATY, FROM_KYIV, french_record(handling="TLP:AMBER+STRICT")).outcome is Outcome.FULL


# -- 7. the owner country's law refusing the purpose ------------------------------------


def test_the_owners_law_may_refuse_the_declared_purpose() -> None:
    prevention = make_agreement(purposes=["criminal_investigation", "crime_prevention"])
    rules = policy(approved(prevention), laws=[FRENCH_LAW])
    refused = judge(rules, Requester(UKR_POLICE, "UKR", Purpose.CRIME_PREVENTION), french_record())
    assert_none(refused, "national.refused_purpose")
    assert refused.rules[0].reference == "Loi Informatique et Libertés, art. 123"
    assert "crime_prevention" in refused.rules[0].text
    assert judge(rules, FROM_KYIV, french_record()).outcome is Outcome.REDACTED
    # The requester's own law does not refuse anything for the owner.
    ukrainian_law = NationalRules(country="UKR", refused_purposes=[INVESTIGATION], legal_reference="Law of Ukraine")
    assert judge(policy(approved(FRA_UKR), laws=[ukrainian_law]), FROM_KYIV, french_record()).outcome is Outcome.FULL


# -- 8. agreements -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "facts"),
    [
        (approved(FRA_UKR), french_record(kind="vehicle")),
        (approved(make_agreement(purposes=["border_control"])), french_record()),
        (approved(FRA_UKR, by=["FRA"]), french_record()),
        (approved(FRA_UKR, by=["UKR"]), french_record()),
        (approved(make_agreement(valid_from=TODAY + dt.timedelta(days=1))), french_record()),
        (
            approved(make_agreement(valid_from="2020-01-01", valid_until=TODAY - dt.timedelta(days=1))),
            french_record(),
        ),
        (approved(FRA_UKR, retired=True), french_record()),
        (approved(make_agreement(id="fra-deu", parties=["FRA", "DEU"])), french_record()),
    ],
    ids=[
        "wrong-category",
        "wrong-purpose",
        "only-owner-approved",
        "only-requester-approved",
        "not-yet-valid",
        "expired",
        "retired",
        "other-countries",
    ],
)
def test_no_agreement_in_force_covering_the_record_means_nothing(state: AgreementState, facts: RecordFacts) -> None:
    decision = judge(policy(state), FROM_KYIV, facts)
    assert_none(decision, "no_agreement")
    assert "FRA" in decision.rules[0].text
    assert "UKR" in decision.rules[0].text


def test_an_agreement_is_in_force_on_its_first_and_last_day() -> None:
    one_day = make_agreement(valid_from=TODAY, valid_until=TODAY)
    assert judge(policy(approved(one_day)), FROM_KYIV, french_record()).outcome is Outcome.FULL


def test_a_convention_binds_only_the_parties_that_acceded() -> None:
    convention = make_agreement(
        id="convention", kind="multilateral_convention", parties=["FRA", "UKR", "DEU"], legal_reference="Convention"
    )
    rules = policy(approved(convention, by=["FRA", "UKR", "ITA"]))  # Germany has not acceded yet
    decision = judge(rules, FROM_KYIV, french_record())
    assert decision.outcome is Outcome.FULL
    assert cites(decision, "agreement.full", "Convention")
    assert_none(judge(rules, FROM_BERLIN, french_record()), "no_agreement")
    # Italy approved, but is no party.
    assert_none(judge(rules, Requester(UKR_POLICE, "ITA", INVESTIGATION), french_record()), "no_agreement")


def test_a_bilateral_treaty_needs_both_approvals() -> None:
    assert_none(judge(policy(approved(FRA_UKR, by=["FRA"])), FROM_KYIV, french_record()), "no_agreement")
    decision = judge(policy(approved(FRA_UKR, by=["FRA", "UKR"])), FROM_KYIV, french_record())
    assert decision.outcome is Outcome.FULL
    assert cites(decision, "agreement.full", "Treaty of Kyiv, art. 4")


def test_a_memorandum_needs_every_partys_approval() -> None:
    memorandum = make_agreement(
        id="mou", kind="memorandum", parties=["FRA", "UKR", "DEU"], legal_reference="Memorandum of Lviv"
    )
    # France and Ukraine approved, and still it binds neither until Germany has.
    assert_none(judge(policy(approved(memorandum, by=["FRA", "UKR"])), FROM_KYIV, french_record()), "no_agreement")
    decision = judge(policy(approved(memorandum)), FROM_KYIV, french_record())
    assert decision.outcome is Outcome.FULL
    assert cites(decision, "agreement.full", "Memorandum of Lviv")


def test_groups_and_all_members_as_parties() -> None:
    convention = make_agreement(
        id="eu-ukr", kind="multilateral_convention", parties=["eu", "UKR"], legal_reference="EU-Ukraine agreement"
    )
    rules = policy(approved(convention, by=["FRA", "DEU", "ITA", "UKR"]), groups={"eu": ["FRA", "DEU"]})
    assert cites(judge(rules, FROM_KYIV, french_record()), "agreement.full", "EU-Ukraine agreement")
    assert judge(rules, FROM_BERLIN, french_record()).outcome is Outcome.FULL  # both in the group
    assert_none(judge(rules, Requester(DEU_POLICE, "ITA", INVESTIGATION), french_record()), "no_agreement")
    undefined = policy(approved(convention, by=["FRA", "UKR"]))  # the group is not defined: it has no members
    assert_none(judge(undefined, FROM_KYIV, french_record()), "no_agreement")
    everyone = make_agreement(
        id="everyone", kind="multilateral_convention", parties=[ALL_MEMBERS], legal_reference="Constitution"
    )
    worldwide = policy(approved(everyone, by=["FRA", "UKR"]))
    assert cites(judge(worldwide, FROM_KYIV, french_record()), "agreement.full", "Constitution")
    assert_none(judge(worldwide, FROM_BERLIN, french_record()), "no_agreement")  # Germany has not acceded


def test_the_best_level_wins_and_only_its_agreements_explain() -> None:
    hit_only = make_agreement(id="hits", kind="memorandum", level="hit_only", legal_reference="Hits")
    fields = make_agreement(id="fields", level="fields", fields=["person.names"], legal_reference="Fields")
    full = make_agreement(id="full", legal_reference="Full")
    decision = judge(policy(approved(hit_only), approved(fields), approved(full)), FROM_KYIV, french_record())
    assert decision.outcome is Outcome.FULL
    assert codes(decision) == ["agreement.full"]
    assert cites(decision, "agreement.full", "Full (full v2)")
    decision = judge(policy(approved(hit_only), approved(fields)), FROM_KYIV, french_record())
    assert decision.outcome is Outcome.REDACTED
    assert set(decision.removed_fields) == set(PERSON_FIELDS) - {"names"}
    assert cites(decision, "agreement.fields", "Fields (fields v2)")
    assert not cites(decision, "agreement.hit_only", "Hits")
    decision = judge(policy(approved(hit_only)), FROM_KYIV, french_record())
    assert decision.outcome is Outcome.HIT_ONLY
    assert codes(decision) == ["agreement.hit_only"]
    assert cites(decision, "agreement.hit_only", "Hits (hits v2)")
    decision = judge(
        policy(approved(full), approved(make_agreement(id="again", legal_reference="Again"))),
        FROM_KYIV,
        french_record(),
    )
    assert codes(decision) == ["agreement.full", "agreement.full"]
    assert cites(decision, "agreement.full", "Again")
    assert cites(decision, "agreement.full", "Full")


def test_level_fields_shares_the_union_of_the_deciding_field_sets() -> None:
    names = make_agreement(id="names", level="fields", fields=["person.names", "person.sex"], legal_reference="A")
    more = make_agreement(
        id="more",
        level="fields",
        categories=["persons", "cases", "vehicles"],
        fields=["person.names", "person.nationalities", "vehicle.vin"],
        legal_reference="B",
    )
    decision = judge(policy(approved(names), approved(more)), FROM_KYIV, french_record())
    assert decision.outcome is Outcome.REDACTED
    assert decision.removed_fields == tuple(
        name for name in PERSON_FIELDS if name not in {"names", "sex", "nationalities"}
    )
    assert codes(decision) == ["agreement.fields", "agreement.fields", "agreement.fields"]
    assert cites(decision, "agreement.fields", "A (names v2)")
    assert cites(decision, "agreement.fields", "B (more v2)")
    summary = decision.rules[-1]
    assert summary.reference is None
    assert "person.names" in summary.text
    assert "person.nationalities" in summary.text
    assert "vehicle.vin" not in summary.text


def test_level_fields_naming_every_field_is_full() -> None:
    every = make_agreement(level="fields", fields=[f"person.{name}" for name in PERSON_FIELDS])
    decision = judge(policy(approved(every)), FROM_KYIV, french_record())
    assert decision.outcome is Outcome.FULL
    assert codes(decision) == ["agreement.fields"]
    assert decision.removed_fields == ()


# -- 9. the owner's hit-only country list -----------------------------------------------


def test_hit_only_countries_cap_the_level() -> None:
    record = french_record(hit_only_countries=["UKR"], consult_owner=True, onward_transmission=True)
    decision = judge(policy(approved(make_agreement(onward_transmission=True))), FROM_KYIV, record)
    assert decision.outcome is Outcome.HIT_ONLY
    assert codes(decision) == ["agreement.full", "restriction.hit_only_countries"]
    assert cites(decision, "agreement.full", "Treaty of Kyiv")
    assert decision.removed_fields == ()
    assert decision.consult_owner is True
    assert decision.onward_transmission is False
    assert judge(TREATY, FROM_KYIV, french_record(hit_only_countries=["DEU"])).outcome is Outcome.FULL
    assert_none(judge(policy(), FROM_KYIV, record), "no_agreement")


# Where the best agreement shares a set of fields, or the owner's law withholds some, a capped
# hit still shows no field, so it names none: the explanation is the agreements and the cap.
CAPPED = (
    policy(approved(make_agreement(level="fields", fields=["person.names"])), laws=[FRENCH_LAW]),
    french_record(hit_only_countries=["UKR"]),
)


def test_a_capped_hit_names_no_withheld_field() -> None:
    rules, record = CAPPED
    decision = decide(rules, FROM_KYIV, record, NOW)
    assert decision.outcome is Outcome.HIT_ONLY
    assert decision.removed_fields == ()
    assert codes(decision) == ["agreement.fields", "restriction.hit_only_countries"]


def test_the_compiled_path_explains_a_capped_hit_as_decide_does() -> None:
    rules, record = CAPPED
    assert rules.snapshot(NOW).for_requester(FROM_KYIV).decide(record) == decide(rules, FROM_KYIV, record, NOW)


# -- 10. fields the owner country's law never sends abroad ------------------------------


def test_a_special_category_the_owners_law_never_sends_abroad_is_withheld() -> None:
    law = NationalRules(country="FRA", never_shared=["biometrics", "religion"], legal_reference="Loi 78-17, art. 88")
    decision = judge(policy(approved(FRA_UKR), laws=[law]), FROM_KYIV, french_record())
    assert decision.outcome is Outcome.REDACTED
    assert decision.removed_fields == ("biometrics",)
    assert codes(decision) == ["agreement.full", "national.never_shared"]
    assert cites(decision, "national.never_shared", "Loi 78-17, art. 88")
    assert "biometrics" in decision.rules[-1].text
    assert cites(decision, "agreement.full", "Treaty of Kyiv")


def test_a_field_path_the_owners_law_never_sends_abroad_is_withheld_from_that_kind_only() -> None:
    law = NationalRules(country="FRA", never_shared=["case.summary"], legal_reference="Loi 78-17")
    rules = policy(approved(FRA_UKR), laws=[law])
    decision = judge(rules, FROM_KYIV, french_record(kind="case"))
    assert decision.outcome is Outcome.REDACTED
    assert decision.removed_fields == ("summary",)
    assert cites(decision, "national.never_shared", "Loi 78-17")
    assert codes(judge(rules, FROM_KYIV, french_record(kind="person"))) == ["agreement.full"]


def test_withheld_fields_join_the_fields_an_agreement_leaves_out() -> None:
    names = make_agreement(level="fields", fields=["person.names", "person.health", "person.sex"])
    decision = judge(policy(approved(names), laws=[FRENCH_LAW]), FROM_KYIV, french_record())
    assert decision.outcome is Outcome.REDACTED
    assert decision.removed_fields == tuple(name for name in PERSON_FIELDS if name not in {"names", "sex"})
    assert codes(decision) == ["agreement.fields", "agreement.fields", "national.never_shared"]
    assert cites(decision, "national.never_shared", "Loi Informatique et Libertés")
    never = decision.rules[-1].text
    assert "health" in never
    assert "identifiers" in never


def test_the_requesters_law_withholds_nothing() -> None:
    ukrainian_law = NationalRules(country="UKR", never_shared=["health"], legal_reference="Law of Ukraine")
    assert judge(policy(approved(FRA_UKR), laws=[ukrainian_law]), FROM_KYIV, french_record()).outcome is Outcome.FULL


# -- consulting the owner and onward transmission --------------------------------------


def test_consult_owner_is_carried_by_every_outcome_that_shows_something() -> None:
    consult = french_record(consult_owner=True)
    hits = policy(approved(make_agreement(kind="memorandum", level="hit_only")))
    showing = [
        judge(TREATY, FROM_KYIV, consult),  # full
        judge(policy(approved(FRA_UKR), laws=[FRENCH_LAW]), FROM_KYIV, consult),  # redacted
        judge(hits, FROM_KYIV, consult),  # hit-only by the agreement
        judge(TREATY, FROM_KYIV, french_record(hit_only_countries=["UKR"], consult_owner=True)),  # capped
        judge(policy(), FROM_PARIS, consult),  # at home
        judge(policy(), FROM_PARIS, french_record(hit_only_agencies=[FRA_GENDARMERIE], consult_owner=True)),
    ]
    assert [decision.outcome for decision in showing] == [
        Outcome.FULL,
        Outcome.REDACTED,
        Outcome.HIT_ONLY,
        Outcome.HIT_ONLY,
        Outcome.FULL,
        Outcome.HIT_ONLY,
    ]
    assert all(decision.consult_owner for decision in showing)
    assert judge(TREATY, FROM_KYIV, french_record()).consult_owner is False
    assert judge(TREATY, FROM_BERLIN, consult).consult_owner is False  # nothing shown, nothing to consult about


def test_onward_transmission_needs_the_owners_flag_and_every_deciding_agreement() -> None:
    onward = make_agreement(onward_transmission=True)
    assert judge(policy(approved(onward)), FROM_KYIV, french_record(onward_transmission=True)).onward_transmission
    assert not judge(policy(approved(onward)), FROM_KYIV, french_record()).onward_transmission
    assert not judge(TREATY, FROM_KYIV, french_record(onward_transmission=True)).onward_transmission
    # Two deciding agreements: both must allow it.
    silent = make_agreement(id="silent", legal_reference="Silent")
    assert not judge(
        policy(approved(onward), approved(silent)), FROM_KYIV, french_record(onward_transmission=True)
    ).onward_transmission
    # An agreement at a lower level does not decide, so its silence does not count.
    lower = make_agreement(id="lower", kind="memorandum", level="hit_only", legal_reference="Lower")
    assert judge(
        policy(approved(onward), approved(lower)), FROM_KYIV, french_record(onward_transmission=True)
    ).onward_transmission
    # Redacted data may be passed on too.
    redacted = judge(policy(approved(onward), laws=[FRENCH_LAW]), FROM_KYIV, french_record(onward_transmission=True))
    assert redacted.outcome is Outcome.REDACTED
    assert redacted.onward_transmission is True


@pytest.mark.parametrize(
    ("handling", "allowed"),
    [("TLP:CLEAR", True), ("TLP:GREEN", True), ("TLP:AMBER", True), ("TLP:AMBER+STRICT", False), ("TLP:RED", False)],
)
def test_onward_transmission_abroad_depends_on_the_handling(handling: str, allowed: bool) -> None:
    onward = policy(approved(make_agreement(onward_transmission=True)))
    record = french_record(handling=handling, allowed_countries=["UKR"], onward_transmission=True)
    decision = judge(onward, FROM_KYIV, record)
    assert decision.outcome is Outcome.FULL
    assert decision.onward_transmission is allowed


def test_the_owner_may_always_pass_its_record_on_and_a_hit_never() -> None:
    record = french_record(handling="TLP:RED")
    assert judge(policy(), Requester(FRA_POLICE, "FRA", INVESTIGATION), record).onward_transmission is True
    onward = policy(approved(make_agreement(onward_transmission=True)))
    hit = french_record(hit_only_countries=["UKR"], onward_transmission=True)
    assert judge(onward, FROM_KYIV, hit).onward_transmission is False


def test_at_home_onward_transmission_follows_the_owners_flag() -> None:
    assert judge(policy(), FROM_PARIS, french_record(onward_transmission=True)).onward_transmission is True
    assert judge(policy(), FROM_PARIS, french_record()).onward_transmission is False


@pytest.mark.parametrize("handling", ["TLP:AMBER+STRICT", "TLP:RED"])
def test_at_home_onward_transmission_respects_the_handling_too(handling: str) -> None:
    decision = judge(policy(), FROM_PARIS, french_record(handling=handling, onward_transmission=True))
    assert decision.outcome is Outcome.FULL
    assert decision.onward_transmission is False


# -- what leaves the node ----------------------------------------------------------------


def stored_record(kind: str, owner: str = FRA_POLICE, country: str = "FRA") -> dict[str, Any]:
    """A stored record of this kind, its JSON form, with every content field filled in and
    original values kept for some of them."""
    bodies: dict[str, dict[str, Any]] = {
        "person": person_body(
            physical={"height_cm": 180, "eye_colour": "brown"},
            languages=["uk", "ru"],
            health="needs insulin",
            biometrics=[{"modality": "fingerprints", "reference": "TCN-0001"}],
            remarks="armed",
        ),
        "travel_document": document_body(remarks="reported at the border"),
        "vehicle": vehicle_body(place_of_theft="Lyon", remarks="false plates likely"),
        "case": case_body(summary="A network stealing cars", links=[]),
        "notice": red_notice_body(
            subject={
                **red_notice_body()["subject"],
                "health": "needs dialysis",
                "biometrics": [{"modality": "fingerprints", "reference": "TCN-0002"}],
                "physical": {"height_cm": 182, "marks": [{"kind": "tattoo", "location": "left arm"}]},
            }
        ),
    }
    originals = {
        "person": {
            "names/0/full": "олександр шевченко ",
            "health": "Needs insulin!",
            "identifiers/0/value": "fe 123456",
        },
        "travel_document": {"number": "ab-123", "holder/names/0/full": "camille martin"},
        "vehicle": {"plate": "ab 123 cd", "vin": "vf1 rfb05"},
        "case": {"title": "vols", "summary": "a network"},
        "notice": {
            "subject/names/0/full": "ivan petrovich sokolov",
            "subject/health": "Needs dialysis!",
            "subject/biometrics/0/reference": "tcn-0002",
            "subject/physical/marks/0/location": "Left arm ",
            "offences/0/law": "criminal code art 115",
        },
    }
    envelope = {
        "id": "01900000-0000-7000-8000-000000000abc",
        "kind": kind,
        "owner": {"agency_id": owner, "country": country},
        "restrictions": {},
        "provenance": {"source_format": "api", "original_values": originals[kind]},
        "created_at": "2025-01-01T00:00:00Z",
        "updated_at": "2025-01-02T00:00:00Z",
        "version": 1,
    }
    record = RECORD_TYPES[RecordKind(kind)].record.model_validate({**bodies[kind], **envelope})
    return record.model_dump(mode="json", by_alias=True)


PERSON_RECORD = stored_record("person")


def test_full_keeps_everything_and_explains() -> None:
    decision = judge(TREATY, FROM_KYIV, french_record())
    shown = apply_decision(PERSON_RECORD, decision)
    assert shown is not None
    assert shown == {**PERSON_RECORD, "access": decision.as_dict()}
    assert shown["access"]["outcome"] == "full"
    assert shown["access"]["rules"][0]["reference"] == "Treaty of Kyiv, art. 4 (fra-ukr v2)"


def test_redacted_drops_the_removed_fields_and_their_original_values() -> None:
    before = copy.deepcopy(PERSON_RECORD)
    decision = judge(policy(approved(FRA_UKR), laws=[FRENCH_LAW]), FROM_KYIV, french_record())
    assert decision.outcome is Outcome.REDACTED
    assert set(decision.removed_fields) == {"health", "identifiers"}
    shown = apply_decision(PERSON_RECORD, decision)
    assert shown is not None
    assert set(shown) == set(PERSON_RECORD) - {"health", "identifiers"} | {"access"}
    for name in set(PERSON_RECORD) - {"health", "identifiers", "provenance"}:
        assert shown[name] == PERSON_RECORD[name]
    assert shown["provenance"] == {
        **PERSON_RECORD["provenance"],
        "original_values": {"names/0/full": "олександр шевченко "},
    }
    assert shown["access"] == decision.as_dict()
    assert shown["access"]["removed_fields"] == ["identifiers", "health"]
    assert before == PERSON_RECORD  # the stored record is left as it was


def test_hit_only_keeps_only_the_reference_and_whom_to_ask() -> None:
    decision = judge(TREATY, FROM_KYIV, french_record(hit_only_countries=["UKR"]))
    shown = apply_decision(PERSON_RECORD, decision)
    assert shown == {
        "id": PERSON_RECORD["id"],
        "kind": "person",
        "owner": {"agency_id": FRA_POLICE, "country": "FRA"},
        "access": decision.as_dict(),
    }


def test_none_lets_nothing_leave() -> None:
    assert apply_decision(PERSON_RECORD, judge(policy(), FROM_KYIV, french_record())) is None


# -- the differential test ---------------------------------------------------------------

COUNTRIES = ("FRA", "DEU", "UKR", "ITA", "POL", "ESP")
GROUP_NAMES = ("eu", "eastern")
AGENCIES = (FRA_POLICE, FRA_GENDARMERIE, UKR_POLICE, UKR_BORDER_GUARD, DEU_POLICE)
USERS = ("officer-1", "officer-2", "officer-3")
PURPOSES = (Purpose.CRIMINAL_INVESTIGATION, Purpose.BORDER_CONTROL, Purpose.MISSING_PERSONS)
KINDS = ("person", "travel_document", "vehicle", "case", "notice")

# The reference's own vocabulary: the content models, and the category each kind is filed under.
MODELS: dict[str, type[BaseModel]] = {
    "person": Person,
    "travel_document": TravelDocument,
    "vehicle": Vehicle,
    "case": Case,
    "notice": Notice,
}
FILED_UNDER = {
    "person": DataCategory.PERSONS,
    "travel_document": DataCategory.TRAVEL_DOCUMENTS,
    "vehicle": DataCategory.VEHICLES,
    "case": DataCategory.CASES,
    "notice": DataCategory.NOTICES,
}
ALL_PATHS = tuple(f"{kind}.{name}" for kind, model in MODELS.items() for name in model.model_fields)


@dataclass(frozen=True)
class Signed:
    agreement: Agreement
    approved_by: frozenset[str]
    retired: bool
    version: int


@dataclass(frozen=True)
class World:
    agreements: tuple[Signed, ...]
    groups: tuple[CountryGroup, ...]
    laws: tuple[NationalRules, ...]
    suspended_agencies: frozenset[str]
    suspended_users: frozenset[str]

    def policy_set(self) -> PolicySet:
        return PolicySet(
            agreements=tuple(AgreementState(s.agreement, s.version, s.approved_by, s.retired) for s in self.agreements),
            national_rules={law.country: law for law in self.laws},
            groups={group.name: frozenset(group.countries) for group in self.groups},
            suspended_agencies=self.suspended_agencies,
            suspended_users=self.suspended_users,
        )


@dataclass(frozen=True)
class Item:
    kind: str
    owner_agency: str
    owner_country: str
    restrictions: Restrictions
    retain_until: dt.datetime | None

    def facts(self) -> RecordFacts:
        stored = self.restrictions.model_dump(mode="json")
        return RecordFacts(self.kind, self.owner_agency, self.owner_country, stored, self.retain_until)


@dataclass(frozen=True)
class Expected:
    outcome: Outcome
    removed: frozenset[str] = frozenset()
    consult_owner: bool = False
    onward_transmission: bool = False


NOTHING = Expected(Outcome.NONE)


def members(world: World, party: str) -> frozenset[str] | None:
    """The countries a party stands for; None for every member."""
    if party == ALL_MEMBERS:
        return None
    for group in world.groups:
        if group.name == party:
            return frozenset(group.countries)
    return frozenset({party})


def bound(world: World, signed: Signed, country: str) -> bool:
    """The agreement binds this country: it is a party, and the approvals its kind needs are in."""
    is_party = False
    for party in signed.agreement.parties:
        countries = members(world, party)
        if countries is None or country in countries:
            is_party = True
    if not is_party:
        return False
    if signed.agreement.kind is AgreementKind.MULTILATERAL_CONVENTION:
        return country in signed.approved_by
    return set(signed.agreement.parties) <= signed.approved_by


def in_force(signed: Signed) -> bool:
    document = signed.agreement
    if signed.retired or document.valid_from > TODAY:
        return False
    return not (document.valid_until is not None and document.valid_until < TODAY)


def never_sent(law: NationalRules) -> set[str]:
    paths: set[str] = set()
    for entry in law.never_shared:
        if "." in entry:
            paths.add(entry)
        else:
            paths.update(SPECIAL_FIELDS[SpecialCategory(entry)])
    return paths


def expected(world: World, requester: Requester, item: Item) -> Expected:
    """The rules of ``polex.domain.decisions`` in the order its docstring gives them."""
    rules = item.restrictions
    # 1. sanctions
    if requester.user_id is not None and requester.user_id in world.suspended_users:
        return NOTHING
    if requester.agency_id in world.suspended_agencies:
        return NOTHING
    # 2. the owner
    if requester.agency_id == item.owner_agency:
        return Expected(Outcome.FULL, onward_transmission=True)
    # 3. retention
    if item.retain_until is not None and item.retain_until <= NOW:
        return NOTHING
    # 4. agency lists
    if rules.allowed_agencies is not None and requester.agency_id not in rules.allowed_agencies:
        return NOTHING
    if requester.agency_id in rules.excluded_agencies:
        return NOTHING
    hit_only = requester.agency_id in rules.hit_only_agencies
    consult = rules.consult_owner
    passable = rules.onward_transmission and rules.handling not in (Tlp.RED, Tlp.AMBER_STRICT)
    # 5. at home
    if requester.country == item.owner_country:
        if hit_only:
            return Expected(Outcome.HIT_ONLY, consult_owner=consult)
        return Expected(Outcome.FULL, consult_owner=consult, onward_transmission=passable)
    # 6. country lists, TLP:RED
    if requester.country in rules.excluded_countries:
        return NOTHING
    if rules.allowed_countries is not None and requester.country not in rules.allowed_countries:
        return NOTHING
    if rules.handling is Tlp.RED:
        named_country = rules.allowed_countries is not None and requester.country in rules.allowed_countries
        named_agency = rules.allowed_agencies is not None and requester.agency_id in rules.allowed_agencies
        if not (named_country or named_agency):
            return NOTHING
    # 7. the owner country's law and the purpose
    law = next((law for law in world.laws if law.country == item.owner_country), None)
    if law is not None and requester.purpose in law.refused_purposes:
        return NOTHING
    # 8. agreements
    usable = [
        signed
        for signed in world.agreements
        if in_force(signed)
        and FILED_UNDER[item.kind] in signed.agreement.categories
        and requester.purpose in signed.agreement.purposes
        and bound(world, signed, item.owner_country)
        and bound(world, signed, requester.country)
    ]
    if not usable:
        return NOTHING
    order = [AccessLevel.HIT_ONLY, AccessLevel.FIELDS, AccessLevel.FULL]
    best = max((signed.agreement.level for signed in usable), key=order.index)
    deciding = [signed for signed in usable if signed.agreement.level is best]
    # 9. hit-only lists
    if hit_only or requester.country in rules.hit_only_countries or best is AccessLevel.HIT_ONLY:
        return Expected(Outcome.HIT_ONLY, consult_owner=consult)
    # 10. fields
    fields = {f"{item.kind}.{name}": name for name in MODELS[item.kind].model_fields}
    removed: set[str] = set()
    if best is AccessLevel.FIELDS:
        shared = {path for signed in deciding for path in signed.agreement.fields}
        removed |= {name for path, name in fields.items() if path not in shared}
    if law is not None:
        never = never_sent(law)
        removed |= {name for path, name in fields.items() if path in never}
        # Inside the fields still shown: the outermost of the paths the law names there.
        prefix = f"{item.kind}."
        inside = {path.removeprefix(prefix) for path in never if path.startswith(prefix) and path.count(".") > 1}
        removed |= {
            path
            for path in inside
            if path.split(".")[0] not in removed and not any(path.startswith(f"{outer}.") for outer in inside)
        }
    onward = passable and all(signed.agreement.onward_transmission for signed in deciding)
    outcome = Outcome.REDACTED if removed else Outcome.FULL
    return Expected(outcome, frozenset(removed), consult, onward)


def observed(decision: Decision) -> Expected:
    return Expected(
        decision.outcome, frozenset(decision.removed_fields), decision.consult_owner, decision.onward_transmission
    )


DAY = dt.timedelta(days=1)

# Strategies are built once: building them inside each draw costs more than the test itself.
# The weights make every outcome common: parties, categories and purposes overlap often enough
# for agreements to bind, and the owner's lists are short.
PARTY_CANDIDATES = (*COUNTRIES, *GROUP_NAMES, ALL_MEMBERS, "undefined-group")
PARTIES = {
    AgreementKind.MULTILATERAL_CONVENTION: st.one_of(
        st.just([ALL_MEMBERS]),
        st.lists(st.sampled_from(GROUP_NAMES), min_size=1, max_size=2, unique=True),
        st.lists(st.sampled_from(PARTY_CANDIDATES), min_size=1, max_size=5, unique=True),
    ),
    AgreementKind.BILATERAL_TREATY: st.lists(st.sampled_from(COUNTRIES), min_size=2, max_size=2, unique=True),
    AgreementKind.MEMORANDUM: st.lists(st.sampled_from(COUNTRIES), min_size=1, max_size=4, unique=True),
}
AGREEMENT_KINDS = st.sampled_from(
    [AgreementKind.MULTILATERAL_CONVENTION] * 3 + [AgreementKind.BILATERAL_TREATY, AgreementKind.MEMORANDUM]
)
LEVELS = st.sampled_from([AccessLevel.FULL, AccessLevel.FIELDS, AccessLevel.FIELDS, AccessLevel.HIT_ONLY])
EVERY_FIELD_OF = {kind: [f"{kind}.{name}" for name in model.model_fields] for kind, model in MODELS.items()}
FIELD_SETS = st.sampled_from([*KINDS, "", "", "", ""]).flatmap(
    lambda kind: (
        st.just(EVERY_FIELD_OF[kind])
        if kind
        else st.lists(st.sampled_from(ALL_PATHS), min_size=1, max_size=12, unique=True)
    )
)
CATEGORIES = st.lists(st.sampled_from(list(FILED_UNDER.values())), min_size=2, max_size=4, unique=True)
AGREED_PURPOSES = st.lists(st.sampled_from(PURPOSES), min_size=1, max_size=3, unique=True)
STARTS = st.sampled_from([-400, -400, -400, -1, 0, 1])
ENDS = st.sampled_from([None, None, None, None, -1, 0, 1, 365])
EVERY_COUNTRY = frozenset(COUNTRIES)
APPROVALS = st.sampled_from([True, True, False]).flatmap(
    lambda every: st.just(EVERY_COUNTRY) if every else st.frozensets(st.sampled_from(COUNTRIES), min_size=3)
)
RETIRED = st.sampled_from([False] * 7 + [True])
VERSIONS = st.integers(1, 3)
ONWARD = st.sampled_from([True, True, False])
MEMBERS = st.lists(st.sampled_from(COUNTRIES), min_size=1, max_size=4, unique=True)
# Each country has no law, or one of these (made once: a draw is cheaper than a validation).
WITHHELD: list[list[str]] = [
    [],
    ["health"],
    ["biometrics", "person.identifiers"],
    ["genetic", "vehicle.vin", "case.summary"],
    ["religion", "travel_document.holder", "vehicle.plate"],
    ["ethnicity"],
    # Inside fields: through options and lists, one inside another, one inside a withheld field.
    ["biometrics", "notice.subject.physical.marks", "notice.offences.law"],
    ["notice.subject.physical", "notice.subject.physical.height_cm", "person.names.full"],
    ["health", "notice.subject"],
]
LAWS = {
    country: st.sampled_from(
        [None] * 5
        + [
            NationalRules(
                country=country,
                never_shared=withheld,
                refused_purposes=refused,
                legal_reference=f"Law of {country}",
            )
            for withheld in WITHHELD
            for refused in ([], [], *([purpose] for purpose in PURPOSES))
        ]
    )
    for country in COUNTRIES
}
NO_ONE: frozenset[str] = frozenset()
SUSPENDED_AGENCIES = st.sampled_from([NO_ONE] * 10 + [frozenset({agency}) for agency in AGENCIES])
SUSPENDED_USERS = st.sampled_from([NO_ONE] * 6 + [frozenset({user}) for user in USERS])


@st.composite
def signed_agreements(draw: st.DrawFn, number: int) -> Signed:
    kind = draw(AGREEMENT_KINDS)
    level = draw(LEVELS)
    categories = draw(CATEGORIES)
    covered = {kind for kind, category in CATEGORY_OF_KIND.items() if category in categories}
    fields: list[str] = []
    if level is AccessLevel.FIELDS:
        # An agreement names fields only of the kinds its categories cover.
        fields = [path for path in draw(FIELD_SETS) if path.partition(".")[0] in covered]
        if not fields:
            fields = [f"{kind}.{content_fields(kind)[0]}" for kind in sorted(covered)] or []
        if not fields:
            level = AccessLevel.FULL
    valid_from = TODAY + draw(STARTS) * DAY
    until = draw(ENDS)
    valid_until = None if until is None or TODAY + until * DAY < valid_from else TODAY + until * DAY
    agreement = Agreement(
        id=f"agreement-{number}",
        title=f"Agreement {number}",
        kind=kind,
        parties=draw(PARTIES[kind]),
        categories=categories,
        purposes=draw(AGREED_PURPOSES),
        level=level,
        fields=fields,
        onward_transmission=draw(ONWARD),
        valid_from=valid_from,
        valid_until=valid_until,
        legal_reference=f"Legal reference {number}",
    )
    return Signed(agreement, draw(APPROVALS), draw(RETIRED), draw(VERSIONS))


@st.composite
def worlds(draw: st.DrawFn) -> World:
    count = draw(st.sampled_from([3, 4, 5, 6, 0, 1, 2, 3, 4, 5, 6]))
    agreements = tuple(draw(signed_agreements(number)) for number in range(count))
    groups = tuple(
        CountryGroup(name=name, title=name, countries=draw(MEMBERS)) for name in GROUP_NAMES if draw(st.booleans())
    )
    laws = tuple(law for law in (draw(LAWS[country]) for country in COUNTRIES) if law is not None)
    return World(agreements, groups, laws, draw(SUSPENDED_AGENCIES), draw(SUSPENDED_USERS))


def _listing(shape: str, mine: str, other: str) -> list[str]:
    return {"empty": [], "mine": [mine], "other": [other], "both": sorted({mine, other})}[shape]


SHAPES = st.sampled_from(["empty", "empty", "mine", "other", "both"])
ABSENT = st.sampled_from([True, True, False])


def listing(mine: str, pool: tuple[str, ...]) -> st.SearchStrategy[list[str]]:
    """A short list from the pool that names the requester's own ``mine`` often enough to matter."""
    return st.builds(_listing, SHAPES, st.just(mine), st.sampled_from(pool))


def allowing(mine: str, pool: tuple[str, ...]) -> st.SearchStrategy[list[str] | None]:
    """Mostly no list (null); otherwise a short one."""
    return st.builds(lambda absent, names: None if absent else names, ABSENT, listing(mine, pool))


@functools.cache
def restrictions_for(agency: str, country: str) -> st.SearchStrategy[Restrictions]:
    """The owner's restrictions as a requester meets them: none at all; flags, handling and
    hit-only lists; or every list too. Built once per requester: strategies are costly to build."""
    light: dict[str, st.SearchStrategy[Any]] = {
        "handling": st.sampled_from(Tlp),
        "consult_owner": st.booleans(),
        "onward_transmission": st.booleans(),
        "hit_only_countries": listing(country, COUNTRIES),
        "hit_only_agencies": listing(agency, AGENCIES),
    }
    lists: dict[str, st.SearchStrategy[Any]] = {
        "allowed_countries": allowing(country, COUNTRIES),
        "excluded_countries": listing(country, COUNTRIES),
        "allowed_agencies": allowing(agency, AGENCIES),
        "excluded_agencies": listing(agency, AGENCIES),
    }
    return st.just(Restrictions()) | st.builds(Restrictions, **light) | st.builds(Restrictions, **light, **lists)


DEADLINES = st.sampled_from([None] * 10 + [NOW - DAY, NOW, NOW + DAY])
REQUESTERS = st.builds(
    Requester,
    agency_id=st.sampled_from(AGENCIES),
    country=st.sampled_from(COUNTRIES),
    purpose=st.sampled_from(PURPOSES),
    user_id=st.one_of(st.none(), st.sampled_from(USERS)),
)
# Mostly someone else's record: the owner rule would otherwise decide half the cases.
OWNERS = {
    agency: st.sampled_from([*(other for other in AGENCIES if other != agency)] * 3 + [agency]) for agency in AGENCIES
}


@st.composite
def batches(draw: st.DrawFn, requester: Requester) -> list[Item]:
    return [
        Item(
            draw(st.sampled_from(KINDS)),
            draw(OWNERS[requester.agency_id]),
            draw(st.sampled_from([requester.country, *COUNTRIES])),  # at home a third of the time
            draw(restrictions_for(requester.agency_id, requester.country)),
            draw(DEADLINES),
        )
        for _ in range(draw(st.integers(1, 6)))
    ]


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[World, Requester, list[Item]]:
    requester = draw(REQUESTERS)
    return draw(worlds()), requester, draw(batches(requester))


STORED = {kind: stored_record(kind) for kind in KINDS}


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(scenario=scenarios())
def test_both_evaluations_follow_the_stated_rules(scenario: tuple[World, Requester, list[Item]]) -> None:
    world, requester, batch = scenario
    policy_set = world.policy_set()
    snapshot = policy_set.snapshot(NOW)
    # The drawn requester and its batch of records, and around them: the same agency asking from
    # every country, and from its own for every purpose; every record owned in every country, and
    # under every handling code with onward transmission allowed or not (and consulting the owner
    # or not). A decision costs microseconds, a drawn world much more.
    requesters = [requester] + [
        Requester(requester.agency_id, country, purpose, requester.user_id)
        for country in COUNTRIES
        for purpose in PURPOSES
        if (country, purpose) != (requester.country, requester.purpose)
        and (country == requester.country or purpose == requester.purpose)
    ]
    records = [(item, item.facts()) for item in batch]
    for item in batch:
        for country in COUNTRIES:
            if country != item.owner_country:
                variant = replace(item, owner_country=country)
                records.append((variant, variant.facts()))
        for handling, onward in itertools.product(Tlp, (False, True)):
            flags = {"handling": handling, "onward_transmission": onward, "consult_owner": not onward}
            if flags != item.restrictions.model_dump(include=set(flags)):
                variant = replace(item, restrictions=item.restrictions.model_copy(update=flags))
                records.append((variant, variant.facts()))
    for asking in requesters:
        compiled = snapshot.for_requester(asking)  # compiled once for every record
        for item, facts in records:
            want = expected(world, asking, item)
            if asking is requester and item in batch:
                event(f"outcome: {want.outcome.value}")
            check(want, policy_set, compiled, asking, item, facts)


def check(
    want: Expected,
    policy_set: PolicySet,
    compiled: RequesterPolicy,
    requester: Requester,
    item: Item,
    facts: RecordFacts,
) -> None:
    straightforward = decide(policy_set, requester, facts, NOW)
    fast = compiled.decide(facts)
    assert observed(straightforward) == want
    assert observed(fast) == want
    assert fast == straightforward  # the same decision, explanation included
    assert straightforward.rules
    assert len(set(straightforward.removed_fields)) == len(straightforward.removed_fields)

    # Whatever the decision, nothing it forbids leaves the node.
    owner = {"agency_id": item.owner_agency, "country": item.owner_country}
    record = {**STORED[item.kind], "owner": owner, "restrictions": facts.restrictions}
    shown = apply_decision(record, straightforward)
    content = set(content_fields(item.kind))
    if want.outcome is Outcome.NONE:
        assert shown is None
        return
    assert shown is not None
    assert shown["access"]["outcome"] == want.outcome.value
    if want.outcome is Outcome.HIT_ONLY:
        assert set(shown) == {"id", "kind", "owner", "access"}
        assert shown["owner"] == owner  # whom to ask
        assert not content & set(shown)
    elif want.outcome is Outcome.REDACTED:
        assert not want.removed & set(shown)
        assert content - want.removed <= set(shown)
        for path in shown["provenance"]["original_values"]:
            assert path.split("/")[0] not in want.removed
        assert_only_removed(record, shown, want.removed)
    else:
        assert content <= set(shown)


def leaves(value: Any, path: tuple[str | int, ...] = ()) -> dict[tuple[str | int, ...], Any]:
    """Every leaf of a JSON value by its full path (list indices included); an empty list or
    object is a leaf too."""
    if isinstance(value, dict) and value:
        return {found: leaf for key, item in value.items() for found, leaf in leaves(item, (*path, key)).items()}
    if isinstance(value, list) and value:
        return {found: leaf for index, item in enumerate(value) for found, leaf in leaves(item, (*path, index)).items()}
    return {path: value}


def under(path: tuple[str | int, ...], removed: Iterable[str]) -> bool:
    """The leaf lies under one of the removed fields (dotted, list indices skipped)."""
    names = tuple(part for part in path if isinstance(part, str))
    return any(names[: len(field.split("."))] == tuple(field.split(".")) for field in removed)


def assert_only_removed(record: dict[str, Any], shown: dict[str, Any], removed: Iterable[str]) -> None:
    """Nothing under a removed field is left, in the content or among the provenance's
    original values; everything else is left as it was (an object everything was taken out
    of stays, empty)."""
    removed = list(removed)
    content = {name: value for name, value in record.items() if name not in ("provenance", "access")}
    shown_content = {name: value for name, value in shown.items() if name not in ("provenance", "access")}
    kept = {path: leaf for path, leaf in leaves(content).items() if not under(path, removed)}
    survivors = leaves(shown_content)
    assert not [path for path in survivors if under(path, removed)]
    assert {path: survivors.get(path) for path in kept} == kept
    assert all(survivors[path] == {} for path in set(survivors) - set(kept))
    if "provenance" in record:
        originals = record["provenance"]["original_values"]
        assert shown["provenance"]["original_values"] == {
            key: value
            for key, value in originals.items()
            if not under(tuple(int(part) if part.isdigit() else part for part in key.split("/")), removed)
        }
