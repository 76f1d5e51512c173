"""Manifests read row by row: every row of any input becomes something to check or errors
naming its line and fields; nothing raises and no row is lost."""

import io
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from polex.screening.manifest import MAX_FIELD, rows


def read(text: str, format_name: str = "csv") -> list:
    return list(rows(io.BytesIO(text.encode()), format_name))


def test_a_csv_manifest_is_read_with_its_aliases_and_line_numbers() -> None:
    manifest = (
        "Passenger ID,First Name,Surname,DOB,Nationality,Gender,Passport Number,Issuing Country,Seat\n"
        "P1,Camille,Martin,1990-01-02,FRA,F,12AB34567,FRA,12A\n"
        "\n"
        "P2,Олег,Петренко,1980,UKR;POL,M,,,14C\n"
        "P3,,,,,,99XX00000,DEU,1A\n"
    )
    first, second, third = read(manifest)
    assert (first.line, first.ref) == (2, "P1")
    assert first.person is not None
    assert first.person.names == ("Camille Martin",)
    assert first.person.birth_date == "1990-01-02"
    assert first.person.identifiers == ("12AB34567",)
    assert first.document == {"number": "12AB34567", "country": "FRA"}
    assert second.line == 4
    assert second.person is not None
    assert second.person.nationalities == ("UKR", "POL")
    assert second.document is None
    assert third.person is None
    assert third.document == {"number": "99XX00000", "country": "DEU"}


def test_bad_rows_are_kept_with_their_errors_and_the_rest_goes_on() -> None:
    manifest = (
        "id,name,birth_date,nationality\n"
        "1,Ana Lopez,1980-13-45,ESP\n"
        "2,Ana Lopez,1980,ZZZ\n"
        "3,only,two\n"
        "4,,,\n"
        f'5,"{"x" * (MAX_FIELD + 5)}",,\n'
        "6,Jan Novak,1970,CZE\n"
    )
    read_rows = read(manifest)
    assert [row.ref for row in read_rows if row.ref] == ["1", "2", "4", "6"]
    by_line = {row.line: row for row in read_rows}
    assert [error.field for error in by_line[2].errors] == ["birth_date"]
    assert [error.field for error in by_line[3].errors] == ["nationality"]
    assert [error.field for error in by_line[4].errors] == ["row"]
    assert [error.field for error in by_line[5].errors] == ["name"]
    assert read_rows[-1].person is not None
    assert read_rows[-1].line == 7
    assert len(read_rows) == 6  # the over-long field is its own error row


def test_json_lines_and_arrays() -> None:
    lines = '{"id": "a", "name": "Ana Lopez"}\nnot json\n[1]\n{"mrz": "P<FRA"}\n'
    read_rows = read(lines, "jsonl")
    assert [bool(row.errors) for row in read_rows] == [False, True, True, False]
    assert read_rows[3].document == {"mrz": "P<FRA"}
    array = json.dumps([{"name": "Ana Lopez", "nationality": ["ESP", "MEX"]}, 5])
    first, second = read(array, "json")
    assert first.person is not None
    assert first.person.nationalities == ("ESP", "MEX")
    assert second.errors[0].reason == "is not a JSON object"
    assert read("{}", "json")[0].errors[0].field == "file"


def test_a_file_without_usable_columns_is_one_error() -> None:
    [row] = read("seat,meal\n1A,veg\n")
    assert row.errors[0].field == "header"
    assert read("") == []


@settings(max_examples=200, deadline=None)
@given(cells=st.lists(st.lists(st.text(max_size=20), min_size=1, max_size=5), max_size=10))
def test_any_csv_body_reads_without_raising(cells: list[list[str]]) -> None:
    body = "name,birth_date,nationality,document_number,document_country\n" + "\n".join(
        ",".join(json.dumps(cell) for cell in row) for row in cells
    )
    for row in read(body):
        assert row.line >= 2
        assert row.person is not None or row.document is not None or row.errors
