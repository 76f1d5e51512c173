"""Reading, checking, correcting and writing MRZs: worked examples.

The UTOPIA lines are the specimens printed in ICAO Doc 9303 itself (parts 4 and 5).
"""

from __future__ import annotations

import datetime as dt
import re

import pytest

from polex.domain.document import DocumentHolder, DocumentStatus, DocumentType, TravelDocument
from polex.domain.person import NameKind, PersonName, Sex
from polex.errors import ValidationFailed
from polex.formats.mrz import (
    MrzError,
    MrzFields,
    MrzFormat,
    check_digit,
    detect_format,
    document_type_for,
    from_travel_document,
    generate,
    generate_mrva,
    generate_mrvb,
    generate_td1,
    generate_td2,
    generate_td3,
    name_field,
    parse,
    suggest_corrections,
    to_travel_document,
    transliterate_name,
)

TODAY = dt.date(2025, 6, 1)

ICAO_TD3 = (
    "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
    "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
)
ICAO_TD1_LONG_NUMBER = (
    "I<UTOD23145890<1233<<<<<<<<<<<",
    "7408122F1204159UTO<<<<<<<<<<<2",
    "ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
)


def _fields(**changes: object) -> MrzFields:
    values: dict[str, object] = {
        "document_code": "P",
        "issuing_state": "NLD",
        "document_number": "SPECI2014",
        "primary_identifier": "De Bruijn",
        "secondary_identifier": "Willeke Liselotte",
        "nationality": "NLD",
        "birth_date": dt.date(1965, 3, 10),
        "sex": Sex.FEMALE,
        "expiry_date": dt.date(2024, 3, 9),
        "optional_data": "999999990",
    }
    values.update(changes)
    return MrzFields(**values)  # type: ignore[arg-type]


# --- The ICAO specimens ---------------------------------------------------------------------


def test_the_icao_td3_specimen_field_by_field() -> None:
    mrz = parse(ICAO_TD3, today=TODAY)
    assert mrz.format is MrzFormat.TD3
    assert mrz.lines == ICAO_TD3
    assert mrz.document_code == "P"
    assert mrz.issuing_state == "UTO"
    assert mrz.issuing_country == "UTO"
    assert mrz.primary_identifier == "ERIKSSON"
    assert mrz.secondary_identifier == "ANNA MARIA"
    assert not mrz.name_may_be_truncated
    assert mrz.document_number == "L898902C3"
    assert mrz.nationality == "UTO"
    assert mrz.nationality_country == "UTO"
    assert mrz.birth_date == dt.date(1974, 8, 12)
    assert mrz.birth_date_partial == "1974-08-12"
    assert mrz.sex is Sex.FEMALE
    assert mrz.expiry_date == dt.date(2012, 4, 15)
    assert mrz.optional_data == "ZE184226B"
    assert mrz.optional_data_2 == ""
    assert mrz.check_digits_ok == {
        "document_number": True,
        "birth_date": True,
        "expiry_date": True,
        "personal_number": True,
        "composite": True,
    }
    assert [(check.printed, check.line, check.position) for check in mrz.check_digits] == [
        ("6", 2, 10),
        ("2", 2, 20),
        ("9", 2, 28),
        ("1", 2, 43),
        ("0", 2, 44),
    ]
    assert mrz.valid
    assert mrz.problems == ()


def test_a_td1_with_a_long_document_number() -> None:
    mrz = parse(ICAO_TD1_LONG_NUMBER, today=TODAY)
    assert mrz.format is MrzFormat.TD1
    assert mrz.document_code == "I"
    assert mrz.document_number == "D23145890123"
    assert mrz.optional_data == ""  # the end of the number is not optional data
    check = mrz.check("document_number")
    assert (check.printed, check.computed, check.ok, check.line, check.position) == ("3", 3, True, 1, 19)
    assert mrz.check_digits_ok == {"document_number": True, "birth_date": True, "expiry_date": True, "composite": True}
    assert (
        generate_td1(
            MrzFields(
                document_code="I",
                issuing_state="UTO",
                document_number="D23145890123",
                primary_identifier="Eriksson",
                secondary_identifier="Anna Maria",
                nationality="UTO",
                birth_date=dt.date(1974, 8, 12),
                sex=Sex.FEMALE,
                expiry_date=dt.date(2012, 4, 15),
            )
        )
        == ICAO_TD1_LONG_NUMBER
    )


