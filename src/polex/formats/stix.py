"""STIX 2.1 (JSON): read bundles into intel objects, write intel objects as bundles ("stix2.1").

Reading takes a bundle, or one object on its own, in UTF-8 JSON. Each object goes through three
checks, and the first that fails makes it a :class:`~polex.formats.registry.Rejection` that
names the property at fault (a path such as ``external_references/0/url``; ``$`` for the object
as a whole) and why, located as ``objects[3] indicator--...``:

1. the OASIS STIX validator (``stix2-validator``) must report no error; its warnings (custom
   properties without an extension, a URL without a hash ...) do not stop an object, and are
   kept in :attr:`StixReadResult.warnings` and :attr:`StixAdapter.warnings`;
2. the ``stix2`` library must be able to build it, so that whatever polex accepts it can write
   back;
3. it must fit the polex model (:mod:`polex.domain.intel`), which also refuses control
   characters and timestamps finer than the microsecond.

Input that is not UTF-8 or not JSON, or a bundle that is not well formed, is one rejection for
the whole input (``$``, located ``bundle`` or by line and column); a bundle that carries
properties a bundle does not have is a rejection for the bundle, and its objects are still read.
JSON that repeats a property name in one object is refused, since one of the values would be
lost. Reading never raises: anything that goes wrong is a rejection.

Object types polex has no typed model for are not rejected: spec types (campaigns, reports,
tools, cyber observables ...) are kept as :class:`~polex.domain.intel.GenericObject` with all
their properties, and so are custom object types, because dropping part of what a partner
sent would change its meaning. ``StixAdapter(allow_custom=False)`` is the strict mode: custom
object types, custom properties and extensions the ``stix2`` library does not know are then
rejected, by name.

Writing builds every object with the ``stix2`` library (which checks it again) and the bundle
with ``stix2.v21.Bundle``. The ``stix2`` library leaves out optional properties set to their
default (``"revoked": false``) and adds defaults that were absent (``pattern_version``,
``revoked``, ``defanged``, a cyber observable's ``spec_version``); polex writes exactly the
properties each object holds, with the values ``stix2`` gives them. What is written is checked
with the STIX validator before anything is returned: an error is a :class:`StixWriteError`
(nothing is written), warnings are returned (and kept in :attr:`StixAdapter.warnings`).

A round trip (STIX, polex, STIX) keeps every property and value. Only how timestamps are
written can change: ``2014-05-08T09:00:00.000000Z`` comes back as ``2014-05-08T09:00:00Z``,
the same instant (STIX does not give trailing zeros a meaning; ``created`` and ``modified``
keep at least milliseconds).

An import stores each object read as an ``intel`` record (:mod:`polex.intel.feature`), its
handling from its TLP markings: :attr:`StixAdapter.tlp_markings` holds those the input
defines, known before the first object is yielded. :func:`check_object` checks an object the
API stores as the reader checks what it reads, and writing also takes the contents of intel
records, as exports give them.
"""

from __future__ import annotations

import json
import logging
import re
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import IO, Any, Final

import stix2  # type: ignore[import-untyped]  # stix2 ships no type information
from pydantic import BaseModel, ValidationError
from stix2.serialization import STIXJSONIncludeOptionalDefaultsEncoder  # type: ignore[import-untyped]  # as above

from polex.domain.base import Tlp
from polex.domain.intel import (
    TLP_MARKINGS,
    TYPED_OBJECTS,
    GenericObject,
    Intel,
    IntelBundle,
    TypedObject,
    intel_object_from_stix,
    tlp_defined_by,
)
from polex.errors import FieldError, ValidationFailed
from polex.formats.registry import Accepted, ReadResult, Rejection

log = logging.getLogger("polex.formats.stix")

FORMAT_NAME: Final = "stix2.1"
MEDIA_TYPES: Final = ("application/stix+json;version=2.1", "application/stix+json", "application/json")
WHOLE: Final = "$"  # the field of a rejection that concerns an object or the input as a whole

