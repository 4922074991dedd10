"""openai-preference: hand-written records (no public file exists, see FORMATS.md section 6)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from dialogkit import api
from dialogkit.detect import detect_format
from dialogkit.errors import RecordError
from dialogkit.models import PreferencePair

TOOLS = [{"type": "function", "function": {"name": "land_drone", "description": "Land.",
                                           "parameters": {"type": "object", "properties": {}}}}]
PLAIN = {
    "input": {"messages": [{"role": "user", "content": "Hello, can you tell me how cold San "
                                                        "Francisco is today?"}]},
    "preferred_output": [{"role": "assistant", "content": "Today in San Francisco, it is not "
                                                          "quite cold as expected."}],
    "non_preferred_output": [{"role": "assistant", "content": "It is not particularly cold in "
                                                              "San Francisco today."}],
}
WITH_TOOLS = {
    "input": {
        "messages": [
            {"role": "system", "content": "You control a drone."},
            {"role": "user", "content": "Bring it down."},
        ],
        "tools": TOOLS,
        "parallel_tool_calls": False,
    },
    "preferred_output": [{"role": "assistant", "tool_calls": [
        {"id": "call_1", "type": "function",
         "function": {"name": "land_drone", "arguments": "{\"location\": \"current\"}"}}]}],
    "non_preferred_output": [{"role": "assistant", "content": "I cannot do that."}],
    "batch": 7,
}


def _read(rows: list[Any]) -> list[Any]:
    return list(api.read(rows, format="openai-preference"))


def test_read_plain() -> None:
    [rec] = _read([PLAIN])
    assert isinstance(rec, PreferencePair)
    assert [(m.role, m.content) for m in rec.prompt] == [
        ("user", "Hello, can you tell me how cold San Francisco is today?")]
    assert rec.chosen[0].content == "Today in San Francisco, it is not quite cold as expected."
    assert rec.rejected[0].content == "It is not particularly cold in San Francisco today."
    assert rec.metadata == {} and rec.margin is None


def test_read_tools_go_to_metadata() -> None:
    [rec] = _read([WITH_TOOLS])
    assert [m.role for m in rec.prompt] == ["system", "user"]
    call = rec.chosen[0].tool_calls[0]
    assert (call.id, call.name, call.arguments) == ("call_1", "land_drone",
                                                     '{"location": "current"}')
    assert rec.chosen[0].content is None
    assert rec.metadata == {"tools": TOOLS, "parallel_tool_calls": False, "batch": 7}


def test_roundtrip_is_byte_equal(tmp_path: Path) -> None:
    src = tmp_path / "pref.jsonl"
    src.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in (PLAIN, WITH_TOOLS)))
    out = tmp_path / "out.jsonl"
    rep = api.convert(src, out, from_="auto", to="openai-preference")
    assert (rep.read, rep.written, rep.format_in) == (2, 2, "openai-preference")
    assert [orjson.loads(x) for x in out.read_bytes().splitlines()] == [PLAIN, WITH_TOOLS]
    strip = [r.model_copy(update={"source": None}) for r in api.read(src)]
    again = [r.model_copy(update={"source": None}) for r in api.read(out)]
    assert again == strip


def test_to_trl_carries_tools_column(tmp_path: Path) -> None:
    out = tmp_path / "trl.jsonl"
    rows = [WITH_TOOLS]
    api.convert(rows, out, from_="openai-preference", to="trl-preference")
    [row] = [orjson.loads(x) for x in out.read_bytes().splitlines()]
    assert list(row) == ["prompt", "chosen", "rejected", "tools", "parallel_tool_calls", "batch"]
    assert row["tools"] == TOOLS
    back = tmp_path / "back.jsonl"
    api.convert(out, back, from_="trl-preference", to="openai-preference")
    assert orjson.loads(back.read_bytes()) == WITH_TOOLS


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({**PLAIN, "preferred_output": [*PLAIN["preferred_output"], *PLAIN["preferred_output"]]},
         "Expected exactly 1 message, got 2 - at $.preferred_output"),
        ({**PLAIN, "non_preferred_output": [{"role": "user", "content": "x"}]},
         "Expected 'assistant', got 'user' - at $.non_preferred_output[0].role"),
        ({**PLAIN, "input": {}}, "missing required field `messages` - at $.input.messages"),
        ({"preferred_output": [], "non_preferred_output": []},
         "missing required field `input` - at $.input"),
        ({**PLAIN, "input": {"messages": [{"role": "user", "content": 5}]}},
         "Expected `str`, got `int` - at $.input.messages[0].content"),
        ({**PLAIN, "input": {**PLAIN["input"], "tools": "x"}},
         "Expected `array`, got `str` - at $.input.tools"),
    ],
)
def test_read_errors(row: dict[str, Any], message: str) -> None:
    with pytest.raises(RecordError) as info:
        _read([row])
    assert str(info.value) == f"{message} (<rows>:1, format=openai-preference)"


def test_write_needs_one_assistant_message_and_drops_margin(tmp_path: Path) -> None:
    user = {"role": "user", "content": "q"}
    pair = PreferencePair.model_validate({
        "prompt": [user], "chosen": [{"role": "assistant", "content": "a"}, user,
                                     {"role": "assistant", "content": "b"}],
        "rejected": [{"role": "assistant", "content": "c"}]})
    with pytest.raises(RecordError) as info:
        api.write([pair], tmp_path / "x.jsonl", format="openai-preference")
    assert info.value.reason == ("format 'openai-preference' holds exactly one assistant "
                                 "message as the chosen output, got [assistant, user, assistant]")
    ok = pair.model_copy(update={"chosen": pair.chosen[:1], "margin": 2.0, "group_id": "g"})
    rep = api.write([ok], tmp_path / "y.jsonl", format="openai-preference")
    assert dict(rep.fields_dropped) == {"margin": 1}
    row = orjson.loads((tmp_path / "y.jsonl").read_bytes())
    assert row == {"input": {"messages": [user]},
                   "preferred_output": [{"role": "assistant", "content": "a"}],
                   "non_preferred_output": [{"role": "assistant", "content": "c"}],
                   "group_id": "g"}


def test_detection() -> None:
    assert detect_format([PLAIN, WITH_TOOLS]).name == "openai-preference"