def test_a_long_number_check_digit_computed_with_the_filler_is_accepted_and_noted() -> None:
    # An issuer variant: the digit over "D23145890<124" rather than "D23145890124".
    number, continuation = "D23145890", "124"
    ours = check_digit(number + continuation)
    theirs = check_digit(number + "<" + continuation)
    assert ours != theirs
    line1 = f"I<UTO{number}<{continuation}{theirs}".ljust(30, "<")
    line2 = "7408122F1204159UTO<<<<<<<<<<<"
    line2 += str(check_digit(line1[5:30] + line2[0:7] + line2[8:15] + line2[18:29]))
    mrz = parse([line1, line2, ICAO_TD1_LONG_NUMBER[2]], today=TODAY)
    check = mrz.check("document_number")
    assert check.ok
    assert check.computed == ours
    assert check.note is not None
    assert "'<'" in check.note


def test_a_long_number_that_does_not_continue_is_a_problem() -> None:
    lines = ["I<UTOD23145890<<<<<<<<<<<<<<<<", *ICAO_TD1_LONG_NUMBER[1:]]
    mrz = parse(lines, strict=False, today=TODAY)
    assert not mrz.check("document_number").ok
    assert any(
        problem.field == "document_number" and "long document number" in problem.reason for problem in mrz.problems
    )


def test_germany_is_d_and_reads_as_deu() -> None:
    lines = generate_td3(_fields(issuing_state="D", nationality="D", document_number="C01X00T47"))
    assert lines[0].startswith("P<D<<DE<BRUIJN<<")
    mrz = parse(lines, today=TODAY)
    assert (mrz.issuing_state, mrz.issuing_country) == ("D<<", "DEU")
    assert (mrz.nationality, mrz.nationality_country) == ("D<<", "DEU")


# --- Input ----------------------------------------------------------------------------------


def test_one_text_with_whitespace_lower_case_and_blank_lines_is_read() -> None:
    text = "\r\n   " + ICAO_TD3[0].lower() + "  \r\n\r\n\t" + ICAO_TD3[1] + "\n\n"
    assert parse(text, today=TODAY) == parse(ICAO_TD3, today=TODAY)
    assert detect_format(text) is MrzFormat.TD3


@pytest.mark.parametrize(
    ("lines", "line", "words"),
    [
        ([ICAO_TD3[0]], None, "2 lines (TD2, TD3, MRV-A, MRV-B) or 3 (TD1), this one has 1"),
        ([*ICAO_TD3, *ICAO_TD3], None, "this one has 4"),
        ([ICAO_TD3[0], ICAO_TD3[1][:-1]], 2, "line 2 has 43 characters; a TD3 or MRV-A line has 44"),
        ([ICAO_TD3[0][:40], ICAO_TD3[1][:40]], 1, "line 1 has 40 characters"),
        ([*ICAO_TD1_LONG_NUMBER[:2], "ERIKSSON<<ANNA<MARIA<<<<<<<<<"], 3, "line 3 has 29 characters"),
        ([ICAO_TD3[0], ICAO_TD3[1].replace("ZE18", "ZE 8")], 2, "line 2, position 31: ' ' is not an MRZ character"),
        ([ICAO_TD3[0].replace("ANNA", "ÄNNA"), ICAO_TD3[1]], 1, "line 1, position 16: 'Ä'"),
        ("", None, "no MRZ lines"),
    ],
)
def test_text_that_is_not_an_mrz_is_refused_naming_the_line(lines: list[str], line: int | None, words: str) -> None:
    for strict in (True, False):
        with pytest.raises(MrzError, match=re.escape(words)) as caught:
            parse(lines, strict=strict)
        assert caught.value.field == "lines"
        assert caught.value.line == line


def test_mrz_errors_are_value_errors_and_validation_failures() -> None:
    with pytest.raises(ValueError, match="lines"):
        parse("not an mrz")
    assert issubclass(MrzError, ValidationFailed)
    assert MrzError("birth_date", "x").status == 422


