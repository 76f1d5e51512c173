"""The driver-level insert of imports and the audit trail, on SQLite and PostgreSQL: every row
stored whatever the batch's size against the rows a statement carries, and a duplicate
refused as the driver's IntegrityError with nothing of the batch kept."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from polex.audit.repository import SQLITE_ROWS_PER_STATEMENT, bulk_insert
from polex.bootstrap import Node
from polex.storage.tables import AuditEventTermRow

PREFIX = "bulk-insert-test-"


def _inserted(node: Node) -> list[tuple[str, int]]:
    query = select(AuditEventTermRow.term_hash, AuditEventTermRow.seq).where(
        AuditEventTermRow.term_hash.startswith(PREFIX)
    )
    with node.engine.connect() as connection:
        return sorted((term, seq) for term, seq in connection.execute(query))


def _rows(count: int) -> list[tuple[str, int]]:
    return [(f"{PREFIX}{serial:06d}", serial) for serial in range(count)]


@pytest.mark.parametrize("count", [1, SQLITE_ROWS_PER_STATEMENT, 2 * SQLITE_ROWS_PER_STATEMENT + 37])
def test_every_row_is_stored_whatever_the_count(node: Node, count: int) -> None:
    with node.engine.begin() as connection:
        bulk_insert(connection, "audit_event_terms", ("term_hash", "seq"), _rows(count))
    assert _inserted(node) == _rows(count)


def test_a_duplicate_in_a_later_statement_refuses_the_whole_batch(node: Node) -> None:
    rows = _rows(SQLITE_ROWS_PER_STATEMENT + 10)
    rows.append(rows[3])  # the same key again, in the last statement
    driver = node.engine.dialect.dbapi
    assert driver is not None
    with pytest.raises((IntegrityError, driver.IntegrityError)), node.engine.begin() as connection:
        bulk_insert(connection, "audit_event_terms", ("term_hash", "seq"), rows)
    assert _inserted(node) == []
