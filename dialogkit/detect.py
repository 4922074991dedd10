"""Format auto-detection from the first rows; no match or a tie is an error showing the evidence."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dialogkit.errors import DetectionError
from dialogkit.registry import Format, all_formats

__all__ = ["SAMPLE_ROWS", "detect_format"]

SAMPLE_ROWS = 20  # rows looked at; enough to see optional columns, cheap on any file


def detect_format(rows: Sequence[Any], source: str = "input") -> Format:
    """The one readable format that fits the sampled rows best.

    Each format scores each row (0 = not it). The formats that fit the most rows are the
    candidates, and the highest total score among them wins, so a few bad rows in the sample
    do not hide the format of the rest (they are rejected later, with their reasons). No format
    fitting at least half the rows, or a tie at the top, raises DetectionError with the keys seen
    and the candidates.
    """
    objects = list(rows[:SAMPLE_ROWS])
    keys = sorted({k for r in objects if isinstance(r, dict) for k in r})
    if not objects:
        raise DetectionError(f"{source}: no rows to detect a format from; pass --from")
    fits: dict[str, tuple[int, int]] = {}
    by_name: dict[str, Format] = {}
    for fmt in all_formats():
        if not fmt.reads:
            continue
        matched = total = 0
        for r in objects:
            try:
                s = fmt.detect(r)
            except Exception:  # a detector must never crash detection
                s = 0
            if s > 0:
                matched += 1
                total += s
        if matched:
            fits[fmt.name] = (matched, total)
            by_name[fmt.name] = fmt
    best = max(fits.values(), default=(0, 0))
    if best[0] * 2 < len(objects):
        raise DetectionError(
            f"{source}: no known format matches the first rows (keys seen: "
            f"{', '.join(keys) or 'none'}); pass --from FORMAT",
            keys=keys,
            candidates=sorted(fits),
        )
    top = sorted(n for n, fit in fits.items() if fit == best)
    if len(top) > 1:
        raise DetectionError(
            f"{source}: the first rows fit several formats ({', '.join(top)}; keys seen: "
            f"{', '.join(keys)}); pass --from FORMAT",
            keys=keys,
            candidates=top,
        )
    return by_name[top[0]]
