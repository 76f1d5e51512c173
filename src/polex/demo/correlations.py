"""The demo hub's cross-border correlations: the same person recorded by two member bureaus,
each the way its own police write names (Ukraine in Cyrillic, France as the passport's Latin
transliteration; Greece in Greek, Japan in Latin letters), so that each owner finds the
other's record among its correlation alerts, shown as the demo's agreements allow (the
Franco-Ukrainian treaty and the Greek-Japanese memorandum share persons in full for criminal
investigations; other purposes get hits only)."""

from __future__ import annotations

from typing import Any

from polex.agency.schemas import AgencyCreate
from polex.bootstrap import Node
from polex.domain.agency import AgencyKind
from polex.domain.base import Provenance, Restrictions, Tlp
from polex.domain.countries import country_name
from polex.domain.person import Person
from polex.record.service import NewRecord

# (owner country, the person as that bureau recorded it), two by two.
PAIRS: tuple[tuple[tuple[str, dict[str, Any]], tuple[str, dict[str, Any]]], ...] = (
    (
        (
            "UKR",
            {
                "names": [{"full": "Олександр Петренко", "given": "Олександр", "family": "Петренко"}],
                "sex": "male",
                "birth_dates": ["1986-09-21"],
                "birth_place": {"place": "Харків", "country": "UKR"},
                "nationalities": ["UKR"],
                "remarks": "Suspected of organising vehicle thefts for export (Kharkiv regional police).",
            },
        ),
        (
            "FRA",
            {
                "names": [{"full": "Oleksandr PETRENKO", "given": "Oleksandr", "family": "PETRENKO"}],
                "sex": "male",
                "birth_dates": ["1986-09-21"],
                "nationalities": ["UKR"],
                "remarks": "Interpellé à Lyon en possession d'un véhicule volé ; laissé libre.",
            },
        ),
    ),
    (
        (
            "GRC",
            {
                "names": [{"full": "Γεώργιος Παπαδόπουλος", "given": "Γεώργιος", "family": "Παπαδόπουλος"}],
                "sex": "male",
                "birth_dates": ["1972-04-08"],
                "nationalities": ["GRC"],
            },
        ),
        (
            "JPN",
            {
                "names": [{"full": "Georgios PAPADOPOULOS", "given": "Georgios", "family": "PAPADOPOULOS"}],
                "sex": "male",
                "birth_dates": ["1972-04"],
                "nationalities": ["GRC"],
            },
        ),
    ),
)


def seed_correlations(node: Node) -> None:
    """At the hub: file the pairs under their bureaus. The seeding does not correlate (the
    worker is closed): the hub correlates every person and notice it holds when it first
    serves, in the background, as any node does the first time."""
    provenance = Provenance(source_format="synthetic", source_id="demo-correlations")
    for pair in PAIRS:
        for country, person in pair:
            ncb = node.agencies.ensure(
                AgencyCreate(name=f"NCB {country_name(country)}", country=country, kind=AgencyKind.NCB)
            )
            record = NewRecord(
                content=Person.model_validate(person),
                owner_agency_id=ncb.id,
                owner_country=country,
                restrictions=Restrictions(handling=Tlp.AMBER),
                provenance=provenance,
            )
            node.records["person"].create_many([record])
