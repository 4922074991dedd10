"""Stable content ids: a record's id when the source has none, so groups survive re-runs.

The id is the BLAKE2b hex digest (16 bytes, 32 hex characters) of the record's canonical JSON
with sorted keys and without ``id``, ``source`` and ``metadata``: the same content gives the
same id whatever file or line it came from.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from pydantic import BaseModel

__all__ = ["content_id", "stable_hash"]

_EXCLUDE = {"id", "source", "metadata"}


def content_id(record: BaseModel | dict[str, Any]) -> str:
    """BLAKE2b hex of the canonical JSON of ``record`` without id/source/metadata.

    Example:
        >>> from dialogkit.models import PromptOnly, Message
        >>> a = PromptOnly(id="x", prompt=[Message(role="user", content="Hi")])
        >>> b = PromptOnly(id="y", prompt=[Message(role="user", content="Hi")])
        >>> content_id(a) == content_id(b)
        True
    """
    if isinstance(record, BaseModel):
        data = record.model_dump(mode="json", exclude_none=True, exclude=_EXCLUDE)
    else:
        data = {k: v for k, v in record.items() if k not in _EXCLUDE}
    try:
        raw = orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # a big int or a lone surrogate: hash a writable spelling (the writer
        from dialogkit.values import json_safe  # rejects the record, naming the field)

        raw = orjson.dumps(json_safe(data), option=orjson.OPT_SORT_KEYS)
    return stable_hash(raw)


def stable_hash(data: bytes | str) -> str:
    """BLAKE2b (16-byte) hex digest of ``data``; the same on every machine and Python run."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")  # a lone surrogate hashes, never raises
    return hashlib.blake2b(data, digest_size=16).hexdigest()
