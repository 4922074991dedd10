"""Format auto-detection from the first rows; no match or a tie is an error showing the evidence."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dialogkit.errors import DetectionError
from dialogkit.registry import Format, all_formats

__all__ = ["SAMPLE_ROWS", "detect_format"]

SAMPLE_ROWS = 20  # rows looked at; enough to see optional columns, cheap on any file


def detect_format(rows: Sequence[Any], source: str = "input") -> Format:
    """The one readable format every sampled row fits best.

    Each format scores a row (0 = not it). A format is a candidate when it scores every sampled
    row; the highest total wins. No candidate, or a tie at the top, raises DetectionError with
    the keys seen and the candidates.
    """
    objects = [r for r in rows[:SAMPLE_ROWS]]
    keys = sorted({k for r in objects if isinstance(r, dict) for k in r})
    if not objects:
        raise DetectionError(f"{source}: no rows to detect a format from; pass --from")
    scores: dict[str, int] = {}
    by_name: dict[str, Format] = {}
    for fmt in all_formats():
        if not fmt.reads:
            continue
        total = 0
        for r in objects:
            try:
                s = fmt.detect(r)
            except Exception:  # a detector must never crash detection
                s = 0
            if s <= 0:
                total = 0
                break
            total += s
        if total:
            scores[fmt.name] = total
            by_name[fmt.name] = fmt
    if not scores:
        raise DetectionError(
            f"{source}: no known format matches the first rows (keys seen: "
            f"{', '.join(keys) or 'none'}); pass --from FORMAT",
            keys=keys,
        )
    best = max(scores.values())
    top = sorted(n for n, s in scores.items() if s == best)
    if len(top) > 1:
        raise DetectionError(
            f"{source}: the first rows fit several formats ({', '.join(top)}; keys seen: "
            f"{', '.join(keys)}); pass --from FORMAT",
            keys=keys,
            candidates=top,
        )
    return by_name[top[0]]
