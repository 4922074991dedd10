"""Shared fixtures: the real samples in ../shared/data (skipped cleanly when absent)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("DIALOGKIT_SHARED", ROOT.parent / "shared")).resolve()
DATA = SHARED / "data"


def shared_file(*parts: str) -> Path:
    """A file under ../shared/data; skips the calling test when it is not there."""
    path = DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real sample not available: {path}")
    return path


@pytest.fixture
def data_dir() -> Path:
    """../shared/data itself (skips when absent)."""
    if not DATA.is_dir():
        pytest.skip("../shared/data not available")
    return DATA


def compact_arguments(records: list[Any]) -> list[Any]:
    """Records whose tool-call arguments that are JSON objects are re-serialised compactly, as
    they come back through ``trl`` (its arguments are objects; issue 15 item 7)."""
    import orjson

    def one(text: str) -> str:
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            return text
        return orjson.dumps(value).decode() if isinstance(value, dict) else text

    out = []
    for r in records:
        msgs = [m.model_copy(update={"tool_calls": [
            c.model_copy(update={"arguments": one(c.arguments)}) for c in m.tool_calls]})
            if m.tool_calls else m for m in r.messages]
        out.append(r.model_copy(update={"messages": msgs}))
    return out
