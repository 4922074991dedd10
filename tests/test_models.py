"""Canonical models: each validation rule has its own name and message."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from dialogkit.errors import RecordError
from dialogkit.models import (
    Comparison,
    Conversation,
    InstructionDemo,
    Message,
    PreferencePair,
    PromptOnly,
    RecordAdapter,
    TrainerDialogue,
    UnpairedExample,
)
from dialogkit.registry import build, build_adapter

U = {"role": "user", "content": "hi"}
A = {"role": "assistant", "content": "hello"}


def rule_of(model: Any, data: dict[str, Any]) -> tuple[str, str]:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    e = info.value.errors()[0]
    return e["type"], e["msg"]


def test_conversation_ok_and_defaults() -> None:
    c = Conversation.model_validate({"messages": [U, A]})
    assert c.kind == "conversation"
    assert c.metadata == {} and c.tools is None and c.source is None
    assert c.messages[1].content == "hello"


@pytest.mark.parametrize(
    ("model", "data", "rule", "msg"),
    [
        (Conversation, {"messages": [U]}, "no_assistant_turn",
         "an SFT conversation needs at least one assistant turn"),
        (Conversation, {"messages": []}, "no_messages", "messages is empty"),
        (Conversation, {"messages": [U, {"role": "tool", "content": "42"}, A]},
         "tool_without_call", "messages[1] is a tool message that answers no tool call"),
        (Conversation, {"messages": [
            U,
            {"role": "assistant", "tool_calls": [{"id": "c1", "name": "f", "arguments": "{}"}]},
            {"role": "tool", "tool_call_id": "c2", "content": "42"},
            A]},
         "tool_call_id_unknown",
         "messages[2] answers tool call 'c2', which the assistant did not make"),
        (Message, {"role": "assistant"}, "message_empty", "a message needs content or tool_calls"),
        (Message, {"role": "user", "content": "x",
                   "tool_calls": [{"name": "f", "arguments": "{}"}]},
         "tool_calls_role", "only an assistant message may carry tool_calls, not a user message"),
        (Message, {"role": "user", "content": "x", "weight": -0.5}, "weight_negative",
         "a loss weight is a number >= 0, got -0.5"),
        (Message, {"role": "bot", "content": "x"}, "literal_error",
         "Input should be 'system', 'user', 'assistant' or 'tool'"),
        (Comparison, {"context": [U], "candidates": [{"messages": [A]}]}, "too_few_candidates",
         "a comparison needs at least 2 candidates, got 1"),
        (Comparison, {"context": [U], "candidates": [{"messages": [A]}, {"messages": [A]}],
                      "ranking": [0]}, "ranking_length", "ranking has 1 entries for 2 candidates"),
        (Comparison, {"context": [U], "candidates": [{"messages": [A]}, {"messages": [A]}],
                      "ranking": [0, -1]}, "negative_rank",
         "ranks start at 0 (best); got a negative rank"),
        (Comparison, {"context": [], "candidates": [{"messages": [A]}, {"messages": [A]}]},
         "no_context", "a comparison needs at least one context message"),
        (PreferencePair, {"prompt": [U], "chosen": [A], "rejected": [A]}, "identical_pair",
         "chosen and rejected are identical, so they carry no preference"),
        (PreferencePair, {"prompt": [U], "chosen": [], "rejected": [A]}, "empty_completion",
         "chosen and rejected each need at least one message"),
        (UnpairedExample, {"prompt": [U], "completion": [], "label": True}, "empty_completion",
         "completion needs at least one message"),
        (PromptOnly, {"prompt": []}, "no_messages", "prompt is empty"),
        (TrainerDialogue, {"messages": [{**U, "author": "trainer"}]}, "no_assistant_turn",
         "an SFT conversation needs at least one assistant turn"),
    ],
)
def test_each_rule_has_its_name_and_message(model: Any, data: dict[str, Any], rule: str,
                                            msg: str) -> None:
    assert rule_of(model, data) == (rule, msg)


@pytest.mark.parametrize(
    ("part", "rule", "msg"),
    [
        ({"type": "image"}, "media_no_source", "a image part needs a source: url, path or data"),
        ({"type": "audio", "url": "u", "path": "p"}, "media_sources",
         "a audio part has one source, got url, path"),
        ({"type": "text"}, "missing", "missing required field `text`"),
    ],
)
def test_part_rules_are_located_in_the_content_list(part: dict[str, Any], rule: str,
                                                    msg: str) -> None:
    with pytest.raises(RecordError) as info:
        build(Conversation, {"messages": [{"role": "user", "content": ["x", part][1:]}, A]})
    assert (info.value.rule, info.value.reason) == (rule, msg)
    assert info.value.loc == "$.messages[0].content[0]" + (".text" if rule == "missing" else "")


def test_content_string_stays_a_string_and_parts_stay_parts() -> None:
    c = Conversation.model_validate({"messages": [
        {"role": "user", "content": [{"type": "text", "text": "hi "},
                                     {"type": "image", "url": "https://x/1.png"}]}, A]})
    assert c.messages[1].content == "hello"
    assert c.messages[0].text == "hi " and [p.ref for p in c.messages[0].media] == [
        "https://x/1.png"]
    dumped = c.model_dump(mode="json", exclude_none=True)["messages"]
    assert dumped[0]["content"] == [{"type": "text", "text": "hi "},
                                    {"type": "image", "url": "https://x/1.png"}]
    assert dumped[1] == A


def test_ties_and_unranked_are_valid() -> None:
    c = Comparison.model_validate({
        "context": [U],
        "candidates": [{"messages": [A]}, {"messages": [{**A, "content": "b"}]},
                       {"messages": [{**A, "content": "c"}], "score": 2.5, "model": "m"}],
        "ranking": [0, 0, None],
    })
    assert c.ranking == [0, 0, None]
    assert c.candidates[2].score == 2.5


def test_tool_call_answered_by_id_and_without_ids() -> None:
    call = {"role": "assistant", "tool_calls": [{"id": "c1", "name": "f", "arguments": '{"x": 1}'}]}
    c = Conversation.model_validate({"messages": [U, call, {"role": "tool", "tool_call_id": "c1",
                                                            "content": "2"}, A]})
    assert c.messages[1].tool_calls is not None
    assert c.messages[1].tool_calls[0].arguments == '{"x": 1}'
    no_ids = {"role": "assistant", "tool_calls": [{"name": "f", "arguments": "{}"}]}
    Conversation.model_validate({"messages": [U, no_ids, {"role": "tool", "content": "2"}, A]})


def test_extra_fields_are_refused_not_dropped() -> None:
    assert rule_of(InstructionDemo, {"prompt": "p", "response": "r", "colour": 1})[0] == (
        "extra_forbidden"
    )


def test_union_dispatches_on_kind() -> None:
    r = RecordAdapter.validate_python({"kind": "prompt", "prompt": [U]})
    assert isinstance(r, PromptOnly)
    d = RecordAdapter.validate_python({"kind": "demo", "prompt": "p", "response": "r"})
    assert isinstance(d, InstructionDemo)


def test_build_turns_validation_errors_into_record_errors() -> None:
    with pytest.raises(RecordError) as info:
        build(Conversation, {"messages": [U, {"role": "bot", "content": "x"}]})
    assert str(info.value) == (
        "Expected 'system', 'user', 'assistant' or 'tool', got 'bot' - at $.messages[1].role"
    )
    with pytest.raises(RecordError) as info:
        build_adapter(RecordAdapter, {"kind": "demo", "prompt": "p"})
    assert str(info.value) == "missing required field `response` - at $.response"
    assert info.value.rule == "missing"
    with pytest.raises(RecordError) as info:
        build_adapter(RecordAdapter, {"kind": "prompt", "prompt": []})
    assert str(info.value) == "prompt is empty - at $"
    assert info.value.rule == "no_messages"
