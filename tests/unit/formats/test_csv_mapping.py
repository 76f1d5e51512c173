"""CSV exports read through declarative mappings: hand-made exports in the shapes national
systems produce (semicolons, local codes, dd.mm.yyyy dates, names in Cyrillic)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polex.domain.base import Provenance
from polex.domain.document import TravelDocument
from polex.domain.person import Person
from polex.formats.csv_mapping import (
    CsvMappingAdapter,
    FieldRule,
    MappingError,
    _putter,
    _reader,
    _set,
    _value,
    load_mapping,
    parse_date,
)
from polex.formats.registry import Accepted, Rejection, available_formats

DOCUMENTS_MAPPING = """
version: 1
record: travel_document
csv: {delimiter: ";"}
constants: {issuing_country: FRA}
value_maps:
  types: {PASSEPORT: passport, CNI: identity_card}
  statuses: {VOL: stolen, PERTE: lost, VIERGE: stolen_blank}
  sexes: {M: male, F: female, default: unknown}
fields:
  - {target: number, column: NUM_DOC, required: true}
  - {target: document_type, column: TYPE, map: types}
  - {target: status, column: MOTIF, map: statuses, required: true}
  - {target: issued_on, column: DATE_DELIV, date: dd.mm.yyyy}
  - {target: expires_on, column: DATE_EXP, date: dd.mm.yyyy}
  - {target: holder.names.0.full, columns: [PRENOM, NOM], separator: " ", script: Latn}
  - {target: holder.names.0.given, column: PRENOM}
  - {target: holder.names.0.family, column: NOM}
  - {target: holder.birth_date, column: NAISSANCE, date: dd.mm.yyyy}
  - {target: holder.sex, column: SEXE, map: sexes}
source_id: REF
"""

DOCUMENTS_CSV = """REF;NUM_DOC;TYPE;MOTIF;DATE_DELIV;DATE_EXP;NOM;PRENOM;NAISSANCE;SEXE
A-1;12ab 34567;PASSEPORT;VOL;01.03.2019;28.02.2029;MARTIN;Camille;02.01.1990;F
A-2;23CD45678;CNI;PERTE;15.06.2020;14.06.2030;DUBOIS;Luc;31.02.1985;M
A-3;;PASSEPORT;VOL;01.03.2019;28.02.2029;ROUX;Marie;01.01.1970;F
A-4;34EF56789;PERMIS;VOL;01.03.2019;28.02.2029;BLANC;Paul;01.01.1970;M
"""


def read(mapping: str, text: str) -> list[Accepted | Rejection]:
    return list(CsvMappingAdapter(mapping=mapping).read(io.BytesIO(text.encode())))


def test_a_french_export_becomes_documents_and_named_rejections() -> None:
    results = read(DOCUMENTS_MAPPING, DOCUMENTS_CSV)
    assert [type(result).__name__ for result in results] == ["Accepted", "Rejection", "Rejection", "Rejection"]
    first = results[0]
    assert isinstance(first, Accepted)
    assert isinstance(first.record, TravelDocument)
    document = first.record
    assert (document.number, document.document_type.value, document.status.value) == ("12AB34567", "passport", "stolen")
    assert document.holder is not None
    assert document.holder.names[0].full == "Camille MARTIN"
    assert document.holder.names[0].script == "Latn"
    assert document.holder.birth_date == "1990-01-02"
    assert first.provenance is not None
    assert first.provenance.source_id == "A-1"
    assert first.provenance.original_values["number"] == "12ab 34567"
    assert first.location == "line 2"
    impossible, empty, unmapped = results[1], results[2], results[3]
    assert isinstance(impossible, Rejection)
    assert impossible.field == "NAISSANCE"
    assert "day is out of range" in impossible.reason
    assert isinstance(empty, Rejection)
    assert (empty.field, empty.reason) == ("NUM_DOC", "is empty but required")
    assert isinstance(unmapped, Rejection)
    assert unmapped.field == "TYPE"
    assert "'PERMIS' is not in the value map 'types'" in unmapped.reason
    assert unmapped.raw.startswith("A-4;34EF56789;PERMIS")  # kept as received


def test_cyrillic_names_and_partial_dates() -> None:
    mapping = """
