"""Threat intelligence in the common schema: the STIX 2.1 objects police exchange.

The model follows STIX 2.1 property for property, so that what a partner sends comes back out
as it was sent, and keeps to plain pydantic (the ``stix2`` library lives in
:mod:`polex.formats.stix`, which reads and writes the JSON form).

Typed objects: :class:`Indicator`, :class:`ThreatActor`, :class:`Malware`,
:class:`AttackPattern`, :class:`Identity`, :class:`Sighting`, :class:`Relationship` and
:class:`MarkingDefinition`. Every other STIX object (campaigns, reports, tools, cyber
observables, custom objects ...) is a :class:`GenericObject` that keeps its type, its id and
all its properties as received. :data:`IntelObject` is the union of them all and
:class:`IntelBundle` a set of them. :class:`Intel` is the content of a stored record of kind
``intel``: one object, held and shown in its STIX JSON form.

Choices, made once here:

- Each object keeps its STIX id (``type--uuid``) as its stable id. New objects get a random
  (version 4) UUID, as STIX asks for objects that are not cyber observables.
- Nothing is lost: a property STIX or a producer adds that polex does not model is kept in the
  object's ``extra`` (the same holds inside external references, kill chain phases and granular
  markings); STIX extensions are kept in ``extensions``.
- Text is kept exactly as received (not trimmed); like every polex record it may not hold
  control characters other than tab, line feed and carriage return, anywhere, because the
  stores cannot keep NUL and no intelligence needs the others.
- Timestamps are instants in UTC, kept to the microsecond; a timestamp with finer digits that
  are not zeros is refused rather than rounded. ``created`` and ``modified`` are written with
  at least millisecond precision, as STIX requires; how many trailing zeros a producer wrote
  is not kept (``...09:00:00.000000Z`` is the same instant as ``...09:00:00Z``).
- A list or dictionary that is absent and one that is empty are the same thing (STIX allows
  no empty lists), so lists default to empty and empty ones are not written.
- Markings: ``object_marking_refs`` and ``granular_markings`` are kept as received, in their
  order. :attr:`StixObject.tlp` maps the Traffic Light Protocol markings among them onto
  :class:`~polex.domain.base.Tlp`: the TLP 2.0 marking definitions (CLEAR, GREEN, AMBER,
  AMBER+STRICT, RED), and the TLP 1.0 ones STIX 2.1 predefines (WHITE is read as CLEAR).
  :meth:`StixObject.with_tlp` sets a TLP 2.0 marking; :meth:`IntelBundle.tlp_of` also knows
  the TLP marking definitions a bundle brings itself. Statement and other markings are
  :class:`MarkingDefinition` objects, referenced by id like any marking. Granular markings
  that give a language (``lang`` without ``marking_ref``) are refused: the OASIS validator
  does not accept them, and polex writes nothing it does not accept.
- The rules STIX states as MUSTs that can be checked on one object are checked here (id
  prefixes, what a reference may point to, the order of timestamps, that granular marking
  selectors point at something), so that an object polex makes is valid STIX.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Annotated, Any, ClassVar, Final, Literal, Self, TypeVar

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    JsonValue,
    PlainSerializer,
    StringConstraints,
    Tag,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from polex.domain.base import SchemaModel, Tlp, control_character_problem

SPEC_VERSION: Final = "2.1"

FROM_STIX: Final = "from_stix"
"""Validation context key: the data is STIX being read, so no default is filled in for it."""


def _from_stix(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get(FROM_STIX))


# --- Identifiers ------------------------------------------------------------------------------

_UUID_PATTERN: Final = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-5][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}"
_ID_PATTERN: Final = rf"^[a-z][a-z0-9-]+[a-z0-9]--{_UUID_PATTERN}$"
_TYPE_PATTERN: Final = r"^[a-z][a-z0-9-]+[a-z0-9]$"

StixId = Annotated[str, StringConstraints(pattern=_ID_PATTERN)]
"""A STIX identifier: the object's type, two hyphens and a UUID (``indicator--8e2e2d2b-...``)."""

StixType = Annotated[str, StringConstraints(pattern=_TYPE_PATTERN, min_length=3, max_length=250)]


def stix_type_of(identifier: str) -> str:
    """The object type an identifier names (``indicator`` for ``indicator--...``)."""
    return identifier.split("--", 1)[0]


def new_stix_id(object_type: str) -> str:
    """A new identifier for an object of ``object_type``, with a random (version 4) UUID."""
    return f"{object_type}--{uuid.uuid4()}"


def _reference(*allowed: str, refused: Sequence[str] = ()) -> AfterValidator:
    """A check that an identifier names an object of one of the ``allowed`` types (any if
    none) and of none of the ``refused`` ones."""

    def check(identifier: str) -> str:
        object_type = stix_type_of(identifier)
        if allowed and object_type not in allowed:
            raise ValueError(f"must refer to {' or '.join(allowed)} objects, not to a {object_type}")
        if object_type in refused:
            raise ValueError(f"may not refer to a {object_type}")
        return identifier

    return AfterValidator(check)


IdentityRef = Annotated[StixId, _reference("identity")]
MarkingRef = Annotated[StixId, _reference("marking-definition")]
# What relationships and sightings may not point at (STIX 2.1 sections 5.1 and 5.2).
_NOT_RELATABLE: Final = ("relationship", "sighting", "bundle", "marking-definition", "language-content")
RelatableRef = Annotated[StixId, _reference(refused=_NOT_RELATABLE)]

