"""Tabular exports (CSV and the like) read through a declarative mapping, one YAML file per
source system: which column feeds which field of the common schema, how local codes map
to ours, how dates are written, how names are split or joined and in which script.

A mapping looks like this::

    version: 1
    record: travel_document          # person, travel_document, vehicle or case
    csv: {delimiter: ";", encoding: "utf-8"}
    constants: {status: stolen, issuing_country: FRA}
    value_maps:
      doc_types: {PASSEPORT: passport, CNI: identity_card}
      sexes: {M: male, F: female, default: unknown}
    fields:
      - {target: number, column: NUM_DOC, required: true}
      - {target: document_type, column: TYPE, map: doc_types}
      - {target: issued_on, column: DATE_DELIV, date: dd.mm.yyyy}
      - {target: holder.names.0.full, columns: [PRENOM, NOM], separator: " ", script: Latn}
      - {target: holder.sex, column: SEXE, map: sexes}
    source_id: NUM_DOC               # the column that identifies a row in the source system
                                     # (stripped; blank is none; at most 500 characters)

The mapping is checked before any row is read (unknown targets, maps, date formats or
columns are errors naming the mapping entry); every row becomes a record or a rejection
naming the source column and the reason, with the row kept as received.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal, cast

import orjson
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from polex.domain.base import Provenance, RecordKind, collect_original_values, control_character_problem
from polex.domain.records import RECORD_TYPES
from polex.errors import FieldError
from polex.formats.registry import Accepted, ReadResult, Rejection, SplitRead

# Date formats people write in exports, as patterns over the digits; partial ones give
# partial dates (the common schema keeps the precision that is known).
DATE_FORMATS: dict[str, str] = {
    "yyyy-mm-dd": r"(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})",
    "dd.mm.yyyy": r"(?P<d>\d{1,2})\.(?P<m>\d{1,2})\.(?P<y>\d{4})",
    "dd/mm/yyyy": r"(?P<d>\d{1,2})/(?P<m>\d{1,2})/(?P<y>\d{4})",
    "mm/dd/yyyy": r"(?P<m>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{4})",
    "yyyymmdd": r"(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})",
    "mm.yyyy": r"(?P<m>\d{1,2})\.(?P<y>\d{4})",
    "yyyy-mm": r"(?P<y>\d{4})-(?P<m>\d{2})",
    "yyyy": r"(?P<y>\d{4})",
}
MAX_ROW_BYTES = 64 * 1024
MAX_SOURCE_ID = 500  # Provenance.source_id's limit


class MappingError(ValueError):
    """The mapping itself is wrong; ``errors`` name each entry at fault."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{error.field}: {error.reason}" for error in errors))
        self.errors = errors


class CsvDialect(BaseModel):
    model_config = ConfigDict(extra="forbid")
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    quotechar: str = Field(default='"', min_length=1, max_length=1)
    encoding: str = "utf-8-sig"


class FieldRule(BaseModel):
    """Where one target field of the record gets its value."""

    model_config = ConfigDict(extra="forbid")
    target: str = Field(pattern=r"^[a-z_]+(\.([a-z_]+|\d+))*$", description="Dotted path, e.g. holder.names.0.given")
    column: str | None = None
    columns: list[str] | None = Field(default=None, description="Columns joined with the separator")
    separator: str = " "
    constant: Any = None
    map: str | None = Field(default=None, description="Name of a value map")
    date: str | None = Field(default=None, description=f"One of {', '.join(DATE_FORMATS)}")
    split: int | None = Field(default=None, description="Take this part (0-based) after splitting on the separator")
    script: str | None = Field(default=None, description="ISO 15924 code recorded beside a name")
    required: bool = False
    kind: Literal["text", "list"] = Field(default="text", description="list: the value is split into a list")

    @model_validator(mode="after")
    def _one_source(self) -> FieldRule:
        sources = sum(value is not None for value in (self.column, self.columns, self.constant))
        if sources != 1:
            raise ValueError("give exactly one of column, columns or constant")
        if self.date is not None and self.date not in DATE_FORMATS:
            raise ValueError(f"unknown date format {self.date!r}; known: {', '.join(DATE_FORMATS)}")
        return self

    def source_columns(self) -> list[str]:
        return [self.column] if self.column else list(self.columns or [])


