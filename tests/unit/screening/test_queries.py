"""Reading check items: whatever a border system sends, an item is read into lookup keys or
answered with errors that name its fields; nothing raises."""

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from polex.screening.queries import CheckItem, ItemError, read_document, read_vehicle
from tests.factories import make_vin, td3_lines

values = st.one_of(st.none(), st.text(max_size=60), st.integers(), st.sampled_from(["FRA", "P", "12AB34567"]))


@given(item=st.dictionaries(st.sampled_from(["number", "country", "type", "mrz"]), values, max_size=4))
def test_any_document_item_is_read_or_refused_with_named_fields(item: dict[str, Any]) -> None:
    read = read_document(3, item)
    if isinstance(read, ItemError):
        assert read.errors
        assert all(error.field.startswith("documents[3]") for error in read.errors)
        assert read.as_dict()["hit"] is None
    else:
        assert read.keys
        assert all(key.startswith("doc:") for key in read.keys)


@given(item=st.dictionaries(st.sampled_from(["vin", "plate", "country"]), values, max_size=3))
def test_any_vehicle_item_is_read_or_refused_with_named_fields(item: dict[str, Any]) -> None:
    read = read_vehicle(0, item)
    if isinstance(read, ItemError):
        assert all(error.field.startswith("vehicles[0]") for error in read.errors)
    else:
        assert read.keys


def test_numbers_and_mrzs_read_to_the_same_key() -> None:
    typed = read_document(0, {"number": " 34ef 567-89 ", "country": "fra"})
    scanned = read_document(1, {"mrz": "\n".join(td3_lines(number="34EF56789"))})
    assert isinstance(typed, CheckItem)
    assert isinstance(scanned, CheckItem)
    assert typed.keys == scanned.keys == ("doc:FRA:34EF56789",)
    # Cyrillic capitals typed for their Latin twins read as the MRZ prints them.
    cyrillic = read_document(2, {"number": "34ЕF56789", "country": "FRA"})
    assert isinstance(cyrillic, CheckItem)
    assert cyrillic.keys == typed.keys


def test_a_vehicle_with_vin_and_plate_is_looked_up_by_both() -> None:
    vin = make_vin()
    read = read_vehicle(0, {"vin": vin, "plate": "ab-12 cd", "country": "DEU"})
    assert isinstance(read, CheckItem)
    assert read.keys == (f"vin:{vin}", "plate:DEU:AB12CD")
