"""How travel document records are projected, filtered and who may report them."""

from __future__ import annotations

from polex.auth.principal import Principal
from polex.domain.base import RecordKind
from polex.domain.countries import HUB_COUNTRY
from polex.domain.document import TravelDocument, document_key, normalise_document_number
from polex.domain.records import RECORD_TYPES
from polex.errors import Forbidden
from polex.record.spec import Projection, RecordFeature, TermFilter


def project_document(document: TravelDocument) -> Projection:
    terms = {
        f"number:{document.number}",
        f"issuer:{document.issuing_country}",
        f"type:{document.document_type.value.upper()}",
    }
    label = f"{document.issuing_country} {document.document_type.value.replace('_', ' ')} {document.number}"
    return Projection(
        label=label,
        # A document is reported once: its issuing country, kind and number identify it.
        key=f"{document.issuing_country}:{document.document_type.value}:{document.number}",
        status=document.status.value,
        terms=frozenset(terms),
        lookup=frozenset({document_key(document.issuing_country, document.number)}),
    )


def only_the_issuing_country(document: TravelDocument, principal: Principal) -> None:
    """Only the issuing country's agencies report its documents (INTERPOL SLTD rule)."""
    if principal.country not in (document.issuing_country, HUB_COUNTRY) or (
        principal.country == HUB_COUNTRY and document.issuing_country != HUB_COUNTRY
    ):
        raise Forbidden(
            f"only agencies of {document.issuing_country} may report its documents; yours is of {principal.country}"
        )


DOCUMENT_FEATURE = RecordFeature(
    record_type=RECORD_TYPES[RecordKind.TRAVEL_DOCUMENT],
    project=project_document,
    filters=(
        TermFilter(
            "number",
            "number",
            "Document number (case, spaces and fillers ignored)",
            normalise_document_number,
        ),
        TermFilter("issuing_country", "issuer", "ISO 3166-1 alpha-3 of the issuer"),
        TermFilter("document_type", "type", "passport, identity_card, visa, ..."),
    ),
    check_owner=only_the_issuing_country,
)
