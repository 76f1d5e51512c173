"""Imports on SQLite and PostgreSQL: records stored in audited batches, everything else in
quarantine as received, nothing half-written, a repeated import does not duplicate."""

from __future__ import annotations

import io
from typing import Any

import pytest
from sqlalchemy import func, select

from polex.auth.principal import Principal, PrincipalKind
from polex.bootstrap import Node
from polex.domain.base import new_id
from polex.domain.policy import Purpose
from polex.domain.roles import Role
from polex.formats.csv_mapping import CsvMappingAdapter
from polex.ingest.parallel import staged_in_workers
from polex.provision import own_agency
from polex.storage.tables import ImportRow, QuarantineRow, RecordRow

MAPPING = """
record: travel_document
csv: {delimiter: ";"}
value_maps:
  statuses: {VOL: stolen, PERTE: lost}
fields:
  - {target: number, column: NUMERO, required: true}
  - {target: issuing_country, column: PAYS}
  - {target: status, column: MOTIF, map: statuses, required: true}
source_id: REF
"""

EXPORT = """REF;NUMERO;PAYS;MOTIF
1;11AA11111;FRA;VOL
2;22BB22222;FRA;PERTE
3;33CC33333;DEU;VOL
4;;FRA;VOL
5;11AA11111;FRA;VOL
6;44DD44444;FRA;ENVOLE
"""


def operator(node: Node) -> Principal:
    agency = node.agencies.ensure(own_agency(node.settings))
    return Principal(PrincipalKind.LOCAL, new_id(), "importer", agency.id, "FRA", frozenset({Role.NCB_OPERATOR}))


def test_an_import_stores_what_it_can_and_quarantines_the_rest(node: Node) -> None:
    owner = operator(node)
    summary = node.imports.run(
        CsvMappingAdapter(mapping=MAPPING), io.BytesIO(EXPORT.encode()), source="export.csv", owner=owner, batch_size=2
    )
    assert (summary.accepted, summary.rejected) == (2, 4)
    quarantined = {row.location: row for row in node.imports.quarantined(summary.id)}
    assert quarantined["line 4"].field == "owner"  # a German document, imported by France
    assert "only agencies of DEU" in quarantined["line 4"].reason
    assert (quarantined["line 5"].field, quarantined["line 5"].reason) == ("NUMERO", "is empty but required")
    assert quarantined["line 6"].field == "record"  # the same document twice in one file
    assert quarantined["line 7"].field == "MOTIF"
    assert quarantined["line 7"].raw == "6;44DD44444;FRA;ENVOLE"  # as received
    stored = {record["number"] for record in _documents(node, owner)}
    assert stored == {"11AA11111", "22BB22222"}

    again = node.imports.run(
        CsvMappingAdapter(mapping=MAPPING), io.BytesIO(EXPORT.encode()), source="export.csv", owner=owner
    )
    assert again.accepted == 0  # idempotent: nothing recorded twice
    assert {record["number"] for record in _documents(node, owner)} == stored


def test_a_row_holding_nul_is_quarantined_with_the_offsets_of_its_nul_bytes(node: Node) -> None:
    # PostgreSQL cannot store NUL in text: the quarantine keeps U+FFFD in its place and says
    # where each was, rather than failing the import (it did, before, on PostgreSQL).
    owner = operator(node)
    export = "REF;NUMERO;PAYS;MOTIF\n1;11AA\x0011111;FRA;VOL\n2;22BB22222;FRA;VOLE\x00\x00\n3;33CC33333;FRA;VOL\n"
    summary = node.imports.run(
        CsvMappingAdapter(mapping=MAPPING), io.BytesIO(export.encode()), source="export.csv", owner=owner
    )
    assert (summary.accepted, summary.rejected) == (1, 2)
    quarantined = {row.location: row for row in node.imports.quarantined(summary.id)}
    number, motif = quarantined["line 2"], quarantined["line 3"]
    assert number.field == "NUMERO"
    assert "U+0000" in number.reason
    assert number.raw == "1;11AA\ufffd11111;FRA;VOL"
    assert number.errors[-1] == {"field": "raw", "reason": "held NUL (U+0000) at offsets 6, kept as U+FFFD"}
    assert motif.raw == "2;22BB22222;FRA;VOLE\ufffd\ufffd"
    assert "\x00" not in motif.reason
    assert motif.errors == [{"field": "raw", "reason": "held NUL (U+0000) at offsets 20, 21, kept as U+FFFD"}]
    assert (number.status, motif.status) == ("open", "open")


def _documents(node: Node, owner: Principal) -> list:  # type: ignore[type-arg]
    from polex.record.service import ListFilters

    reader = Principal(PrincipalKind.USER, new_id(), "reader", owner.agency_id, "FRA", frozenset({Role.ANALYST}))
    page = node.records["travel_document"].list(
        reader, ListFilters(), purpose=Purpose.CRIMINAL_INVESTIGATION, cursor=None, limit=100
    )
    return page.items


