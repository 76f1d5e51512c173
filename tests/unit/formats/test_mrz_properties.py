"""Properties of MRZs: what is written reads back the same, check digits catch what 7-3-1 can
catch, and no text makes the reader fail with anything but an MrzError."""

from __future__ import annotations

import datetime as dt
import string
from dataclasses import replace
from typing import Any

import pycountry
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from polex.domain.countries import ICAO_ALIASES, ICAO_SPECIAL_CODES
from polex.domain.person import Sex
from polex.formats.mrz import (
    MRZ_CHARACTERS,
    Mrz,
    MrzError,
    MrzFields,
    MrzFormat,
    check_digit,
    generate,
    parse,
    suggest_corrections,
)

TODAY = dt.date(2025, 6, 1)
LETTERS = string.ascii_uppercase
ALPHANUMERIC = LETTERS + string.digits
ALPHABET = ALPHANUMERIC + "<"
COUNTRIES = sorted({country.alpha_3 for country in pycountry.countries} | set(ICAO_SPECIAL_CODES) | {"D"})
FORMATS = list(MrzFormat)
CODE_LETTERS = {
    MrzFormat.TD1: "ACI",
    MrzFormat.TD2: "ACI",
    MrzFormat.TD3: "P",
    MrzFormat.MRV_A: "V",
    MrzFormat.MRV_B: "V",
}
LONGEST_NUMBER = {MrzFormat.TD1: 23, MrzFormat.TD2: 15}
OPTIONAL_WIDTH = {MrzFormat.TD1: 15, MrzFormat.TD2: 7, MrzFormat.TD3: 14, MrzFormat.MRV_A: 16, MrzFormat.MRV_B: 8}

# Birth dates the century rule reads back: within the last 99 years (the window is 100 years,
# and a partial date stands for its first day). Expiry dates: the window around TODAY.
BIRTH_DATES = st.dates(min_value=dt.date(TODAY.year - 99, 1, 1), max_value=TODAY)
EXPIRY_DATES = st.dates(min_value=dt.date(TODAY.year - 49, 1, 1), max_value=dt.date(TODAY.year + 50, 12, 31))


def _value(char: str) -> int:
    return int(char) if char.isdigit() else 0 if char == "<" else ord(char) - ord("A") + 10


def _names(max_words: int, max_length: int) -> st.SearchStrategy[str]:
    word = st.text(alphabet=LETTERS, min_size=1, max_size=max_length)
    return st.lists(word, min_size=1, max_size=max_words).map(" ".join)


@st.composite
def mrz_fields(draw: st.DrawFn, fmt: MrzFormat) -> MrzFields:
    code = draw(st.sampled_from(CODE_LETTERS[fmt])) + draw(st.sampled_from(LETTERS + "<"))
    state = draw(st.sampled_from(COUNTRIES))
    assume(not (fmt is MrzFormat.TD2 and code + state == "IDFRA"))  # the French card of 1988
    number = draw(st.text(alphabet=ALPHANUMERIC, min_size=1, max_size=LONGEST_NUMBER.get(fmt, 9)))
    room = OPTIONAL_WIDTH[fmt] - (len(number) - 9 + 2 if len(number) > 9 else 0)
    optional = draw(st.text(alphabet=ALPHABET, max_size=max(room, 0)))
    primary = draw(_names(3, 12))
    secondary = draw(st.one_of(st.just(""), _names(3, 10)))
    width = 30 if fmt is MrzFormat.TD1 else fmt.width - 5
    assume(len(primary) + (len(secondary) + 2 if secondary else 0) <= width)
    birth = draw(BIRTH_DATES)
    precision = draw(st.sampled_from(["day", "month", "year", "unknown"]))
    choices: dict[str, dt.date | str | None] = {
        "day": birth,
        "month": f"{birth.year:04d}-{birth.month:02d}",
        "year": f"{birth.year:04d}",
        "unknown": None,
    }
    birth_date = choices[precision]
    return MrzFields(
        document_code=code,
        issuing_state=state,
        document_number=number,
        primary_identifier=primary,
        secondary_identifier=secondary,
        nationality=draw(st.sampled_from(COUNTRIES)),
        birth_date=birth_date,
        sex=draw(st.sampled_from([Sex.MALE, Sex.FEMALE, Sex.UNSPECIFIED])),
        expiry_date=draw(EXPIRY_DATES),
        optional_data=optional,
        optional_data_2=draw(st.text(alphabet=ALPHABET, max_size=11)) if fmt is MrzFormat.TD1 else "",
    )


