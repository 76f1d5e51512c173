"""Passenger manifests read row by row: CSV with a header, or JSON Lines (one object a
line); a JSON array is read whole, so it is capped. Every row becomes either what to check
(a person, a document, or both) or errors naming its line and fields; a bad row never
stops the file, and no row is skipped.

Columns (case and spaces ignored; others are ignored): ``id`` (or ``ref``,
``passenger_id``), ``name`` (or ``full_name``) and/or ``given_name`` and ``family_name``
(or ``first_name``, ``last_name``, ``surname``), ``birth_date`` (or ``date_of_birth``,
``dob``; ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``), ``nationality`` (ISO 3166-1, several
separated by ``;``), ``sex`` (or ``gender``), ``document_number`` (or ``passport_number``)
with ``document_country`` (or ``issuing_country``) and ``document_type``, or ``mrz``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from polex.errors import FieldError
from polex.matching.model import PersonQuery

MAX_JSON_ARRAY_BYTES = 64 * 1024 * 1024  # larger manifests come as CSV or JSON Lines
MAX_FIELD = 10_000  # characters in one CSV field: anything longer is not a manifest
MAX_ROW_BYTES = 100_000  # one JSON Lines row
FORMATS = ("csv", "jsonl", "json")

_ALIASES = {
    "id": "ref", "ref": "ref", "reference": "ref", "passenger_id": "ref", "passengerid": "ref",
    "name": "name", "full_name": "name", "fullname": "name",
    "given_name": "given", "given_names": "given", "first_name": "given", "firstname": "given",
    "family_name": "family", "last_name": "family", "lastname": "family", "surname": "family",
    "birth_date": "birth_date", "date_of_birth": "birth_date", "dob": "birth_date", "birthdate": "birth_date",
    "nationality": "nationality", "nationalities": "nationality", "citizenship": "nationality",
    "sex": "sex", "gender": "sex",
    "document_number": "document_number", "passport_number": "document_number", "document": "document_number",
    "document_country": "document_country", "issuing_country": "document_country",
    "document_issuer": "document_country",
    "document_type": "document_type",
    "mrz": "mrz",
}  # fmt: skip


@dataclass
class ManifestRow:
    """One row read: its line in the file, the traveller's reference, what to check, and
    what could not be read (the rest of the row is still checked)."""

    line: int
    ref: str | None = None
    person: PersonQuery | None = None
    document: dict[str, str] | None = None
    errors: list[FieldError] = field(default_factory=list)


def _canonical(name: str) -> str | None:
    return _ALIASES.get(name.strip().lower().replace(" ", "_").replace("-", "_"))


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def read_row(line: int, values: dict[str, Any]) -> ManifestRow:
    """A row's values (keyed by canonical column names) into what to check."""
    row = ManifestRow(line=line, ref=_text(values.get("ref"))[:128] or None)
    given, family, full = (_text(values.get(key)) for key in ("given", "family", "name"))
    names = [full] if full else []
    if given or family:
        joined = " ".join(part for part in (given, family) if part)
        if joined not in names:
            names.append(joined)
    nationalities = tuple(code.strip() for code in _text(values.get("nationality")).replace(",", ";").split(";"))
    number = _text(values.get("document_number"))
    fields: dict[str, Any] = {
        "birth_date": _text(values.get("birth_date")) or None,
        "nationalities": tuple(code for code in nationalities if code),
        "sex": _text(values.get("sex")) or None,
        "identifiers": (number,) if number else (),
    }
    # A bad birth date or nationality is reported, and the name is still screened without it.
    while names:
        try:
            row.person = PersonQuery(names=tuple(names), **fields)
            break
        except ValueError as error:
            where, _, reason = str(error).partition(": ")
            row.errors.append(FieldError(_column_of(where), reason or str(error)))
            dropped = where.split("[", 1)[0]
            if dropped not in fields or dropped == "names":
                break
            fields[dropped] = () if dropped in ("nationalities", "identifiers") else None
    mrz = _text(values.get("mrz"))
    if mrz:
        row.document = {"mrz": mrz}
    elif number:
        row.document = {"number": number, "country": _text(values.get("document_country"))}
        if _text(values.get("document_type")):
            row.document["type"] = _text(values.get("document_type"))
    if row.person is None and row.document is None and not row.errors:
        row.errors.append(FieldError("name", "a row needs a name, a document number or an MRZ"))
    return row


