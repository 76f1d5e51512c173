"""What a border post sends, read into lookup keys: one item at a time, so that a bad item
gets its own error (naming the field and why) and never stops the rest of the batch."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from polex.domain.countries import is_country_code, normalise_country_code
from polex.domain.document import document_key, normalise_document_number
from polex.domain.vehicle import normalise_plate, plate_key, vin_key
from polex.domain.vin import validate_vin
from polex.errors import FieldError
from polex.formats import mrz as icao

# ICAO 9303 document codes a query may give as ``type`` (first letter, or the whole code).
_DOCUMENT_CODES = {"P", "I", "A", "C", "V", "PD", "PS", "PT", "PO", "ID", "IR", "AR", "AC", "VB", "VA"}


@dataclass(frozen=True)
class CheckItem:
    """One item read: the keys to look up and what was checked, as the reply echoes it."""

    position: int
    keys: tuple[str, ...]
    query: dict[str, Any]
    document_code: str | None = None  # the type the border post read, for a type mismatch note


@dataclass(frozen=True)
class ItemError:
    position: int
    errors: list[FieldError] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"hit": None, "error": {"errors": [error.as_dict() for error in self.errors]}}


def _country(value: Any, where: str) -> str | FieldError:
    code = normalise_country_code(value)
    if not isinstance(code, str) or not code:
        return FieldError(where, "is required: the ISO 3166-1 alpha-3 code of the issuing country")
    if not is_country_code(code):
        return FieldError(where, f"'{code[:10]}' is not an ISO 3166-1 alpha-3 country code")
    return code


def read_document(position: int, item: dict[str, Any]) -> CheckItem | ItemError:
    """``{"number", "country", "type"?}`` or ``{"mrz"}``."""
    fast = _plain_document(position, item)
    if fast is not None:
        return fast
    where = f"documents[{position}]"
    raw_mrz = item.get("mrz")
    if raw_mrz is not None:
        if item.get("number") is not None:
            return ItemError(position, [FieldError(f"{where}.mrz", "give either an MRZ or a number, not both")])
        try:
            zone = icao.parse(raw_mrz)
        except icao.MrzError as error:
            return ItemError(
                position,
                [FieldError(f"{where}.mrz.{problem.field}", problem.reason) for problem in error.problems],
            )
        if zone.issuing_country is None:
            reason = f"'{zone.issuing_state}' is not a country code"
            return ItemError(position, [FieldError(f"{where}.mrz.issuing_state", reason)])
        number = normalise_document_number(zone.document_number)
        read = {"number": number, "country": zone.issuing_country, "type": zone.document_code, "source": "mrz"}
        return CheckItem(position, (document_key(zone.issuing_country, number),), read, zone.document_code)
    errors: list[FieldError] = []
    raw_number = item.get("number")
    number = ""
    if not isinstance(raw_number, str) or not raw_number.strip():
        errors.append(FieldError(f"{where}.number", "is required (or send the whole 'mrz')"))
    else:
        number = normalise_document_number(raw_number)
        if not number or not number.isascii() or not number.isalnum():
            errors.append(FieldError(f"{where}.number", "holds only the letters A-Z and digits (spaces, < ignored)"))
        elif len(number) > 20:
            errors.append(FieldError(f"{where}.number", f"has at most 20 characters, this one has {len(number)}"))
    country = _country(item.get("country"), f"{where}.country")
    if isinstance(country, FieldError):
        errors.append(country)
    code = item.get("type")
    if code is not None:
        code = str(code).strip().upper().rstrip("<")
        if code not in _DOCUMENT_CODES:
            errors.append(FieldError(f"{where}.type", f"'{code[:4]}' is not an ICAO 9303 document code (P, I, V, ...)"))
    if errors or isinstance(country, FieldError):
        return ItemError(position, errors)
    query: dict[str, Any] = {"number": number, "country": country, "type": code}
    return CheckItem(position, (document_key(country, number),), query, code)


def _plain_document(position: int, item: dict[str, Any]) -> CheckItem | None:
    """The common case, read without the general path's work: an ASCII number with at most
    spaces to drop, a valid alpha-3 code, no type. Anything else goes the long way."""
    number, country = item.get("number"), item.get("country")
    if type(number) is not str or type(country) is not str or "mrz" in item or item.get("type") is not None:
        return None
    number = number.replace(" ", "").upper()
    country = country.upper()
    if not (0 < len(number) <= 20 and number.isascii() and number.isalnum() and is_country_code(country)):
        return None
    return CheckItem(position, (document_key(country, number),), {"number": number, "country": country, "type": None})


def read_vehicle(position: int, item: dict[str, Any]) -> CheckItem | ItemError:
    """``{"vin"}``, ``{"plate", "country"}``, or both (either finds the vehicle)."""
    where = f"vehicles[{position}]"
    errors: list[FieldError] = []
    keys: list[str] = []
    query: dict[str, Any] = {}
    raw_vin = item.get("vin")
    raw_plate = item.get("plate")
    if raw_vin is None and raw_plate is None:
        return ItemError(position, [FieldError(where, "give a 'vin', or a 'plate' with its 'country'")])
    if raw_vin is not None:
        try:
            vin = validate_vin(str(raw_vin))
        except ValueError as error:
            errors.append(FieldError(f"{where}.vin", str(error)))
        else:
            keys.append(vin_key(vin))
            query["vin"] = vin
    if raw_plate is not None:
        plate = normalise_plate(str(raw_plate))
        if not 1 <= len(plate) <= 15 or not plate.isalnum():
            errors.append(FieldError(f"{where}.plate", "has 1 to 15 letters and digits (spaces, hyphens ignored)"))
        country = _country(item.get("country"), f"{where}.country")
        if isinstance(country, FieldError):
            errors.append(country)
        elif not errors or all(not e.field.endswith(".plate") for e in errors):
            keys.append(plate_key(country, plate))
            query["plate"], query["country"] = plate, country
    if errors:
        return ItemError(position, errors)
    return CheckItem(position, tuple(keys), query)
