"""The policy documents: what a valid agreement, national rule and country group is, and
that an invalid one is refused with an error that names the field."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from polex.domain.case import Case
from polex.domain.document import TravelDocument
from polex.domain.person import Person
from polex.domain.policy import (
    ALL_MEMBERS,
    CATEGORY_OF_KIND,
    PERSON_PATHS,
    SPECIAL_FIELDS,
    AccessLevel,
    Agreement,
    AgreementKind,
    CountryGroup,
    DataCategory,
    NationalRules,
    Purpose,
    SpecialCategory,
    check_field_path,
    content_fields,
    field_order,
)
from polex.domain.vehicle import Vehicle


def agreement_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "fra-ukr-criminal-records",
        "title": "Franco-Ukrainian exchange of criminal records",
        "kind": "bilateral_treaty",
        "parties": ["FRA", "UKR"],
        "categories": ["persons", "cases"],
        "purposes": ["criminal_investigation", "prosecution"],
        "level": "full",
        "valid_from": "2024-01-01",
        "legal_reference": "Treaty of Kyiv, art. 4",
    }
    body.update(overrides)
    return body


def rules_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"country": "FRA", "legal_reference": "Code de procédure pénale, art. 694"}
    body.update(overrides)
    return body


def refusal(model: type[BaseModel], body: dict[str, Any]) -> list[tuple[str, str]]:
    """The errors validating ``body`` raises, as (location, message) pairs."""
    with pytest.raises(ValidationError) as info:
        model.model_validate(body)
    return [(".".join(str(part) for part in error["loc"]), error["msg"]) for error in info.value.errors()]


def assert_names_field(errors: list[tuple[str, str]], field: str, fragment: str) -> None:
    """One error is about ``field``, either by its location or (for checks across fields)
    by the message's opening ``field:``, and says ``fragment``."""
    for location, message in errors:
        about_field = location.split(".")[0] == field or message.startswith(f"Value error, {field}:")
        if about_field and fragment in message:
            return
    raise AssertionError(f"no error names {field!r} with {fragment!r}: {errors}")


# -- agreements ------------------------------------------------------------------------


def test_a_valid_bilateral_treaty() -> None:
    agreement = Agreement.model_validate(agreement_body())
    assert agreement.kind is AgreementKind.BILATERAL_TREATY
    assert agreement.parties == ["FRA", "UKR"]
    assert agreement.categories == [DataCategory.PERSONS, DataCategory.CASES]
    assert agreement.purposes == [Purpose.CRIMINAL_INVESTIGATION, Purpose.PROSECUTION]
    assert agreement.level is AccessLevel.FULL
    assert agreement.fields == []
    assert agreement.onward_transmission is False
    assert agreement.valid_from == dt.date(2024, 1, 1)
    assert agreement.valid_until is None


def test_a_valid_multilateral_convention_names_countries_groups_and_all_members() -> None:
    agreement = Agreement.model_validate(
        agreement_body(
            id="prum",
            kind="multilateral_convention",
            parties=["eu", "UKR", ALL_MEMBERS],
            level="hit_only",
            valid_until="2030-12-31",
        )
    )
    assert agreement.parties == ["eu", "UKR", ALL_MEMBERS]
    assert agreement.level is AccessLevel.HIT_ONLY
    assert agreement.valid_until == dt.date(2030, 12, 31)


def test_a_valid_memorandum_of_several_countries_sharing_fields() -> None:
    agreement = Agreement.model_validate(
        agreement_body(
            id="vehicles-mou",
            kind="memorandum",
            parties=["FRA", "DEU", "ITA"],
            categories=["vehicles", "travel_documents"],
            purposes=["border_control"],
            level="fields",
            fields=["vehicle.vin", "vehicle.plate", "travel_document.number"],
            onward_transmission=True,
        )
    )
    assert agreement.kind is AgreementKind.MEMORANDUM
    assert agreement.fields == ["vehicle.vin", "vehicle.plate", "travel_document.number"]
    assert agreement.onward_transmission is True


def test_an_agreement_valid_for_a_single_day_is_valid() -> None:
    agreement = Agreement.model_validate(agreement_body(valid_from="2025-03-01", valid_until="2025-03-01"))
    assert agreement.valid_until == agreement.valid_from