def test_followthemoney_entities_keep_their_ids_so_a_second_import_adds_nothing(node: Node) -> None:
    from polex.domain.person import Person
    from polex.formats.ftm import FtmAdapter
    from tests.factories import person_body

    buffer = io.BytesIO()
    FtmAdapter().write([Person.model_validate(person_body())], buffer)
    owner = operator(node)
    first = node.imports.run(FtmAdapter(), io.BytesIO(buffer.getvalue()), source="persons.ftm.json", owner=owner)
    assert (first.accepted, first.rejected, first.by_kind) == (1, 0, {"person": 1})
    second = node.imports.run(FtmAdapter(), io.BytesIO(buffer.getvalue()), source="persons.ftm.json", owner=owner)
    assert (second.accepted, second.rejected) == (0, 1)
    (duplicate,) = node.imports.quarantined(second.id)
    assert "already recorded" in duplicate.reason


def test_a_repeated_import_finds_the_stored_records_before_writing_and_stores_the_new_in_one_event(
    node: Node,
) -> None:
    owner = operator(node)
    first = "REF;NUMERO;PAYS;MOTIF\n1;11AA11111;FRA;VOL\n2;22BB22222;FRA;PERTE\n3;33CC33333;FRA;VOL\n"
    summary = node.imports.run(
        CsvMappingAdapter(mapping=MAPPING), io.BytesIO(first.encode()), source="first.csv", owner=owner
    )
    assert (summary.accepted, summary.rejected) == (3, 0)
    # The same rows again (one number as typed at a counter), with two new ones among them.
    again = first.replace("11AA11111", "11aa 11111") + "4;44DD44444;FRA;VOL\n5;55EE55555;FRA;PERTE\n"
    before = node.audit.integrate()
    summary = node.imports.run(
        CsvMappingAdapter(mapping=MAPPING), io.BytesIO(again.encode()), source="again.csv", owner=owner
    )
    assert (summary.accepted, summary.rejected) == (2, 3)
    quarantined = {row.location: row for row in node.imports.quarantined(summary.id)}
    assert sorted(quarantined) == ["line 2", "line 3", "line 4"]
    assert {(row.field, "already recorded" in row.reason) for row in quarantined.values()} == {("record", True)}
    assert quarantined["line 2"].raw == "1;11aa 11111;FRA;VOL"
    # The duplicates were found before the batch was written, not by storing record by
    # record: the two new documents are in one import event.
    after = node.audit.integrate()
    events = [node.audit.leaf(index)[0] for index in range(before, after)]
    imported = [event for event in events if event.tag.value == "record:travel_document:imported"]
    assert [len(event.record_ids) for event in imported] == [2]
    assert {record["number"] for record in _documents(node, owner)} == {
        "11AA11111",
        "22BB22222",
        "33CC33333",
        "44DD44444",
        "55EE55555",
    }


def test_records_an_import_stores_are_those_the_api_would_store(node: Node) -> None:
    """Written without the ORM: the same columns, keys, retention and JSON as a record made
    one at a time, and the screening index told of the keys."""
    from sqlalchemy import select

    from polex.storage.tables import RecordKeyRow, RecordRow

    owner = operator(node)
    export = "REF;NUMERO;PAYS;MOTIF\nX-1;12ab 34567;FRA;VOL\n"
    summary = node.imports.run(
        CsvMappingAdapter(mapping=MAPPING), io.BytesIO(export.encode()), source="export.csv", owner=owner
    )
    assert summary.accepted == 1
    (shown,) = _documents(node, owner)
    assert shown["number"] == "12AB34567"
    assert shown["provenance"] == {
        "source_format": "csv",
        "source_id": "X-1",
        "original_values": {"number": "12ab 34567"},
    }
    assert shown["version"] == 1
    assert shown["owner"] == {"agency_id": owner.agency_id, "country": "FRA"}
    with node.engine.connect() as connection:
        row = connection.execute(select(RecordRow.__table__).where(RecordRow.id == shown["id"])).one()
        keys = connection.scalars(select(RecordKeyRow.key).where(RecordKeyRow.record_id == shown["id"])).all()
    assert row.created_at == row.updated_at
    assert row.created_at.tzinfo is not None
    assert row.retain_until == node.policy.retention_deadline("travel_document", "FRA", row.created_at)
    assert (row.kind, row.key, row.status) == ("travel_document", "FRA:passport:12AB34567", "stolen")
    assert row.deleted_at is None
    assert row.label == "FRA passport 12AB34567"
    assert "|number:12AB34567|" in row.terms
    assert row.restrictions == {**row.restrictions, "handling": "TLP:AMBER"}
    assert row.content["number"] == "12AB34567"
    assert keys == ["doc:FRA:12AB34567"]
    assert node.screening.index.contains_many(keys).all()


