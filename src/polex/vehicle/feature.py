"""How vehicle records are projected and filtered."""

from __future__ import annotations

from polex.domain.base import RecordKind
from polex.domain.records import RECORD_TYPES
from polex.domain.vehicle import Vehicle, normalise_plate
from polex.domain.vin import normalise_vin
from polex.record.spec import Projection, RecordFeature, TermFilter


def project_vehicle(vehicle: Vehicle) -> Projection:
    terms: set[str] = {f"category:{vehicle.category.value.upper()}"}
    if vehicle.vin:
        terms.add(f"vin:{vehicle.vin}")
    if vehicle.plate:
        terms.add(f"plate:{vehicle.plate}")
        terms.add(f"plate_country:{vehicle.plate_country}")
    if vehicle.make:
        terms.add(f"make:{vehicle.make.upper()}")
    described = " ".join(part for part in (vehicle.make, vehicle.model) if part) or "vehicle"
    identity = vehicle.vin or f"{vehicle.plate_country} {vehicle.plate}"
    return Projection(
        label=f"{described} {identity}",
        status=vehicle.status.value,
        terms=frozenset(terms),
        lookup=vehicle.lookup_keys(),
    )


VEHICLE_FEATURE = RecordFeature(
    record_type=RECORD_TYPES[RecordKind.VEHICLE],
    project=project_vehicle,
    filters=(
        TermFilter("vin", "vin", "ISO 3779 VIN (spaces and hyphens ignored)", normalise_vin),
        TermFilter("plate", "plate", "Registration plate (spaces and hyphens ignored)", normalise_plate),
        TermFilter("plate_country", "plate_country", "ISO 3166-1 alpha-3 of the plate"),
        TermFilter("make", "make", "Manufacturer"),
        TermFilter("category", "category", "car, motorcycle, truck, ..."),
    ),
)
