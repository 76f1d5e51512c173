"""Vehicles reported stolen or otherwise wanted."""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from polex.domain.base import SchemaModel, Text
from polex.domain.countries import CountryCode
from polex.domain.dates import PastDate
from polex.domain.lookalikes import latin_lookalikes
from polex.domain.vin import normalise_vin, validate_vin

Vin = Annotated[
    str,
    BeforeValidator(lambda value: normalise_vin(value) if isinstance(value, str) else value),
    AfterValidator(validate_vin),
]


def normalise_plate(raw: str) -> str:
    """Plates are compared without case, spaces, hyphens or dots ("AB-123 CD" is "AB123CD"),
    and with Greek and Cyrillic letters read as their Latin twins ("ΙΚΥ-1234" is "IKY1234")."""
    return latin_lookalikes(re.sub(r"[\s\-.\u00b7\u30fb]", "", raw).upper())


def vin_key(vin: str) -> str:
    """The identifier a vehicle is checked by when its VIN is known."""
    return f"vin:{vin}"


def plate_key(country: str, plate: str) -> str:
    """The identifier a vehicle is checked by from its plate: a plate means nothing without
    the country that issued it."""
    return f"plate:{country}:{plate}"


def _check_plate(plate: str) -> str:
    if not 1 <= len(plate) <= 15:
        raise ValueError(f"a registration plate has 1 to 15 characters, this one has {len(plate)}")
    if not plate.isalnum():
        raise ValueError("a registration plate holds only letters and digits")
    return plate


Plate = Annotated[
    str,
    BeforeValidator(lambda value: normalise_plate(value) if isinstance(value, str) else value),
    AfterValidator(_check_plate),
]


class VehicleCategory(StrEnum):
    CAR = "car"
    MOTORCYCLE = "motorcycle"
    VAN = "van"
    TRUCK = "truck"
    BUS = "bus"
    TRAILER = "trailer"
    AGRICULTURAL = "agricultural"
    CONSTRUCTION = "construction"
    OTHER = "other"


class VehicleStatus(StrEnum):
    STOLEN = "stolen"
    MISAPPROPRIATED = "misappropriated"
    WANTED = "wanted"  # used in an offence, to be located
    RECOVERED = "recovered"


class Vehicle(SchemaModel):
    vin: Vin | None = Field(default=None, description="ISO 3779 vehicle identification number")
    plate: Plate | None = None
    plate_country: CountryCode | None = None
    make: Text | None = None
    model: Text | None = None
    model_year: int | None = Field(default=None, ge=1886)
    colour: Text | None = None
    category: VehicleCategory = VehicleCategory.CAR
    status: VehicleStatus = VehicleStatus.STOLEN
    stolen_on: PastDate | None = None
    place_of_theft: Text | None = None
    remarks: Text | None = None

    @model_validator(mode="after")
    def _identifiable(self) -> Vehicle:
        if self.vin is None and self.plate is None:
            raise ValueError("vin: a vehicle needs a VIN or a plate")
        if self.plate is not None and self.plate_country is None:
            raise ValueError("plate_country: a plate needs the country that issued it")
        if self.model_year is not None and self.model_year > dt.datetime.now(dt.UTC).year + 1:
            raise ValueError(f"model_year: {self.model_year} is more than a year ahead")
        return self

    def lookup_keys(self) -> frozenset[str]:
        """What a check finds this vehicle by; nothing once it is recovered."""
        if self.status is VehicleStatus.RECOVERED:
            return frozenset()
        keys = set()
        if self.vin is not None:
            keys.add(vin_key(self.vin))
        if self.plate is not None and self.plate_country is not None:
            keys.add(plate_key(self.plate_country, self.plate))
        return frozenset(keys)
