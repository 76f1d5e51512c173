"""Imports over HTTP: a file in, records for the caller's agency, the rest in quarantine."""

from __future__ import annotations

from polex.domain.roles import Role
from tests.e2e.conftest import LiveServer, assert_problem, error_fields
from tests.factories import td3_lines


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
