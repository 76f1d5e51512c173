"""Fill a demo node with agencies, one user per role and synthetic records."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from polex.agency.schemas import AgencyCreate
from polex.auth.schemas import UserCreate
from polex.bootstrap import Node
from polex.demo.correlations import seed_correlations
from polex.demo.intel import seed_intel
from polex.demo.notices import seed_notices
from polex.demo.policy import seed_member_records, seed_policy
from polex.demo.synthetic import generate
from polex.domain.agency import AgencyKind
from polex.domain.base import Provenance, Restrictions, Tlp
from polex.domain.roles import Role
from polex.provision import own_agency
from polex.record.service import NewRecord

# The agencies behind each NCB, in the country's own language.
NATIONAL_AGENCIES: dict[str, list[tuple[str, AgencyKind]]] = {
    "FRA": [
        ("Police nationale", AgencyKind.POLICE),
        ("Direction centrale de la police aux frontières", AgencyKind.BORDER),
        ("Direction générale des douanes et droits indirects", AgencyKind.CUSTOMS),
    ],
    "UKR": [
        ("Національна поліція України", AgencyKind.POLICE),
        ("Державна прикордонна служба України", AgencyKind.BORDER),
        ("Державна митна служба України", AgencyKind.CUSTOMS),
    ],
    "GRC": [
        ("Ελληνική Αστυνομία", AgencyKind.POLICE),
        ("Διεύθυνση Αλλοδαπών και Ελέγχου Συνόρων", AgencyKind.BORDER),
        ("Ανεξάρτητη Αρχή Δημοσίων Εσόδων - Τελωνεία", AgencyKind.CUSTOMS),
    ],
    "JPN": [
        ("警察庁", AgencyKind.POLICE),
        ("出入国在留管理庁", AgencyKind.BORDER),
        ("税関", AgencyKind.CUSTOMS),
    ],
}

# Which kind of agency each demo user works for.
ROLE_AGENCY: dict[Role, AgencyKind] = {
    Role.INVESTIGATOR: AgencyKind.POLICE,
    Role.BORDER_OFFICER: AgencyKind.BORDER,
}

# Records per national node at size 1.0; the hub holds fugitives and cases, few documents.
NATIONAL_SIZES = {"persons": 2000, "documents": 3000, "vehicles": 1500, "cases": 300}
HUB_SIZES = {"persons": 1500, "documents": 100, "vehicles": 0, "cases": 200}
# The national node whose police shares a little threat intelligence (STIX), through the adapter.
INTEL_COUNTRY = "FRA"


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    role: Role


def demo_roles(is_hub: bool) -> list[Role]:
    roles: list[Role] = [role for role in Role if role is not Role.MONITOR]
    return roles if is_hub else [role for role in roles if role is not Role.REVIEWER]


def seed_node(node: Node, *, seed: int, size: float) -> list[DemoUser]:
    """Agencies, a user per role (fresh passwords) and synthetic records; run once per node."""
    settings = node.settings
    # Not while seeding: the node correlates every person when it first serves (once, not twice).
    node.correlations.close()
    ncb = node.agencies.ensure(own_agency(settings))
    agency_ids: dict[AgencyKind, str] = {ncb.kind: ncb.id}
    for name, kind in NATIONAL_AGENCIES.get(settings.node_country, []):
        agency = node.agencies.ensure(AgencyCreate(name=name, country=settings.node_country, kind=kind))
        agency_ids[kind] = agency.id
    police = agency_ids.get(AgencyKind.POLICE, ncb.id)
    seed_policy(node, ncb.id)  # first: retention deadlines follow the national rules

    users = []
    for role in demo_roles(settings.is_hub):
        password = secrets.token_urlsafe(12)
        agency_id = agency_ids.get(ROLE_AGENCY.get(role, ncb.kind), ncb.id)
        node.auth.create_user(
            UserCreate(
                username=role.value,
                password=password,
                agency_id=agency_id,
                roles=[role],
                display_name=f"Demo {role.value.replace('_', ' ')}",
            )
        )
        users.append(DemoUser(username=role.value, password=password, role=role))

    sizes = HUB_SIZES if settings.is_hub else NATIONAL_SIZES
    data = generate(settings.node_country, seed=seed, **{key: int(value * size) for key, value in sizes.items()})
    country = settings.node_country
    provenance = Provenance(source_format="synthetic", source_id=f"demo-seed-{seed}")

    def new(content: object, owner: str, *, record_id: str | None = None, handling: Tlp = Tlp.AMBER) -> NewRecord:
        return NewRecord(
            content=content,  # type: ignore[arg-type]
            owner_agency_id=owner,
            owner_country=country,
            id=record_id,
            restrictions=Restrictions(handling=handling),
            provenance=provenance,
        )

    node.records["person"].create_many([new(p.person, police, record_id=p.id) for p in data.persons])
    node.records["travel_document"].create_many([new(d, ncb.id, handling=Tlp.GREEN) for d in data.documents])
    node.records["vehicle"].create_many([new(v, police, handling=Tlp.GREEN) for v in data.vehicles])
    node.records["case"].create_many([new(c.case, police, record_id=c.id, handling=Tlp.RED) for c in data.cases])
    if not settings.is_hub and country == INTEL_COUNTRY:
        seed_intel(node, police)
    if settings.is_hub:
        officers = seed_member_records(node, seed=seed, size=size)
        users.extend(DemoUser(username=name, password=password, role=role) for name, password, role in officers)
        seed_notices(node)
        seed_correlations(node)
    return users
