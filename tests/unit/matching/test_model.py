import pytest

from polex.matching import PersonQuery


def test_fields_are_normalised() -> None:
    person = PersonQuery(
        names=["  Mohammed Ali  "],  # type: ignore[arg-type]
        birth_date="1969-7-6",
        nationalities=("eg", "EGY", "gbr"),
        sex="male",
        identifiers=("ab 12-34<<56", "АВ123456"),
    )
    assert person.names == ("Mohammed Ali",)
    assert person.birth_date == "1969-07-06"
    assert person.nationalities == ("EGY", "GBR")
    assert person.sex == "M"
    # Separators and MRZ fillers go; Cyrillic look-alikes read as Latin letters.
    assert person.identifiers == ("AB123456",)


@pytest.mark.parametrize(("value", "expected"), [("F", "F"), ("female", "F"), ("X", None), ("unknown", None)])
def test_sex_values(value: str, expected: str | None) -> None:
    assert PersonQuery(("Jane Doe",), sex=value).sex == expected


@pytest.mark.parametrize(
    ("person", "field", "reason"),
    [
        ({"names": ()}, "names", "at least one name"),
        ({"names": "John Smith"}, "names", "not a single string"),
        ({"names": ("John", "x" * 10_000)}, "names[1]", "10000 characters"),
        ({"names": ("John\x00Smith",)}, "names[0]", "control character U+0000"),
        ({"names": ("John\nSmith",)}, "names[0]", "control character"),
        ({"names": ("  ...  ",)}, "names[0]", "no letters or digits"),
        ({"names": tuple(f"Name {i}" for i in range(21))}, "names", "at most 20"),
        ({"names": ("A",), "birth_date": "1980-13-01"}, "birth_date", "month 13 does not exist"),
        ({"names": ("A",), "birth_date": "1980-02-30"}, "birth_date", "day 30 does not exist"),
        ({"names": ("A",), "birth_date": "07/03/1980"}, "birth_date", "not a date"),
        ({"names": ("A",), "nationalities": ("XYZ",)}, "nationalities[0]", "not an ISO 3166-1"),
        ({"names": ("A",), "sex": "yes"}, "sex", "not one of"),
        ({"names": ("A",), "identifiers": ("--",)}, "identifiers[0]", "empty"),
        ({"names": ("A",), "identifiers": ("AB#12",)}, "identifiers[0]", "letters and digits"),
    ],
)
def test_bad_input_names_the_field(person: dict[str, object], field: str, reason: str) -> None:
    with pytest.raises(ValueError, match=r"^[a-z_]+(\[\d+\])?: ") as raised:
        PersonQuery(**person)  # type: ignore[arg-type]
    message = str(raised.value)
    assert message.startswith(f"{field}: ")
    assert reason in message
