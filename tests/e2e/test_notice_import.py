"""Importing INTERPOL-shaped notices over HTTP and from the command line: a bureau posts a
list page to /api/v1/imports at the hub and finds a draft per notice in /api/v1/notices,
the bad item in the import's quarantine; the same file again drafts nothing; an
investigator is refused before the file is read."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from polex.domain.roles import Role
from tests.e2e.conftest import LiveServer, assert_problem
from tests.e2e.test_cli import run
from tests.e2e.test_notices import _user

FIXTURES = Path(__file__).parents[1] / "fixtures" / "interpol"


def _file(name: str) -> dict[str, tuple[str, bytes, str]]:
    return {"file": (name, (FIXTURES / name).read_bytes(), "application/json")}


def test_a_bureau_imports_a_red_list_page_into_drafts(hub_live: LiveServer) -> None:
    ukr = _user(hub_live, [Role.NCB_OPERATOR], country="UKR")
    response = ukr.post("/api/v1/imports", data={"format": "interpol-notices"}, files=_file("red-list.json"))
    assert response.status_code == 201, response.text
    summary = response.json()
    assert (summary["drafts"], summary["accepted"], summary["rejected"], summary["by_kind"]) == (2, 2, 1, {})
    assert len(summary["draft_ids"]) == 2

    notices = [ukr.get(f"/api/v1/notices/{notice_id}") for notice_id in summary["draft_ids"]]
    assert [read.status_code for read in notices] == [200, 200]
    first = notices[0].json()
    assert (first["status"], first["notice_type"], first["access"]) == ("draft", "red", "source")
    assert first["notice"]["subject"]["names"][0]["full"] == "JOSÉ ANTONIO MARTÍNEZ LÓPEZ"
    assert first["owner"]["country"] == "UKR"
    mine = ukr.get("/api/v1/notices", params={"scope": "mine", "status": "draft"}).json()["items"]
    assert set(summary["draft_ids"]) <= {item["id"] for item in mine}

    [bad] = ukr.get(f"/api/v1/imports/{summary['id']}/quarantine").json()["items"]
    assert (bad["field"], bad["location"]) == ("date_of_birth", "notices[2] 2021/33310")
    assert json.loads(bad["raw"])["date_of_birth"] == "14/07/1990"

    again = ukr.post("/api/v1/imports", data={"format": "interpol-notices"}, files=_file("red-list.json")).json()
    assert (again["drafts"], again["rejected"]) == (0, 3)
    reasons = {
        item["location"]: item["reason"]
        for item in ukr.get(f"/api/v1/imports/{again['id']}/quarantine").json()["items"]
    }
    assert reasons["notices[0] 2023/54608"].startswith(f"a duplicate of your agency's notice {summary['draft_ids'][0]}")

    # A draft goes on as any other: submitted to the hub's reviewers.
    submitted = ukr.post(f"/api/v1/notices/{first['id']}/submit")
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["status"] == "submitted"


def test_a_large_file_is_imported_in_the_background(hub_live: LiveServer) -> None:
    esp = _user(hub_live, [Role.NCB_OPERATOR], country="ESP")
    response = esp.post(
        "/api/v1/imports",
        data={"format": "interpol-notices"},
        files=_file("yellow-2024-11873.json"),
        headers={"Prefer": "respond-async"},
    )
    assert response.status_code == 202, response.text
    location = response.headers["Location"]
    deadline = time.monotonic() + 20
    run_read: dict[str, Any] = response.json()
    while run_read["status"] == "running" and time.monotonic() < deadline:
        time.sleep(0.05)
        run_read = esp.get(location).json()
    assert (run_read["status"], run_read["accepted"], run_read["rejected"]) == ("finished", 1, 0)
    [draft] = esp.get("/api/v1/notices", params={"scope": "mine"}).json()["items"]
    assert (draft["notice_type"], draft["status"]) == ("yellow", "draft")
    assert draft["notice"]["missing"]["date_of_event"] == "2024-02-11"


def test_only_an_ncb_operator_imports_notices(hub_live: LiveServer) -> None:
    investigator = _user(hub_live, [Role.INVESTIGATOR], country="DEU")
    for headers in ({}, {"Prefer": "respond-async"}):
        refused = investigator.post(
            "/api/v1/imports", data={"format": "interpol-notices"}, files=_file("red-list.json"), headers=headers
        )
        body = assert_problem(refused, 403)
        assert "notice:request" in body["detail"]
    assert investigator.get("/api/v1/imports").json()["items"] == []  # refused before anything was read
    formats = {item["name"]: item for item in investigator.get("/api/v1/formats").json()["items"]}
    assert formats["interpol-notices"]["reads_into"] == "notice_requests"
    assert formats["icao-mrz"]["reads_into"] == "records"


def test_polex_import_drafts_notices_at_the_hub(tmp_path: Path) -> None:
    data_dir = tmp_path / "hub"
    run("init", "--data-dir", str(data_dir), "--name", "hub", "--country", "XPO", "--hub")
    page = str(FIXTURES / "red-list.json")
    completed = run("import", page, "--format", "interpol-notices", "--data-dir", str(data_dir), check=False)
    assert completed.returncode == 3, completed.stderr  # one notice quarantined
    summary = json.loads(completed.stdout)
    assert (summary["drafts"], summary["rejected"]) == (2, 1)
    shown = json.loads(run("notice", "show", summary["draft_ids"][0], "--data-dir", str(data_dir)).stdout)
    assert (shown["status"], shown["notice_type"]) == ("draft", "red")

    again = run("import", page, "--format", "interpol-notices", "--data-dir", str(data_dir), check=False)
    assert json.loads(again.stdout)["drafts"] == 0
