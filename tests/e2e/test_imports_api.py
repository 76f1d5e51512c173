"""Imports over HTTP: a file in, records for the caller's agency, the rest in quarantine."""

from __future__ import annotations

from typing import Any

from polex.domain.roles import Role
from tests.e2e.conftest import LiveServer, assert_problem, error_fields
from tests.factories import document_body, td3_lines, unique


def unique_document_number() -> str:
    return unique("QX")[-9:].upper().replace("-", "7")


def mrz_file() -> bytes:
    good = td3_lines(number="45GH67890", family="DURAND", given="ALICE")
    broken = list(good)
    broken[1] = broken[1][:9] + ("1" if broken[1][9] != "1" else "2") + broken[1][10:]  # a wrong check digit
    return ("\n".join(good) + "\n\n" + "\n".join(broken) + "\n").encode()


def test_an_operator_imports_a_file_and_reads_its_quarantine(live: LiveServer) -> None:
    operator = live.as_roles(Role.NCB_OPERATOR)
    response = operator.post(
        "/api/v1/imports",
        params={"option": "status=lost"},
        data={"format": "icao-mrz"},
        files={"file": ("batch.mrz", mrz_file(), "text/plain")},
    )
    assert response.status_code == 201, response.text
    summary = response.json()
    assert (summary["accepted"], summary["rejected"], summary["by_kind"]) == (1, 1, {"travel_document": 1})
    quarantined = operator.get(f"/api/v1/imports/{summary['id']}/quarantine").json()["items"]
    assert len(quarantined) == 1
    assert quarantined[0]["field"] == "document_number"
    assert "check digit" in quarantined[0]["reason"]
    listed = operator.get("/api/v1/travel-documents", params={"number": "45GH67890"}).json()["items"]
    assert [(item["status"], item["provenance"]["source_format"]) for item in listed] == [("lost", "icao-mrz")]
    # Another agency learns nothing of this import.
    other = live.new_client([Role.NCB_OPERATOR], agency_id=live.make_agency())
    assert_problem(other.get(f"/api/v1/imports/{summary['id']}/quarantine"), 404)


def test_imports_are_authorised_and_checked(live: LiveServer) -> None:
    files = {"file": ("batch.mrz", mrz_file(), "text/plain")}
    assert_problem(
        live.as_roles(Role.BORDER_OFFICER).post("/api/v1/imports", data={"format": "icao-mrz"}, files=files), 403
    )
    operator = live.as_roles(Role.NCB_OPERATOR)
    unknown = operator.post("/api/v1/imports", data={"format": "telex"}, files=files)
    assert_problem(unknown, 404)
    bad_mapping = operator.post(
        "/api/v1/imports",
        data={"format": "csv-mapping", "mapping": "record: vehicle\nfields: [{target: wheels, column: W}]"},
        files={"file": ("x.csv", b"W\n4\n", "text/csv")},
    )
    assert "fields.0.target" in error_fields(assert_problem(bad_mapping, 422))
    missing_column = operator.post(
        "/api/v1/imports",
        data={"format": "csv-mapping", "mapping": "record: vehicle\nfields: [{target: plate, column: P}]"},
        files={"file": ("x.csv", b"W\n4\n", "text/csv")},
    )
    assert "columns" in error_fields(assert_problem(missing_column, 422))


def test_uploads_have_their_own_size_limit(live: LiveServer) -> None:
    operator = live.as_roles(Role.NCB_OPERATOR)
    big = b"X" * (live.node.settings.max_body_bytes + 1024)  # over the limit of ordinary requests
    assert_problem(operator.post("/api/v1/persons", content=big, headers={"content-type": "application/json"}), 413)
    response = operator.post(
        "/api/v1/imports", data={"format": "icao-mrz"}, files={"file": ("big.mrz", big, "text/plain")}
    )
    assert response.status_code == 201  # read, and rejected as what it is: not an MRZ
    assert response.json()["rejected"] == 1


def test_the_formats_are_listed(live: LiveServer) -> None:
    names = {
        item["name"]: item["writable"] for item in live.as_roles(Role.ANALYST).get("/api/v1/formats").json()["items"]
    }
    assert names["icao-mrz"] is True
    assert names["csv-mapping"] is False


