"""Imports on SQLite and PostgreSQL: records stored in audited batches, everything else in
quarantine as received, nothing half-written, a repeated import does not duplicate."""

from __future__ import annotations

import io

from polex.auth.principal import Principal, PrincipalKind
from polex.bootstrap import Node
from polex.domain.base import new_id
from polex.domain.policy import Purpose
from polex.domain.roles import Role
from polex.formats.csv_mapping import CsvMappingAdapter
from polex.provision import own_agency

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
