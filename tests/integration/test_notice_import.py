"""Importing documents in the shape of INTERPOL's public notices, on SQLite and PostgreSQL:
each notice becomes a draft of the importing bureau through the notice lifecycle (never a
record), with its provenance; what the adapter or the notice service refuses is kept in
quarantine as received; a second import of the same file drafts nothing twice; only an NCB
operator imports notices, and a node whose notice service takes no requests refuses the
import as a whole."""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest
from pydantic import BaseModel
from sqlalchemy import func, select

from polex.auth.principal import Principal, PrincipalKind
from polex.bootstrap import Node
from polex.domain.audit import AuditTag
from polex.domain.base import new_id
from polex.domain.notice import Action, Notice, NoticeStatus
from polex.domain.policy import Purpose
from polex.domain.roles import Role
from polex.errors import Forbidden, NotFound
from polex.formats.interpol_notices import InterpolNoticesAdapter, read_interpol_notices
from polex.formats.registry import Accepted, ReadResult
from polex.ingest.service import ImportSummary
from polex.notice.schemas import NoticeRead
from polex.storage.tables import ImportRow, NoticeRow, RecordRow
from tests.integration.test_notices import ncb, reviewer
from tests.integration.test_screening import agency

FIXTURES = Path(__file__).parents[1] / "fixtures" / "interpol"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def document(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(fixture(name))
    return loaded


def run(
    node: Node, owner: Principal, data: bytes, *, source: str = "notices.json", dry_run: bool = False, **options: Any
) -> ImportSummary:
    return node.imports.run(
        InterpolNoticesAdapter(**options),
        io.BytesIO(data),
        source=source,
        owner=owner,
        notices=node.notices,
        dry_run=dry_run,
    )


def drafts(node: Node, owner: Principal, summary: ImportSummary) -> list[NoticeRead]:
    """The import's drafts, read back through the notice service as their source."""
    return [node.notices.get(notice_id, owner, purpose=None) for notice_id in summary.draft_ids]


def imported_events(node: Node, notice_id: str) -> list[dict[str, Any]]:
    return [event.details for event in node.audit.accesses_to(notice_id) if event.tag is AuditTag.NOTICE_IMPORTED]


def test_a_red_list_page_becomes_drafts_of_the_importing_bureau(hub_node: Node) -> None:
    ukr, fra = ncb(hub_node, "UKR"), ncb(hub_node, "FRA")
    summary = run(hub_node, ukr, fixture("red-list.json"), source="red-sv.json")
    assert (summary.drafts, summary.accepted, summary.rejected) == (2, 2, 1)
    assert summary.by_kind == {}  # no record at all

    first, second = drafts(hub_node, ukr, summary)
    for read in (first, second):
        assert (read.status, read.notice_type, read.channel, read.access) == ("draft", "red", "notice", "source")
        assert read.owner.agency_id == ukr.agency_id
        assert read.owner.country == "UKR"
        assert read.notice is not None
        assert read.notice["public_extract"] is False  # the importer cannot consent for the source
    assert first.notice is not None
    subject = first.notice["subject"]
    assert subject["names"][0]["full"] == "JOSÉ ANTONIO MARTÍNEZ LÓPEZ"
    assert subject["birth_dates"] == ["1988-03-14"]
    assert subject["nationalities"] == ["SLV", "GTM"]
    assert [(item["kind"], item["value"]) for item in subject["identifiers"]] == [("interpol_reference", "2023/54608")]
    assert second.notice is not None
    assert second.notice["subject"]["names"][0]["family"] == "RIVAS"
    assert [(step.action, step.to_status) for step in first.history or []] == [(Action.UPDATE, "draft")]

    # A draft is its source's alone, as one made through /api/v1/notices.
    with pytest.raises(NotFound):
        hub_node.notices.get(first.id, fra, purpose=Purpose.PROSECUTION)
    with pytest.raises(NotFound):
        hub_node.notices.get(first.id, reviewer(hub_node), purpose=Purpose.DATA_QUALITY)
    # Never a record: nothing reaches the policy, the screening or the replicas before publication.
    with hub_node.uow(read_only=True) as uow:
        assert uow.session.scalar(select(func.count()).select_from(RecordRow)) == 0

    # The provenance: the format, INTERPOL's entity id, where in the file.
    [provenance] = imported_events(hub_node, first.id)
    assert provenance["source_format"] == "interpol-notices"
    assert provenance["source_id"] == "2023/54608"
    assert provenance["location"] == "notices[0] 2023/54608"
    assert provenance["import"] == summary.id

    # The item the adapter rejected, kept as received with the field and the reason.
    [bad] = hub_node.imports.quarantined_for(summary.id, ukr)
    assert (bad.location, bad.field, bad.status) == ("notices[2] 2021/33310", "date_of_birth", "open")
    assert "14/07/1990" in bad.reason
    assert json.loads(bad.raw) == document("red-list.json")["_embedded"]["notices"][2]
    assert summary.reasons == {f"date_of_birth: {bad.reason}": 1}
    run_row = hub_node.imports.run_of(summary.id, ukr)
    assert (run_row.status, run_row.accepted, run_row.rejected, run_row.source) == ("finished", 2, 1, "red-sv.json")

    # The drafts follow the lifecycle like any other: submitted, then reviewed at the hub.
    submitted = hub_node.notices.act(first.id, Action.SUBMIT, ukr)
    assert submitted.status == NoticeStatus.SUBMITTED.value
    blocking = {finding["field"] for finding in submitted.findings or [] if finding["severity"] == "blocking"}
    assert blocking  # public data tells no legal basis: the pre-checks ask the bureau for it


def test_detail_documents_keep_their_offences_and_disappearance(hub_node: Node) -> None:
    ukr = ncb(hub_node, "UKR")
    red = run(hub_node, ukr, fixture("red-2023-54608.json"))
    yellow = run(hub_node, ukr, fixture("yellow-2024-11873.json"))
    assert (red.drafts, red.rejected, yellow.drafts, yellow.rejected) == (1, 0, 1, 0)

    [warrants] = drafts(hub_node, ukr, red)
    assert warrants.notice_type == "red"
    assert warrants.notice is not None
    assert [offence["description"] for offence in warrants.notice["offences"]] == [
        {
            "language": "es",
            "text": "Homicidio agravado y asociación ilícita",
            "translations": {"en": "Aggravated homicide and unlawful association"},
        },
        {"language": "en", "text": "Extortion", "translations": {}},
    ]
    subject = warrants.notice["subject"]
    assert (subject["sex"], subject["physical"]["height_cm"], subject["languages"]) == ("male", 172, ["es", "en"])
    # What polex has no place for stays in the notice's provenance, shown to its source;
    # the audit event names the import and the source, without the personal data.
    assert warrants.provenance is not None
    assert warrants.provenance["source_format"] == "interpol-notices"
    assert warrants.provenance["original_values"] == {
        "arrest_warrants/0/issuing_country_id": "SV",
        "arrest_warrants/1/issuing_country_id": "SV",
    }
    [event] = imported_events(hub_node, warrants.id)
    assert event["source_id"] == "2023/54608"
    assert "original_values" not in event

    [missing] = drafts(hub_node, ukr, yellow)
    assert (missing.notice_type, missing.status) == ("yellow", "draft")
    assert missing.notice is not None
    assert missing.notice["offences"] == []
    assert missing.notice["subject"]["names"][0]["full"] == "LÉA MOREAU"
    assert missing.notice["missing"]["date_of_event"] == "2024-02-11"
    assert missing.notice["missing"]["place"] == {"place": "Marseille", "country": "FRA"}
    assert missing.notice["missing"]["mother_name"] == "MOREAU, Claire"
    assert imported_events(hub_node, missing.id)[0]["source_id"] == "2024/11873"


def test_requests_the_notice_service_refuses_are_quarantined_with_its_reason(hub_node: Node) -> None:
    ukr = ncb(hub_node, "UKR")
    red = document("red-2023-54608.json")
    silver = copy.deepcopy(red)  # a type this network does not know
    silver.update(entity_id="2022/501")
    silver["_links"] = {"self": {"href": "https://ws-public.interpol.int/notices/v1/silver/2022-501"}}
    green = copy.deepcopy(document("yellow-2024-11873.json"))  # a type without public extracts
    green["_links"] = {"self": {"href": "https://ws-public.interpol.int/notices/v1/green/2024-11873"}}
    data = json.dumps([red, silver, green], ensure_ascii=False).encode()

    summary = run(hub_node, ukr, data, public_extract="true")
    assert (summary.drafts, summary.rejected) == (1, 2)
    [made] = drafts(hub_node, ukr, summary)
    assert made.notice is not None
    assert (made.notice_type, made.notice["public_extract"]) == ("red", True)
    quarantined = {row.location: row for row in hub_node.imports.quarantined_for(summary.id, ukr)}
    unknown = quarantined["[1] 2022/501"]
    assert unknown.field == "notice_type"
    assert "'silver' is not a notice type of this network" in unknown.reason
    assert unknown.errors[0]["field"] == "notice_type"
    assert json.loads(unknown.raw) == silver
    no_extract = quarantined["[2] 2024/11873"]
    assert (no_extract.field, no_extract.reason) == ("public_extract", "a green notice has no public extract")
    assert json.loads(no_extract.raw) == green


def test_importing_the_same_file_again_drafts_nothing_twice(hub_node: Node) -> None:
    ukr, fra = ncb(hub_node, "UKR"), ncb(hub_node, "FRA")
    first = run(hub_node, ukr, fixture("red-list.json"))
    assert first.drafts == 2
    again = run(hub_node, ukr, fixture("red-list.json"))
    assert (again.drafts, again.accepted, again.rejected, again.draft_ids) == (0, 0, 3, [])
    quarantined = {row.location: row for row in hub_node.imports.quarantined_for(again.id, ukr)}
    duplicate = quarantined["notices[0] 2023/54608"]
    assert duplicate.field == "notice"
    assert duplicate.reason == (
        f"a duplicate of your agency's notice {first.draft_ids[0]} (draft), which has INTERPOL reference 2023/54608"
    )
    assert quarantined["notices[2] 2021/33310"].field == "date_of_birth"

    # The detail document of a notice drafted from the list page is the same notice, whatever its status.
    hub_node.notices.act(first.draft_ids[0], Action.SUBMIT, ukr)
    detail = run(hub_node, ukr, fixture("red-2023-54608.json"))
    assert detail.drafts == 0
    [row] = hub_node.imports.quarantined_for(detail.id, ukr)
    assert "(submitted)" in row.reason

    # The same notice twice in one file: the second is the duplicate.
    twice = json.dumps([document("yellow-2024-11873.json")] * 2).encode()
    both = run(hub_node, ukr, twice)
    assert (both.drafts, both.rejected) == (1, 1)
    [second] = hub_node.imports.quarantined_for(both.id, ukr)
    assert second.location == "[1] 2024/11873"

    # Idempotent per agency: another bureau drafts its own.
    assert run(hub_node, fra, fixture("red-list.json")).drafts == 2
    with hub_node.uow(read_only=True) as uow:
        owners = list(uow.session.scalars(select(NoticeRow.owner_agency_id)))
    assert sorted(owners) == sorted([ukr.agency_id] * 3 + [fra.agency_id] * 2)


def test_only_an_ncb_operator_imports_notices(hub_node: Node) -> None:
    investigator = Principal(
        PrincipalKind.USER,
        new_id(),
        "investigator",
        agency(hub_node, "UKR", "NCB"),
        "UKR",
        frozenset({Role.INVESTIGATOR}),
    )
    with pytest.raises(Forbidden, match="'notice:request'"):
        run(hub_node, investigator, fixture("red-list.json"))
    _nothing_imported(hub_node)


def test_an_import_given_no_notice_service_is_refused_before_anything_is_read(node: Node) -> None:
    bureau = ncb(node, "FRA")
    with pytest.raises(Forbidden, match="given no notice service"):
        node.imports.run(InterpolNoticesAdapter(), io.BytesIO(fixture("red-list.json")), source="x", owner=bureau)
    _nothing_imported(node)


def test_a_national_bureau_imports_drafts_on_its_own_node(node: Node) -> None:
    # A national node's notice service takes its bureau's requests (relayed to the hub
    # when submitted): the import drafts there, as at the hub.
    bureau = ncb(node, "FRA")
    summary = run(node, bureau, fixture("red-list.json"))
    assert (summary.drafts, summary.rejected) == (2, 1)
    assert {read.status for read in drafts(node, bureau, summary)} == {"draft"}
    assert run(node, bureau, fixture("red-list.json")).drafts == 0


def _nothing_imported(node: Node) -> None:
    with node.uow(read_only=True) as uow:
        assert uow.session.scalar(select(func.count()).select_from(ImportRow)) == 0
        assert uow.session.scalar(select(func.count()).select_from(NoticeRow)) == 0


class _PublishedNotices:
    """An adapter that does not say it reads notices, and yields them as if in force."""

    name: str = "published-notices"
    description: str = "notices in force, from elsewhere"
    media_types: tuple[str, ...] = ("application/json",)

    def read(self, stream: IO[bytes]) -> Iterator[ReadResult]:
        for result in read_interpol_notices(stream.read()):
            assert isinstance(result, Accepted)
            assert isinstance(result.record, BaseModel)
            notice = Notice.model_validate({**result.record.model_dump(), "status": "published", "reference": "1/1"})
            yield Accepted(notice, result.raw, result.location, result.provenance)


def test_a_notice_from_any_adapter_enters_as_a_draft_never_in_force(hub_node: Node) -> None:
    ukr = ncb(hub_node, "UKR")
    summary = hub_node.imports.run(
        _PublishedNotices(),
        io.BytesIO(fixture("red-2023-54608.json")),
        source="elsewhere.json",
        owner=ukr,
        notices=hub_node.notices,
    )
    [made] = drafts(hub_node, ukr, summary)
    assert (made.status, made.reference) == ("draft", None)
    with hub_node.uow(read_only=True) as uow:
        assert uow.session.scalar(select(func.count()).select_from(RecordRow)) == 0


def test_a_dry_run_counts_the_drafts_it_would_make_and_drafts_nothing(hub_node: Node) -> None:
    ukr = ncb(hub_node, "UKR")
    dry = run(hub_node, ukr, fixture("red-list.json"), source="red.json", dry_run=True)
    assert (dry.dry_run, dry.drafts, dry.accepted, dry.rejected, dry.draft_ids) == (True, 2, 2, 1, [])
    with hub_node.engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(NoticeRow)) == 0
        assert connection.scalar(select(func.count()).select_from(ImportRow)) == 0
    real = run(hub_node, ukr, fixture("red-list.json"), source="red.json")
    assert (real.drafts, real.accepted, real.rejected) == (2, 2, 1)
    assert real.reasons == dry.reasons
