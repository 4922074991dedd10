"""Duplicate removal, exact or normalized, by prompt or by whole record; the first one is kept.

Normalization (``normalize=True``) is Unicode NFKC, then case folding, then every run of
whitespace becomes one space and the ends are stripped: ``"Ｈｅｌｌｏ\\n  World "`` and
``"hello world"`` are the same. It is used only to compare; records are written unchanged.

Keys: ``by="record"`` is the record's content without ``id``, ``source`` and ``metadata`` (two
copies of one example from different files are duplicates); ``by="prompt"`` is the prompt's
messages (role and text), see :func:`dialogkit.ops.convert_kinds.prompt_messages`.

A key is the 16-byte BLAKE2b digest of that content, so :func:`dedup` streams: it keeps only
the set of digests seen (about 100 bytes of memory per distinct record, whatever its size) and
yields each first record as it comes. 16 bytes make an accidental collision (a distinct record
taken for a duplicate) negligible: about 1 in 10^20 for a billion records.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from dialogkit.errors import UsageError
from dialogkit.models import Message
from dialogkit.ops.convert_kinds import prompt_messages

__all__ = [
    "DedupReport", "dedup", "messages_text", "normalize_text", "prompt_key", "record_key",
]

BY: tuple[str, ...] = ("record", "prompt")


def normalize_text(text: str) -> str:
    """NFKC, case-folded, whitespace runs collapsed to one space, ends stripped (compare only)."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _normalize_value(value: Any) -> Any:
    if isinstance(value, str):
        return normalize_text(value)
    if isinstance(value, list):
        return [_normalize_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _normalize_value(v) for k, v in value.items()}
    return value


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


def record_key(record: Any, normalize: bool = False) -> bytes:
    """The 16-byte digest of the record's content (no id/source/metadata), normalized if asked."""
    data = record.model_dump(mode="json", exclude_none=True, exclude={"id", "source", "metadata"})
    if normalize:
        data = _normalize_value(data)
    return _digest(orjson.dumps(data, option=orjson.OPT_SORT_KEYS))


def messages_text(messages: Iterable[Message], normalize: bool = False,
                  include_system: bool = True) -> str:
    """Messages as one comparable text: ``role: content`` per message, joined by newlines."""
    parts = []
    for m in messages:
        if m.role == "system" and not include_system:
            continue
        content = m.content or ""
        if m.tool_calls:
            content += orjson.dumps([c.model_dump(mode="json") for c in m.tool_calls]).decode()
        parts.append(f"{m.role}: {normalize_text(content) if normalize else content}")
    return "\n".join(parts)


def prompt_key(record: Any, normalize: bool = False, include_system: bool = True) -> bytes:
    """The 16-byte digest of the record's prompt messages (see :func:`messages_text`)."""
    return _digest(messages_text(prompt_messages(record), normalize, include_system).encode())


@dataclass
class DedupReport:
    """``read == kept + removed`` (removed = duplicates of an earlier record)."""

    read: int = 0
    kept: int = 0
    removed: int = 0

    def to_json(self) -> dict[str, int]:
        """The counts as a JSON object."""
        return {"read": self.read, "kept": self.kept, "removed": self.removed}


def dedup(
    records: Iterable[Any],
    by: str = "record",
    normalize: bool = False,
    report: DedupReport | None = None,
    seen: set[bytes] | None = None,
) -> Iterator[Any]:
    """Yield each record whose key was not seen before (first one wins), counting the rest.

    Streams: only the keys (16-byte digests) are kept, never the records. ``seen`` may be
    pre-filled with keys (:func:`record_key` or :func:`prompt_key`) of another set to remove
    records already there (dedup against another set); it is updated in place.
    """
    if by not in BY:
        raise UsageError(f"by must be one of {', '.join(BY)}, got {by!r}")
    rep = report if report is not None else DedupReport()
    keys = seen if seen is not None else set()
    key_of = record_key if by == "record" else prompt_key
    for rec in records:
        rep.read += 1
        key = key_of(rec, normalize)
        if key in keys:
            rep.removed += 1
            continue
        keys.add(key)
        rep.kept += 1
        yield rec
