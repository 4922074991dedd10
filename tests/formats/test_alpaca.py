"""alpaca: demos, history rows as conversations, seed tasks, exact errors, real round trips."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import dialogkit
from dialogkit.errors import RecordError
from dialogkit.models import (
    Conversation,
    InstructionDemo,
    Message,
    PreferencePair,
    ToolCall,
    TrainerDialogue,
    TrainerMessage,
)
from dialogkit.registry import Options, WriteContext, get_format
from tests.conftest import shared_file

FMT = get_format("alpaca")


def read_all(row: Any, opts: Options | None = None) -> list[Any]:
    return list(FMT.read_row(row, opts or Options()))


def read_one(row: Any, opts: Options | None = None) -> Any:
    (rec,) = read_all(row, opts)
    return rec


def error_of(row: Any) -> str:
    """The full message of the error reading ``row`` through the public API."""
    with pytest.raises(RecordError) as info:
        list(dialogkit.read([row], format="alpaca"))
    return str(info.value)


def plain(records: list[Any]) -> list[dict[str, Any]]:
    """Records without provenance (a round trip changes file and line, nothing else)."""
    return [r.model_dump(exclude={"source"}) for r in records]


# --- reading -------------------------------------------------------------------------------


def test_demo_fields_and_empty_input_is_none() -> None:
    rec = read_one({"instruction": "Say hi", "input": "", "output": "Hi"})
    assert isinstance(rec, InstructionDemo)
    assert (rec.prompt, rec.input, rec.response, rec.system, rec.id) == (
        "Say hi", None, "Hi", None, None)
    assert rec.metadata == {}


def test_system_id_and_extra_fields() -> None:
    row = {"instruction": "a", "input": "b", "output": "c", "system": "", "id": "x1",
           "text": "### rendered"}
    rec = read_one(row)
    assert (rec.input, rec.system, rec.id) == ("b", "", "x1")
    assert rec.metadata == {"text": "### rendered"}
    assert FMT.write_record(rec, WriteContext()) == {
        "instruction": "a", "input": "b", "output": "c", "system": "", "id": "x1",
        "text": "### rendered"}


def test_missing_input_is_written_back_as_empty_string() -> None:
    rec = read_one({"instruction": "a", "output": "c"})
    assert rec.input is None
    out = FMT.write_record(rec, WriteContext())
    assert out == {"instruction": "a", "input": "", "output": "c"}
    assert plain(read_all(out)) == plain([rec])


def test_empty_history_is_a_demo_and_round_trips() -> None:
    row = {"instruction": "a", "input": "", "output": "c", "history": []}
    rec = read_one(row)
    assert isinstance(rec, InstructionDemo)
    assert rec.metadata == {"history": []}
    assert FMT.write_record(rec, WriteContext()) == row


def test_history_row_is_a_conversation() -> None:
    row = {"instruction": "And 3+3?", "input": "quickly", "output": "6", "system": "Be brief.",
           "history": [["2+2?", "4"], ["1+1?", "2"]]}
    rec = read_one(row)
    assert isinstance(rec, Conversation)
    assert [(m.role, m.content) for m in rec.messages] == [
        ("system", "Be brief."), ("user", "2+2?"), ("assistant", "4"), ("user", "1+1?"),
        ("assistant", "2"), ("user", "And 3+3?\n\nquickly"), ("assistant", "6")]
    assert rec.metadata == {"input": "quickly"}
    assert FMT.write_record(rec, WriteContext()) == row


def test_join_option_is_used_both_ways() -> None:
    opts = Options(join="\nInput:\n")
    row = {"instruction": "Sum", "input": "1 2", "output": "3", "history": [["hi", "hello"]]}
    rec = read_one(row, opts)
    assert rec.messages[2].content == "Sum\nInput:\n1 2"
    assert FMT.write_record(rec, WriteContext(options=opts)) == row
    # written with another join the split no longer matches: the whole turn is the instruction
    ctx = WriteContext()
    out = FMT.write_record(rec, ctx)
    assert (out["instruction"], out["input"]) == ("Sum\nInput:\n1 2", "")
    assert ctx.dropped == {"input": 1}


def test_history_empty_turn_follows_the_policy() -> None:
    row = {"instruction": "q", "input": "", "output": "a", "history": [["", "x"]]}
    assert error_of(row) == (
        "empty turn (use --empty-turn drop or keep to accept it) - at $.history[0][0] "
        "(<rows>:1, format=alpaca)")
    rec = read_one(row, Options(empty_turn="keep"))
    assert rec.messages[0].content == ""


def test_seed_task_one_demo_per_instance() -> None:
    row = {"id": "seed_task_9", "name": "n", "instruction": "Classify",
           "instances": [{"input": "a", "output": "x"}, {"input": "", "output": "y"}],
           "is_classification": True}
    demos = read_all(row)
    assert [(d.id, d.input, d.response) for d in demos] == [
        ("seed_task_9#0", "a", "x"), ("seed_task_9#1", None, "y")]
    assert demos[0].metadata == {"name": "n", "is_classification": True}


def test_seed_task_with_a_bad_instance_yields_nothing() -> None:
    row = {"id": "s", "instruction": "i",
           "instances": [{"input": "", "output": "x"}, {"input": ""}]}
    assert list(dialogkit.read([row], format="alpaca", on_error="skip")) == []
    assert error_of(row) == (
        "missing required field `output` - at $.instances[1].output (<rows>:1, format=alpaca)")
    assert error_of({"instruction": "i", "instances": []}) == (
        "instances is empty - at $.instances (<rows>:1, format=alpaca)")


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"instruction": "a", "input": ""}, "missing required field `output` - at $.output"),
        ({"input": "", "output": "c"}, "missing required field `instruction` - at $.instruction"),
        ({"instruction": "a", "input": "", "output": 3}, "Expected `str`, got `int` - at $.output"),
        ({"instruction": "a", "input": ["x"], "output": "c"},
         "Expected `str`, got `array` - at $.input"),
        ({"instruction": "a", "output": "c", "system": 1},
         "Expected `str`, got `int` - at $.system"),
        ({"instruction": "a", "output": "c", "history": "q"},
         "Expected `array`, got `str` - at $.history"),
        ({"instruction": "a", "output": "c", "history": [["q", "a", "x"]]},
         "Expected a [user, assistant] pair, got an array of 3 - at $.history[0]"),
        ({"instruction": "a", "output": "c", "history": [{"q": "a"}]},
         "Expected a [user, assistant] pair, got `object` - at $.history[0]"),
        ({"instruction": "a", "output": "c", "history": [["q", None]]},
         "Expected `str`, got `null` - at $.history[0][1]"),
        (["a", "b"], "Expected `object`, got `array` - at $"),
    ],
)
def test_exact_errors(row: Any, message: str) -> None:
    assert error_of(row) == f"{message} (<rows>:1, format=alpaca)"


# --- writing -------------------------------------------------------------------------------


def msgs(*pairs: tuple[str, str]) -> list[Message]:
    return [Message(role=r, content=c) for r, c in pairs]  # type: ignore[arg-type]


def test_demo_carries_category_and_labeler_as_columns_or_drops_them() -> None:
    demo = InstructionDemo(prompt="p", input="i", response="r", category="qa", labeler="L")
    ctx = WriteContext()
    assert FMT.write_record(demo, ctx) == {"instruction": "p", "input": "i", "output": "r",
                                           "category": "qa", "labeler": "L"}
    assert ctx.dropped == {}
    ctx = WriteContext(options=Options(keep_metadata=False))
    assert FMT.write_record(demo, ctx) == {"instruction": "p", "input": "i", "output": "r"}
    assert ctx.dropped == {"category": 1, "labeler": 1}


def test_conversation_without_history() -> None:
    conv = Conversation(id="c1", messages=msgs(("user", "u"), ("assistant", "a")),
                        metadata={"lang": "en"})
    out = FMT.write_record(conv, WriteContext())
    assert out == {"instruction": "u", "input": "", "output": "a", "id": "c1", "lang": "en"}
    assert plain(read_all(out)) == [
        InstructionDemo(id="c1", prompt="u", response="a", metadata={"lang": "en"}).model_dump(
            exclude={"source"})]


def test_trainer_dialogue_is_written_as_a_conversation() -> None:
    td = TrainerDialogue(messages=[TrainerMessage(role="user", content="u", author="trainer"),
                                   TrainerMessage(role="assistant", content="a", author="model")],
                         trainer_id="t7")
    ctx = WriteContext()
    assert FMT.write_record(td, ctx) == {"instruction": "u", "input": "", "output": "a",
                                         "trainer_id": "t7"}
    assert ctx.dropped == {"author": 1}


@pytest.mark.parametrize(
    ("messages", "message"),
    [
        (msgs(("user", "u"), ("user", "v"), ("assistant", "a")),
         "format 'alpaca' needs user/assistant turns in turn after an optional system turn; "
         "expected 'assistant', got 'user' - at $.messages[1].role"),
        (msgs(("system", "s"), ("assistant", "a")),
         "format 'alpaca' needs user/assistant turns in turn after an optional system turn; "
         "expected 'user', got 'assistant' - at $.messages[1].role"),
        (msgs(("user", "u"), ("assistant", "a"), ("user", "v")),
         "format 'alpaca' needs the last turn to be an assistant turn - at $.messages[2]"),
        (msgs(("system", "s"),),
         "format 'alpaca' needs the last turn to be an assistant turn - at $.messages[0]"),
    ],
)
def test_conversation_errors(messages: list[Message], message: str) -> None:
    conv = Conversation.model_construct(kind="conversation", messages=messages, metadata={},
                                        id=None, source=None, tools=None)
    with pytest.raises(RecordError) as info:
        FMT.write_record(conv, WriteContext())
    assert str(info.value) == message


def test_tool_calls_and_other_kinds_are_rejected() -> None:
    call = ToolCall(name="f", arguments="{}")
    conv = Conversation(messages=[Message(role="user", content="u"),
                                  Message(role="assistant", tool_calls=[call])])
    with pytest.raises(RecordError) as info:
        FMT.write_record(conv, WriteContext())
    assert str(info.value) == "format 'alpaca' cannot hold tool calls - at $.messages[1].tool_calls"
    pair = PreferencePair(prompt=msgs(("user", "u")), chosen=msgs(("assistant", "a")),
                          rejected=msgs(("assistant", "b")))
    with pytest.raises(RecordError) as info:
        FMT.write_record(pair, WriteContext())
    assert str(info.value) == (
        "format 'alpaca' holds SFT conversations, not a record of kind 'preference'")


def test_metadata_key_colliding_with_a_column_is_dropped() -> None:
    demo = InstructionDemo(prompt="p", response="r", metadata={"output": "stale", "x": 1})
    ctx = WriteContext()
    assert FMT.write_record(demo, ctx) == {"instruction": "p", "input": "", "output": "r", "x": 1}
    assert ctx.dropped == {"output": 1}


# --- detection -----------------------------------------------------------------------------


def test_detect_scores() -> None:
    assert FMT.detect({"instruction": "a", "input": "", "output": "b"}) == 2
    assert FMT.detect({"instruction": "a", "instances": []}) == 2
    assert FMT.detect({"instruction": "a", "input": "", "output": ["b", "c"]}) == 0  # K-way
    assert FMT.detect({"instruction": "a", "input": "", "output_1": "b", "output_2": "c"}) == 0
    assert FMT.detect({"instruction": "a", "context": "", "response": "b"}) == 0  # dolly
    assert FMT.detect({"prompt": "p", "instruction": "i", "input": "", "response": "r",
                       "target": "t"}) == 0  # self-instruct predictions
    assert FMT.detect("text") == 0


# --- real samples --------------------------------------------------------------------------

REAL = [
    ("alpaca_en_demo_llamafactory_first300.json", 300),
    ("alpaca_tiny_torchtune.json", 100),
    ("seed_tasks.jsonl", 175),
]


@pytest.mark.parametrize(("name", "count"), REAL)
def test_auto_detects_alpaca(name: str, count: int) -> None:
    rep = dialogkit.validate(shared_file("alpaca", name))
    assert (rep.format_in, rep.read, rep.written, rep.rejected) == ("alpaca", count, count, 0)


@pytest.mark.parametrize(("name", "count"), REAL)
def test_round_trip(name: str, count: int, tmp_path: Path) -> None:
    path = shared_file("alpaca", name)
    first = list(dialogkit.read(path, format="alpaca"))
    out = tmp_path / "out.json"
    rep = dialogkit.write(first, out, format="alpaca")
    assert (rep.written, rep.rejected, dict(rep.fields_dropped)) == (count, 0, {})
    second = list(dialogkit.read(out, format="alpaca"))
    assert len(second) == count
    assert plain(second) == plain(first)
    if name.endswith(".json"):  # plain Alpaca rows come back as the same values
        assert json.loads(out.read_bytes()) == json.loads(path.read_bytes())


def test_llamafactory_sample_values() -> None:
    recs = list(dialogkit.read(shared_file("alpaca", "alpaca_en_demo_llamafactory_first300.json")))
    assert sum(r.input is None for r in recs) == 179
    rec = recs[5]
    assert rec.prompt == "Given the parameters of a triangle, find out its perimeter."
    assert rec.input == "Side 1 = 4\nSide 2 = 6\nSide 3 = 8"
    assert rec.response.startswith("The perimeter of a triangle is the sum of the lengths")
    assert rec.response.endswith("Therefore, the perimeter of the triangle is 18 units.")
    assert rec.metadata == {}


def test_torchtune_sample_keeps_text_in_metadata() -> None:
    recs = list(dialogkit.read(shared_file("alpaca", "alpaca_tiny_torchtune.json")))
    assert sum(r.input is None for r in recs) == 54
    rec = recs[5]
    assert (rec.prompt, rec.input, rec.response) == (
        "Identify the odd one out.", "Twitter, Instagram, Telegram", "Telegram")
    assert rec.metadata == {"text": (
        "Below is an instruction that describes a task, paired with an input that provides "
        "further context. Write a response that appropriately completes the request.\n\n"
        "### Instruction:\nIdentify the odd one out.\n\n### Input:\nTwitter, Instagram, "
        "Telegram\n\n### Response:\nTelegram")}
    # the original spacing is kept: "1.Eat", and a space before "\n"
    assert recs[0].response.startswith(
        "1.Eat a balanced diet and make sure to include plenty of fruits and vegetables. \n2. ")


def test_seed_sample_values() -> None:
    recs = list(dialogkit.read(shared_file("alpaca", "seed_tasks.jsonl")))
    assert sum(r.metadata["is_classification"] for r in recs) == 26
    assert sum(r.input is None for r in recs) == 50
    rec = recs[2]
    assert rec.id == "seed_task_2"
    assert rec.prompt == "Generate a one-sentence description for each of the following people."
    assert rec.input == "- Brack Obama\n- Elon Musk\n- Taylor Swift"
    assert rec.response.endswith("- Taylor Alison Swift is an American singer-songwriter.")
    assert rec.metadata == {"name": "one_sentence_description", "is_classification": False}
    assert rec.source is not None and rec.source.line == 3


def test_media_columns_read_as_parts_and_written_back_as_placeholders() -> None:
    rows = [{"instruction": "<image>Describe", "input": "", "output": "A cat.",
             "images": ["https://x/a.jpg"]},
            {"instruction": "Compare", "input": "<image><image>", "output": "Same.",
             "system": "Be brief.", "images": ["https://x/a.jpg", "https://x/b.jpg"]}]
    recs = list(dialogkit.read(rows, "alpaca"))
    assert [r.kind for r in recs] == ["conversation", "conversation"]
    assert [p.url for p in recs[1].messages[1].media] == ["https://x/a.jpg", "https://x/b.jpg"]
    ctx = WriteContext()
    assert list(get_format("alpaca").write(recs, ctx)) == rows
    assert ctx.media == Counter({"image.read": 3, "image.written": 3})
    with pytest.raises(RecordError, match="the images column has 2 entries but the messages "
                                          "have 1 <image> placeholders"):
        list(dialogkit.read([{**rows[0], "images": ["a", "b"]}], "alpaca"))
