"""The legal framework from the command line: agreements from YAML, national rules,
explained decisions, dry runs and retention runs, as an operator at the node runs them."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.e2e.test_cli import run
from tests.factories import td3_lines

TREATY = {
    "id": "fra-deu-documents",
    "title": "Treaty between France and Germany on travel documents",
    "kind": "bilateral_treaty",
    "parties": ["FRA", "DEU"],
    "categories": ["travel_documents"],
    "purposes": ["border_control"],
    "level": "full",
    "valid_from": "2024-01-01",
    "legal_reference": "Treaty FRA-DEU (2024), art. 3",
}


def test_agreements_rules_and_decisions_from_the_command_line(tmp_path: Path) -> None:
    data_dir = tmp_path / "fra"
    run("init", "--data-dir", str(data_dir), "--name", "fra", "--country", "FRA")
    folder = str(data_dir)

    treaty = tmp_path / "treaty.yaml"
    treaty.write_text(yaml.safe_dump(TREATY, sort_keys=False))
    added = json.loads(run("agreement", "add", str(treaty), "--approve", "--data-dir", folder).stdout)
    assert (added["version"], added["status"], added["awaiting"]) == (1, "awaiting_approval", ["DEU"])
    assert [approval["country"] for approval in added["approvals"]] == ["FRA"]

    listed = run("agreement", "list", "--data-dir", folder).stdout
    assert "fra-deu-documents" in listed
    assert "awaiting_approval" in listed
    shown = yaml.safe_load(run("agreement", "show", "fra-deu-documents", "--data-dir", folder).stdout)
    assert shown["legal_reference"] == TREATY["legal_reference"]
    assert shown["parties"] == ["FRA", "DEU"]

    # This node speaks for France only.
    refused = run("agreement", "approve", "missing-treaty", "--version", "1", "--data-dir", folder, check=False)
    assert refused.returncode == 2
    assert "no agreement 'missing-treaty'" in refused.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**TREATY, "parties": ["FRA", "DEU", "ITA"]}))
    invalid = run("agreement", "add", str(bad), "--data-dir", folder, check=False)
    assert invalid.returncode == 2
    assert "parties" in invalid.stderr

    rules = tmp_path / "rules.yaml"
    rules.write_text(
        yaml.safe_dump(
            {
                "country": "FRA",
                "never_shared": ["biometrics"],
                "refused_purposes": ["crime_prevention"],
                "legal_reference": "Loi Informatique et Libertés, art. 87",
            }
        )
    )
    set_rules = json.loads(run("policy", "rules", str(rules), "--data-dir", folder).stdout)
    assert set_rules["document"]["never_shared"] == ["biometrics"]

    mrz = tmp_path / "documents.mrz"
    mrz.write_text("\n".join(td3_lines()) + "\n")
    run("import", str(mrz), "--format", "icao-mrz", "--data-dir", folder)
    exported = json.loads(
        run(
            "export",
            "--kind",
            "travel_document",
            "--format",
            "icao-mrz",
            "--out",
            str(tmp_path / "out.mrz"),
            "--purpose",
            "border_control",
            "--data-dir",
            folder,
        ).stdout
    )
    assert exported["records"] == 1

    # What would a German border officer get of it? Nothing until Germany approves.
    from polex.bootstrap import build_node
    from polex.settings import load_settings

    node = build_node(load_settings(data_dir=data_dir))
    try:
        with node.uow(read_only=True) as uow:
            from sqlalchemy import select

            from polex.storage.tables import RecordRow

            record_id = uow.session.scalars(select(RecordRow.id).where(RecordRow.kind == "travel_document")).one()
    finally:
        node.close()
    question = ["--kind", "travel_document", "--record", record_id, "--country", "DEU", "--agency", "a-deu-agency"]
    decision = json.loads(run("policy", "check", *question, "--purpose", "border_control", "--data-dir", folder).stdout)
    assert decision["outcome"] == "none"
    assert [rule["code"] for rule in decision["rules"]] == ["no_agreement"]
    refused_purpose = json.loads(
        run("policy", "check", *question, "--purpose", "crime_prevention", "--data-dir", folder).stdout
    )
    assert [rule["code"] for rule in refused_purpose["rules"]] == ["national.refused_purpose"]

    dry = json.loads(run("policy", "check", "--dry-run", str(treaty), "--data-dir", folder).stdout)
    assert dry["agreement_id"] == "fra-deu-documents"
    assert {"country": "DEU", "record_kind": "travel_document", "purpose": "border_control"}.items() <= (
        dry["changes"][0].items()
    )
    assert (dry["changes"][0]["before"], dry["changes"][0]["after"], dry["changes"][0]["records"]) == (
        "none",
        "full",
        1,
    )

    retention = json.loads(run("retention", "run", "--data-dir", folder).stdout)
    assert retention == {"assigned": 0, "review_requested": 0, "purged": 0}

    retired = json.loads(
        run("agreement", "retire", "fra-deu-documents", "--reason", "superseded", "--data-dir", folder).stdout
    )
    assert retired["status"] == "retired"
