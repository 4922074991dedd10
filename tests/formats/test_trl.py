"""The ``trl`` SFT format: messages, prompt/completion, text, and trips through other formats."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

import dialogkit
from dialogkit.detect import detect_format
from dialogkit.errors import RecordError, UsageError
from dialogkit.io import read_rows
from dialogkit.models import Conversation
from dialogkit.registry import Options, WriteContext, get_format
from tests.conftest import compact_arguments, shared_file

FMT = get_format("trl")
QUIRKS = Options(empty_turn="keep", consecutive="keep")


def read(rows: Any, fmt: str = "trl", options: Options | None = None, **kw: Any) -> list[Any]:
    """Records without provenance, so records from different sources compare equal."""
    return [r.model_copy(update={"source": None})
            for r in dialogkit.read(rows, fmt, options=options, **kw)]


def write(records: list[Any], fmt: str = "trl", options: Options | None = None) -> list[Any]:
    ctx = WriteContext(options=options or Options())
    return [orjson.loads(orjson.dumps(row)) for row in get_format(fmt).write(records, ctx)]


def error(row: dict[str, Any]) -> str:
    with pytest.raises(RecordError) as info:
        read([row])
    return str(info.value)


USER = {"role": "user", "content": "What color is the sky?"}
BOT = {"role": "assistant", "content": "It is blue."}


def test_messages_row() -> None:
    row = {"messages": [{"role": "system", "content": "S"}, USER, BOT],
           "chat_template_kwargs": {"enable_thinking": False}}
    (rec,) = read([row])
    assert [m.role for m in rec.messages] == ["system", "user", "assistant"]
    assert rec.metadata == {"chat_template_kwargs": {"enable_thinking": False}}
    assert write([rec]) == [row]


def test_conversational_prompt_completion() -> None:
    row = {"prompt": [{"role": "system", "content": "S"}, USER], "completion": [BOT]}
    (rec,) = read([row])
    assert [m.content for m in rec.messages] == ["S", "What color is the sky?", "It is blue."]
    assert rec.metadata == {"_trl": {"type": "prompt-completion", "prompt_len": 2}}
    assert write([rec]) == [row]
    # forced to messages by the writer option
    assert write([rec], options=Options(extra={"trl_type": "messages"})) == [
        {"messages": [*row["prompt"], BOT]}]


def test_standard_prompt_completion() -> None:
    row = {"prompt": "The sky is", "completion": " blue."}
    (rec,) = read([row])
    assert [(m.role, m.content) for m in rec.messages] == [("user", "The sky is"),
                                                           ("assistant", " blue.")]
    assert rec.metadata == {"_trl": {"type": "prompt-completion", "format": "standard"}}
    assert write([rec]) == [row]


def test_prompt_completion_split_without_marker() -> None:
    (rec,) = read([{"messages": [USER, BOT, {"role": "user", "content": "And at night?"},
                                 {"role": "assistant", "content": "Black."}]}])
    (row,) = write([rec], options=Options(extra={"trl_type": "prompt-completion"}))
    assert [m["content"] for m in row["prompt"]] == ["What color is the sky?", "It is blue.",
                                                     "And at night?"]
    assert row["completion"] == [{"role": "assistant", "content": "Black."}]


def test_text_rows_are_rejected_and_text_writing_is_a_usage_error() -> None:
    assert error({"text": "### 指示:\n９＋７は？\n\n### 応答:\n１６"}) == (
        "plain text has no roles: a TRL `text` row cannot be read as a conversation - at $.text "
        "(<rows>:1, format=trl)")
    (rec,) = read([{"messages": [USER, BOT]}])
    with pytest.raises(UsageError, match=r"^trl_type=text needs a chat template to render "
                                         r"messages into text"):
        write([rec], options=Options(extra={"trl_type": "text"}))
    with pytest.raises(UsageError, match=r"^trl_type must be one of messages, prompt-completion, "
                                         r"text, got 'chat'$"):
        write([rec], options=Options(extra={"trl_type": "chat"}))


def test_errors() -> None:
    assert error({"prompt": "x", "completion": [BOT]}) == (
        "`prompt` and `completion` must both be strings or both be message lists, got `str` and "
        "`array` - at $.completion (<rows>:1, format=trl)")
    assert error({"chosen": "x"}) == (
        "Expected TRL SFT columns: `messages`, or `prompt` and `completion` - at $ "
        "(<rows>:1, format=trl)")
    assert error({"messages": [USER, {"role": "gpt", "content": "a"}]}) == (
        "Expected one of 'system', 'user', 'assistant', 'tool', got 'gpt' - at "
        "$.messages[1].role (<rows>:1, format=trl)")
    (rec,) = read([{"messages": [{"role": "system", "content": "S"}, USER, BOT]}])
    (rej,) = get_format("trl").write([rec.model_copy(update={"metadata": {
        "_trl": {"type": "prompt-completion", "format": "standard"}}})], WriteContext())
    assert str(rej.error) == (
        "standard prompt/completion holds exactly one user and one assistant text turn, got "
        "roles ['system', 'user', 'assistant'] (format=trl)")


def test_tool_calls_arguments_as_objects_spacing_dropped_and_counted() -> None:
    """Issue 15 item 7: no ``_trl`` bookkeeping column reaches a trainer's file; the exact
    spacing of arguments text that an object cannot keep is dropped and counted."""
    call = {"id": "c1", "type": "function",
            "function": {"name": "f", "arguments": '{"x": 1}'}}
    oa = {"messages": [USER, {"role": "assistant", "tool_calls": [call]},
                       {"role": "tool", "tool_call_id": "c1", "content": "2"}, BOT],
          "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]}
    (rec,) = read([oa], "openai")
    ctx = WriteContext()
    (row,) = get_format("trl").write([rec], ctx)
    assert row["messages"][1] == {"role": "assistant", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": {"x": 1}}}]}
    assert not [k for k in row if k.startswith("_")]
    assert dict(ctx.dropped) == {"_trl": 1}  # the text had a space
    (back,) = read([row])
    assert back.messages[1].tool_calls[0].arguments == '{"x":1}'
    compact = {**call, "function": {"name": "f", "arguments": '{"x":1}'}}
    assert write([back], "openai") == [{**oa, "messages": [
        USER, {"role": "assistant", "tool_calls": [compact]}, *oa["messages"][2:]]}]
    strict = WriteContext(options=Options(strict=True))
    (rej,) = get_format("trl").write([rec], strict)
    assert rej.error.reason == (
        "`_trl` has no place in the output format and would be lost (--strict)")


def test_tools_string_and_thinking() -> None:
    row = {"messages": [USER, {"role": "assistant", "content": "Blue.", "thinking": "Rayleigh."}],
           "tools": '[{"type": "function", "function": {"name": "f"}}]'}
    (rec,) = read([row])
    assert rec.messages[1].reasoning == "Rayleigh."
    assert rec.tools == [{"type": "function", "function": {"name": "f"}}]
    assert write([rec]) == [row]


def test_detection_scores() -> None:
    assert FMT.detect({"messages": [USER, BOT]}) == 1
    assert get_format("openai").detect({"messages": [USER, BOT]}) == 2
    assert FMT.detect({"prompt": "a", "completion": "b"}) == 1
    assert FMT.detect({"prompt": [USER], "completion": [BOT]}) == 3
    assert FMT.detect({"text": "x"}) == 0
    assert FMT.detect({"prompt": [USER], "completion": [BOT], "label": True}) == 0
    assert detect_format([{"messages": [USER, BOT]}]).name == "openai"
    assert detect_format([{"prompt": [USER], "completion": [BOT]}]).name == "trl"


def test_japanese_byte_for_byte(tmp_path: Path) -> None:
    path = shared_file("dolly_ja", "databricks-dolly-15k-ja_00000-00299.jsonl")
    first = orjson.loads(path.read_bytes().splitlines()[0])
    rec = Conversation(messages=[  # type: ignore[list-item]
        {"role": "user", "content": first["instruction"]},
        {"role": "assistant", "content": first["output"]}])
    out = tmp_path / "ja.jsonl"
    dialogkit.write([rec], out, "trl")
    raw = out.read_bytes()
    assert first["instruction"].encode("utf-8") in raw
    assert first["output"].encode("utf-8") in raw
    assert first["instruction"] == "ヴァージン・オーストラリアはいつから運航を開始したのですか？"
    (back,) = dialogkit.read(out, "trl")
    assert (back.messages[0].content, back.messages[1].content) == (
        first["instruction"], first["output"])


# --- cross-format: every real sharegpt and openai sample -> trl -> back ------------------------

CROSS = [
    ("sharegpt", "sharegpt", "axolotl_fixture_conversation.json"),
    ("sharegpt", "sharegpt", "axolotl_fixture_conversation.missingturns.json"),
    ("sharegpt", "sharegpt", "fastchat_dummy_conversation_first300.json"),
    ("sharegpt", "sharegpt", "glaive_toolcall_en_demo_llamafactory_first300.json"),
    ("sharegpt", "sharegpt", "sharegpt92k_enriched_raw_example_0DsLnLO_0.json"),
    ("sharegpt", "sharegpt", "sharegpt_v3_unfiltered_cleaned_split_sample.json"),
    ("openai_chat", "openai", "openai_cookbook_toy_chat_fine_tuning.jsonl"),
    ("openai_chat", "openai", "openai_cookbook_drone_training_first5.jsonl"),
]


@pytest.mark.parametrize(("folder", "fmt", "name"), CROSS)
def test_through_trl_and_back(folder: str, fmt: str, name: str) -> None:
    path = shared_file(folder, name)
    recs = read(path, fmt, QUIRKS)
    assert recs
    as_trl = write(recs, "trl", QUIRKS)
    assert all("messages" in row for row in as_trl)
    via_trl = read(as_trl, "trl", QUIRKS)
    back = read(write(via_trl, fmt, QUIRKS), fmt, QUIRKS)
    # a format's private layout marker (metadata["_sharegpt"]) never leaves that format
    expected = [r.model_copy(update={"metadata": {k: v for k, v in r.metadata.items()
                                                  if not k.startswith("_")}}) for r in recs]
    if "drone" in name:  # arguments with spaces come back compact (item 7 of issue 15)
        expected = compact_arguments(expected)
    assert back == expected
    if fmt == "openai" and "drone" not in name or "glaive" in name or "fastchat" in name:
        original = [r.data for r in read_rows(path)]
        assert write(via_trl, fmt, QUIRKS) == original  # even the source rows come back


def test_drone_through_trl_keeps_double_encoded_text() -> None:
    path = shared_file("openai_chat", "openai_cookbook_drone_training_first5.jsonl")
    rows = write(read(path, "openai"), "trl")
    assert rows[0]["messages"][2]["tool_calls"][0]["function"]["arguments"] == {"altitude": 100}
    assert not [k for r in rows for k in r if k.startswith("_")]
    # decoding once gives a string, not an object: it is written as that text, unchanged
    assert rows[2]["messages"][2]["tool_calls"][0]["function"]["arguments"] == (
        '"{\\"location\\": \\"current\\"}"')


def test_vision_language_layout_with_images_column() -> None:
    row = {"messages": [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Who?"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "Kane."}]},
        {"role": "user", "content": [{"type": "text", "text": "And?"}, {"type": "image"}]},
        {"role": "assistant", "content": "Gretzka."}],
        "images": ["https://example.com/1.jpg", "https://example.com/2.jpg"]}
    rec = read([row])[0]
    assert [p.url for m in rec.messages for p in m.media] == [
        "https://example.com/1.jpg", "https://example.com/2.jpg"]
    assert rec.metadata == {}
    assert write([rec]) == [row]


def test_media_column_must_match_the_image_parts() -> None:
    more = {"messages": [{"role": "user", "content": [{"type": "image"}]},
                         {"role": "assistant", "content": "a"}], "images": ["a.png", "b.png"]}
    assert error(more) == ("the images column has 2 entries but the messages have 1 image parts"
                           " - at $.images (<rows>:1, format=trl)")
    fewer = {**more, "images": []}
    assert error(fewer) == ("an image part with no image: the row's images column has none left "
                            "for it - at $.messages[0].content[0] (<rows>:1, format=trl)")


def test_reasoning_keys_and_object_arguments_keep_their_form() -> None:
    row = {"messages": [{"role": "user", "content": "q"},
                        {"role": "assistant", "reasoning_content": "r",
                         "tool_calls": [{"type": "function",
                                         "function": {"name": "f", "arguments": {"x": 1}}}]},
                        {"role": "tool", "content": "1"},
                        {"role": "assistant", "content": "a"}]}
    rec = read([row])[0]
    assert rec.messages[1].reasoning == "r"
    assert rec.messages[1].tool_calls[0].arguments_form == "object"
    assert write([rec]) == [row]  # the reasoning key is the one it came under
    assert [r.messages for r in read(write([rec]))] == [rec.messages]


def test_openai_image_detail_has_no_place_in_trl_and_is_counted() -> None:
    (rec,) = dialogkit.read([{"messages": [
        {"role": "user", "content": [{"type": "image_url", "image_url": {
            "url": "https://x/cat.png", "detail": "low"}}]},
        {"role": "assistant", "content": "A cat."}]}], "openai")
    ctx = WriteContext()
    (row,) = get_format("trl").write([rec], ctx)
    assert row == {"messages": [{"role": "user", "content": [{"type": "image"}]},
                                {"role": "assistant", "content": "A cat."}],
                   "images": ["https://x/cat.png"]}
    assert ctx.dropped["media.details"] == 1
