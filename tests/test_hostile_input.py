"""Readers and writers on hostile input (issue 16 items 3-12, issue 15 items 1 and 6): a bad row
is a reject or one clean error line, never a traceback; nothing is changed silently."""

from __future__ import annotations

import datetime as dt
import decimal
import gzip
import io
import json
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

import dialogkit
from dialogkit.io import iter_json_array, read_rows, screen_rows
from tests.conftest import ROOT, shared_file

MSGS = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "dialogkit", *args], input=stdin,
                          capture_output=True, cwd=ROOT, timeout=300)


def rejects_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# --- item 3: the canonical reader never crashes on a bad published-layout row ----------------


def test_canonical_reader_rejects_bad_rows_instead_of_crashing(tmp_path: Path) -> None:
    rows = [
        {"kind": "conversation", "messages": MSGS, "metadata": "oops"},
        {"kind": "conversation", "messages": 5, "metadata": None},
        {"kind": "conversation", "messages": ["x"], "metadata": '{"a": 1}'},
        {"kind": "conversation", "messages": MSGS, "metadata": "{bad"},
        {"kind": "nope", "messages": []},
        {"kind": "conversation", "messages": MSGS, "metadata": None},  # published layout: ok
    ]
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    rej = tmp_path / "rej.jsonl"
    r = run("convert", str(src), str(tmp_path / "o.jsonl"), "--from", "dialogkit", "--to",
            "openai", "--on-error", "skip", "--rejects", str(rej))
    assert r.returncode == 0, r.stderr
    assert b"Traceback" not in r.stderr
    got = [(x["line"], x["rule"], x["loc"]) for x in rejects_of(rej)]
    assert got == [(1, "dict_type", "$.metadata"), (2, "list_type", "$.messages"),
                   (3, "model_type", "$.messages[0]"), (4, "dict_type", "$.metadata"),
                   (5, "union_tag_invalid", "$")]
    assert (tmp_path / "o.jsonl").read_bytes() == orjson.dumps({"messages": MSGS}) + b"\n"


# --- item 4: nesting depth ---------------------------------------------------------------------


def nested(depth: int) -> list:
    value: list = []
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.mark.parametrize("depth", [300, 1000])
def test_too_deep_rows_are_rejected_at_read(tmp_path: Path, depth: int) -> None:
    src = tmp_path / "in.jsonl"
    deep = (b'{"kind": "conversation", "messages": ' + orjson.dumps(MSGS)
            + b', "metadata": {"x": ' + b"[" * depth + b"]" * depth + b"}}")
    src.write_bytes(orjson.dumps({"kind": "conversation", "messages": MSGS}) + b"\n"
                    + deep + b"\n")
    rej = tmp_path / "rej.jsonl"
    r = run("convert", str(src), str(tmp_path / "o.jsonl"), "--to", "openai", "--on-error",
            "skip", "--rejects", str(rej))
    assert r.returncode == 0, r.stderr
    assert r.stderr.decode().splitlines()[1] == "  rejected 1: too_deep"
    [x] = rejects_of(rej)
    assert (x["line"], x["rule"], x["reason"]) == (2, "too_deep",
                                                   "nested deeper than 128 levels (--max-depth)")
    # past what the writers can nest (orjson: 254) the limit cannot be raised
    r = run("convert", str(src), "-", "--to", "openai", "--max-depth", "2000")
    assert r.returncode == 2 and b"Traceback" not in r.stderr


def test_max_depth_is_exact_and_applies_to_python_rows() -> None:
    ok = {"kind": "conversation", "messages": MSGS, "metadata": {"x": nested(126)}}  # 128 deep
    bad = {"kind": "conversation", "messages": MSGS, "metadata": {"x": nested(127)}}
    out = list(dialogkit.read([ok, bad], format="dialogkit", on_error="skip"))
    assert len(out) == 1
    with pytest.raises(dialogkit.ParseError, match="nested deeper than 10 levels"):
        list(dialogkit.read([ok], format="dialogkit", max_depth=10))


# --- item 5: Parquet columns of every Arrow type ------------------------------------------------