def formats_and_fields() -> st.SearchStrategy[tuple[MrzFormat, MrzFields]]:
    return st.sampled_from(FORMATS).flatmap(lambda fmt: st.tuples(st.just(fmt), mrz_fields(fmt)))


@given(formats_and_fields())
def test_what_is_generated_parses_back_to_the_same_fields(case: tuple[MrzFormat, MrzFields]) -> None:
    fmt, fields = case
    lines = generate(fmt, fields)
    assert len(lines) == fmt.lines
    assert all(len(line) == fmt.width and set(line) <= MRZ_CHARACTERS for line in lines)
    mrz = parse(lines, today=TODAY)  # strict: no problem at all
    assert mrz.format is fmt
    assert mrz.document_code == fields.document_code.rstrip("<")
    assert mrz.issuing_state == fields.issuing_state.ljust(3, "<")
    assert mrz.issuing_country == ICAO_ALIASES.get(fields.issuing_state, fields.issuing_state)
    assert mrz.nationality == fields.nationality.ljust(3, "<")
    assert mrz.nationality_country == ICAO_ALIASES.get(fields.nationality, fields.nationality)
    assert mrz.primary_identifier == fields.primary_identifier
    assert mrz.secondary_identifier == fields.secondary_identifier
    assert mrz.document_number == fields.document_number
    if isinstance(fields.birth_date, dt.date):
        assert mrz.birth_date == fields.birth_date
        assert mrz.birth_date_partial == fields.birth_date.isoformat()
    else:
        assert mrz.birth_date is None
        assert mrz.birth_date_partial == fields.birth_date
    assert mrz.sex is fields.sex
    assert mrz.expiry_date == fields.expiry_date
    assert mrz.optional_data == fields.optional_data.rstrip("<")
    assert mrz.optional_data_2 == fields.optional_data_2.rstrip("<")
    assert mrz.all_check_digits_ok
    assert set(mrz.check_digits_ok) == (
        {"document_number", "birth_date", "expiry_date"}
        | ({"personal_number"} if fmt is MrzFormat.TD3 else set())
        | (set() if fmt.is_visa else {"composite"})
    )
    assert suggest_corrections(lines, today=TODAY) == []  # nothing to correct
    assert generate(fmt, fields) == lines


@given(st.text(alphabet=ALPHABET, min_size=1, max_size=44), st.data())
def test_a_check_digit_catches_one_changed_character_unless_it_is_congruent_mod_10(
    data_text: str, data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, len(data_text) - 1))
    old = data_text[index]
    new = data.draw(st.sampled_from(ALPHABET).filter(lambda char: char != old))
    changed = data_text[:index] + new + data_text[index + 1 :]
    # Weights 7, 3 and 1 are prime to 10, so a change goes unseen exactly when the two
    # characters' values agree modulo 10 (0, A, K, U and < are all 0).
    assert (check_digit(changed) != check_digit(data_text)) == (_value(new) % 10 != _value(old) % 10)


@given(st.text(alphabet=string.digits, min_size=1, max_size=44), st.data())
def test_a_check_digit_catches_every_change_of_one_digit(digits: str, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(digits) - 1))
    new = data.draw(st.sampled_from(string.digits).filter(lambda char: char != digits[index]))
    assert check_digit(digits[:index] + new + digits[index + 1 :]) != check_digit(digits)


