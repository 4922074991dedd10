"""Memory stays flat whatever the input size: pairs, dedup and split's pass 2 stream.

Each command runs in this process on a generated ~22 MB file under tracemalloc (peak Python
allocation). Holding the records would take several times the file size; streaming stays far
below it: a few MB for the pipeline, plus one 16-byte digest per distinct record for dedup.
"""

from __future__ import annotations

import random
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from dialogkit.cli import pipeline as cli

MB = 1 << 20
RECORDS = 8_000  # ~2.8 KB each: ~22 MB
DUPLICATES = 800  # the last ones repeat an earlier record's content under another id


@pytest.fixture(scope="module")
def comparisons(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """~22 MB of dialogkit comparisons (4 ranked candidates each), 800 duplicates."""
    rnd = random.Random(0)
    words = "the a model answer prompt reward rank sky blue light water code data".split()
    path = tmp_path_factory.mktemp("big") / "comparisons.jsonl"
    with open(path, "wb") as f:
        for i in range(RECORDS):
            j = rnd.randrange(RECORDS - DUPLICATES) if i >= RECORDS - DUPLICATES else i
            r = random.Random(j)
            def text(n: int, r: random.Random = r) -> str:
                return " ".join(r.choice(words) for _ in range(n))
            row = {"kind": "comparison", "id": f"c{i}", "labeler": f"l{j % 50}",
                   "context": [{"role": "user", "content": f"q{j} " + text(25)}],
                   "candidates": [{"messages": [{"role": "assistant", "content": text(105)}]}
                                  for _ in range(4)],
                   "ranking": [0, 1, 2, 3]}
            f.write(orjson.dumps(row) + b"\n")
    assert 20 * MB < path.stat().st_size < 40 * MB
    return path


def peak_of(fn: Callable[[], Any]) -> int:
    """Peak traced allocation of ``fn()`` above what was allocated before it."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def count(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(1 for _ in f)


def test_pairs_streams(comparisons: Path, tmp_path: Path) -> None:
    out = tmp_path / "pairs.jsonl"
    peak = peak_of(lambda: cli.pairs(str(comparisons), str(out), from_="dialogkit",
                                     strategy=cli.Strategy.best_vs_worst, to="trl-preference",
                                     margin=cli.Margin.rank))
    assert count(out) == RECORDS  # one pair per comparison
    assert peak < 10 * MB, f"pairs peak {peak / MB:.1f} MB"


def test_dedup_keeps_only_digests(comparisons: Path, tmp_path: Path) -> None:
    out = tmp_path / "dedup.jsonl"
    peak = peak_of(lambda: cli.dedup(str(comparisons), str(out), by=cli.DedupBy.record,
                                     normalize=False))
    kept = RECORDS - DUPLICATES
    assert count(out) == kept
    # a key is a 16-byte bytes object (49 bytes) plus its set slots (16 bytes, 30-60% full)
    assert peak < 10 * MB + 110 * kept, f"dedup peak {peak / MB:.1f} MB"


def test_split_pass_two_streams(comparisons: Path, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    import dialogkit.ops.split as split

    real = split.write_splits
    seen: dict[str, int] = {}

    def measured(records: Iterator[Any], plan: Any, out: Any, format: str) -> dict[str, int]:
        before = tracemalloc.get_traced_memory()[0]
        seen["pass1"] = before - seen["start"]
        tracemalloc.reset_peak()
        written = real(records, plan, out, format)
        seen["pass2"] = tracemalloc.get_traced_memory()[1] - before
        return written

    monkeypatch.setattr(split, "write_splits", measured)
    tracemalloc.start()
    try:
        seen["start"] = tracemalloc.get_traced_memory()[0]
        cli.split(str(comparisons), out=tmp_path / "s", train=None, validation=None, test=None,
                  group_by=None, seed=0)
    finally:
        tracemalloc.stop()
    assert sum(count(tmp_path / "s" / f"{n}.jsonl") for n in split.SPLITS) == RECORDS
    assert seen["pass2"] < 10 * MB, f"split pass 2 peak {seen['pass2'] / MB:.1f} MB"
    # what pass 1 keeps: digests and the name of each joined group, not the records
    assert seen["pass1"] < 2 * MB + 400 * RECORDS, f"split pass 1 kept {seen['pass1'] / MB:.1f} MB"


def _element(mb: int) -> bytes:
    """One chat record of about ``mb`` MB, with escapes and quotes in its text."""
    text = 'line \\n with "quotes" and \\\\ ' * (mb * MB // 30)
    return orjson.dumps({"messages": [{"role": "user", "content": "q"},
                                      {"role": "assistant", "content": text}]})


@pytest.mark.parametrize("mb", [5, 10])
def test_json_array_element_costs_what_jsonl_costs(tmp_path: Path, mb: int) -> None:
    """Issue 15 item 6: a large element inside a JSON array took ~120x its size (the string
    regex kept backtracking state per character); now it costs what the same JSONL line costs."""
    from dialogkit.io import read_rows

    element = _element(mb)
    as_array = tmp_path / "big.json"
    as_array.write_bytes(b"[" + element + b",\n" + element + b"]")
    as_lines = tmp_path / "big.jsonl"
    as_lines.write_bytes(element + b"\n" + element + b"\n")

    def drain(path: Path) -> None:
        assert sum(1 for _ in read_rows(path)) == 2

    array_peak = peak_of(lambda: drain(as_array))
    lines_peak = peak_of(lambda: drain(as_lines))
    assert array_peak < 1.3 * lines_peak + 4 * MB, (
        f"array {array_peak / MB:.0f} MB, JSONL {lines_peak / MB:.0f} MB")
    assert array_peak < 20 * len(element), f"array {array_peak / MB:.0f} MB"
