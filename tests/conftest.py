"""Shared fixtures: the real samples in ../shared/data (skipped cleanly when absent)."""

from __future__ import annotations

import os
from pathlib import Path

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
