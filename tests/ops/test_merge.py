"""Merging sources into one chat-format SFT set: kinds, weights, provenance, counts."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from dialogkit.errors import UsageError
from dialogkit.models import Conversation, Message
from dialogkit.ops.merge import MergeReport, MergeSource, merge, sample_positions, to_sft
from dialogkit.registry import Reject

DEMO = {"kind": "demo", "prompt": "Add", "input": "2+2", "response": "4", "labeler": "L1"}
DIALOGUE = {
    "kind": "trainer_dialogue", "id": "td", "trainer_id": "T9",
    "messages": [{"role": "user", "content": "Hi", "author": "trainer"},
                 {"role": "assistant", "content": "Hello", "author": "model"}],
}
COMPARISON = {
    "kind": "comparison", "id": "c1", "context": [{"role": "user", "content": "Q"}],
    "candidates": [{"messages": [{"role": "assistant", "content": "worse"}]},
                   {"messages": [{"role": "assistant", "content": "best"}]}],
    "ranking": [1, 0],
}
UNRANKED = {**COMPARISON, "id": "c2", "ranking": None}
PROMPT = {"kind": "prompt", "prompt": [{"role": "user", "content": "p"}]}


def write_jsonl(path: Path, rows: list[dict]) -> str:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return str(path)


def test_to_sft_kinds(tmp_path: Path) -> None:
    from dialogkit.api import read

    recs = list(read(write_jsonl(tmp_path / "a.jsonl", [DEMO, DIALOGUE, COMPARISON]),
                     format="dialogkit"))
    demo, dialogue, comp = (to_sft(r) for r in recs)
    assert [m.content for m in demo.messages] == ["Add\n\n2+2", "4"]
    assert demo.metadata == {
        "labeler": "L1",
        "provenance": {"file": str(tmp_path / "a.jsonl"), "line": 1, "format": "dialogkit"},
    }
    assert dialogue.metadata["trainer_id"] == "T9"
    assert dialogue.metadata["authors"] == ["trainer", "model"]
    assert [m.content for m in comp.messages] == ["Q", "best"]
    assert comp.id == "c1" and comp.metadata["provenance"]["line"] == 3
    assert isinstance(demo, Conversation)


def test_sample_positions() -> None:
    assert sample_positions(3, 2, 0, "s") == [2, 2, 2]
    assert sample_positions(3, 0, 0, "s") == [0, 0, 0]
    half = sample_positions(10, 0.5, 0, "s")
    assert sum(half) == 5 and set(half) == {0, 1}
    assert sample_positions(10, 0.5, 0, "s") == half
    assert sample_positions(10, 0.5, 1, "s") != half
    assert sum(sample_positions(10, 1.5, 0, "s")) == 15
    with pytest.raises(UsageError, match="^weight of 's' must be a number >= 0, got -1$"):
        sample_positions(1, -1, 0, "s")


def test_merge_weights_order_and_counts(tmp_path: Path) -> None:
    a = write_jsonl(tmp_path / "a.jsonl", [DEMO, {**DEMO, "response": "four"}])
    b = write_jsonl(tmp_path / "b.jsonl", [DIALOGUE, COMPARISON, UNRANKED, PROMPT])
    rep = MergeReport()
    out = list(merge([MergeSource(a, weight=2, name="a"), MergeSource(b, name="b")], 0, rep))
    good = [o for o in out if not isinstance(o, Reject)]
    bad = [o for o in out if isinstance(o, Reject)]
    assert [m.messages[-1].content for m in good] == ["4", "4", "four", "four", "Hello", "best"]
    assert sorted(r.error.rule for r in bad) == ["no ranked candidate", "not SFT data"]
    assert str(bad[0].error) == (
        f"the comparison has no ranked candidate to take as the best - at $.ranking "
        f"({b}:3, format=dialogkit)")
    assert [s.to_json() for s in rep.sources] == [
        {"name": "a", "format": "dialogkit", "weight": 2, "read": 2, "converted": 2,
         "rejected": 0, "rejected_by_reason": {}, "written": 4},
        {"name": "b", "format": "dialogkit", "weight": 1.0, "read": 4, "converted": 2,
         "rejected": 2, "rejected_by_reason": {"no ranked candidate": 1, "not SFT data": 1},
         "written": 2},
    ]
    assert rep.written == 6
    for s in rep.sources:
        assert s.read == s.converted + s.rejected
    assert all(g.metadata["provenance"]["file"] in (a, b) for g in good)


def test_merge_does_not_change_records() -> None:
    conv = Conversation(messages=[Message(role="user", content="u"),
                                  Message(role="assistant", content="a")], metadata={"k": 1})
    out = to_sft(conv)
    assert conv.metadata == {"k": 1} and out is not conv
