"""Values JSON cannot hold (issue 12, item 3).

NaN and Infinity from Parquet or ``datasets`` are written as null and counted by field in the
report (``fields_changed``), or rejected with ``--strict``. Integers beyond 64 bits and lone
surrogates from Python rows are a RecordError naming the field: rejected with
``on_error="skip"``, the run stopped with ``"raise"``; the other records are written.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import dialogkit
from dialogkit.errors import RecordError
from tests.conftest import ROOT

NAN, INF = float("nan"), float("inf")


def demo(**extra: object) -> dict[str, object]:
    return {"instruction": "Q", "input": "", "output": "A", **extra}


def chat(content: str = "hi", **extra: object) -> dict[str, object]:
    return {"messages": [{"role": "user", "content": content},
                         {"role": "assistant", "content": "ok"}], **extra}


@pytest.fixture
def nan_parquet(tmp_path: Path) -> Path:
    path = tmp_path / "in.parquet"
    pq.write_table(pa.Table.from_pylist([
        demo(score=NAN, w=[1.0, INF]), demo(score=1.5, w=[]), demo(score=-INF, w=[2.0])]), path)
    return path


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_parquet_nan_and_infinity_are_counted_as_changed(nan_parquet: Path,
                                                         tmp_path: Path) -> None:
    out, rep = tmp_path / "o.jsonl", tmp_path / "rep.json"
    r = subprocess.run([sys.executable, "-m", "dialogkit", "convert", str(nan_parquet), str(out),
                        "--to", "alpaca", "--report", str(rep)], cwd=ROOT, capture_output=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stderr.decode().splitlines() == [
        "alpaca -> alpaca: read 3, written 3, rejected 0",
        "  NaN/Infinity written as null in 2 records: score",
        "  NaN/Infinity written as null in 1 records: w",
    ]
    assert [(x["score"], x["w"]) for x in lines(out)] == [(None, [1.0, None]), (1.5, []),
                                                          (None, [2.0])]
    doc = json.loads(rep.read_text())
    assert doc["fields_changed"] == {"score": 2, "w": 1}
    assert (doc["read"], doc["written"], doc["rejected"]) == (3, 3, 0)


def test_parquet_nan_is_rejected_with_strict(nan_parquet: Path, tmp_path: Path) -> None:
    out, rej = tmp_path / "o.jsonl", tmp_path / "rej.jsonl"
    rep = dialogkit.convert(nan_parquet, out, to="alpaca", strict=True, on_error="skip",
                            rejects=rej)
    assert (rep.read, rep.written, rep.rejected) == (3, 1, 2)
    assert rep.fields_changed == {}
    assert rep.rejected_by_reason == {"non-finite float": 2}
    assert [x["score"] for x in lines(out)] == [1.5]
    assert [(x["line"], x["loc"], x["reason"]) for x in lines(rej)] == [
        (1, "$.score", "NaN has no JSON form and would be written as null (--strict)"),
        (3, "$.score", "-Infinity has no JSON form and would be written as null (--strict)"),
    ]
    with pytest.raises(RecordError) as exc:
        dialogkit.convert(nan_parquet, out, to="alpaca", strict=True)
    assert str(exc.value) == ("NaN has no JSON form and would be written as null (--strict) "
                              f"- at $.score ({nan_parquet}:1, format=alpaca)")


def test_datasets_folder_nan_is_counted(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    folder = tmp_path / "ds"
    datasets.Dataset.from_list([demo(score=NAN), demo(score=2.0)]).save_to_disk(str(folder))
    out = tmp_path / "o.jsonl"
    rep = dialogkit.convert(folder, out, from_="alpaca", to="alpaca")
    assert rep.fields_changed == {"score": 1}
    assert [x["score"] for x in lines(out)] == [None, 2.0]
    rep = dialogkit.convert(folder, out, from_="alpaca", to="alpaca", strict=True,
                            on_error="skip")
    assert (rep.written, rep.rejected_by_reason) == (1, {"non-finite float": 1})


@pytest.mark.parametrize("suffix", ["jsonl", "json", "parquet"])
def test_big_ints_and_lone_surrogates_reject_the_record_naming_the_field(
        tmp_path: Path, suffix: str) -> None:
    rows = [chat("a\ud800b"), chat(n=2**70), chat("fine"), chat(**{"k\udfff": 1}),
            chat(n=-(2**63))]
    out, rej = tmp_path / f"o.{suffix}", tmp_path / "rej.jsonl"
    rep = dialogkit.convert(rows, out, from_="openai", to="openai", on_error="skip",
                            rejects=rej)
    assert (rep.read, rep.written, rep.rejected) == (5, 2, 3)
    assert rep.first_errors == [
        "a string with a lone surrogate (U+D800) cannot be written as UTF-8 - at "
        "$.messages[0].content (<rows>:1, format=openai)",
        "an integer of 71 bits cannot be written (JSON and Parquet writers hold 64) - at $.n "
        "(<rows>:2, format=openai)",
        "the key: a string with a lone surrogate (U+DFFF) cannot be written as UTF-8 - at "
        "$.k\udfff (<rows>:4, format=openai)",
    ]
    got = lines(out) if suffix == "jsonl" else (
        json.loads(out.read_text()) if suffix == "json" else pq.read_table(out).to_pylist())
    assert [g["messages"][0]["content"] for g in got] == ["fine", "hi"]
    rejected = lines(rej)
    assert [r["line"] for r in rejected] == [1, 2, 4]
    assert rejected[0]["record"]["messages"][0]["content"] == "a\\ud800b"
    assert rejected[1]["record"]["n"] == str(2**70)


def test_unencodable_value_stops_the_run_with_on_error_raise(tmp_path: Path) -> None:
    out = tmp_path / "o.jsonl"
    with pytest.raises(RecordError) as exc:
        dialogkit.convert([chat("fine"), chat(n=2**64)], out, from_="openai", to="openai")
    assert exc.value.loc == "$.n" and exc.value.rule == "unencodable value"
    assert isinstance(exc.value.__cause__, orjson.JSONEncodeError)
    assert not out.exists()
    rep = dialogkit.convert([chat(n=2**64 - 1)], out, from_="openai", to="openai")
    assert rep.written == 1 and lines(out)[0]["n"] == 2**64 - 1


def test_canonical_records_with_a_lone_surrogate_are_rejected_on_write(tmp_path: Path) -> None:
    recs = list(dialogkit.read([chat("x\udc80")], format="openai"))
    rep = dialogkit.write(recs, tmp_path / "o.jsonl", format="sharegpt", on_error="skip")
    assert (rep.written, rep.rejected, rep.rejected_by_reason) == (
        0, 1, {"unencodable value": 1})
    assert "$.conversations[0].value" in rep.first_errors[0]
