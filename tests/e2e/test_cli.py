"""The ``polex`` command as a user runs it: real processes, real HTTP, real signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.factories import td3_lines
from tests.ports import free_ports

POLEX = [sys.executable, "-m", "polex"]


def run(*args: str, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(
        [*POLEX, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
    )
    if check:
        assert completed.returncode == 0, completed.stderr
    return completed


def wait_for(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_schema_export(tmp_path: Path) -> None:
    output = run("schema", "export", "--out", str(tmp_path)).stdout
    assert "person.json" in output
    assert json.loads((tmp_path / "vehicle.json").read_text())["x-polex-schema"] == "polex.schema/v1"


def test_init_user_add_and_serve(tmp_path: Path) -> None:
    data_dir = tmp_path / "fra"
    port = free_ports(1)
    run(
        "init",
        "--data-dir",
        str(data_dir),
        "--name",
        "fra",
        "--country",
        "fra",
        "--port",
        str(port),
        "--admin-user",
        "admin",
        env={"POLEX_ADMIN_PASSWORD": "an admin password"},
    )
    assert (data_dir / "keys" / "token-signing.pem").stat().st_mode & 0o077 == 0  # private to the node
    added = json.loads(
        run(
            "user",
            "add",
            "alice",
            "--role",
            "ncb_operator",
            "--data-dir",
            str(data_dir),
            env={"POLEX_USER_PASSWORD": "alice's password"},
        ).stdout
    )
    assert added["roles"] == ["ncb_operator"]
    refused = run(
        "user",
        "add",
        "bob",
        "--role",
        "reviewer",
        "--data-dir",
        str(data_dir),
        env={"POLEX_USER_PASSWORD": "bob's long password"},
        check=False,
    )
    assert refused.returncode == 2
    assert "national node" in refused.stderr
    no_password = run("user", "add", "carol", "--role", "analyst", "--data-dir", str(data_dir), check=False)
    assert no_password.returncode != 0  # no terminal to prompt on, and no password given

    server = subprocess.Popen(
        [*POLEX, "serve", "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: healthy(url), 30, "the node to answer")
        token = httpx.post(f"{url}/api/v1/auth/token", data={"username": "alice", "password": "alice's password"})
        assert token.status_code == 200
        me = httpx.get(f"{url}/api/v1/auth/me", headers={"Authorization": f"Bearer {token.json()['access_token']}"})
        assert me.json()["country"] == "FRA"
        # The served process froze what start-up built (polex.api.heap) and times the
        # garbage collector's pauses.
        admin = httpx.post(f"{url}/api/v1/auth/token", data={"username": "admin", "password": "an admin password"})
        metrics = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {admin.json()['access_token']}"})
        assert metrics.status_code == 200, metrics.text
        samples = {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(metrics.text)
            for sample in family.samples
        }
        assert samples[("polex_gc_frozen_objects", ())] > 10_000
        assert samples[("polex_gc_pause_seconds_count", (("generation", "0"),))] > 0
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=20) == 0


def test_serve_refuses_a_folder_without_a_node(tmp_path: Path) -> None:
    completed = run("serve", "--data-dir", str(tmp_path / "nothing"), check=False)
    assert completed.returncode == 2
    assert "polex init" in completed.stderr


@pytest.mark.timeout(360)
def test_demo_starts_every_node_and_stops_cleanly_then_reuses_its_data(tmp_path: Path) -> None:
    base = free_ports(5)
    demo_dir = tmp_path / "demo"
    command = [*POLEX, "demo", "--dir", str(demo_dir), "--base-port", str(base), "--size", "0.05"]

    def start() -> subprocess.Popen[str]:
        return subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            stdin=subprocess.DEVNULL,
        )

    demo = start()
    summary_path = demo_dir / "demo.json"
    try:
        # Preparing five nodes' data and waiting until each is ready (its watch list loaded)
        # takes about a minute on two idle cores; far more when other runs share them.
        wait_for(lambda: summary_path.exists() or demo.poll() is not None, 300, "demo.json")
        assert demo.poll() is None, demo.stdout.read() if demo.stdout else ""
        summary = json.loads(summary_path.read_text())
        assert [node["role"] for node in summary["nodes"]].count("hub") == 1
        assert len({node["country"] for node in summary["nodes"]}) >= 4
        for node in summary["nodes"]:
            assert healthy(node["url"])
            assert Path(node["data_dir"], "polex.db").exists()
        roles = {(user["node"], user["role"]) for user in summary["users"]}
        assert ("hub", "reviewer") in roles
        assert ("fra", "border_officer") in roles
        assert ("fra", "reviewer") not in roles
        investigator = next(u for u in summary["users"] if u["node"] == "ukr" and u["role"] == "investigator")
        ukr = next(n for n in summary["nodes"] if n["name"] == "ukr")
        token = httpx.post(
            f"{ukr['url']}/api/v1/auth/token",
            data={"username": investigator["username"], "password": investigator["password"]},
        )
        persons = httpx.get(
            f"{ukr['url']}/api/v1/persons?limit=5",
            headers={
                "Authorization": f"Bearer {token.json()['access_token']}",
                "X-Polex-Purpose": "criminal_investigation",
            },
        ).json()
        assert len(persons["items"]) == 5
        assert persons["items"][0]["names"][0]["script"] == "Cyrl"

        # The hub witnesses every national node's audit log, and they witness it.
        hub = next(n for n in summary["nodes"] if n["role"] == "hub")
        auditor = next(u for u in summary["users"] if u["node"] == "hub" and u["role"] == "auditor")
        hub_token = httpx.post(
            f"{hub['url']}/api/v1/auth/token", data={"username": auditor["username"], "password": auditor["password"]}
        ).json()["access_token"]

        def witnessed_logs() -> set[str]:
            answer = httpx.get(f"{hub['url']}/api/v1/audit/witnessed", headers={"Authorization": f"Bearer {hub_token}"})
            return {item["log"] for item in answer.json()["items"]}

        nationals = {f"polex/{n['name']}/audit" for n in summary["nodes"] if n["role"] == "national"}
        wait_for(lambda: witnessed_logs() == nationals, 45, "the hub to witness every national log")
        alerts = httpx.get(f"{hub['url']}/api/v1/audit/alerts", headers={"Authorization": f"Bearer {hub_token}"})
        assert alerts.json()["items"] == []
        # Every national node enrolled in the hub's network, with a certificate the CA signed.
        members = httpx.get(f"{hub['url']}/api/v1/network/members", headers={"Authorization": f"Bearer {hub_token}"})
        statuses = {member["name"]: member["status"] for member in members.json()["items"]}
        assert statuses == {node["name"]: "active" for node in summary["nodes"]}
        # The scripted exchange: every national bureau wrote to the hub through the network.
        operator = next(u for u in summary["users"] if u["node"] == "hub" and u["role"] == "ncb_operator")
        operator_token = httpx.post(
            f"{hub['url']}/api/v1/auth/token",
            data={"username": operator["username"], "password": operator["password"]},
        ).json()["access_token"]

        def senders() -> set[str]:
            inbox = httpx.get(
                f"{hub['url']}/api/v1/messages?box=inbox", headers={"Authorization": f"Bearer {operator_token}"}
            )
            return {message["sender"] for message in inbox.json()["items"]}

        wait_for(lambda: senders() == {n["name"] for n in summary["nodes"] if n["role"] == "national"}, 30, "mail")
        # Every national bureau's red notice request, drafted and submitted on its own node,
        # waits in the hub's review queue.
        reviewer = next(u for u in summary["users"] if u["node"] == "hub" and u["role"] == "reviewer")
        reviewer_token = httpx.post(
            f"{hub['url']}/api/v1/auth/token",
            data={"username": reviewer["username"], "password": reviewer["password"]},
        ).json()["access_token"]

        def requesting_countries() -> set[str]:
            queue = httpx.get(
                f"{hub['url']}/api/v1/notices",
                params={"scope": "review", "status": "submitted", "limit": 200},
                headers={"Authorization": f"Bearer {reviewer_token}"},
            )
            # The national requests' subjects are numbered from 40 (the hub's own seeds below 10;
            # some seeded types, such as orange, have no subject).
            countries = set()
            for item in queue.json()["items"]:
                names = ((item["notice"] or {}).get("subject") or {}).get("names") or [{}]
                if str(names[0].get("family", "")).startswith("DEMORED4"):
                    countries.add(item["owner"]["country"])
            return countries

        national_countries = {n["country"] for n in summary["nodes"] if n["role"] == "national"}
        wait_for(lambda: national_countries <= requesting_countries(), 30, "the national notice requests")
        # The scripted border checks: every member's documents were found by another member.
        for officer in (u for u in summary["users"] if u["node"] == "hub" and u["username"].endswith(".officer")):
            officer_token = httpx.post(
                f"{hub['url']}/api/v1/auth/token",
                data={"username": officer["username"], "password": officer["password"]},
            ).json()["access_token"]
            hits = httpx.get(f"{hub['url']}/api/v1/hits", headers={"Authorization": f"Bearer {officer_token}"})
            countries = {hit["checked_by"]["country"] for hit in hits.json()["items"]}
            assert countries, f"no hit on the records of {officer['username']}"
            assert officer["username"].split(".")[0].upper() not in countries
            # The seeded cross-border pairs: France's bureau finds Ukraine's record of its person.
            if officer["username"] == "fra.officer":

                def correlated(token: str = officer_token):  # type: ignore[no-untyped-def]
                    answer = httpx.get(
                        f"{hub['url']}/api/v1/correlations",
                        headers={
                            "Authorization": f"Bearer {token}",
                            "X-Polex-Purpose": "criminal_investigation",
                        },
                    )
                    return [item for item in answer.json()["items"] if item["other"]["owner"]["country"] == "UKR"]

                wait_for(correlated, 120, "the hub's correlation of the seeded persons")
                [pair] = correlated()
                assert pair["other"]["access"] == "full"
                assert pair["other"]["record"]["names"][0]["full"] == "Олександр Петренко"
    finally:
        demo.send_signal(signal.SIGINT)
        output = demo.communicate(timeout=60)[0]
    assert demo.returncode == 0, output
    for node in summary["nodes"]:
        assert not healthy(node["url"])  # every node stopped with the demo

    again = start()
    try:
        wait_for(
            lambda: healthy(summary["nodes"][0]["url"]) and all(healthy(n["url"]) for n in summary["nodes"]),
            # A node answers once it serves, but not while it builds the matcher's name data
            # for its watch list (~7-11 s of CPU, holding the GIL): five nodes on two cores,
            # which other tests may share.
            240,
            "the second run",
        )
        user = next(u for u in summary["users"] if u["node"] == "fra" and u["role"] == "ncb_operator")
        fra = next(n for n in summary["nodes"] if n["name"] == "fra")
        login = httpx.post(
            f"{fra['url']}/api/v1/auth/token", data={"username": user["username"], "password": user["password"]}
        )
        assert login.status_code == 200  # the same data and the same passwords
    finally:
        again.send_signal(signal.SIGTERM)
        output = again.communicate(timeout=60)[0]
    assert again.returncode == 0, output
    assert "preparing" not in output


def test_formats_lists_the_built_in_adapters() -> None:
    output = run("formats").stdout
    assert "icao-mrz" in output
    assert "csv-mapping" in output


def test_import_a_csv_export_and_an_mrz_file(tmp_path: Path) -> None:
    data_dir = tmp_path / "fra"
    run("init", "--data-dir", str(data_dir), "--name", "fra", "--country", "FRA")
    mapping = tmp_path / "sltd.yaml"
    mapping.write_text(
        "record: travel_document\ncsv: {delimiter: ';'}\nconstants: {issuing_country: FRA, status: lost}\n"
        "fields:\n  - {target: number, column: NUMERO, required: true}\n"
        "  - {target: issued_on, column: DELIVRE, date: dd.mm.yyyy}\n"
    )
    export = tmp_path / "export.csv"
    export.write_text("NUMERO;DELIVRE\n12AB34567;01.02.2020\n23CD45678;31.02.2020\n")
    options = ["--format", "csv-mapping", "--mapping", str(mapping), "--data-dir", str(data_dir)]
    dry = run("import", str(export), *options, "--dry-run", check=False)
    assert dry.returncode == 3, dry.stderr  # one row would be quarantined
    would = json.loads(dry.stdout)
    assert (would["dry_run"], would["accepted"], would["rejected"]) == (True, 1, 1)
    assert [(problem["location"], problem["field"]) for problem in would["problems"]] == [("line 3", "DELIVRE")]
    assert dry.stderr == ""  # not a terminal: no progress line
    completed = run(
        "import",
        str(export),
        "--format",
        "csv-mapping",
        "--mapping",
        str(mapping),
        "--data-dir",
        str(data_dir),
        check=False,
    )
    assert completed.returncode == 3, completed.stderr  # one row quarantined
    summary = json.loads(completed.stdout)
    assert (summary["accepted"], summary["rejected"]) == (1, 1)
    assert any(reason.startswith("DELIVRE:") for reason in summary["reasons"])

    mrz = tmp_path / "documents.mrz"
    mrz.write_text("\n".join(td3_lines()) + "\n")
    completed = run(
        "import",
        str(mrz),
        "--format",
        "icao-mrz",
        "--option",
        "status=stolen",
        "--data-dir",
        str(data_dir),
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert json.loads(completed.stdout)["by_kind"] == {"travel_document": 1}

    bad_mapping = tmp_path / "bad.yaml"
    bad_mapping.write_text("record: vehicle\nfields: [{target: wheels, column: W}]\n")
    refused = run(
        "import",
        str(export),
        "--format",
        "csv-mapping",
        "--mapping",
        str(bad_mapping),
        "--data-dir",
        str(data_dir),
        check=False,
    )
    assert refused.returncode == 2
    assert "'wheels' is not a field" in refused.stderr


def test_export_writes_the_records_in_an_outside_format_and_is_audited(tmp_path: Path) -> None:
    data_dir = tmp_path / "fra"
    run("init", "--data-dir", str(data_dir), "--name", "fra", "--country", "FRA")
    mrz = tmp_path / "documents.mrz"
    mrz.write_text("\n".join(td3_lines()) + "\n")
    run("import", str(mrz), "--format", "icao-mrz", "--data-dir", str(data_dir))
    out = tmp_path / "out.mrz"
    summary = json.loads(
        run(
            "export",
            "--kind",
            "travel_document",
            "--format",
            "icao-mrz",
            "--out",
            str(out),
            "--data-dir",
            str(data_dir),
            "--purpose",
            "criminal_investigation",
        ).stdout
    )
    assert (summary["records"], summary["withheld"]) == (1, 0)
    assert out.read_text().splitlines() == list(td3_lines())  # what went in comes out
    from polex.bootstrap import build_node
    from polex.settings import load_settings

    node = build_node(load_settings(data_dir=data_dir))
    try:
        last, _ = node.audit.leaf(node.audit.integrate() - 1)
    finally:
        node.close()
    assert (last.tag.value, last.result_count, len(last.record_ids)) == ("record:travel_document:exported", 1, 1)
    # One batch: the export's first part, and its last.
    assert last.details == {
        "format": "icao-mrz",
        "withheld": 0,
        "export": last.details["export"],
        "part": 1,
        "last": True,
    }
    refused = run(
        "export",
        "--kind",
        "travel_document",
        "--format",
        "csv-mapping",
        "--out",
        str(out),
        "--data-dir",
        str(data_dir),
        "--purpose",
        "criminal_investigation",
        check=False,
    )
    assert refused.returncode == 2
    assert "can be read, not written" in refused.stderr
    undeclared = run(
        "export",
        "--kind",
        "travel_document",
        "--format",
        "icao-mrz",
        "--out",
        str(out),
        "--data-dir",
        str(data_dir),
        check=False,
    )
    assert undeclared.returncode == 2
    assert "--purpose: is required" in undeclared.stderr
    # A writer that refuses the records (NIEM writes persons and vehicles) fails clearly and
    # leaves no file behind, neither under the name asked for nor a partial one.
    niem_out = tmp_path / "documents.xml"
    unwritable = run(
        "export",
        "--kind",
        "travel_document",
        "--format",
        "niem-xml",
        "--out",
        str(niem_out),
        "--data-dir",
        str(data_dir),
        "--purpose",
        "criminal_investigation",
        check=False,
    )
    assert unwritable.returncode == 2
    assert "the niem-xml export was not written" in unwritable.stderr
    assert "Traceback" not in unwritable.stderr
    assert sorted(path.name for path in tmp_path.iterdir() if "documents.xml" in path.name) == []


def test_screen_a_manifest_from_the_command_line(tmp_path: Path) -> None:
    data_dir = tmp_path / "fra"
    run("init", "--data-dir", str(data_dir), "--name", "fra", "--country", "FRA")
    mrz = tmp_path / "documents.mrz"
    mrz.write_text("\n".join(td3_lines(number="34EF56789")) + "\n")
    run("import", str(mrz), "--format", "icao-mrz", "--option", "status=stolen", "--data-dir", str(data_dir))
    manifest = tmp_path / "AF1234.csv"
    manifest.write_text(
        "id,name,passport_number,issuing_country\nP1,Camille Martin,34EF56789,FRA\nP2,Ana Lopez,1,FRA\nP3,,,\n"
    )
    out = tmp_path / "results.jsonl"
    completed = run(
        "screen", str(manifest), "--purpose", "border_control", "--out", str(out), "--data-dir", str(data_dir)
    )
    summary = json.loads(completed.stdout)
    assert (summary["status"], summary["rows"], summary["document_hits"], summary["rows_with_errors"]) == (
        "done",
        3,
        1,
        1,
    )
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["hit"] for line in lines] == [True, False, False]
    assert lines[0]["document"]["record"]["number"] == "34EF56789"
    missing = run("screen", str(manifest), "--out", str(out), "--data-dir", str(data_dir), check=False)
    assert missing.returncode == 2
    assert "--purpose" in missing.stderr
