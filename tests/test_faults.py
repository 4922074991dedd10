"""Nothing lost, never a traceback (issue 16): path collisions, outputs committed together,
file-system faults, closed and full standard streams.

The fault-injection tests mount a small tmpfs (full, or read-only) under the test's folder;
they are skipped where mounting is not allowed (not root, no mount namespace).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

GOOD = {"kind": "conversation", "messages": [{"role": "user", "content": "hi"},
                                             {"role": "assistant", "content": "ok"}]}
BAD = {"kind": "conversation", "messages": [{"role": "user", "content": "x"}]}


def run(*args: str, stdin: bytes | None = None, **kw: object) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "dialogkit", *args], input=stdin,
                          capture_output=True, cwd=ROOT, timeout=120, **kw)  # type: ignore[call-overload]


def jsonl(*rows: object) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """An input of 3 good records and 1 bad one."""
    path = tmp_path / "in.jsonl"
    path.write_bytes(jsonl(GOOD, GOOD, BAD, GOOD))
    return path


@contextlib.contextmanager
def tmpfs(where: Path, *options: str) -> Iterator[Path]:
    """A small tmpfs mounted at ``where`` for the block; skips the test when it cannot be."""
    where.mkdir(parents=True, exist_ok=True)
    opts = ",".join(("size=64k", *options))
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(where)],
                       capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(folder: Path) -> None:
    """Fill the file system of ``folder`` to the last byte."""
    with open(folder / "filler", "wb", buffering=0) as f, contextlib.suppress(OSError):
        while True:
            f.write(b"x" * 4096)
    assert os.statvfs(folder).f_bavail == 0


# --- item 1: no two of input, output, --rejects and --report may be one file ---------------


@pytest.mark.parametrize("flag", ["--rejects", "--report"])
def test_rejects_or_report_naming_the_input_is_a_usage_error(data: Path, flag: str) -> None:
    before = data.read_bytes()
    r = run("convert", str(data), str(data.with_name("o.jsonl")), "--to", "openai",
            "--on-error", "skip", flag, str(data))
    assert r.returncode == 2
    assert r.stderr.decode() == (
        f"Error: {flag} {data} is the input file {data}: it would be destroyed; give {flag} "
        "another path\n")
    assert data.read_bytes() == before
    assert not data.with_name("o.jsonl").exists()


def test_rejects_naming_the_output_is_a_usage_error(data: Path) -> None:
    out = data.with_name("o.jsonl")
    r = run("convert", str(data), str(out), "--to", "openai", "--on-error", "skip",
            "--rejects", str(out))
    assert r.returncode == 2
    assert r.stderr.decode() == (
        f"Error: --rejects and OUTPUT name the same file ({out}); give each its own\n")
    assert not out.exists()


def test_report_and_rejects_through_a_symlink_are_one_file(data: Path) -> None:
    rej = data.with_name("rej.jsonl")
    link = data.with_name("link.json")
    link.symlink_to(rej.name)
    r = run("convert", str(data), str(data.with_name("o.jsonl")), "--to", "openai",
            "--on-error", "skip", "--rejects", str(rej), "--report", str(link))
    assert r.returncode == 2
    assert r.stderr.decode() == (
        f"Error: --report and --rejects name the same file ({rej} and {link}); give each "
        "its own\n")


@pytest.mark.parametrize("how", ["symlink", "hardlink"])
def test_input_reached_through_a_link_is_still_the_input(data: Path, how: str) -> None:
    link = data.with_name("alias.jsonl")
    if how == "symlink":
        link.symlink_to(data.name)
    else:
        os.link(data, link)
    before = data.read_bytes()
    r = run("convert", str(data), str(data.with_name("o.jsonl")), "--to", "openai",
            "--on-error", "skip", "--report", str(link))
    assert r.returncode == 2
    assert "is the input file" in r.stderr.decode()
    assert data.read_bytes() == before


def test_render_output_replacing_the_input_is_a_usage_error(data: Path) -> None:
    before = data.read_bytes()
    r = run("render", str(data), str(data), "--template", str(data))
    assert r.returncode == 2
    assert r.stderr.decode() == (
        f"Error: OUTPUT {data} is the input file {data}: it would be destroyed; give OUTPUT "
        "another path\n")
    assert data.read_bytes() == before


@pytest.mark.parametrize("command", ["convert", "dedup", "pairs", "merge"])
def test_output_replacing_the_input_needs_in_place(data: Path, command: str) -> None:
    extra = {"convert": ["--to", "openai"], "dedup": [], "pairs": ["--to", "trl-preference"],
             "merge": []}[command]
    before = data.read_bytes()
    r = run(command, str(data), str(data), *extra)
    assert r.returncode == 2
    assert r.stderr.decode() == (
        f"Error: OUTPUT {data} is the input file {data}: pass --in-place to replace it\n")
    assert data.read_bytes() == before


def test_split_output_naming_the_input_is_a_usage_error(tmp_path: Path) -> None:
    src = tmp_path / "train.jsonl"
    src.write_bytes(jsonl(GOOD))
    r = run("split", str(src), "--out", str(tmp_path))
    assert r.returncode == 2
    assert r.stderr.decode() == (
        f"Error: --out train {src} is the input file {src}: it would be destroyed; give "
        "--out train another path\n")
    assert src.read_bytes() == jsonl(GOOD)


def test_publish_input_inside_out_is_a_usage_error(tmp_path: Path) -> None:
    out = tmp_path / "pub"
    out.mkdir()
    src = out / "train.jsonl"
    src.write_bytes(jsonl(GOOD))
    r = run("publish", str(src), "--out", str(out))
    assert r.returncode == 2
    assert r.stderr.decode() == (
        f"Error: input {src} is inside --out {out}, which publish replaces as a whole; give "
        "another --out folder\n")
    assert src.read_bytes() == jsonl(GOOD)


def test_in_place_convert_and_dedup_replace_the_input(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(jsonl(GOOD, GOOD))
    r = run("dedup", str(src), str(src), "--in-place")
    assert r.returncode == 0, r.stderr
    assert len(src.read_bytes().splitlines()) == 1
    link = tmp_path / "link.jsonl"
    link.symlink_to(src.name)
    r = run("convert", str(link), str(link), "--to", "openai", "--in-place")
    assert r.returncode == 0, r.stderr
    assert link.is_symlink()  # the file it points to was replaced, the link kept
    assert json.loads(src.read_bytes()) == {"messages": GOOD["messages"]}


def test_in_place_on_error_leaves_the_input_as_it_was(data: Path) -> None:
    before = data.read_bytes()
    r = run("convert", str(data), str(data), "--to", "openai", "--in-place")
    assert r.returncode == 1
    assert data.read_bytes() == before
    assert sorted(p.name for p in data.parent.iterdir()) == ["in.jsonl"]


def test_library_convert_checks_paths_too(data: Path) -> None:
    import dialogkit

    with pytest.raises(dialogkit.UsageError, match="it would be destroyed"):
        dialogkit.convert(data, data.with_name("o.jsonl"), to="openai", on_error="skip",
                          rejects=data)


# --- item 2: a run's outputs are committed together, or none -------------------------------


def test_report_on_a_full_disk_leaves_no_output(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "o.jsonl"
    rej = tmp_path / "rej.jsonl"
    with tmpfs(tmp_path / "full") as full:
        fill(full)
        r = run("convert", str(data), str(out), "--to", "openai", "--on-error", "skip",
                "--rejects", str(rej), "--report", str(full / "report.json"))
        assert r.returncode == 1
        assert r.stderr.decode() == (
            f"Error: cannot write {full / 'report.json'}: No space left on device\n")
        assert sorted(p.name for p in full.iterdir()) == ["filler"]
    assert not out.exists() and not rej.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full", "in.jsonl"]


def test_library_convert_on_a_full_disk_raises_output_error(data: Path, tmp_path: Path) -> None:
    from dialogkit.api import convert
    from dialogkit.errors import OutputError

    out = tmp_path / "o.jsonl"
    with tmpfs(tmp_path / "full") as full:
        fill(full)
        with pytest.raises(OutputError, match="No space left on device"):
            convert(data, out, to="openai", on_error="skip", report=full / "report.json")
    assert not out.exists()


# --- item 6: closed and full standard streams ----------------------------------------------


def shell(cmd: str, data: Path) -> subprocess.CompletedProcess[bytes]:
    """``cmd`` in a shell, with ``DK`` the dialogkit command and ``IN`` the input file."""
    env = {**os.environ, "DK": f"{sys.executable} -m dialogkit", "IN": str(data)}
    return subprocess.run(["bash", "-c", cmd], capture_output=True, cwd=ROOT, env=env,
                          timeout=120)


@pytest.fixture
def many(tmp_path: Path) -> Path:
    path = tmp_path / "many.jsonl"
    path.write_bytes(jsonl(*[GOOD] * 20000))
    return path


def test_closed_stdout_is_one_error_line(many: Path) -> None:
    r = shell('$DK convert "$IN" - --to openai >&-', many)
    assert (r.returncode, r.stderr.decode()) == (
        1, "Error: cannot write standard output: it is closed\n")


def test_closed_stdin_is_one_error_line(many: Path) -> None:
    r = shell("$DK convert - - --to openai <&-", many)
    assert (r.returncode, r.stderr.decode()) == (
        1, "Error: cannot read standard input: it is closed (-)\n")


def test_full_stdout_is_one_error_line(many: Path) -> None:
    r = shell('$DK convert "$IN" - --to openai >/dev/full', many)
    assert (r.returncode, r.stderr.decode()) == (
        1, "Error: cannot write standard output: No space left on device\n")


def test_closed_pipe_downstream_exits_quietly(many: Path) -> None:
    r = shell('$DK convert "$IN" - --to openai | head -1; exit ${PIPESTATUS[0]}', many)
    assert (r.returncode, r.stderr) == (0, b"")
    assert json.loads(r.stdout) == {"messages": GOOD["messages"]}


# --- item 7: file-system faults are one line naming the path, nothing partial left ---------


def write_cmds(out: Path, data: Path) -> dict[str, list[str]]:
    return {
        "convert": ["convert", str(data), str(out), "--to", "dialogkit"],
        "pairs": ["pairs", str(data), str(out), "--to", "trl-preference"],
        "split": ["split", str(data), "--out", str(out)],
        "publish": ["publish", str(data), "--out", str(out)],
    }


def comparisons(tmp_path: Path) -> Path:
    path = tmp_path / "cmp.jsonl"
    row = {"kind": "comparison", "context": [{"role": "user", "content": "q"}],
           "candidates": [{"messages": [{"role": "assistant", "content": "a"}]},
                          {"messages": [{"role": "assistant", "content": "b"}]}],
           "ranking": [0, 1]}
    path.write_bytes(jsonl(*[row] * 50))
    return path


@pytest.mark.parametrize("command", ["convert", "pairs", "split", "publish"])
def test_read_only_folder(tmp_path: Path, command: str) -> None:
    src = comparisons(tmp_path)
    with tmpfs(tmp_path / "ro", "ro") as ro:
        out = ro / ("o" if command in ("split", "publish") else "o.jsonl")
        r = run(*write_cmds(out, src)[command])
        assert r.returncode == 1
        shown = out / "train.jsonl" if command == "split" else out
        assert r.stderr.decode().splitlines()[-1] == (
            f"Error: cannot write {shown}: Read-only file system")
        assert list(ro.iterdir()) == []


@pytest.mark.parametrize("command", ["convert", "pairs", "split", "publish"])
def test_no_space_left(tmp_path: Path, command: str) -> None:
    src = comparisons(tmp_path)
    with tmpfs(tmp_path / "full") as full:
        fill(full)
        out = full / ("o" if command in ("split", "publish") else "o.jsonl")
        r = run(*write_cmds(out, src)[command])
        assert r.returncode == 1
        line = r.stderr.decode().splitlines()[-1]
        assert line.startswith("Error: cannot write ") and "No space left on device" in line
        assert str(out) in line
        assert sorted(p.name for p in full.iterdir()) == ["filler"]


@pytest.mark.parametrize("command", ["convert", "pairs", "split", "publish"])
def test_output_under_a_file(tmp_path: Path, command: str) -> None:
    src = comparisons(tmp_path)
    (tmp_path / "afile").write_bytes(b"")
    out = tmp_path / "afile" / ("o" if command in ("split", "publish") else "o.jsonl")
    r = run(*write_cmds(out, src)[command])
    assert r.returncode == 1
    shown = out / "train.jsonl" if command == "split" else out
    assert r.stderr.decode().splitlines()[-1] == (
        f"Error: cannot write {shown}: a part of the path is a file, not a folder")


@pytest.mark.parametrize("command", ["convert", "pairs"])
def test_output_is_a_folder(tmp_path: Path, command: str) -> None:
    src = comparisons(tmp_path)
    out = tmp_path / "adir"
    out.mkdir()
    r = run(*write_cmds(out, src)[command])
    assert (r.returncode, r.stderr.decode()) == (1, f"Error: cannot write {out}: it is a folder\n")
    assert list(out.iterdir()) == []