_BUNDLE_PROPERTIES: Final = frozenset({"type", "id", "objects"})
_BUNDLE_ID: Final = re.compile(
    r"bundle--[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-5][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}"
)
_TYPE: Final = re.compile(r"[a-z][a-z0-9-]+[a-z0-9]")

IntelItem = TypedObject | GenericObject
"""One intel object, as read and written (a stored ``intel`` record's content holds one)."""


@dataclass(frozen=True)
class StixWarning:
    """Something the STIX validator (or the ``stix2`` library) advises against, in an object
    that is nevertheless valid."""

    object_id: str
    message: str

    def __str__(self) -> str:
        return f"{self.object_id}: {self.message}"


@dataclass
class StixReadResult:
    """What reading gave: the accepted objects as a bundle, the rejections, the warnings."""

    bundle: IntelBundle
    rejections: list[Rejection] = field(default_factory=list)
    warnings: list[StixWarning] = field(default_factory=list)


@dataclass(frozen=True)
class StixWriteResult:
    """A bundle as written, and the validator's warnings about it."""

    text: str
    warnings: tuple[StixWarning, ...] = ()


class StixWriteError(ValidationFailed, ValueError):
    """Intel objects that cannot be written as valid STIX 2.1; ``errors`` name each object and
    property at fault (``indicator--.../pattern``)."""

    title = "Not valid STIX 2.1"
    slug = "invalid-stix"


# --- Problems, as fields and reasons ----------------------------------------------------------


@dataclass(frozen=True)
class _Problem:
    field: str
    reason: str


_VALIDATOR_PATH: Final = re.compile(r"^([a-z0-9_-]+(?:\.[a-z0-9_-]+|\[\d+\])*): (.+)$", re.DOTALL)
_QUOTED: Final = re.compile(r"'([a-z0-9_-]+)'")
_CODE: Final = re.compile(r"^\{\d+\} ")


def _slash_path(dotted: str) -> str:
    """``external_references[0].url`` as ``external_references/0/url``."""
    return re.sub(r"\[(\d+)\]", r"/\1", dotted).replace(".", "/").strip("/")


def _validator_problem(message: str, obj: Mapping[str, Any]) -> _Problem:
    """A STIX validator message (``indicator--...: pattern: ...``) as a field and a reason."""
    identifier = obj.get("id")
    text = str(message)
    if isinstance(identifier, str) and text.startswith(f"{identifier}: "):
        text = text[len(identifier) + 2 :]
    text = _CODE.sub("", text)
    match = _VALIDATOR_PATH.match(text)
    if match is not None and match.group(1).split(".")[0].split("[")[0] in obj:
        return _Problem(_slash_path(match.group(1)), match.group(2))
    if text.startswith("Pattern failed to validate"):
        return _Problem("pattern", text)
    for name in _QUOTED.findall(text):
        if name in obj or "required property" in text:
            return _Problem(name, text)
    return _Problem(WHOLE, text)


def _stix2_problem(error: Exception) -> _Problem:
    """An exception from the ``stix2`` library as a field and a reason."""
    name = getattr(error, "prop_name", None)
    if not isinstance(name, str):
        names = getattr(error, "properties", None) or getattr(error, "dependencies", None)
        name = str(sorted(names, key=str)[0]) if names else None
        if isinstance(name, str) and name.startswith("("):  # dependencies are (property, needed) pairs
            name = name.strip("()").split(",")[0].strip(" '")
    reason = str(error) or type(error).__name__
    if name is None and reason.startswith("Can't parse unknown object type"):
        name = "type"
    return _Problem(name or WHOLE, reason)


def _pydantic_problems(error: ValidationError, *, generic: bool) -> list[_Problem]:
    """Pydantic's errors as STIX property paths (``extra`` and a generic object's
    ``properties`` hold STIX properties, so they are left out of the path)."""
    problems = []
    for detail in error.errors(include_url=False):
        loc = [str(part) for part in detail["loc"]]
        if generic and loc[:1] == ["properties"]:
            loc = loc[1:]
        # ``extra`` holds properties by their STIX name: at the top, or in an item of a list
        loc = [
            part for index, part in enumerate(loc) if not (part == "extra" and (index == 0 or loc[index - 1].isdigit()))
        ]
        message = detail["msg"].removeprefix("Value error, ")
        problems.append(_Problem("/".join(loc) or WHOLE, message))
    return problems