def test_country_codes_of_parties_are_normalised() -> None:
    agreement = Agreement.model_validate(agreement_body(parties=["fra", " ukr "]))
    assert agreement.parties == ["FRA", "UKR"]
    convention = Agreement.model_validate(agreement_body(kind="multilateral_convention", parties=["d", "EU"]))
    assert convention.parties == ["DEU", "eu"]  # ICAO's one-letter Germany; group names are lower case


@pytest.mark.parametrize("party", ["Atlantis Republic", "F.R.A", "fr_a", "-eu", "1eu"])
def test_an_unknown_party_is_refused(party: str) -> None:
    errors = refusal(Agreement, agreement_body(kind="multilateral_convention", parties=["FRA", party]))
    assert_names_field(errors, "parties", "is neither an ISO 3166-1 alpha-3 country code nor a group name")


def test_a_party_named_twice_is_refused() -> None:
    assert_names_field(refusal(Agreement, agreement_body(parties=["FRA", "fra"])), "parties", "named twice")
    assert_names_field(
        refusal(Agreement, agreement_body(kind="multilateral_convention", parties=["eu", "FRA", "EU"])),
        "parties",
        "named twice",
    )


@pytest.mark.parametrize(
    "parties",
    [["FRA", "UKR", "DEU"], ["FRA"], ["FRA", "eu"], ["FRA", ALL_MEMBERS]],
    ids=["three-parties", "one-party", "a-group", "all-members"],
)
def test_a_bilateral_treaty_has_exactly_two_countries(parties: list[str]) -> None:
    errors = refusal(Agreement, agreement_body(kind="bilateral_treaty", parties=parties))
    assert_names_field(errors, "parties", "a bilateral treaty has exactly two parties, both countries")


@pytest.mark.parametrize("group", ["eu", ALL_MEMBERS])
def test_a_memorandum_names_no_group(group: str) -> None:
    errors = refusal(Agreement, agreement_body(kind="memorandum", parties=["FRA", "DEU", group]))
    assert_names_field(errors, "parties", "a memorandum names countries, not groups")


def test_level_fields_needs_its_fields() -> None:
    errors = refusal(Agreement, agreement_body(level="fields"))
    assert_names_field(errors, "fields", "level 'fields' needs the list of fields")


@pytest.mark.parametrize("level", ["full", "hit_only"])
def test_only_level_fields_takes_fields(level: str) -> None:
    errors = refusal(Agreement, agreement_body(level=level, fields=["person.names"]))
    assert_names_field(errors, "fields", f"only level 'fields' takes a list of fields, not '{level}'")


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("person.shoe_size", "'shoe_size' is not a field of a person"),
        ("boat.name", "'boat' is not a record kind"),
        ("person", "'' is not a field of a person"),
        ("persons.names", "'persons' is not a record kind"),
        ("vehicle.id", "'id' is not a field of a vehicle"),  # envelope fields are not for agreements to name
        ("person.physical.height_cm", "name a whole field, 'kind.field'"),  # shared fields are whole fields
    ],
)
def test_an_unknown_field_path_is_refused(path: str, fragment: str) -> None:
    errors = refusal(Agreement, agreement_body(level="fields", fields=["person.names", path]))
    assert_names_field(errors, "fields", fragment)


def test_valid_until_before_valid_from_is_refused() -> None:
    errors = refusal(Agreement, agreement_body(valid_from="2025-01-02", valid_until="2025-01-01"))
    assert_names_field(errors, "valid_until", "is before valid_from")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"id": "Fra Ukr"}, "id"),
        ({"id": "x"}, "id"),
        ({"title": ""}, "title"),
        ({"parties": []}, "parties"),
        ({"categories": []}, "categories"),
        ({"categories": ["shoes"]}, "categories"),
        ({"purposes": []}, "purposes"),
        ({"purposes": ["curiosity"]}, "purposes"),
        ({"level": "everything"}, "level"),
        ({"kind": "handshake"}, "kind"),
        ({"legal_reference": " "}, "legal_reference"),
        ({"approved_by": ["FRA"]}, "approved_by"),  # approvals are not part of the text
    ],
)
def test_other_malformed_agreements_name_the_field(overrides: dict[str, Any], field: str) -> None:
    errors = refusal(Agreement, agreement_body(**overrides))
    assert field in {location.split(".")[0] for location, _ in errors}, errors


# -- the vocabulary ----------------------------------------------------------------------