def test_a_french_identity_card_of_1988_is_recognised_and_refused() -> None:
    line1 = "IDFRA" + "DUPONT".ljust(25, "<") + "750123"
    line2 = "8806751234561" + "MARIE".ljust(14, "<") + "7001011F" + "3"
    assert (len(line1), len(line2)) == (36, 36)
    with pytest.raises(MrzError, match="French national identity card of the 1988 model") as caught:
        parse([line1, line2], strict=False)
    assert caught.value.field == "format"
    with pytest.raises(MrzError, match="French"):
        generate(MrzFormat.TD2, _fields(document_code="ID", issuing_state="FRA", nationality="FRA"))


# --- Check digits and problems --------------------------------------------------------------


def test_check_digit_examples() -> None:
    assert check_digit("L898902C3") == 6
    assert check_digit("740812") == 2
    assert check_digit("<<<<<<<<<<<<<<") == 0
    with pytest.raises(ValueError, match="not an MRZ character"):
        check_digit("a")


def test_a_wrong_check_digit_names_the_field() -> None:
    lines = [ICAO_TD3[0], ICAO_TD3[1].replace("7408122", "7408123")]
    with pytest.raises(MrzError) as caught:
        parse(lines, today=TODAY)
    error = caught.value
    assert error.field == "birth_date"
    assert error.reason == "check digit 3 does not match the computed 2"
    assert error.line == 2
    assert str(error).startswith("birth_date (line 2): check digit 3 does not match the computed 2")
    assert [problem.field for problem in error.problems] == ["birth_date", "composite"]
    assert [item.field for item in error.errors] == ["birth_date", "composite"]


def test_not_strict_returns_every_field_and_every_problem() -> None:
    lines = [
        ICAO_TD3[0].replace("P<UTO", "P<UT0"),
        ICAO_TD3[1].replace("L898902C36", "L898902C37").replace("2F12", "2Q12"),
    ]
    mrz = parse(lines, strict=False, today=TODAY)
    assert not mrz.valid
    assert mrz.primary_identifier == "ERIKSSON"
    assert mrz.birth_date == dt.date(1974, 8, 12)
    assert mrz.sex is Sex.UNKNOWN
    assert mrz.issuing_country is None
    assert [problem.field for problem in mrz.problems] == ["issuing_state", "document_number", "sex", "composite"]
    assert mrz.check_digits_ok == {
        "document_number": False,
        "birth_date": True,
        "expiry_date": True,
        "personal_number": True,
        "composite": False,
    }


@pytest.mark.parametrize(
    ("swap", "field", "words"),
    [
        (("P<UTO", "A<UTO"), "document_code", "a TD3 document code begins with P"),
        (("P<UTO", "P<XYZ"), "issuing_state", "'XYZ' is not an ISO 3166-1 alpha-3 code"),
        (("ERIKSSON", "ER1KSSON"), "primary_identifier", "holds digits"),
        (("UTO7408", "UT07408"), "nationality", "holds a digit"),
        (("7408122F", "7413122F"), "birth_date", "month 13"),
        (("2F1204159", "2F1202309"), "expiry_date", "has no day 30"),
        (("2F1204159", "2F<<<<<<<"), None, None),
    ],
)
def test_field_problems(swap: tuple[str, str], field: str | None, words: str | None) -> None:
    line = 0 if swap[0] in ICAO_TD3[0] else 1
    lines = list(ICAO_TD3)
    lines[line] = lines[line].replace(*swap)
    mrz = parse(lines, strict=False, today=TODAY)
    fields = [problem.field for problem in mrz.problems if "check digit" not in problem.reason]
    if field is None:
        assert fields == []
    else:
        assert fields == [field]
        assert words is not None
        assert any(words in problem.reason for problem in mrz.problems if problem.field == field)


def test_an_empty_expiry_date_with_an_empty_check_digit_is_accepted() -> None:
    line2 = "L898902C36UTO7408122F<<<<<<<ZE184226B<<<<<1"
    line2 += str(check_digit(line2[0:10] + line2[13:20] + line2[21:43]))
    mrz = parse([ICAO_TD3[0], line2], today=TODAY)
    assert mrz.expiry_date is None
    assert mrz.check("expiry_date").ok