# --- Timestamps -------------------------------------------------------------------------------

_TIMESTAMP: Final = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?Z")


def _to_utc(value: object) -> object:
    """A STIX timestamp (``2016-04-06T20:03:48.000Z``) or an aware datetime, as a datetime in UTC."""
    if isinstance(value, str):
        match = _TIMESTAMP.fullmatch(value)
        if match is None:
            raise ValueError("a STIX timestamp is written YYYY-MM-DDTHH:MM:SS[.fraction]Z, in UTC")
        whole, fraction = match.group(1), match.group(2) or ""
        if fraction[6:].strip("0"):
            raise ValueError("timestamps are kept to the microsecond; finer digits would be lost")
        if whole.endswith(":60"):
            raise ValueError("a leap second (:60) cannot be kept")
        try:
            parsed = dt.datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S")  # UTC is set below
        except ValueError as error:
            raise ValueError(f"not a real date and time: {error}") from None
        value = parsed.replace(microsecond=int(fraction[:6].ljust(6, "0")), tzinfo=dt.UTC)
    if not isinstance(value, dt.datetime):
        raise ValueError("a STIX timestamp is a string like 2016-04-06T20:03:48.000Z")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("a timestamp needs a time zone (STIX timestamps are in UTC)")
    if value.year < 1000:
        raise ValueError("timestamps before the year 1000 are not accepted")
    return value.astimezone(dt.UTC)


def format_timestamp(value: dt.datetime, *, millisecond: bool = False) -> str:
    """``value`` as a STIX timestamp in UTC: fractions of a second as far as they are not zero,
    and to at least the millisecond if ``millisecond`` (as ``created`` and ``modified`` need)."""
    utc = value.astimezone(dt.UTC)
    fraction = f"{utc.microsecond:06d}".rstrip("0")
    if millisecond:
        fraction = fraction.ljust(3, "0")
    return utc.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + "Z"


def _format_millisecond(value: dt.datetime) -> str:
    return format_timestamp(value, millisecond=True)


Timestamp = Annotated[
    dt.datetime, BeforeValidator(_to_utc), PlainSerializer(format_timestamp, return_type=str, when_used="json")
]
"""An instant, in UTC, written as a STIX timestamp."""

MillisecondTimestamp = Annotated[
    dt.datetime, BeforeValidator(_to_utc), PlainSerializer(_format_millisecond, return_type=str, when_used="json")
]
"""``created`` and ``modified``: written to at least the millisecond."""


