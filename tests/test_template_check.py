"""check-template logic: refusals and each silent drop named in RENDERING.md."""

from __future__ import annotations

from typing import Any

import pytest

from dialogkit.errors import TemplateError, UsageError
from dialogkit.models import Conversation, InstructionDemo, Message, PromptOnly
from dialogkit.registry import Reject
from dialogkit.templates import (
    ChatTemplate,
    CheckReport,
    Finding,
    check_conversation,
    check_template,
    load_tokenizer,
)
from tests.conftest import shared_file


def _m(role: str, content: str | None = None, **kw: Any) -> Message:
    return Message(role=role, content=content, **kw)


SYSTEM = Conversation(messages=[
    _m("system", "You are terse."), _m("user", "Hi"), _m("assistant", "Hello."),
])
REASONING = Conversation(messages=[
    _m("user", "Why?"), _m("assistant", "Because.", reasoning="Think it over."),
    _m("user", "Sure?"), _m("assistant", "Yes.", reasoning="Check again."),
])
EMPTY_SYSTEM = Conversation(messages=[_m("system", ""), _m("user", "Hi"), _m("assistant", "Yo")])


def _tpl(name: str, **special: str) -> ChatTemplate:
    src = shared_file("chat_templates", *name.split("/")).read_text(encoding="utf-8")
    return ChatTemplate({"default": src}, special)


@pytest.fixture(scope="module")
def phi3() -> Any:
    return load_tokenizer(shared_file("chat_templates", "tokenizers", "phi-3-mini"))


def test_mistral_v03_drops_the_system_prompt() -> None:
    tpl = _tpl("mistral-7b-instruct-v0.3.jinja", bos_token="<s>", eos_token="</s>")
    problems = check_conversation(SYSTEM, tpl)
    assert problems[0] == ("system prompt dropped", "messages[0] (system): You are terse.")


def test_deepseek_r1_strips_reasoning() -> None:
    tpl = _tpl("deepseek-r1.jinja", bos_token="<s>", eos_token="</s>")
    issues = [p for p in check_conversation(REASONING, tpl) if p[0] == "reasoning stripped"]
    assert issues == [
        ("reasoning stripped", "messages[1] (assistant): Think it over."),
        ("reasoning stripped", "messages[3] (assistant): Check again."),
    ]


def test_qwen3_keeps_reasoning_only_after_the_last_user_turn() -> None:
    problems = check_conversation(REASONING, _tpl("qwen3.jinja"))
    assert ("reasoning stripped", "messages[1] (assistant): Think it over.") in problems
    assert all("Check again" not in detail for _, detail in problems)


def test_phi35_drops_an_empty_system_message() -> None:
    problems = check_conversation(EMPTY_SYSTEM, _tpl("phi-3.5-mini-instruct.jinja",
                                                     eos_token="<|endoftext|>"))
    assert problems[0] == (
        "message dropped",
        "messages[0] (system): the empty message leaves no trace in the rendering",
    )


def test_gemma2_refuses_system() -> None:
    assert check_conversation(SYSTEM, _tpl("gemma-2-it.jinja", bos_token="<bos>")) == [
        ("refused", "System role not supported")
    ]


def test_no_generation_tags_and_no_sound_prefix(phi3: Any) -> None:
    problems = check_conversation(REASONING, _tpl("phi-3-mini-instruct.jinja"), tokenizer=phi3)
    assert [p[0] for p in problems] == ["reasoning stripped", "reasoning stripped",
                                        "no assistant spans"]


def test_empty_assistant_mask(phi3: Any) -> None:
    src = ("{% for m in messages %}{% if m.role == 'assistant' %}{% generation %}{{ m.content }}"
           "{% endgeneration %}{% else %}{{ m.content }}{% endif %}{% endfor %}")
    conv = Conversation(messages=[_m("user", "Hi"), _m("assistant", "")])
    tpl = ChatTemplate({"default": src})
    dropped = ("message dropped",
               "messages[1] (assistant): the empty message leaves no trace in the rendering")
    assert check_conversation(conv, tpl, tokenizer=phi3) == [
        dropped,
        ("empty assistant mask", "no token of 1 is assistant output (spans from generation)"),
    ]
    assert check_conversation(conv, tpl) == [
        dropped,
        ("empty assistant mask", "no character is assistant output (spans from generation)"),
    ]


def test_clean_record_and_too_long(phi3: Any) -> None:
    tpl = _tpl("generation/trl-llama3_training.jinja", bos_token="<s>")
    assert check_conversation(SYSTEM, tpl, tokenizer=phi3) == []
    assert check_conversation(SYSTEM, tpl, tokenizer=phi3, max_tokens=5) == [
        ("too long", "93 tokens, more than 5")
    ]


def test_report_over_records(phi3: Any) -> None:
    from dialogkit.errors import RecordError

    recs = [
        SYSTEM,
        InstructionDemo(prompt="Add", input="2+2", response="4"),
        PromptOnly(prompt=[_m("user", "hi")]),
        Reject(RecordError("bad row", source="x.jsonl", line=4)),
    ]
    rep = check_template(recs, _tpl("generation/trl-gemma_training.jinja", bos_token="<bos>"),
                         phi3)
    assert isinstance(rep, CheckReport)
    assert (rep.records, rep.damaged) == (4, 3)
    assert rep.findings == [
        Finding("#1", "refused", "System role not supported"),
        Finding("#3", "not an SFT record",
                "format 'render' holds SFT conversations, not a record of kind 'prompt'"),
        Finding("x.jsonl:4", "unreadable", "bad row"),
    ]
    assert dict(rep.by_issue) == {"refused": 1, "not an SFT record": 1, "unreadable": 1}


def test_system_prompt_dropped_docstring_template() -> None:
    tpl = "{% for m in messages if m.role != 'system' %}{{ m.content }}{% endfor %}"
    rep = check_template([SYSTEM], tpl)
    assert [f.issue for f in rep.findings] == ["system prompt dropped"]


def test_max_tokens_needs_tokenizer() -> None:
    with pytest.raises(UsageError, match="--max-tokens needs --tokenizer"):
        check_template([], "x{{ 1 }}", max_tokens=3)


def test_hostile_template_stops_the_check() -> None:
    with pytest.raises(TemplateError, match="Python internals"):
        check_template([SYSTEM], "{{ ''.__class__ }}")


def test_a_template_failing_on_a_prefix_is_refused_not_a_span_problem() -> None:
    # renders the whole conversation, but not messages[:1] (messages[1] is undefined there)
    tpl = ChatTemplate({"default": "{% for m in messages %}{{ m.content }}{% endfor %}"
                                   "{{ messages[1].content.upper() }}"})
    conv = Conversation(messages=[_m("user", "Hi"), _m("assistant", "Yo")])
    assert check_conversation(conv, tpl) == [
        ("refused", "rendering messages[:1] for the spans: the template failed: UndefinedError: "
                    "list object has no element 1"),
    ]