@pytest.mark.parametrize(
    ("printed", "date", "partial"),
    [
        ("740812", dt.date(1974, 8, 12), "1974-08-12"),
        ("250601", dt.date(2025, 6, 1), "2025-06-01"),  # today: not in the future
        ("250602", dt.date(1925, 6, 2), "1925-06-02"),  # tomorrow's date a century ago
        ("7408<<", None, "1974-08"),
        ("74<<<<", None, "1974"),
        ("740800", None, "1974-08"),
        ("740000", None, "1974"),
        ("<<<<<<", None, None),
    ],
)
def test_birth_dates_are_never_in_the_future_and_may_be_partial(
    printed: str, date: dt.date | None, partial: str | None
) -> None:
    lines = generate_td3(_fields(birth_date=None))
    line2 = lines[1][:13] + printed + str(check_digit(printed)) + lines[1][20:43]
    line2 += str(check_digit(line2[0:10] + line2[13:20] + line2[21:43]))
    mrz = parse([lines[0], line2], today=TODAY)
    assert (mrz.birth_date, mrz.birth_date_partial) == (date, partial)


@pytest.mark.parametrize(
    ("printed", "year"), [("751231", 2075), ("760101", 1976), ("120415", 2012), ("991231", 1999), ("000101", 2000)]
)
def test_expiry_dates_fall_in_a_window_up_to_fifty_years_ahead(printed: str, year: int) -> None:
    lines = generate_td3(_fields(expiry_date=dt.date(year, int(printed[2:4]), int(printed[4:]))))
    assert parse(lines, today=TODAY).expiry_date == dt.date(year, int(printed[2:4]), int(printed[4:]))


# --- OCR suggestions ------------------------------------------------------------------------


def test_ocr_suggestions_find_the_specimen_in_a_garbled_reading() -> None:
    garbled = (
        "P<UT0ER1KSS0N<<ANNA<MAR1A<<<<<<<<<<<<<<<<<<<",
        "L898902C36UTO74O8I2ZF12O4I59ZE184226B<<<<<IO",
    )
    with pytest.raises(MrzError):
        parse(garbled, today=TODAY)
    [candidate] = suggest_corrections(garbled, today=TODAY)
    assert candidate.lines == ICAO_TD3
    assert candidate.mrz == parse(ICAO_TD3, today=TODAY)
    changed = {(change.field, change.was, change.now) for change in candidate.changes}
    assert ("issuing_state", "0", "O") in changed
    assert ("primary_identifier", "1", "I") in changed  # ER1KSS0N
    assert ("secondary_identifier", "1", "I") in changed  # MAR1A
    assert ("birth_date", "O", "0") in changed
    assert ("birth_date", "Z", "2") in changed  # the check digit
    assert ("composite", "O", "0") in changed
    assert all(change.line in (1, 2) and change.position >= 1 for change in candidate.changes)


def test_ocr_suggestions_never_touch_document_numbers_or_optional_data() -> None:
    garbled = (ICAO_TD3[0], ICAO_TD3[1].replace("L898902C3", "L8989O2C3"))
    assert suggest_corrections(garbled, today=TODAY) == []  # O might be right in a number
    assert suggest_corrections(ICAO_TD3, today=TODAY) == []  # nothing to correct


def test_an_ocr_suggestion_whose_check_digits_still_fail_is_not_offered() -> None:
    garbled = (ICAO_TD3[0], ICAO_TD3[1].replace("7408122", "74O8123"))
    assert suggest_corrections(garbled, today=TODAY) == []


