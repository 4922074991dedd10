"""The ``sharegpt`` format: roles, turn policies, LLaMA-Factory columns, tool calls, real data."""

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
from dialogkit.models import Conversation, InstructionDemo
from dialogkit.registry import Options, Reject, WriteContext, get_format
from tests.conftest import shared_file

FMT = get_format("sharegpt")
QUIRKS = Options(empty_turn="keep", consecutive="keep")
SAMPLES = [
    "axolotl_fixture_conversation.json",
    "axolotl_fixture_conversation.missingturns.json",
    "fastchat_dummy_conversation_first300.json",
    "glaive_toolcall_en_demo_llamafactory_first300.json",
    "sharegpt92k_enriched_raw_example_0DsLnLO_0.json",
    "sharegpt_v3_unfiltered_cleaned_split_sample.json",
]


def read(rows: Any, options: Options | None = None, **kw: Any) -> list[Any]:
    """Records without provenance, so records from different sources compare equal."""
    return [r.model_copy(update={"source": None})
            for r in dialogkit.read(rows, "sharegpt", options=options, **kw)]


def write(records: list[Any], options: Options | None = None) -> list[Any]:
    """Rows as they would come back from a JSON file."""
    ctx = WriteContext(options=options or Options())
    return [orjson.loads(orjson.dumps(row)) for row in FMT.write(records, ctx)]


def one(row: dict[str, Any], **kw: Any) -> Conversation:
    (rec,) = read([row], **kw)
    return rec  # type: ignore[no-any-return]


def error(row: dict[str, Any], **kw: Any) -> str:
    with pytest.raises(RecordError) as info:
        read([row], **kw)
    return str(info.value)


# --- hand-written rows -----------------------------------------------------------------------


def test_roles_and_aliases() -> None:
    rec = one({"id": "a", "conversations": [
        {"from": "system", "value": "Be brief."},
        {"from": "human", "value": "Hi"},
        {"from": "chatgpt", "value": "Hello"},
        {"from": "user", "value": "Bye"},
        {"from": "model", "value": "Bye!"},
    ]})
    assert rec.id == "a"
    assert [(m.role, m.content) for m in rec.messages] == [
        ("system", "Be brief."), ("user", "Hi"), ("assistant", "Hello"), ("user", "Bye"),
        ("assistant", "Bye!"),
    ]
    assert rec.metadata == {}


def test_unknown_role_exact_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    good = {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}
    bad = {"conversations": [*good["conversations"], {"from": "human", "value": "q2"},
                             {"from": "bot", "value": "a2"}]}
    lines = [json.dumps(good)] * 16 + [json.dumps(bad)]
    Path("x.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(RecordError) as info:
        list(dialogkit.read("x.jsonl", "sharegpt"))
    assert str(info.value) == (
        "Expected one of 'human', 'user', 'gpt', 'chatgpt', 'bing', 'bard', 'assistant', "
        "'model', 'system', 'function_call', 'observation', 'tool', got 'bot' - at "
        "$.conversations[3].from (x.jsonl:17, format=sharegpt)"
    )


def test_unknown_role_drop_and_map() -> None:
    row = {"conversations": [{"from": "human", "value": "q"}, {"from": "bot", "value": "a"}]}
    assert [m.role for m in one(row, role_map={"bot": "assistant"}, unknown_role="map").messages] \
        == ["user", "assistant"]
    row2 = {"conversations": [*row["conversations"], {"from": "narrator", "value": "..."}]}
    dropped = one(row2, role_map={"bot": "assistant"}, unknown_role="drop")
    assert [m.content for m in dropped.messages] == ["q", "a"]


def test_empty_turn_policies() -> None:
    row = {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": ""},
                             {"from": "human", "value": "q2"}, {"from": "gpt", "value": "a2"}]}
    assert error(row) == ("empty turn (use --empty-turn drop or keep to accept it) - at "
                          "$.conversations[1] (<rows>:1, format=sharegpt)")
    assert [m.content for m in one(row, empty_turn="keep").messages] == ["q", "", "q2", "a2"]
    # dropping the empty turn leaves two user turns in a row: that is the consecutive policy's call
    assert error(row, empty_turn="drop") == (
        "two user turns in a row (use --consecutive merge or keep) - at $.conversations[2] "
        "(<rows>:1, format=sharegpt)")
    merged = one(row, empty_turn="drop", consecutive="merge")
    assert [m.content for m in merged.messages] == ["q\n\nq2", "a2"]