record: person
csv: {delimiter: ","}
fields:
  - {target: names.0.full, columns: ["Ім'я", "Прізвище"], script: Cyrl}
  - {target: names.0.family, column: "Прізвище"}
  - {target: names.1.full, column: LATIN}
  - {target: names.1.kind, constant: transliteration}
  - {target: birth_dates, column: "Дата народження", date: yyyy-mm, kind: list}
  - {target: nationalities, column: Громадянство, kind: list, separator: "|"}
"""
    text = "Ім'я,Прізвище,LATIN,Дата народження,Громадянство\nОлександр,Шевченко,Oleksandr Shevchenko,1984-07,UKR|POL\n"
    (result,) = read(mapping, text)
    assert isinstance(result, Accepted)
    person = result.record
    assert isinstance(person, Person)
    assert person.names[0].full == "Олександр Шевченко"
    assert person.names[0].script == "Cyrl"
    assert person.names[1].kind.value == "transliteration"
    assert person.birth_dates == ["1984-07"]
    assert person.nationalities == ["UKR", "POL"]


@pytest.mark.parametrize(
    ("mapping", "field", "reason"),
    [
        (
            "record: vehicle\nfields: [{target: colour_code, column: C}]",
            "fields.0.target",
            "'colour_code' is not a field",
        ),
        ("record: vehicle\nfields: [{target: plate, column: P, map: plates}]", "fields.0.map", "no value map"),
        (
            "record: vehicle\nfields: [{target: stolen_on, column: D, date: dd-mm-yy}]",
            "fields.0",
            "unknown date format",
        ),
        ("record: vehicle\nfields: [{target: plate, column: P, constant: X}]", "fields.0", "exactly one of"),
        ("record: starship\nfields: [{target: plate, column: P}]", "record", "Input should be"),
        (
            "record: person\nfields: [{target: names.0.nickname, column: N}]",
            "fields.0.target",
            "not a field of names.0",
        ),
        ("{unclosed", "mapping", "not valid YAML"),
    ],
)
def test_a_wrong_mapping_is_refused_before_any_row(mapping: str, field: str, reason: str) -> None:
    with pytest.raises(MappingError) as refused:
        load_mapping(mapping)
    assert any(error.field == field and reason in error.reason for error in refused.value.errors), refused.value.errors


def test_missing_columns_are_named_before_reading() -> None:
    with pytest.raises(MappingError, match="no column 'NUM_DOC'"):
        read(DOCUMENTS_MAPPING, "REF;TYPE\nA;B\n")


def test_dates() -> None:
    assert parse_date("02.01.1990", "dd.mm.yyyy") == "1990-01-02"
    assert parse_date("19900102", "yyyymmdd") == "1990-01-02"
    assert parse_date("1990", "yyyy") == "1990"
    with pytest.raises(ValueError, match="not a date written"):
        parse_date("1990-01-02", "dd.mm.yyyy")


def test_the_format_is_registered() -> None:
    assert "csv-mapping" in {info.name for info in available_formats()}


@settings(max_examples=200, deadline=None)
@given(cells=st.lists(st.text(max_size=40), min_size=10, max_size=10))
def test_any_cell_content_gives_a_record_or_a_rejection(cells: list[str]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";")
    writer.writerow(["REF", "NUM_DOC", "TYPE", "MOTIF", "DATE_DELIV", "DATE_EXP", "NOM", "PRENOM", "NAISSANCE", "SEXE"])
    writer.writerow(cells)
    for result in read(DOCUMENTS_MAPPING, buffer.getvalue()):
        assert isinstance(result, Accepted | Rejection)
        if isinstance(result, Rejection):
            assert result.field
            assert result.reason


def test_blank_lines_short_rows_and_quoted_line_breaks_keep_their_line_numbers() -> None:
    text = (
        "REF;NUM_DOC;TYPE;MOTIF;DATE_DELIV;DATE_EXP;NOM;PRENOM;NAISSANCE;SEXE\n"
        "\n"  # skipped, but counted as a line
        'B-1;12AB34567;PASSEPORT;VOL;;;"MARTIN\nDUPONT";Camille;;F\n'  # a name over two lines
        "B-2;23CD45678;CNI;PERTE\n"  # the columns after MOTIF missing: empty
        "B-3;34EF56789;CNI;PERTE;;;ROUX;Marie;;F;extra;cells\n"  # cells past the header: not kept
    )
    results = read(DOCUMENTS_MAPPING, text)
    assert [(type(result).__name__, result.location) for result in results] == [
        ("Accepted", "line 4"),  # lines 3-4: named by its last line, as csv counts them
        ("Rejection", "line 5"),
        ("Accepted", "line 6"),
    ]
    quoted, short, long = results
    assert isinstance(quoted, Accepted)
    assert isinstance(short, Rejection)
    assert isinstance(long, Accepted)
    assert quoted.raw == "B-1;12AB34567;PASSEPORT;VOL;;;MARTIN\nDUPONT;Camille;;F"
    assert quoted.record.holder.names[0].family == "MARTIN\nDUPONT"  # type: ignore[attr-defined]
    # Missing cells are empty, as received: the empty sex maps to its default, so a holder
    # with no name, which the schema refuses.
    assert short.raw == "B-2;23CD45678;CNI;PERTE;;;;;;"
    assert short.field == "holder.names"
    assert long.raw == "B-3;34EF56789;CNI;PERTE;;;ROUX;Marie;;F"


def test_a_repeated_column_name_reads_its_last_column_as_a_dict_reader_would() -> None:
    mapping = """
