"""The ``openai`` chat format: messages, exact tool-call text, weights, the cookbook samples."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

import dialogkit
from dialogkit.api import iter_outcomes
from dialogkit.detect import detect_format
from dialogkit.errors import RecordError
from dialogkit.io import read_rows
from dialogkit.models import Conversation, InstructionDemo, TrainerDialogue, TrainerMessage
from dialogkit.registry import Options, Reject, WriteContext, get_format
from tests.conftest import shared_file

FMT = get_format("openai")
SAMPLES = [
    "openai_cookbook_toy_chat_fine_tuning.jsonl",
    "openai_cookbook_drone_training_first5.jsonl",
]


def read(rows: Any, **kw: Any) -> list[Any]:
    """Records without provenance, so records from different sources compare equal."""
    return [r.model_copy(update={"source": None}) for r in dialogkit.read(rows, "openai", **kw)]


def write(records: list[Any], ctx: WriteContext | None = None) -> list[Any]:
    ctx = ctx or WriteContext()
    return [orjson.loads(orjson.dumps(row)) for row in FMT.write(records, ctx)]


def error(row: dict[str, Any], **kw: Any) -> str:
    with pytest.raises(RecordError) as info:
        read([row], **kw)
    return str(info.value)


def msgs(*pairs: tuple[str, str]) -> list[dict[str, Any]]:
    return [{"role": r, "content": c} for r, c in pairs]


# --- hand-written rows -----------------------------------------------------------------------


def test_basic_row_and_metadata() -> None:
    row = {"messages": msgs(("user", "q"), ("assistant", "a")), "id": "r1",
           "parallel_tool_calls": True, "split": "train"}
    (rec,) = read([row])
    assert rec.id == "r1"
    assert [(m.role, m.content) for m in rec.messages] == [("user", "q"), ("assistant", "a")]
    assert rec.metadata == {"parallel_tool_calls": True, "split": "train"}
    assert write([rec]) == [{"messages": row["messages"], "parallel_tool_calls": True, "id": "r1",
                             "split": "train"}]


def test_weight_name_and_tool_answers() -> None:
    row = {"messages": [
        {"role": "user", "content": "What is 2+2?", "name": "ann"},
        {"role": "assistant", "content": "5", "weight": 0},
        {"role": "user", "content": "Check it."},
        {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {
            "name": "add", "arguments": "{\"a\": 2, \"b\": 2}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "4"},
        {"role": "assistant", "content": "4", "weight": 1},
    ], "tools": [{"type": "function", "function": {"name": "add", "parameters": {}}}]}
    (rec,) = read([row])
    assert rec.messages[0].name == "ann"
    assert [m.weight for m in rec.messages] == [None, 0, None, None, None, 1]
    assert rec.messages[3].content is None
    assert rec.messages[3].tool_calls[0].arguments == '{"a": 2, "b": 2}'
    assert rec.messages[4].tool_call_id == "c1"
    assert write([rec]) == [row]  # no `content` key on the tool-call message, text unchanged


def test_errors_have_exact_messages() -> None:
    assert error({"messages": [{"role": "user", "content": "q"},
                               {"role": "bot", "content": "a"}]}) == (
        "Expected one of 'system', 'user', 'assistant', 'tool', got 'bot' - at "
        "$.messages[1].role (<rows>:1, format=openai)")
    assert error({"messages": [{"role": "user", "content": "q", "lang": "en"},
                               {"role": "assistant", "content": "a"}]}) == (
        "Unexpected key 'lang' in a message (expected role, content, name, tool_calls, "
        "tool_call_id, weight, reasoning_content, reasoning, thinking) - at $.messages[0].lang "
        "(<rows>:1, format=openai)")
    assert error({"messages": [{"role": "user", "content": "q"},
                               {"role": "assistant", "content": "a", "weight": True}]}) == (
        "Expected 0 or 1, got True - at $.messages[1].weight (<rows>:1, format=openai)")
    assert error({"messages": [{"role": "user", "content": "q", "weight": 1},
                               {"role": "assistant", "content": "a"}]}) == (
        "weight is only allowed on assistant messages - at $.messages[0] (<rows>:1, format=openai)")
    assert error({"messages": [{"role": "user", "content": 3},
                               {"role": "assistant", "content": "a"}]}) == (
        "Expected `str`, `array` or `null`, got `int` - at $.messages[0].content "
        "(<rows>:1, format=openai)")
    assert error({"messages": [{"role": "user", "content": [{"type": "pdf", "text": "q"}]},
                               {"role": "assistant", "content": "a"}]}) == (
        "Expected one of 'text', 'image_url', 'input_audio', 'audio_url', 'video_url', 'image', "
        "'audio', 'video', got 'pdf' - at $.messages[0].content[0].type (<rows>:1, format=openai)")
    assert error({"messages": [{"role": "user", "content": "q"}, {"role": "assistant",
                  "tool_calls": [{"type": "function", "function": {"name": "f",
                                                                   "arguments": 3}}]}]}) == (
        "Expected `str` or `object`, got `int` - at $.messages[1].tool_calls[0].function"
        ".arguments (<rows>:1, format=openai)")
    assert error({"messages": [{"role": "user", "content": "q"}, {"role": "assistant",
                  "tool_calls": [{"type": "function", "function": {"name": "f",
                                                                   "arguments": "{x"}}]}]}) == (
        "the arguments of tool call 'f' are not valid JSON: Expecting property name enclosed in "
        "double quotes (char 1) - at $.messages[1].tool_calls[0].function.arguments "
        "(<rows>:1, format=openai)")
    assert error({"messages": [{"role": "user", "content": "q"}, {"role": "assistant",
                  "content": [{"type": "image_url", "image_url": {"url": "https://x/a.png"}}]}]}
                 ) == ("image parts are allowed in user turns only, not in a assistant turn - at "
                       "$.messages[1].content[0] (<rows>:1, format=openai)")
    assert error({"messages": [{"role": "user", "content": "q", "reasoning": "r"},
                               {"role": "assistant", "content": "a", "reasoning_content": "r",
                                "thinking": "t"}]}) == (
        "a message has one reasoning field, got reasoning_content, thinking - at "
        "$.messages[1].thinking (<rows>:1, format=openai)")
    assert error({"prompt": "x"}) == (
        "missing required field `messages` - at $.messages (<rows>:1, format=openai)")


def test_turn_policies() -> None:
    row = {"messages": msgs(("user", "a"), ("user", "b"), ("assistant", ""))}
    assert error(row) == ("two user turns in a row (use --consecutive merge or keep) - at "
                          "$.messages[1] (<rows>:1, format=openai)")
    assert error(row, consecutive="merge") == (
        "empty turn (use --empty-turn drop or keep to accept it) - at $.messages[2] "
        "(<rows>:1, format=openai)")
    (rec,) = read([row], consecutive="merge", empty_turn="keep")
    assert [(m.role, m.content) for m in rec.messages] == [("user", "a\n\nb"), ("assistant", "")]


def test_writes_demos_and_trainer_dialogues() -> None:
    ctx = WriteContext()
    demo = InstructionDemo(id="d1", prompt="Translate", input="猫", response="cat", system="S",
                           labeler="L7")
    dia = TrainerDialogue(messages=[TrainerMessage(role="user", content="hi", author="trainer"),
                                    TrainerMessage(role="assistant", content="hello",
                                                   author="model")], trainer_id="t1")
    assert write([demo, dia], ctx) == [
        {"messages": msgs(("system", "S"), ("user", "Translate\n\n猫"), ("assistant", "cat")),
         "id": "d1", "labeler": "L7"},
        {"messages": msgs(("user", "hi"), ("assistant", "hello")), "trainer_id": "t1"},
    ]
    assert ctx.dropped == Counter({"author": 1})
    ctx = WriteContext(options=Options(keep_metadata=False))
    assert [list(row) for row in write([demo, dia], ctx)] == [["messages", "id"], ["messages"]]
    assert ctx.dropped == Counter({"labeler": 1, "author": 1, "trainer_id": 1})


def test_japanese_byte_for_byte(tmp_path: Path) -> None:
    text = "ヴァージン・オーストラリアはいつから運航を開始したのですか？\n（全角）　ｘ"
    rec = Conversation(messages=[{"role": "user", "content": text},  # type: ignore[list-item]
                                 {"role": "assistant", "content": "２０００年８月３１日です。"}])
    out = tmp_path / "ja.jsonl"
    dialogkit.write([rec], out, "openai")
    raw = out.read_bytes()
    assert text.encode("utf-8").replace(b"\n", b"\\n") in raw  # raw UTF-8, not \\u escapes
    assert "２０００年８月３１日です。".encode() in raw
    (back,) = dialogkit.read(out, "openai")
    assert back.messages[0].content == text


# --- real samples ----------------------------------------------------------------------------


def test_toy_file_outcome_per_line() -> None:
    """All 5 lines are read: missing system (3) or user (4) turns and a long turn (5) are legal."""
    path = shared_file("openai_chat", "openai_cookbook_toy_chat_fine_tuning.jsonl")
    items = list(iter_outcomes(path, "openai"))
    assert not [i for i in items if isinstance(i, Reject)]
    roles = [[m.role for m in r.messages] for r in items]
    assert roles == [
        ["system", "user", "assistant"],
        ["system"] + ["user", "assistant"] * 4,
        ["user", "assistant"],
        ["system", "assistant"],
        ["system", "user", "assistant"],
    ]
    assert items[3].messages[1].content == "You're great!"
    assert items[4].messages[2].content == "Eat a banana!" * 2000
    assert len(items[4].messages[2].content) == 26000
    assert [r.source.line for r in items] == [1, 2, 3, 4, 5]


def test_toy_file_line_4_without_assistant_would_be_rejected() -> None:
    """What *would* be rejected: the same line with its assistant turn removed."""
    path = shared_file("openai_chat", "openai_cookbook_toy_chat_fine_tuning.jsonl")
    line4 = orjson.loads(path.read_bytes().splitlines()[3])
    line4["messages"] = line4["messages"][:1]
    assert error(line4) == ("an SFT conversation needs at least one assistant turn - at $ "
                            "(<rows>:1, format=openai)")


def test_drone_tool_calls_exact_text() -> None:
    path = shared_file("openai_chat", "openai_cookbook_drone_training_first5.jsonl")
    recs = read(path)
    assert len(recs) == 5
    calls = [r.messages[2].tool_calls[0] for r in recs]
    assert [(c.id, c.name) for c in calls] == [("call_id", "takeoff_drone")] * 2 + [
        ("call_id", "land_drone")] * 3
    assert calls[0].arguments == '{"altitude": 100}'
    assert calls[2].arguments == '"{\\"location\\": \\"current\\"}"'  # double-encoded, kept
    assert calls[4].arguments == '"{\\"location\\": \\"home_base\\"}"'
    assert all(r.messages[2].content is None for r in recs)
    assert all(r.metadata == {"parallel_tool_calls": False} for r in recs)
    assert [len(r.tools) for r in recs] == [16] * 5
    assert recs[0].tools[0]["function"]["name"] == "takeoff_drone"
    assert "\n" in recs[0].messages[0].content


def test_drone_written_back_equal_to_source() -> None:
    path = shared_file("openai_chat", "openai_cookbook_drone_training_first5.jsonl")
    originals = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert write(read(path)) == originals
    # and with the cookbook's key order
    keys = ["messages", "parallel_tool_calls", "tools"]
    assert [list(r) for r in write(read(path))] == [keys] * 5


@pytest.mark.parametrize("name", SAMPLES)
def test_read_write_read_equal(name: str) -> None:
    path = shared_file("openai_chat", name)
    recs = read(path)
    assert recs
    assert read(write(recs)) == recs


@pytest.mark.parametrize("name", SAMPLES)
def test_auto_detects_openai(name: str) -> None:
    rows = [r.data for r in read_rows(shared_file("openai_chat", name))][:20]
    assert detect_format(rows, name).name == "openai"


def test_detect_is_specific() -> None:
    m = msgs(("user", "q"), ("assistant", "a"))
    assert FMT.detect({"messages": m}) == 2
    assert FMT.detect({"messages": m, "label": True}) == 0  # KTO
    assert FMT.detect({"messages": [{"from": "human", "value": "q"}]}) == 0
    assert FMT.detect({"prompt": m[:1], "completion": m[1:]}) == 0


def test_kto_file_is_not_openai() -> None:
    rows = [r.data for r in read_rows(shared_file(
        "preference_pairs", "kto_en_demo_llamafactory_first300.json"))][:20]
    assert all(FMT.detect(r) == 0 for r in rows)


def test_options_are_checked() -> None:
    with pytest.raises(dialogkit.UsageError, match="^empty_turn must be one of reject, drop, "
                                                   "keep, got 'yes'$"):
        read([{"messages": msgs(("user", "q"), ("assistant", "a"))}], options=Options(
            empty_turn="yes"))


def roundtrip(row: dict[str, Any], ctx: WriteContext | None = None) -> dict[str, Any]:
    """One row read and written back as openai (no provenance)."""
    return write(read([row]), ctx)[0]  # type: ignore[no-any-return]


def test_text_only_content_parts_round_trip_as_parts_and_strings_stay_strings() -> None:
    row = {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"},
                                                     {"type": "text", "text": " there"}]},
                        {"role": "assistant", "content": "hello"}]}
    rec = read([row])[0]
    assert rec.messages[0].text == "hi there" and rec.messages[1].content == "hello"
    assert roundtrip(row) == row


def test_vision_fine_tuning_row_is_exactly_openai_layout() -> None:
    row = {"messages": [
        {"role": "system", "content": "Identify the animal."},
        {"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg",
                                                "detail": "low"}},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}]},
        {"role": "assistant", "content": "A cat.", "weight": 1}]}
    rec = read([row])[0]
    image, inline, audio = rec.messages[1].media
    assert (image.url, image.details) == ("https://example.com/cat.jpg", {"detail": "low"})
    assert (inline.data, inline.mime_type) == ("iVBORw0KGgo=", "image/png")
    assert (audio.type, audio.data, audio.details) == ("audio", "UklGRg==", {"format": "wav"})
    ctx = WriteContext()
    assert roundtrip(row, ctx) == row
    assert ctx.media == Counter({"image.read": 2, "image.written": 2, "audio.read": 1,
                                 "audio.written": 1})


def test_reasoning_content_round_trips_under_its_own_key() -> None:
    for key in ("reasoning_content", "reasoning", "thinking"):
        row = {"messages": [{"role": "user", "content": "2+2?"},
                            {"role": "assistant", "content": "4", key: "Add them."}]}
        rec = read([row])[0]
        assert rec.messages[1].reasoning == "Add them."
        assert rec.metadata == {"_openai": {"reasoning": key}}
        assert roundtrip(row) == row
    # reasoning from elsewhere (trl's thinking) has no place in OpenAI rows: dropped, counted
    trl = dialogkit.read([{"messages": [{"role": "user", "content": "q"},
                                        {"role": "assistant", "content": "a", "thinking": "t"}]}],
                         "trl")
    ctx = WriteContext()
    assert write(list(trl), ctx)[0]["messages"][1] == {"role": "assistant", "content": "a"}
    assert ctx.dropped == Counter({"reasoning": 1})


def test_object_arguments_round_trip_as_objects_and_strings_as_strings() -> None:
    call = {"id": "c1", "type": "function",
            "function": {"name": "f", "arguments": {"city": "Paris", "n": 2}}}
    row = {"messages": [{"role": "user", "content": "q"},
                        {"role": "assistant", "tool_calls": [call]},
                        {"role": "tool", "tool_call_id": "c1", "content": "ok"},
                        {"role": "assistant", "content": "done"}]}
    rec = read([row])[0]
    tc = rec.messages[1].tool_calls[0]
    assert (tc.arguments, tc.arguments_form) == ('{"city":"Paris","n":2}', "object")
    assert roundtrip(row) == row
    as_string = write([rec], WriteContext(options=Options(extra={"tool_arguments": "string"})))
    assert as_string[0]["messages"][1]["tool_calls"][0]["function"]["arguments"] == (
        '{"city":"Paris","n":2}')


def test_weights_openai_cannot_hold_are_dropped_and_counted() -> None:
    user = TrainerMessage(role="user", content="q", weight=0.0)
    half = TrainerMessage(role="assistant", content="a", weight=0.5)
    one = TrainerMessage(role="assistant", content="b", weight=1.0)
    ctx = WriteContext()
    out = write([TrainerDialogue(messages=[user, half, TrainerMessage(role="user", content="c"),
                                           one])], ctx)
    assert [m.get("weight") for m in out[0]["messages"]] == [None, None, None, 1]
    assert ctx.dropped == Counter({"weight": 2})
    strict = list(FMT.write([TrainerDialogue(messages=[user, one])],
                            WriteContext(options=Options(strict=True))))
    assert isinstance(strict[0], Reject) and strict[0].error.rule == "lossy"


def test_think_tags_split_only_when_asked() -> None:
    row = {"messages": [{"role": "user", "content": "<think>not me</think>q"},
                        {"role": "assistant", "content": "<think>\nAdd.\n</think>\n\n4"}]}
    kept = read([row])[0]
    assert kept.messages[1].content == "<think>\nAdd.\n</think>\n\n4"
    assert kept.messages[1].reasoning is None
    split = read([row], think="split")[0]
    assert (split.messages[1].content, split.messages[1].reasoning) == ("4", "Add.")
    assert split.messages[0].content == "<think>not me</think>q"  # user turns are left alone
    tags = read([{"messages": [row["messages"][0], {"role": "assistant",
                                                    "content": "[R]why[/R]so"}]}],
                think="split", think_tags=("[R]", "[/R]"))[0]
    assert (tags.messages[1].content, tags.messages[1].reasoning) == ("so", "why")
    with pytest.raises(dialogkit.UsageError, match="think must be one of keep, split"):
        read([row], think="drop")