def _large_export(rows: int) -> tuple[str, dict[str, str]]:
    """An export with a bad row every 97 (an empty number, an unknown reason, a German
    document, a number seen before): the file, and the expected field of each bad line."""
    lines = ["REF;NUMERO;PAYS;MOTIF"]
    bad: dict[str, str] = {}
    for serial in range(rows):
        number, country, reason = f"{serial:02d}ZZ{serial:07d}", "FRA", "VOL" if serial % 2 else "PERTE"
        line = f"line {serial + 2}"
        if serial % 97 == 10:
            number, bad[line] = "", "NUMERO"
        elif serial % 97 == 20:
            reason, bad[line] = "ENVOLE", "MOTIF"
        elif serial % 97 == 30:
            country, bad[line] = "DEU", "owner"
        elif serial % 97 == 40:
            number, bad[line] = f"{serial - 1:02d}ZZ{serial - 1:07d}", "record"  # the row before's document
        lines.append(f"{serial};{number};{country};{reason}")
    return "\n".join(lines) + "\n", bad


def test_a_large_import_converted_by_worker_processes_stores_and_quarantines_every_row_in_order(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    from polex.ingest import service
    from polex.ingest.service import ImportService

    splits: list[int] = []

    def counted(split: Any, stager: Any, *, workers: int, batch: int) -> Any:
        splits.append(workers)
        return staged_in_workers(split, stager, workers=workers, batch=batch)

    monkeypatch.setattr(service, "staged_in_workers", counted)
    export, bad = _large_export(2_500)
    owner = operator(node)
    # Two workers from the first byte, batches smaller than the store's: the rows come back
    # from several workers, several batches at once, and must still be stored in order.
    imports = ImportService(node.uow, node.records, node.audit, workers=2, parallel_from_bytes=0)
    try:
        dry = imports.run(
            CsvMappingAdapter(mapping=MAPPING), io.BytesIO(export.encode()), source="big.csv", owner=owner, dry_run=True
        )
        summary = imports.run(
            CsvMappingAdapter(mapping=MAPPING), io.BytesIO(export.encode()), source="big.csv", owner=owner
        )
    finally:
        imports.stop()
    assert splits == [2, 2]  # converted by the workers, not in this process
    assert (dry.accepted, dry.rejected, dry.reasons) == (summary.accepted, summary.rejected, summary.reasons)
    assert (summary.accepted, summary.rejected) == (2_500 - len(bad), len(bad))
    quarantined = {row.location: row for row in node.imports.quarantined(summary.id)}
    assert {location: row.field for location, row in quarantined.items()} == bad
    assert quarantined["line 42"].raw == "40;39ZZ0000039;FRA;PERTE"  # as received
    assert "only agencies of DEU" in quarantined["line 32"].reason
    with node.engine.connect() as connection:
        stored = connection.scalar(
            select(func.count()).select_from(RecordRow).where(RecordRow.kind == "travel_document")
        )
    assert stored == 2_500 - len(bad)
    # Each record as an import in this process would have made it, and findable by its key.
    assert node.screening.index.contains_many(["doc:FRA:00ZZ0000000", "doc:FRA:2499ZZ0002499"]).all()


def test_a_dry_run_says_what_the_import_would_do_and_writes_nothing(node: Node) -> None:
    owner = operator(node)

    def dry_run() -> Any:
        return node.imports.run(
            CsvMappingAdapter(mapping=MAPPING),
            io.BytesIO(EXPORT.encode()),
            source="export.csv",
            owner=owner,
            batch_size=2,
            dry_run=True,
        )

    def counts() -> tuple[int, int, int]:
        with node.engine.connect() as connection:
            return tuple(  # type: ignore[return-value]
                connection.scalar(select(func.count()).select_from(table))
                for table in (RecordRow, ImportRow, QuarantineRow)
            )

    before = counts()
    dry = dry_run()
    assert (dry.dry_run, dry.accepted, dry.rejected) == (True, 2, 4)
    assert sorted((problem["location"], problem["field"]) for problem in dry.problems) == [
        ("line 4", "owner"),
        ("line 5", "NUMERO"),
        ("line 6", "record"),  # the same document as line 2: found across batches, though none was stored
        ("line 7", "MOTIF"),
    ]
    assert counts() == before  # nothing written: no record, no import, no quarantine

    real = node.imports.run(
        CsvMappingAdapter(mapping=MAPPING), io.BytesIO(EXPORT.encode()), source="export.csv", owner=owner, batch_size=2
    )
    assert (real.accepted, real.rejected, real.reasons) == (dry.accepted, dry.rejected, dry.reasons)
    again = dry_run()
    assert (again.accepted, again.rejected) == (0, 6)  # all stored now: what is left is duplicates
    assert {problem["field"] for problem in again.problems} == {"owner", "NUMERO", "record", "MOTIF"}