record: travel_document
constants: {issuing_country: FRA, status: stolen}
fields:
  - {target: number, column: NUM, required: true}
source_id: NUM
"""
    (result,) = read(mapping, "NUM,NUM\nfirst,12ab 34567\n")
    assert isinstance(result, Accepted)
    assert result.record.number == "12AB34567"  # type: ignore[attr-defined]
    assert result.provenance is not None
    assert (result.provenance.source_id, result.provenance.original_values) == ("12ab 34567", {"number": "12ab 34567"})


def test_original_values_of_nested_targets_are_those_of_the_whole_document() -> None:
    """A target inside another's (a constant holder, then its sex from a column): the
    original values are found by walking the whole document, as for any other record."""
    mapping = """
record: travel_document
constants:
  issuing_country: fra
  holder: {names: [{full: " Jean  Dupont"}]}
fields:
  - {target: number, column: NUM, required: true}
  - {target: status, column: MOTIF}
  - {target: holder.sex, column: SEXE}
"""
    (result,) = read(mapping, "NUM,MOTIF,SEXE\n12ab34567,stolen,male\n")
    assert isinstance(result, Accepted), result
    assert result.provenance is not None
    assert result.provenance.original_values == {"issuing_country": "fra", "number": "12ab34567"}


VALID_ROW = ["12AB34567", "PASSEPORT", "VOL", "01.03.2019", "28.02.2029", "MARTIN", "Camille", "02.01.1990", "F"]


def _with_reference(reference: str) -> str:
    import csv

    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";")
    writer.writerow(["REF", "NUM_DOC", "TYPE", "MOTIF", "DATE_DELIV", "DATE_EXP", "NOM", "PRENOM", "NAISSANCE", "SEXE"])
    writer.writerow([reference, *VALID_ROW])
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("reference", "reason"),
    [
        ("x" * 501, "a source id has at most 500 characters, this one has 501"),
        ("A\x07-1", "control character U+0007 is not allowed in text"),
    ],
)
def test_a_source_id_the_provenance_cannot_keep_rejects_its_row_naming_the_column(reference: str, reason: str) -> None:
    # These used to escape the reader as a pydantic error about Provenance, failing the import.
    [result] = read(DOCUMENTS_MAPPING, _with_reference(reference))
    assert isinstance(result, Rejection)
    assert (result.field, result.reason, result.location) == ("REF", reason, "line 2")


def test_a_blank_source_id_is_no_source_id() -> None:
    [result] = read(DOCUMENTS_MAPPING, _with_reference("   "))
    assert isinstance(result, Accepted)
    assert result.provenance is not None
    assert result.provenance.source_id is None
    [padded] = read(DOCUMENTS_MAPPING, _with_reference("  A-1 "))
    assert isinstance(padded, Accepted)
    assert padded.provenance is not None
    assert padded.provenance.source_id == "A-1"


@settings(max_examples=300, deadline=None)
@given(reference=st.text(max_size=600))
def test_any_source_id_of_a_valid_row_gives_a_record_or_a_rejection_naming_it(reference: str) -> None:
    # The other cells are valid, so the row reaches its provenance (random cells rarely do).
    for result in read(DOCUMENTS_MAPPING, _with_reference(reference)):
        assert isinstance(result, Accepted | Rejection)
        if isinstance(result, Rejection):
            assert result.field == "REF"
        else:
            _assert_kept_as_validated(result)


def _assert_kept_as_validated(result: Accepted) -> None:
    """The reader builds the provenance without validating it again and keeps the record's
    JSON: what validation would give, and the record's own JSON."""
    assert result.provenance is not None
    assert Provenance.model_validate(result.provenance.model_dump()) == result.provenance
    assert result.content_json == result.record.model_dump_json()