# --- Names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "mrz"),
    [
        ("Müller", "MUELLER"),  # ICAO's recommended option Ü → UE
        ("Łukasz Żółć", "LUKASZ ZOLC"),
        ("Иван Петров", "IVAN PETROV"),
        ("Юлия Щербакова", "IULIIA SHCHERBAKOVA"),  # ICAO's Cyrillic table: Ю → IU, Я → IA, Щ → SHCH
        ("Γιώργος", "GIORGOS"),
        ("Ærøskøbing Åsa Strauß", "AEROESKOEBING AASA STRAUSS"),
        ("Þórunn Guðmundsdóttir", "THORUNN GUDMUNDSDOTTIR"),
        ("François Peña", "FRANCOIS PENA"),
        ("Jean-Paul O'Neill", "JEAN PAUL ONEILL"),
        ("  van  der   Berg ", "VAN DER BERG"),
        ("Nguyễn Thị", "NGUYEN THI"),
        ("محمد", "MHMD"),
        ("王小明", "WANG XIAO MING"),
        ("R2-D2", "R D"),
    ],
)
def test_transliteration(name: str, mrz: str) -> None:
    assert transliterate_name(name) == mrz


@pytest.mark.parametrize(
    ("primary", "secondary", "width", "field"),
    [
        ("Eriksson", "Anna Maria", 30, "ERIKSSON<<ANNA<MARIA<<<<<<<<<<"),
        ("Marie-Claire", "", 30, "MARIE<CLAIRE<<<<<<<<<<<<<<<<<<"),
        ("", "Madonna", 30, "MADONNA<<<<<<<<<<<<<<<<<<<<<<<"),
        # The secondary identifier is truncated first, and a truncated name ends in a letter.
        ("Nilavadhanananda", "Chayapa Dejthamrong Krasuang", 39, "NILAVADHANANANDA<<CHAYAPA<DEJTHAMRONG<K"),
        # A cut just after a name component shows the next one's initial instead.
        ("Arkfreith Tan", "Jonathan Peter Xavier", 30, "ARKFREITH<TAN<<JONATHAN<PETE<X"),
        ("Abcdefghijklmnopqrs", "Jonathan Peter", 30, "ABCDEFGHIJKLMNOPQRS<<JONATHA<P"),
        # The primary identifier is kept whole when it fits.
        ("A" * 28, "Bob", 30, "A" * 28 + "<<"),
        ("A" * 27, "Bob", 30, "A" * 27 + "<<B"),
        ("A" * 31, "Bob", 30, "A" * 30),
        ("A" * 29 + " Bbb", "", 30, "A" * 28 + "<B"),
    ],
)
def test_name_fields(primary: str, secondary: str, width: int, field: str) -> None:
    assert name_field(primary, secondary, width) == field
    assert len(field) == width


def test_a_name_that_fills_the_field_may_be_truncated() -> None:
    lines = generate_td1(
        MrzFields(
            document_code="ID",
            issuing_state="PRT",
            document_number="007777779",
            primary_identifier="Caçador de Araújo",
            secondary_identifier="André Estevão",
            nationality="PRT",
            birth_date=dt.date(1983, 3, 14),
            sex=Sex.MALE,
            expiry_date=dt.date(2034, 5, 28),
        )
    )
    assert lines[2] == "CACADOR<DE<ARAUJO<<ANDRE<ESTEV"
    mrz = parse(lines, today=TODAY)
    assert mrz.name_may_be_truncated
    assert (mrz.primary_identifier, mrz.secondary_identifier) == ("CACADOR DE ARAUJO", "ANDRE ESTEV")


# --- Generating -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "fmt", "code"),
    [
        (generate_td1, MrzFormat.TD1, "ID"),
        (generate_td2, MrzFormat.TD2, "I"),
        (generate_td3, MrzFormat.TD3, "PD"),
        (generate_mrva, MrzFormat.MRV_A, "V"),
        (generate_mrvb, MrzFormat.MRV_B, "VC"),
    ],
)
def test_each_generator_writes_its_format(make: object, fmt: MrzFormat, code: str) -> None:
    lines = make(_fields(document_code=code, optional_data="AB12"))  # type: ignore[operator]
    assert len(lines) == fmt.lines
    assert {len(line) for line in lines} == {fmt.width}
    mrz = parse(lines, today=TODAY)
    assert mrz.format is fmt
    assert mrz.document_code == code
    assert mrz.optional_data == "AB12"
    assert mrz.all_check_digits_ok
    assert ("composite" in mrz.check_digits_ok) is not fmt.is_visa