def test_every_record_kind_has_a_data_category() -> None:
    assert CATEGORY_OF_KIND == {
        "person": DataCategory.PERSONS,
        "travel_document": DataCategory.TRAVEL_DOCUMENTS,
        "vehicle": DataCategory.VEHICLES,
        "case": DataCategory.CASES,
        "notice": DataCategory.NOTICES,
        "intel": DataCategory.THREAT_INTELLIGENCE,
    }


@pytest.mark.parametrize(
    ("kind", "model"), [("person", Person), ("travel_document", TravelDocument), ("vehicle", Vehicle), ("case", Case)]
)
def test_content_fields_are_the_kinds_own_fields(kind: str, model: type[BaseModel]) -> None:
    assert content_fields(kind) == tuple(model.model_fields)
    for name in content_fields(kind):
        assert check_field_path(f"{kind}.{name}") == f"{kind}.{name}"


def test_special_fields_name_real_fields() -> None:
    assert set(SPECIAL_FIELDS) == set(SpecialCategory)
    for paths in SPECIAL_FIELDS.values():
        for path in paths:
            check_field_path(path)
    assert "person.biometrics" in SPECIAL_FIELDS[SpecialCategory.BIOMETRICS]
    assert "person.health" in SPECIAL_FIELDS[SpecialCategory.HEALTH]


def test_special_fields_reach_every_person_a_record_holds() -> None:
    # Found in the content models, not listed by hand: a kind that comes to hold a person is covered.
    assert PERSON_PATHS == ("person", "notice.subject")
    assert SPECIAL_FIELDS[SpecialCategory.HEALTH] == ("person.health", "notice.subject.health")
    assert SPECIAL_FIELDS[SpecialCategory.BIOMETRICS] == ("person.biometrics", "notice.subject.biometrics")
    assert SPECIAL_FIELDS[SpecialCategory.GENETIC] == SPECIAL_FIELDS[SpecialCategory.BIOMETRICS]


@pytest.mark.parametrize(
    "path",
    [
        "notice.subject.health",
        "notice.subject.biometrics",
        "notice.subject.physical.marks",  # an option inside an option
        "notice.offences.description.text",  # through a list
        "notice.body.physical.height_cm",
        "person.names.full",
        "travel_document.holder.birth_date",
    ],
)
def test_a_field_path_may_reach_inside_a_field(path: str) -> None:
    assert check_field_path(path) == path


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("notice.subject.nonsense", "'nonsense' is not a field of notice.subject (names, sex,"),
        ("notice.subjects.health", "'subjects' is not a field of a notice"),
        ("notice.subject.physical.shoe_size", "'shoe_size' is not a field of notice.subject.physical"),
        ("notice.subject.health.text", "notice.subject.health holds a value, not fields; 'text' cannot be"),
        # A mapping's keys are data: nothing inside one can be named.
        ("notice.summary.translations.fr", "notice.summary.translations holds a value, not fields"),
        ("notice.subject..health", "'' is not a field of notice.subject"),
    ],
)
def test_a_nested_field_path_names_its_bad_segment(path: str, fragment: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(f"'{path}': ")) as info:
        check_field_path(path)
    assert fragment in str(info.value)
    errors = refusal(NationalRules, rules_body(never_shared=["health", path]))
    assert_names_field(errors, "never_shared", fragment)


def test_field_order_follows_the_models() -> None:
    paths = ["notice.subject.biometrics", "notice.subject.health", "notice.notice_type", "notice.subject.names"]
    assert sorted(paths, key=field_order) == [
        "notice.notice_type",
        "notice.subject.names",
        "notice.subject.health",
        "notice.subject.biometrics",
    ]


# -- national rules ----------------------------------------------------------------------


def test_valid_national_rules() -> None:
    rules = NationalRules.model_validate(
        rules_body(
            country="fra",
            never_shared=["biometrics", "health", "person.identifiers", "notice.subject.identifiers"],
            retention_months={"persons": 1, "vehicles": 1200},
            refused_purposes=["crime_prevention"],
        )
    )
    assert rules.country == "FRA"
    assert rules.never_shared == ["biometrics", "health", "person.identifiers", "notice.subject.identifiers"]
    assert rules.retention_months == {DataCategory.PERSONS: 1, DataCategory.VEHICLES: 1200}
    assert rules.refused_purposes == [Purpose.CRIME_PREVENTION]
    empty = NationalRules.model_validate(rules_body())
    assert (empty.never_shared, empty.retention_months, empty.refused_purposes) == ([], {}, [])


