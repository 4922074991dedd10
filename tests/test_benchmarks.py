"""Smoke tests of the benchmark scripts: the corpus is deterministic, the bench runs end to end.

Nothing here is timed; the figures themselves come from running ``benchmarks/bench_convert.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from dialogkit.errors import UnknownFormatError
from dialogkit.registry import get_format

ROOT = Path(__file__).resolve().parents[1]
GEN = ROOT / "benchmarks" / "gen_corpus.py"
BENCH = ROOT / "benchmarks" / "bench_convert.py"


def _gen(out: Path, mb: float, seed: int) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, str(GEN), "--mb", str(mb), "--seed", str(seed), "--out", str(out)],
        capture_output=True, check=True, cwd=ROOT,
    )
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def test_corpus_is_deterministic_and_prefix_stable(tmp_path: Path) -> None:
    a = _gen(tmp_path / "a.jsonl", 0.2, 7)
    b = _gen(tmp_path / "b.jsonl", 0.2, 7)
    small = _gen(tmp_path / "small.jsonl", 0.05, 7)
    other = _gen(tmp_path / "other.jsonl", 0.2, 8)
    data = (tmp_path / "a.jsonl").read_bytes()
    assert data == (tmp_path / "b.jsonl").read_bytes()
    assert a["records"] == b["records"] == data.count(b"\n")
    assert a["bytes"] == len(data) >= 200_000
    # a smaller corpus of the same seed is a prefix of the larger one
    assert data.startswith((tmp_path / "small.jsonl").read_bytes())
    assert small["records"] < a["records"]
    assert (tmp_path / "other.jsonl").read_bytes() != data
    assert other["seed"] == 8


def test_corpus_shape(tmp_path: Path) -> None:
    _gen(tmp_path / "c.jsonl", 1, 20260101)
    raw = (tmp_path / "c.jsonl").read_bytes()
    rows = [orjson.loads(line) for line in raw.splitlines()]
    assert all(list(r) == ["instruction", "input", "output"] for r in rows)
    assert all(isinstance(v, str) and v == v for r in rows for v in r.values())
    n = len(rows)
    with_input = sum(1 for r in rows if r["input"]) / n
    japanese = sum(1 for r in rows if any("\u3040" <= c <= "\u30ff" for c in r["instruction"])) / n
    code = sum(1 for r in rows if "```" in r["output"]) / n
    assert 0.36 < with_input < 0.44
    assert 0.16 < japanese < 0.24
    assert 0.09 < code < 0.15
    assert "日本語".encode() in raw  # raw UTF-8, not \u escapes
    assert b"\\u" not in raw
    assert b"\\t" in raw and b'\\"' in raw and b"\\\\" in raw  # code: tabs, quotes, backslashes
    assert "\u200d".encode() in raw  # ZWJ emoji sequences
    assert max(len(r["output"]) for r in rows) <= 3200  # code blocks may run a little over


def test_bench_runs_end_to_end(tmp_path: Path) -> None:
    try:
        get_format("alpaca"), get_format("openai")
    except UnknownFormatError:
        pytest.skip("the alpaca and openai formats are not registered yet")
    out_json = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--sizes", "0.05,0.1", "--rounds", "1", "--quiet",
         "--max-wait", "0",
         "--data-dir", str(tmp_path / "data"), "--json", str(out_json)],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out_json.read_text())
    methods = {(r["method"], r["mb"]) for r in doc["results"]}
    assert methods == {
        (m, mb)
        for m in ("orjson_roundtrip", "orjson_transform", "dialogkit", "dialogkit_jobs1")
        for mb in (0.05, 0.1)
    }
    assert sorted(doc["verification"]) == [
        "dialogkit:0.05", "dialogkit:0.1", "dialogkit_jobs1:0.05", "dialogkit_jobs1:0.1"
    ]
    for key, check in doc["verification"].items():
        assert check["ok"], check
        mb = key.split(":")[1]
        assert check["records_in"] == check["records_out"] == doc["corpora"][mb]["records"]
    assert doc["targets"]["dialogkit"]["peak_rss_mb"] > 0
    assert "| dialogkit | 0.1 |" in proc.stdout
    # 4 methods x (2 sizes + start-up) + 4 start-up commands, 1 round
    assert len(doc["runs"]) == 16
    starts = {r["method"]: r for r in doc["startup_commands"]}
    assert set(starts) == {"python_bare", "import_dialogkit", "dialogkit_help",
                           "dialogkit_formats"}
    assert starts["python_bare"]["x_bare_python"] == 1.0
    assert starts["dialogkit_help"]["wall_s_median"] > 0
    assert "| dialogkit_help | 1 |" in proc.stdout
    assert set(doc["targets"]) >= {"startup:import_dialogkit", "startup:dialogkit_help"}
    # the data dir keeps only the corpora (outputs are removed after each run)
    assert sorted(p.name for p in (tmp_path / "data").iterdir() if p.suffix == ".jsonl") == [
        "alpaca-0.05mb-s20260101.jsonl", "alpaca-0.1mb-s20260101.jsonl",
        "alpaca-0mb-s20260101.jsonl",
    ]
