"""torchtune 0.6.1's own ``chat_dataset`` and ``preference_dataset`` builders on dialogkit output.

torchtune 0.6.1 imports beside CPU ``torch==2.13.0`` with ``torchao==0.11.0`` (newer torchao
breaks its import); ``.ci/frameworks.sh torchtune`` makes the venv. The probe's tokenizer is a
minimal ``ModelTokenizer`` over torchtune's ``HuggingFaceBaseTokenizer`` (the offline Phi-3-mini
``tokenizer.json``), so what is checked is torchtune's loading and message conversion: which
turns it builds and which carry loss.
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


def test_torchtune_builders_read_openai_chat_and_implicit_prompt_pairs(
        tmp_path: Path, phi3_tokenizer: Path) -> None:
    chat, pairs, implicit = (tmp_path / n for n in ("chat.jsonl", "p.jsonl", "pairs.jsonl"))
    _dialogkit("convert", str(EXAMPLES / "trainer_dialogues.jsonl"), str(chat), "--to", "openai")
    _dialogkit("pairs", str(EXAMPLES / "comparisons.jsonl"), str(pairs), "--from", "dialogkit",
               "--strategy", "best-vs-rest", "--to", "dialogkit")
    # torchtune's preference_dataset reads chosen/rejected as whole conversations (issue 18.4)
    _dialogkit("convert", str(pairs), str(implicit), "--to", "trl-preference", "--option",
               "trl_prompt=implicit")
    out = run_probe("torchtune", "torchtune_probe.py", phi3_tokenizer / "tokenizer.json", chat,
                    implicit)
    assert len(out["chat"]) == 4
    first = out["chat"][0]
    assert [(m["role"], m["masked"]) for m in first] == [
        ("user", True), ("assistant", False), ("user", True), ("assistant", False)]
    assert first[3]["text"].startswith("Buy an ICOCA card")
    assert out["chat"][1][0] == {"role": "system", "text": "You are a concise, friendly "
                                 "assistant.", "masked": True}
    assert len(out["pairs"]) == 28
    pair = out["pairs"][0]
    assert [m["role"] for m in pair["chosen"]] == ["user", "assistant"]
    assert pair["chosen"][0]["text"] == pair["rejected"][0]["text"] == "Why is the sky blue?"
    assert pair["chosen"][1]["text"].startswith("Because of Rayleigh scattering")
    assert pair["rejected"][1]["text"].startswith("Sunlight is scattered")
