from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from polex.storage.tables import AgencyRow


class AgencyRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, row: AgencyRow) -> None:
        self._session.add(row)

    def get(self, agency_id: str) -> AgencyRow | None:
        return self._session.get(AgencyRow, agency_id)

    def list(self, country: str | None = None) -> list[AgencyRow]:
        query = select(AgencyRow).order_by(AgencyRow.country, AgencyRow.name)
        if country is not None:
            query = query.where(AgencyRow.country == country)
        return list(self._session.scalars(query))

    def find(self, name: str, country: str) -> AgencyRow | None:
        query = select(AgencyRow).where(AgencyRow.name == name, AgencyRow.country == country)
        return self._session.scalars(query).first()
