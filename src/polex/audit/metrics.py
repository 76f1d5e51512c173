"""Prometheus metrics of the audit log, read from the database at scrape time."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from polex.audit.repository import AuditRepository
from polex.storage.tables import AuditAlertRow
from polex.storage.unit_of_work import UnitOfWorkFactory


class AuditLogCollector(Collector):
    """Log size, integration lag and checkpoint age: a growing lag or age means the
    integrator is stuck, and unsigned entries are not yet tamper-evident."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._uow(read_only=True) as uow:
            repository = AuditRepository(uow.session)
            size = repository.size()
            integrated = repository.tree_state().size
            latest = repository.latest_checkpoint()
            signed, signed_at = (latest.size, latest.at) if latest else (0, None)
            alerts = uow.session.scalar(select(func.count()).select_from(AuditAlertRow)) or 0
        yield GaugeMetricFamily("polex_audit_log_entries", "Entries appended to the audit log", value=size)
        yield GaugeMetricFamily(
            "polex_audit_log_unintegrated_entries",
            "Entries not yet hashed into the Merkle tree",
            value=size - integrated,
        )
        yield GaugeMetricFamily(
            "polex_audit_checkpoint_size", "Tree size of the latest signed checkpoint", value=signed
        )
        age = (dt.datetime.now(dt.UTC) - signed_at).total_seconds() if signed_at else float("nan")
        yield GaugeMetricFamily("polex_audit_checkpoint_age_seconds", "Age of the latest signed checkpoint", value=age)
        yield GaugeMetricFamily(
            "polex_audit_witness_alerts", "Forks, rollbacks and bad signatures found in witnessed logs", value=alerts
        )
        yield GaugeMetricFamily(
            "polex_audit_unsigned_entries", "Entries appended since the latest signed checkpoint", value=size - signed
        )
