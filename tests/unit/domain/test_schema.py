import json
from pathlib import Path

from polex.domain.schema import export_json_schema, json_schemas

COMMITTED = Path(__file__).parents[3] / "docs" / "schema"


def test_export_writes_one_file_per_type(tmp_path: Path) -> None:
    written = export_json_schema(tmp_path)
    assert sorted(path.name for path in written) == [
        "agency.json",
        "case.json",
        "intel.json",
        "notice.json",
        "person.json",
        "travel_document.json",
        "vehicle.json",
    ]
    person = json.loads((tmp_path / "person.json").read_text())
    assert person["x-polex-schema"] == "polex.schema/v1"
    assert {"id", "owner", "restrictions", "provenance", "version", "names"} <= set(person["properties"])


def test_the_committed_schema_matches_the_code() -> None:
    # Regenerate with `polex schema export` when the models change.
    for name, document in json_schemas().items():
        committed = json.loads((COMMITTED / name).read_text())
        assert committed == json.loads(json.dumps(document)), name
