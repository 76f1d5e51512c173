"""`polex import --format stix2.1` and `polex export --kind intel` as a user runs them, on
SQLite and PostgreSQL: every object of the OASIS STIX 2.1 examples in, the same objects out
as a bundle the OASIS validator passes; importing objects again adds nothing."""

from __future__ import annotations

import json
from pathlib import Path

from stix2validator import ValidationOptions, validate_string

from tests.e2e.test_cli import run
from tests.intel_examples import BROKEN, EXAMPLES, bundle, example_objects, instants

BROKEN_REASON_FIELD = "pattern:"


def test_import_then_export_keeps_every_object_and_passes_the_validator(tmp_path: Path, database_url: str) -> None:
    data_dir = tmp_path / "fra"
    environment = {"POLEX_DATABASE_URL": database_url}
    run("init", "--data-dir", str(data_dir), "--name", "fra", "--country", "FRA", env=environment)
    objects = example_objects()
    source = tmp_path / "examples.json"
    source.write_bytes(bundle([*objects, BROKEN]))

    command = ("import", str(source), "--format", "stix2.1", "--data-dir", str(data_dir))
    imported = run(*command, env=environment, check=False)
    assert imported.returncode == 3, imported.stderr  # the broken indicator is quarantined
    summary = json.loads(imported.stdout)
    assert (summary["accepted"], summary["rejected"], summary["by_kind"]) == (len(objects), 1, {"intel": len(objects)})
    [reason] = summary["reasons"]
    assert reason.startswith(BROKEN_REASON_FIELD)

    # One of the examples again, as its own file: every object is recorded already.
    part = EXAMPLES / "indicators-for-C2-with-COA.json"
    again = run("import", str(part), "--format", "stix2.1", "--data-dir", str(data_dir), env=environment, check=False)
    assert again.returncode == 3, again.stderr
    repeated = json.loads(again.stdout)
    assert (repeated["accepted"], repeated["rejected"], repeated["by_kind"]) == (0, 8, {"intel": 0})

    out = tmp_path / "export.json"
    exported = run(
        "export",
        "--kind",
        "intel",
        "--format",
        "stix2.1",
        "--out",
        str(out),
        "--purpose",
        "criminal_investigation",
        "--data-dir",
        str(data_dir),
        env=environment,
    )
    assert json.loads(exported.stdout) == {
        "kind": "intel",
        "format": "stix2.1",
        "records": len(objects),
        "withheld": 0,
        "file": str(out),
    }
    text = out.read_text(encoding="utf-8")
    results = validate_string(text, ValidationOptions(version="2.1", silent=True))
    assert results.is_valid, [str(error) for error in results.errors]
    written = json.loads(text)
    assert written["type"] == "bundle"
    assert sorted(instants(written["objects"]), key=lambda obj: obj["id"]) == sorted(
        instants(objects), key=lambda obj: obj["id"]
    )

    from polex.bootstrap import build_node
    from polex.settings import load_settings

    node = build_node(load_settings(data_dir=data_dir, database_url=database_url))
    try:
        last, _ = node.audit.leaf(node.audit.integrate() - 1)
    finally:
        node.close()
    assert (last.tag.value, last.result_count) == ("record:intel:exported", len(objects))
    # One batch (fewer than a thousand objects): the export's first part and its last.
    assert last.details == {
        "format": "stix2.1",
        "withheld": 0,
        "export": last.details["export"],
        "part": 1,
        "last": True,
    }
