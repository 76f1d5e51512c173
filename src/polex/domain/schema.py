"""The common schema v1 as JSON Schema documents (one file per type)."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from polex import SCHEMA_VERSION
from polex.domain.agency import Agency
from polex.domain.records import RECORD_TYPES

SCHEMA_BASE_URI = "https://polex.dev/schema/v1/"


def json_schemas() -> dict[str, dict[str, object]]:
    """File name to JSON Schema for every record type of the common schema."""
    models: dict[str, type[BaseModel]] = {"agency": Agency}
    for record_type in RECORD_TYPES.values():
        models[record_type.kind.value] = record_type.record
    documents: dict[str, dict[str, object]] = {}
    for name, model in models.items():
        schema = model.model_json_schema(mode="serialization")
        documents[f"{name}.json"] = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"{SCHEMA_BASE_URI}{name}.json",
            "x-polex-schema": SCHEMA_VERSION,
            **schema,
        }
    return documents


def export_json_schema(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for file_name, document in sorted(json_schemas().items()):
        path = directory / file_name
        path.write_text(json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True) + "\n")
        written.append(path)
    return written
