"""The CLI contract: exit codes, stdout carries data only, stderr diagnostics, no partial output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, shared_file

GOOD = {"kind": "conversation", "messages": [{"role": "user", "content": "日本"},
                                             {"role": "assistant", "content": "ok"}]}
BAD = {"kind": "conversation", "messages": [{"role": "user", "content": "x"}]}


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "dialogkit", *args], input=stdin,
                          capture_output=True, cwd=ROOT, timeout=120)


def jsonl(*rows: object) -> bytes:
    return b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in rows)


def test_convert_stdin_to_stdout() -> None:
    r = run("convert", "-", "--to", "dialogkit", stdin=jsonl(GOOD))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["messages"] == GOOD["messages"]
    assert out["source"] == {"file": "-", "line": 1, "format": "dialogkit"}
    assert "日本".encode() in r.stdout
    assert r.stderr.decode() == "dialogkit -> dialogkit: read 1, written 1, rejected 0\n"


def test_convert_error_exit_1_names_file_line_path(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(jsonl(GOOD, BAD))
    out = tmp_path / "out.jsonl"
    r = run("convert", str(src), str(out), "--to", "dialogkit")
    assert r.returncode == 1
    assert r.stderr.decode() == (
        f"Error: an SFT conversation needs at least one assistant turn - at $ ({src}:2, "
        "format=dialogkit)\n"
    )
    assert not out.exists()
    assert r.stdout == b""


def test_convert_skip_with_rejects_and_report(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(jsonl(GOOD, BAD, GOOD))
    out, rej, rep = tmp_path / "o.json", tmp_path / "rej.jsonl", tmp_path / "rep.json"
    r = run("convert", str(src), str(out), "--to", "dialogkit", "--on-error", "skip",
            "--rejects", str(rej), "--report", str(rep))
    assert r.returncode == 0, r.stderr
    doc = json.loads(rep.read_text())
    assert {k: doc[k] for k in ("read", "written", "rejected", "rejected_by_reason")} == {
        "read": 3, "written": 2, "rejected": 1, "rejected_by_reason": {"no_assistant_turn": 1}}
    assert len(json.loads(out.read_text())) == 2  # .json suffix -> a JSON array
    assert json.loads(rej.read_text())["record"] == BAD


def test_usage_errors_exit_2() -> None:
    r = run("convert", "-", "--to", "dialogkitt", stdin=jsonl(GOOD))
    assert r.returncode == 2
    assert "Unknown format 'dialogkitt'. Did you mean 'dialogkit'?" in r.stderr.decode()
    assert run("convert", "-", stdin=b"").returncode == 2  # --to missing
    assert run("convert", "-", "--to", "dialogkit", "--on-error", "maybe").returncode == 2
    r = run("convert", "nope.jsonl", "--to", "dialogkit")
    assert r.returncode == 2
    assert r.stderr.decode() == "Error: No such file: nope.jsonl\n"


def test_validate_exit_codes(tmp_path: Path) -> None:
    good = tmp_path / "g.jsonl"
    good.write_bytes(jsonl(GOOD))
    r = run("validate", str(good))
    assert r.returncode == 0
    assert r.stdout.decode().startswith(f"{good}: format dialogkit, 1 records, 1 valid, 0 invalid")
    bad = tmp_path / "b.jsonl"
    bad.write_bytes(jsonl(GOOD, BAD))
    r = run("validate", str(bad))
    assert r.returncode == 1
    assert "no_assistant_turn" in r.stdout.decode()
    assert f"({bad}:2, format=dialogkit)" in r.stderr.decode()


def test_formats_lists_every_registered_format() -> None:
    from dialogkit.registry import all_formats

    r = run("formats")
    assert r.returncode == 0
    text = r.stdout.decode()
    for fmt in all_formats():
        assert fmt.name in text


def test_inspect_table(tmp_path: Path) -> None:
    src = tmp_path / "g.jsonl"
    src.write_bytes(jsonl(GOOD, GOOD))
    r = run("inspect", str(src))
    assert r.returncode == 0, r.stderr
    text = r.stdout.decode()
    assert f"{src}: format dialogkit, 2 records, 0 rejected" in text
    assert "turns per conversation" in text


CMP = {"kind": "comparison", "id": "c1", "context": [{"role": "user", "content": "Q?"}],
       "candidates": [{"messages": [{"role": "assistant", "content": "worse"}]},
                      {"messages": [{"role": "assistant", "content": "best"}]},
                      {"messages": [{"role": "assistant", "content": "unranked"}]}],
       "ranking": [1, 0, None]}


def test_convert_as_prompt_conversation_and_unpaired(tmp_path: Path) -> None:
    src = tmp_path / "c.jsonl"
    src.write_bytes(jsonl(CMP))
    r = run("convert", str(src), "-", "--to", "trl-prompt", "--as", "prompt")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["prompt"] == [{"role": "user", "content": "Q?"}]
    r = run("convert", str(src), "-", "--to", "openai", "--as", "conversation")
    assert [m["content"] for m in json.loads(r.stdout)["messages"]] == ["Q?", "best"]
    pairs = tmp_path / "p.jsonl"
    assert run("pairs", str(src), str(pairs), "--from", "dialogkit", "--strategy", "all",
               "--to", "trl-preference").returncode == 0
    rep = tmp_path / "rep.json"
    r = run("convert", str(pairs), "-", "--to", "trl-unpaired", "--as", "unpaired",
            "--report", str(rep))
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [(row["completion"][0]["content"], row["label"]) for row in rows] == [
        ("best", True), ("worse", False)]
    doc = json.loads(rep.read_text())
    assert (doc["read"], doc["expanded"], doc["written"], doc["rejected"]) == (1, 1, 2, 0)
    assert doc["read"] + doc["expanded"] == doc["written"] + doc["rejected"]
    r = run("convert", str(src), "-", "--to", "trl-unpaired", "--as", "unpaired",
            "--on-error", "skip")
    assert r.returncode == 0
    assert "rejected 1" in r.stderr.decode()


def test_strict_rejects_a_record_that_would_lose_a_field(tmp_path: Path) -> None:
    src = tmp_path / "d.jsonl"
    src.write_bytes(jsonl({"kind": "trainer_dialogue", "messages": [
        {"role": "user", "content": "q", "author": "trainer"},
        {"role": "assistant", "content": "a", "author": "model"}]}, GOOD))
    r = run("convert", str(src), "-", "--to", "openai")
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 2
    assert "field dropped from 1 records: author" in r.stderr.decode()
    r = run("convert", str(src), "-", "--to", "openai", "--strict")
    assert r.returncode == 1
    assert r.stderr.decode() == (
        "Error: `author` has no place in the output format and would be lost (--strict) "
        f"({src}:1, format=openai)\n")
    r = run("convert", str(src), "-", "--to", "openai", "--strict", "--on-error", "skip")
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 1
    assert "rejected 1: lossy" in r.stderr.decode()


def test_progress_bar_only_when_stderr_is_a_terminal(tmp_path: Path) -> None:
    import os
    import pty

    src = tmp_path / "in.jsonl"
    src.write_bytes(jsonl(GOOD, GOOD))
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "dialogkit", "convert", str(src),
                             str(tmp_path / "o.jsonl"), "--to", "openai"],
                            stderr=slave, stdout=subprocess.DEVNULL, cwd=ROOT)
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    assert proc.wait(timeout=60) == 0
    assert b"converting " in seen  # rich's live bar (the path is cut to the terminal's width)
    assert b"\x1b[" in seen


def test_option_values_understand_escapes_for_legacy_markers(tmp_path: Path) -> None:
    src = tmp_path / "c.jsonl"
    src.write_bytes(jsonl({"prompt": "2+2=\n\n###\n\n", "completion": " 4 END"}))
    r = run("convert", str(src), "-", "--from", "openai-completion", "--to", "openai",
            "--option", r"prompt_separator=\n\n###\n\n", "--option", "stop= END")
    assert r.returncode == 0, r.stderr
    assert [m["content"] for m in json.loads(r.stdout)["messages"]] == ["2+2=", " 4"]
    r = run("convert", str(src), "-", "--from", "openai-completion", "--to", "openai",
            "--join", "。")
    assert r.returncode == 0, r.stderr


def test_unescape_leaves_non_ascii_alone() -> None:
    from dialogkit.cli import unescape

    assert unescape(r"日本\n\t\\x") == "日本\n\t\\x"


def test_convert_think_split_and_tool_arguments_options() -> None:
    row = {"messages": [{"role": "user", "content": "q"},
                        {"role": "assistant", "content": "<think>r</think>a",
                         "tool_calls": [{"type": "function",
                                         "function": {"name": "f", "arguments": '{"x": 1}'}}]},
                        {"role": "tool", "content": "1"},
                        {"role": "assistant", "content": "done"}]}
    proc = run("convert", "-", "-", "--from", "openai", "--to", "openai", "--think", "split",
               "--tool-arguments", "object", stdin=jsonl(row))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)["messages"][1]
    assert out == {"role": "assistant", "content": "a",
                   "tool_calls": [{"type": "function",
                                   "function": {"name": "f", "arguments": {"x": 1}}}]}
    assert b"field dropped from 1 records: reasoning" in proc.stderr
    bad = run("convert", "-", "-", "--to", "openai", "--think-tags", "<t>", stdin=jsonl(row))
    assert bad.returncode == 2 and b"--think-tags takes OPEN,CLOSE, got '<t>'" in bad.stderr


def test_inspect_media_and_reasoning_coverage() -> None:
    src = shared_file("multimodal", "mllm_video_audio_demo.json")
    r = run("inspect", str(src))
    assert r.returncode == 0, r.stderr
    lines = [" ".join(line.split()) for line in r.stdout.decode().splitlines()]
    assert "audio 3" in lines and "video 3" in lines
    assert "records with media: 3 of 3" in lines
    assert "assistant turns with reasoning: 0 of 3 (0%)" in lines
    v1 = shared_file("llamafactory_v1", "reason_tool_use_demo_50.jsonl")
    out = run("inspect", str(v1)).stdout.decode()
    assert "assistant turns with reasoning: 112 of 112 (100%)" in out
