"""Users of a national node acting at the hub through their node: a notice request relayed
in an envelope, a check asked online (FIND). The national node vouches for its user (its
signed envelope or its node token proves which node speaks); the hub acts for a *relayed*
principal of that node's country, with the roles the relay allows and no more.

A user's agency keeps the id it has on its national node (ids are globally unique), so the
owner of what it creates, and the requester of what it checks, is the same on every node.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Annotated, Any

from pydantic import StringConstraints
from sqlalchemy import or_, select

from polex.auth.principal import Principal, PrincipalKind
from polex.domain.agency import AgencyKind
from polex.domain.base import RecordId, SchemaModel
from polex.domain.roles import Role
from polex.errors import Forbidden
from polex.policy.schemas import SubjectKind
from polex.storage.inserts import insert_if_absent
from polex.storage.tables import AgencyRow, SuspensionRow


class RelayedBy(SchemaModel):
    """Who acted on the national node (what the hub records of the author)."""

    user_id: Annotated[str, StringConstraints(min_length=1, max_length=36)]  # the user's id on its node
    user: Annotated[str, StringConstraints(min_length=1, max_length=300)]
    agency_id: RecordId
    agency_name: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    agency_kind: AgencyKind
    country: Annotated[str, StringConstraints(min_length=3, max_length=3)]
    roles: list[Role] = []  # as held on the national node; the hub keeps those the relay allows

    @classmethod
    def of(cls, principal: Principal, agency: AgencyRow | None) -> RelayedBy:
        """The national user behind ``principal``, with its agency as this node knows it."""
        return cls(
            user_id=principal.id[:36],
            user=principal.name[:300] or principal.id[:36],
            agency_id=principal.agency_id,
            agency_name=agency.name if agency is not None else principal.agency_id,
            agency_kind=AgencyKind(agency.kind) if agency is not None else AgencyKind.NCB,
            country=principal.country,
            roles=sorted(principal.roles),
        )


def relayed_principal(
    session: Any, *, sender: str, country: str | None, by: RelayedBy, allowed: Iterable[Role]
) -> Principal:
    """The hub's principal for ``by``, a user of node ``sender`` (which serves ``country``,
    None if it is not an active member), with the roles among ``allowed`` (all of them when
    ``by`` names none). The user's agency is registered at the hub on first sight, under its
    national id. Raises Forbidden when the node may not speak for this user."""
    if country is None:
        raise Forbidden(f"node '{sender}' is not an active member of the network")
    if by.country != country:
        raise Forbidden(f"node '{sender}' serves {country}, not {by.country}")
    agency = session.get(AgencyRow, by.agency_id)
    if agency is None:
        # Requests of the same new agency can arrive together (a check, a report): whichever
        # commits first registers it, and the others then read its row.
        values = {
            "id": by.agency_id,
            "name": by.agency_name,
            "country": country,
            "kind": by.agency_kind.value,
            "created_at": dt.datetime.now(dt.UTC),
        }
        if not insert_if_absent(session, AgencyRow, values):
            agency = session.get(AgencyRow, by.agency_id)
    if agency is not None and agency.country != country:
        raise Forbidden(f"agency '{agency.id}' is not of {country}")
    # The hub's sanctions bind what is done at the hub, whoever relays it: an agency or a
    # user suspended here (by its national id) is refused, as its own login would be.
    suspended = session.scalars(
        select(SuspensionRow.subject_kind).where(
            SuspensionRow.lifted_at.is_(None),
            or_(
                (SuspensionRow.subject_kind == SubjectKind.AGENCY.value) & (SuspensionRow.subject_id == by.agency_id),
                (SuspensionRow.subject_kind == SubjectKind.USER.value) & (SuspensionRow.subject_id == by.user_id),
            ),
        )
    ).first()
    if suspended is not None:
        whose = "agency" if suspended == SubjectKind.AGENCY.value else "account"
        raise Forbidden(f"{by.user}@{sender}: the {whose} is suspended at the hub")
    permitted = frozenset(allowed)
    roles = permitted & frozenset(by.roles) if by.roles else permitted
    if not roles:
        raise Forbidden(f"none of the roles of {by.user}@{sender} may act at the hub this way")
    return Principal(
        PrincipalKind.RELAYED,
        by.user_id,  # the user's id on its node; the node is in the name
        f"{by.user}@{sender}",
        by.agency_id,
        country,
        roles,
    )