@pytest.mark.parametrize("country", ["XYZ", "FR", "France", "eu"])
def test_national_rules_need_a_country_code(country: str) -> None:
    errors = refusal(NationalRules, rules_body(country=country))
    assert "country" in {location for location, _ in errors}, errors


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("tattoos", "'tattoos' is neither a special category"),
        ("Biometrics", "'Biometrics' is neither a special category"),
        ("person.shoe_size", "'shoe_size' is not a field of a person"),
        ("boat.name", "'boat' is not a record kind"),
    ],
)
def test_never_shared_takes_special_categories_and_field_paths(value: str, fragment: str) -> None:
    errors = refusal(NationalRules, rules_body(never_shared=["health", value]))
    assert_names_field(errors, "never_shared", fragment)


@pytest.mark.parametrize("months", [0, -1, 1201])
def test_retention_is_between_one_month_and_a_century(months: int) -> None:
    errors = refusal(NationalRules, rules_body(retention_months={"persons": months}))
    assert "retention_months.persons" in {location for location, _ in errors}, errors


def test_retention_is_per_data_category() -> None:
    errors = refusal(NationalRules, rules_body(retention_months={"shoes": 12}))
    assert errors[0][0].startswith("retention_months.shoes"), errors


def test_an_unknown_refused_purpose_is_refused() -> None:
    errors = refusal(NationalRules, rules_body(refused_purposes=["curiosity"]))
    assert errors[0][0].startswith("refused_purposes"), errors


def test_withheld_fields() -> None:
    rules = NationalRules.model_validate(
        rules_body(never_shared=["biometrics", "genetic", "health", "religion", "vehicle.vin", "person.identifiers"])
    )
    assert rules.withheld_fields() == frozenset(
        {
            "person.biometrics",
            "person.health",
            "notice.subject.biometrics",
            "notice.subject.health",
            "vehicle.vin",
            "person.identifiers",
        }
    )
    nested = NationalRules.model_validate(rules_body(never_shared=["notice.subject.health"]))
    assert nested.withheld_fields() == frozenset({"notice.subject.health"})  # a path is of its kind only
    assert NationalRules.model_validate(rules_body(never_shared=["ethnicity"])).withheld_fields() == frozenset()
    assert NationalRules.model_validate(rules_body()).withheld_fields() == frozenset()


# -- country groups ----------------------------------------------------------------------


def test_a_valid_country_group_normalises_and_sorts_its_codes() -> None:
    group = CountryGroup.model_validate({"name": "eu", "title": "European Union", "countries": ["fra", "DEU", "Fra"]})
    assert group.name == "eu"
    assert group.countries == ["DEU", "FRA"]


def test_all_members_is_reserved() -> None:
    errors = refusal(CountryGroup, {"name": ALL_MEMBERS, "title": "Everyone", "countries": ["FRA"]})
    assert_names_field(errors, "name", "built in")


@pytest.mark.parametrize("code", ["XYZ", "FR", "France", ""])
def test_a_group_of_unknown_countries_is_refused(code: str) -> None:
    errors = refusal(CountryGroup, {"name": "eu", "title": "European Union", "countries": ["FRA", code]})
    assert_names_field(errors, "countries", "is not an ISO 3166-1 alpha-3 country code")


@pytest.mark.parametrize("name", ["EU", "e", "eu region", "1eu"])
def test_a_group_name_is_a_lower_case_slug(name: str) -> None:
    errors = refusal(CountryGroup, {"name": name, "title": "A group", "countries": ["FRA"]})
    assert "name" in {location for location, _ in errors}, errors


def test_a_group_needs_countries() -> None:
    errors = refusal(CountryGroup, {"name": "eu", "title": "European Union", "countries": []})
    assert "countries" in {location for location, _ in errors}, errors


def test_fields_of_a_kind_the_agreement_does_not_cover_are_refused() -> None:
    body = agreement_body(categories=["vehicles"], level="fields", fields=["person.names"])
    errors = refusal(Agreement, body)
    assert any("person.names belong to no category" in reason for _, reason in errors), errors


def test_a_group_cannot_take_a_country_code_for_its_name() -> None:
    errors = refusal(CountryGroup, {"name": "can", "title": "Cannes", "countries": ["FRA"]})
    assert any("is a country code" in reason for _, reason in errors), errors
