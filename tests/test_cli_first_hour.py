"""Issue 15, "the first hour": what a new user hits converting the real samples, end to end."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, shared_file

HH = ("hh_rlhf", "harmless-base_test_sample300.jsonl.gz")


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "dialogkit", *args], input=stdin,
                          capture_output=True, cwd=ROOT, timeout=120)


def rows(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def test_pairs_to_sft_names_input_and_suggests(tmp_path: Path) -> None:
    """Items 9 and 11: a pair reaching an SFT writer names the input format and says what to
    run; with --on-error skip a run that wrote nothing for that reason exits 1, no file."""
    path = shared_file(*HH)
    out = tmp_path / "h.jsonl"
    hint = ("format 'openai' holds SFT conversations, not a record of kind 'preference' read "
            "from hh-rlhf: write pairs with `--to trl-preference`, or make SFT conversations "
            f"of them with `--as conversation --side chosen` ({path}:1, format=hh-rlhf)")
    r = run("convert", str(path), str(out), "--to", "openai")
    assert r.returncode == 1
    assert r.stderr.decode() == f"Error: {hint}\n"
    assert not out.exists()
    r = run("convert", str(path), str(out), "--to", "openai", "--on-error", "skip")
    assert r.returncode == 1
    assert r.stderr.decode().splitlines() == [
        "hh-rlhf -> openai: read 282, written 0, rejected 282",
        "  rejected 9: consecutive turns",
        "  rejected 4: empty turn",
        "  rejected 269: kind not writable",
        f"  first: {hint}",
        "Error: nothing written: 269 of 282 records are of a kind that openai cannot hold",
    ]
    assert not out.exists()


def test_pairs_as_conversation_either_side(tmp_path: Path) -> None:
    """Item 9: --as conversation takes a pair's prompt plus its chosen (default) or rejected
    answer."""
    path = shared_file(*HH)
    out = tmp_path / "h.jsonl"
    got = {}
    for side in ("chosen", "rejected"):
        r = run("convert", str(path), str(out), "--to", "openai", "--as", "conversation",
                "--side", side, "--on-error", "skip")
        assert r.returncode == 0, r.stderr
        assert r.stderr.decode().splitlines()[0] == (
            "hh-rlhf -> openai: read 282, written 269, rejected 13")
        got[side] = rows(out)
    r = run("convert", str(path), str(out), "--to", "openai", "--as", "conversation",
            "--on-error", "skip")
    assert rows(out) == got["chosen"]
    src = [json.loads(x) for x in gzip.open(path, "rt", encoding="utf-8")]
    first = src[0]
    for side in ("chosen", "rejected"):
        msgs = got[side][0]["messages"]
        assert msgs[-1]["role"] == "assistant"
        assert first[side].endswith(msgs[-1]["content"])
        assert got["chosen"][0]["messages"][:-1] == got["rejected"][0]["messages"][:-1]
    assert got["chosen"][0]["messages"][-1] != got["rejected"][0]["messages"][-1]


def test_side_needs_as_conversation() -> None:
    r = run("convert", "-", "-", "--to", "openai", "--side", "chosen", stdin=b"")
    assert r.returncode == 2
    assert r.stderr.decode() == "Error: --side goes with --as conversation\n"


def test_oasst_as_conversation_each_conversation_once(tmp_path: Path) -> None:
    """Item 3: the best conversation of each ranked comparison is also one of the tree's
    paths; it is written once and the report counts the 212 merged."""
    path = shared_file("oasst", "en_100_tree.jsonl")
    out, report = tmp_path / "o.jsonl", tmp_path / "r.json"
    r = run("convert", str(path), str(out), "--as", "conversation", "--to", "openai",
            "--report", str(report))
    assert r.returncode == 0, r.stderr
    assert r.stderr.decode() == (
        "oasst -> openai: read 899, written 687, rejected 0, merged 212 duplicates\n")
    got = rows(out)
    assert len(got) == 687
    assert len({json.dumps(g["messages"]) for g in got}) == 687
    doc = json.loads(report.read_text())
    assert (doc["read"], doc["expanded"], doc["written"], doc["rejected"], doc["merged"]) == (
        899, 0, 687, 0, 212)
    plain = tmp_path / "plain.jsonl"  # the conversations kept are the tree's own paths
    assert run("convert", str(path), str(plain), "--to", "openai", "--option",
               "oasst_yield=conversations").returncode == 0
    assert got == rows(plain)


def test_t0_endoftext_stripped_and_counted(tmp_path: Path) -> None:
    """Item 5: the t0 samples' 300 completions lose their literal `<|endoftext|>` on the way
    to chat format, and the run says so; `--option stop=` keeps it."""
    folder = "legacy_prompt_completion"
    names = ["t0_ag_news_classify_gpt3_finetune.jsonl",
             "t0_adversarial_qa_dbert_answer_the_following_q_first100.jsonl"]
    total = 0
    for name, n in zip(names, (200, 100), strict=True):
        path = shared_file(folder, name)
        out = tmp_path / "c.jsonl"
        r = run("convert", str(path), str(out), "--to", "openai")
        assert r.returncode == 0, r.stderr
        assert r.stderr.decode().splitlines() == [
            f"openai-completion -> openai: read {n}, written {n}, rejected 0",
            f"  changed {n}: completion: trailing '<|endoftext|>' stripped (keep it with "
            "--option stop=)",
        ]
        got = rows(out)
        assert not any("<|endoftext|>" in m["content"] for g in got for m in g["messages"])
        src = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
        assert [g["messages"][1]["content"] + "<|endoftext|>" for g in got] == [
            s["completion"] for s in src]
        total += len(got)
        r = run("convert", str(path), str(out), "--to", "openai", "--option", "stop=")
        assert r.returncode == 0, r.stderr
        assert [g["messages"][1]["content"] for g in rows(out)] == [s["completion"] for s in src]
    assert total == 300


def test_no_private_key_reaches_a_trainer_file(tmp_path: Path) -> None:
    """Item 7: `--to trl` on the drone file (arguments written with spaces) writes no `_trl`
    column; the spacing it cannot keep is dropped and counted."""
    path = shared_file("openai_chat", "openai_cookbook_drone_training_first5.jsonl")
    out = tmp_path / "t.jsonl"
    r = run("convert", str(path), str(out), "--to", "trl")
    assert r.returncode == 0, r.stderr
    assert r.stderr.decode().splitlines() == [
        "openai -> trl: read 5, written 5, rejected 0",
        "  field dropped from 2 records: _trl",
    ]
    got = rows(out)
    assert [k for g in got for k in g if k.startswith("_")] == []
    assert got[0]["messages"][2]["tool_calls"][0]["function"]["arguments"] == {"altitude": 100}


def test_no_writer_emits_a_private_key() -> None:
    """Item 7, for every writer: a ``_`` key a writer puts in a row is dropped and tallied."""
    from dialogkit.models import Conversation
    from dialogkit.registry import Format, Rows, WriteContext

    class Leaky(Format):
        name = "leaky"
        writes = ("conversation",)

        def write_record(self, record, ctx):  # noqa: ANN001, ANN202
            return {"messages": len(record.messages), "_state": 1}

    class LeakyRows(Leaky):
        def write_record(self, record, ctx):  # noqa: ANN001, ANN202
            return Rows([{"a": 1, "_b": 2}, {"c": 3}])

    conv = Conversation.model_validate({"messages": [{"role": "user", "content": "q"},
                                                     {"role": "assistant", "content": "a"}]})
    ctx = WriteContext()
    assert list(Leaky().write([conv], ctx)) == [{"messages": 2}]
    assert list(LeakyRows().write([conv], ctx)) == [{"a": 1}, {"c": 3}]
    assert dict(ctx.dropped) == {"_state": 1, "_b": 1}
