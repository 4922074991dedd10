"""Faults a careful user meets (issue 12, item 5): two runs writing one output, a truncated
``.gz``, a FIFO input, stdin closed or cut short. Disk full, read-only folders, output == input,
closed stdout and gzip bombs are issue 16's (tests/test_faults.py)."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT
from tests.test_interrupts import open_fifo_writer, temps, wait_for


def row(i: int) -> dict[str, object]:
    return {"kind": "conversation", "messages": [{"role": "user", "content": f"質問{i}"},
                                                 {"role": "assistant", "content": "ok"}]}


def jsonl(rows: list[dict[str, object]]) -> bytes:
    return b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in rows)


def dk(*args: str, **kw: object) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "dialogkit", *args], cwd=ROOT,
                          capture_output=True, timeout=120, **kw)  # type: ignore[call-overload]


def popen(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "dialogkit", *args], cwd=ROOT,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def test_fifo_input_converts_every_row(tmp_path: Path) -> None:
    fifo = tmp_path / "in.jsonl"
    os.mkfifo(fifo)
    out = tmp_path / "out.jsonl"
    proc = popen("convert", str(fifo), str(out), "--to", "openai")
    fd = open_fifo_writer(fifo, proc)
    os.write(fd, jsonl([row(i) for i in range(500)]))
    os.close(fd)
    assert proc.wait(timeout=60) == 0, proc.stderr.read()  # type: ignore[union-attr]
    lines = out.read_text().splitlines()
    assert len(lines) == 500
    assert json.loads(lines[0])["messages"][0]["content"] == "質問0"


def test_two_concurrent_runs_later_rename_wins_and_each_output_is_whole(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    fifos = [tmp_path / "a.jsonl", tmp_path / "b.jsonl"]
    data = [jsonl([row(i) for i in range(0, 300)]), jsonl([row(i) for i in range(300, 700)])]
    procs, fds = [], []
    for fifo, rows in zip(fifos, data, strict=True):
        os.mkfifo(fifo)
        proc = popen("convert", str(fifo), str(out), "--from", "dialogkit", "--to", "dialogkit")
        procs.append(proc)
        fds.append(open_fifo_writer(fifo, proc))
        os.write(fds[-1], rows)
    wait_for(lambda: len(temps(tmp_path)) == 2, procs[1], "both runs made their temp file")
    assert not out.exists()
    os.close(fds[0])  # run a finishes first: its whole output appears
    assert procs[0].wait(timeout=60) == 0
    first = [json.loads(x)["messages"][0]["content"] for x in out.read_text().splitlines()]
    assert first == [f"質問{i}" for i in range(300)]
    os.close(fds[1])  # run b renames later and wins, whole, with a's file replaced not mixed
    assert procs[1].wait(timeout=60) == 0
    second = [json.loads(x)["messages"][0]["content"] for x in out.read_text().splitlines()]
    assert second == [f"質問{i}" for i in range(300, 700)]
    assert temps(tmp_path) == []


def test_truncated_gz_is_a_clean_error_and_leaves_nothing(tmp_path: Path) -> None:
    whole = gzip.compress(jsonl([row(i) for i in range(2000)]), mtime=0)
    src = tmp_path / "in.jsonl.gz"
    src.write_bytes(whole[: len(whole) // 2])
    out = tmp_path / "out.jsonl"
    r = dk("convert", str(src), str(out), "--to", "openai")
    assert r.returncode == 1
    assert r.stderr.decode() == (
        "Error: cannot read: Compressed file ended before the end-of-stream marker was "
        f"reached ({src})\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl.gz"]


def test_stdin_closed_is_one_error_line(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    for args in (("convert", "-", str(out), "--to", "openai"),
                 ("split", "-", "--out", str(tmp_path / "s"))):
        r = dk(*args, stdin=None, pass_fds=(), preexec_fn=lambda: os.close(0))
        assert r.returncode == 1, r.stderr
        assert r.stderr.decode() == "Error: cannot read standard input: it is closed (-)\n"
    assert list(tmp_path.iterdir()) == []


def test_stdin_cut_short_mid_line_names_the_line_and_writes_nothing(tmp_path: Path) -> None:
    data = jsonl([row(i) for i in range(10)])
    out = tmp_path / "out.jsonl"
    r = dk("convert", "-", str(out), "--to", "openai", input=data[: len(data) - 20])
    assert r.returncode == 1
    assert r.stderr.decode() == (
        "Error: invalid JSON: unexpected end of data (-:10, format=dialogkit)\n")
    assert list(tmp_path.iterdir()) == []
    r = dk("convert", "-", str(out), "--to", "openai", "--on-error", "skip",
           input=data[: len(data) - 20])
    assert r.returncode == 0
    assert len(out.read_text().splitlines()) == 9