_NAME = st.text(alphabet="abcdefghijklmnopqrstuvwxyzÉéèüçÀ -'", min_size=1, max_size=20).filter(str.strip)


@settings(max_examples=200, deadline=None)
@given(
    number=st.text(alphabet="0123456789abcdef <-", min_size=1, max_size=8).filter(lambda text: text.strip(" <-")),
    family=_NAME,
    given_name=_NAME,
    born=st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2010, 12, 31)),
    sex=st.sampled_from(["M", "F", "X", ""]),
)
def test_a_row_read_carries_its_record_json_and_a_provenance_validation_accepts(
    number: str, family: str, given_name: str, born: dt.date, sex: str
) -> None:
    # Every row is valid; numbers typed with spaces, fillers and small letters leave originals.
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";")
    writer.writerow(["REF", "NUM_DOC", "TYPE", "MOTIF", "DATE_DELIV", "DATE_EXP", "NOM", "PRENOM", "NAISSANCE", "SEXE"])
    writer.writerow(["A-1", f" 12ab {number}", "PASSEPORT", "VOL", "", "", family, given_name, f"{born:%d.%m.%Y}", sex])
    (result,) = read(DOCUMENTS_MAPPING, buffer.getvalue())
    assert isinstance(result, Accepted), result
    _assert_kept_as_validated(result)


# The reader compiles the common rules into functions of their own (csv_mapping._reader,
# csv_mapping._putter); the general functions they stand for (_value, _set) are the rule.

_CELL = st.sampled_from(
    ["a", " a ", "A", "ab", "AB", "b", "", " ", "1", "01.02.2003", "2003", "02.2003", "31.02.2003"]
) | st.text(alphabet="abAB01 .-/", max_size=12)
_TABLES = st.dictionaries(st.sampled_from(["a", "A", "b", "AB", "", "default", "1"]), st.sampled_from(["x", "y", ""]))


def _outcome(read: Callable[[], Any]) -> Any:
    try:
        return ("value", read())
    except ValueError as error:
        return ("refused", str(error))


@settings(max_examples=500, deadline=None)
@given(
    cells=st.lists(_CELL, min_size=3, max_size=3),
    columns=st.lists(st.sampled_from(["A", "B", "C"]), min_size=1, max_size=3) | st.just(["A"]),
    table=st.none() | _TABLES,
    date=st.none() | st.sampled_from(["dd.mm.yyyy", "yyyy", "mm.yyyy"]),
    separator=st.sampled_from([" ", "-"]),
)
def test_a_compiled_rule_reads_what_the_general_rule_reads(
    cells: list[str], columns: list[str], table: dict[str, str] | None, date: str | None, separator: str
) -> None:
    rule = FieldRule(
        target="number",
        columns=columns,
        separator=separator,
        map="codes" if table is not None else None,
        date=date,
    )
    indices = tuple("ABC".index(column) for column in columns)
    compiled = _reader(rule, indices, table)
    assert _outcome(lambda: compiled(cells)) == _outcome(lambda: _value(rule, indices, table, cells))


_PATHS = st.lists(
    st.tuples(  # keys around a list index, as holder.names.0.full
        st.sampled_from(["holder", "vehicle"]),
        st.sampled_from(["names", "aliases"]),
        st.integers(min_value=0, max_value=2),
        st.sampled_from(["full", "given", "script"]),
    )
    | st.lists(st.sampled_from(["holder", "sex", "full"]), min_size=1, max_size=3).map(tuple),  # keys alone
    min_size=1,
    max_size=8,
)


@settings(max_examples=500, deadline=None)
@given(paths=_PATHS)
def test_a_compiled_target_builds_the_document_the_general_rule_builds(paths: list[tuple[str | int, ...]]) -> None:
    # Targets that do not lie inside one another, set in order, some of them twice.
    alone = [path for path in paths if not any(other != path and other[: len(path)] == path for other in paths)]
    expected: dict[str, Any] = {}
    built: dict[str, Any] = {}
    for number, path in enumerate(alone):
        _set(expected, path, number)
        _putter(path, alone=True)(built, number)
    assert built == expected