def _column_of(field_name: str) -> str:
    # PersonQuery names its fields (names[1], nationalities[0]); say which column they came from.
    if field_name.startswith("names"):
        return "name"
    if field_name.startswith("nationalities"):
        return "nationality"
    if field_name.startswith("identifiers"):
        return "document_number"
    return field_name


def rows(stream: IO[bytes], format_name: str) -> Iterator[ManifestRow]:
    """Every row of the manifest, in order, read as it streams (CSV and JSON Lines)."""
    if format_name == "csv":
        yield from _csv_rows(stream)
    elif format_name == "jsonl":
        yield from _jsonl_rows(stream)
    elif format_name == "json":
        yield from _json_rows(stream)
    else:
        raise ValueError(f"format: one of {', '.join(FORMATS)}")


def _csv_rows(stream: IO[bytes]) -> Iterator[ManifestRow]:
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline="")
    csv.field_size_limit(MAX_FIELD)
    reader = csv.reader(text)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as error:
        yield ManifestRow(line=1, errors=[FieldError("header", f"cannot be read: {error}")])
        return
    columns = [_canonical(name) for name in header]
    if not any(column in ("name", "given", "family", "document_number", "mrz") for column in columns):
        yield ManifestRow(
            line=1,
            errors=[FieldError("header", "needs a name (or given_name, family_name), document_number or mrz column")],
        )
        return
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as error:  # an over-long field or a broken quote: the row, not the file
            yield ManifestRow(line=reader.line_num, errors=[FieldError("row", f"cannot be read as CSV: {error}")])
            continue
        if not any(value.strip() for value in values):
            continue  # a blank line is not a row
        if len(values) != len(header):
            yield ManifestRow(
                line=reader.line_num,
                errors=[FieldError("row", f"has {len(values)} fields, the header has {len(header)}")],
            )
            continue
        yield read_row(
            reader.line_num, {column: value for column, value in zip(columns, values, strict=True) if column}
        )


def _object_row(line: int, value: Any) -> ManifestRow:
    if not isinstance(value, dict):
        return ManifestRow(line=line, errors=[FieldError("row", "is not a JSON object")])
    canonical = {name: item for key, item in value.items() if (name := _canonical(str(key))) is not None}
    if isinstance(canonical.get("nationality"), list):
        canonical["nationality"] = ";".join(str(code) for code in canonical["nationality"])
    return read_row(line, canonical)


def _jsonl_rows(stream: IO[bytes]) -> Iterator[ManifestRow]:
    for line, raw in enumerate(stream, start=1):
        if not raw.strip():
            continue
        if len(raw) > MAX_ROW_BYTES:
            yield ManifestRow(line=line, errors=[FieldError("row", f"is longer than {MAX_ROW_BYTES} bytes")])
            continue
        try:
            value = json.loads(raw)
        except ValueError as error:
            yield ManifestRow(line=line, errors=[FieldError("row", f"is not JSON: {error}")])
            continue
        yield _object_row(line, value)


def _json_rows(stream: IO[bytes]) -> Iterator[ManifestRow]:
    data = stream.read(MAX_JSON_ARRAY_BYTES + 1)
    if len(data) > MAX_JSON_ARRAY_BYTES:
        yield ManifestRow(
            line=1, errors=[FieldError("file", f"a JSON array is read whole: at most {MAX_JSON_ARRAY_BYTES} bytes")]
        )
        return
    try:
        value = json.loads(data)
    except ValueError as error:
        yield ManifestRow(line=1, errors=[FieldError("file", f"is not JSON: {error}")])
        return
    if not isinstance(value, list):
        yield ManifestRow(line=1, errors=[FieldError("file", "must be a JSON array of objects")])
        return
    for position, item in enumerate(value, start=1):  # "line" is the item's position here
        yield _object_row(position, item)
