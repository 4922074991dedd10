"""OpenRLHF 0.11.2's own loader and dataset classes on dialogkit's ``openrlhf`` output.

OpenRLHF's package pins ``flash-attn==2.8.3`` and ``deepspeed``, which do not build without
CUDA, so ``.ci/frameworks.sh openrlhf`` installs it with ``--no-deps`` beside ``torch==2.13.0``,
``transformers==5.15.0`` (its pin) and what ``openrlhf.datasets`` imports. Its trainers need GPUs
and Ray; what runs here is what they run to read data: ``blending_datasets`` loading the file,
then ``PromptDataset`` (``--data.input_key input --data.label_key label
--data.apply_chat_template``) and ``RewardDataset`` (``--data.prompt_key prompt``) with their
collate functions.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT
from tests.trainers.conftest import run_probe

EXAMPLES = ROOT / "examples"


def _dialogkit(*args: str) -> None:
    res = subprocess.run([sys.executable, "-m", "dialogkit", *args], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr


def test_openrlhf_prompt_and_reward_datasets_read_dialogkit_output(tmp_path: Path,
                                                                   phi3_tokenizer: Path) -> None:
    prompts, pairs = tmp_path / "prompts.jsonl", tmp_path / "pairs.jsonl"
    _dialogkit("convert", str(EXAMPLES / "gsm8k.jsonl"), str(prompts), "--to", "openrlhf")
    _dialogkit("pairs", str(EXAMPLES / "comparisons.jsonl"), str(pairs), "--from", "dialogkit",
               "--strategy", "all", "--to", "openrlhf", "--margin", "rank")
    out = run_probe("openrlhf", "openrlhf_probe.py", phi3_tokenizer, prompts, pairs)

    assert out["prompts"][0] == (
        "<|user|>\nA baker makes 24 rolls in the morning and half as many in the afternoon. "
        "How many rolls does she make in total?<|end|>\n<|assistant|>\n")
    assert out["labels"] == out["batch_labels"] == ["36", "38", "1000"]

    assert len(out["pair_prompts"]) == 56 and out["batch_shape"][0] == 56
    assert out["pair_prompts"][0] == "<|user|>\nWhy is the sky blue?<|end|>\n<|assistant|>\n"
    # chosen/rejected are the rendered answer after the rendered prompt, nothing of the prompt
    assert out["chosen"][0].startswith("Because of Rayleigh scattering")
    assert out["rejected"][0].startswith("Sunlight is scattered by the air")
    assert all("<|user|>" not in c for c in out["chosen"] + out["rejected"])
    # --margin rank: the rank gap of each pair reaches OpenRLHF's margin loss
    assert out["margins"][:3] == [1.0, 2.0, 3.0]
