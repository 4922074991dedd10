"""Containers: JSONL, JSON arrays (streamed), one object, gzip, Parquet, stdin; atomic writes."""

from __future__ import annotations

import gzip
import io
import subprocess
import sys
import tracemalloc
from pathlib import Path

import orjson
import pytest

from dialogkit.errors import DialogkitError, ParseError, UsageError
from dialogkit.io import Row, atomic_output, iter_json_array, read_rows, write_rows
from tests.conftest import DATA, ROOT


def rows_of(path: Path | str) -> list[Row | ParseError]:
    return list(read_rows(path))


def data_of(path: Path | str) -> list[object]:
    out = rows_of(path)
    assert all(isinstance(r, Row) for r in out), out
    return [r.data for r in out if isinstance(r, Row)]


def test_jsonl_lines_bom_crlf_and_blank_lines(tmp_path: Path) -> None:
    p = tmp_path / "a.jsonl"
    p.write_bytes(b'\xef\xbb\xbf{"a": "x "}\r\n\r\n{"a": "\xe6\x97\xa5\xe6\x9c\xac"}\r\n')
    out = rows_of(p)
    assert [(r.data, r.line, r.index) for r in out if isinstance(r, Row)] == [
        ({"a": "x "}, 1, 0),
        ({"a": "日本"}, 3, 1),
    ]


def test_jsonl_bad_line_is_an_item_not_the_end(tmp_path: Path) -> None:
    p = tmp_path / "a.jsonl"
    p.write_bytes(b'{"a": 1}\n{"a": \n{"a": 3}\n')
    out = rows_of(p)
    assert isinstance(out[1], ParseError)
    assert out[1].line == 2
    assert out[1].raw == b'{"a": '
    assert str(out[1]).endswith(f"({p}:2)")
    assert [r.data for r in out if isinstance(r, Row)] == [{"a": 1}, {"a": 3}]


def test_json_array_streamed_with_lines(tmp_path: Path) -> None:
    p = tmp_path / "a.json"
    p.write_text('[\n  {"a": "[,]{\\"}"},\n  {"b": [1, {"c": 2}]}\n]\n', encoding="utf-8")
    out = rows_of(p)
    assert [(r.data, r.line) for r in out if isinstance(r, Row)] == [
        ({"a": '[,]{"}'}, 2),
        ({"b": [1, {"c": 2}]}, 3),
    ]


def test_one_line_array_and_single_object(tmp_path: Path) -> None:
    a = tmp_path / "one.json"
    a.write_text('[{"x": 1},{"x": 2}]', encoding="utf-8")
    assert data_of(a) == [{"x": 1}, {"x": 2}]
    o = tmp_path / "obj.json"
    o.write_text('{\n  "x": 1,\n  "y": [2]\n}\n', encoding="utf-8")
    assert data_of(o) == [{"x": 1, "y": [2]}]


def test_small_chunks_cut_anywhere_give_the_same_elements() -> None:
    doc = b'[ {"t": "a\\\\\\"b,]"}, [1,2,[3]] ,"s", 4 , {"k": {"l": []}} ]'
    expected = orjson.loads(doc)
    for chunk in (1, 2, 3, 7, 64):
        got = [r.data for r in iter_json_array(io.BytesIO(doc), "x", chunk=chunk)]
        assert got == expected


@pytest.mark.parametrize(
    ("doc", "message", "line"),
    [
        (b"[1,,2]", "expected a value", 1),
        (b"[1,2", "unterminated JSON array", 1),
        (b'[1,\n"abc', "unterminated string", 2),
        (b"[1]\n[2]", "unexpected data after the JSON array", 2),
        (b"[1}", "mismatched bracket", 1),
    ],
)
def test_broken_arrays_end_with_a_located_error(doc: bytes, message: str, line: int) -> None:
    out = list(iter_json_array(io.BytesIO(doc), "f.json"))
    last = out[-1]
    assert isinstance(last, ParseError)
    assert last.reason == message
    assert last.line == line
    assert str(last) == f"{message} (f.json:{line})"


def test_gzip_by_magic_bytes(tmp_path: Path) -> None:
    p = tmp_path / "a.jsonl.gz"
    p.write_bytes(gzip.compress(b'{"a": 1}\n{"a": 2}\n'))
    assert data_of(p) == [{"a": 1}, {"a": 2}]


