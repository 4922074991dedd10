"""alpaca-text: the Alpaca prompt template (English and Japanese) parsed back into demos."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

import dialogkit
from dialogkit.errors import RecordError
from dialogkit.formats.alpaca_text import render_alpaca
from dialogkit.registry import Options, WriteContext, get_format
from tests.conftest import shared_file

FMT = get_format("alpaca-text")


def test_llm_jp_japanese_sample(tmp_path: Path) -> None:
    path = shared_file("japanese_misc", "llm-jp-sft_example.jsonl")
    fmts: list[str] = []
    recs = list(dialogkit.api.iter_outcomes(path, on_format=lambda f: fmts.append(f.name)))
    assert fmts == ["alpaca-text"]
    assert len(recs) == 15
    assert (recs[0].prompt, recs[0].input, recs[0].response) == ("日本で一番高い山は？", None,
                                                                  "富士山")
    assert (recs[5].prompt, recs[5].response) == ("９＋７は？", "１６")
    out = tmp_path / "o.jsonl"
    dialogkit.convert(path, out, to="alpaca-text")
    original = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert [orjson.loads(line) for line in out.read_bytes().splitlines()] == original
    assert "富士山".encode() in out.read_bytes()


def test_torchtune_rendered_text_parses_to_its_own_columns() -> None:
    """torchtune's Alpaca copy carries each row rendered in `text`: the parts must match."""
    rows = orjson.loads(shared_file("alpaca", "alpaca_tiny_torchtune.json").read_bytes())
    recs = list(dialogkit.read([{"text": r["text"]} for r in rows], format="alpaca-text"))
    assert len(recs) == 100
    assert [(r.prompt, r.input or "") for r in recs] == [
        (row["instruction"], row["input"]) for row in rows]
    assert sum(r.input is not None for r in recs) == 46
    assert all(render_alpaca(r.prompt, r.input, r.response) == row["text"]
               for r, row in zip(recs, rows, strict=True))


def test_english_round_trip_with_input_and_a_header_inside_the_response() -> None:
    text = render_alpaca("Sum", "2 3", "5\n\n### Response:\nagain")
    (rec,) = dialogkit.read([{"text": text, "id": 7}], format="alpaca-text")
    assert (rec.prompt, rec.input, rec.response) == ("Sum", "2 3", "5\n\n### Response:\nagain")
    assert rec.metadata == {"id": 7}
    assert FMT.write_record(rec, WriteContext()) == {"text": text, "id": 7}


def test_writes_demos_in_either_language_and_drops_system() -> None:
    demo = dialogkit.InstructionDemo(prompt="首都は？", response="東京", system="S")
    ctx = WriteContext(options=Options(extra={"alpaca_text_lang": "ja"}))
    assert FMT.write_record(demo, ctx) == {
        "text": "以下は、タスクを説明する指示です。要求を適切に満たす応答を書きなさい。\n\n"
                "### 指示:\n首都は？\n\n### 応答:\n東京"}
    assert ctx.dropped == {"system": 1}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Hello", "the text does not start with a known Alpaca template preamble (English or "
                  "Japanese) - at $.text"),
        (render_alpaca("a", None, "b").replace("### Response:", "### Answer:"),
         "no '### Response:' header after the instruction - at $.text"),
        (render_alpaca("a", "x", "b").replace("### Input:", "### Context:"),
         "the preamble announces an input but there is no '### Input:' header - at $.text"),
    ],
)
def test_errors(text: str, message: str) -> None:
    with pytest.raises(RecordError) as info:
        list(FMT.read_row({"text": text}, Options()))
    assert str(info.value) == message
