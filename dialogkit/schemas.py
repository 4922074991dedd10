"""JSON Schemas of the canonical records, generated from the models (never written by hand)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from dialogkit.io import atomic_output
from dialogkit.models import MODELS, RecordAdapter

__all__ = ["schema_files", "write_schemas"]


def schema_files() -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema: one per kind, plus ``record`` for the union of all kinds."""
    out: dict[str, dict[str, Any]] = {}
    for kind, model in MODELS.items():
        out[f"{kind}.schema.json"] = model.model_json_schema()
    out["record.schema.json"] = RecordAdapter.json_schema()
    for name, schema in out.items():
        schema.setdefault("$schema", "https://json-schema.org/draft/2020-12/schema")
        schema.setdefault("$id", name)
    return out


def render(schema: dict[str, Any]) -> bytes:
    """The exact bytes written for a schema (stable, so staleness is a byte comparison)."""
    return (json.dumps(schema, indent=2, ensure_ascii=False) + "\n").encode()


def write_schemas(out: str | os.PathLike[str]) -> list[Path]:
    """Write every schema into folder ``out`` atomically; returns the paths written."""
    folder = Path(out)
    paths = []
    for name, schema in schema_files().items():
        path = folder / name
        with atomic_output(path) as f:
            f.write(render(schema))
        paths.append(path)
    return paths
