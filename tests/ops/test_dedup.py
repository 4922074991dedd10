"""Duplicate removal: exact and normalized, by record and by prompt, first one kept."""

from __future__ import annotations

import pytest

from dialogkit.errors import UsageError
from dialogkit.models import Conversation, InstructionDemo, Message, PromptOnly, Source
from dialogkit.ops.dedup import DedupReport, dedup, normalize_text, prompt_key


def demo(prompt: str, response: str = "ok", **kw) -> InstructionDemo:
    return InstructionDemo(prompt=prompt, response=response, **kw)


def test_normalize_text() -> None:
    assert normalize_text("  Ｈｅｌｌｏ\n\t World ") == "hello world"
    assert normalize_text("ﾃｽﾄ") == "テスト"  # half-width katakana, NFKC
    assert normalize_text("STRASSE") == normalize_text("straße")  # casefold


def test_exact_by_record_ignores_id_source_metadata() -> None:
    a = demo("Hi", id="1", source=Source(file="a.jsonl", line=1), metadata={"x": 1})
    b = demo("Hi", id="2", source=Source(file="b.jsonl", line=9))
    c = demo("hi")
    rep = DedupReport()
    out = list(dedup([a, b, c], "record", False, rep))
    assert out == [a, c]
    assert rep.to_json() == {"read": 3, "kept": 2, "removed": 1}


def test_normalized_by_record() -> None:
    a, b, c = demo("Hi  there"), demo("hi there"), demo("Hi there", "other")
    rep = DedupReport()
    assert list(dedup([a, b, c], "record", True, rep)) == [a, c]
    assert rep.read == rep.kept + rep.removed == 3


def test_by_prompt_across_kinds() -> None:
    d = demo("What is 2+2?", "4")
    conv = Conversation(messages=[Message(role="user", content="what is 2+2?"),
                                  Message(role="assistant", content="Four")])
    p = PromptOnly(prompt=[Message(role="user", content="What is 2+2?")])
    assert prompt_key(d) == prompt_key(p)
    assert prompt_key(d) != prompt_key(conv)
    assert prompt_key(d, normalize=True) == prompt_key(conv, normalize=True)
    rep = DedupReport()
    assert list(dedup([d, conv, p], "prompt", True, rep)) == [d]
    assert rep.to_json() == {"read": 3, "kept": 1, "removed": 2}
    assert list(dedup([d, conv, p], "prompt", False)) == [d, conv]


def test_seen_dedups_against_another_set() -> None:
    seen = {prompt_key(demo("A"))}
    assert list(dedup([demo("A", "x"), demo("B")], "prompt", seen=seen)) == [demo("B")]


def test_bad_by() -> None:
    with pytest.raises(UsageError, match="^by must be one of record, prompt, got 'text'$"):
        list(dedup([], "text"))
