"""dialogkit.hf: records <-> datasets objects, round trips for every kind, reading datasets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dialogkit import api
from dialogkit.errors import RecordError, UsageError
from dialogkit.models import KINDS, RecordAdapter

datasets = pytest.importorskip("datasets")
hf = pytest.importorskip("dialogkit.hf")


@pytest.fixture(autouse=True)
def _offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No network, and every datasets cache inside tmp_path."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True, raising=False)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "cache")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True, raising=False)


def _rec(data: dict[str, Any]) -> Any:
    return RecordAdapter.validate_python(data)


CALL = {"id": "c1", "name": "get_weather", "arguments": '{"city": "Paris",  "unit": "C"}'}
TOOL_A = {"type": "function", "function": {"name": "get_weather",
                                           "parameters": {"type": "object", "properties": {
                                               "city": {"type": "string"}}}}}
TOOL_B = {"type": "function", "function": {"name": "add", "description": "sum",
                                           "parameters": {"a": [1, 2.5, None], "b": True}}}
SRC = {"file": "in.jsonl", "line": 3, "format": "openai"}

# one or more records of every kind, covering optional fields, None-vs-absent and odd values
SAMPLES: dict[str, list[dict[str, Any]]] = {
    "conversation": [
        {"kind": "conversation", "id": "a", "source": SRC, "tools": [TOOL_A],
         "metadata": {"score": 0.1 + 0.2, "third": 1 / 3, "big": 2**62, "nested": {"x": [1, "y"]}},
         "messages": [
             {"role": "system", "content": "  keep  spaces \n"},
             {"role": "user", "content": "Weather in Paris? é 😀"},
             {"role": "assistant", "tool_calls": [CALL]},
             {"role": "tool", "tool_call_id": "c1", "name": "get_weather", "content": "21"},
             {"role": "assistant", "content": "21C", "weight": 1, "reasoning": "look it up"},
         ]},
        {"kind": "conversation", "tools": [TOOL_B, TOOL_A],
         "messages": [{"role": "user", "content": ""},
                      {"role": "assistant", "content": "x", "tool_calls": [], "weight": 0}]},
        {"kind": "conversation", "tools": [],
         "messages": [{"role": "assistant", "content": "alone", "name": "bot"}]},
    ],
    "demo": [
        {"kind": "demo", "id": "d1", "prompt": "Say hi", "input": "", "response": "Hi",
         "system": "s", "category": "open_qa", "labeler": "L7", "metadata": {"k": [1.5e-300]}},
        {"kind": "demo", "prompt": "p", "response": "r"},
    ],
    "trainer_dialogue": [
        {"kind": "trainer_dialogue", "trainer_id": "t1", "tools": [TOOL_B],
         "messages": [{"role": "user", "content": "q", "author": "trainer"},
                      {"role": "assistant", "content": "a", "author": "model"},
                      {"role": "assistant", "content": "b"}]},
    ],
    "comparison": [
        {"kind": "comparison", "labeler": "x", "ranking": [1, 0, None],
         "context": [{"role": "user", "content": "q"}],
         "candidates": [
             {"messages": [{"role": "assistant", "content": "a"}], "model": "m1", "score": 0.25},
             {"messages": [{"role": "assistant", "content": "b"}]},
             {"messages": [{"role": "assistant", "tool_calls": [CALL]}], "score": -1e-9},
         ]},
        {"kind": "comparison", "context": [{"role": "user", "content": "q"}],
         "candidates": [{"messages": [{"role": "assistant", "content": "a"}]},
                        {"messages": [{"role": "assistant", "content": "b"}]}]},
    ],
    "preference": [
        {"kind": "preference", "margin": 0.7, "group_id": "g1",
         "prompt": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}],
         "chosen": [{"role": "assistant", "content": "good"}],
         "rejected": [{"role": "assistant", "content": "bad"}]},
        {"kind": "preference", "prompt": [],
         "chosen": [{"role": "assistant", "content": "good"}],
         "rejected": [{"role": "assistant", "content": "bad"}]},
    ],
    "unpaired": [
        {"kind": "unpaired", "label": False, "prompt": [{"role": "user", "content": "q"}],
         "completion": [{"role": "assistant", "content": "a"}]},
        {"kind": "unpaired", "label": True, "prompt": [{"role": "user", "content": "q"}],
         "completion": [{"role": "assistant", "content": "b"}], "metadata": {"n": None}},
    ],
    "prompt": [
        {"kind": "prompt", "id": "p", "prompt": [{"role": "user", "content": "solve"}],
         "metadata": {"solution": "42"}},
    ],
}


def test_samples_cover_every_kind() -> None:
    assert sorted(SAMPLES) == sorted(KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_dataset_round_trip_every_kind(kind: str) -> None:
    recs = [_rec(d) for d in SAMPLES[kind]]
    ds = hf.to_dataset(recs)
    assert ds.num_rows == len(recs)
    assert "Json" not in repr(ds.features)  # older datasets cannot read that feature type
    assert set(ds.column_names) <= set(hf.features_for(kind))
    back = list(hf.from_dataset(ds))
    assert back == recs
    assert [b.model_dump() for b in back] == [r.model_dump() for r in recs]


@pytest.mark.parametrize("kind", KINDS)
def test_iterable_round_trip_every_kind(kind: str) -> None:
    recs = [_rec(d) for d in SAMPLES[kind]]
    ids = hf.to_iterable_dataset(lambda: iter(recs))
    assert isinstance(ids, datasets.IterableDataset)
    assert list(hf.from_dataset(ids)) == recs
    assert list(hf.from_dataset(ids)) == recs  # a callable source is re-iterable


@pytest.mark.parametrize("kind", KINDS)
def test_parquet_and_save_to_disk_round_trip(kind: str, tmp_path: Path) -> None:
    recs = [_rec(d) for d in SAMPLES[kind]]
    ds = hf.to_dataset(recs)
    ds.to_parquet(str(tmp_path / "x.parquet"))
    loaded = datasets.Dataset.from_parquet(str(tmp_path / "x.parquet"),
                                           cache_dir=str(tmp_path / "c"))
    assert list(hf.from_dataset(loaded)) == recs
    ds.save_to_disk(str(tmp_path / "disk"))
    assert list(hf.from_dataset(datasets.load_from_disk(str(tmp_path / "disk")))) == recs


def test_floats_survive_exactly_where_json_decoding_would_round() -> None:
    rec = _rec(SAMPLES["conversation"][0])
    ds = hf.to_dataset([rec])
    assert next(hf.from_dataset(ds)).metadata["third"] == 1 / 3
    assert next(hf.from_dataset(ds)).metadata["score"] == 0.30000000000000004
    # stored as the exact JSON text orjson wrote
    raw = ds.with_format("arrow")[:1].column("metadata").to_pylist()[0]
    assert json.loads(raw)["third"] == 1 / 3


def test_tool_schemas_that_differ_share_one_json_column() -> None:
    ds = hf.to_dataset([_rec(SAMPLES["conversation"][0]), _rec(SAMPLES["conversation"][1])])
    assert ds.features["tools"] == datasets.Value("string")
    assert json.loads(ds[1]["tools"]) == [TOOL_B, TOOL_A]
    back = list(hf.from_dataset(ds))
    assert [len(r.tools) for r in back] == [1, 2]
    assert back[1].tools[0] == TOOL_B
    assert back[0].messages[2].tool_calls[0].arguments == '{"city": "Paris",  "unit": "C"}'


def test_message_features_are_explicit() -> None:
    f = hf.features_for("conversation")
    assert list(f) == ["kind", "id", "messages", "tools", "metadata", "source"]
    msg = f["messages"].feature
    assert list(msg) == ["role", "content", "name", "tool_calls", "tool_call_id", "weight",
                         "reasoning"]
    assert list(msg["tool_calls"].feature["function"]) == ["name", "arguments"]
    assert "author" in hf.features_for("trainer_dialogue")["messages"].feature
    assert "author" not in msg
    assert isinstance(f["metadata"], datasets.Json)


def test_dataset_dict_for_splits() -> None:
    dd = hf.to_dataset({"train": [_rec(d) for d in SAMPLES["preference"]],
                        "test": [_rec(SAMPLES["preference"][0])]})
    assert isinstance(dd, datasets.DatasetDict)
    assert {k: v.num_rows for k, v in dd.items()} == {"train": 2, "test": 1}
    assert list(hf.from_dataset(dd["test"])) == [_rec(SAMPLES["preference"][0])]
    with pytest.raises(UsageError, match=r"^from_dataset takes one split"):
        list(hf.from_dataset(dd))


def test_mixed_kinds_and_empty_input_are_usage_errors() -> None:
    with pytest.raises(UsageError, match=r"^records of several kinds \(demo, prompt\)"):
        hf.to_dataset([_rec(SAMPLES["demo"][0]), _rec(SAMPLES["prompt"][0])])
    with pytest.raises(UsageError, match=r"^no records, and no kind="):
        hf.to_dataset([])
    assert hf.to_dataset([], kind="demo").num_rows == 0


def test_bad_row_is_a_record_error_with_its_path() -> None:
    row = hf.record_to_row(_rec(SAMPLES["preference"][0]))
    row["chosen"] = row["rejected"]
    with pytest.raises(RecordError, match=r"^chosen and rejected are identical"):
        hf.row_to_record(row)
    with pytest.raises(UsageError, match=r"^not a dialogkit dataset row: `kind` is None"):
        hf.row_to_record({"text": "x"})


def test_extra_columns_go_to_metadata() -> None:
    row = hf.record_to_row(_rec(SAMPLES["prompt"][0]))
    row["difficulty"] = 3
    assert hf.row_to_record(row).metadata == {"solution": "42", "difficulty": 3}


def test_iterable_from_a_file_streams(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(d) + "\n" for d in SAMPLES["unpaired"]))
    ids = hf.to_iterable_dataset(src)
    back = list(hf.from_dataset(ids))
    assert [r.label for r in back] == [False, True]
    assert back[0].source is not None and back[0].source.line == 1


def test_import_dialogkit_does_not_import_datasets() -> None:
    code = "import sys, dialogkit, dialogkit.hf, dialogkit.cli; print('datasets' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------------------------------------
# reading datasets as an input (``dialogkit convert hf:... / DIR``)


def test_parse_hf_spec() -> None:
    assert hf.parse_hf_spec("hf:o/n") == ("o/n", None, None)
    assert hf.parse_hf_spec("hf:o/n:cfg@v1.0") == ("o/n", "cfg", "v1.0")
    assert hf.parse_hf_spec("hf:o/n@refs/pr/1") == ("o/n", None, "refs/pr/1")
    with pytest.raises(UsageError, match=r"^expected hf:OWNER/NAME\[:CONFIG\]\[@REVISION\]"):
        hf.parse_hf_spec("hf:a/b/c")


def test_read_save_to_disk_folder_of_canonical_records(tmp_path: Path) -> None:
    recs = [_rec(d) for d in SAMPLES["comparison"]]
    hf.to_dataset({"train": recs[:1], "test": recs[1:]}).save_to_disk(str(tmp_path / "d"))
    rows = list(hf.iter_hf_rows(str(tmp_path / "d")))
    assert [n for _, n in rows] == [1, 2]
    assert rows[0][0]["kind"] == "comparison" and rows[0][0]["ranking"] == [1, 0, None]
    back = list(api.read(str(tmp_path / "d")))
    assert [r.model_dump(exclude={"source"}) for r in back] == [
        r.model_dump(exclude={"source"}) for r in recs]


def test_read_save_to_disk_of_a_foreign_dataset(tmp_path: Path) -> None:
    ds = datasets.Dataset.from_list([{"id": "1", "text": "hi", "meta": {"x": 1}}])
    ds.save_to_disk(str(tmp_path / "f"))
    assert list(hf.iter_hf_rows(str(tmp_path / "f"))) == [
        ({"id": "1", "text": "hi", "meta": {"x": 1}}, 1)]


def test_read_parquet_data_folder(tmp_path: Path) -> None:
    recs = [_rec(d) for d in SAMPLES["demo"]]
    (tmp_path / "data").mkdir()
    hf.to_dataset(recs).to_parquet(str(tmp_path / "data" / "train-00000-of-00001.parquet"))
    back = list(api.read(str(tmp_path)))
    assert [r.model_copy(update={"source": None}) for r in back] == recs
    assert back[1].source is not None and back[1].source.line == 2


def test_read_split_folder_of_jsonl(tmp_path: Path) -> None:
    (tmp_path / "test.jsonl").write_text(json.dumps(SAMPLES["demo"][1]) + "\n")
    (tmp_path / "train.jsonl").write_text(json.dumps(SAMPLES["demo"][0]) + "\n")
    rows = list(hf.iter_hf_rows(str(tmp_path)))
    assert [(r["prompt"], n) for r, n in rows] == [("Say hi", 1), ("p", 2)]
    assert [r["prompt"] for r, _ in hf.iter_hf_rows(str(tmp_path), split="test")] == ["p"]


def test_missing_folder_and_offline_hub_id() -> None:
    with pytest.raises(UsageError, match=r"^No such folder: nope/x$"):
        list(hf.iter_hf_rows("nope/x"))
    with pytest.raises(hf.HubError, match=r"^cannot load hf:someone/missing: "):
        list(hf.iter_hf_rows("hf:someone/missing"))
