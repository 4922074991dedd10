"""trl-preference, trl-unpaired and trl-prompt: TRL's exact columns, prompt extraction, layouts."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import orjson
import pytest

from dialogkit import api
from dialogkit.errors import RecordError, UsageError
from dialogkit.formats.trl_preference import split_messages, split_text
from dialogkit.models import Message, PreferencePair, PromptOnly, UnpairedExample
from tests.conftest import shared_file


def _strip(records: list[Any]) -> list[Any]:
    return [r.model_copy(update={"source": None}) for r in records]


def _read(rows: list[dict[str, Any]], fmt: str = "trl-preference", **kw: Any) -> list[Any]:
    return list(api.read(rows, format=fmt, **kw))


def _contents(msgs: list[Message]) -> list[tuple[str, str | None]]:
    return [(m.role, m.content) for m in msgs]


def _roundtrip(tmp_path: Path, rows: list[dict[str, Any]], fmt: str, **kw: Any) -> list[Any]:
    """Write ``rows`` to a file, read, write in ``fmt`` without options, read again: equal."""
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    first = list(api.read(src, format=fmt))
    out = tmp_path / "out.jsonl"
    api.convert(src, out, from_=fmt, to=fmt, **kw)
    second = list(api.read(out, format=fmt))
    assert _strip(second) == _strip(first)
    return [orjson.loads(line) for line in out.read_bytes().splitlines()]


# -- prompt extraction ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("chosen", "rejected", "expected"),
    [
        ("The sky is blue.", "The sky is green.", ("The sky is", " blue.", " green.")),
        # answers sharing a first word: never split inside the word
        ("A: Yes indeed", "A: Yesterday", ("A:", " Yes indeed", " Yesterday")),
        # one answer a prefix of the other: both keep a non-empty completion
        ("The sky is blue", "The sky is blue today", ("The sky is", " blue", " blue today")),
        ("abc ", "abc def", ("abc", " ", " def")),
        # identical answers stay identical (PreferencePair rejects them)
        ("same answer", "same answer", ("same", " answer", " answer")),
        # no whitespace in the common prefix: no prompt
        ("Yes", "Yesterday", ("", "Yes", "Yesterday")),
        ("", "x", ("", "", "x")),
        ("Q:\n\nA: one", "Q:\n\nA: two", ("Q:\n\nA:", " one", " two")),
    ],
)
def test_split_text(chosen: str, rejected: str, expected: tuple[str, str, str]) -> None:
    assert split_text(chosen, rejected) == expected
    prompt, c, r = expected
    assert prompt + c == chosen and prompt + r == rejected


@pytest.mark.parametrize(
    ("chosen", "rejected", "expected"),
    [
        (["s", "u", "a"], ["s", "u", "b"], (["s", "u"], ["a"], ["b"])),
        (["u", "a"], ["u", "a", "u2", "c"], (["u"], ["a"], ["a", "u2", "c"])),
        (["u", "a"], ["u", "a"], (["u"], ["a"], ["a"])),
        (["a"], ["b"], ([], ["a"], ["b"])),
        ([], ["b"], ([], [], ["b"])),
        (["u", "a1", "u2", "x"], ["u", "a2", "u2", "x"], (["u"], ["a1", "u2", "x"],
                                                           ["a2", "u2", "x"])),
    ],
)
def test_split_messages(chosen: list[str], rejected: list[str], expected: tuple[Any, ...]) -> None:
    assert split_messages(chosen, rejected) == expected


# -- reading --------------------------------------------------------------------------------------

SYS = {"role": "system", "content": "Be brief."}
USER = {"role": "user", "content": "What color is the sky?"}
BLUE = {"role": "assistant", "content": "It is blue."}
GREEN = {"role": "assistant", "content": "It is green."}


def test_explicit_conversational_with_margin_and_extras() -> None:
    [rec] = _read([{"prompt": [SYS, USER], "chosen": [BLUE], "rejected": [GREEN],
                    "margin": 2, "group_id": "g1", "tools": [{"type": "function"}]}])
    assert isinstance(rec, PreferencePair)
    assert _contents(rec.prompt) == [("system", "Be brief."), ("user", "What color is the sky?")]
    assert _contents(rec.chosen) == [("assistant", "It is blue.")]
    assert _contents(rec.rejected) == [("assistant", "It is green.")]
    assert rec.margin == 2.0 and isinstance(rec.margin, float)
    assert rec.group_id == "g1"
    assert rec.metadata == {"tools": [{"type": "function"}]}  # no marker: the default layout


def test_implicit_conversational_extracts_shared_messages() -> None:
    [rec] = _read([{"chosen": [SYS, USER, BLUE], "rejected": [SYS, USER, GREEN]}])
    assert _contents(rec.prompt) == [("system", "Be brief."), ("user", "What color is the sky?")]
    assert _contents(rec.chosen) == [("assistant", "It is blue.")]
    assert rec.metadata == {"_trl": {"prompt": "implicit"}}


def test_implicit_conversational_prefix_case() -> None:
    more = {"role": "user", "content": "Why?"}
    [rec] = _read([{"chosen": [USER, BLUE], "rejected": [USER, BLUE, more, GREEN]}])
    assert _contents(rec.prompt) == [("user", "What color is the sky?")]
    assert _contents(rec.chosen) == [("assistant", "It is blue.")]
    assert _contents(rec.rejected) == [("assistant", "It is blue."), ("user", "Why?"),
                                       ("assistant", "It is green.")]


def test_standard_explicit_and_implicit() -> None:
    explicit, implicit = _read([
        {"prompt": "The sky is", "chosen": " blue.", "rejected": " green."},
        {"chosen": "The sky is blue.", "rejected": "The sky is green."},
    ])
    for rec in (explicit, implicit):
        assert _contents(rec.prompt) == [("user", "The sky is")]
        assert _contents(rec.chosen) == [("assistant", " blue.")]
        assert _contents(rec.rejected) == [("assistant", " green.")]
    assert explicit.metadata == {"_trl": {"format": "standard"}}
    assert implicit.metadata == {"_trl": {"prompt": "implicit", "format": "standard"}}


def test_empty_standard_prompt_is_no_prompt() -> None:
    [rec] = _read([{"prompt": "", "chosen": "a", "rejected": "b"}])
    assert rec.prompt == []


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"chosen": "same", "rejected": "same"},
         "chosen and rejected are identical, so they carry no preference - at $"),
        ({"chosen": [USER, BLUE], "rejected": [USER, BLUE]},
         "chosen and rejected are identical, so they carry no preference - at $"),
        ({"prompt": "p", "chosen": 3, "rejected": "r"},
         "Expected `str` or `array`, got `int` - at $.chosen"),
        ({"prompt": "p", "chosen": "c", "rejected": [BLUE]},
         "Expected standard like `chosen`, got conversational - at $.rejected"),
        ({"prompt": [USER], "chosen": "c", "rejected": "r"},
         "Expected standard like `chosen`, got conversational - at $.prompt"),
        ({"prompt": "p", "rejected": "r"}, "missing required field `chosen` - at $.chosen"),
        ({"prompt": "p", "chosen": "", "rejected": "r"},
         "empty turn (use --empty-turn drop or keep to accept it) - at $.chosen"),
        ({"prompt": [USER], "chosen": [{"role": "bot", "content": "x"}], "rejected": [GREEN]},
         "Expected one of 'system', 'user', 'assistant', 'tool', got 'bot' - at $.chosen[0].role"),
        ({"prompt": [USER], "chosen": [{**BLUE, "foo": 1}], "rejected": [GREEN]},
         "unexpected key `foo` in a message - at $.chosen[0].foo"),
        ({"prompt": "p", "chosen": "c", "rejected": "r", "margin": "1"},
         "Expected `int` or `float`, got `str` - at $.margin"),
    ],
)
def test_read_errors(row: dict[str, Any], message: str) -> None:
    with pytest.raises(RecordError) as info:
        _read([row])
    assert str(info.value).split(" (<rows>")[0] == message


def test_tool_call_arguments_object_kept_as_json_text() -> None:
    call = {"type": "function", "function": {"name": "f", "arguments": {"x": 1}}}
    [rec] = _read([{"prompt": [USER], "chosen": [{"role": "assistant", "tool_calls": [call]}],
                    "rejected": [GREEN]}])
    assert rec.chosen[0].tool_calls[0].name == "f"
    assert rec.chosen[0].tool_calls[0].arguments == '{"x":1}'


# -- writing --------------------------------------------------------------------------------------


def _pair(**kw: Any) -> PreferencePair:
    base: dict[str, Any] = {"prompt": [USER], "chosen": [BLUE], "rejected": [GREEN]}
    base.update(kw)
    return PreferencePair.model_validate(base)


def _write(records: list[Any], tmp_path: Path, fmt: str = "trl-preference", **kw: Any) -> Any:
    out = tmp_path / "w.jsonl"
    rep = api.write(records, out, format=fmt, **kw)
    return rep, [orjson.loads(line) for line in out.read_bytes().splitlines()]


def test_write_default_is_explicit_conversational(tmp_path: Path) -> None:
    _, rows = _write([_pair(margin=1.5, group_id="g")], tmp_path)
    assert rows == [{"prompt": [USER], "chosen": [BLUE], "rejected": [GREEN], "margin": 1.5,
                     "group_id": "g"}]


def test_write_implicit_and_standard_options(tmp_path: Path) -> None:
    _, rows = _write([_pair()], tmp_path, trl_prompt="implicit")
    assert rows == [{"chosen": [USER, BLUE], "rejected": [USER, GREEN]}]
    _, rows = _write([_pair()], tmp_path, trl_style="standard")
    assert rows == [{"prompt": "What color is the sky?", "chosen": "It is blue.",
                     "rejected": "It is green."}]
    _, rows = _write([_pair()], tmp_path, trl_style="standard", trl_prompt="implicit")
    assert rows == [{"chosen": "What color is the sky?It is blue.",
                     "rejected": "What color is the sky?It is green."}]


def test_write_standard_rejects_what_text_cannot_hold(tmp_path: Path) -> None:
    with pytest.raises(RecordError) as info:
        _write([_pair(prompt=[SYS, USER])], tmp_path, trl_style="standard")
    assert info.value.reason == (
        "standard text cannot hold a system message (write trl_style=conversational)")
    more = {"role": "user", "content": "Why?"}
    with pytest.raises(RecordError) as info:
        _write([_pair(chosen=[BLUE, more, GREEN])], tmp_path, trl_style="standard")
    assert info.value.reason == (
        "standard text holds a chosen of one plain assistant message, got "
        "[assistant, user, assistant] (write trl_style=conversational)")


def test_write_bad_option_and_wrong_kind(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="^trl_style must be 'conversational' or 'standard', "
                                         "got 'plain'$"):
        _write([_pair()], tmp_path, trl_style="plain")
    prompt = PromptOnly.model_validate({"prompt": [USER]})
    with pytest.raises(RecordError) as info:
        _write([prompt], tmp_path)
    assert info.value.reason == ("format 'trl-preference' cannot hold a record of kind 'prompt' "
                                 "(it writes preference): write RL prompts with `--to "
                                 "trl-prompt`")


# -- round trips (every layout, without options) --------------------------------------------------


@pytest.mark.parametrize(
    "row",
    [
        {"prompt": [SYS, USER], "chosen": [BLUE], "rejected": [GREEN], "margin": 0.5},
        {"chosen": [SYS, USER, BLUE], "rejected": [SYS, USER, GREEN], "id": "r1"},
        {"prompt": "The sky is", "chosen": " blue.", "rejected": " green.", "extra": [1, 2]},
        {"chosen": "The sky is blue.", "rejected": "The sky is green."},
    ],
)
def test_roundtrip_keeps_layout(tmp_path: Path, row: dict[str, Any]) -> None:
    rows = _roundtrip(tmp_path, [row], "trl-preference")
    assert rows == [row]  # these rows come back byte for byte, layout included


def test_japanese_roundtrip(tmp_path: Path) -> None:
    row = {"prompt": [{"role": "user", "content": "空の色は何ですか？"}],
           "chosen": [{"role": "assistant", "content": "青です。"}],
           "rejected": [{"role": "assistant", "content": "緑です。"}]}
    rows = _roundtrip(tmp_path, [row], "trl-preference")
    assert rows == [row]
    assert "空の色は何ですか？".encode() in (tmp_path / "out.jsonl").read_bytes()
    std = {"chosen": "空は 青い。", "rejected": "空は 緑だ。"}
    [rec] = _read([std])
    assert _contents(rec.prompt) == [("user", "空は")]
    assert _contents(rec.chosen) == [("assistant", " 青い。")]
    assert _roundtrip(tmp_path, [std], "trl-preference") == [std]


# -- trl-unpaired and trl-prompt ----------------------------------------------------------------


def test_unpaired_both_styles(tmp_path: Path) -> None:
    conv = {"prompt": [USER], "completion": [BLUE], "label": True}
    std = {"prompt": "The sky is", "completion": " green.", "label": False}
    a, b = _read([conv, std], "trl-unpaired")
    assert isinstance(a, UnpairedExample) and a.label is True
    assert _contents(a.completion) == [("assistant", "It is blue.")]
    assert b.label is False and b.metadata == {"_trl": {"format": "standard"}}
    assert _roundtrip(tmp_path, [conv], "trl-unpaired") == [conv]
    assert _roundtrip(tmp_path, [std], "trl-unpaired") == [std]
    with pytest.raises(RecordError) as info:
        _read([{"prompt": "p", "completion": "c", "label": "yes"}], "trl-unpaired")
    assert str(info.value).startswith("Expected `bool`, got `str` - at $.label")


def test_prompt_only_both_styles(tmp_path: Path) -> None:
    conv = {"prompt": [SYS, USER], "solution": "blue"}
    std = {"prompt": "The sky is"}
    a, b = _read([conv, std], "trl-prompt")
    # a `solution` column is the reference answer GRPO's reward functions receive
    assert isinstance(a, PromptOnly) and a.reference == "blue" and a.metadata == {}
    assert _contents(b.prompt) == [("user", "The sky is")]
    assert _roundtrip(tmp_path, [conv], "trl-prompt") == [conv]
    assert _roundtrip(tmp_path, [std], "trl-prompt") == [std]
    with pytest.raises(RecordError) as info:
        _write([PromptOnly.model_validate({"prompt": [SYS, USER]})], tmp_path, "trl-prompt",
               trl_style="standard")
    assert info.value.reason == (
        "standard text cannot hold a system message (write trl_style=conversational)")


# -- detection ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ({"prompt": [USER], "chosen": [BLUE], "rejected": [GREEN]}, "trl-preference"),
        ({"chosen": [USER, BLUE], "rejected": [USER, GREEN]}, "trl-preference"),
        ({"prompt": "p", "chosen": " c", "rejected": " r"}, "trl-preference"),
        ({"chosen": "p c", "rejected": "p r"}, "trl-preference"),
        ({"prompt": "p", "completion": "c", "label": True}, "trl-unpaired"),
        ({"prompt": [USER], "completion": [BLUE], "label": False}, "trl-unpaired"),
        ({"prompt": "p"}, "trl-prompt"),
        ({"prompt": [USER], "solution": "42"}, "trl-prompt"),
        ({"prompt": "p", "completion": "c"}, "openai-completion"),
        ({"prompt": [USER], "completion": [BLUE]}, "trl"),
    ],
)
def test_auto_detection(row: dict[str, Any], expected: str) -> None:
    from dialogkit.detect import detect_format

    assert detect_format([row]).name == expected


def test_hh_rlhf_transcripts_are_not_trl() -> None:
    from dialogkit.detect import detect_format
    from dialogkit.io import read_rows

    path = shared_file("hh_rlhf", "harmless-base_test_sample300.jsonl.gz")
    rows = [r.data for r in itertools.islice(read_rows(path), 20)]
    assert detect_format(rows).name == "hh-rlhf"
