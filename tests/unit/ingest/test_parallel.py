"""Converting an import in worker processes gives what converting it here gives, in order."""

from __future__ import annotations

import dataclasses
import io
import pickle
from typing import Any

import pytest

from polex.auth.principal import Principal, PrincipalKind
from polex.document.feature import DOCUMENT_FEATURE
from polex.domain.roles import Role
from polex.formats.csv_mapping import CsvMappingAdapter, MappingError
from polex.formats.registry import Rejection
from polex.ingest.parallel import staged_in_workers
from polex.ingest.staging import Staged, Stager

MAPPING = """
record: travel_document
csv: {delimiter: ";"}
constants: {issuing_country: FRA}
value_maps:
  statuses: {VOL: stolen, PERTE: lost}
fields:
  - {target: number, column: NUMERO, required: true}
  - {target: status, column: MOTIF, map: statuses, required: true}
  - {target: issued_on, column: DELIVRE, date: dd.mm.yyyy}
source_id: REF
"""

OWNER = Principal(PrincipalKind.LOCAL, "importer", "importer", "fra-ncb", "FRA", frozenset({Role.NCB_OPERATOR}))


def _export(rows: int) -> bytes:
    lines = ["REF;NUMERO;MOTIF;DELIVRE"]
    for serial in range(rows):
        reason = "ENVOLE" if serial % 11 == 3 else ("VOL" if serial % 2 else "PERTE")
        day = "31.02.2020" if serial % 13 == 5 else f"{serial % 28 + 1:02d}.03.2020"
        number = "" if serial % 17 == 7 else f"{serial:03d}AB{serial:05d}"
        lines.append(f"{serial};{number};{reason};{day}")
    lines.insert(40, "")  # a blank line, skipped
    return ("\n".join(lines) + "\n").encode()


def _comparable(item: Staged | Rejection | object) -> Any:
    """An item without what differs from run to run (the ids made for new records)."""
    if isinstance(item, Staged):
        return (item.kind, item.raw, item.location, dataclasses.replace(item.row, id=""))
    return item


def _stager(adapter: CsvMappingAdapter) -> Stager:
    return Stager({"travel_document": DOCUMENT_FEATURE}, OWNER, adapter=adapter)


def test_workers_give_what_this_process_gives_in_the_order_of_the_input() -> None:
    adapter = CsvMappingAdapter(mapping=MAPPING)
    here = [_stager(adapter).stage(result) for result in adapter.read(io.BytesIO(_export(300)))]
    there = list(staged_in_workers(adapter.split(io.BytesIO(_export(300))), _stager(adapter), workers=2, batch=7))
    assert [_comparable(item) for item in there] == [_comparable(item) for item in here]
    assert len(there) == 300
    assert sum(isinstance(item, Staged) for item in there) > 200
    assert {item.field for item in there if isinstance(item, Rejection)} == {"NUMERO", "MOTIF", "DELIVRE"}


def test_a_mapping_the_file_does_not_fit_is_refused_before_any_worker_starts() -> None:
    adapter = CsvMappingAdapter(mapping=MAPPING)
    split = adapter.split(io.BytesIO(b"REF;NUMBER;MOTIF;DELIVRE\n1;X;VOL;01.01.2020\n"))
    with pytest.raises(MappingError, match="NUMERO"):
        next(staged_in_workers(split, _stager(adapter), workers=2, batch=7))


def test_closing_early_stops_the_workers_and_closes_the_input() -> None:
    adapter = CsvMappingAdapter(mapping=MAPPING)
    stream = io.BytesIO(_export(2_000))
    split = adapter.split(stream)
    staged = staged_in_workers(split, _stager(adapter), workers=2, batch=50)
    first = [next(staged) for _ in range(60)]
    staged.close()
    assert [item.location for item in first if isinstance(item, Staged | Rejection)][:2] == ["line 2", "line 3"]
    with pytest.raises(StopIteration):
        next(split.items)  # the reading generator was closed, and with it the input's reader


def test_a_header_without_rows_starts_no_worker_and_gives_nothing() -> None:
    adapter = CsvMappingAdapter(mapping=MAPPING)
    split = adapter.split(io.BytesIO(b"REF;NUMERO;MOTIF;DELIVRE\n"))
    assert list(staged_in_workers(split, _stager(adapter), workers=2, batch=7)) == []


def test_a_staged_row_travels_as_plain_values_and_comes_back_the_same() -> None:
    adapter = CsvMappingAdapter(mapping=MAPPING)
    read = adapter.read(io.BytesIO(_export(20)))
    staged = [item for item in (_stager(adapter).stage(result) for result in read) if isinstance(item, Staged)]
    sent = pickle.loads(pickle.dumps([item.as_tuple() for item in staged]))  # noqa: S301  # our own bytes
    assert [Staged.from_tuple(values) for values in sent] == staged
    # The stager itself travels without the adapter (and so without what it holds).
    travelled = pickle.loads(pickle.dumps(_stager(adapter)))  # noqa: S301  # our own bytes
    assert travelled.features == {"travel_document": DOCUMENT_FEATURE}
    assert travelled.owner == OWNER
