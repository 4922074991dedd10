"""RL prompts with verifiable rewards: gsm8k/math readers, verl/openrlhf/trl-prompt writers,
``--as prompt --reference``, and the ``dataset_info.json`` entry of ``--dataset-info``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

import dialogkit
from dialogkit.errors import RecordError, UsageError
from dialogkit.models import Comparison, InstructionDemo, PreferencePair, PromptOnly
from dialogkit.ops.answers import boxed_answer, gsm8k_answer
from dialogkit.ops.convert_kinds import kind_transform, to_prompt
from tests.conftest import ROOT

EXAMPLES = ROOT / "examples"
U = {"role": "user", "content": "What is 6 times 7?"}


def _read(rows: list[dict[str, Any]], fmt: str, **opts: Any) -> list[Any]:
    return list(dialogkit.read(rows, format=fmt, **opts))


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_answers_are_extracted_as_the_verifiers_do() -> None:
    assert gsm8k_answer("so 3 + 4 = 7\n#### -1,234.5") == "-1234.5"
    assert gsm8k_answer("The answer is 7") is None
    assert boxed_answer(r"first $\boxed{1}$, then $\boxed{\frac{a}{b^{2}}}$") == r"\frac{a}{b^{2}}"
    assert boxed_answer(r"$\fbox{42}$") == "42"
    assert boxed_answer(r"so \boxed 5$ done") == "5"
    assert boxed_answer(r"\boxed{unclosed") is None


def test_gsm8k_reads_question_reference_and_keeps_the_worked_solution() -> None:
    recs = list(dialogkit.read(EXAMPLES / "gsm8k.jsonl"))  # auto-detected
    assert [r.reference for r in recs] == ["36", "38", "1000"]
    first = recs[0]
    assert isinstance(first, PromptOnly) and first.task == "math"
    assert first.prompt[0].content.startswith("A baker makes 24 rolls")
    assert first.metadata == {"worked_solution": (
        "In the afternoon she makes 24 / 2 = <<24/2=12>>12 rolls.\n"
        "In total she makes 24 + 12 = <<24+12=36>>36 rolls.\n#### 36")}
    assert first.source is not None and first.source.format == "gsm8k"
    with pytest.raises(RecordError) as info:
        _read([{"question": "Q?", "answer": "no final line"}], "gsm8k")
    assert str(info.value) == ("the answer has no final `#### N` line to take the reference "
                               "from - at $.answer (<rows>:1, format=gsm8k)")


def test_math_reads_the_last_boxed_answer_and_keeps_level_and_type() -> None:
    a, b = dialogkit.read(EXAMPLES / "math.jsonl")
    assert (a.reference, b.reference) == ("1024", r"\frac{3}{4}")
    assert b.metadata["level"] == "Level 1" and b.metadata["type"] == "Prealgebra"
    assert b.metadata["worked_solution"].endswith(r"\boxed{\frac{3}{4}}$.")
    with pytest.raises(RecordError) as info:
        _read([{"problem": "P", "solution": "no box"}], "math")
    assert info.value.rule == "no boxed answer" and info.value.loc == "$.solution"


def test_trl_prompt_reads_a_reference_column_and_writes_it_where_asked(tmp_path: Path) -> None:
    (rec,) = _read([{"prompt": [U], "ground_truth": "42", "task": "math", "n": 1}],
                   "trl-prompt")
    assert (rec.reference, rec.task, rec.metadata) == ("42", "math", {
        "n": 1, "_trl": {"reference": "ground_truth"}})
    # the column it came from is kept: read -> write -> read is equal
    out = tmp_path / "a.jsonl"
    dialogkit.write([rec], out, format="trl-prompt")
    assert _jsonl(out) == [{"prompt": [U], "ground_truth": "42", "task": "math", "n": 1}]
    # reference_as names the column TRL's reward functions get (`solution` by default)
    dialogkit.write([rec], out, format="trl-prompt", reference_as="solution")
    assert _jsonl(out) == [{"prompt": [U], "solution": "42", "task": "math", "n": 1}]
    # reference_column names the column to read; a non-text answer is grading.answer
    (rec,) = _read([{"prompt": [U], "tests": [{"in": "1", "out": "2"}], "answer": "x"}],
                   "trl-prompt", reference_column="tests")
    assert rec.reference is None and rec.grading is not None
    assert rec.grading.answer == [{"in": "1", "out": "2"}] and rec.metadata["answer"] == "x"


def test_verl_writes_the_layout_verl_reads_and_reads_it_back(tmp_path: Path) -> None:
    recs = list(dialogkit.read(EXAMPLES / "gsm8k.jsonl"))
    out = tmp_path / "out.parquet"
    rep = dialogkit.write(recs, out, format="verl")
    assert (rep.written, rep.rejected) == (3, 0)
    rows = pq.read_table(out).to_pylist()
    assert rows[2] == {
        "data_source": "openai/gsm8k",
        "prompt": [{"role": "user", "content": "A school buys 125 notebooks for $8 each. How "
                                               "many dollars does it spend?"}],
        "ability": "math",
        "reward_model": {"style": "rule", "ground_truth": "1000"},
        "extra_info": {"split": "train", "index": 2, "worked_solution":
                       "It spends 125 * 8 = <<125*8=1000>>1000 dollars.\n#### 1,000"},
    }
    back = list(dialogkit.read(out, format="verl"))
    assert [r.reference for r in back] == ["36", "38", "1000"]
    again = tmp_path / "again.parquet"
    dialogkit.write(back, again, format="verl")
    assert pq.read_table(again).to_pylist() == rows


def test_verl_data_source_from_option_metadata_or_file_and_no_reference_is_refused(
        tmp_path: Path) -> None:
    src = tmp_path / "my_prompts.jsonl"
    src.write_text(json.dumps({"prompt": [U], "solution": "42"}) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    dialogkit.convert(src, out, to="verl")
    assert _jsonl(out)[0]["data_source"] == "my_prompts"  # the stem of the file it came from
    dialogkit.convert(src, out, to="verl", data_source="math_dapo", split="test", ability="x")
    row = _jsonl(out)[0]
    assert (row["data_source"], row["extra_info"]["split"], row["ability"]) == (
        "math_dapo", "test", "x")
    bare = PromptOnly(prompt=[U])
    rej = list(dialogkit.get_format("verl").write([bare], dialogkit.registry.WriteContext()))[0]
    assert str(rej.error) == ("verl's reward needs reward_model.ground_truth: the prompt has no "
                              "reference answer (format=verl)")
    graded = PromptOnly(prompt=[U], grading={"style": "model", "answer": {"rubric": "r"},
                                             "params": {"judge": "j"}})
    dialogkit.write([graded], out, format="verl", data_source="judge")
    assert _jsonl(out)[0]["reward_model"] == {"style": "model", "ground_truth": {"rubric": "r"},
                                              "judge": "j"}


def test_openrlhf_prompt_and_preference_rows(tmp_path: Path) -> None:
    out = tmp_path / "o.jsonl"
    dialogkit.convert(EXAMPLES / "gsm8k.jsonl", out, to="openrlhf", label_key="answer_text")
    row = _jsonl(out)[0]
    assert list(row) == ["input", "answer_text", "worked_solution"]
    assert row["answer_text"] == "36"
    pair = PreferencePair(prompt=[U], chosen=[{"role": "assistant", "content": "42"}],
                          rejected=[{"role": "assistant", "content": "41"}], margin=2.0)
    dialogkit.write([pair], out, format="openrlhf")
    assert _jsonl(out) == [{"prompt": [U], "chosen": [{"role": "assistant", "content": "42"}],
                            "rejected": [{"role": "assistant", "content": "41"}],
                            "margin": 2.0}]
    assert list(dialogkit.read(out, format="openrlhf"))[0].chosen == pair.chosen
    dialogkit.write([pair], out, format="openrlhf", openrlhf_prompt="implicit")
    (implicit,) = _jsonl(out)
    assert "prompt" not in implicit and implicit["chosen"][0] == U
    (back,) = dialogkit.read(out, format="openrlhf")
    assert back.prompt == pair.prompt and back.chosen == pair.chosen


def test_as_prompt_keeps_the_response_or_the_best_candidate_as_reference() -> None:
    demo = InstructionDemo(prompt="Capital of France?", response="Paris")
    assert to_prompt(demo, reference="response").reference == "Paris"
    assert to_prompt(demo).reference is None
    comp = Comparison(context=[U], candidates=[{"messages": [{"role": "assistant",
                                                              "content": "41"}]},
                                               {"messages": [{"role": "assistant",
                                                              "content": "42"}]}],
                      ranking=[1, 0])
    assert kind_transform("prompt", reference="best")(comp).reference == "42"
    with pytest.raises(RecordError) as info:
        to_prompt(demo, reference="best")
    assert str(info.value) == "a demo has no candidates to pick the best of; use --reference " \
                              "response"
    with pytest.raises(UsageError):
        kind_transform("unpaired", reference="best")


def test_cli_reference_needs_as_prompt_and_writes_the_column(tmp_path: Path) -> None:
    out = tmp_path / "p.jsonl"
    cmd = [sys.executable, "-m", "dialogkit", "convert", str(EXAMPLES / "comparisons.jsonl"),
           str(out), "--to", "trl-prompt"]
    res = subprocess.run([*cmd, "--as", "prompt", "--reference", "best"], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    row = _jsonl(out)[0]
    assert row["solution"].startswith("Because of Rayleigh scattering")
    res = subprocess.run([*cmd, "--reference", "best"], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 2 and "--reference needs --as prompt" in res.stderr


def test_dataset_info_names_every_column_and_merges_by_name(tmp_path: Path) -> None:
    info_path = tmp_path / "dataset_info.json"
    info_path.write_text(json.dumps({"mine": {"file_name": "mine.json"}}), encoding="utf-8")
    conv = {"kind": "conversation", "messages": [
        {"role": "system", "content": "S"}, {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "a1"}, {"role": "user", "content": "q2"},
        {"role": "assistant", "content": "a2"}]}
    recs = _read([conv], "dialogkit")
    dialogkit.write(recs, tmp_path / "sft.json", format="alpaca", dataset_info=True)
    dialogkit.write(recs, tmp_path / "chat.json", format="sharegpt", dataset_info=True)
    dialogkit.write(recs, tmp_path / "none.json", format="alpaca")  # not asked: no entry
    info = json.loads(info_path.read_text(encoding="utf-8"))
    assert list(info) == ["mine", "sft", "chat"]
    assert info["sft"] == {"file_name": "sft.json", "formatting": "alpaca", "columns": {
        "prompt": "instruction", "query": "input", "response": "output", "system": "system",
        "history": "history"}}
    assert info["chat"] == {"file_name": "chat.json", "formatting": "sharegpt",
                            "columns": {"messages": "conversations"}}
    # tags that differ from LLaMA-Factory's defaults are named; one tag per role only
    rows = [{"conversations": [{"from": "user", "value": "q"}, {"from": "assistant",
                                                                "value": "a"}]}]
    dialogkit.write(_read(rows, "sharegpt"), tmp_path / "tags.json", format="sharegpt",
                    dataset_info=True)
    info = json.loads(info_path.read_text(encoding="utf-8"))
    assert info["tags"]["tags"] == {"assistant_tag": "assistant", "user_tag": "user"}
    mixed = rows + [{"conversations": [{"from": "human", "value": "q"},
                                       {"from": "gpt", "value": "a"}]}]
    with pytest.raises(UsageError) as err:
        dialogkit.write(_read(mixed, "sharegpt"), tmp_path / "mixed.json", format="sharegpt",
                        dataset_info=True)
    assert str(err.value) == ("LLaMA-Factory takes one tag per role, but the assistant turns "
                              "of mixed.json are tagged assistant, gpt; write them with one name")
