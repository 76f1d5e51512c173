import pycountry
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from polex.domain.countries import ICAO_SPECIAL_CODES, CountryCode, country_name, is_country_code

country = TypeAdapter(CountryCode)
ISO = sorted(c.alpha_3 for c in pycountry.countries)


@given(st.sampled_from(ISO))
def test_every_iso_code_is_accepted_in_any_case(code: str) -> None:
    assert country.validate_python(code.lower()) == code
    assert country.validate_python(f" {code} ") == code


@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=3, max_size=3))
def test_a_code_is_accepted_exactly_when_the_code_lists_know_it(code: str) -> None:
    known = code in ISO or code in ICAO_SPECIAL_CODES
    if known:
        assert country.validate_python(code) == code
    else:
        with pytest.raises(ValidationError, match="not an ISO 3166-1 alpha-3"):
            country.validate_python(code)


def test_icao_special_codes_and_aliases() -> None:
    assert country.validate_python("XPO") == "XPO"  # INTERPOL
    assert country.validate_python("XXA") == "XXA"  # stateless
    assert country.validate_python("D") == "DEU"  # Germany in machine readable zones
    assert country_name("XPO").startswith("International Criminal Police Organization")
    assert country_name("FRA") == "France"


@pytest.mark.parametrize("bad", ["FR", "FRAN", "", "12A", 250, None])
def test_malformed_codes_are_refused(bad: object) -> None:
    with pytest.raises(ValidationError):
        country.validate_python(bad)


def test_alpha2_is_not_alpha3() -> None:
    assert not is_country_code("FR")
