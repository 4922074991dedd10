"""Media parts end to end: the real multimodal and LLaMA-Factory v1 files through every chat
format and back, media references resolvable from the output, ``--copy-media``, ``--check-media``.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import dialogkit
from dialogkit.errors import RecordError
from dialogkit.media import media_source, record_media
from tests.conftest import shared_file

MULTIMODAL = ["mllm_demo.json", "mllm_video_demo.json", "mllm_audio_demo.json",
              "mllm_video_audio_demo.json"]
V1 = ["reason_tool_use_demo_50.jsonl", "v1_sft_demo_first300.jsonl", "v1_dpo_demo.jsonl",
      "v1_multimodal_demo.jsonl"]
TARGETS = ["openai", "trl", "llamafactory-v1", "sharegpt"]
# what each target has no place for (tallied in the report as dropped, never silently)
NO_PLACE = {"openai": {"weight"}, "trl": {"weight"}, "llamafactory-v1": set(),
            "sharegpt": {"weight", "reasoning"}, "openai-preference": {"weight"},
            "trl-preference": {"weight"}, "llamafactory": {"weight"}}
PAIR_TARGETS = {"openai": "openai-preference", "trl": "trl-preference",
                "llamafactory-v1": "llamafactory-v1", "sharegpt": "llamafactory"}


def public(rec: Any, drop: set[str], keep_01: bool = False) -> dict[str, Any]:
    """A record as data without provenance, private layout markers and the fields in ``drop``
    (with ``keep_01``, a weight OpenAI can hold, 0/1 on an assistant turn, is kept)."""
    data = rec.model_dump(mode="json", exclude_none=True, exclude={"source"})
    data["metadata"] = {k: v for k, v in data["metadata"].items() if not k.startswith("_")}
    for name in ("messages", "prompt", "chosen", "rejected"):
        for m in data.get(name, ()):
            for key in drop:
                if key == "weight" and keep_01 and m["role"] == "assistant" and (
                    m.get("weight") in (0, 1)
                ):
                    continue
                m.pop(key, None)
            for call in m.get("tool_calls", ()):
                call.pop("arguments_form", None)
    return data


def paths(folder: str, files: list[str]) -> list[Path]:
    return [shared_file(folder, f) for f in files]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize(("folder", "name"), [("multimodal", f) for f in MULTIMODAL]
                         + [("llamafactory_v1", f) for f in V1])
def test_real_files_through_each_format_and_back(tmp_path: Path, folder: str, name: str,
                                                 target: str) -> None:
    src = shared_file(folder, name)
    if name == "v1_dpo_demo.jsonl":  # pairs: each target's preference layout
        target = PAIR_TARGETS[target]
    original = list(dialogkit.read(src))
    out = tmp_path / "out" / f"data.{target}.jsonl"
    out.parent.mkdir()
    opts: dict[str, Any] = {"reasoning_key": "reasoning_content"} if target == "openai" else {}
    rep = dialogkit.convert(src, out, to=target, **opts)
    assert (rep.read, rep.written, rep.rejected) == (len(original), len(original), 0)
    back = list(dialogkit.read(out, target))
    drop = NO_PLACE[target]
    keep = target == "openai"
    assert [public(r, drop, keep) for r in back] == [public(r, drop, keep) for r in original]
    media = [p for r in original for p in record_media(r)]
    n = Counter(p.type for p in media)
    assert {k: v for k, v in rep.media.items() if k.endswith(".written")} == {
        f"{k}.written": v for k, v in n.items()}
    for p in (p for r in back for p in record_media(r)):  # references resolve from the output
        assert p.path is not None and os.path.isabs(p.path)
    if folder == "multimodal":
        row = json.loads(out.read_text().splitlines()[0])
        ref = _first_ref(row, target)
        assert not os.path.isabs(ref)
        assert (out.parent / ref).resolve() == (src.parent / "mllm_demo_data" / Path(
            media[0].path).name).resolve()  # type: ignore[arg-type]


def _first_ref(row: dict[str, Any], target: str) -> str:
    if target in ("trl", "sharegpt"):
        return next(row[c][0] for c in ("images", "videos", "audios") if c in row)
    msgs = row["messages"]
    for m in msgs:
        for p in m["content"] if isinstance(m["content"], list) else ():
            if target == "openai" and p["type"].endswith("_url"):
                return p[p["type"]]["url"]  # type: ignore[no-any-return]
            if target == "llamafactory-v1" and p["type"].endswith("_url"):
                return p["value"]  # type: ignore[no-any-return]
    raise AssertionError(row)


def test_placeholders_match_the_media_list() -> None:
    row = {"messages": [{"role": "user", "content": "<image><image>Same?"},
                        {"role": "assistant", "content": "Yes."}],
           "images": ["a.jpg"]}
    with pytest.raises(RecordError) as info:
        list(dialogkit.read([row]))
    assert str(info.value) == ("an <image> placeholder with no image: the row's images column "
                               "has none left for it - at $.messages[0].content "
                               "(<rows>:1, format=sharegpt)")
    row["images"] = ["a.jpg", "b.jpg", "c.jpg"]
    with pytest.raises(RecordError) as info:
        list(dialogkit.read([row]))
    assert info.value.rule == "media_count"
    assert info.value.reason == (
        "the images column has 3 entries but the messages have 2 <image> placeholders")


def test_sharegpt_placeholders_round_trip_byte_for_byte(tmp_path: Path) -> None:
    src = shared_file("multimodal", "mllm_demo.json")
    local = tmp_path / "mllm_demo.json"
    shutil.copy(src, local)
    out = tmp_path / "again.json"
    dialogkit.convert(local, out, to="sharegpt", container="json")
    assert json.loads(out.read_text()) == json.loads(src.read_text())


def test_copy_media_makes_a_self_contained_folder(tmp_path: Path) -> None:
    src = shared_file("multimodal", "mllm_demo.json")
    out_dir = tmp_path / "ds"
    out_dir.mkdir()
    rep = dialogkit.convert(src, out_dir / "train.jsonl", to="trl",
                            copy_media=str(out_dir / "media"))
    assert rep.media["image.written"] == 8
    moved = tmp_path / "elsewhere"
    shutil.move(str(out_dir), moved)
    rows = [json.loads(line) for line in (moved / "train.jsonl").read_text().splitlines()]
    assert rows[0]["images"] == ["media/mllm_demo_data/1.jpg", "media/mllm_demo_data/1.jpg"]
    back = list(dialogkit.read(moved / "train.jsonl", "trl"))
    files = [p.path for r in back for p in record_media(r)]
    assert len(files) == 8 and all(os.path.isfile(f) for f in files)  # type: ignore[arg-type]
    assert all(f.startswith(str(moved)) for f in files)  # type: ignore[union-attr]


def test_check_media_rejects_missing_files_and_media_root_rebases(tmp_path: Path) -> None:
    src = shared_file("multimodal", "mllm_video_demo.json")  # 1.mp4, 2.avi, 3.mp4 are absent
    rep = dialogkit.convert(src, tmp_path / "o.jsonl", to="openai", check_media=True,
                            on_error="skip")
    assert (rep.read, rep.written, rep.rejected) == (3, 0, 3)
    assert rep.rejected_by_reason == Counter({"media_missing": 3})
    assert rep.first_errors[0].startswith(
        f"video file not found: {src.parent / 'mllm_demo_data' / '1.mp4'} - at $.videos[0]")
    root = shared_file("multimodal", "mllm_demo_data").parent.parent / "multimodal"
    v1 = shared_file("llamafactory_v1", "v1_multimodal_demo.jsonl")
    recs = list(dialogkit.read(v1, media_root=str(root.parent / "llamafactory_v1")))
    assert recs[0].messages[0].media[0].path == str(
        root.parent / "llamafactory_v1" / "data" / "mllm_demo_data" / "1.jpg")


def test_media_sources() -> None:
    assert media_source("https://x/a.png") == {"url": "https://x/a.png"}
    assert media_source("data:image/png;base64,AAAA") == {"data": "AAAA",
                                                          "mime_type": "image/png"}
    assert media_source("dir/a.png") == {"path": "dir/a.png"}


def test_text_only_formats_count_media_as_dropped(tmp_path: Path) -> None:
    src = shared_file("multimodal", "mllm_audio_demo.json")
    rep = dialogkit.convert(src, tmp_path / "a.jsonl", to="dolly")
    assert rep.written == 3 and rep.fields_dropped["media.audio"] == 3
    rows = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    assert rows[0]["instruction"] == "What's that sound?"
    strict = dialogkit.convert(src, tmp_path / "b.jsonl", to="dolly", strict=True,
                               on_error="skip")
    assert (strict.written, strict.rejected_by_reason) == (0, Counter({"lossy": 3}))
    alpaca = dialogkit.convert(src, tmp_path / "c.json", to="alpaca")
    assert alpaca.media["audio.written"] == 3 and "media.audio" not in alpaca.fields_dropped
    assert json.loads((tmp_path / "c.json").read_text())[0]["instruction"] == (
        "<audio>What's that sound?")
