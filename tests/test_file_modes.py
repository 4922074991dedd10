"""Output files get the mode ``open(path, "w")`` would give (0666 minus the umask), and a
replaced output keeps its mode: every output, whatever command writes it (issue 12, item 1)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from dialogkit.io import atomic_output, new_file_mode, write_rows
from tests.conftest import ROOT

GOOD = {"kind": "conversation", "messages": [{"role": "user", "content": "日本"},
                                             {"role": "assistant", "content": "ok"}]}
BAD = {"kind": "conversation", "messages": [{"role": "user", "content": "x"}]}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def run(*args: str, umask: int) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "dialogkit", *args], capture_output=True,
                          cwd=ROOT, timeout=120, preexec_fn=lambda: os.umask(umask))


@pytest.fixture
def umask() -> object:
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_atomic_output_gives_open_mode_for_the_umask(tmp_path: Path, mask: int,
                                                     expected: int) -> None:
    old = os.umask(mask)
    try:
        write_rows([{"a": 1}], tmp_path / "o.jsonl")
        with open(tmp_path / "plain", "w"):
            pass
        assert new_file_mode() == expected
    finally:
        os.umask(old)
    assert mode(tmp_path / "o.jsonl") == expected == mode(tmp_path / "plain")


def test_replacing_an_output_keeps_its_mode(tmp_path: Path, umask: object) -> None:
    out = tmp_path / "o.jsonl.gz"
    out.write_bytes(b"old")
    out.chmod(0o640)
    with atomic_output(out) as f:
        f.write(b"{}\n")
    assert mode(out) == 0o640
    out.chmod(0o604)
    write_rows([{"a": 1}], out)
    assert mode(out) == 0o604


def test_every_cli_output_gets_the_umask_mode(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps(GOOD) + "\n" + json.dumps(BAD) + "\n")
    out, rej, rep = tmp_path / "o.jsonl", tmp_path / "rej.jsonl", tmp_path / "rep.json"
    r = run("convert", str(src), str(out), "--to", "openai", "--on-error", "skip",
            "--rejects", str(rej), "--report", str(rep), umask=0o002)
    assert r.returncode == 0, r.stderr
    assert [mode(p) for p in (out, rej, rep)] == [0o664, 0o664, 0o664]

    clean = tmp_path / "clean.jsonl"
    clean.write_text("".join(json.dumps(GOOD | {"messages": [
        {"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}]}) + "\n"
        for i in range(20)))
    r = run("split", str(clean), "--out", str(tmp_path / "s"), "--seed", "0", umask=0o022)
    assert r.returncode == 0, r.stderr
    files = sorted((tmp_path / "s").iterdir())
    assert files and {mode(p) for p in files} == {0o644}

    pub = tmp_path / "pub"
    r = run("publish", str(clean), "--out", str(pub), umask=0o022)
    assert r.returncode == 0, r.stderr
    made = [pub, *pub.rglob("*")]
    assert {mode(p) for p in made if p.is_dir()} == {0o755}
    assert {mode(p) for p in made if p.is_file()} == {0o644}


def test_replaced_cli_output_keeps_its_mode(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps(GOOD) + "\n")
    out = tmp_path / "o.jsonl"
    out.write_text("old\n")
    out.chmod(0o600)
    r = run("convert", str(src), str(out), "--to", "openai", umask=0o022)
    assert r.returncode == 0, r.stderr
    assert mode(out) == 0o600
    assert json.loads(out.read_text())["messages"][0]["content"] == "日本"