# --- The checks -------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _stix2validator() -> Any:
    """The OASIS validator, imported on first use: loading it takes about a second, which a
    process that never reads or writes STIX should not pay."""
    import stix2validator  # type: ignore[import-untyped]  # the validator ships no type information

    return stix2validator


# Both libraries are called under warnings.catch_warnings, which (before Python 3.14) changes
# the process's warning filters while it runs: a warning another thread raises meanwhile may be
# shown or hidden against its own filters. Nothing else is affected.


def _validate(obj: Mapping[str, Any]) -> tuple[list[str], list[str], bool]:
    """The STIX validator's errors and warnings for one object (or bundle), and whether it
    could check it at all."""
    try:
        with warnings.catch_warnings():
            # The validator names a jsonschema class that is deprecated when it handles an
            # error of its own; the deprecation is not ours to report.
            warnings.simplefilter("ignore", DeprecationWarning)
            validator = _stix2validator()
            results = validator.validate_instance(dict(obj), validator.ValidationOptions(version="2.1", silent=True))
    except Exception as error:  # the validator fails on some malformed input
        return [f"the STIX validator could not check it ({type(error).__name__}: {error})"], [], False
    return [str(message) for message in results.errors], [str(warning) for warning in results.warnings or []], True


def _build(obj: Mapping[str, Any], *, allow_custom: bool) -> tuple[Any, list[str]]:
    """The object built by the ``stix2`` library (a dict for a custom type it does not know),
    and what it warned about; its exceptions pass through."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        built = stix2.parse(dict(obj), allow_custom=allow_custom, version="2.1")
    return built, [str(warning.message) for warning in caught]


# --- Reading ----------------------------------------------------------------------------------


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise _DuplicateKey(key)
        found[key] = value
    return found


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _not_json_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _decode(data: bytes | str) -> tuple[Any, Rejection | None]:
    """The decoded JSON, or a rejection of the whole input."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raw = data.decode("utf-8", errors="replace")
            return None, Rejection(
                WHOLE, f"not UTF-8: {error.reason} at byte {error.start}", raw, f"byte {error.start}"
            )
    else:
        text = data.removeprefix("\ufeff")
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_not_json_constant), None
    except json.JSONDecodeError as error:
        location = f"line {error.lineno} column {error.colno}"
        return None, Rejection(WHOLE, f"not JSON: {error.msg} at {location}", text, location)
    except _DuplicateKey as error:
        return None, Rejection(error.key, f"the property '{error.key}' appears twice in one object", text, "input")
    except ValueError as error:
        return None, Rejection(WHOLE, f"not JSON: {error}", text, "input")
    except RecursionError:
        return None, Rejection(WHOLE, "not read: the JSON is nested too deeply", text, "input")


def _reject(problems: Sequence[_Problem], raw: str, location: str) -> Rejection:
    errors = tuple(FieldError(problem.field, problem.reason) for problem in problems)
    return Rejection(problems[0].field, problems[0].reason, raw, location, errors)