def now() -> dt.datetime:
    """The current time, to the millisecond (the precision ``created`` and ``modified`` keep)."""
    current = dt.datetime.now(dt.UTC)
    return current.replace(microsecond=current.microsecond // 1000 * 1000)


_MILLISECOND_PROPERTIES: Final = frozenset({"created", "modified"})

# --- Values ------------------------------------------------------------------------------------

Confidence = Annotated[int, Field(ge=0, le=100)]
LanguageTag = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$")]
"""An RFC 5646 language tag (``en``, ``fr-CA``)."""


def _check_text(value: Any, path: str = "") -> None:
    """Refuse control characters anywhere in a JSON value, keys included."""
    if isinstance(value, str):
        problem = control_character_problem(value)
        if problem is not None:
            where = f" (at {path.lstrip('/')})" if path else ""
            raise ValueError(f"{problem}{where}")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _check_text(key, f"{path}/{key}")
            _check_text(item, f"{path}/{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_text(item, f"{path}/{index}")


def _check_present(properties: Mapping[str, Any]) -> None:
    """STIX has no null properties and no empty lists: a property without a value is absent."""
    for key, value in properties.items():
        if value is None or value == []:
            raise ValueError(
                f"'{key}' is {'null' if value is None else 'an empty list'}: STIX leaves such properties out"
            )


def _json_value(value: Any, *, millisecond: bool = False) -> Any:
    """A field's value as STIX JSON."""
    if isinstance(value, StixModel):
        return value.to_stix()
    if isinstance(value, dt.datetime):
        return format_timestamp(value, millisecond=millisecond)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [_json_value(item) for item in value]
    if isinstance(value, Mapping):
        return {key: _json_value(item) for key, item in value.items()}
    return value


class StixModel(SchemaModel):
    """A STIX structure: its properties are the model's fields, and ``extra`` keeps the ones
    polex does not model, exactly as received."""

    model_config = ConfigDict(str_strip_whitespace=False)  # STIX text is kept exactly as sent

    # Fields that hold lists of STIX structures, read from STIX JSON with their own class.
    _nested: ClassVar[Mapping[str, type[StixModel]]] = {}

    extra: dict[str, JsonValue] = Field(
        default_factory=dict, description="Properties polex does not model (custom properties), as received"
    )

    @field_validator("extra")
    @classmethod
    def _extra_is_extra(cls, extra: dict[str, JsonValue]) -> dict[str, JsonValue]:
        modelled = sorted(set(extra) & cls.stix_properties())
        if modelled:
            raise ValueError(f"{', '.join(modelled)} {'is a' if len(modelled) == 1 else 'are'} modelled property")
        _check_present(extra)
        _check_text(extra)
        return extra

    @classmethod
    def stix_properties(cls) -> frozenset[str]:
        """The STIX properties this class models."""
        return frozenset(cls.model_fields) - {"extra"}

    @classmethod
    def fields_from_stix(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        """Field values from STIX JSON: modelled properties by name, the others in ``extra``."""
        known = cls.stix_properties()
        fields: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in data.items():
            if key not in known:
                extra[key] = value
                continue
            nested = cls._nested.get(key)
            if nested is not None and isinstance(value, list):
                value = [nested.fields_from_stix(item) if isinstance(item, Mapping) else item for item in value]
            fields[key] = value
        if extra:
            fields["extra"] = extra
        return fields

    @classmethod
    def from_stix(cls, data: Mapping[str, Any]) -> Self:
        """The model of STIX JSON (a decoded object); pydantic's ValidationError if it does not
        fit. Nothing is made up: what STIX requires must be there."""
        return cls.model_validate(cls.fields_from_stix(data), context={FROM_STIX: True})

    def _stix_order(self) -> list[str]:
        return list(type(self).model_fields)

    def to_stix(self) -> dict[str, Any]:
        """The STIX JSON form (a dict), with ``extra`` merged back; empty lists are left out."""
        data: dict[str, Any] = {}
        for name in self._stix_order():
            if name == "extra":
                continue
            value = getattr(self, name)
            if value is None or (isinstance(value, list | dict) and not value):
                continue
            data[name] = _json_value(value, millisecond=name in _MILLISECOND_PROPERTIES)
        data.update(_json_value(self.extra))
        return data


# --- Common structures ------------------------------------------------------------------------


_CVE: Final = re.compile(r"CVE-\d{4}-(0\d{3}|[1-9]\d{3,})")
_CAPEC: Final = re.compile(r"CAPEC-\d+")
# The hash algorithms STIX names, and what their values look like (STIX 2.1 section 10.7).
_HASHES: Final[Mapping[str, re.Pattern[str]]] = {
    "MD5": re.compile(r"[a-fA-F0-9]{32}"),
    "SHA-1": re.compile(r"[a-fA-F0-9]{40}"),
    "SHA-256": re.compile(r"[a-fA-F0-9]{64}"),
    "SHA-512": re.compile(r"[a-fA-F0-9]{128}"),
    "SHA3-256": re.compile(r"[a-fA-F0-9]{64}"),
    "SHA3-512": re.compile(r"[a-fA-F0-9]{128}"),
    "SSDEEP": re.compile(r"[a-zA-Z0-9/+:.]{1,128}"),
    "TLSH": re.compile(r"[a-zA-Z0-9]{70}"),
}
HashName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9_-]{3,250}$")]


class ExternalReference(StixModel):
    """A pointer to information outside STIX: a MITRE ATT&CK technique, a CVE, a report."""

    source_name: str
    description: str | None = None
    url: str | None = None
    hashes: dict[HashName, str] = Field(default_factory=dict)
    external_id: str | None = None

    @model_validator(mode="after")
    def _says_something(self) -> Self:
        if self.description is None and self.url is None and self.external_id is None:
            raise ValueError("an external reference needs a description, a url or an external_id")
        for source, pattern, example in (("cve", _CVE, "CVE-2021-44228"), ("capec", _CAPEC, "CAPEC-163")):
            if self.source_name == source and (self.external_id is None or not pattern.fullmatch(self.external_id)):
                raise ValueError(f"a {source} reference needs an external_id like {example}")
        looks_registered = self.external_id is not None and bool(
            _CVE.fullmatch(self.external_id) or _CAPEC.fullmatch(self.external_id)
        )
        if self.source_name not in ("cve", "capec") and looks_registered:
            raise ValueError("a CVE or CAPEC id goes with source_name 'cve' or 'capec'")
        for name, value in self.hashes.items():
            hash_pattern = _HASHES.get(name)
            if hash_pattern is not None and not hash_pattern.fullmatch(value):
                raise ValueError(f"'{value}' is not a {name} hash")
        return self


class KillChainPhase(StixModel):
    """A phase of a kill chain (``mitre-attack`` / ``initial-access``, ``lockheed-martin-cyber-kill-chain`` ...)."""

    kill_chain_name: str
    phase_name: str


Selector = Annotated[str, StringConstraints(pattern=r"^([a-z0-9_-]{3,249}(\.(\[\d+\]|[a-z0-9_-]{1,250}))*|id)$")]
"""A granular marking selector: a property path (``description``, ``external_references.[0].url``)."""


class GranularMarking(StixModel):
    """A marking that applies to some properties only, named by selectors (``description``,
    ``external_references.[0].url``).

    STIX 2.1 also allows a granular marking that gives the language of some properties
    (``lang`` instead of ``marking_ref``); the OASIS validator refuses those, and polex writes
    nothing the validator refuses, so they are not accepted."""

    marking_ref: MarkingRef
    selectors: list[Selector]

    @model_validator(mode="after")
    def _marks_something(self) -> Self:
        if not self.selectors:
            raise ValueError("a granular marking needs at least one selector")
        return self


_SELECTOR_INDEX: Final = re.compile(r"\[(\d+)\]")


def _selector_reaches(data: Any, selector: str) -> bool:
    """Whether a granular marking selector names something present in ``data``."""
    for segment in selector.split("."):
        index = _SELECTOR_INDEX.fullmatch(segment)
        if index is not None:
            if not isinstance(data, list) or int(index.group(1)) >= len(data):
                return False
            data = data[int(index.group(1))]
        elif isinstance(data, Mapping) and segment in data:
            data = data[segment]
        else:
            return False
    return True


# --- Markings ---------------------------------------------------------------------------------

TLP_2_EXTENSION: Final = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
"""The extension the TLP 2.0 marking definitions carry their level in (OASIS cti-stix-common-objects)."""

TLP_2_CREATED: Final = dt.datetime(2022, 10, 1, tzinfo=dt.UTC)

TLP_2_MARKINGS: Final[Mapping[Tlp, str]] = {
    Tlp.CLEAR: "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    Tlp.GREEN: "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    Tlp.AMBER: "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    Tlp.AMBER_STRICT: "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    Tlp.RED: "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
"""The published TLP 2.0 marking definitions, by level."""

TLP_1_MARKINGS: Final[Mapping[str, Tlp]] = {
    "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9": Tlp.CLEAR,  # TLP:WHITE
    "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da": Tlp.GREEN,
    "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82": Tlp.AMBER,
    "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed": Tlp.RED,
}
"""The TLP 1.0 marking definitions STIX 2.1 predefines (section 7.2.1.4); WHITE reads as CLEAR."""

TLP_MARKINGS: Final[Mapping[str, Tlp]] = {
    **{identifier: tlp for tlp, identifier in TLP_2_MARKINGS.items()},
    **TLP_1_MARKINGS,
}
"""Every marking definition id that stands for a TLP level."""

_TLP_ORDER: Final = (Tlp.CLEAR, Tlp.GREEN, Tlp.AMBER, Tlp.AMBER_STRICT, Tlp.RED)
_TLP_2_NAMES: Final[Mapping[str, Tlp]] = {tlp.value.removeprefix("TLP:").lower(): tlp for tlp in Tlp}
_TLP_1_NAMES: Final[Mapping[str, Tlp]] = {"white": Tlp.CLEAR, "green": Tlp.GREEN, "amber": Tlp.AMBER, "red": Tlp.RED}


def strictest(levels: Sequence[Tlp]) -> Tlp | None:
    """The most restrictive of ``levels`` (``None`` for none)."""
    return max(levels, key=_TLP_ORDER.index, default=None)


def tlp_of(marking_refs: Sequence[str], definitions: Mapping[str, Tlp] = TLP_MARKINGS) -> Tlp | None:
    """The TLP level marking references stand for: the strictest one if several (a producer
    that marks an object twice means the stricter handling)."""
    return strictest([definitions[ref] for ref in marking_refs if ref in definitions])


# --- Objects ----------------------------------------------------------------------------------


class StixObject(StixModel):
    """What every typed STIX object has: its type, its id, its markings and extensions."""

    stix_type: ClassVar[str]

    spec_version: Literal["2.1"] = SPEC_VERSION
    id: StixId
    object_marking_refs: list[MarkingRef] = Field(default_factory=list)
    granular_markings: list[GranularMarking] = Field(default_factory=list)
    extensions: dict[str, dict[str, JsonValue]] = Field(
        default_factory=dict, description="STIX extensions, by extension id or name, as received"
    )

    _nested = {"granular_markings": GranularMarking}

    @model_validator(mode="before")
    @classmethod
    def _new_id(cls, data: Any, info: ValidationInfo) -> Any:
        """A new object gets a new id; one read from STIX must have its own."""
        if isinstance(data, dict) and "id" not in data and not _from_stix(info) and hasattr(cls, "stix_type"):
            data = {**data, "id": new_stix_id(cls.stix_type)}
        return data

    @field_validator("extensions")
    @classmethod
    def _extensions_text(cls, extensions: dict[str, dict[str, JsonValue]]) -> dict[str, dict[str, JsonValue]]:
        _check_text(extensions)
        return extensions

    @model_validator(mode="after")
    def _stix_rules(self) -> Self:
        object_type = getattr(self, "type", None)
        if object_type is not None and stix_type_of(self.id) != object_type:
            raise ValueError(
                f"the id of a {object_type} starts with '{object_type}--', not '{stix_type_of(self.id)}--'"
            )
        data = self.to_stix() if self.granular_markings else {}
        for marking in self.granular_markings:
            for selector in marking.selectors:
                if not _selector_reaches(data, selector):
                    raise ValueError(f"granular marking selector '{selector}' points at nothing in the object")
        return self

    def _stix_order(self) -> list[str]:
        first = ["type", "spec_version", "id"]
        return first + [name for name in type(self).model_fields if name not in first]

    @property
    def tlp(self) -> Tlp | None:
        """The TLP level the object is marked with, from its ``object_marking_refs``."""
        return tlp_of(self.object_marking_refs)

    def with_tlp(self, tlp: Tlp) -> Self:
        """A copy marked with the TLP 2.0 marking for ``tlp``, in place of any TLP marking."""
        refs = [ref for ref in self.object_marking_refs if ref not in TLP_MARKINGS]
        return self.model_copy(update={"object_marking_refs": [TLP_2_MARKINGS[tlp], *refs]})


class DomainObject(StixObject):
    """The common properties of STIX domain and relationship objects (SDOs and SROs)."""

    created_by_ref: IdentityRef | None = None
    created: MillisecondTimestamp
    modified: MillisecondTimestamp
    revoked: bool | None = None
    labels: list[str] = Field(default_factory=list)
    confidence: Confidence | None = None
    lang: LanguageTag | None = None
    external_references: list[ExternalReference] = Field(default_factory=list)

    _nested = {"granular_markings": GranularMarking, "external_references": ExternalReference}
    # (earlier, later, strictly): pairs of timestamps STIX orders.
    _ordered: ClassVar[Sequence[tuple[str, str, bool]]] = ()

    @model_validator(mode="before")
    @classmethod
    def _new_object_times(cls, data: Any, info: ValidationInfo) -> Any:
        """A new object is created now, and modified when created; one read from STIX must
        have both."""
        if not isinstance(data, dict) or _from_stix(info):
            return data
        if "modified" not in data:
            created = data.get("created", now())
            data = {**data, "created": created, "modified": created}
        elif "created" not in data:
            data = {**data, "created": now()}
        return data

    @model_validator(mode="after")
    def _timestamps(self) -> Self:
        if self.modified < self.created:
            raise ValueError("modified must not be earlier than created")
        for earlier, later, strictly in self._ordered:
            first, second = getattr(self, earlier), getattr(self, later)
            if first is not None and second is not None and (second <= first if strictly else second < first):
                raise ValueError(f"{later} must be later than {'' if strictly else 'or equal to '}{earlier}")
        return self

    def _stix_order(self) -> list[str]:
        first = ["type", "spec_version", "id", "created_by_ref", "created", "modified"]
        return first + [name for name in type(self).model_fields if name not in first]


class Indicator(DomainObject):
    """A pattern that detects suspicious or malicious activity (an IP address, a file hash, a
    YARA rule ...), and when it is valid."""

    stix_type: ClassVar[str] = "indicator"
    type: Literal["indicator"] = "indicator"
    name: str | None = None
    description: str | None = None
    indicator_types: list[str] = Field(default_factory=list)
    pattern: str
    pattern_type: str = Field(description="stix, pcre, sigma, snort, suricata, yara (an open vocabulary)")
    pattern_version: str | None = None
    valid_from: Timestamp
    valid_until: Timestamp | None = None
    kill_chain_phases: list[KillChainPhase] = Field(default_factory=list)

    _nested = {**DomainObject._nested, "kill_chain_phases": KillChainPhase}
    _ordered = (("valid_from", "valid_until", True),)


class ThreatActor(DomainObject):
    """Individuals, groups or organisations believed to act with malicious intent."""

    stix_type: ClassVar[str] = "threat-actor"
    type: Literal["threat-actor"] = "threat-actor"
    name: str
    description: str | None = None
    threat_actor_types: list[str] = Field(default_factory=list)
    aliases: list[str] = Field(default_factory=list)
    first_seen: Timestamp | None = None
    last_seen: Timestamp | None = None
    roles: list[str] = Field(default_factory=list)
    goals: list[str] = Field(default_factory=list)
    sophistication: str | None = None
    resource_level: str | None = None
    primary_motivation: str | None = None
    secondary_motivations: list[str] = Field(default_factory=list)
    personal_motivations: list[str] = Field(default_factory=list)

    _ordered = (("first_seen", "last_seen", False),)


class Malware(DomainObject):
    """Malicious code: a family (``is_family``) or one instance of it."""

    stix_type: ClassVar[str] = "malware"
    type: Literal["malware"] = "malware"
    name: str | None = None
    description: str | None = None
    malware_types: list[str] = Field(default_factory=list)
    is_family: bool
    aliases: list[str] = Field(default_factory=list)
    kill_chain_phases: list[KillChainPhase] = Field(default_factory=list)
    first_seen: Timestamp | None = None
    last_seen: Timestamp | None = None
    operating_system_refs: list[Annotated[StixId, _reference("software")]] = Field(default_factory=list)
    architecture_execution_envs: list[str] = Field(default_factory=list)
    implementation_languages: list[str] = Field(default_factory=list)
    capabilities: list[str] = Field(default_factory=list)
    sample_refs: list[Annotated[StixId, _reference("file", "artifact")]] = Field(default_factory=list)

    _nested = {**DomainObject._nested, "kill_chain_phases": KillChainPhase}
    _ordered = (("first_seen", "last_seen", False),)

    @model_validator(mode="after")
    def _family_named(self) -> Self:
        if self.is_family and self.name is None:
            raise ValueError("a malware family needs a name")
        return self


class AttackPattern(DomainObject):
    """A way adversaries attack, usually tied to MITRE ATT&CK or CAPEC by external references."""

    stix_type: ClassVar[str] = "attack-pattern"
    type: Literal["attack-pattern"] = "attack-pattern"
    name: str
    description: str | None = None
    aliases: list[str] = Field(default_factory=list)
    kill_chain_phases: list[KillChainPhase] = Field(default_factory=list)

    _nested = {**DomainObject._nested, "kill_chain_phases": KillChainPhase}

    def external_ids(self, source_name: str) -> list[str]:
        """The ids the external references from ``source_name`` give (``capec``, ``mitre-attack``)."""
        return [
            ref.external_id for ref in self.external_references if ref.source_name == source_name and ref.external_id
        ]

    @property
    def mitre_attack_ids(self) -> list[str]:
        """The MITRE ATT&CK technique ids (``T1566.001``)."""
        return self.external_ids("mitre-attack")


class Identity(DomainObject):
    """A person, an organisation or a group: who produced, sighted or is targeted."""

    stix_type: ClassVar[str] = "identity"
    type: Literal["identity"] = "identity"
    name: str
    description: str | None = None
    roles: list[str] = Field(default_factory=list)
    identity_class: str | None = None
    sectors: list[str] = Field(default_factory=list)
    contact_information: str | None = None


class Sighting(DomainObject):
    """Something (an indicator, malware, a threat actor ...) was seen: by whom or where
    (``where_sighted_refs``), when, how many times."""

    stix_type: ClassVar[str] = "sighting"
    type: Literal["sighting"] = "sighting"
    description: str | None = None
    first_seen: Timestamp | None = None
    last_seen: Timestamp | None = None
    count: Annotated[int, Field(ge=0, le=999_999_999)] | None = None
    sighting_of_ref: RelatableRef
    observed_data_refs: list[Annotated[StixId, _reference("observed-data")]] = Field(default_factory=list)
    where_sighted_refs: list[Annotated[StixId, _reference("identity", "location")]] = Field(default_factory=list)
    summary: bool | None = None

    _ordered = (("first_seen", "last_seen", False),)


class Relationship(DomainObject):
    """``source_ref`` *relationship_type* ``target_ref``: an indicator *indicates* a malware,
    a threat actor *uses* an attack pattern."""

    stix_type: ClassVar[str] = "relationship"
    type: Literal["relationship"] = "relationship"
    relationship_type: Annotated[str, StringConstraints(pattern=r"^[a-z0-9\-]+$")]
    description: str | None = None
    source_ref: RelatableRef
    target_ref: RelatableRef
    start_time: Timestamp | None = None
    stop_time: Timestamp | None = None

    _ordered = (("start_time", "stop_time", True),)


class MarkingDefinition(StixObject):
    """A marking: a TLP level (1.0, or 2.0 through its extension), a statement (copyright,
    terms of use), or a marking of another kind."""

    stix_type: ClassVar[str] = "marking-definition"
    type: Literal["marking-definition"] = "marking-definition"
    created_by_ref: IdentityRef | None = None
    created: MillisecondTimestamp
    name: str | None = None
    definition_type: str | None = None
    definition: dict[str, JsonValue] | None = None
    external_references: list[ExternalReference] = Field(default_factory=list)

    _nested = {"granular_markings": GranularMarking, "external_references": ExternalReference}

    @model_validator(mode="before")
    @classmethod
    def _new_marking_time(cls, data: Any, info: ValidationInfo) -> Any:
        if isinstance(data, dict) and "created" not in data and not _from_stix(info):
            data = {**data, "created": now()}
        return data

    @field_validator("definition")
    @classmethod
    def _definition_text(cls, definition: dict[str, JsonValue] | None) -> dict[str, JsonValue] | None:
        _check_text(definition)
        return definition

    @model_validator(mode="after")
    def _defined(self) -> Self:
        if (self.definition_type is None) != (self.definition is None):
            raise ValueError("definition_type and definition go together")
        if self.definition_type is None and not self.extensions:
            raise ValueError("a marking definition needs a definition or an extension that defines it")
        if self.id in self.object_marking_refs or any(g.marking_ref == self.id for g in self.granular_markings):
            raise ValueError("a marking definition may not mark itself")
        if self.definition_type == "statement" and not isinstance((self.definition or {}).get("statement"), str):
            raise ValueError("a statement marking's definition holds its text in 'statement'")
        return self

    def _stix_order(self) -> list[str]:
        first = ["type", "spec_version", "id", "created_by_ref", "created"]
        return first + [name for name in type(self).model_fields if name not in first]

    @property
    def defines_tlp(self) -> Tlp | None:
        """The TLP level this marking stands for: a TLP 2.0 marking (by its extension), a TLP
        1.0 one (``definition_type`` ``tlp``), or one of the published ids."""
        extension = self.extensions.get(TLP_2_EXTENSION, {})
        level = extension.get("tlp_2_0")
        if isinstance(level, str) and level.lower() in _TLP_2_NAMES:
            return _TLP_2_NAMES[level.lower()]
        if self.definition_type == "tlp":
            level = (self.definition or {}).get("tlp")
            if isinstance(level, str) and level.lower() in _TLP_1_NAMES:
                return _TLP_1_NAMES[level.lower()]
        return TLP_MARKINGS.get(self.id)

    @property
    def statement(self) -> str | None:
        """The text of a statement marking."""
        if self.definition_type != "statement" or self.definition is None:
            return None
        text = self.definition.get("statement")
        return text if isinstance(text, str) else None

    @classmethod
    def for_tlp(cls, tlp: Tlp) -> MarkingDefinition:
        """The published TLP 2.0 marking definition for ``tlp``."""
        return cls(
            id=TLP_2_MARKINGS[tlp],
            created=TLP_2_CREATED,
            name=tlp.value,
            extensions={TLP_2_EXTENSION: {"extension_type": "property-extension", "tlp_2_0": tlp.value[4:].lower()}},
        )

    @classmethod
    def for_statement(cls, statement: str, **fields: Any) -> MarkingDefinition:
        """A statement marking (copyright, terms of use, handling conditions)."""
        return cls(definition_type="statement", definition={"statement": statement}, **fields)


# Every object type STIX 2.1 defines (sections 4, 5, 6 and 7); others are custom.
STIX_21_TYPES: Final = frozenset(
    {
        # domain objects
        *("attack-pattern", "campaign", "course-of-action", "grouping", "identity", "incident", "indicator"),
        *("infrastructure", "intrusion-set", "location", "malware", "malware-analysis", "note"),
        *("observed-data", "opinion", "report", "threat-actor", "tool", "vulnerability"),
        # relationship objects
        *("relationship", "sighting"),
        # cyber-observable objects
        *("artifact", "autonomous-system", "directory", "domain-name", "email-addr", "email-message", "file"),
        *("ipv4-addr", "ipv6-addr", "mac-addr", "mutex", "network-traffic", "process", "software", "url"),
        *("user-account", "windows-registry-key", "x509-certificate"),
        # meta objects
        *("language-content", "marking-definition", "extension-definition"),
    }
)


class GenericObject(SchemaModel):
    """A STIX object polex has no typed model for (a campaign, a report, a tool, a cyber
    observable, a custom object ...): its type, its id and all its other properties, as received."""

    model_config = ConfigDict(str_strip_whitespace=False)

    type: StixType
    id: StixId
    properties: dict[str, JsonValue] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _generic(self) -> Self:
        if self.type in TYPED_OBJECTS:
            raise ValueError(f"a {self.type} is read into its own model, not a generic object")
        if stix_type_of(self.id) != self.type:
            raise ValueError(f"the id of a {self.type} starts with '{self.type}--', not '{stix_type_of(self.id)}--'")
        clash = sorted({"type", "id"} & set(self.properties))
        if clash:
            raise ValueError(
                f"{' and '.join(clash)} {'is' if len(clash) == 1 else 'are'} not one of the other properties"
            )
        _check_present(self.properties)
        _check_text(self.properties)
        return self

    @property
    def is_custom(self) -> bool:
        """Whether the type is not one STIX 2.1 defines."""
        return self.type not in STIX_21_TYPES

    @property
    def object_marking_refs(self) -> list[str]:
        refs = self.properties.get("object_marking_refs")
        return [ref for ref in refs if isinstance(ref, str)] if isinstance(refs, list) else []

    @property
    def tlp(self) -> Tlp | None:
        """The TLP level the object is marked with, from its ``object_marking_refs``."""
        return tlp_of(self.object_marking_refs)

    @classmethod
    def from_stix(cls, data: Mapping[str, Any]) -> GenericObject:
        properties = {key: value for key, value in data.items() if key not in ("type", "id")}
        return cls.model_validate({"type": data.get("type"), "id": data.get("id"), "properties": properties})

    def to_stix(self) -> dict[str, Any]:
        return {"type": self.type, "id": self.id, **_json_value(self.properties)}


TypedObject = Indicator | ThreatActor | Malware | AttackPattern | Identity | Sighting | Relationship | MarkingDefinition

TYPED_OBJECTS: Final[Mapping[str, type[TypedObject]]] = {
    model.stix_type: model
    for model in (Indicator, ThreatActor, Malware, AttackPattern, Identity, Sighting, Relationship, MarkingDefinition)
}
"""The typed model of each STIX type polex models."""


def _object_kind(value: Any) -> str:
    object_type = value.get("type") if isinstance(value, Mapping) else getattr(value, "type", None)
    return object_type if isinstance(object_type, str) and object_type in TYPED_OBJECTS else "generic"


IntelObject = Annotated[
    Annotated[Indicator, Tag("indicator")]
    | Annotated[ThreatActor, Tag("threat-actor")]
    | Annotated[Malware, Tag("malware")]
    | Annotated[AttackPattern, Tag("attack-pattern")]
    | Annotated[Identity, Tag("identity")]
    | Annotated[Sighting, Tag("sighting")]
    | Annotated[Relationship, Tag("relationship")]
    | Annotated[MarkingDefinition, Tag("marking-definition")]
    | Annotated[GenericObject, Tag("generic")],
    Discriminator(_object_kind),
]
"""Any STIX object: typed where polex models its type, generic otherwise."""


def intel_object_from_stix(data: Mapping[str, Any]) -> TypedObject | GenericObject:
    """The intel object for one STIX object (decoded JSON); pydantic's ValidationError if it does not fit."""
    model = TYPED_OBJECTS.get(data.get("type", ""))
    if model is None:
        return GenericObject.from_stix(data)
    return model.from_stix(data)


_T = TypeVar("_T", bound=StixModel | GenericObject)

_BUNDLE_ID: Final = rf"^bundle--{_UUID_PATTERN}$"


class IntelBundle(SchemaModel):
    """A set of intel objects, as a STIX bundle carries them; the id is the bundle's."""

    model_config = ConfigDict(str_strip_whitespace=False)

    id: Annotated[str, StringConstraints(pattern=_BUNDLE_ID)] = Field(default_factory=lambda: new_stix_id("bundle"))
    objects: list[IntelObject] = Field(default_factory=list)

    def get(self, identifier: str) -> TypedObject | GenericObject | None:
        """The object with id ``identifier`` (the latest version if several), or None."""
        found = [obj for obj in self.objects if obj.id == identifier]
        return max(found, key=_version_key) if found else None

    def of_type(self, model: type[_T]) -> list[_T]:
        """The objects of one model (``bundle.of_type(Indicator)``)."""
        return [obj for obj in self.objects if isinstance(obj, model)]

    def tlp_markings(self) -> dict[str, Tlp]:
        """Marking definition ids that stand for a TLP level: the published ones, and those the
        bundle defines itself."""
        found = dict(TLP_MARKINGS)
        for obj in self.objects:
            if isinstance(obj, MarkingDefinition) and obj.defines_tlp is not None:
                found[obj.id] = obj.defines_tlp
        return found

    def tlp_of(self, obj: TypedObject | GenericObject) -> Tlp | None:
        """The TLP level an object is marked with, including markings the bundle defines."""
        return tlp_of(obj.object_marking_refs, self.tlp_markings())


def _version_key(obj: TypedObject | GenericObject) -> dt.datetime:
    modified = getattr(obj, "modified", None)
    return modified if isinstance(modified, dt.datetime) else dt.datetime.min.replace(tzinfo=dt.UTC)


# --- Stored records -----------------------------------------------------------------------------


def tlp_defined_by(data: Any) -> Tlp | None:
    """The TLP level a marking definition in STIX JSON stands for, read without validating it
    (as :attr:`MarkingDefinition.defines_tlp`): an import needs the TLP markings a bundle
    defines before it reads the objects that use them, and a marking definition that is not
    valid does not make a TLP:RED object less red."""
    if not isinstance(data, Mapping) or data.get("type") != "marking-definition":
        return None
    found: list[Tlp] = []
    extensions = data.get("extensions")
    extension = extensions.get(TLP_2_EXTENSION) if isinstance(extensions, Mapping) else None
    level = extension.get("tlp_2_0") if isinstance(extension, Mapping) else None
    if isinstance(level, str) and level.lower() in _TLP_2_NAMES:
        found.append(_TLP_2_NAMES[level.lower()])
    definition = data.get("definition")
    level = definition.get("tlp") if data.get("definition_type") == "tlp" and isinstance(definition, Mapping) else None
    if isinstance(level, str) and level.lower() in _TLP_1_NAMES:
        found.append(_TLP_1_NAMES[level.lower()])
    identifier = data.get("id")
    if isinstance(identifier, str) and identifier in TLP_MARKINGS:
        found.append(TLP_MARKINGS[identifier])
    return strictest(found)


def _stix_fields(value: Any) -> Any:
    """One object in STIX JSON as the fields of its polex model (custom properties in
    ``extra``, a generic object's in ``properties``), for the union to validate; a model
    passes as it is. Unlike :func:`intel_object_from_stix`, what STIX requires but the
    client left out is made (a new object's id, ``created`` and ``modified``)."""
    if not isinstance(value, Mapping):
        return value
    object_type = value.get("type")
    model = TYPED_OBJECTS.get(object_type) if isinstance(object_type, str) else None
    if model is not None:
        return model.fields_from_stix(value)
    fields: dict[str, Any] = {key: value[key] for key in ("type", "id") if key in value}
    fields["properties"] = {key: item for key, item in value.items() if key not in ("type", "id")}
    return fields


def _stix_json(obj: TypedObject | GenericObject) -> dict[str, Any]:
    return obj.to_stix()


_STIX_SPEC: Final = "https://docs.oasis-open.org/cti/stix/v2.1/os/stix-v2.1-os.html"
_MARKING_ID_PATTERN: Final = rf"^marking-definition--{_UUID_PATTERN}$"
_STIX_JSON_PROPERTIES: Final[dict[str, Any]] = {
    "type": {"type": "string", "pattern": _TYPE_PATTERN, "description": "indicator, threat-actor, relationship ..."},
    "spec_version": {"const": SPEC_VERSION},
    "id": {"type": "string", "pattern": _ID_PATTERN, "description": "The STIX id: the type, '--' and a UUID"},
    "created": {"type": "string", "format": "date-time"},
    "modified": {"type": "string", "format": "date-time"},
    "object_marking_refs": {
        "type": "array",
        "minItems": 1,
        "items": {"type": "string", "pattern": _MARKING_ID_PATTERN},
        "description": "Markings; a TLP marking sets the record's handling (restrictions.handling) at least as strict",
    },
}
_STIX_JSON_DESCRIPTION: Final = (
    f"One STIX 2.1 object in its JSON form ({_STIX_SPEC}). Indicators, threat actors, malware, attack patterns, "
    "identities, sightings, relationships and marking definitions are checked property by property; other types, "
    "custom ones included, and custom properties are kept as received. The OASIS STIX validator must pass it."
)
_STIX_JSON_IN: Final[dict[str, Any]] = {
    "type": "object",
    "title": "StixObject",
    "description": _STIX_JSON_DESCRIPTION + " A new object of a typed kind gets an id, created and modified.",
    "properties": _STIX_JSON_PROPERTIES,
    "required": ["type"],
    "additionalProperties": True,
}
_STIX_JSON_OUT: Final[dict[str, Any]] = {
    **_STIX_JSON_IN,
    "description": _STIX_JSON_DESCRIPTION,
    "required": ["type", "id"],
}

StixJsonObject = Annotated[
    IntelObject,
    BeforeValidator(_stix_fields),
    PlainSerializer(_stix_json, return_type=dict[str, JsonValue]),
    WithJsonSchema(_STIX_JSON_IN, mode="validation"),
    WithJsonSchema(_STIX_JSON_OUT, mode="serialization"),
]
"""An intel object read from and written as STIX JSON (not as the model's own fields)."""


class Intel(SchemaModel):
    """The content of an ``intel`` record: one STIX 2.1 object, held, shown and exported in
    its STIX JSON form. Its STIX id is its key (one record per object and owner country); its
    TLP marking sets the record's handling (``polex.intel.feature``)."""

    model_config = ConfigDict(str_strip_whitespace=False)  # STIX text is kept exactly as sent

    stix: StixJsonObject

    @property
    def tlp(self) -> Tlp | None:
        """The TLP level the object's own markings give (the published TLP marking definitions)."""
        return self.stix.tlp
