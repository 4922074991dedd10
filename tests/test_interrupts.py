"""Interrupted runs leave nothing behind (issue 12, item 2).

SIGINT and SIGTERM unwind the run: every temporary file and folder is removed and the exit code
is 130 / 143 with one line on stderr. A SIGKILLed run cannot clean up; its temp files carry its
pid, host and a marker, and the next run that writes the same output removes them and says so.
The runs are held mid-way deterministically by reading a FIFO the test keeps open.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

GOOD = {"kind": "conversation", "messages": [{"role": "user", "content": "日本"},
                                             {"role": "assistant", "content": "ok"}]}
ROWS = (json.dumps(GOOD, ensure_ascii=False) + "\n").encode() * 2000


def wait_for(cond: object, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 60
    while not cond():  # type: ignore[operator]
        if proc.poll() is not None:
            raise AssertionError(f"exited {proc.returncode} before {what}: "
                                 f"{proc.stderr.read().decode()}")  # type: ignore[union-attr]
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def open_fifo_writer(fifo: Path, proc: subprocess.Popen[bytes]) -> int:
    """Open the FIFO for writing once the child has opened it for reading."""
    fd: list[int] = []

    def opened() -> bool:
        try:
            fd.append(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            return False
        return True

    wait_for(opened, proc, "the input FIFO was opened")
    os.set_blocking(fd[0], True)
    return fd[0]


def temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".dialogkit-" in p.name
                  or p.name.startswith("dialogkit-"))


def held_run(tmp_path: Path, *args: str, env: dict[str, str] | None = None,
             ready: object = None) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``dialogkit ARGS`` reading tmp_path/in.jsonl (a FIFO), feed it rows, keep it open
    until the run made its temp files (``ready``), then yield the process."""
    fifo = tmp_path / "in.jsonl"
    os.mkfifo(fifo)
    proc = subprocess.Popen([sys.executable, "-m", "dialogkit", *args], cwd=ROOT,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, **(env or {})})
    fd = open_fifo_writer(fifo, proc)
    try:
        os.write(fd, ROWS)
        wait_for(ready or (lambda: temps(tmp_path)), proc, "temp files appeared")
        yield proc
    finally:
        os.close(fd)
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=60)


@pytest.mark.parametrize(("sig", "code", "name"), [(signal.SIGINT, 130, "SIGINT"),
                                                   (signal.SIGTERM, 143, "SIGTERM")])
def test_convert_interrupted_removes_its_temp_file(tmp_path: Path, sig: int, code: int,
                                                   name: str) -> None:
    args = ("convert", str(tmp_path / "in.jsonl"), str(tmp_path / "out.jsonl"),
            "--from", "dialogkit", "--to", "openai", "--on-error", "skip",
            "--rejects", str(tmp_path / "rej.jsonl"))
    for proc in held_run(tmp_path, *args):
        assert len(temps(tmp_path)) == 2  # output and rejects
        proc.send_signal(sig)
        assert proc.wait(timeout=60) == code
        assert proc.stderr.read().decode() == (  # type: ignore[union-attr]
            f"Interrupted by {name}: temporary files removed, no partial output left.\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]


def test_killed_convert_leftovers_are_removed_by_the_next_run(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    args = ("convert", str(tmp_path / "in.jsonl"), str(out), "--from", "dialogkit",
            "--to", "openai")
    for proc in held_run(tmp_path, *args):
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        pid = proc.pid
    left = temps(tmp_path)
    assert len(left) == 1 and re.fullmatch(rf"\.out\.jsonl\.dialogkit-{pid}-\w+-\w+\.tmp",
                                           left[0]), left
    # a live run's temp file for the same output is never touched
    live = tmp_path / f".out.jsonl.dialogkit-{os.getpid()}-{left[0].split('-')[2]}-x.tmp"
    live.write_bytes(b"")
    # another output's leftovers are not this run's business
    other = tmp_path / left[0].replace(".out.jsonl.", ".other.jsonl.")
    other.write_bytes(b"")
    src = tmp_path / "good.jsonl"
    src.write_bytes(ROWS[: len(ROWS) // 2000])
    r = subprocess.run([sys.executable, "-m", "dialogkit", "convert", str(src), str(out),
                        "--to", "openai"], cwd=ROOT, capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stderr.decode().splitlines()[0] == (
        f"removed {tmp_path / left[0]}, left by an interrupted run (pid {pid})")
    assert temps(tmp_path) == sorted([live.name, other.name])
    assert len(out.read_text().splitlines()) == 1


def test_publish_interrupted_and_killed_remove_their_temp_folders(tmp_path: Path) -> None:
    tmpdir = tmp_path / "t"
    tmpdir.mkdir()
    env = {"TMPDIR": str(tmpdir)}
    args = ("publish", str(tmp_path / "in.jsonl"), "--repo-id", "me/data")

    def ready() -> bool:  # the publish folder and, inside it, the export's temp folder
        return any(temps(p) for p in tmpdir.iterdir())

    for proc in held_run(tmp_path, *args, env=env, ready=ready):
        assert [p.name.split("-")[:3] for p in tmpdir.iterdir()] == [
            ["dialogkit", "publish", str(proc.pid)]]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 143
    assert list(tmpdir.iterdir()) == []
    (tmp_path / "in.jsonl").unlink()

    for proc in held_run(tmp_path, *args, env=env, ready=ready):
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        pid = proc.pid
    [left] = list(tmpdir.iterdir())
    assert left.name.startswith(f"dialogkit-publish-{pid}-")
    src = tmp_path / "good.jsonl"
    src.write_bytes(ROWS[: len(ROWS) // 2000])
    r = subprocess.run([sys.executable, "-m", "dialogkit", "publish", str(src), "--out",
                        str(tmp_path / "pub")], cwd=ROOT, capture_output=True, timeout=120,
                       env={**os.environ, **env})
    assert r.returncode == 0, r.stderr
    assert f"removed {left}, left by an interrupted run (pid {pid})\n" in r.stderr.decode()
    assert list(tmpdir.iterdir()) == []