def _read_object(obj: Any, location: str, *, allow_custom: bool, notes: list[StixWarning]) -> Accepted | Rejection:
    """One object: validated, built by stix2, and read into the polex model."""
    raw = _dump(obj)
    if not isinstance(obj, dict):
        kind = "a list" if isinstance(obj, list) else f"a JSON {type(obj).__name__}"
        return _reject([_Problem(WHOLE, f"a STIX object is a JSON object, not {kind}")], raw, location)
    object_type, identifier = obj.get("type"), obj.get("id")
    problems = []
    if not isinstance(object_type, str) or not _TYPE.fullmatch(object_type):
        problems.append(_Problem("type", "every STIX object has a type of lowercase letters, digits and hyphens"))
    if not isinstance(identifier, str):
        problems.append(_Problem("id", "every STIX object has an id (type--UUID)"))
    if problems:
        return _reject(problems, raw, location)
    location = f"{location} {identifier}"

    messages, advice, checked = _validate(obj)
    errors = [_validator_problem(message, obj) if checked else _Problem(WHOLE, message) for message in messages]
    if errors and checked:
        if "spec_version" not in obj and "created" in obj:
            errors.append(_Problem("spec_version", "this looks like STIX 2.0; polex reads STIX 2.1"))
        return _reject(errors, raw, location)
    # When the validator could not check the object, the next checks usually say why; if they
    # do not, its failure is the reason: an object nobody could check is not accepted.

    try:
        _, built_advice = _build(obj, allow_custom=allow_custom)
    except Exception as error:  # stix2 raises its own errors and plain ones alike
        return _reject([_stix2_problem(error), *errors], raw, location)

    try:
        record = intel_object_from_stix(obj)
    except ValidationError as error:
        problems = _pydantic_problems(error, generic=object_type not in TYPED_OBJECTS)
        return _reject([*problems, *errors], raw, location)
    except Exception as error:  # e.g. RecursionError on absurdly deep values
        return _reject([_Problem(WHOLE, f"not read ({type(error).__name__}: {error})"), *errors], raw, location)
    if errors:
        return _reject(errors, raw, location)

    notes.extend(_warning(note, identifier) for note in (*advice, *built_advice))
    return Accepted(record, raw, location)


def iter_stix(
    data: bytes | str, *, allow_custom: bool = True, notes: list[StixWarning] | None = None
) -> Iterator[ReadResult]:
    """Each object of a STIX 2.1 bundle (or the one object given), accepted or rejected, in
    order. Warnings are appended to ``notes`` when given."""
    decoded, failure = _decode(data)
    if failure is not None:
        yield failure
        return
    yield from _iter_document(decoded, allow_custom=allow_custom, notes=notes if notes is not None else [])


def _iter_document(decoded: Any, *, allow_custom: bool, notes: list[StixWarning]) -> Iterator[ReadResult]:
    if not isinstance(decoded, dict):
        kind = "an array" if isinstance(decoded, list) else "a single value"
        reason = f"a STIX 2.1 document is a bundle or one object, not {kind}"
        yield Rejection(WHOLE, reason, _dump(decoded), "input")
        return
    if decoded.get("type") != "bundle":
        yield _read_object(decoded, "object", allow_custom=allow_custom, notes=notes)
        return

    problems = []
    identifier = decoded.get("id")
    if not isinstance(identifier, str) or not _BUNDLE_ID.fullmatch(identifier):
        problems.append(_Problem("id", "a bundle's id is 'bundle--' and a UUID"))
    unknown = sorted(set(decoded) - _BUNDLE_PROPERTIES)
    if unknown:
        what = ", ".join(unknown)
        hint = " (a STIX 2.0 bundle: polex reads STIX 2.1)" if "spec_version" in unknown else ""
        problems.append(_Problem(unknown[0], f"a STIX 2.1 bundle has no property {what}{hint}"))
    objects = decoded.get("objects", [])
    if not isinstance(objects, list):
        problems.append(_Problem("objects", "a bundle's objects are a list"))
    if problems:
        envelope = {key: value for key, value in decoded.items() if key != "objects"}
        yield _reject(problems, _dump(envelope), "bundle")
    if not isinstance(objects, list):
        return
    for index, obj in enumerate(objects):
        yield _read_object(obj, f"objects[{index}]", allow_custom=allow_custom, notes=notes)


def read_stix(data: bytes | str, *, allow_custom: bool = True) -> StixReadResult:
    """A STIX 2.1 bundle (or one object) as an :class:`IntelBundle` of the accepted objects
    (with the bundle's id where it has a valid one), the rejections and the warnings."""
    notes: list[StixWarning] = []
    records: list[IntelItem] = []
    rejections: list[Rejection] = []
    decoded, failure = _decode(data)
    if failure is not None:
        return StixReadResult(IntelBundle(), [failure])
    for result in _iter_document(decoded, allow_custom=allow_custom, notes=notes):
        if isinstance(result, Rejection):
            rejections.append(result)
        elif isinstance(result.record, TypedObject | GenericObject):  # always: the reader makes no other
            records.append(result.record)
    identifier = decoded.get("id") if isinstance(decoded, dict) and decoded.get("type") == "bundle" else None
    if isinstance(identifier, str) and _BUNDLE_ID.fullmatch(identifier):
        return StixReadResult(IntelBundle(id=identifier, objects=records), rejections, notes)
    return StixReadResult(IntelBundle(objects=records), rejections, notes)


