"""TRL's SFT, DPO and Reward trainers train two steps on ``load_dataset(DIR)`` of a folder
``dialogkit publish`` wrote, as it is: no column renamed, no nulls stripped, no JSON parsed.

A tiny randomly initialised Llama (16-wide, one layer) with the offline Phi-3 tokenizer from
../shared/data/chat_templates/tokenizers/ keeps each run to seconds on the CPU. trl and
``torch==2.13.0`` are in the dev extra that .ci/run installs, so in CI this runs.
"""

from __future__ import annotations

import copy
import math
import os
from pathlib import Path
from typing import Any

import pytest

from dialogkit import api
from tests.conftest import shared_file

if not os.environ.get("CI"):  # on a developer machine without trl these skip; CI has it
    pytest.importorskip("trl")
    pytest.importorskip("torch")
datasets = pytest.importorskip("datasets")
hub = pytest.importorskip("dialogkit.hub")

# transformers and TRL warn about their own defaults (deprecations, CPU); not ours to fix
pytestmark = [pytest.mark.filterwarnings("ignore::FutureWarning"),
              pytest.mark.filterwarnings("ignore::UserWarning")]


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(
        str(shared_file("chat_templates", "tokenizers", "phi-3-mini")))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def _config(tok: Any, **kw: Any) -> Any:
    from transformers import LlamaConfig

    return LlamaConfig(vocab_size=len(tok), hidden_size=16, intermediate_size=32,
                       num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
                       max_position_embeddings=512, pad_token_id=tok.pad_token_id,
                       eos_token_id=tok.eos_token_id, bos_token_id=tok.bos_token_id, **kw)


def _published(tmp: Path, sample: tuple[str, ...], fmt_in: str, fmt_out: str, n: int) -> Any:
    """``convert`` the first ``n`` good rows of a real sample, ``publish`` them, load the folder."""
    converted = tmp / "converted.jsonl"
    api.convert(str(shared_file(*sample)), str(converted), from_=fmt_in, to=fmt_out, jobs=1,
                on_error="skip")
    lines = converted.read_text(encoding="utf-8").splitlines()[:n]
    converted.write_text("\n".join(lines) + "\n", encoding="utf-8")
    folder = tmp / "hub"
    hub.export_folder([str(converted)], folder, format=fmt_out, to=fmt_out)
    return datasets.load_dataset(str(folder), split="train")


def _args(cls: Any, tmp: Path, **kw: Any) -> Any:
    return cls(output_dir=str(tmp / "out"), max_steps=2, per_device_train_batch_size=2,
               learning_rate=1e-3, logging_steps=1, save_strategy="no", report_to=[],
               use_cpu=True, seed=0, dataloader_num_workers=0, **kw)


def _trained(trainer: Any) -> None:
    trainer.train()
    assert trainer.state.global_step == 2
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses) == 2 and all(math.isfinite(x) for x in losses)


@pytest.mark.slow
def test_sft_trainer_on_published_messages(tmp_path: Path, tokenizer: Any) -> None:
    from transformers import LlamaForCausalLM
    from trl import SFTConfig, SFTTrainer

    ds = _published(tmp_path, ("dolly_en", "databricks-dolly-15k_first12.jsonl"), "dolly",
                    "trl", 8)
    assert ds.column_names == ["messages", "category"]  # dolly's category, kept as convert does
    model = LlamaForCausalLM(_config(tokenizer))
    trainer = SFTTrainer(model=model, args=_args(SFTConfig, tmp_path, max_length=128),
                         train_dataset=ds, processing_class=tokenizer)
    _trained(trainer)


@pytest.mark.slow
def test_dpo_trainer_on_published_pairs(tmp_path: Path, tokenizer: Any) -> None:
    from transformers import LlamaForCausalLM
    from trl import DPOConfig, DPOTrainer

    ds = _published(tmp_path, ("hh_rlhf", "harmless-base_test_sample300.jsonl.gz"), "hh-rlhf",
                    "trl-preference", 8)
    assert ds.column_names == ["prompt", "chosen", "rejected"]
    model = LlamaForCausalLM(_config(tokenizer))
    ref = copy.deepcopy(model)  # a model built in memory has no path TRL could load one from
    trainer = DPOTrainer(model=model, ref_model=ref,
                         args=_args(DPOConfig, tmp_path, max_length=128),
                         train_dataset=ds, processing_class=tokenizer)
    _trained(trainer)


@pytest.mark.slow
def test_reward_trainer_on_published_pairs(tmp_path: Path, tokenizer: Any) -> None:
    from transformers import LlamaForSequenceClassification
    from trl import RewardConfig, RewardTrainer

    ds = _published(tmp_path, ("hh_rlhf", "harmless-base_test_sample300.jsonl.gz"), "hh-rlhf",
                    "trl-preference", 8)
    model = LlamaForSequenceClassification(_config(tokenizer, num_labels=1))
    trainer = RewardTrainer(model=model, args=_args(RewardConfig, tmp_path, max_length=128),
                            train_dataset=ds, processing_class=tokenizer)
    _trained(trainer)