def test_consecutive_policies() -> None:
    row = {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"},
                             {"from": "gpt", "value": "b"}]}
    assert error(row) == ("two assistant turns in a row (use --consecutive merge or keep) - at "
                          "$.conversations[2] (<rows>:1, format=sharegpt)")
    assert [m.content for m in one(row, consecutive="keep").messages] == ["q", "a", "b"]
    assert [m.content for m in one(row, consecutive="merge").messages] == ["q", "a\n\nb"]


def test_shape_errors() -> None:
    assert error({"conversations": "hi"}) == (
        "Expected `array`, got `str` - at $.conversations (<rows>:1, format=sharegpt)")
    assert error({"conversations": [{"from": "human", "value": 3}]}) == (
        "Expected `str`, got `int` - at $.conversations[0].value (<rows>:1, format=sharegpt)")
    assert error({"conversations": [{"value": "x"}]}) == (
        "missing required field `from` - at $.conversations[0].from (<rows>:1, format=sharegpt)")
    assert error({"conversations": [{"from": "human", "value": "only a question"}]}) == (
        "an SFT conversation needs at least one assistant turn - at $ (<rows>:1, format=sharegpt)")


def test_function_call_errors() -> None:
    def row(value: str) -> dict[str, Any]:
        return {"conversations": [{"from": "human", "value": "q"},
                                  {"from": "function_call", "value": value}]}

    assert error(row("{oops")) == (
        "a function_call value must be JSON text: unexpected character, expected a string key - at "
        "$.conversations[1].value (<rows>:1, format=sharegpt)")
    assert error(row('{"name": "f"}')) == (
        "Expected a JSON object {\"name\": str, \"arguments\": ...}, got keys ['name'] - at "
        "$.conversations[1].value (<rows>:1, format=sharegpt)")
    assert error(row('{"name": "f", "arguments": {}, "x": 1}')) == (
        "Unexpected key 'x' in a function_call value (expected name, arguments) - at "
        "$.conversations[1].value (<rows>:1, format=sharegpt)")


def test_observation_without_call_is_rejected() -> None:
    row = {"conversations": [{"from": "human", "value": "q"},
                             {"from": "observation", "value": "{}"},
                             {"from": "gpt", "value": "a"}]}
    assert error(row) == ("messages[1] is a tool message that answers no tool call - at "
                          "$.conversations[1] (<rows>:1, format=sharegpt)")


def test_llamafactory_columns_round_trip() -> None:
    row = {"conversations": [{"from": "human", "value": "Weather?"},
                             {"from": "function_call",
                              "value": '{"name": "get_weather", "arguments": {"city": "東京"}}'},
                             {"from": "observation", "value": '{"temp": 21}'},
                             {"from": "gpt", "value": "21°C"}],
           "system": "You are helpful.",
           "tools": '[{"name": "get_weather", "parameters": {"type": "object"}}]'}
    rec = one(row)
    assert [m.role for m in rec.messages] == ["system", "user", "assistant", "tool", "assistant"]
    assert rec.messages[0].content == "You are helpful."
    call = rec.messages[2].tool_calls[0]  # type: ignore[index]
    assert (call.name, call.arguments) == ("get_weather", '{"city":"東京"}')
    assert rec.tools == [{"name": "get_weather", "parameters": {"type": "object"}}]
    assert rec.metadata == {"_sharegpt": {"system": "column"}}
    (out,) = write([rec])
    assert out == row  # the same shape, byte-equal values (tools and function_call strings)


def test_empty_system_and_tools_strings_are_kept() -> None:
    row = {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}],
           "system": "", "tools": ""}
    rec = one(row)
    assert rec.tools is None
    assert [m.role for m in rec.messages] == ["user", "assistant"]
    assert rec.metadata == {"system": "", "_sharegpt": {"tools": ""}}
    assert write([rec]) == [row]


def test_role_content_tags_option() -> None:
    row = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    opts = Options(extra={"messages_key": "messages", "role_tag": "role", "content_tag": "content"})
    (rec,) = read([row], options=opts)
    assert [(m.role, m.content) for m in rec.messages] == [("user", "q"), ("assistant", "a")]
    # written back with the tags and role names it was read with, even without the options
    assert write([rec]) == [row]
    # and it is never *detected* as sharegpt: the same columns are openai's
    assert FMT.detect(row) == 0
    assert detect_format([row]).name == "openai"


