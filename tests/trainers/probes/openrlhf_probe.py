"""Run in OpenRLHF's venv: its own loader and dataset classes on dialogkit's ``openrlhf`` files.

Usage: openrlhf_probe.py TOKENIZER_DIR PROMPTS.jsonl PAIRS.jsonl. ``blending_datasets`` loads
each file as ``train_ppo_ray``/``train_rm`` do; ``PromptDataset`` gets ``--data.input_key input
--data.label_key label --data.apply_chat_template``, ``RewardDataset`` ``--data.prompt_key
prompt --data.apply_chat_template`` (chosen/rejected keys at their defaults). Prints one JSON
line with what each dataset holds and what OpenRLHF's own collate functions return.
"""

from __future__ import annotations

import json
import sys
from types import SimpleNamespace

from openrlhf.datasets import PromptDataset, RewardDataset
from openrlhf.datasets.utils import blending_datasets
from transformers import AutoTokenizer


def strategy(**data: object) -> SimpleNamespace:
    """The attributes of OpenRLHF's strategy object its datasets read."""
    args = SimpleNamespace(data=SimpleNamespace(**data), use_ms=False)
    return SimpleNamespace(args=args, is_rank_0=lambda: True, print=lambda *a, **k: None)


def main() -> None:
    tokenizer = AutoTokenizer.from_pretrained(sys.argv[1])
    tokenizer.pad_token = tokenizer.unk_token
    prompts_path, pairs_path = sys.argv[2], sys.argv[3]

    s = strategy(input_key="input", label_key="label", apply_chat_template=True)
    prompts = PromptDataset(blending_datasets(prompts_path, strategy=s), tokenizer, s)
    batch = prompts.collate_fn([prompts[i] for i in range(len(prompts))])

    s = strategy(prompt_key="prompt", chosen_key="chosen", rejected_key="rejected",
                 apply_chat_template=True)
    pairs = RewardDataset(blending_datasets(pairs_path, strategy=s), tokenizer, 512, s,
                          num_processors=1)
    ids, masks, rej_ids, rej_masks, extras = pairs.collate_fn([pairs[i] for i in
                                                              range(len(pairs))])
    print(json.dumps({
        "prompts": list(prompts.prompts), "labels": list(prompts.labels),
        "batch_labels": list(batch[2]),
        "pair_prompts": list(pairs.prompts), "chosen": list(pairs.chosens),
        "rejected": list(pairs.rejects), "margins": list(pairs.extras),
        "batch_shape": list(ids.shape), "eos_token": tokenizer.eos_token,
    }, ensure_ascii=False))


if __name__ == "__main__":
    main()
