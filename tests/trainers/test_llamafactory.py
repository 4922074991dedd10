"""LLaMA-Factory 0.9.5's own ``get_dataset`` on dialogkit's files and ``dataset_info.json``.

One folder, as a user would have it: SFT files written with ``--dataset-info`` (alpaca from
multi-turn dialogues with a system prompt; sharegpt and openai with a tool call), a ranking file
and a KTO file written with ``--to llamafactory``; every entry lands in the one
``dataset_info.json``, merged by dataset name. The probe parses LLaMA-Factory's own training
arguments and tokenizes each dataset with the ``phi`` template and the offline Phi-3-mini
tokenizer, and returns the decoded sequences, so the test sees what would be trained on.

LLaMA-Factory imports ``torchaudio`` at import time; torchaudio's newest release (2.11.1) is
built for torch 2.11, not the CPU ``torch==2.13.0`` pinned here, so ``.ci/frameworks.sh``
leaves it out and this test puts an empty stand-in ``torchaudio`` module first on the path
(text-only loading never calls it).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT
from tests.trainers.conftest import run_probe

EXAMPLES = ROOT / "examples"
TOOL_CHAT = {
    "messages": [
        {"role": "user", "content": "What's the weather in Paris?"},
        {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {
            "name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "{\"temp_c\": 18}"},
        {"role": "assistant", "content": "It is 18 degrees in Paris."},
    ],
    "tools": [{"type": "function", "function": {
        "name": "get_weather", "description": "Weather now", "parameters": {
            "type": "object", "properties": {"city": {"type": "string"}},
            "required": ["city"]}}}],
}


def _dialogkit(cwd: Path, *args: str) -> None:
    res = subprocess.run([sys.executable, "-m", "dialogkit", *args], capture_output=True,
                         text=True, timeout=120, cwd=cwd)
    assert res.returncode == 0, res.stderr


def test_get_dataset_reads_sft_ranking_and_kto_outputs(tmp_path: Path,
                                                        phi3_tokenizer: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (tmp_path / "tools.jsonl").write_text(json.dumps(TOOL_CHAT) + "\n", encoding="utf-8")
    _dialogkit(data, "convert", str(EXAMPLES / "trainer_dialogues.jsonl"), "dialogues.json",
               "--to", "alpaca", "--system", "You are a travel helper.", "--dataset-info")
    _dialogkit(data, "convert", "../tools.jsonl", "tools_sharegpt.json", "--to", "sharegpt",
               "--dataset-info")
    _dialogkit(data, "convert", "../tools.jsonl", "tools_openai.jsonl", "--to", "openai",
               "--dataset-info")
    _dialogkit(data, "pairs", str(EXAMPLES / "comparisons.jsonl"), "rank.json", "--from",
               "dialogkit", "--strategy", "best-vs-rest", "--to", "llamafactory")
    _dialogkit(data, "pairs", str(EXAMPLES / "comparisons.jsonl"), "../pairs.jsonl", "--from",
               "dialogkit", "--strategy", "best-vs-rest", "--to", "dialogkit")
    _dialogkit(data, "convert", "../pairs.jsonl", "kto.json", "--as", "unpaired", "--to",
               "llamafactory")
    info = json.loads((data / "dataset_info.json").read_text(encoding="utf-8"))
    assert list(info) == ["dialogues", "tools_sharegpt", "tools_openai", "rank", "kto"]
    # issue 18 item 5: the entry names the system and history columns the alpaca file has
    assert info["dialogues"]["columns"] == {"prompt": "instruction", "query": "input",
                                            "response": "output", "system": "system",
                                            "history": "history"}

    stub = tmp_path / "stub"
    stub.mkdir()
    (stub / "torchaudio.py").write_text('"""Empty stand-in: text-only loading."""\n')
    out = run_probe("llamafactory", "llamafactory_probe.py", data, phi3_tokenizer,
                    tmp_path / "runs", "dialogues:sft", "tools_sharegpt:sft",
                    "tools_openai:sft", "rank:rm", "kto:kto", env={"PYTHONPATH": str(stub)})

    sft = out["dialogues"]
    assert sft["len"] == 4
    first = sft["rows"][0]
    # system and history reach the tokenized sequence; loss on both assistant turns
    assert first["input_ids"].startswith("<|system|>You are a travel helper.<|end|>\n"
                                         "<|user|>Can you help me plan a three-day trip")
    assert "<|user|>Yes, how do I get around?<|end|>" in first["input_ids"]
    assert first["labels"].startswith("Of course. Day 1: Fushimi Inari")
    assert "Buy an ICOCA card" in first["labels"]

    tool = out["tools_sharegpt"]["rows"][0]
    assert "Tool Name: get_weather" in tool["input_ids"]  # the tools column was read
    assert tool["labels"] == ("Action: get_weather\nAction Input: {\"city\": \"Paris\"}<|end|>\n"
                              " It is 18 degrees in Paris.<|end|>\n")
    openai = out["tools_openai"]["rows"][0]
    assert "Tool Name: get_weather" in openai["input_ids"]
    # LLaMA-Factory's openai converter dumps OpenAI's string `arguments` once more: the call
    # is trained as a JSON string inside JSON. Use --to sharegpt for tool data (README table).
    assert 'Action Input: "{\\"city\\": \\"Paris\\"}"' in openai["labels"]

    rank = out["rank"]
    assert rank["len"] == 28
    assert rank["rows"][0]["chosen_labels"].startswith("Because of Rayleigh scattering")
    assert rank["rows"][0]["rejected_labels"].startswith("Sunlight is scattered")

    kto = out["kto"]
    assert kto["len"] == 56
    assert [r["kto_tags"] for r in kto["rows"][:2]] == [True, False]
    assert kto["rows"][1]["labels"].startswith("Sunlight is scattered")