@pytest.mark.parametrize(
    ("fmt", "changes", "field", "words"),
    [
        (MrzFormat.TD3, {"document_number": "ABCDEFGHIJ"}, "document_number", "a TD3 holds at most 9"),
        (MrzFormat.TD2, {"document_number": "ABCDEFGHIJ1234567"}, "document_number", "a TD2 holds at most 15"),
        (MrzFormat.TD1, {"document_number": "ABCDEFGHIJ123", "optional_data": "X" * 12}, "optional_data", "left"),
        (MrzFormat.TD1, {"document_number": "AB-12/34"}, None, None),
        (MrzFormat.TD1, {"document_number": "***"}, "document_number", "not a document number"),
        (MrzFormat.TD3, {"document_code": "I"}, "document_code", "begins with P"),
        (MrzFormat.TD1, {"document_code": "P"}, "document_code", "begins with A, C or I"),
        (MrzFormat.MRV_A, {"document_code": "P"}, "document_code", "begins with V"),
        (MrzFormat.TD3, {"document_code": "1"}, "document_code", "not a document code"),
        (MrzFormat.TD3, {"issuing_state": "XYZ"}, "issuing_state", "not an ISO 3166-1"),
        (MrzFormat.TD3, {"nationality": "12"}, "nationality", "one to three letters"),
        (MrzFormat.TD3, {"optional_data_2": "X"}, "optional_data_2", "only a TD1"),
        (MrzFormat.TD3, {"optional_data": "é"}, "optional_data", "other than A-Z"),
        (MrzFormat.MRV_B, {"optional_data": "123456789"}, "optional_data", "the field holds 8"),
        (MrzFormat.TD3, {"birth_date": "1974-13"}, "birth_date", "month 13"),
        (MrzFormat.TD3, {"primary_identifier": "123", "secondary_identifier": "!"}, "primary_identifier", "no letter"),
        ("TD4", {}, "format", "not an MRZ format"),
    ],
)
def test_generating_refuses_what_an_mrz_cannot_hold(
    fmt: MrzFormat | str, changes: dict[str, object], field: str | None, words: str | None
) -> None:
    code = {"TD1": "ID", "TD2": "I", "MRV-A": "V", "MRV-B": "V"}.get(str(fmt), "P")
    fields = _fields(**{"document_code": code, "optional_data": "", **changes})
    if field is None:
        assert parse(generate(fmt, fields), today=TODAY).document_number == "AB1234"
        return
    with pytest.raises(MrzError, match=words) as caught:
        generate(fmt, fields)
    assert caught.value.field == field


# --- The domain -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "document_type"),
    [
        ("P", DocumentType.PASSPORT),
        ("PO", DocumentType.PASSPORT),
        ("PD", DocumentType.DIPLOMATIC_PASSPORT),
        ("PS", DocumentType.SERVICE_PASSPORT),
        ("PT", DocumentType.TRAVEL_DOCUMENT),
        ("I", DocumentType.IDENTITY_CARD),
        ("ID", DocumentType.IDENTITY_CARD),
        ("I<", DocumentType.IDENTITY_CARD),
        ("AC", DocumentType.IDENTITY_CARD),
        ("C", DocumentType.IDENTITY_CARD),
        ("IR", DocumentType.RESIDENCE_PERMIT),
        ("AR", DocumentType.RESIDENCE_PERMIT),
        ("V", DocumentType.VISA),
        ("VB", DocumentType.VISA),
        ("X", DocumentType.OTHER),
    ],
)
def test_document_types_from_codes(code: str, document_type: DocumentType) -> None:
    assert document_type_for(code) is document_type


def test_to_travel_document() -> None:
    mrz = parse(generate_td3(_fields()), today=TODAY)
    document = to_travel_document(mrz, status=DocumentStatus.LOST)
    assert isinstance(document, TravelDocument)
    assert TravelDocument.model_validate(document.model_dump()) == document
    assert document.number == "SPECI2014"
    assert document.issuing_country == "NLD"
    assert document.document_type is DocumentType.PASSPORT
    assert document.status is DocumentStatus.LOST
    assert document.expires_on == dt.date(2024, 3, 9)
    assert document.holder is not None
    [name] = document.holder.names
    assert (name.full, name.given, name.family, name.kind) == (
        "WILLEKE LISELOTTE DE BRUIJN",
        "WILLEKE LISELOTTE",
        "DE BRUIJN",
        NameKind.PRIMARY,
    )
    assert name.script == "Latn"
    assert document.holder.birth_date == "1965-03-10"
    assert document.holder.sex is Sex.FEMALE
    assert document.holder.nationality == "NLD"