class Mapping(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: Literal[1] = 1
    record: RecordKind
    csv: CsvDialect = CsvDialect()
    constants: dict[str, Any] = Field(default_factory=dict)
    value_maps: dict[str, dict[str, str]] = Field(default_factory=dict)
    fields: list[FieldRule] = Field(min_length=1)
    source_id: str | None = Field(default=None, description="Column identifying the row in the source system")


def load_mapping(source: str | Path) -> Mapping:
    """Read and check a mapping (YAML text or a file); MappingError names every problem."""
    text = Path(source).read_text(encoding="utf-8") if isinstance(source, Path) else source
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise MappingError([FieldError("mapping", f"not valid YAML: {error}")]) from error
    try:
        mapping = Mapping.model_validate(document)
    except ValidationError as error:
        raise MappingError(
            [
                FieldError(".".join(str(part) for part in item["loc"]) or "mapping", item["msg"])
                for item in error.errors()
            ]
        ) from error
    errors = []
    content = RECORD_TYPES[mapping.record].content
    for index, rule in enumerate(mapping.fields):
        problem = _target_problem(content, rule.target.split("."))
        if problem:
            errors.append(FieldError(f"fields.{index}.target", problem))
        if rule.map is not None and rule.map not in mapping.value_maps:
            errors.append(FieldError(f"fields.{index}.map", f"no value map called {rule.map!r}"))
    for name in mapping.constants:
        problem = _target_problem(content, name.split("."))
        if problem:
            errors.append(FieldError(f"constants.{name}", problem))
    if errors:
        raise MappingError(errors)
    return mapping


def _target_problem(model: type[BaseModel], path: list[str]) -> str | None:
    """Why a dotted path is not a field of the model, or None when it is."""
    current: Any = model
    for position, part in enumerate(path):
        if part.isdigit():
            continue  # a list index: the element type was resolved with the list
        fields = getattr(current, "model_fields", None)
        if fields is None or part not in fields:
            known = ", ".join(sorted(fields)) if fields else "none"
            where = ".".join(path[:position]) or "the record"
            return f"{part!r} is not a field of {where} (fields: {known})"
        current = _model_in(fields[part].annotation)
    return None


def _model_in(annotation: Any) -> Any:
    """The pydantic model an annotation holds, through list[...] and ... | None."""
    for candidate in (annotation, *getattr(annotation, "__args__", ())):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
        nested = _model_in_args(candidate)
        if nested is not None:
            return nested
    return None


def _model_in_args(annotation: Any) -> Any:
    for candidate in getattr(annotation, "__args__", ()):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


_DATE_PATTERNS = {name: re.compile(pattern) for name, pattern in DATE_FORMATS.items()}


def parse_date(text: str, pattern_name: str) -> str:
    match = _DATE_PATTERNS[pattern_name].fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a date written {pattern_name}")
    parts = match.groupdict()
    year = int(parts["y"])
    if "m" not in parts:
        return f"{year:04d}"
    month = int(parts["m"])
    if "d" not in parts:
        return f"{year:04d}-{month:02d}"
    day = dt.date(year, month, int(parts["d"]))  # raises for impossible dates
    return day.isoformat()


Path_ = tuple[str | int, ...]  # a dotted target with its list indices as numbers


def _path(target: str) -> Path_:
    return tuple(int(part) if part.isdigit() else part for part in target.split("."))


def _set(document: dict[str, Any], path: Path_, value: Any) -> None:
    """Set a path in nested dicts and lists, creating what is missing."""
    current: Any = document
    last = len(path) - 1
    for position, part in enumerate(path):
        following: Any = [] if position < last and isinstance(path[position + 1], int) else {}
        if isinstance(part, int):
            while len(current) <= part:
                current.append({} if isinstance(following, dict) or position == last else [])
            if position == last:
                current[part] = value
            else:
                if not current[part] and isinstance(following, list):
                    current[part] = []
                current = current[part]
        elif position == last:
            current[part] = value
        else:
            current = current.setdefault(part, following)


def _at(document: Any, path: Path_) -> Any:
    """The value at a path of a JSON document, or None where there is none."""
    current = document
    try:
        for part in path:
            if isinstance(current, str):  # text has no parts (indexing it would give a letter)
                return None
            current = current[part]
    except (KeyError, IndexError, TypeError):  # a part missing, or a list where a key was expected
        return None
    return current


Put = Callable[[dict[str, Any], Any], None]


def _dicts_along(current: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """The dict at the end of ``keys`` below ``current``, made where it is missing."""
    for key in keys:
        inner = current.get(key)
        if inner is None:
            inner = current[key] = {}
        current = inner
    return current


def _putter(path: Path_, *, alone: bool) -> Put:
    """A function that sets ``path`` in a row's document as :func:`_set` does.

    Where the mapping's targets do not lie inside one another (``alone``), every container on
    the way is one that this row's rules made, and the common shapes (keys; keys, a list
    index, keys: ``holder.names.0.full``) are walked without examining the path for every
    row. Otherwise, and for other shapes, :func:`_set` itself.
    """
    indices = [position for position, part in enumerate(path) if isinstance(part, int)]
    if alone and not indices:
        keys, last = cast(tuple[str, ...], path[:-1]), cast(str, path[-1])

        def put_in_dicts(document: dict[str, Any], value: Any) -> None:
            _dicts_along(document, keys)[last] = value

        return put_in_dicts
    if alone and len(indices) == 1 and 0 < indices[0] < len(path) - 1:
        position = indices[0]
        outer, holder = cast(tuple[str, ...], path[: position - 1]), cast(str, path[position - 1])
        index = cast(int, path[position])
        inner_keys, last = cast(tuple[str, ...], path[position + 1 : -1]), cast(str, path[-1])

        def put_in_list(document: dict[str, Any], value: Any) -> None:
            current = _dicts_along(document, outer)
            items: list[dict[str, Any]] | None = current.get(holder)
            if items is None:
                items = current[holder] = []
            while len(items) <= index:
                items.append({})
            _dicts_along(items[index], inner_keys)[last] = value

        return put_in_list
    return lambda document, value: _set(document, path, value)


@dataclass(eq=False, frozen=True, slots=True)
class _Place:
    """Where in the document a rule or a constant puts its value; one per target path, so
    that two rules with the same target keep the last value, as a document would."""

    path: Path_
    name: str  # the path as the provenance names it: ``holder/names/0/full``
    put: Put
    # A target at the top of the record (``number``), set and read back without a walk.
    top: str | None

    @classmethod
    def of(cls, path: Path_, *, alone: bool) -> _Place:
        top = path[0] if len(path) == 1 and isinstance(path[0], str) else None
        return cls(path, "/".join(map(str, path)), _putter(path, alone=alone), top)


@dataclass(frozen=True, slots=True)
class _Rule:
    """A field rule made ready for the rows: the mapping is read once per file, not per row."""

    rule: FieldRule
    label: str  # how errors name the source
    place: _Place
    script_place: _Place | None  # where the script of a name goes
    # One column taken as written (stripped): most rules are, and they are read inline.
    column: int | None
    read: Reader  # the others
    required: bool


def _as_written(rule: FieldRule) -> bool:
    """Whether a rule takes its column's text as it is (stripped): no map, date, split or list."""
    return rule.map is None and rule.date is None and rule.split is None and rule.kind == "text"


class CsvMappingAdapter:
    """The ``csv-mapping`` format: a CSV export read through a mapping."""

    name = "csv-mapping"
    description = "CSV and other delimited exports, read through a declarative YAML mapping per source system"
    media_types: tuple[str, ...] = ("text/csv", "text/tab-separated-values")

    def __init__(self, *, mapping: Mapping | str | Path | None = None) -> None:
        self.mapping = load_mapping(mapping) if isinstance(mapping, str | Path) else mapping

    def read(self, stream: IO[bytes]) -> Iterator[ReadResult]:
        split = self.split(stream)
        try:
            for item in split.items:
                yield from split.converter.convert((item,))
        finally:
            split.items.close()  # type: ignore[attr-defined]  # a generator

    def split(self, stream: IO[bytes]) -> SplitRead:
        """The file's rows as raw items (their values and line), and the converter that maps
        and validates them; the mapping is checked against the header when the first item
        is asked for (a ``MappingError`` naming the missing columns)."""
        if self.mapping is None:
            raise MappingError([FieldError("mapping", "the csv-mapping format needs a mapping (--mapping FILE)")])
        converter = CsvRowConverter(self.mapping)
        return SplitRead(converter, self._rows(stream, converter))

    def _rows(self, stream: IO[bytes], converter: CsvRowConverter) -> Iterator[object]:
        mapping = converter.mapping
        text = io.TextIOWrapper(stream, encoding=mapping.csv.encoding, errors="strict", newline="")
        reader = csv.reader(text, delimiter=mapping.csv.delimiter, quotechar=mapping.csv.quotechar)
        try:
            header = next(reader, [])
        except (csv.Error, UnicodeDecodeError) as error:
            yield Rejection("file", f"cannot be read as {mapping.csv.encoding} CSV: {error}", raw="", location="file")
            return
        converter.set_header(header)  # raises MappingError for missing columns
        try:
            for values in reader:
                if values:  # a blank line is skipped, as csv.DictReader skips it
                    yield (values, reader.line_num)
        except (csv.Error, UnicodeDecodeError) as error:
            yield Rejection("file", f"cannot be read as {mapping.csv.encoding} CSV: {error}", raw="", location="file")


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A mapping made ready for the rows of one file (its header): compiled once, not per row."""

    content_type: type[BaseModel]
    rules: list[_Rule]
    constants: list[tuple[_Place, Any]]
    nested: bool  # a target lies inside another: original values are compared document-wide
    source_index: int | None
    width: int
    delimiter: str


class CsvRowConverter:
    """Maps and validates the rows of one CSV file: ``(values, line number)`` items into read
    results. Holds the mapping and the file's header, both plain data, so that it pickles
    small and each worker process compiles the rules once."""

    def __init__(self, mapping: Mapping) -> None:
        self.mapping = mapping
        self.header: list[str] | None = None  # set_header, from the file's first line
        self._compiled: _Compiled | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"mapping": self.mapping, "header": self.header}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.mapping, self.header, self._compiled = state["mapping"], state["header"], None

    def set_header(self, header: list[str]) -> None:
        mapping = self.mapping
        missing = sorted({column for rule in mapping.fields for column in rule.source_columns()} - set(header))
        if mapping.source_id and mapping.source_id not in header:
            missing.append(mapping.source_id)
        if missing:
            raise MappingError([FieldError("columns", f"the file has no column {name!r}") for name in missing])
        self.header, self._compiled = header, None

    def _compile(self) -> _Compiled:
        mapping, header = self.mapping, self.header
        assert header is not None, "set_header comes first"
        # Original values are compared leaf by leaf where no target lies inside another;
        # otherwise the whole document is walked (the general rule, slower).
        targets = [_path(name) for name in mapping.constants]
        for rule in mapping.fields:
            targets.append(_path(rule.target))
            if rule.script is not None:
                targets.append((*targets[-1][:-1], "script"))
        nested = any(a != b and b[: len(a)] == a for a in targets for b in targets)
        places: dict[Path_, _Place] = {}

        def place(path: Path_) -> _Place:
            if path not in places:
                places[path] = _Place.of(path, alone=not nested)
            return places[path]

        rules = self._rules({name: index for index, name in enumerate(header)}, place)  # the last of a repeated name
        constants = [(place(_path(name)), value) for name, value in mapping.constants.items()]
        source_index = len(header) - 1 - header[::-1].index(mapping.source_id) if mapping.source_id else None
        return _Compiled(
            content_type=RECORD_TYPES[mapping.record].content,
            rules=rules,
            constants=constants,
            nested=nested,
            source_index=source_index,
            width=len(header),
            delimiter=mapping.csv.delimiter,
        )

    def convert(self, items: Sequence[object]) -> list[ReadResult]:
        compiled = self._compiled
        if compiled is None:
            compiled = self._compiled = self._compile()
        results: list[ReadResult] = []
        for item in items:
            if isinstance(item, Accepted | Rejection):
                results.append(item)
                continue
            values, line = cast(tuple[list[str], int], item)  # as _rows made it
            results.append(self._line(values, f"line {line}", compiled))
        return results

    def _line(self, values: list[str], location: str, compiled: _Compiled) -> ReadResult:
        width = compiled.width
        if len(values) < width:
            values = values + [""] * (width - len(values))
        raw = compiled.delimiter.join(values[:width])
        if len(raw) * 4 > MAX_ROW_BYTES and len(raw.encode()) > MAX_ROW_BYTES:  # UTF-8: at most 4 bytes a character
            return Rejection("row", f"longer than {MAX_ROW_BYTES} bytes", raw=raw[:1000], location=location)
        source_id = None
        if compiled.source_index is not None:
            source_id = values[compiled.source_index].strip() or None
            problem = _source_id_problem(source_id) if source_id is not None else None
            if problem is not None:
                return Rejection(self.mapping.source_id or "source_id", problem, raw=raw, location=location)
        return self._row(values, raw, location, compiled, source_id)

    def _rules(self, positions: dict[str, int], place: Callable[[Path_], _Place]) -> list[_Rule]:
        prepared = []
        for rule in self.mapping.fields:
            columns = rule.source_columns()
            path = _path(rule.target)
            indices = tuple(positions[column] for column in columns)
            table = self.mapping.value_maps[rule.map] if rule.map is not None else None
            prepared.append(
                _Rule(
                    rule=rule,
                    label="+".join(columns) if columns else f"constant for {rule.target}",
                    place=place(path),
                    script_place=place((*path[:-1], "script")) if rule.script is not None else None,
                    column=positions[rule.column] if rule.column is not None and _as_written(rule) else None,
                    read=_reader(rule, indices, table),
                    required=rule.required,
                )
            )
        return prepared

    def _row(
        self, values: list[str], raw: str, location: str, compiled: _Compiled, source_id: str | None
    ) -> ReadResult:
        document: dict[str, Any] = {}
        leaves: dict[_Place, Any] = {}  # every value set, by its place: what normalisation may change
        given: list[_Rule] = []  # the rules that gave a value, to name their columns in errors
        for place, constant in compiled.constants:
            place.put(document, constant)
            leaves[place] = constant
        for prepared in compiled.rules:
            if prepared.column is not None:
                value = values[prepared.column].strip() or None
            else:
                try:
                    value = prepared.read(values)
                except ValueError as error:
                    return Rejection(prepared.label, str(error), raw=raw, location=location)
            if value is None:
                if prepared.required:
                    return Rejection(prepared.label, "is empty but required", raw=raw, location=location)
                continue
            place = prepared.place
            if place.top is not None:
                document[place.top] = value
            else:
                place.put(document, value)
            leaves[place] = value
            given.append(prepared)
            if prepared.script_place is not None:
                script = prepared.rule.script
                prepared.script_place.put(document, script)
                leaves[prepared.script_place] = script
        try:
            record = compiled.content_type.model_validate(document)
        except ValidationError as error:
            sources = {prepared.rule.target: prepared.label for prepared in given}
            field_errors = tuple(_source_error(item, sources) for item in error.errors())
            first = field_errors[0]
            return Rejection(first.field, first.reason, raw=raw, location=location, errors=field_errors)
        content_json = record.model_dump_json()  # stored as it is (Accepted.content_json)
        normalised = orjson.loads(content_json)
        if compiled.nested:
            originals = collect_original_values(document, normalised)
        else:
            originals = {}
            for place, leaf in leaves.items():
                after = normalised.get(place.top) if place.top is not None else _at(normalised, place.path)
                if isinstance(leaf, str):  # the common case, inline
                    if isinstance(after, str) and leaf.strip() != after:
                        originals[place.name] = leaf
                else:
                    originals.update(collect_original_values(leaf, after, "/" + place.name))
        # Built without validating again: the source id was checked above (its length and
        # controls; stripped, never empty), and every original is text the record's own
        # validation accepted as received.
        provenance = Provenance.model_construct(source_format="csv", source_id=source_id, original_values=originals)
        return Accepted(record, raw=raw, location=location, provenance=provenance, content_json=content_json)


Reader = Callable[[list[str]], Any]


def _reader(rule: FieldRule, indices: tuple[int, ...], table: dict[str, str] | None) -> Reader:
    """A function giving a rule's value from a row's values (None for none; ValueError with
    the reason for a value it cannot take), made once per file: the common rules (one column
    through a value map or a date format, columns joined) skip what they do not use."""
    if rule.constant is not None:
        constant = rule.constant
        return lambda values: constant
    if rule.split is None and rule.kind == "text":
        date = rule.date
        if len(indices) == 1 and table is not None and date is None:
            index, name, default = indices[0], rule.map, table.get("default")

            def mapped(values: list[str]) -> Any:
                text = values[index].strip()
                value = table.get(text)
                if value is None:
                    value = table.get(text.upper(), default)
                    if value is None:
                        if text:
                            raise ValueError(f"{text!r} is not in the value map {name!r}")
                        return None
                return value or None

            return mapped
        if len(indices) == 1 and table is None and date is not None:
            index = indices[0]

            def dated(values: list[str]) -> Any:
                text = values[index].strip()
                return parse_date(text, date) if text else None

            return dated
        if table is None and date is None:
            separator = rule.separator

            def joined(values: list[str]) -> Any:
                return separator.join(part for part in (values[index].strip() for index in indices) if part) or None

            return joined
    return lambda values: _value(rule, indices, table, values)


def _value(rule: FieldRule, indices: tuple[int, ...], table: dict[str, str] | None, values: list[str]) -> Any:
    """A rule's value from a row's values, in general (see _reader)."""
    if len(indices) == 1:
        text = values[indices[0]].strip()
    else:
        text = rule.separator.join(part for part in (values[index].strip() for index in indices) if part)
    if rule.split is not None and text:
        pieces = [piece.strip() for piece in text.split(rule.separator) if piece.strip()]
        text = pieces[rule.split] if rule.split < len(pieces) else ""
    if rule.kind == "list":
        pieces = [piece.strip() for piece in text.split(rule.separator)]
        present = [value for value in (_convert(rule, table, piece) for piece in pieces if piece) if value]
        return present or None
    if table is None and rule.date is None:
        return text or None
    return _convert(rule, table, text) or None


def _convert(rule: FieldRule, table: dict[str, str] | None, text: str) -> str:
    """One value through the rule's value map and date format."""
    if table is not None:
        if text in table:
            text = table[text]
        elif text.upper() in table:
            text = table[text.upper()]
        elif "default" in table:
            text = table["default"]
        elif text:
            raise ValueError(f"{text!r} is not in the value map {rule.map!r}")
    if text and rule.date is not None:
        return parse_date(text, rule.date)
    return text


def _source_id_problem(source_id: str) -> str | None:
    """Why a row's source id cannot identify it (the provenance keeps at most 500 characters
    of text), or None."""
    if len(source_id) > MAX_SOURCE_ID:
        return f"a source id has at most {MAX_SOURCE_ID} characters, this one has {len(source_id)}"
    return control_character_problem(source_id)


def _source_error(item: Any, sources: dict[str, str]) -> FieldError:
    """A validation error named by the source column where one fed that field."""
    path = ".".join(str(part) for part in item["loc"])
    column = next((label for target, label in sources.items() if path == target or path.startswith(target + ".")), None)
    reason = str(item["msg"]).removeprefix("Value error, ")
    return FieldError(column or path, reason if column is None else f"{reason} (field {path})")