def tlp_markings_in(decoded: Any) -> dict[str, Tlp]:
    """Marking definition ids that stand for a TLP level: the published ones, and those a
    decoded document (a bundle, or one object) defines itself, valid or not (the stricter
    level where a definition contradicts a published id)."""
    found = dict(TLP_MARKINGS)
    is_bundle = isinstance(decoded, dict) and decoded.get("type") == "bundle"
    objects = decoded.get("objects") if is_bundle else [decoded]
    for obj in objects if isinstance(objects, list) else []:
        level = tlp_defined_by(obj)
        if level is not None and isinstance(obj.get("id"), str):
            found[obj["id"]] = level
    return found


def check_object(obj: IntelItem) -> list[FieldError]:
    """What the STIX validator and the ``stix2`` library find wrong with one object polex
    holds (its model checks what it can, not an indicator's pattern, say), each as the
    property at fault (``pattern``, ``external_references/0/url``) and why; empty when the
    object is valid STIX 2.1, as what the reader accepts is."""
    data = obj.to_stix()
    messages, _, checked = _validate(data)
    problems = [_validator_problem(message, data) if checked else _Problem(WHOLE, message) for message in messages]
    if not problems:
        try:
            _build(data, allow_custom=True)
        except Exception as error:  # stix2 raises its own errors and plain ones alike
            problems.append(_stix2_problem(error))
    return [FieldError(problem.field, problem.reason) for problem in problems]


# --- Writing ----------------------------------------------------------------------------------


def _records(records: Iterable[BaseModel]) -> tuple[str | None, list[IntelItem]]:
    """The objects to write, and the bundle id when one bundle is written."""
    items = list(records)
    if len(items) == 1 and isinstance(items[0], IntelBundle):
        return items[0].id, list(items[0].objects)
    found: list[IntelItem] = []
    for item in items:
        if isinstance(item, IntelBundle):
            found.extend(item.objects)
        elif isinstance(item, Intel):  # the content of a stored record, as exports give it
            found.append(item.stix)
        elif isinstance(item, TypedObject | GenericObject):
            found.append(item)
        else:
            raise TypeError(f"the {FORMAT_NAME} format writes intel objects, not {type(item).__name__}")
    return None, found


def write_stix(records: Iterable[BaseModel], *, pretty: bool = False) -> StixWriteResult:
    """Intel objects (or an :class:`IntelBundle`) as a STIX 2.1 bundle that the STIX validator
    passes; :class:`StixWriteError` names every object and property it cannot write."""
    bundle_id, objects = _records(records)
    held: list[dict[str, Any]] = []
    built: list[Any] = []
    failures: list[FieldError] = []
    notes: list[StixWarning] = []
    for obj in objects:
        data = obj.to_stix()
        try:
            made, advice = _build(data, allow_custom=True)
        except Exception as error:  # stix2 raises its own errors and plain ones alike
            problem = _stix2_problem(error)
            failures.append(FieldError(f"{obj.id}/{problem.field}", problem.reason))
            continue
        held.append(data)
        built.append(made)
        notes.extend(StixWarning(obj.id, note) for note in advice)
    if failures:
        raise StixWriteError(_summary(failures), errors=failures)

    options: dict[str, Any] = {"allow_custom": True}
    if bundle_id is not None:
        options["id"] = bundle_id
    if built:
        options["objects"] = built
    bundle = stix2.v21.Bundle(**options)
    # Serialised with the optional defaults, so that an explicit "revoked": false stays ...
    document = json.loads(json.dumps(bundle, cls=STIXJSONIncludeOptionalDefaultsEncoder))
    # ... and the defaults stix2 filled in for properties the object does not have left out.
    if held:
        document["objects"] = [
            {key: value for key, value in written.items() if key in properties}
            for written, properties in zip(document["objects"], held, strict=True)
        ]

    messages, advice, _ = _validate(document)
    if messages:
        failures = [_written_problem(message, document) for message in messages]
        raise StixWriteError(_summary(failures), errors=failures)
    notes.extend(_warning(note) for note in advice)
    text = json.dumps(document, ensure_ascii=False, indent=2 if pretty else None)
    return StixWriteResult(text, tuple(notes))


