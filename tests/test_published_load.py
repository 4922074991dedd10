"""Published folders load as they are: ``convert X --to F``, then ``publish --to F``, then
``datasets.load_dataset(DIR)`` gives the converted file's rows (same columns, same values, no
added null keys), here and under the oldest and newest supported ``datasets`` releases, each
in its own virtual environment (.ci/run makes them; DIALOGKIT_DATASETS_PYTHONS lists their
interpreters)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dialogkit import api, write
from dialogkit.io import read_rows
from dialogkit.models import Message, PromptOnly
from tests.conftest import ROOT, shared_file

datasets = pytest.importorskip("datasets")
hub = pytest.importorskip("dialogkit.hub")

# (case, sample under ../shared/data, input format, output format)
CASES = [
    ("sft-japanese", ("dolly_ja", "databricks-dolly-15k-ja_00000-00299.jsonl"), "dolly", "trl"),
    ("sft-tool-calls", ("sharegpt", "glaive_toolcall_en_demo_llamafactory_first300.json"),
     "sharegpt", "trl"),
    ("preference", ("hh_rlhf", "harmless-base_test_sample300.jsonl.gz"), "hh-rlhf",
     "trl-preference"),
    ("unpaired", ("preference_pairs", "kto_en_demo_llamafactory_first300.json"), "llamafactory",
     "trl-unpaired"),
    ("prompt", None, "trl-prompt", "trl-prompt"),
    ("canonical", ("dolly_en", "databricks-dolly-15k_first12.jsonl"), "dolly", "dialogkit"),
]
# the cases whose rows all have the same keys: nothing may load as null that was not there
HOMOGENEOUS = {"sft-japanese", "preference", "unpaired", "prompt"}


def _rows(path: Path) -> list[Any]:
    return [r.data for r in read_rows(path)]


def _at(value: Any, path: list[str], fn: Any) -> Any:
    """``value`` with ``fn`` applied at a layout path (``a[].b``)."""
    if value is None:
        return None
    if not path:
        return fn(value)
    head, rest = path[0], path[1:]
    if head == "[]":
        return [_at(v, rest, fn) for v in value]
    return {**value, head: _at(value[head], rest, fn)} if head in value else value


def _split_path(path: str) -> list[str]:
    out: list[str] = []
    for part in path.split("."):
        name, _, lists = part.partition("[]")
        out.append(name)
        out += ["[]"] * (part.count("[]"))
    return out


def _strip_added_nulls(loaded: Any, want: Any) -> Any:
    """``loaded`` without the null keys that ``want`` does not have (a key other rows use)."""
    if isinstance(loaded, dict) and isinstance(want, dict):
        return {k: _strip_added_nulls(v, want.get(k)) for k, v in loaded.items()
                if not (v is None and k not in want)}
    if isinstance(loaded, list) and isinstance(want, list) and len(loaded) == len(want):
        return [_strip_added_nulls(a, b) for a, b in zip(loaded, want, strict=True)]
    return loaded


def _decoded(row: dict[str, Any], json_paths: list[str]) -> dict[str, Any]:
    for path in json_paths:
        row = _at(row, _split_path(path), json.loads)
    return row


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """case -> (folder, converted rows, the config's json paths and nullable keys)."""
    root = tmp_path_factory.mktemp("published")
    out: dict[str, Any] = {}
    for case, sample, fmt_in, fmt_out in CASES:
        if sample is None:  # prompts of our own, with a system turn and Japanese text
            src = root / f"{case}.src.jsonl"
            write([PromptOnly(prompt=[Message(role="system", content="Answer briefly."),
                                      Message(role="user", content=q)])
                   for q in ("What is 2+2?", "日本の首都はどこですか？", "Name a colour.")],
                  src, format="trl-prompt")
        else:
            src = shared_file(*sample)
        converted = root / f"{case}.jsonl"
        api.convert(str(src), str(converted), from_=fmt_in, to=fmt_out, jobs=1, on_error="skip")
        folder = root / case
        res = hub.export_folder([str(converted)], folder, format=fmt_out, to=fmt_out)
        assert [c.format for c in res.configs] == [fmt_out]
        cfg = res.configs[0]
        want = _rows(converted)
        if fmt_out == "dialogkit":  # provenance goes to the card, into a column only if asked
            want = [{k: v for k, v in r.items() if k != "source"} for r in want]
        out[case] = (folder, want, cfg.layout.json_columns(),
                     cfg.layout.nullable_keys(), cfg.name)
    return out


def _check(case: str, loaded: dict[str, Any], published: dict[str, Any]) -> None:
    folder, want, json_paths, nullable, config = published[case]
    assert list(loaded) == [config]
    rows = loaded[config]["train"]
    assert len(rows) == len(want)
    got = [_strip_added_nulls(_decoded(r, json_paths), w) for r, w in zip(rows, want, strict=True)]
    assert got == want
    if case in HOMOGENEOUS:
        assert nullable == []
        assert [_decoded(r, json_paths) for r in rows] == want  # nothing was stripped


@pytest.mark.parametrize("case", [c[0] for c in CASES])
def test_load_dataset_gives_the_converted_rows(case: str, published: dict[str, Any]) -> None:
    folder = published[case][0]
    dd = datasets.load_dataset(str(folder))
    loaded = {published[case][4]: {s: list(dd[s]) for s in dd}}
    _check(case, loaded, published)


def test_the_layouts_chosen(published: dict[str, Any]) -> None:
    """What each case's columns are: typed where the data has one type, JSON text where not."""
    assert published["sft-japanese"][2:4] == ([], [])
    assert published["preference"][2:4] == ([], [])
    assert published["canonical"][2] == ["metadata"]
    tools = published["sft-tool-calls"]
    assert "tools" in tools[2]
    assert "messages[].tool_calls[].function.arguments" in tools[2]
    assert "messages[].tool_calls" in tools[3]  # only assistant turns that call have them


def _pythons() -> list[str]:
    env = os.environ.get("DIALOGKIT_DATASETS_PYTHONS", "")
    found = [str(ROOT / p) for p in env.split(os.pathsep) if p]
    if not found:
        found = sorted(str(p) for p in (ROOT / ".ci" / "venvs").glob("datasets-*/bin/python"))
    return found


@pytest.mark.slow
def test_every_supported_datasets_release_loads_them(published: dict[str, Any]) -> None:
    pythons = _pythons()
    if not pythons:
        if os.environ.get("CI"):
            pytest.fail("CI must make the datasets venvs (.ci/run): none found")
        pytest.skip("no datasets venvs (.ci/run makes them in .ci/venvs)")
    cases = list(published)
    versions = []
    for python in pythons:
        proc = subprocess.run(
            [python, str(ROOT / "tests" / "load_published.py"),
             *[str(published[c][0]) for c in cases]],
            capture_output=True, text=True, timeout=600,
            env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
                 "PYTHONPATH": ""})
        assert proc.returncode == 0, proc.stderr[-3000:]
        doc = json.loads(proc.stdout)
        versions.append(doc["version"])
        for case in cases:
            _check(case, doc["folders"][str(published[case][0])], published)
    assert len(versions) >= 2 or not os.environ.get("CI"), versions
    print("datasets releases checked:", versions, file=sys.stderr)