def test_writer_refuses_text_with_tool_calls() -> None:
    rows = [{"messages": [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "Let me check.",
         "tool_calls": [{"id": "c1", "type": "function",
                         "function": {"name": "f", "arguments": "{}"}}]}]}]
    (rec,) = dialogkit.read(rows, "openai")
    (rej,) = list(FMT.write([rec], WriteContext()))
    assert isinstance(rej, Reject)
    assert str(rej.error) == (
        "sharegpt cannot hold an assistant message with both text and tool calls (a function_call "
        "turn has no text) (<rows>:1, format=sharegpt)")


def test_writer_tallies_dropped_fields_and_writes_demos() -> None:
    ctx = WriteContext()
    demo = InstructionDemo(prompt="Add", input="2+2", response="4", category="math")
    (row,) = FMT.write([demo], ctx)
    assert row == {"conversations": [{"from": "human", "value": "Add\n\n2+2"},
                                     {"from": "gpt", "value": "4"}], "category": "math"}
    assert ctx.dropped == Counter()
    rows = [{"messages": [{"role": "user", "content": "q", "name": "ann"},
                          {"role": "assistant", "content": "a", "weight": 0}]}]
    ctx = WriteContext()
    list(FMT.write(dialogkit.read(rows, "openai"), ctx))
    assert ctx.dropped == Counter({"name": 1, "weight": 1})


# --- real samples ----------------------------------------------------------------------------


def outcomes(path: Path, **kw: Any) -> tuple[list[Any], list[Reject]]:
    recs, rejects = [], []
    for item in iter_outcomes(path, "sharegpt", **kw):
        (rejects if isinstance(item, Reject) else recs).append(item)
    return recs, rejects


@pytest.mark.parametrize(
    ("name", "n_ok", "rejected"),
    [
        ("axolotl_fixture_conversation.json", 1, {}),
        ("axolotl_fixture_conversation.missingturns.json", 0, {"empty turn": 1}),
        ("fastchat_dummy_conversation_first300.json", 300, {}),
        ("glaive_toolcall_en_demo_llamafactory_first300.json", 300, {}),
        ("sharegpt92k_enriched_raw_example_0DsLnLO_0.json", 1, {}),
        ("sharegpt_v3_unfiltered_cleaned_split_sample.json", 139,
         {"empty turn": 4, "consecutive turns": 2}),
    ],
)
def test_default_rejects_on_real_samples(name: str, n_ok: int, rejected: dict[str, int]) -> None:
    recs, rejects = outcomes(shared_file("sharegpt", name))
    assert len(recs) == n_ok
    assert Counter(r.error.rule for r in rejects) == Counter(rejected)


def test_sharegpt_v3_rejects_exactly() -> None:
    path = shared_file("sharegpt", "sharegpt_v3_unfiltered_cleaned_split_sample.json")
    _, rejects = outcomes(path)
    got = [(r.row.data["id"], r.error.line, r.error.rule, r.error.loc)  # type: ignore[union-attr]
           for r in rejects]
    assert got == [
        ("7oCNiUu_23", 4913, "consecutive turns", "$.conversations[1]"),
        ("8Ei88kb_39", 4984, "empty turn", "$.conversations[1]"),
        ("GOuD5dI_0", 5022, "empty turn", "$.conversations[3]"),
        ("WMCH9HX_0", 5047, "empty turn", "$.conversations[6]"),
        ("fU9LsAB_17", 5084, "empty turn", "$.conversations[9]"),
        ("vH636g3_0", 5166, "consecutive turns", "$.conversations[1]"),
    ]


def test_sharegpt_v3_with_quirk_options() -> None:
    path = shared_file("sharegpt", "sharegpt_v3_unfiltered_cleaned_split_sample.json")
    recs = read(path, QUIRKS)
    assert len(recs) == 145
    assert sum(len(r.messages) for r in recs) == 1113
    assert Counter(r.messages[0].role for r in recs) == {"user": 91, "assistant": 53, "system": 1}
    (typingmind,) = [r for r in recs if r.id == "ufsbA0x_0"]
    assert typingmind.messages[0].role == "system"
    assert typingmind.messages[0].content.startswith(  # type: ignore[union-attr]
        "*This chat conversation is shared from [**TypingMind.com**]")
    assert typingmind.metadata == {}  # a system *turn*, not a system column
    (goud,) = [r for r in recs if r.id == "GOuD5dI_0"]
    assert [m.content for m in goud.messages[:4]] == [
        "hello", "Hello! How can I assist you today?",
        goud.messages[2].content, ""]
    assert [m.role for m in goud.messages[:5]] == ["user", "assistant", "user", "user", "assistant"]


