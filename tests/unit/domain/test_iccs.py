import pytest
from pydantic import TypeAdapter, ValidationError

from polex.domain.iccs import ICCS_DIVISIONS, ICCS_SECTIONS, IccsCode, iccs_label

iccs = TypeAdapter(IccsCode)


def test_every_division_belongs_to_a_section_and_validates() -> None:
    for code in ICCS_DIVISIONS:
        assert code[:2] in ICCS_SECTIONS
        assert iccs.validate_python(code) == code
    assert len(ICCS_SECTIONS) == 11


def test_deeper_codes_extend_a_known_division() -> None:
    assert iccs.validate_python("050211") == "050211"
    assert iccs_label("0502") == "Theft"
    assert iccs_label("05021") == "Theft (05021)"
    assert iccs_label("05") == "Acts against property only"


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("12", "in no ICCS section"),
        ("0199", "not an ICCS division"),
        ("050", "not an ICCS code"),
        ("ab01", "not an ICCS code"),
    ],
)
def test_unknown_codes_are_refused(code: str, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        iccs.validate_python(code)