def test_parquet_round_trip(tmp_path: Path) -> None:
    rows = [{"a": "日本", "b": [1, 2]}, {"a": "x", "b": []}]
    p = tmp_path / "a.parquet"
    assert write_rows(rows, p) == 2
    assert data_of(p) == rows
    assert [r.line for r in rows_of(p) if isinstance(r, Row)] == [1, 2]


def test_write_is_byte_deterministic_and_raw_utf8(tmp_path: Path) -> None:
    rows = [{"b": "日本 ", "a": 1}]
    p1, p2 = tmp_path / "1.jsonl", tmp_path / "2.jsonl"
    write_rows(rows, p1)
    write_rows(rows, p2)
    assert p1.read_bytes() == p2.read_bytes() == '{"b":"日本 ","a":1}\n'.encode()
    j = tmp_path / "a.json"
    write_rows(rows * 2, j)
    assert j.read_bytes() == '[\n{"b":"日本 ","a":1},\n{"b":"日本 ","a":1}\n]\n'.encode()
    assert data_of(j) == rows * 2


def test_gzip_output_is_deterministic(tmp_path: Path) -> None:
    p1, p2 = tmp_path / "1.jsonl.gz", tmp_path / "2.jsonl.gz"
    write_rows([{"a": 1}], p1)
    write_rows([{"a": 1}], p2)
    assert p1.read_bytes() == p2.read_bytes()
    assert data_of(p1) == [{"a": 1}]


def test_failed_write_leaves_nothing_under_the_name(tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    target.write_text("old\n")

    def rows():
        yield {"a": 1}
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_rows(rows(), target)
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]


def test_atomic_output_creates_folders(tmp_path: Path) -> None:
    with atomic_output(tmp_path / "a" / "b.jsonl") as f:
        f.write(b"x\n")
    assert (tmp_path / "a" / "b.jsonl").read_bytes() == b"x\n"


def test_missing_file_and_folder_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"^No such file: .*nope\.jsonl$"):
        rows_of(tmp_path / "nope.jsonl")
    with pytest.raises(UsageError, match="is a folder, not a file"):
        rows_of(tmp_path)


def test_stdin_array() -> None:
    code = (
        "from dialogkit.io import read_rows;"
        "print([ (r.data, r.source, r.line) for r in read_rows('-')])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        input=b'[{"a": 1},\n{"a": 2}]',
        capture_output=True,
        check=True,
        cwd=ROOT,
    )
    assert out.stdout.decode().strip() == "[({'a': 1}, '-', 1), ({'a': 2}, '-', 2)]"


def test_json_array_memory_stays_flat(tmp_path: Path) -> None:
    """A ~40 MB array is streamed: peak Python allocation stays a few MB, not the file size."""
    p = tmp_path / "big.json"
    element = orjson.dumps({"instruction": "x" * 2000, "output": "日本語" * 300})
    with open(p, "wb") as f:
        f.write(b"[")
        for i in range(15000):
            if i:
                f.write(b",\n")
            f.write(element)
        f.write(b"]")
    assert p.stat().st_size > 35_000_000
    tracemalloc.start()
    n = sum(1 for _ in read_rows(p))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert n == 15000
    assert peak < 8_000_000


def _suite() -> list[Path]:
    folder = DATA / "jsontestsuite" / "test_parsing"
    return sorted(folder.iterdir()) if folder.is_dir() else []


@pytest.mark.skipif(not _suite(), reason="../shared/data/jsontestsuite not available")
def test_json_test_suite_clean_accept_or_clean_error() -> None:
    """Every one of the 318 adversarial files is a clean accept or a clean error, never a crash.

    y_ files must be accepted, n_ files rejected; an empty or blank file is accepted as zero rows
    (an empty JSONL file is valid), which covers the three n_ files that hold no value at all.
    """
    empty_ok = {
        "n_single_space.json",
        "n_structure_UTF8_BOM_no_data.json",
        "n_structure_no_data.json",
    }
    wrong: list[str] = []
    for path in _suite():
        try:
            out = rows_of(path)
            accepted = not any(isinstance(r, ParseError) for r in out)
        except DialogkitError:
            accepted = False
        if path.name.startswith("y_") and not accepted:
            wrong.append(f"{path.name} rejected")
        if path.name.startswith("n_") and accepted and path.name not in empty_ok:
            wrong.append(f"{path.name} accepted")
        if path.name in empty_ok:
            assert out == []
    assert wrong == []
    assert len(_suite()) == 318
