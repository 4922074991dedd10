"""schemas/ is generated from the models and current; real converted records validate against it."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import jsonschema
import pytest

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


# (folder, file, format) of real samples: every kind the readers make from real data
REAL = [
    ("alpaca", "alpaca_en_demo_llamafactory_first300.json", "alpaca"),
    ("alpaca", "seed_tasks.jsonl", "alpaca"),
    ("dolly_ja", "databricks-dolly-15k-ja_00000-00299.jsonl", "dolly"),
    ("japanese_misc", "llm-jp-sft_example.jsonl", "alpaca-text"),
    ("sharegpt", "glaive_toolcall_en_demo_llamafactory_first300.json", "sharegpt"),
    ("sharegpt", "fastchat_dummy_conversation_first300.json", "sharegpt"),
    ("openai_chat", "openai_cookbook_drone_training_first5.jsonl", "openai"),
    ("legacy_prompt_completion", "t0_ag_news_classify_gpt3_finetune.jsonl", "openai-completion"),
    ("hh_rlhf", "harmless-base_test_sample300.jsonl.gz", "hh-rlhf"),
    ("oasst", "en_100_tree.jsonl", "oasst"),
    ("preference_pairs", "kto_en_demo_llamafactory_first300.json", "llamafactory"),
    ("preference_pairs", "dpo_en_demo_llamafactory_first180.json", "llamafactory"),
    ("k_way_rankings", "alpaca_farm_multisamples_sft.json", "best-of-n"),
    ("summarize_from_feedback", "comparisons_readme_example.jsonl", "summarize-feedback"),
]


@pytest.mark.parametrize(("folder", "name", "fmt"), REAL)
def test_converted_real_records_validate_against_the_schema_files(folder: str, name: str,
                                                                  fmt: str) -> None:
    """An independent validator (jsonschema) accepts every record our readers make."""
    import dialogkit
    from tests.conftest import shared_file

    path = shared_file(folder, name)
    union = validator("record.schema.json")
    by_kind: dict[str, jsonschema.Draft202012Validator] = {}
    n = 0
    # jsonschema is slow (about 12 ms a record here); 50 per file cover the shapes
    for rec in itertools.islice(dialogkit.read(path, format=fmt, on_error="skip"), 50):
        doc = rec.model_dump(mode="json", exclude_none=True)
        own = by_kind.setdefault(rec.kind, validator(f"{rec.kind}.schema.json"))
        for v in (union, own):
            errors = [f"{list(e.absolute_path)}: {e.message}" for e in v.iter_errors(doc)]
            assert errors == [], (rec.source, errors[:3])
        n += 1
    assert n > 0
