"""Agreements, national rules, country groups and suspensions in the database."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from polex.storage.tables import AgreementRow, AgreementVersionRow, PolicyDocumentRow, SuspensionRow

NATIONAL_RULES = "national_rules"
COUNTRY_GROUP = "country_group"


class PolicyRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    # -- agreements -------------------------------------------------------------------

    def agreement(self, agreement_id: str, *, for_update: bool = False) -> AgreementRow | None:
        statement = select(AgreementRow).where(AgreementRow.id == agreement_id)
        if for_update:
            statement = statement.with_for_update()
        return self._session.scalars(statement).first()

    def agreements(self) -> Sequence[AgreementRow]:
        return self._session.scalars(select(AgreementRow).order_by(AgreementRow.id)).all()

    def agreement_version(self, agreement_id: str, version: int) -> AgreementVersionRow | None:
        return self._session.get(AgreementVersionRow, (agreement_id, version))

    def agreement_versions(self, agreement_id: str) -> Sequence[AgreementVersionRow]:
        statement = (
            select(AgreementVersionRow)
            .where(AgreementVersionRow.agreement_id == agreement_id)
            .order_by(AgreementVersionRow.version)
        )
        return self._session.scalars(statement).all()

    def add(self, row: AgreementRow | AgreementVersionRow | PolicyDocumentRow | SuspensionRow) -> None:
        self._session.add(row)

    # -- national rules and groups ----------------------------------------------------

    def document(self, kind: str, name: str) -> PolicyDocumentRow | None:
        return self._session.get(PolicyDocumentRow, (kind, name))

    def documents(self, kind: str) -> Sequence[PolicyDocumentRow]:
        statement = select(PolicyDocumentRow).where(PolicyDocumentRow.kind == kind).order_by(PolicyDocumentRow.name)
        return self._session.scalars(statement).all()

    # -- suspensions ------------------------------------------------------------------

    def suspensions(self, *, active_only: bool) -> Sequence[SuspensionRow]:
        statement = select(SuspensionRow).order_by(SuspensionRow.at)
        if active_only:
            statement = statement.where(SuspensionRow.lifted_at.is_(None))
        return self._session.scalars(statement).all()

    def suspension(self, suspension_id: str) -> SuspensionRow | None:
        return self._session.get(SuspensionRow, suspension_id)

    def active_suspension(self, subject_kind: str, subject_id: str, *, own_only: bool = False) -> SuspensionRow | None:
        """The subject's suspension in force; with ``own_only``, this node's own (not a copy
        of the hub's, which the hub alone lifts)."""
        statement = select(SuspensionRow).where(
            SuspensionRow.subject_kind == subject_kind,
            SuspensionRow.subject_id == subject_id,
            SuspensionRow.lifted_at.is_(None),
        )
        if own_only:
            statement = statement.where(SuspensionRow.imposed_by.is_(None))
        return self._session.scalars(statement).first()
