"""The pipeline commands end to end: pairs, merge, split, dedup, build (exit codes, counts)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, shared_file

EX = ROOT / "examples"


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "dialogkit", *args], input=stdin,
                          capture_output=True, cwd=ROOT, timeout=120)


def rows(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize(("strategy", "n"), [("all", 56), ("best-vs-rest", 28),
                                             ("adjacent", 26), ("best-vs-worst", 9)])
def test_pairs_strategies_on_the_examples(tmp_path: Path, strategy: str, n: int) -> None:
    out = tmp_path / "pairs.jsonl"
    r = run("pairs", str(EX / "comparisons.jsonl"), str(out), "--from", "dialogkit",
            "--strategy", strategy, "--to", "trl-preference", "--margin", "rank")
    assert r.returncode == 0, r.stderr
    assert r.stderr.decode() == (
        f"pairs ({strategy}): read 8 records: 8 comparisons, 0 other records skipped, "
        f"0 rejected; 0 comparisons gave no pair; wrote {n} pairs\n")
    got = rows(out)
    assert len(got) == n
    assert all(p["margin"] > 0 for p in got)
    assert {p["group_id"] for p in got} == {f"cmp-{i}" for i in range(1, 9)}


def test_pairs_on_oasst(tmp_path: Path) -> None:
    path = shared_file("oasst", "en_100_tree.jsonl")
    out = tmp_path / "p.jsonl"
    r = run("pairs", str(path), str(out), "--from", "oasst", "--strategy", "all",
            "--to", "dialogkit")
    assert r.returncode == 0, r.stderr
    assert r.stderr.decode().splitlines() == [
        "pairs (all): read 899 records: 212 comparisons, 687 other records skipped, "
        "0 rejected; 0 comparisons gave no pair; wrote 754 pairs",
        "  skipped 687: kind conversation",
    ]
    assert len(rows(out)) == 754


def test_pairs_needs_to() -> None:
    r = run("pairs", str(EX / "comparisons.jsonl"), "-", "--from", "dialogkit")
    assert r.returncode == 2
    assert r.stderr.decode() == "Error: --to FORMAT is required (see `dialogkit formats`)\n"


def test_merge_with_weights(tmp_path: Path) -> None:
    out = tmp_path / "sft.jsonl"
    r = run("merge", str(EX / "demos.jsonl"), str(EX / "trainer_dialogues.jsonl"),
            str(EX / "comparisons.jsonl"), str(out), "--weight", "demos=1.5", "--seed", "1")
    assert r.returncode == 0, r.stderr
    err = r.stderr.decode().splitlines()
    assert err[0].endswith("demos.jsonl (alpaca, weight 1.5): read 12, converted 12, "
                           "rejected 0, written 18")
    assert err[1].endswith("trainer_dialogues.jsonl (dialogkit, weight 1): read 4, converted 4,"
                           " rejected 0, written 4")
    assert err[2].endswith("comparisons.jsonl (dialogkit, weight 1): read 8, converted 8, "
                           "rejected 0, written 8")
    assert err[3] == f"merge: wrote 30 records to {out}"
    got = rows(out)
    assert len(got) == 30
    assert all(set(g) >= {"messages", "provenance"} for g in got)
    assert got[0]["provenance"]["format"] == "alpaca"
    again = tmp_path / "again.jsonl"
    run("merge", str(EX / "demos.jsonl"), str(EX / "trainer_dialogues.jsonl"),
        str(EX / "comparisons.jsonl"), str(again), "--weight", "demos=1.5", "--seed", "1")
    assert again.read_bytes() == out.read_bytes()


def test_merge_bad_weight(tmp_path: Path) -> None:
    r = run("merge", str(EX / "demos.jsonl"), str(tmp_path / "o.jsonl"), "--weight", "x=2")
    assert r.returncode == 2
    assert r.stderr.decode() == (
        f"Error: --weight 'x=2': 'x' matches no input (inputs: {EX / 'demos.jsonl'})\n")
    assert not (tmp_path / "o.jsonl").exists()


def test_split_keeps_the_input_format_and_round_trips(tmp_path: Path) -> None:
    path = shared_file("hh_rlhf", "harmless-base_test_sample300.jsonl.gz")
    clean = tmp_path / "hh.jsonl"
    r = run("convert", str(path), str(clean), "--from", "hh-rlhf", "--to", "hh-rlhf",
            "--on-error", "skip")
    assert r.returncode == 0, r.stderr
    r = run("split", str(clean), "--out", str(tmp_path / "s"), "--seed", "0")
    assert r.returncode == 0, r.stderr
    parts = {n: rows(tmp_path / "s" / f"{n}.jsonl") for n in ("train", "validation", "test")}
    assert set(parts["train"][0]) == {"chosen", "rejected"}  # hh-rlhf rows
    total = sum(len(v) for v in parts.values())
    assert total == len(rows(clean))
    assert sorted(json.dumps(x) for v in parts.values() for x in v) == sorted(
        json.dumps(x) for x in rows(clean))
    c = {n: len(v) for n, v in parts.items()}
    assert r.stderr.decode().startswith(
        f"split: read {total} records (hh-rlhf), ")
    assert f"train {c['train']}, validation {c['validation']}, test {c['test']}" in (
        r.stderr.decode())


def test_split_oasst_by_tree(tmp_path: Path) -> None:
    path = shared_file("oasst", "en_100_tree.jsonl")
    r = run("split", str(path), "--out", str(tmp_path), "--group-by", "message_tree_id",
            "--train", "0.7", "--validation", "0.15", "--test", "0.15")
    assert r.returncode == 0, r.stderr
    trees: dict[str, set[str]] = {}
    for n in ("train", "validation", "test"):
        for row in rows(tmp_path / f"{n}.jsonl"):  # oasst's flat export: one row per message
            trees.setdefault(row["message_tree_id"], set()).add(n)
    assert len(trees) == 100 and all(len(v) == 1 for v in trees.values())
    assert r.stderr.decode().startswith("split: read 899 records (oasst), 100 groups joined "
                                        "into 100; ")


def test_split_notes_a_read_only_format(tmp_path: Path) -> None:
    path = shared_file("summarize_from_feedback", "comparisons_readme_example.jsonl")
    r = run("split", str(path), "--out", str(tmp_path), "--train", "0", "--validation", "0")
    assert r.returncode == 0, r.stderr
    assert r.stderr.decode().splitlines() == [
        "  summarize-feedback cannot be written: the splits are in dialogkit",
        "split: read 1 records (dialogkit), 1 groups joined into 1; train 0, validation 0, "
        "test 1; no prompt in two splits",
    ]
    assert [x["kind"] for x in rows(tmp_path / "test.jsonl")] == ["comparison"]
    assert rows(tmp_path / "train.jsonl") == []


def test_split_bad_fractions(tmp_path: Path) -> None:
    r = run("split", str(EX / "demos.jsonl"), "--out", str(tmp_path), "--train", "0.9",
            "--validation", "0.3")
    assert r.returncode == 2
    assert r.stderr.decode() == (
        "Error: split fractions must add up to 1, got train=0.9, validation=0.3, test=-0.2\n")


def test_split_leak_exits_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    import dialogkit.ops.split as split
    from dialogkit.cli import app

    src = tmp_path / "in.jsonl"
    src.write_text("".join(
        json.dumps({"instruction": "Same", "input": "", "output": f"o{i}", "id": f"r{i}"}) + "\n"
        for i in range(30)))
    monkeypatch.setattr(split._Union, "union", lambda self, a, b: None)
    res = CliRunner().invoke(app, ["split", str(src), "--out", str(tmp_path / "o")])
    assert res.exit_code == 1
    assert "prompt(s) found in two splits: 'user: same' in train" in res.output
    assert not (tmp_path / "o").exists()


def test_dedup(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    demos = [{"instruction": "Hi", "input": "", "output": "a"},
             {"instruction": "Hi", "input": "", "output": "a"},
             {"instruction": "ＨＩ ", "input": "", "output": "A"},
             {"instruction": "hi", "input": "", "output": "other"}]
    src.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in demos))
    out = tmp_path / "out.jsonl"
    r = run("dedup", str(src), str(out))
    assert r.returncode == 0, r.stderr
    assert r.stderr.decode() == (
        "dedup by record: read 4, kept 3, removed 1 duplicates, rejected 0\n")
    assert rows(out) == [demos[0], demos[2], demos[3]]  # alpaca rows, as they were
    r = run("dedup", str(src), str(out), "--normalize")
    assert r.stderr.decode() == (
        "dedup by record (normalized): read 4, kept 2, removed 2 duplicates, rejected 0\n")
    r = run("dedup", str(src), str(out), "--by", "prompt", "--normalize")
    assert r.stderr.decode() == (
        "dedup by prompt (normalized): read 4, kept 1, removed 3 duplicates, rejected 0\n")
    assert rows(out) == [demos[0]]


def test_build_example_recipe(tmp_path: Path) -> None:
    r = run("build", "examples/recipe.yaml", "--out", str(tmp_path / "o"))
    assert r.returncode == 0, r.stderr
    assert r.stderr.decode().splitlines() == [
        "source demos (alpaca): read 12, rejected 0",
        "source dialogues (dialogkit): read 4, rejected 0",
        "source comparisons (dialogkit): read 8, rejected 0",
        "sft (openai): 16 made, 28 written: train 19, validation 4, test 5",
        "reward (trl-preference): 56 made, 56 written: train 44, validation 6, test 6",
        "prompts (trl-prompt): 8 made, 7 written: train 5, validation 1, test 1",
        f"report: {tmp_path / 'o'}/report.json",
    ]
    assert (tmp_path / "o" / "reward" / "train.jsonl").is_file()


def test_build_bad_recipe_exit_2(tmp_path: Path) -> None:
    p = tmp_path / "r.yaml"
    p.write_text("sources: {a: {path: x.jsonl, weight: heavy}}\n")
    r = run("build", str(p))
    assert r.returncode == 2
    assert r.stderr.decode() == (
        f"Error: {p}: invalid recipe: sources.a.weight: Input should be a valid number, "
        "unable to parse string as a number\n")


@pytest.mark.parametrize(("folder", "name", "held", "to"), [
    ("hh_rlhf", "harmless-base_test_sample300.jsonl.gz", "269 preference", "trl-preference"),
    ("preference_pairs", "dpo_en_demo_llamafactory_first180.json", "180 preference",
     "trl-preference"),
    ("preference_pairs", "stack_exchange_paired_tiny_torchtune.json", "25 preference",
     "trl-preference"),
    ("preference_pairs", "kto_en_demo_llamafactory_first300.json", "300 unpaired",
     "trl-unpaired"),
])
def test_pairs_on_pairs_says_what_to_run(tmp_path: Path, folder: str, name: str, held: str,
                                         to: str) -> None:
    """Issue 15 item 2: pairs on input with no comparison exits 1, leaves no file, and names
    the convert command that was meant."""
    path = shared_file(folder, name)
    out = tmp_path / "p.jsonl"
    r = run("pairs", str(path), str(out), "--to", "trl-preference")
    assert r.returncode == 1
    what = "already pairs" if to == "trl-preference" else "unpaired examples"
    tail = "TRL preference data" if to == "trl-preference" else "they are"
    assert r.stderr.decode() == (
        f"Error: {path} holds no ranked comparison to pair ({held}). They are {what}: "
        f"`dialogkit convert {path} OUTPUT --to {to}` writes them as {tail}.\n")
    assert not out.exists()