def test_parquet_types_without_json_form(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    base = {"messages": [MSGS, MSGS]}
    src = tmp_path / "types.parquet"
    pq.write_table(pa.table({
        **base,
        "price": pa.array([decimal.Decimal("1.10"), None], pa.decimal128(5, 2)),
        "at": pa.array([dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC), None],
                       pa.timestamp("us", tz="Europe/Paris")),
        "took": pa.array([1_500_000_001, -1500], pa.duration("ns")),
        "big": pa.array([2**64 - 1, 0], pa.uint64()),
        "counts": pa.array([[("a", 1), ("b", 2)], None], pa.map_(pa.string(), pa.int64())),
    }), src)
    out = tmp_path / "o.jsonl"
    rep = dialogkit.convert(src, out, from_="openai", to="openai")
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows[0] == {"messages": MSGS, "price": "1.10", "at": "2024-01-02T04:04:05+01:00",
                       "took": "PT1.500000001S", "big": 18446744073709551615,
                       "counts": {"a": 1, "b": 2}}
    assert rows[1] == {"messages": MSGS, "price": None, "at": None, "took": "-PT0.0000015S",
                       "big": 0, "counts": None}
    assert rep.changed == {"decimal -> string": 1, "duration -> ISO 8601 string "
                             "(PT<seconds>S)": 2, "map -> object": 1,
                             "timestamp/date/time -> ISO 8601 string": 1}
    # and back to Parquet: uint64 max and the map's object write
    back = tmp_path / "back.parquet"
    dialogkit.convert(out, back, from_="openai", to="openai")
    assert pq.read_table(back).column("big").to_pylist() == ["18446744073709551615", "0"]


