"""verl 0.9.1's own ``RLHFDataset`` and ``default_compute_score`` on dialogkit's ``verl`` output.

verl installs on a CPU machine (``.ci/frameworks.sh verl``: ``torch==2.13.0 verl==0.9.1``); its
trainers need GPUs, so what runs here is the code a verl run executes to read a row (the
dataset class, with its overlong-prompt filter and chat template) and to score a response (the
default reward function, chosen by ``data_source``, fed ``reward_model["ground_truth"]``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT
from tests.trainers.conftest import run_probe

EXAMPLES = ROOT / "examples"


def _convert(src: Path, dst: Path, *extra: str) -> None:
    res = subprocess.run([sys.executable, "-m", "dialogkit", "convert", str(src), str(dst),
                          "--to", "verl", *extra], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr


def test_verl_reads_gsm8k_and_math_prompts_and_scores_them(tmp_path: Path,
                                                          phi3_tokenizer: Path) -> None:
    # the command, unchanged: dialogkit convert gsm8k.jsonl out.parquet --to verl
    gsm8k, math = tmp_path / "gsm8k.parquet", tmp_path / "math.parquet"
    _convert(EXAMPLES / "gsm8k.jsonl", gsm8k)
    _convert(EXAMPLES / "math.jsonl", math, "--option", "split=test")
    out, out_math = run_probe("verl", "verl_probe.py", phi3_tokenizer, tmp_path / "cache",
                              gsm8k, math)["files"]
    assert out["len"] == 3
    first = out["rows"][0]
    assert first["data_source"] == "openai/gsm8k"
    assert first["ability"] == "math"
    assert first["raw_prompt"] == [{"role": "user", "content": (
        "A baker makes 24 rolls in the morning and half as many in the afternoon. How many "
        "rolls does she make in total?")}]
    assert [r["ground_truth"] for r in out["rows"]] == ["36", "38", "1000"]
    assert [r["index"] for r in out["rows"]] == [0, 1, 2]
    assert first["extra_info"]["split"] == "train"
    assert first["extra_info"]["worked_solution"].endswith("#### 36")
    # verl's gsm8k reward: 1 for the right final answer, 0 for a wrong one
    assert [(r["correct"], r["wrong"]) for r in out["rows"]] == [(1.0, 0.0)] * 3

    out = out_math
    assert [r["data_source"] for r in out["rows"]] == ["DigitalLearningGmbH/MATH-lighteval"] * 2
    assert [r["ground_truth"] for r in out["rows"]] == ["1024", "\\frac{3}{4}"]
    assert {r["extra_info"]["split"] for r in out["rows"]} == {"test"}
    assert [(r["correct"], r["wrong"]) for r in out["rows"]] == [(1.0, 0.0)] * 2
