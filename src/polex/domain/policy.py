"""The legal framework as data: agreements, national rules, country groups and the words
they are written in (purposes, data categories, access levels, special categories).

These are the documents administrators write (in YAML or JSON) and the policy engine
(``polex.domain.decisions``) reads. Nothing here decides; it only says what a valid
document is, with errors that name the field.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, get_args, get_origin

from pydantic import BaseModel, Field, StringConstraints, field_validator, model_validator

from polex.domain.base import RecordKind, SchemaModel, Text
from polex.domain.countries import is_country_code, normalise_country_code
from polex.domain.person import Person
from polex.domain.records import RECORD_TYPES

Slug = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")]

ALL_MEMBERS = "all-members"
"""The party that stands for every member country of the network, the hub included."""


class Purpose(StrEnum):
    """Purposes of processing a requester may declare (INTERPOL RPD art. 10, Prüm, SIS)."""

    CRIMINAL_INVESTIGATION = "criminal_investigation"
    PROSECUTION = "prosecution"  # judicial proceedings, extradition, serving a sentence
    BORDER_CONTROL = "border_control"
    IMMINENT_THREAT = "imminent_threat"
    COUNTER_TERRORISM = "counter_terrorism"
    MISSING_PERSONS = "missing_persons"
    BODY_IDENTIFICATION = "body_identification"
    CRIME_PREVENTION = "crime_prevention"
    DATA_QUALITY = "data_quality"  # the hub's compliance review and data maintenance


class DataCategory(StrEnum):
    NOTICES = "notices"
    TRAVEL_DOCUMENTS = "travel_documents"
    VEHICLES = "vehicles"
    PERSONS = "persons"  # persons and criminal records
    CASES = "cases"
    BIOMETRICS = "biometrics"
    THREAT_INTELLIGENCE = "threat_intelligence"
    MESSAGES = "messages"


CATEGORY_OF_KIND: dict[str, DataCategory] = {
    RecordKind.PERSON.value: DataCategory.PERSONS,
    RecordKind.TRAVEL_DOCUMENT.value: DataCategory.TRAVEL_DOCUMENTS,
    RecordKind.VEHICLE.value: DataCategory.VEHICLES,
    RecordKind.CASE.value: DataCategory.CASES,
    RecordKind.NOTICE.value: DataCategory.NOTICES,
    RecordKind.INTEL.value: DataCategory.THREAT_INTELLIGENCE,
}


class SpecialCategory(StrEnum):
    """Special categories of personal data (GDPR art. 9, Law Enforcement Directive art. 10)
    that a country's law may forbid sending abroad."""

    BIOMETRICS = "biometrics"
    GENETIC = "genetic"
    HEALTH = "health"
    ETHNICITY = "ethnicity"
    RELIGION = "religion"
    POLITICAL_OPINION = "political_opinion"
    SEX_LIFE = "sex_life"


def _models_in(annotation: Any) -> tuple[type[BaseModel], ...]:
    """The models a field holds: itself, as an option, or in a list. A mapping's keys are
    data, not fields, so nothing inside one can be named."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return (annotation,)
    if get_origin(annotation) in (dict, Mapping):
        return ()
    return tuple(model for argument in get_args(annotation) for model in _models_in(argument))


def _fields_of(models: tuple[type[BaseModel], ...]) -> list[str]:
    return list(dict.fromkeys(name for model in models for name in model.model_fields))


def _walk(kind: str, names: list[str]) -> tuple[type[BaseModel], ...]:
    """The models the path ``kind.names...`` leads to (none at a plain value), or ValueError
    naming the first segment that is not a field where it stands."""
    path = ".".join([kind, *names])
    models: tuple[type[BaseModel], ...] = (RECORD_TYPES[RecordKind(kind)].content,)
    where = f"a {kind}"
    for depth, name in enumerate(names):
        fields = _fields_of(models)
        if not fields:
            raise ValueError(f"'{path}': {where} holds a value, not fields; '{name}' cannot be one of them")
        if name not in fields:
            raise ValueError(f"'{path}': '{name}' is not a field of {where} ({', '.join(fields)})")
        models = tuple(
            inner
            for model in models
            if name in model.model_fields
            for inner in _models_in(model.model_fields[name].annotation)
        )
        where = ".".join([kind, *names[: depth + 1]])
    return models


def content_fields(kind: str) -> tuple[str, ...]:
    """The top-level content fields of a record kind: what an agreement can name."""
    return tuple(RECORD_TYPES[RecordKind(kind)].content.model_fields)


def check_field_path(path: str, *, nested: bool = True) -> str:
    """``kind.field``, e.g. ``person.identifiers``; with ``nested``, also a field inside one,
    through options and lists, e.g. ``notice.subject.health``. Each segment must be a field
    of the model where it stands; the error names the first that is not."""
    kind, _, rest = path.partition(".")
    if kind not in CATEGORY_OF_KIND:
        raise ValueError(f"'{path}': '{kind}' is not a record kind ({', '.join(CATEGORY_OF_KIND)})")
    names = rest.split(".")
    if len(names) > 1 and not nested:
        raise ValueError(f"'{path}': name a whole field, 'kind.field' (only national rules name fields inside one)")
    _walk(kind, names)
    return path


def field_order(path: str) -> tuple[int, ...]:
    """Where a valid field path stands in its kind's content models: each segment's position
    among its model's fields, so that paths sort in the models' order."""
    kind, *names = path.split(".")
    return tuple(_fields_of(_walk(kind, names[:depth])).index(name) for depth, name in enumerate(names))


def _paths_to(target: type[BaseModel]) -> tuple[str, ...]:
    """Every path ``kind[.field...]`` at which a record kind's content is or holds a ``target``."""
    found: list[str] = []

    def walk(model: type[BaseModel], path: str, seen: frozenset[type[BaseModel]]) -> None:
        if model is target:
            found.append(path)
            return
        for name, info in model.model_fields.items():
            for inner in _models_in(info.annotation):
                if inner not in seen:
                    walk(inner, f"{path}.{name}", seen | {inner})

    for kind, record_type in RECORD_TYPES.items():
        walk(record_type.content, kind.value, frozenset({record_type.content}))
    return tuple(found)