def test_parquet_binary_and_invalid_utf8_are_rejects(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    src = tmp_path / "bin.parquet"
    pq.write_table(pa.table({
        "messages": [[{"role": "user", "content": "a"}]] * 2,
        "output": pa.array([b"\x00\xff", None], pa.binary()),
        "blob": pa.array([None, b"ab"], pa.binary(2)),
    }), src)
    rep = dialogkit.convert(src, tmp_path / "o.jsonl", from_="openai", to="openai",
                            on_error="skip")
    assert rep.rejected_by_reason == {"binary_value": 2}
    bad = tmp_path / "utf8.parquet"
    table = pa.table({"messages": [MSGS, MSGS],
                      "note": pa.array([b"ok", b"\xff\xfe"], pa.binary())})
    table = table.set_column(1, "note", table.column("note").cast(pa.string(), safe=False))
    pq.write_table(table, bad)
    rej = tmp_path / "rej.jsonl"
    rep = dialogkit.convert(bad, tmp_path / "o2.jsonl", from_="openai", to="openai",
                            on_error="skip", rejects=rej)
    assert (rep.written, rep.rejected_by_reason) == (1, {"invalid_utf8": 1})
    [x] = rejects_of(rej)
    assert (x["line"], x["reason"]) == (2, "invalid UTF-8 in a string column - at $.note")


# --- item 6 and 7 live in tests/test_faults.py; item 8: --max-line-bytes -----------------------


def test_line_larger_than_the_limit_is_refused_unread(tmp_path: Path) -> None:
    src = tmp_path / "bomb.jsonl.gz"
    with gzip.open(src, "wb") as f:  # 64 MB of one line from a small file
        f.write(orjson.dumps({"kind": "conversation", "messages": MSGS}) + b"\n")
        f.write(b'{"x": "' + b"a" * (64 << 20) + b'"}\n')
        f.write(orjson.dumps({"kind": "conversation", "messages": MSGS}) + b"\n")
    assert src.stat().st_size < 1 << 20
    rows = list(read_rows(src, max_line_bytes=1 << 20))
    assert [type(r).__name__ for r in rows] == ["Row", "ParseError", "Row"]
    assert str(rows[1]) == f"line longer than 1048576 bytes (--max-line-bytes): not read ({src}:2)"
    assert rows[2].line == 3
    r = run("convert", str(src), "-", "--to", "openai", "--max-line-bytes", "1000000")
    assert r.returncode == 1
    assert r.stderr.decode() == (f"Error: line longer than 1000000 bytes (--max-line-bytes): "
                                 f"not read ({src}:2, format=dialogkit)\n")


def test_dev_zero_is_refused_after_the_limit() -> None:
    r = run("convert", "/dev/zero", "-", "--from", "dialogkit", "--to", "openai",
            "--max-line-bytes", "1000000")
    assert r.returncode == 1
    assert r.stderr.decode() == ("Error: JSON document longer than 1000000 bytes "
                                 "(--max-line-bytes): not read (/dev/zero:1, format=dialogkit)\n")


def test_whole_document_and_array_element_are_bounded(tmp_path: Path) -> None:
    doc = tmp_path / "one.json"
    doc.write_bytes(b'{\n"kind": "conversation", "x": "' + b"a" * 5000 + b'"}')
    [err] = list(read_rows(doc, max_line_bytes=1000))
    assert str(err) == (f"JSON document longer than 1000 bytes (--max-line-bytes): not read "
                        f"({doc}:1)")
    arr = tmp_path / "arr.json"
    arr.write_bytes(b'[{"a": 1},\n{"x": "' + b"a" * 5000 + b'"}]')
    rows = list(read_rows(arr, max_line_bytes=1000))
    assert rows[0].data == {"a": 1}
    assert str(rows[1]) == (f"array element longer than 1000 bytes (--max-line-bytes): not read "
                            f"({arr}:2)")


# --- item 9: numbers orjson does not keep exactly -----------------------------------------------


def test_inexact_numbers_are_counted_and_rejected_with_strict(tmp_path: Path) -> None:
    src = tmp_path / "n.jsonl"
    src.write_bytes(b'{"messages": ' + orjson.dumps(MSGS) + b', "big": 18446744073709551616, '
                    b'"tiny": 1e-400, "ok": 18446744073709551615, '
                    b'"s": "1e-400 99999999999999999999"}\n')
    rep = dialogkit.convert(src, tmp_path / "o.jsonl", from_="openai", to="openai")
    assert rep.changed == {"number not kept exactly (big integer -> float, tiny -> 0.0)": 2}
    assert rep.to_json()["changed"] == dict(rep.changed)
    rep = dialogkit.convert(src, tmp_path / "o.jsonl", from_="openai", to="openai",
                            on_error="skip", strict=True)
    assert (rep.written, rep.rejected_by_reason) == (0, {"inexact_number": 1})
    assert rep.first_errors == [
        f"number 18446744073709551616 cannot be kept exactly (beyond 64-bit integers or double "
        f"range) (--strict) ({src}:1, format=openai)"]


def test_exact_numbers_are_not_counted() -> None:
    raw = b'{"a": 18446744073709551615, "b": -9223372036854775808, "c": 1e-300, "d": 0e-999}'
    rows = list(screen_rows(read_rows_of(raw), strict=True))
    assert [type(r).__name__ for r in rows] == ["Row"]


def read_rows_of(raw: bytes) -> list:
    from dialogkit.io import Row

    return [Row(orjson.loads(raw), "x", 1, 0, raw)]


# --- item 10: `_`-prefixed source columns are kept ----------------------------------------------


def test_underscore_columns_are_kept_markers_are_not(tmp_path: Path) -> None:
    row = {"_id": "a1", "messages": MSGS}
    r = run("convert", "-", "-", "--from", "openai", "--to", "openai",
            stdin=orjson.dumps(row) + b"\n")
    assert r.returncode == 0
    assert json.loads(r.stdout) == {"messages": MSGS, "_id": "a1"}
    assert r.stderr.decode() == "openai -> openai: read 1, written 1, rejected 0\n"
    # a format's own marker (sharegpt's layout) never reaches another format's rows
    sg = {"conversations": [{"from": "human", "value": "a"}, {"from": "gpt", "value": "b"}],
          "_id": 7}
    r = run("convert", "-", "-", "--from", "sharegpt", "--to", "openai",
            stdin=orjson.dumps(sg) + b"\n")
    assert json.loads(r.stdout) == {"messages": MSGS, "_id": 7}


# --- item 11: llamafactory tools of another type ------------------------------------------------


@pytest.mark.parametrize("tools", [-1, True, '"x"', "-1"])
def test_llamafactory_tools_not_array_or_object_is_a_reject(tools: object) -> None:
    row = {"conversations": [{"from": "human", "value": "q"}],
           "chosen": {"from": "gpt", "value": "a"}, "rejected": {"from": "gpt", "value": "b"},
           "tools": tools}
    r = run("convert", "-", "-", "--from", "llamafactory", "--to", "llamafactory",
            stdin=orjson.dumps(row) + b"\n")
    assert r.returncode == 1
    kind = {-1: "int", True: "bool", '"x"': "str", "-1": "int"}[tools]  # type: ignore[index]
    assert r.stderr.decode() == (f"Error: Expected a JSON array or object of tool schemas, got "
                                 f"`{kind}` - at $.tools (-:1, format=llamafactory)\n")


# --- item 12: whitespace between array elements is skipped linearly ------------------------------


def test_whitespace_run_in_an_array_is_skipped_in_bounded_memory() -> None:
    import tracemalloc

    ws = b" \n\t" * (10 << 20)  # 30 MB of whitespace between two elements
    f = io.BytesIO(b'[{"a": 1},' + ws + b'{"a": 2}]')
    tracemalloc.start()
    try:
        rows = list(iter_json_array(f, "x"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [r.data for r in rows] == [{"a": 1}, {"a": 2}]
    assert rows[1].line == 1 + (10 << 20)
    # the skipped whitespace is dropped as it goes: a few 1 MB chunks, never the 30 MB run
    assert peak < 8 << 20, f"peak {peak / (1 << 20):.1f} MB"


# --- issue 15 item 1: one Parquet schema holding every row --------------------------------------


@pytest.mark.parametrize("to", ["trl", "openai"])
def test_glaive_tool_calls_to_parquet(tmp_path: Path, to: str) -> None:
    import pyarrow.parquet as pq

    src = shared_file("sharegpt", "glaive_toolcall_en_demo_llamafactory_first300.json")
    out = tmp_path / "g.parquet"
    r = run("convert", str(src), str(out), "--to", to)
    assert r.returncode == 0, r.stderr
    assert b"Traceback" not in r.stderr
    assert pq.read_metadata(out).num_rows == 300
    if to == "trl":
        assert r.stderr.decode().splitlines()[1:] == [
            "  changed 3: messages[].tool_calls[].function.arguments.keywords -> JSON text "
            "(its values differ in shape across rows)",
            "  changed 4: messages[].tool_calls[].function.arguments.movie_id -> JSON text "
            "(its values differ in shape across rows)",
        ]


def test_drone_file_to_parquet_keeps_every_row(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    src = shared_file("openai_chat", "openai_cookbook_drone_training_first5.jsonl")
    out = tmp_path / "d.parquet"
    rep = dialogkit.convert(src, out, to="trl")
    assert rep.written == 5
    assert rep.changed == {"messages[].tool_calls[].function.arguments -> JSON text (its "
                             "values differ in shape across rows)": 5}
    rows = pq.read_table(out).to_pylist()
    calls = [c for r in rows for m in r["messages"] for c in (m["tool_calls"] or [])]
    assert all(isinstance(c["function"]["arguments"], str) for c in calls)


def test_parquet_writer_mixed_scalar_column_and_empty_object(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    out = tmp_path / "m.parquet"
    rows = [{"messages": MSGS, "tag": 1, "extra": {}}, {"messages": MSGS, "tag": "x", "extra": {}}]
    rep = dialogkit.convert(rows, out, from_="openai", to="openai")
    assert rep.written == 2
    assert pq.read_table(out).to_pylist() == [
        {"messages": MSGS, "tag": "1", "extra": "{}"}, {"messages": MSGS, "tag": '"x"',
                                                      "extra": "{}"}]
