"""Parallel convert gives the same bytes, counts and first error as a serial run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import dialogkit
from dialogkit import parallel
from dialogkit.errors import RecordError

GOOD = {"kind": "conversation", "messages": [{"role": "user", "content": "日本"},
                                             {"role": "assistant", "content": "ok"}]}
BAD = {"kind": "conversation", "messages": [{"role": "user", "content": "x"}]}


@pytest.fixture
def small_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "MIN_PARALLEL_BYTES", 0)


def make(tmp_path: Path, n: int = 300, bad_every: int = 0) -> Path:
    p = tmp_path / "in.jsonl"
    lines = []
    for i in range(n):
        rec = BAD if bad_every and i % bad_every == bad_every - 1 else {**GOOD, "id": str(i)}
        lines.append(json.dumps(rec, ensure_ascii=False))
        if i == 10:
            lines.append("")  # a blank line: not a record, but it counts for line numbers
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def test_line_ranges_cover_the_file_at_line_starts(tmp_path: Path) -> None:
    p = make(tmp_path)
    data = p.read_bytes()
    ranges = parallel.line_ranges(str(p), 3)
    assert ranges[0][0] == 0 and ranges[-1][1] == len(data)
    for (s, e, line), (s2, _, line2) in zip(ranges, ranges[1:], strict=False):
        assert e == s2 and data[s2 - 1:s2] == b"\n"
        assert line2 == line + data[s:e].count(b"\n")


@pytest.mark.usefixtures("small_threshold")
def test_same_bytes_and_counts_as_serial(tmp_path: Path) -> None:
    src = make(tmp_path, bad_every=7)
    kw = {"to": "dialogkit", "on_error": "skip"}
    r1 = dialogkit.convert(src, tmp_path / "a.jsonl", rejects=tmp_path / "ra.jsonl", jobs=1, **kw)
    r2 = dialogkit.convert(src, tmp_path / "b.jsonl", rejects=tmp_path / "rb.jsonl", jobs=3, **kw)
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert (tmp_path / "ra.jsonl").read_bytes() == (tmp_path / "rb.jsonl").read_bytes()
    assert r1.to_json() == r2.to_json()
    assert (r2.read, r2.written, r2.rejected) == (300, 258, 42)


@pytest.mark.usefixtures("small_threshold")
def test_first_error_in_input_order(tmp_path: Path) -> None:
    src = make(tmp_path, bad_every=100)
    with pytest.raises(RecordError) as info:
        dialogkit.convert(src, tmp_path / "o.jsonl", to="dialogkit", jobs=3)
    assert info.value.line == 101  # record 100 sits on line 101 (one blank line before it)
    assert not (tmp_path / "o.jsonl").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]