PERSON_PATHS = _paths_to(Person)
"""Where a person is held, found in the content models: the person record itself and a
notice's subject (``person``, ``notice.subject``)."""

# Which fields of a person hold a special category. A national rule that names a category
# withholds them wherever a person is held; one that names a field path withholds that
# field, of that record kind only.
_PERSON_SPECIAL_FIELDS: dict[SpecialCategory, tuple[str, ...]] = {
    SpecialCategory.BIOMETRICS: ("biometrics",),
    SpecialCategory.GENETIC: ("biometrics",),  # DNA profiles are referenced there
    SpecialCategory.HEALTH: ("health",),
    SpecialCategory.ETHNICITY: (),
    SpecialCategory.RELIGION: (),
    SpecialCategory.POLITICAL_OPINION: (),
    SpecialCategory.SEX_LIFE: (),
}
SPECIAL_FIELDS: dict[SpecialCategory, tuple[str, ...]] = {
    category: tuple(f"{where}.{name}" for where in PERSON_PATHS for name in names)
    for category, names in _PERSON_SPECIAL_FIELDS.items()
}
"""The field paths each special category stands for, e.g. ``person.health`` and
``notice.subject.health``."""


FieldPath = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)]


class AgreementKind(StrEnum):
    MULTILATERAL_CONVENTION = "multilateral_convention"  # binds each party once it has acceded
    BILATERAL_TREATY = "bilateral_treaty"  # two countries; in force once both have approved
    MEMORANDUM = "memorandum"  # named countries; in force once all have approved


class AccessLevel(StrEnum):
    """What an agreement grants, best first."""

    FULL = "full"
    FIELDS = "fields"  # a named set of fields; the others are withheld
    HIT_ONLY = "hit_only"  # that a record exists, its reference and whom to ask


LEVEL_RANK = {AccessLevel.FULL: 3, AccessLevel.FIELDS: 2, AccessLevel.HIT_ONLY: 1}

_GROUP_NAME = re.compile(r"^[a-z][a-z0-9-]{1,62}$")


def _party(value: str) -> str:
    code = normalise_country_code(value)
    assert isinstance(code, str)
    if is_country_code(code):
        return code
    name = value.strip().lower()
    if _GROUP_NAME.match(name):
        return name
    raise ValueError(f"'{value}' is neither an ISO 3166-1 alpha-3 country code nor a group name")


class Agreement(SchemaModel):
    """A treaty, convention or memorandum that lets countries share categories of data for
    some purposes, at a level. The text is versioned; approvals belong to a version."""

    id: Slug = Field(description="A stable name, e.g. 'fra-ukr-criminal-records'")
    title: Text
    kind: AgreementKind
    parties: list[str] = Field(
        min_length=1, max_length=300, description=f"Country codes, group names, or '{ALL_MEMBERS}'"
    )
    categories: list[DataCategory] = Field(min_length=1)
    purposes: list[Purpose] = Field(min_length=1)
    level: AccessLevel
    fields: list[FieldPath] = Field(
        default_factory=list, description="With level 'fields': the fields shared, as 'kind.field'"
    )
    onward_transmission: bool = Field(default=False, description="Recipients may pass data on to third parties")
    valid_from: dt.date
    valid_until: dt.date | None = None
    legal_reference: Text = Field(description="Treaty and article, quoted in every decision it drives")

    @field_validator("parties")
    @classmethod
    def _parties(cls, parties: list[str]) -> list[str]:
        normalised = [_party(party) for party in parties]
        if len(set(normalised)) != len(normalised):
            raise ValueError("a party is named twice")
        return normalised

    @field_validator("fields")
    @classmethod
    def _fields(cls, fields: list[str]) -> list[str]:
        return [check_field_path(path, nested=False) for path in fields]

    @model_validator(mode="after")
    def _consistent(self) -> Agreement:
        if self.level is AccessLevel.FIELDS and not self.fields:
            raise ValueError("fields: level 'fields' needs the list of fields it shares")
        if self.level is not AccessLevel.FIELDS and self.fields:
            raise ValueError(f"fields: only level 'fields' takes a list of fields, not '{self.level.value}'")
        if self.valid_until is not None and self.valid_until < self.valid_from:
            raise ValueError("valid_until: is before valid_from")
        kinds = {kind for kind, category in CATEGORY_OF_KIND.items() if category in self.categories}
        stray = [path for path in self.fields if path.partition(".")[0] not in kinds]
        if stray:
            raise ValueError(f"fields: {', '.join(stray)} belong to no category this agreement covers")
        countries = [party for party in self.parties if is_country_code(party)]
        if self.kind is AgreementKind.BILATERAL_TREATY and (len(self.parties) != 2 or len(countries) != 2):
            raise ValueError("parties: a bilateral treaty has exactly two parties, both countries")
        if self.kind is AgreementKind.MEMORANDUM and len(countries) != len(self.parties):
            # Every party of a memorandum approves it; a group cannot.
            raise ValueError("parties: a memorandum names countries, not groups")
        return self


