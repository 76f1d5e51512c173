"""Agencies: the NCB and the police forces, border posts and prosecutors behind it."""

from __future__ import annotations

from enum import StrEnum

from polex.domain.base import SchemaModel, Text
from polex.domain.countries import CountryCode


class AgencyKind(StrEnum):
    GENERAL_SECRETARIAT = "general_secretariat"  # the hub's own agency
    NCB = "ncb"
    POLICE = "police"
    BORDER = "border"
    CUSTOMS = "customs"
    PROSECUTOR = "prosecutor"
    JUDICIAL = "judicial"
    OTHER = "other"


class Agency(SchemaModel):
    name: Text
    country: CountryCode
    kind: AgencyKind
