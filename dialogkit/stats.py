"""Statistics of a dataset for ``dialogkit inspect``: kinds, roles, turns and lengths, media
parts by type and how many assistant turns carry reasoning."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from dialogkit.pipeline import iter_outcomes
from dialogkit.registry import Options, Reject

__all__ = ["Stats", "collect", "percentiles"]


def percentiles(values: list[int], qs: Iterable[float] = (0.5, 0.9, 0.99)) -> list[int]:
    """min, the nearest-rank percentiles ``qs``, and max of ``values`` (zeros when empty)."""
    if not values:
        return [0] * (len(tuple(qs)) + 2)
    s = sorted(values)
    n = len(s)
    picks = [s[min(n - 1, max(0, int(-(-q * n // 1)) - 1))] for q in qs]
    return [s[0], *picks, s[-1]]


@dataclass
class Stats:
    """Counts and distributions gathered in one pass over a dataset."""

    format: str | None = None
    records: int = 0
    rejected: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    roles: Counter[str] = field(default_factory=Counter)
    turns: list[int] = field(default_factory=list)
    chars: list[int] = field(default_factory=list)
    candidates: list[int] = field(default_factory=list)
    media: Counter[str] = field(default_factory=Counter)  # media parts by type
    media_records: int = 0  # records with at least one media part
    assistant_turns: int = 0
    reasoning_turns: int = 0  # assistant turns that carry reasoning

    def distributions(self) -> dict[str, list[int]]:
        """Name -> [min, p50, p90, p99, max] for each measure that has values."""
        out = {
            "turns per conversation": self.turns,
            "characters per record": self.chars,
            "candidates per comparison": self.candidates,
        }
        return {k: percentiles(v) for k, v in out.items() if v}


def _messages(record: Any) -> list[Any]:
    for name in ("messages", "context", "prompt"):
        msgs = getattr(record, name, None)
        if isinstance(msgs, list):
            out = list(msgs)
            for extra in ("chosen", "rejected", "completion"):
                out += getattr(record, extra, None) or []
            for cand in getattr(record, "candidates", None) or []:
                out += cand.messages
            return out
    return []


def collect(
    src: str | os.PathLike[str], format: str = "auto", options: Options | None = None
) -> Stats:
    """Stream ``src`` once and gather :class:`Stats`."""
    stats = Stats()

    def seen(fmt: Any) -> None:
        stats.format = fmt.name

    for item in iter_outcomes(src, format, options, on_format=seen):
        if isinstance(item, Reject):
            stats.rejected += 1
            continue
        stats.records += 1
        stats.kinds[item.kind] += 1
        if item.kind == "demo":
            stats.roles.update(["user", "assistant"])
            stats.turns.append(2)
            stats.chars.append(len(item.prompt) + len(item.input or "") + len(item.response))
            continue
        msgs = _messages(item)
        stats.roles.update(m.role for m in msgs)
        if item.kind in ("conversation", "trainer_dialogue"):
            stats.turns.append(len(msgs))
        if item.kind == "comparison":
            stats.candidates.append(len(item.candidates))
        stats.chars.append(sum(len(m.text or "") for m in msgs))
        kinds = [p.type for m in msgs for p in m.media]
        if kinds:
            stats.media.update(kinds)
            stats.media_records += 1
        for m in msgs:
            if m.role == "assistant":
                stats.assistant_turns += 1
                stats.reasoning_turns += m.reasoning is not None
    return stats
