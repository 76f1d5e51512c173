"""Agencies: the node's own agency is created at init; administrators add the others."""

from __future__ import annotations

import datetime as dt

from polex.agency.repository import AgencyRepository
from polex.agency.schemas import AgencyCreate, AgencyRead
from polex.audit.service import AuditTrail, EventDraft, actor_of
from polex.auth.principal import Principal
from polex.domain.audit import Actor, AuditTag
from polex.domain.base import new_id
from polex.domain.roles import Permission
from polex.errors import AlreadyExists, Forbidden, NotFound
from polex.storage.tables import AgencyRow
from polex.storage.unit_of_work import UnitOfWorkFactory


def agency_read(row: AgencyRow) -> AgencyRead:
    return AgencyRead(id=row.id, name=row.name, country=row.country, kind=row.kind, created_at=row.created_at)


class AgencyService:
    def __init__(self, uow: UnitOfWorkFactory, audit: AuditTrail, *, node_country: str, is_hub: bool) -> None:
        self._uow = uow
        self._audit = audit
        self._node_country = node_country
        self._is_hub = is_hub

    def create(self, data: AgencyCreate, principal: Principal | None = None) -> AgencyRead:
        """Add an agency. ``principal`` is None only for node set-up (``polex init``)."""
        if principal is not None:
            principal.require(Permission.AGENCY_ADMIN)
        if not self._is_hub and data.country != self._node_country:
            raise Forbidden(
                f"a national node registers agencies of its own country ({self._node_country}), not {data.country}"
            )
        with self._uow() as uow:
            agencies = AgencyRepository(uow.session)
            if agencies.find(data.name, data.country) is not None:
                raise AlreadyExists(f"agency '{data.name}' of {data.country} exists already")
            row = AgencyRow(
                id=new_id(),
                name=data.name,
                country=data.country,
                kind=data.kind.value,
                created_at=dt.datetime.now(dt.UTC),
            )
            agencies.add(row)
            actor = actor_of(principal) if principal else Actor(kind="setup")
            uow.flush()
            self._audit.add(uow, [EventDraft(AuditTag.AGENCY_CREATED, actor, details={"agency_id": row.id})])
            uow.commit()
            return agency_read(row)

    def ensure(self, data: AgencyCreate) -> AgencyRead:
        """The agency with this name and country, created if it does not exist yet."""
        with self._uow(read_only=True) as uow:
            existing = AgencyRepository(uow.session).find(data.name, data.country)
            if existing is not None:
                return agency_read(existing)
        return self.create(data)

    def get_any(self, agency_id: str) -> AgencyRead:
        """For node set-up from the CLI, which has no principal."""
        with self._uow(read_only=True) as uow:
            row = AgencyRepository(uow.session).get(agency_id)
            if row is None:
                raise NotFound(f"no agency '{agency_id}'")
            return agency_read(row)

    def get(self, agency_id: str, principal: Principal) -> AgencyRead:
        principal.require(Permission.AGENCY_READ)
        with self._uow(read_only=True) as uow:
            row = AgencyRepository(uow.session).get(agency_id)
            if row is None:
                raise NotFound(f"no agency '{agency_id}'")
            return agency_read(row)

    def list(self, principal: Principal, country: str | None = None) -> list[AgencyRead]:
        principal.require(Permission.AGENCY_READ)
        with self._uow(read_only=True) as uow:
            return [agency_read(row) for row in AgencyRepository(uow.session).list(country)]
