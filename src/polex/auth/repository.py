from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from polex.storage.tables import ApiKeyRow, UserRow


class UserRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, row: UserRow) -> None:
        self._session.add(row)

    def get(self, user_id: str) -> UserRow | None:
        return self._session.get(UserRow, user_id)

    def by_username(self, username: str) -> UserRow | None:
        return self._session.scalars(select(UserRow).where(UserRow.username == username)).first()

    def list(self, agency_id: str | None = None) -> list[UserRow]:
        query = select(UserRow).order_by(UserRow.username)
        if agency_id is not None:
            query = query.where(UserRow.agency_id == agency_id)
        return list(self._session.scalars(query))


class ApiKeyRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, row: ApiKeyRow) -> None:
        self._session.add(row)

    def get(self, key_id: str) -> ApiKeyRow | None:
        return self._session.get(ApiKeyRow, key_id)

    def by_prefix(self, prefix: str) -> ApiKeyRow | None:
        return self._session.scalars(select(ApiKeyRow).where(ApiKeyRow.prefix == prefix)).first()

    def list(self) -> list[ApiKeyRow]:
        return list(self._session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.created_at)))
