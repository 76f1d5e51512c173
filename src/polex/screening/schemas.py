"""The wire shapes of checks and hits. The two check requests are fixed: border systems in
many countries call them."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from polex.screening.service import DEFAULT_MATCH_THRESHOLD, MAX_BATCH

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
    owner for confirmation; further records under the same identifier are in ``more``. On a
    national node, ``replica`` says how current the copy of the hub's records is that
    answered (``source: replica`` on a hit); ``hub_reachable`` false means offline. A national
    node asks the hub online first (FIND): ``hub.checked`` is ``online`` (hits from there say
    ``source: hub``), ``replica`` when the hub could not answer in time, or ``none`` when
    nothing stood in for it (the hub's records were not checked; ``hub.error`` says why)."""

    results: list[dict[str, Any]]
    replica: dict[str, Any] | None = None
    hub: dict[str, Any] | None = None


class PersonMatchQuery(_Strict):
    """The person looked for: names in any script, birth date (``1980``, ``1980-03`` or
    ``1980-03-07``), nationalities (ISO 3166-1), sex (M, F), document or national numbers."""

    names: list[Annotated[str, StringConstraints(max_length=1000)]] = Field(min_length=1, max_length=20)
    birth_date: Annotated[str, StringConstraints(max_length=10)] | None = Field(default=None, examples=["1980-03"])
    nationalities: list[Annotated[str, StringConstraints(max_length=3)]] = Field(default_factory=list, max_length=10)
    sex: Annotated[str, StringConstraints(max_length=16)] | None = None
    identifiers: list[Annotated[str, StringConstraints(max_length=64)]] = Field(default_factory=list, max_length=20)


class PersonMatch(_Check):
    query: PersonMatchQuery
    limit: int = Field(default=10, ge=1, le=100)
    threshold: float = Field(
        default=DEFAULT_MATCH_THRESHOLD, ge=0, le=1, description="A candidate at or above is a match"
    )
    cutoff: float | None = Field(default=None, ge=0, le=1, description="Candidates below are not returned (0.5)")


class PersonCandidates(BaseModel):
    """Ranked candidates: ``id``, ``score`` in [0, 1], ``match``, ``explanation`` per feature
    (its ``detail`` only when the record is shown in full), ``access``, ``owner`` and the
    ``record`` as far as the policy allows; ``hit_id`` for a match on another agency's record.
    On a national node, ``hub`` says whether the hub's watch list was searched online (its
    candidates say ``source: hub``), replaced by the replica, or not searched."""

    candidates: list[dict[str, Any]]
    hub: dict[str, Any] | None = None


class HitNote(_Strict):
    note: Note | None = None


class HitList(BaseModel):
    items: list[dict[str, Any]]
