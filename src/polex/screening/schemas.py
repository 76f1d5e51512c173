"""The wire shapes of checks and hits. The two check requests are fixed: border systems in
many countries call them."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from polex.screening.service import MAX_BATCH

Short = Annotated[str, StringConstraints(max_length=64)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DocumentQuery(_Strict):
    """A document by number and issuing country (``type`` optional, an ICAO 9303 code
    such as ``P``), or by its whole machine readable zone."""

    number: Short | None = Field(default=None, examples=["12AB34567"])
    country: Annotated[str, StringConstraints(max_length=8)] | None = Field(default=None, examples=["FRA"])
    type: Annotated[str, StringConstraints(max_length=4)] | None = Field(default=None, examples=["P"])
    mrz: Annotated[str, StringConstraints(max_length=200)] | None = Field(
        default=None, description="The MRZ lines, separated by line breaks"
    )


class _Check(_Strict):
    purpose: Short = Field(description="Why you check: border_control, criminal_investigation, ...")
    case_reference: Annotated[str, StringConstraints(max_length=128)] | None = None


class DocumentCheck(_Check):
    documents: list[DocumentQuery] = Field(min_length=1, max_length=MAX_BATCH)


class VehicleQuery(_Strict):
    """A vehicle by VIN, or by plate and the country that issued it (or both)."""

    vin: Annotated[str, StringConstraints(max_length=32)] | None = Field(default=None, examples=["WVWZZZ1JZXW000001"])
    plate: Annotated[str, StringConstraints(max_length=32)] | None = Field(default=None, examples=["AB-123-CD"])
    country: Annotated[str, StringConstraints(max_length=8)] | None = Field(default=None, examples=["FRA"])


class VehicleCheck(_Check):
    vehicles: list[VehicleQuery] = Field(min_length=1, max_length=MAX_BATCH)


class CheckResults(BaseModel):
    """One result per item, in the order sent. ``hit`` is true, false, or null when the item
    could not be read (its ``error`` says which field and why). A hit carries ``access``
    (full, redacted or hit_only), ``reference``, ``owner``, ``record`` as far as the policy
    allows, ``consult_owner`` and, for another agency's record, the ``hit_id`` to ask the
    owner for confirmation; further records under the same identifier are in ``more``."""

    results: list[dict[str, Any]]


class HitNote(_Strict):
    note: Note | None = None


class HitList(BaseModel):
    items: list[dict[str, Any]]
