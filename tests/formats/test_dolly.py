"""dolly: the en and ja variants, variant choice on write, exact errors, byte-exact Japanese."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

import dialogkit
from dialogkit.errors import RecordError, UsageError
from dialogkit.models import Conversation, InstructionDemo, Message
from dialogkit.registry import Options, WriteContext, get_format
from tests.conftest import shared_file

FMT = get_format("dolly")
EN = ("dolly_en", "databricks-dolly-15k_first12.jsonl")
JA = ("dolly_ja", "databricks-dolly-15k-ja_00000-00299.jsonl")


def read_one(row: Any) -> InstructionDemo:
    (rec,) = list(FMT.read_row(row, Options()))
    return rec


def error_of(row: Any) -> str:
    with pytest.raises(RecordError) as info:
        list(dialogkit.read([row], format="dolly"))
    return str(info.value)


def plain(records: list[Any]) -> list[dict[str, Any]]:
    return [r.model_dump(exclude={"source"}) for r in records]


def test_en_row() -> None:
    rec = read_one({"instruction": "i", "context": "", "response": "r", "category": "open_qa"})
    assert (rec.id, rec.prompt, rec.input, rec.response, rec.category) == (
        None, "i", None, "r", "open_qa")
    assert rec.metadata == {}


def test_ja_row_and_extra_fields() -> None:
    row = {"index": "7", "instruction": "質問", "input": "文脈", "output": "答え",
           "category": "closed_qa", "lang": "ja"}
    rec = read_one(row)
    assert (rec.id, rec.prompt, rec.input, rec.response, rec.category) == (
        "7", "質問", "文脈", "答え", "closed_qa")
    assert rec.metadata == {"lang": "ja"}


def test_variant_written_back_is_the_one_read() -> None:
    en = {"instruction": "i", "context": "c", "response": "r", "category": "qa"}
    ja = {"index": "0", "instruction": "i", "input": "", "output": "r", "category": "qa"}
    got = list(dialogkit.read([en, ja], format="dolly"))
    ctx = WriteContext()
    assert [FMT.write_record(r, ctx) for r in got] == [en, ja]


def test_variant_option_forces_the_layout() -> None:
    demo = InstructionDemo(id="5", prompt="p", input="x", response="r", category="c")
    assert FMT.write_record(demo, WriteContext()) == {  # not read by dolly: en
        "instruction": "p", "context": "x", "response": "r", "category": "c"}
    ja = WriteContext(options=Options(extra={"variant": "ja"}))
    assert FMT.write_record(demo, ja) == {
        "index": "5", "instruction": "p", "input": "x", "output": "r", "category": "c"}
    with pytest.raises(RecordError) as info:
        FMT.write_record(InstructionDemo(prompt="p", response="r"), ja)
    assert str(info.value) == (
        "variant 'ja' writes the record id as `index`, and this record has none - at $.id")
    with pytest.raises(UsageError, match=r"^variant must be one of auto, en, ja, got 'de'$"):
        FMT.write_record(demo, WriteContext(options=Options(extra={"variant": "de"})))


def test_en_drops_id_system_labeler_and_omits_missing_category() -> None:
    demo = InstructionDemo(id="5", prompt="p", response="r", system="s", labeler="L")
    ctx = WriteContext()
    assert FMT.write_record(demo, ctx) == {"instruction": "p", "context": "", "response": "r"}
    assert ctx.dropped == {"id": 1, "system": 1, "labeler": 1}


def test_single_turn_conversation_is_written_multi_turn_rejected() -> None:
    conv = Conversation(messages=[Message(role="user", content="u"),
                                  Message(role="assistant", content="a")])
    assert FMT.write_record(conv, WriteContext()) == {
        "instruction": "u", "context": "", "response": "a"}
    longer = Conversation(messages=[*conv.messages, *conv.messages])
    with pytest.raises(RecordError) as info:
        FMT.write_record(longer, WriteContext())
    assert str(info.value) == (
        "format 'dolly' holds one user turn and one assistant turn, got 2 of each - at $.messages")


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"instruction": "i", "context": "", "category": "c"},
         "missing required field `response` - at $.response"),
        ({"instruction": "i", "context": 1, "response": "r"},
         "Expected `str`, got `int` - at $.context"),
        ({"instruction": "i", "context": "", "response": "r", "category": ["a"]},
         "Expected `str`, got `array` - at $.category"),
        ({"index": 0, "instruction": "i", "input": "", "output": "o", "category": "c"},
         "Expected `str`, got `int` - at $.index"),
        ({"instruction": "i", "input": "", "output": "o", "category": "c"},
         "missing required field `index` - at $.index"),
        ({"index": "0", "instruction": None, "input": "", "output": "o"},
         "missing required field `instruction` - at $.instruction"),
    ],
)
def test_exact_errors(row: dict[str, Any], message: str) -> None:
    assert error_of(row) == f"{message} (<rows>:1, format=dolly)"


def test_detect_scores_beat_alpaca_on_dolly_ja() -> None:
    ja = {"index": "0", "instruction": "i", "input": "", "output": "o", "category": "c"}
    assert FMT.detect(ja) == 3
    assert get_format("alpaca").detect(ja) == 2
    assert FMT.detect({"instruction": "i", "context": "", "response": "r"}) == 3
    assert FMT.detect({"instruction": "i", "input": "", "output": "o"}) == 0  # alpaca
    assert FMT.detect({"prompt": "p", "instruction": "i", "input": "", "response": "r",
                       "target": "t"}) == 0


# --- real samples --------------------------------------------------------------------------


@pytest.mark.parametrize(("parts", "count"), [(EN, 12), (JA, 300)])
def test_auto_detects_dolly(parts: tuple[str, str], count: int) -> None:
    rep = dialogkit.validate(shared_file(*parts))
    assert (rep.format_in, rep.read, rep.written, rep.rejected) == ("dolly", count, count, 0)


@pytest.mark.parametrize(("parts", "count"), [(EN, 12), (JA, 300)])
def test_round_trip(parts: tuple[str, str], count: int, tmp_path: Path) -> None:
    path = shared_file(*parts)
    first = list(dialogkit.read(path, format="dolly"))
    out = tmp_path / "out.jsonl"
    rep = dialogkit.write(first, out, format="dolly")
    assert (rep.written, rep.rejected, dict(rep.fields_dropped)) == (count, 0, {})
    second = list(dialogkit.read(out, format="dolly"))
    assert plain(second) == plain(first)
    originals = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert [orjson.loads(line) for line in out.read_bytes().splitlines()] == originals


def test_en_sample_values() -> None:
    recs = list(dialogkit.read(shared_file(*EN)))
    assert sum(r.input is None for r in recs) == 5
    assert (recs[1].prompt, recs[1].input, recs[1].response, recs[1].category) == (
        "Which is a species of fish? Tope or Rope", None, "Tope", "classification")
    assert recs[0].input is not None and recs[0].input.endswith(
        "from hubs in Brisbane, Melbourne and Sydney.[4]")


def test_ja_sample_values() -> None:
    recs = list(dialogkit.read(shared_file(*JA)))
    assert [r.id for r in recs] == [str(i) for i in range(300)]
    assert sum(r.input is None for r in recs) == 220
    assert (recs[1].prompt, recs[1].input, recs[1].response, recs[1].category) == (
        "魚の種類はどっち？トープとロープ", None, "トープ", "classification")
    assert recs[299].prompt == "チームエフェクティブネスとは何か、説明できますか？"
    assert recs[299].category == "summarization"
    assert {r.category for r in recs} == {
        "open_qa", "general_qa", "classification", "brainstorming", "closed_qa",
        "information_extraction", "summarization", "creative_writing"}


def test_ja_written_bytes_match_the_original(tmp_path: Path) -> None:
    """The source is compact JSON with raw UTF-8, so the output is the same bytes per line,
    except that the source escapes "/" as "\\/" (13 lines), which orjson does not."""
    path = shared_file(*JA)
    out = tmp_path / "ja.jsonl"
    rep = dialogkit.convert(path, out, from_="auto", to="dolly")
    assert (rep.format_in, rep.written) == ("dolly", 300)
    original = path.read_bytes().splitlines()
    written = out.read_bytes().splitlines()
    assert sum(a == b for a, b in zip(original, written, strict=True)) == 287
    assert [a.replace(b"\\/", b"/") for a in original] == written
    assert b"\\u" not in out.read_bytes()
    assert "トープ".encode() in written[1]
