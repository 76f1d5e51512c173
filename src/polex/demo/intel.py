"""The demo's threat intelligence: a few STIX 2.1 objects a French police agency shares about
a parcel-delivery phishing crew, imported through the STIX adapter as any bundle would be.

The objects are made with the polex model, written as a bundle by the adapter and read back
by the import, so the demo shows what an import does (TLP markings becoming each record's
handling, the STIX id as its key). Their ids are fixed: seeding twice finds them recorded."""

from __future__ import annotations

import datetime as dt
import io
import uuid

from polex.auth.principal import Principal, PrincipalKind
from polex.bootstrap import Node
from polex.domain.base import Tlp
from polex.domain.intel import (
    AttackPattern,
    ExternalReference,
    Identity,
    Indicator,
    IntelBundle,
    KillChainPhase,
    MarkingDefinition,
    Relationship,
    ThreatActor,
)
from polex.domain.roles import Role
from polex.formats.stix import StixAdapter, write_stix
from polex.ingest.service import ImportSummary

_NAMESPACE = uuid.UUID("4b0f6f0e-5d52-4c1b-9a1e-2f4b7c8d9e10")
_CREATED = dt.datetime(2025, 3, 12, 9, 30, tzinfo=dt.UTC)


def _id(object_type: str, name: str) -> str:
    # Version 4 shape (STIX asks for it for these objects) from a fixed name: the same on every run.
    fixed = uuid.UUID(bytes=uuid.uuid5(_NAMESPACE, name).bytes, version=4)
    return f"{object_type}--{fixed}"


def demo_bundle(agency_name: str) -> IntelBundle:
    """An indicator (TLP:GREEN) of a phishing crew (TLP:AMBER), the technique it uses, and the
    relationships between them, produced by ``agency_name``."""
    author = Identity(
        id=_id("identity", "author"),
        created=_CREATED,
        modified=_CREATED,
        name=agency_name,
        identity_class="organization",
        sectors=["government-national"],
    ).with_tlp(Tlp.CLEAR)
    common = {"created_by_ref": author.id, "created": _CREATED, "modified": _CREATED}
    indicator = Indicator(
        id=_id("indicator", "parcel-domains"),
        name="Fake parcel-tracking domains",
        description="Domains sent by SMS to victims told a parcel awaits a customs fee; they collect card details.",
        indicator_types=["malicious-activity"],
        pattern="[domain-name:value = 'suivi-colis-livraison.example'] OR [domain-name:value = 'colis-frais.example']",
        pattern_type="stix",
        valid_from=_CREATED,
        kill_chain_phases=[KillChainPhase(kill_chain_name="mitre-attack", phase_name="initial-access")],
        **common,
    ).with_tlp(Tlp.GREEN)
    actor = ThreatActor(
        id=_id("threat-actor", "colis-crew"),
        name="Colis en attente crew",
        description="Organised group behind SMS phishing waves impersonating parcel carriers since late 2024.",
        threat_actor_types=["crime-syndicate"],
        aliases=["Faux colis"],
        first_seen=dt.datetime(2024, 11, 4, tzinfo=dt.UTC),
        roles=["agent"],
        sophistication="intermediate",
        resource_level="organization",
        primary_motivation="personal-gain",
        **common,
    ).with_tlp(Tlp.AMBER)
    technique = AttackPattern(
        id=_id("attack-pattern", "t1566-002"),
        name="Phishing: Spearphishing Link",
        external_references=[
            ExternalReference(
                source_name="mitre-attack",
                external_id="T1566.002",
                url="https://attack.mitre.org/techniques/T1566/002/",
            )
        ],
        **common,
    ).with_tlp(Tlp.GREEN)
    indicates = Relationship(
        id=_id("relationship", "indicates"),
        relationship_type="indicates",
        source_ref=indicator.id,
        target_ref=actor.id,
        **common,
    ).with_tlp(Tlp.AMBER)
    uses = Relationship(
        id=_id("relationship", "uses"),
        relationship_type="uses",
        source_ref=actor.id,
        target_ref=technique.id,
        **common,
    ).with_tlp(Tlp.AMBER)
    markings = [MarkingDefinition.for_tlp(tlp) for tlp in (Tlp.CLEAR, Tlp.GREEN, Tlp.AMBER)]
    bundle_id = f"bundle--{uuid.UUID(bytes=uuid.uuid5(_NAMESPACE, 'bundle').bytes, version=4)}"
    return IntelBundle(id=bundle_id, objects=[*markings, author, indicator, actor, technique, indicates, uses])


def seed_intel(node: Node, agency_id: str) -> ImportSummary:
    """Import the demo bundle for ``agency_id`` (of the node's country) through the STIX adapter."""
    agency = node.agencies.get_any(agency_id)
    importer = Principal(
        PrincipalKind.LOCAL, "demo-seed", "demo-seed", agency.id, agency.country, frozenset({Role.NCB_OPERATOR})
    )
    bundle = write_stix([demo_bundle(agency.name)]).text.encode()
    return node.imports.run(StixAdapter(), io.BytesIO(bundle), source="demo intel", owner=importer)
