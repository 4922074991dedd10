"""TRL's GRPOTrainer, two steps on dialogkit's ``trl-prompt`` output with a reference column.

Runs in the main environment (``torch==2.13.0`` CPU and ``trl`` are in the ``dev`` extra): a
tiny random Llama with the offline Phi-3-mini tokenizer, two optimizer steps, and a reward
function that reads the ``solution`` column GRPOTrainer passes it (TRL's own
``trl.rewards.accuracy_reward(completions, solution, **kwargs)`` takes the same keyword).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import dialogkit
from tests.conftest import ROOT

# TRL 1.16 / transformers 5.24 warn about their own deprecated defaults; not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")


def _require(module: str) -> Any:
    try:
        return __import__(module)
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"{module} is not installed (pip install -e '.[dev]')")


def test_convert_examples_to_trl_prompt_writes_the_reference_column(tmp_path: Path) -> None:
    out = tmp_path / "grpo.jsonl"
    res = subprocess.run([sys.executable, "-m", "dialogkit", "convert",
                          str(ROOT / "examples" / "grpo_prompts.jsonl"), str(out),
                          "--to", "trl-prompt", "--option", "reference_as=solution"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    rows = [dialogkit.io.orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert rows[0] == {"prompt": [{"role": "user", "content":
                                   "What is 6 times 7? Answer with the number only."}],
                       "solution": "42", "task": "math"}
    assert [r["solution"] for r in rows] == ["42", "Paris"]


def test_grpo_two_steps_with_a_reward_reading_the_reference(tmp_path: Path,
                                                            phi3_tokenizer: Path) -> None:
    _require("torch")
    _require("trl")
    import datasets
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM
    from trl import GRPOConfig, GRPOTrainer

    out = tmp_path / "grpo.jsonl"
    report = dialogkit.convert(ROOT / "examples" / "gsm8k.jsonl", out, to="trl-prompt")
    assert (report.read, report.written, report.rejected) == (3, 3, 0)
    train = datasets.load_dataset("json", data_files=str(out), split="train")
    assert train.column_names == ["prompt", "solution", "task", "worked_solution"]

    tokenizer = AutoTokenizer.from_pretrained(str(phi3_tokenizer))
    tokenizer.pad_token = tokenizer.unk_token
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id))

    seen: list[tuple[str, ...]] = []

    def exact_answer(completions: list[Any], solution: list[str], task: list[str],
                     **kwargs: Any) -> list[float]:
        seen.append(tuple(solution))
        assert set(task) == {"math"}
        texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
        return [1.0 if f"#### {s}" in t else 0.0 for t, s in zip(texts, solution, strict=True)]

    args = GRPOConfig(
        output_dir=str(tmp_path / "run"), max_steps=2, per_device_train_batch_size=2,
        num_generations=2, max_completion_length=8, learning_rate=1e-3, logging_steps=1,
        report_to=[], save_strategy="no", use_cpu=True, bf16=False, seed=0,
        dataloader_num_workers=0,
    )
    trainer = GRPOTrainer(model=model, reward_funcs=exact_answer, args=args,
                          train_dataset=train, processing_class=tokenizer)
    trainer.train()
    assert trainer.state.global_step == 2
    # every batch carried the references of the converted GSM8K rows, and nothing else
    assert seen and {s for batch in seen for s in batch} <= {"36", "38", "1000"}
