"""schemas/ is generated from the models and current; real converted records validate against it."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from dialogkit.models import KINDS
from dialogkit.schemas import render, schema_files
from tests.conftest import ROOT

SCHEMAS = ROOT / "schemas"


def test_schemas_folder_is_current() -> None:
    """Fails when a model changed and `dialogkit schema --out schemas/` was not run."""
    files = schema_files()
    assert sorted(p.name for p in SCHEMAS.glob("*.schema.json")) == sorted(files)
    for name, schema in files.items():
        assert (SCHEMAS / name).read_bytes() == render(schema), f"schemas/{name} is stale"


def test_one_schema_per_kind() -> None:
    assert sorted(schema_files()) == sorted([f"{k}.schema.json" for k in KINDS]
                                            + ["record.schema.json"])


def validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_schema_accepts_and_refuses_like_the_model() -> None:
    v = validator("conversation.schema.json")
    good = {"kind": "conversation", "messages": [{"role": "user", "content": "x"},
                                                 {"role": "assistant", "content": "y"}]}
    assert list(v.iter_errors(good)) == []
    bad = {"kind": "conversation", "messages": [{"role": "bot", "content": "x"}]}
    assert [e.validator for e in v.iter_errors(bad)] == ["enum"]
    r = validator("record.schema.json")
    assert list(r.iter_errors({"kind": "prompt", "prompt": [{"role": "user", "content": "q"}]}))\
        == []


def test_cli_writes_the_same_files(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from dialogkit.cli import app

    result = CliRunner().invoke(app, ["schema", "--out", str(tmp_path)])
    assert result.exit_code == 0
    for p in SCHEMAS.glob("*.schema.json"):
        assert (tmp_path / p.name).read_bytes() == p.read_bytes()
