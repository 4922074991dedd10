"""Values JSON cannot hold, found where they enter or leave.

Parquet and ``datasets`` rows may hold NaN and Infinity floats, which JSON has no spelling for
(orjson writes them as ``null`` without a word): :func:`nonfinite_fields` finds them so the
pipeline can count the change (``fields_changed``) or reject the row (``--strict``). Python rows
may hold integers beyond 64 bits and strings with lone surrogates, which no JSON or Parquet
writer encodes: :func:`unencodable_error` names the field as a :class:`RecordError`.
"""

from __future__ import annotations

import math
from typing import Any

from dialogkit.errors import RecordError, format_loc

__all__ = ["json_safe", "nonfinite_fields", "unencodable_error"]

_INT_MIN, _INT_MAX = -(1 << 63), (1 << 64) - 1  # what orjson (and Arrow's int64/uint64) holds


def nonfinite_fields(data: Any) -> list[tuple[tuple[Any, ...], float]]:
    """``(location, value)`` of every NaN/Infinity float in ``data``; each is replaced by None
    in place (what the JSON writer would have written, now on purpose and counted)."""
    found: list[tuple[tuple[Any, ...], float]] = []

    def walk(value: Any, loc: tuple[Any, ...]) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                if isinstance(v, float) and not math.isfinite(v):
                    found.append(((*loc, k), v))
                    value[k] = None
                elif isinstance(v, (dict, list)):
                    walk(v, (*loc, k))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                if isinstance(v, float) and not math.isfinite(v):
                    found.append(((*loc, i), v))
                    value[i] = None
                elif isinstance(v, (dict, list)):
                    walk(v, (*loc, i))

    walk(data, ())
    return found


def field_name(loc: tuple[Any, ...]) -> str:
    """A location without list indices, for counting by field: ``completions.overall_score``."""
    return ".".join(str(p) for p in loc if not isinstance(p, int)) or "$"


def _bad(value: Any) -> str | None:
    """Why ``value`` itself (not its children) cannot be encoded, or None."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            return (f"a string with a lone surrogate (U+{ord(value[exc.start]):04X}) cannot be "
                    "written as UTF-8")
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        if not _INT_MIN <= value <= _INT_MAX:
            return (f"an integer of {value.bit_length()} bits cannot be written (JSON and "
                    "Parquet writers hold 64)")
    return None


def _find(value: Any, loc: tuple[Any, ...]) -> tuple[tuple[Any, ...], str] | None:
    why = _bad(value)
    if why is not None:
        return loc, why
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(k, str) and _bad(k) is not None:
                return (*loc, k), f"the key: {_bad(k)}"
            hit = _find(v, (*loc, k))
            if hit is not None:
                return hit
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            hit = _find(v, (*loc, i))
            if hit is not None:
                return hit
    return None


def unencodable_error(row: Any, exc: BaseException) -> RecordError:
    """The RecordError for an output row the writer refused (``exc``), naming the field."""
    hit = _find(row, ())
    if hit is None:  # not one of ours: say what the writer said
        reason = f"cannot be written: {exc}"
        loc = None
    else:
        reason = hit[1]
        loc = format_loc(hit[0])
    err = RecordError(reason, loc=loc, rule="unencodable value")
    err.__cause__ = exc
    return err


def json_safe(value: Any) -> Any:
    """``value`` with what JSON cannot hold made writable (big ints as strings, lone
    surrogates as ``\\udXXX`` text): for the rejects file, which shows the failed record."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode() if _bad(value) else value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value) if _bad(value) else value
    if isinstance(value, dict):
        return {json_safe(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value
