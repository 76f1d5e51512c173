from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
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

    def count_failed_login(self, user_id: str) -> None:
        """Add one failed login in the database itself, so concurrent attempts all count."""
        self._session.execute(
            update(UserRow).where(UserRow.id == user_id).values(failed_logins=UserRow.failed_logins + 1)
        )

    def record_login(self, user_id: str, at: dt.datetime, password_hash: str | None = None) -> None:
        values: dict[str, object] = {"failed_logins": 0, "last_login_at": at}
        if password_hash is not None:
            values["password_hash"] = password_hash
        self._session.execute(update(UserRow).where(UserRow.id == user_id).values(**values))

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

    def mark_used(self, key_id: str, at: dt.datetime) -> None:
        self._session.execute(update(ApiKeyRow).where(ApiKeyRow.id == key_id).values(last_used_at=at))

    def list(self) -> list[ApiKeyRow]:
        return list(self._session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.created_at)))
