import pytest
from hypothesis import given
from hypothesis import strategies as st

from polex.domain.base import new_id
from polex.errors import InvalidCursor
from polex.record.cursor import decode_cursor, encode_cursor


def test_a_cursor_round_trips_within_its_list() -> None:
    record_id = new_id()
    assert decode_cursor("person", encode_cursor("person", record_id)) == record_id


def test_a_cursor_from_another_list_is_refused() -> None:
    with pytest.raises(InvalidCursor, match="belongs to another list"):
        decode_cursor("vehicle", encode_cursor("person", new_id()))


@given(st.text(max_size=200))
def test_any_other_text_is_an_invalid_cursor_naming_the_parameter(text: str) -> None:
    try:
        decode_cursor("person", text)
    except InvalidCursor as error:
        assert error.errors[0].field == "cursor"  # noqa: PT017 - most texts fail; each must name the parameter