def test_a_quarantined_item_is_released_as_a_corrected_record_or_discarded(live: LiveServer) -> None:
    operator = live.as_roles(Role.NCB_OPERATOR)

    def quarantine_of_a_new_import() -> tuple[str, dict[str, object]]:
        response = operator.post(
            "/api/v1/imports",
            params={"option": "status=lost"},
            data={"format": "icao-mrz"},
            files={"file": ("batch.mrz", mrz_file(), "text/plain")},
        )
        assert response.status_code == 201, response.text
        import_id = response.json()["id"]
        items = operator.get(f"/api/v1/imports/{import_id}/quarantine").json()["items"]
        # The broken MRZ (and, after the first import, the good one again: already recorded).
        (item,) = [entry for entry in items if entry["field"] == "document_number"]
        assert (item["status"], item["resolution"]) == ("open", None)
        return import_id, item

    import_id, item = quarantine_of_a_new_import()
    base = f"/api/v1/imports/{import_id}/quarantine/{item['id']}"
    corrected = document_body(number=unique_document_number(), status="lost")
    invalid = {"kind": "travel_document", "record": {**corrected, "number": ""}, "note": "check digit fixed"}
    assert "record.number" in error_fields(assert_problem(operator.post(f"{base}/release", json=invalid), 422))
    other = live.new_client([Role.NCB_OPERATOR], agency_id=live.make_agency())
    release = {"kind": "travel_document", "record": corrected, "note": "check digit fixed from the paper file"}
    assert_problem(other.post(f"{base}/release", json=release), 404)  # another agency's import

    released = operator.post(f"{base}/release", json=release)
    assert released.status_code == 201, released.text
    record_id = released.json()["record_id"]
    stored = operator.get(f"/api/v1/travel-documents/{record_id}").json()
    assert stored["number"] == corrected["number"]
    assert stored["provenance"]["source_format"] == "icao-mrz"
    assert stored["provenance"]["source_id"].startswith(import_id)
    (closed,) = [
        e for e in operator.get(f"/api/v1/imports/{import_id}/quarantine").json()["items"] if e["id"] == item["id"]
    ]
    assert (closed["status"], closed["resolution"]) == ("released", record_id)
    assert closed["raw"] == item["raw"]  # kept exactly as received
    assert_problem(operator.post(f"{base}/release", json=release), 409)  # decided once
    assert_problem(operator.post(f"{base}/discard", json={"reason": "duplicate"}), 409)

    second_import, second = quarantine_of_a_new_import()
    discard = f"/api/v1/imports/{second_import}/quarantine/{second['id']}/discard"
    assert "reason" in error_fields(assert_problem(operator.post(discard, json={"reason": ""}), 422))
    assert operator.post(discard, json={"reason": "the same passport was reported again"}).status_code == 204
    items = operator.get(f"/api/v1/imports/{second_import}/quarantine").json()["items"]
    (dropped,) = [entry for entry in items if entry["id"] == second["id"]]
    assert (dropped["status"], dropped["resolution"]) == ("discarded", "the same passport was reported again")

    runs = operator.get("/api/v1/imports").json()["items"]
    assert {import_id, second_import} <= {run["id"] for run in runs}


def test_a_large_file_imports_in_the_background_with_progress(live: LiveServer) -> None:
    import secrets
    import time

    operator = live.as_roles(Role.NCB_OPERATOR)
    prefix = secrets.token_hex(2).upper()
    numbers = [f"{prefix}{index:05d}" for index in range(2500)]
    lines = [line for number in numbers for line in (*td3_lines(number=number), "")]
    response = operator.post(
        "/api/v1/imports",
        params={"option": "status=stolen"},
        data={"format": "icao-mrz"},
        files={"file": ("big.mrz", "\n".join(lines).encode(), "text/plain")},
        headers={"Prefer": "respond-async"},
    )
    assert response.status_code == 202, response.text
    assert response.headers["preference-applied"] == "respond-async"
    location = response.headers["location"]
    assert response.json()["status"] == "running"

    seen: list[int] = []
    deadline = time.monotonic() + 120
    while True:
        run = operator.get(location).json()
        seen.append(run["accepted"])
        if run["status"] != "running" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert (run["status"], run["accepted"], run["rejected"], run["error"]) == ("finished", 2500, 0, None)
    assert seen == sorted(seen)  # counts only grow
    assert not list((live.node.settings.data_dir / "imports").glob("*.upload"))  # the spooled file is gone
    listed = operator.get("/api/v1/travel-documents", params={"number": numbers[-1]}).json()["items"]
    assert [item["status"] for item in listed] == ["stolen"]
    # Another agency learns nothing of it.
    other = live.new_client([Role.NCB_OPERATOR], agency_id=live.make_agency())
    assert_problem(other.get(location), 404)


def test_an_import_interrupted_by_a_restart_says_so(live: LiveServer) -> None:
    from polex.auth.principal import Principal, PrincipalKind
    from polex.domain.base import new_id
    from polex.ingest.service import ImportSummary

    imports = live.node.imports
    owner = Principal(PrincipalKind.USER, new_id(), "op", live.own_agency_id, "FRA", frozenset({Role.NCB_OPERATOR}))
    summary = ImportSummary(id=new_id(), format="icao-mrz")
    imports._begin(summary, "crashed.mrz", owner)  # as a crash would leave it: running
    assert imports.recover_interrupted() >= 1
    run = live.as_roles(Role.NCB_OPERATOR).get(f"/api/v1/imports/{summary.id}").json()
    assert run["status"] == "interrupted"
    assert "import the file again" in run["error"]


def test_a_dry_run_says_what_an_import_would_do_and_writes_nothing(live: LiveServer) -> None:
    operator = live.as_roles(Role.NCB_OPERATOR)
    number = unique_document_number()
    good = td3_lines(number=number, family="MARTIN", given="PAUL")
    broken = list(good)
    broken[1] = broken[1][:9] + ("1" if broken[1][9] != "1" else "2") + broken[1][10:]  # a wrong check digit
    body = ("\n".join(good) + "\n\n" + "\n".join(broken) + "\n").encode()

    def send(**params: str) -> Any:
        return operator.post(
            "/api/v1/imports",
            params={"option": "status=lost", **params},
            data={"format": "icao-mrz"},
            files={"file": ("batch.mrz", body, "text/plain")},
            headers={"Prefer": "respond-async"},  # a dry run answers when done, whatever it asks
        )

    dry = send(dry_run="true")
    assert dry.status_code == 200, dry.text
    would = dry.json()
    assert (would["dry_run"], would["accepted"], would["rejected"]) == (True, 1, 1)
    assert [(problem["location"], problem["field"]) for problem in would["problems"]] == [
        ("lines 4-5", "document_number")
    ]
    assert operator.get("/api/v1/travel-documents", params={"number": number}).json()["items"] == []
    assert_problem(operator.get(f"/api/v1/imports/{would['id']}"), 404)  # no import was recorded
