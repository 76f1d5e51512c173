"""Manifest screenings on SQLite and PostgreSQL: every row gets one result line in order,
hits and matches are found through the same policy as online checks, the summary counts
them, a job resumes where it stopped, and a requester disabled meanwhile fails the job."""

import json
from pathlib import Path

import pytest

from polex.auth.principal import Principal
from polex.auth.schemas import UserCreate, UserUpdate
from polex.bootstrap import Node
from polex.domain.policy import AccessLevel, DataCategory, Purpose
from polex.domain.roles import Role
from polex.errors import NotFound
from polex.screening import jobs as jobs_module
from polex.storage.tables import ScreeningRow
from tests.integration.test_person_matching import wanted
from tests.integration.test_screening import admin, agency, agree, file_document, officer

BORDER = Purpose.BORDER_CONTROL


@pytest.fixture
def world(hub_node: Node) -> tuple[Node, Principal, Principal]:
    fra = officer(agency(hub_node, "FRA", "Police nationale"), "FRA")
    user = hub_node.auth.create_user(
        UserCreate(
            username="ukr.border",
            password="correct horse battery staple",
            agency_id=agency(hub_node, "UKR"),
            roles=[Role.BORDER_OFFICER],
        )
    )
    ukr = hub_node.auth.principal_of(user.id)
    agree(hub_node, AccessLevel.FULL, DataCategory.TRAVEL_DOCUMENTS, DataCategory.PERSONS)
    return hub_node, fra, ukr


def submit(node: Node, who: Principal, text: str, tmp_path: Path, format_name: str = "csv") -> ScreeningRow:
    spooled = tmp_path / "manifest.upload"
    spooled.write_text(text)
    return node.screenings.submit(spooled, who, purpose=BORDER, format_name=format_name, source="AF1234.csv")


def results(node: Node, who: Principal, job_id: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in node.screenings.results(job_id, who)]


def test_a_manifest_is_screened_row_by_row(world: tuple[Node, Principal, Principal], tmp_path: Path) -> None:
    node, fra, ukr = world
    file_document(node, fra.agency_id, number="12AB34567")
    wanted(node, fra, ["Jean-Pierre Dubois"], birth_date="1971-05-04", nationalities=["FRA"])
    manifest = (
        "id,given_name,family_name,birth_date,nationality,passport_number,issuing_country\n"
        "P1,Camille,Martin,1990-01-02,FRA,12AB34567,FRA\n"
        "P2,Jean Pierre,Dubois,1971-05,FRA,,\n"
        "P3,Ana,Lopez,1985-13-01,ESP,,\n"
        "P4,Li,Wei,1990,CHN,X1,QQQ\n"
        "P5,,,,,,\n"
    )
    job = submit(node, ukr, manifest, tmp_path)
    assert job.status == "queued"
    assert node.screenings.run_pending() == 1
    done = node.screenings.job(job.id, ukr)
    assert done.status == "done"
    assert (done.rows_done, done.document_hits, done.person_matches, done.rows_with_errors) == (5, 1, 1, 3)
    lines = results(node, ukr, job.id)
    assert [line["ref"] for line in lines] == ["P1", "P2", "P3", "P4", "P5"]
    assert [line["status"] for line in lines] == ["ok", "ok", "partial", "partial", "error"]
    assert lines[0]["hit"] is True
    assert lines[0]["document"]["access"] == "full"
    assert lines[1]["candidates"][0]["match"] is True
    assert lines[2]["errors"][0]["field"] == "birth_date"
    assert {error["field"] for error in lines[3]["errors"]} == {"document_country"}
    assert lines[4]["errors"][0]["field"] == "name"
    # The owners were told, as for online checks; another agency cannot see the job.
    assert {hit["checked_by"]["country"] for hit in node.screening.hits(fra, side="owner")} == {"UKR"}
    with pytest.raises(NotFound):
        node.screenings.job(job.id, fra)


def test_a_job_resumes_where_it_stopped(
    world: tuple[Node, Principal, Principal], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node, fra, ukr = world
    file_document(node, fra.agency_id, number="77ZZ77777")
    monkeypatch.setattr(jobs_module, "CHUNK", 3)
    body = "id,name,passport_number,issuing_country\n" + "".join(
        f"R{n},Traveller {n},{'77ZZ77777' if n == 8 else f'00AA{n:05d}'},FRA\n" for n in range(10)
    )
    job = submit(node, ukr, body, tmp_path)
    calls = {"n": 0}
    original = node.screenings._progress

    def crash_after_two_chunks(*args: object, **kwargs: object) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            # The third chunk's lines are written, its progress never recorded: a crash.
            raise KeyboardInterrupt
        original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(node.screenings, "_progress", crash_after_two_chunks)
    with pytest.raises(KeyboardInterrupt):
        node.screenings.run_pending()
    stopped = node.screenings.job(job.id, ukr)
    assert (stopped.status, stopped.rows_done) == ("running", 6)
    assert len(results(node, ukr, job.id)) == 6  # only what was recorded is served
    monkeypatch.setattr(node.screenings, "_progress", original)
    node.screenings.run_pending()
    lines = results(node, ukr, job.id)
    assert [line["ref"] for line in lines] == [f"R{n}" for n in range(10)]
    assert node.screenings.job(job.id, ukr).document_hits == 1


def test_a_requester_disabled_meanwhile_fails_the_job(world: tuple[Node, Principal, Principal], tmp_path: Path) -> None:
    node, _, ukr = world
    job = submit(node, ukr, "name\nAna Lopez\n", tmp_path)
    node.auth.update_user(ukr.id, UserUpdate(active=False), admin("UKR"))
    node.screenings.run_pending()
    failed = node.screenings.job(job.id, ukr)
    assert failed.status == "failed"
    assert "disabled" in (failed.error or "")