def test_to_travel_document_keeps_partial_birth_dates_and_reads_d_as_deu() -> None:
    mrz = parse(generate_td1(_fields(document_code="ID", issuing_state="D", birth_date="1980-02")), today=TODAY)
    document = to_travel_document(mrz, status=DocumentStatus.STOLEN)
    assert document.issuing_country == "DEU"
    assert document.document_type is DocumentType.IDENTITY_CARD
    assert document.holder is not None
    assert document.holder.birth_date == "1980-02"


def test_to_travel_document_refuses_specimens_and_invalid_mrzs() -> None:
    with pytest.raises(MrzError, match="specimen") as caught:
        to_travel_document(parse(ICAO_TD3, today=TODAY), status=DocumentStatus.STOLEN)
    assert caught.value.field == "issuing_state"
    bad = parse([ICAO_TD3[0], ICAO_TD3[1].replace("7408122", "7408123")], strict=False, today=TODAY)
    with pytest.raises(MrzError) as caught:
        to_travel_document(bad, status=DocumentStatus.STOLEN)
    assert caught.value.field == "birth_date"


def test_to_travel_document_names_the_field_the_domain_refuses() -> None:
    mrz = parse(generate_td3(_fields()), today=TODAY)
    with pytest.raises(MrzError) as caught:
        to_travel_document(mrz, status=DocumentStatus.STOLEN_BLANK)  # a blank has no holder
    assert caught.value.field == "document"
    assert "blank" in caught.value.reason


def test_from_travel_document_round_trips() -> None:
    document = TravelDocument(
        number="C01X00T47",
        issuing_country="DEU",
        document_type=DocumentType.PASSPORT,
        status=DocumentStatus.STOLEN,
        expires_on=dt.date(2031, 10, 31),
        holder=DocumentHolder(
            names=[PersonName(full="Erika Mustermann", given="Erika", family="Mustermann")],
            birth_date="1964-08-12",
            sex=Sex.FEMALE,
            nationality="DEU",
        ),
    )
    lines = from_travel_document(document)
    assert lines[0] == "P<D<<MUSTERMANN<<ERIKA<<<<<<<<<<<<<<<<<<<<<<"
    back = to_travel_document(parse(lines, today=TODAY), status=DocumentStatus.STOLEN)
    assert back.model_dump(exclude={"holder"}) == document.model_dump(exclude={"holder"})
    assert back.holder is not None
    assert document.holder is not None
    assert back.holder.model_dump(exclude={"names"}) == document.holder.model_dump(exclude={"names"})
    assert (back.holder.names[0].given, back.holder.names[0].family) == ("ERIKA", "MUSTERMANN")
    card = document.model_copy(update={"document_type": DocumentType.IDENTITY_CARD})
    assert parse(from_travel_document(card), today=TODAY).format is MrzFormat.TD1
    assert parse(from_travel_document(card, MrzFormat.TD2, document_code="I"), today=TODAY).document_code == "I"


def test_from_travel_document_needs_a_holder_and_a_nationality() -> None:
    blank = TravelDocument(number="X1", issuing_country="FRA", status=DocumentStatus.STOLEN_BLANK)
    with pytest.raises(MrzError) as caught:
        from_travel_document(blank)
    assert caught.value.field == "holder"
    unknown = TravelDocument(
        number="X1",
        issuing_country="FRA",
        status=DocumentStatus.LOST,
        holder=DocumentHolder(names=[PersonName(full="Marie Curie")]),
    )
    with pytest.raises(MrzError) as caught:
        from_travel_document(unknown)
    assert caught.value.field == "nationality"
    other = unknown.model_copy(update={"document_type": DocumentType.OTHER})
    with pytest.raises(MrzError) as caught:
        from_travel_document(other)
    assert caught.value.field == "document_type"
