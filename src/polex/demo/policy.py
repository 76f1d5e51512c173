"""The demo network's legal framework: two conventions all members acceded to, a bilateral
treaty and a memorandum in force, a treaty still awaiting approval, national rules, and member
countries' records at the hub with their owners' restrictions.

The legal references are the demo's own (fictional instruments), so that no decision
quotes a real treaty article it does not implement.
"""

from __future__ import annotations

import datetime as dt
import random
import secrets

from polex.agency.schemas import AgencyCreate
from polex.auth.principal import Principal, PrincipalKind
from polex.auth.schemas import UserCreate
from polex.bootstrap import Node
from polex.demo.synthetic import generate
from polex.domain.agency import AgencyKind
from polex.domain.base import Provenance, Restrictions, Tlp, new_id
from polex.domain.countries import HUB_COUNTRY, country_name
from polex.domain.person import BiometricModality, BiometricReference
from polex.domain.policy import (
    ALL_MEMBERS,
    AccessLevel,
    Agreement,
    AgreementKind,
    DataCategory,
    NationalRules,
    Purpose,
)
from polex.domain.roles import Role
from polex.record.service import NewRecord

MEMBERS = ("FRA", "UKR", "GRC", "JPN")
SINCE = dt.date(2024, 1, 1)
OPERATIONAL = [
    Purpose.CRIMINAL_INVESTIGATION,
    Purpose.PROSECUTION,
    Purpose.BORDER_CONTROL,
    Purpose.MISSING_PERSONS,
    Purpose.IMMINENT_THREAT,
    Purpose.DATA_QUALITY,
]

AGREEMENTS = (
    Agreement(
        id="demo-network-convention",
        title="Convention on the exchange of notices, travel documents and vehicles",
        kind=AgreementKind.MULTILATERAL_CONVENTION,
        parties=[ALL_MEMBERS],
        categories=[DataCategory.NOTICES, DataCategory.TRAVEL_DOCUMENTS, DataCategory.VEHICLES],
        purposes=OPERATIONAL,
        level=AccessLevel.FULL,
        valid_from=SINCE,
        legal_reference="Demo Network Convention (2024), art. 5",
    ),
    Agreement(
        id="demo-hit-no-hit-convention",
        title="Convention on hit/no-hit consultation of persons and cases",
        kind=AgreementKind.MULTILATERAL_CONVENTION,
        parties=[ALL_MEMBERS],
        categories=[DataCategory.PERSONS, DataCategory.CASES],
        purposes=OPERATIONAL,
        level=AccessLevel.HIT_ONLY,
        valid_from=SINCE,
        legal_reference="Demo Hit/No-Hit Convention (2024), art. 3",
    ),
    Agreement(
        id="fra-ukr-criminal-records",
        title="Treaty between France and Ukraine on the exchange of criminal records",
        kind=AgreementKind.BILATERAL_TREATY,
        parties=["FRA", "UKR"],
        categories=[DataCategory.PERSONS, DataCategory.CASES],
        purposes=[Purpose.CRIMINAL_INVESTIGATION, Purpose.PROSECUTION],
        level=AccessLevel.FULL,
        valid_from=SINCE,
        legal_reference="Demo FRA-UKR Treaty (2024), art. 2",
    ),
    Agreement(
        id="grc-jpn-identification",
        title="Memorandum between Greece and Japan on identifying persons",
        kind=AgreementKind.MEMORANDUM,
        parties=["GRC", "JPN"],
        categories=[DataCategory.PERSONS],
        purposes=[Purpose.CRIMINAL_INVESTIGATION],
        level=AccessLevel.FULL,
        valid_from=SINCE,
        legal_reference="Demo GRC-JPN Memorandum (2025), point 4",
    ),
    Agreement(
        id="grc-ukr-identification",
        title="Treaty between Greece and Ukraine on identifying persons",
        kind=AgreementKind.BILATERAL_TREATY,
        parties=["GRC", "UKR"],
        categories=[DataCategory.PERSONS],
        purposes=[Purpose.CRIMINAL_INVESTIGATION],
        level=AccessLevel.FIELDS,
        fields=["person.names", "person.sex", "person.birth_dates", "person.nationalities"],
        valid_from=SINCE,
        legal_reference="Demo GRC-UKR Treaty (2026), art. 1",
    ),
)
# Who approved what: the Greek-Ukrainian treaty still waits for Ukraine.
APPROVALS = {
    "demo-network-convention": (HUB_COUNTRY, *MEMBERS),
    "demo-hit-no-hit-convention": (HUB_COUNTRY, *MEMBERS),
    "fra-ukr-criminal-records": ("FRA", "UKR"),
    "grc-jpn-identification": ("GRC", "JPN"),
    "grc-ukr-identification": ("GRC",),
}