# ---------------------------------------------------------------------------------------------
# images: embedded as datasets.Image(), decoded on load, read back by from_dataset


MM = ("multimodal", "mllm_demo.json")


@pytest.fixture(scope="module")
def images_folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Any]]:
    """mllm_demo published --to trl, and the (width, height, mode) of each row's images."""
    pil = pytest.importorskip("PIL.Image")
    src = shared_file(*MM)
    folder = tmp_path_factory.mktemp("images") / "hub"
    res = hub.export_folder([str(src)], folder, to="trl")
    assert res.configs[0].layout.feature_dict()["images"] == [{"_type": "Image"}]
    sizes = []
    for row in json.loads(src.read_text(encoding="utf-8")):
        row_sizes = []
        for name in row["images"]:
            with pil.open(src.parent / name) as im:
                row_sizes.append([im.size[0], im.size[1], im.mode])
        sizes.append(row_sizes)
    return folder, sizes


def test_images_load_decoded_and_read_back(images_folder: tuple[Path, list[Any]]) -> None:
    from dialogkit import read
    from dialogkit.hf import from_dataset

    folder, sizes = images_folder
    ds = datasets.load_dataset(str(folder), split="train")
    assert isinstance(ds.features["images"].feature, datasets.Image)
    assert [[[im.size[0], im.size[1], im.mode] for im in r["images"]] for r in ds] == sizes
    # a text-only turn is one text part where other turns have parts
    assert ds[0]["messages"][1]["content"] == [
        {"type": "text", "text": "They're Kane and Gretzka from Bayern Munich."}]
    back = list(from_dataset(ds, format="trl"))
    src = list(read(shared_file(*MM)))
    assert [[m.text for m in r.messages] for r in back] == [
        [m.text for m in r.messages] for r in src]
    first = back[0].messages[0].content[0]
    assert (first.type, first.mime_type) == ("image", "image/jpeg")
    with open(shared_file("multimodal", "mllm_demo_data", "1.jpg"), "rb") as f:
        import base64

        assert base64.b64decode(first.data) == f.read()  # the very bytes of the file


@pytest.mark.slow
def test_every_supported_datasets_release_decodes_the_images(
        images_folder: tuple[Path, list[Any]]) -> None:
    pythons = _pythons()
    if not pythons:
        if os.environ.get("CI"):
            pytest.fail("CI must make the datasets venvs (.ci/run): none found")
        pytest.skip("no datasets venvs (.ci/run makes them in .ci/venvs)")
    folder, sizes = images_folder
    for python in pythons:
        proc = subprocess.run([python, str(ROOT / "tests" / "load_published.py"), str(folder)],
                              capture_output=True, text=True, timeout=600,
                              env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""})
        assert proc.returncode == 0, proc.stderr[-3000:]
        rows = json.loads(proc.stdout)["folders"][str(folder)]["default"]["train"]
        assert [[im["image"] for im in r["images"]] for r in rows] == sizes