class NationalRules(SchemaModel):
    """What one country's law says about sending its police data abroad."""

    country: Annotated[str, StringConstraints(min_length=3, max_length=3)]
    never_shared: list[str] = Field(
        default_factory=list,
        description="Special categories (e.g. 'biometrics', 'health': wherever a person is held) or field paths "
        "('person.identifiers', or inside a field: 'notice.subject.health') never sent abroad",
    )
    retention_months: dict[DataCategory, Annotated[int, Field(ge=1, le=1200)]] = Field(
        default_factory=dict, description="Maximum retention per data category; 60 months where not said"
    )
    refused_purposes: list[Purpose] = Field(
        default_factory=list, description="Purposes for which this country's data is never shared"
    )
    legal_reference: Text = Field(description="The national law, quoted in every decision it drives")

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        code = normalise_country_code(value)
        if not isinstance(code, str) or not is_country_code(code):
            raise ValueError(f"'{value}' is not an ISO 3166-1 alpha-3 country code")
        return code

    @field_validator("never_shared")
    @classmethod
    def _never_shared(cls, values: list[str]) -> list[str]:
        checked = []
        for value in values:
            if value in SpecialCategory.__members__.values():
                checked.append(value)
            elif "." in value:
                checked.append(check_field_path(value))
            else:
                known = ", ".join(category.value for category in SpecialCategory)
                raise ValueError(
                    f"'{value}' is neither a special category ({known}) nor a field path 'kind.field[.inner...]'"
                )
        return checked

    def withheld_fields(self) -> frozenset[str]:
        """Every field path (``kind.field``, or nested ``kind.field.inner``) these rules never
        send abroad."""
        paths: set[str] = set()
        for value in self.never_shared:
            if "." in value:
                paths.add(value)
            else:
                paths.update(SPECIAL_FIELDS[SpecialCategory(value)])
        return frozenset(paths)


class CountryGroup(SchemaModel):
    """A named set of countries (a region, a union) that agreements can name as a party."""

    name: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[a-z][a-z0-9-]{1,62}$")]
    title: Text
    countries: list[str] = Field(min_length=1, max_length=300)

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, name: str) -> str:
        if name == ALL_MEMBERS:
            raise ValueError(f"'{ALL_MEMBERS}' is built in and stands for every member")
        if is_country_code(name.upper()):
            raise ValueError(f"'{name}' is a country code; a group needs another name")
        return name

    @field_validator("countries")
    @classmethod
    def _countries(cls, values: list[str]) -> list[str]:
        codes = []
        for value in values:
            code = normalise_country_code(value)
            if not isinstance(code, str) or not is_country_code(code):
                raise ValueError(f"'{value}' is not an ISO 3166-1 alpha-3 country code")
            codes.append(code)
        return sorted(set(codes))


DEFAULT_RETENTION_MONTHS = 60  # INTERPOL's five years
REVIEW_BEFORE_EXPIRY = dt.timedelta(days=183)  # the source is asked to review six months before


def retention_deadline(created_at: dt.datetime, months: int) -> dt.datetime:
    """``months`` calendar months after ``created_at`` (the 31st becomes the month's last day)."""
    month_index = created_at.month - 1 + months
    year, month = created_at.year + month_index // 12, month_index % 12 + 1
    next_month = dt.date(year + month // 12, month % 12 + 1, 1)
    last_day = (next_month - dt.timedelta(days=1)).day
    return created_at.replace(year=year, month=month, day=min(created_at.day, last_day))


def retention_months(rules: NationalRules | None, category: DataCategory) -> int:
    """How long the owner country's law lets a record of this category be kept."""
    if rules is None:
        return DEFAULT_RETENTION_MONTHS
    return rules.retention_months.get(category, DEFAULT_RETENTION_MONTHS)