NATIONAL_RULES = (
    NationalRules(
        country="GRC",
        never_shared=["biometrics", "health"],
        legal_reference="Demo Greek data protection rule (biometric and health data stay in Greece)",
    ),
    NationalRules(
        country="JPN",
        never_shared=["health"],
        refused_purposes=[Purpose.CRIME_PREVENTION],
        retention_months={DataCategory.PERSONS: 36, DataCategory.CASES: 36},
        legal_reference="Demo Japanese rule on police information abroad",
    ),
    NationalRules(
        country="UKR",
        retention_months={DataCategory.VEHICLES: 120},
        legal_reference="Demo Ukrainian rule on stolen-vehicle data",
    ),
)

# Member countries' records kept at the hub (as NCBs record them in the General
# Secretariat's databases), at size 1.0.
HUB_MEMBER_SIZES = {"persons": 200, "documents": 300, "vehicles": 150, "cases": 40}


def _administrator(country: str, agency_id: str) -> Principal:
    return Principal(
        PrincipalKind.LOCAL, new_id(), f"demo admin {country}", agency_id, country, frozenset({Role.ADMIN})
    )


def seed_policy(node: Node, own_agency_id: str) -> None:
    """The demo's agreements, approvals and national rules, as every node holds them."""
    country = node.settings.node_country
    admins = {
        party: _administrator(party, own_agency_id if party == country else new_id())
        for party in (HUB_COUNTRY, *MEMBERS)
    }
    for rules in NATIONAL_RULES:
        node.policy.set_national_rules(rules, admins[rules.country])
    for agreement in AGREEMENTS:
        proposer = HUB_COUNTRY if agreement.kind is AgreementKind.MULTILATERAL_CONVENTION else agreement.parties[0]
        read = node.policy.propose(agreement, admins[proposer])
        for party in APPROVALS[agreement.id]:
            node.policy.approve(agreement.id, read.version, admins[party])


def seed_member_records(node: Node, *, seed: int, size: float) -> list[tuple[str, str, Role]]:
    """At the hub: each member's NCB as an agency, its records with a few owner restrictions,
    and an officer of each NCB (username ``<country>.officer``) to see the differences."""
    rng = random.Random(seed)
    return [_seed_member(node, member, rng, seed + 101 * (offset + 1), size) for offset, member in enumerate(MEMBERS)]


def _seed_member(node: Node, member: str, rng: random.Random, seed: int, size: float) -> tuple[str, str, Role]:
    ncb = node.agencies.ensure(AgencyCreate(name=f"NCB {country_name(member)}", country=member, kind=AgencyKind.NCB))
    data = generate(member, seed=seed, **{key: int(value * size) for key, value in HUB_MEMBER_SIZES.items()})
    provenance = Provenance(source_format="synthetic", source_id=f"demo-hub-{member}")
    others = [other for other in MEMBERS if other != member]

    def restrictions(handling: Tlp) -> Restrictions:
        draw = rng.random()
        if draw < 0.10:
            return Restrictions(handling=handling, hit_only_countries=[rng.choice(others)])
        if draw < 0.15:
            return Restrictions(handling=handling, excluded_countries=[rng.choice(others)])
        if draw < 0.20:
            return Restrictions(handling=handling, consult_owner=True)
        return Restrictions(handling=handling)

    def new(content: object, handling: Tlp, record_id: str | None = None) -> NewRecord:
        return NewRecord(
            content=content,  # type: ignore[arg-type]
            owner_agency_id=ncb.id,
            owner_country=member,
            id=record_id,
            restrictions=restrictions(handling),
            provenance=provenance,
        )

    for index, item in enumerate(data.persons):
        if index % 3 == 0:  # fingerprints on file: what Greece's law keeps at home
            item.person.biometrics = [
                BiometricReference(
                    modality=BiometricModality.FINGERPRINTS,
                    reference=f"{member}-TCN-{seed:04d}{index:06d}",
                    held_by=f"NCB {country_name(member)} AFIS",
                )
            ]
    node.records["person"].create_many([new(p.person, Tlp.AMBER, p.id) for p in data.persons])
    node.records["travel_document"].create_many([new(d, Tlp.GREEN) for d in data.documents])
    node.records["vehicle"].create_many([new(v, Tlp.GREEN) for v in data.vehicles])
    node.records["case"].create_many([new(c.case, Tlp.AMBER, c.id) for c in data.cases])
    username = f"{member.lower()}.officer"
    password = secrets.token_urlsafe(12)
    node.auth.create_user(
        UserCreate(
            username=username,
            password=password,
            agency_id=ncb.id,
            roles=[Role.INVESTIGATOR],
            display_name=f"Officer of NCB {country_name(member)} at the hub",
        )
    )
    return username, password, Role.INVESTIGATOR