_OBJECT_PREFIX: Final = re.compile(r"^([a-z][a-z0-9-]+--[0-9a-fA-F-]{36}): (.*)$", re.DOTALL)


def _warning(note: str, identifier: str | None = None) -> StixWarning:
    """A validator or stix2 warning, by object (``{401}``-style codes are dropped)."""
    match = _OBJECT_PREFIX.match(note)
    if match is not None:
        return StixWarning(match.group(1), _CODE.sub("", match.group(2)))
    return StixWarning(identifier or WHOLE, _CODE.sub("", note))


def _written_problem(message: str, document: Mapping[str, Any]) -> FieldError:
    """A validator error about a written bundle, as ``object-id/property``."""
    match = _OBJECT_PREFIX.match(message)
    objects = [obj for obj in document.get("objects", []) if match and obj.get("id") == match.group(1)]
    if match is None or not objects:
        problem = _validator_problem(message, document)
        return FieldError(problem.field, problem.reason)
    inner = _validator_problem(message, objects[0])
    return FieldError(f"{match.group(1)}/{inner.field}", inner.reason)


def _summary(failures: Sequence[FieldError]) -> str:
    more = len(failures) - 1
    first = f"{failures[0].field}: {failures[0].reason}"
    return first + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")


# --- The adapter ------------------------------------------------------------------------------


class StixAdapter:
    """STIX 2.1 bundles in JSON, read into intel objects and written from them."""

    name: str = FORMAT_NAME
    description: str = (
        "STIX 2.1 bundles (JSON): indicators, threat actors, malware, attack patterns, identities, sightings, "
        "relationships and markings, other objects kept whole; checked with the OASIS STIX validator"
    )
    media_types: tuple[str, ...] = MEDIA_TYPES

    def __init__(self, *, allow_custom: bool = True, pretty: bool = False) -> None:
        self.allow_custom = allow_custom
        self.pretty = pretty
        self.warnings: list[StixWarning] = []
        # The TLP marking definitions of the input being read, known before its first object
        # is yielded: an import gives each object the handling its markings say, also where
        # the bundle defines a TLP marking after the objects that use it.
        self.tlp_markings: dict[str, Tlp] = dict(TLP_MARKINGS)

    def read(self, stream: IO[bytes]) -> Iterator[ReadResult]:
        """Each object of the bundle, accepted or rejected; warnings go to :attr:`warnings`,
        the TLP markings the input defines to :attr:`tlp_markings`."""
        self.warnings = []
        self.tlp_markings = dict(TLP_MARKINGS)
        try:
            data = stream.read()
        except Exception as error:  # a stream that cannot be read is the input's fault, not ours
            yield Rejection(WHOLE, f"the input could not be read ({type(error).__name__}: {error})", "", "input")
            return
        decoded, failure = _decode(data)
        if failure is not None:
            yield failure
            return
        self.tlp_markings = tlp_markings_in(decoded)
        yield from _iter_document(decoded, allow_custom=self.allow_custom, notes=self.warnings)
        for note in self.warnings:
            log.info("STIX warning: %s", note)

    def write(self, records: Iterable[BaseModel], stream: IO[bytes]) -> None:
        """The intel objects (or one :class:`IntelBundle`) as one STIX 2.1 bundle."""
        result = write_stix(records, pretty=self.pretty)
        self.warnings = list(result.warnings)
        for note in self.warnings:
            log.info("STIX warning: %s", note)
        stream.write(result.text.encode("utf-8"))
