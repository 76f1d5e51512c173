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

The mapping is checked before any row is read (unknown targets, maps, date formats or
columns are errors naming the mapping entry); every row becomes a record or a rejection
naming the source column and the reason, with the row kept as received.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from polex.domain.base import Provenance, RecordKind, collect_original_values
from polex.domain.records import RECORD_TYPES
from polex.errors import FieldError
from polex.formats.registry import Accepted, ReadResult, Rejection

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


def parse_date(text: str, pattern_name: str) -> str:
    match = re.fullmatch(DATE_FORMATS[pattern_name], text.strip())
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


def _set(document: dict[str, Any], path: list[str], value: Any) -> None:
    """Set a dotted path in nested dicts and lists, creating what is missing."""
    current: Any = document
    for position, part in enumerate(path):
        last = position == len(path) - 1
        following: Any = [] if not last and path[position + 1].isdigit() else {}
        if part.isdigit():
            index = int(part)
            while len(current) <= index:
                current.append({} if isinstance(following, dict) or last else [])
            if last:
                current[index] = value
            else:
                if not current[index] and isinstance(following, list):
                    current[index] = []
                current = current[index]
        else:
            if last:
                current[part] = value
            else:
                current = current.setdefault(part, following)


class CsvMappingAdapter:
    """The ``csv-mapping`` format: a CSV export read through a mapping."""

    name = "csv-mapping"
    description = "CSV and other delimited exports, read through a declarative YAML mapping per source system"
    media_types: tuple[str, ...] = ("text/csv", "text/tab-separated-values")

    def __init__(self, *, mapping: Mapping | str | Path | None = None) -> None:
        self.mapping = load_mapping(mapping) if isinstance(mapping, str | Path) else mapping

    def read(self, stream: IO[bytes]) -> Iterator[ReadResult]:
        if self.mapping is None:
            raise MappingError([FieldError("mapping", "the csv-mapping format needs a mapping (--mapping FILE)")])
        mapping = self.mapping
        text = io.TextIOWrapper(stream, encoding=mapping.csv.encoding, errors="strict", newline="")
        reader = csv.DictReader(text, delimiter=mapping.csv.delimiter, quotechar=mapping.csv.quotechar)
        header = reader.fieldnames or []
        missing = sorted({column for rule in mapping.fields for column in rule.source_columns()} - set(header))
        if mapping.source_id and mapping.source_id not in header:
            missing.append(mapping.source_id)
        if missing:
            raise MappingError([FieldError("columns", f"the file has no column {name!r}") for name in missing])
        content_type = RECORD_TYPES[mapping.record].content
        try:
            for row in reader:
                location = f"line {reader.line_num}"
                raw = mapping.csv.delimiter.join(str(row.get(column) or "") for column in header)
                if len(raw.encode()) > MAX_ROW_BYTES:
                    yield Rejection("row", f"longer than {MAX_ROW_BYTES} bytes", raw=raw[:1000], location=location)
                    continue
                yield self._row(row, raw, location, content_type)
        except (csv.Error, UnicodeDecodeError) as error:
            yield Rejection("file", f"cannot be read as {mapping.csv.encoding} CSV: {error}", raw="", location="file")

    def _row(self, row: dict[str, str | None], raw: str, location: str, content_type: type[BaseModel]) -> ReadResult:
        mapping = self.mapping
        assert mapping is not None
        document: dict[str, Any] = {}
        sources: dict[str, str] = {}  # target path to the column(s) it came from, to name them in errors
        for name, value in mapping.constants.items():
            _set(document, name.split("."), value)
        for rule in mapping.fields:
            columns = rule.source_columns()
            label = "+".join(columns) if columns else f"constant for {rule.target}"
            try:
                value = self._value(rule, row)
            except ValueError as error:
                return Rejection(label, str(error), raw=raw, location=location)
            if value is None:
                if rule.required:
                    return Rejection(label, "is empty but required", raw=raw, location=location)
                continue
            path = rule.target.split(".")
            _set(document, path, value)
            sources[rule.target] = label
            if rule.script is not None:
                _set(document, [*path[:-1], "script"], rule.script)
        try:
            record = content_type.model_validate(document)
        except ValidationError as error:
            field_errors = tuple(_source_error(item, sources) for item in error.errors())
            first = field_errors[0]
            return Rejection(first.field, first.reason, raw=raw, location=location, errors=field_errors)
        provenance = Provenance(
            source_format="csv",
            source_id=(row.get(mapping.source_id) or None) if mapping.source_id else None,
            original_values=collect_original_values(document, record.model_dump(mode="json")),
        )
        return Accepted(record, raw=raw, location=location, provenance=provenance)

    def _value(self, rule: FieldRule, row: dict[str, str | None]) -> Any:
        if rule.constant is not None:
            return rule.constant
        parts = [(row.get(column) or "").strip() for column in rule.source_columns()]
        text = rule.separator.join(part for part in parts if part)
        if rule.split is not None and text:
            pieces = [piece.strip() for piece in text.split(rule.separator) if piece.strip()]
            text = pieces[rule.split] if rule.split < len(pieces) else ""
        if rule.kind == "list":
            values = [self._convert(rule, piece.strip()) for piece in text.split(rule.separator) if piece.strip()]
            present = [value for value in values if value]
            return present or None
        return self._convert(rule, text) or None

    def _convert(self, rule: FieldRule, text: str) -> str:
        """One value through the rule's value map and date format."""
        if rule.map is not None:
            assert self.mapping is not None
            table = self.mapping.value_maps[rule.map]
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


def _source_error(item: Any, sources: dict[str, str]) -> FieldError:
    """A validation error named by the source column where one fed that field."""
    path = ".".join(str(part) for part in item["loc"])
    column = next((label for target, label in sources.items() if path == target or path.startswith(target + ".")), None)
    reason = str(item["msg"]).removeprefix("Value error, ")
    return FieldError(column or path, reason if column is None else f"{reason} (field {path})")
