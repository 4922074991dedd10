"""Run in verl's venv: verl's own RLHFDataset and default reward function on a Parquet file.

Usage: verl_probe.py TOKENIZER_DIR CACHE_DIR DATA.parquet... Prints one JSON line: per file, the
dataset length, each row as RLHFDataset returns it (the fields training reads), and the default
reward of the correct and of a wrong answer string for each row.
"""

from __future__ import annotations

import json
import sys

from omegaconf import OmegaConf
from transformers import AutoTokenizer
from verl.utils.dataset.rl_dataset import RLHFDataset
from verl.utils.reward_score import default_compute_score


def probe(data: str, tokenizer: object, cache: str) -> dict[str, object]:
    config = OmegaConf.create({"prompt_key": "prompt", "max_prompt_length": 512,
                               "filter_overlong_prompts": True,
                               "filter_overlong_prompts_workers": 1, "truncation": "error",
                               "cache_dir": cache})
    ds = RLHFDataset(data_files=[data], tokenizer=tokenizer, config=config)
    rows = []
    for i in range(len(ds)):
        item = ds[i]
        truth = item["reward_model"]["ground_truth"]
        source = item["data_source"]
        # what a policy's completion ends with: GSM8K's "#### N" line, MATH's \boxed{}
        def answer(text: str, source: str = source) -> str:
            return f"#### {text}" if source == "openai/gsm8k" else f"$\\boxed{{{text}}}$"

        rows.append({
            "data_source": source,
            "raw_prompt": item["raw_prompt"],
            "ability": item["ability"],
            "ground_truth": truth,
            "index": int(item["index"]),
            "extra_info": item["extra_info"],
            # the exact call verl's NaiveRewardManager makes per response
            "correct": default_compute_score(data_source=source,
                                             solution_str=f"The answer is {answer(truth)}",
                                             ground_truth=truth, extra_info=item["extra_info"]),
            "wrong": default_compute_score(data_source=source,
                                           solution_str=f"The answer is {answer('-1')}",
                                           ground_truth=truth, extra_info=item["extra_info"]),
        })
    return {"len": len(ds), "rows": rows}


def main() -> None:
    tokenizer = AutoTokenizer.from_pretrained(sys.argv[1])
    files = [probe(data, tokenizer, sys.argv[2]) for data in sys.argv[3:]]
    print(json.dumps({"files": files}, ensure_ascii=False))


if __name__ == "__main__":
    main()
