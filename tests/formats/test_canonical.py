"""dialogkit (canonical): also reads its own published Parquet layout back to the same records."""

from __future__ import annotations

from pathlib import Path

import dialogkit
from dialogkit.models import (
    Candidate,
    Comparison,
    Conversation,
    Message,
    PreferencePair,
    ToolCall,
)


def records() -> list[object]:
    u = Message(role="user", content="日本の首都は？")
    a = Message(role="assistant", content="東京", weight=1)
    call = Message(role="assistant", tool_calls=[ToolCall(id="c1", name="f", arguments='{"x": 1}')])
    return [
        Conversation(id="c", messages=[u, call, Message(role="tool", tool_call_id="c1",
                                                          content="2"), a],
                     tools=[{"type": "function", "function": {"name": "f"}}],
                     metadata={"lang": "ja", "score": 1 / 3}),
        PreferencePair(prompt=[u], chosen=[a], rejected=[Message(role="assistant", content="x")],
                       margin=0.5, group_id="g"),
        Comparison(context=[u], candidates=[Candidate(messages=[a], score=2.0),
                                            Candidate(messages=[Message(role="assistant",
                                                                        content="y")])],
                   ranking=[0, None]),
    ]


def test_published_parquet_reads_back_as_the_same_records(tmp_path: Path) -> None:
    for rec in records():
        path = tmp_path / f"{rec.kind}.parquet"  # type: ignore[attr-defined]
        dialogkit.to_dataset([rec]).to_parquet(str(path))
        (back,) = dialogkit.read(path)  # auto-detects `dialogkit`
        assert back.model_copy(update={"source": None}) == rec
        out = tmp_path / f"{rec.kind}.jsonl"  # type: ignore[attr-defined]
        assert dialogkit.convert(path, out, to="dialogkit").written == 1
