import pytest
from hypothesis import given
from hypothesis import strategies as st

from polex.domain.vin import check_digit_applies, normalise_vin, validate_vin, vin_check_digit

VIN_ALPHABET = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"


@pytest.mark.parametrize(
    ("vin", "check"),
    [
        ("1M8GDM9AXKP042788", "X"),  # the worked example of 49 CFR 565
        ("11111111111111111", "1"),
        ("1HGCM82633A004352", "3"),
    ],
)
def test_known_check_digits(vin: str, check: str) -> None:
    assert vin_check_digit(vin) == check
    assert validate_vin(vin) == vin


def test_a_wrong_check_digit_is_refused_where_it_is_mandatory() -> None:
    with pytest.raises(ValueError, match=r"check digit '1' \(position 9\) does not match the computed 'X'"):
        validate_vin("1M8GDM9A1KP042788")


def test_european_vins_are_not_held_to_the_north_american_check_digit() -> None:
    assert not check_digit_applies("VF1RFB05X12345678")
    assert validate_vin("VF1RFB05112345678") == "VF1RFB05112345678"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("1M8GDM9AXKP04278", "17 characters"),
        ("1M8GDM9AXKP0427I8", "may not contain 'I'"),
        ("", "17 characters"),
    ],
)
def test_malformed_vins_are_explained(raw: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        validate_vin(raw)


def test_spaces_hyphens_and_case_are_normalised() -> None:
    assert normalise_vin(" 1m8gdm9a-xkp 042788 ") == "1M8GDM9AXKP042788"


@given(st.sampled_from("12345L"), st.text(alphabet=VIN_ALPHABET, min_size=16, max_size=16))
def test_a_vin_with_its_computed_check_digit_validates_and_any_other_digit_fails(first: str, rest: str) -> None:
    draft = first + rest
    vin = draft[:8] + vin_check_digit(draft) + draft[9:]
    assert validate_vin(vin) == vin
    wrong = next(d for d in "0123456789X" if d != vin[8])
    with pytest.raises(ValueError, match="check digit"):
        validate_vin(vin[:8] + wrong + vin[9:])
