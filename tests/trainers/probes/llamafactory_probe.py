"""Run in LLaMA-Factory's venv: its own ``get_dataset`` on a folder with ``dataset_info.json``.

Usage: llamafactory_probe.py DATASET_DIR TOKENIZER_DIR OUTPUT_DIR NAME:STAGE... For each dataset
the arguments go through LLaMA-Factory's own ``get_train_args`` (as ``llamafactory-cli train``
parses a YAML file), the ``phi`` template, then ``get_dataset``; prints one JSON line with, per
dataset, the number of training rows, their column names, and the first rows' token ids decoded
(the whole sequence and the part that carries loss), so a test sees what LLaMA-Factory would
train on.

LLaMA-Factory 0.9.5 imports ``torchaudio`` at import time and no torchaudio release matches
torch 2.13 on CPU; the test puts an empty stand-in module first on ``PYTHONPATH`` (text-only
loading never calls it).
"""

from __future__ import annotations

import json
import sys

from llamafactory.data import get_dataset, get_template_and_fix_tokenizer
from llamafactory.hparams import get_train_args
from transformers import AutoTokenizer


def probe(dataset_dir: str, name: str, stage: str, tokenizer_dir: str,
          output_dir: str) -> dict[str, object]:
    model_args, data_args, training_args, _, _ = get_train_args({
        "stage": stage, "do_train": True, "model_name_or_path": tokenizer_dir,
        "dataset": name, "dataset_dir": dataset_dir, "template": "phi", "cutoff_len": 1024,
        "output_dir": output_dir, "overwrite_cache": True, "report_to": "none",
        "preprocessing_num_workers": 1, "finetuning_type": "full", "use_cpu": True,
    })
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    template = get_template_and_fix_tokenizer(tokenizer, data_args)
    module = get_dataset(template, model_args, data_args, training_args, stage, tokenizer)
    train = module["train_dataset"]
    rows = []
    for row in train.select(range(min(3, len(train)))):
        out = {}
        for key in ("input_ids", "chosen_input_ids", "rejected_input_ids"):
            if key in row:
                out[key] = tokenizer.decode(row[key])
        for key in ("labels", "chosen_labels", "rejected_labels"):
            if key in row:
                out[key] = tokenizer.decode([t for t in row[key] if t != -100])
        if "kto_tags" in row:
            out["kto_tags"] = row["kto_tags"]
        rows.append(out)
    return {"len": len(train), "columns": train.column_names, "rows": rows}


def main() -> None:
    dataset_dir, tokenizer_dir, output_dir = sys.argv[1:4]
    out = {}
    for item in sys.argv[4:]:
        name, stage = item.split(":")
        out[name] = probe(dataset_dir, name, stage, tokenizer_dir, f"{output_dir}/{name}")
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