def test_fastchat_first_record_exactly() -> None:
    recs = list(dialogkit.read(shared_file("sharegpt", "fastchat_dummy_conversation_first300.json"),
                               "sharegpt"))
    first = recs[0]
    assert first.id == "identity_0"
    assert first.source.line == 2  # type: ignore[union-attr]
    assert [(m.role, m.content) for m in first.messages] == [
        ("user", "Who are you?"),
        ("assistant", "I am Vicuna, a language model trained by researchers from Large Model "
                      "Systems Organization (LMSYS)."),
        ("user", "Have a nice day!"),
        ("assistant", "You too!"),
    ]
    assert recs[-1].id == "identity_299"


def test_glaive_tool_calls() -> None:
    path = shared_file("sharegpt", "glaive_toolcall_en_demo_llamafactory_first300.json")
    recs = read(path)
    assert Counter(len(r.tools) for r in recs) == {1: 163, 0: 109, 2: 28}
    assert sum(1 for r in recs for m in r.messages if m.tool_calls) == 211
    assert sum(1 for r in recs for m in r.messages if m.role == "tool") == 211
    first = recs[0]
    assert first.metadata == {}  # a JSON-string tools column is the default: no marker
    call = first.messages[3].tool_calls[0]  # type: ignore[index]
    assert (call.id, call.name, call.arguments) == (
        None, "search_recipes", '{"ingredients":["chicken","bell peppers","rice"]}')
    assert first.messages[4].role == "tool"
    assert first.messages[4].content.startswith(  # type: ignore[union-attr]
        '{"recipes": [{"name": "Chicken and Bell Pepper Stir Fry"')
    assert first.tools[0]["name"] == "search_recipes"  # type: ignore[index]


def test_glaive_written_back_byte_equal() -> None:
    path = shared_file("sharegpt", "glaive_toolcall_en_demo_llamafactory_first300.json")
    original = orjson.loads(path.read_bytes())
    assert write(read(path)) == original


def test_glaive_through_openai_and_back() -> None:
    path = shared_file("sharegpt", "glaive_toolcall_en_demo_llamafactory_first300.json")
    recs = read(path)
    ctx = WriteContext()
    as_openai = [orjson.loads(orjson.dumps(r)) for r in get_format("openai").write(recs, ctx)]
    assert as_openai[0]["messages"][3] == {
        "role": "assistant",
        "tool_calls": [{"type": "function", "function": {
            "name": "search_recipes",
            "arguments": '{"ingredients":["chicken","bell peppers","rice"]}'}}],
    }
    back = [r.model_copy(update={"source": None}) for r in dialogkit.read(as_openai, "openai")]
    # openai never writes sharegpt's private layout marker; the content comes back whole
    assert [r.metadata for r in recs[:1]] == [{}]
    assert back == recs
    assert write(back) == orjson.loads(path.read_bytes())


def test_enriched_turn_fields_are_kept() -> None:
    path = shared_file("sharegpt", "sharegpt92k_enriched_raw_example_0DsLnLO_0.json")
    (rec,) = read(path)
    assert rec.id == "0DsLnLO_0"
    assert list(rec.metadata) == ["overall_sentiment", "overall_lexical", "overall_advanced",
                                  "conversation_metadata", "_sharegpt"]
    turns = rec.metadata["_sharegpt"]["turns"]
    assert [list(t) for t in turns] == [
        ["language", "sentiment", "core_lexical", "lexical_features", "advanced_features",
         "expressive_label", "anthropomorphic_label"],
        ["language", "sentiment", "core_lexical", "lexical_features", "advanced_features"],
    ]
    assert write([rec]) == [orjson.loads(path.read_bytes())]


@pytest.mark.parametrize("name", SAMPLES)
def test_read_write_read_equal(name: str) -> None:
    path = shared_file("sharegpt", name)
    recs = read(path, QUIRKS)
    assert recs
    assert read(write(recs, QUIRKS), QUIRKS) == recs


@pytest.mark.parametrize("name", SAMPLES)
def test_auto_detects_sharegpt(name: str) -> None:
    rows = [r.data for r in read_rows(shared_file("sharegpt", name))][:20]
    assert detect_format(rows, name).name == "sharegpt"


def test_detect_is_specific() -> None:
    conv = [{"from": "human", "value": "q"}]
    assert FMT.detect({"conversations": conv}) == 2
    assert FMT.detect({"conversations": conv, "chosen": {}, "rejected": {}}) == 0
    assert FMT.detect({"messages": [{"role": "user", "content": "q"}]}) == 0
    assert FMT.detect([conv]) == 0