CHECKED_SPANS = {  # field: (line, start, end) of the data its check digit covers
    MrzFormat.TD1: {"document_number": (0, 5, 14), "birth_date": (1, 0, 6), "expiry_date": (1, 8, 14)},
    MrzFormat.TD3: {"document_number": (1, 0, 9), "birth_date": (1, 13, 19), "expiry_date": (1, 21, 27)},
    MrzFormat.TD2: {"document_number": (1, 0, 9), "birth_date": (1, 13, 19), "expiry_date": (1, 21, 27)},
    MrzFormat.MRV_A: {"document_number": (1, 0, 9), "birth_date": (1, 13, 19), "expiry_date": (1, 21, 27)},
    MrzFormat.MRV_B: {"document_number": (1, 0, 9), "birth_date": (1, 13, 19), "expiry_date": (1, 21, 27)},
}


@given(formats_and_fields(), st.data())
def test_changing_one_character_of_a_checked_field_invalidates_its_check(
    case: tuple[MrzFormat, MrzFields], data: st.DataObject
) -> None:
    fmt, fields = case
    number = data.draw(st.text(alphabet=ALPHANUMERIC, min_size=9, max_size=9))  # every position is the number's
    lines = list(generate(fmt, replace(fields, document_number=number)))
    field = data.draw(st.sampled_from(sorted(CHECKED_SPANS[fmt])))
    line, start, end = CHECKED_SPANS[fmt][field]
    index = data.draw(st.integers(start, end - 1))
    old = lines[line][index]
    alphabet = ALPHANUMERIC if field == "document_number" else string.digits
    new = data.draw(st.sampled_from(alphabet).filter(lambda char: char != old))
    lines[line] = lines[line][:index] + new + lines[line][index + 1 :]
    mrz = parse(lines, strict=False, today=TODAY)
    caught = _value(new) % 10 != _value(old) % 10
    assert mrz.check(field).ok is not caught
    if caught:
        with pytest.raises(MrzError) as error:
            parse(lines, today=TODAY)
        assert field in {problem.field for problem in error.value.problems}


def _read_or_refuse(lines: Any) -> Mrz | None:
    for strict in (True, False):
        refusal: MrzError | None = None
        try:
            parse(lines, strict=strict, today=TODAY)
        except MrzError as error:
            refusal = error
        if refusal is not None:
            assert refusal.field
            assert refusal.reason
            assert refusal.problems
    try:
        suggest_corrections(lines, today=TODAY)
        return parse(lines, strict=False, today=TODAY)
    except MrzError:
        return None


@given(st.text())
def test_any_text_is_read_or_refused_with_an_mrz_error(text: str) -> None:
    _read_or_refuse(text)


@given(st.lists(st.one_of(st.text(), st.integers(), st.none()), max_size=4))
def test_any_list_is_read_or_refused_with_an_mrz_error(lines: list[Any]) -> None:
    _read_or_refuse(lines)


SHAPES = [(3, 30), (2, 36), (2, 44)]


@given(
    st.sampled_from(SHAPES).flatmap(
        lambda shape: st.lists(
            st.text(alphabet=ALPHABET + "abc", min_size=shape[1], max_size=shape[1]),
            min_size=shape[0],
            max_size=shape[0],
        )
    )
)
def test_any_text_of_an_mrz_shape_is_read_without_strictness(lines: list[str]) -> None:
    mrz = _read_or_refuse(lines)
    if mrz is None:  # only a layout that is not ICAO is refused
        assert lines[0].upper().startswith("IDFRA")
        assert len(lines[0]) == 36
    else:
        assert mrz.valid == (not mrz.problems)
        assert all(problem.field and problem.reason for problem in mrz.problems)
        assert {check.field for check in mrz.check_digits if not check.ok} <= {p.field for p in mrz.problems}
