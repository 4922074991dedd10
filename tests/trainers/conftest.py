"""Fixtures for the trainer tests: a framework's Python, the offline tokenizer, probe runs."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DATA, ROOT

VENVS = Path(os.environ.get("DIALOGKIT_FRAMEWORK_VENVS", ROOT / ".ci" / "venvs"))
PROBES = Path(__file__).parent / "probes"
TOKENIZERS = DATA / "chat_templates" / "tokenizers"


def framework_python(name: str) -> Path:
    """The Python of framework ``name``'s venv (``.ci/frameworks.sh`` makes it).

    Missing in CI is a failure, not a skip: these tests must run there. Elsewhere the test is
    skipped with the command that makes the venv.
    """
    python = VENVS / name / "bin" / "python"
    if not python.exists():
        message = f"{python} is missing: run `bash .ci/frameworks.sh {name}`"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return python


@pytest.fixture
def phi3_tokenizer() -> Path:
    """The offline Phi-3-mini tokenizer folder (tokenizer.json + config with chat template)."""
    path = TOKENIZERS / "phi-3-mini"
    if not (path / "tokenizer.json").exists():
        if os.environ.get("CI"):
            pytest.fail(f"offline tokenizer missing: {path}")
        pytest.skip(f"offline tokenizer not available: {path}")
    return path


def run_probe(name: str, probe: str, *args: Any, env: dict[str, str] | None = None,
              timeout: int = 600) -> Any:
    """Run ``probes/<probe>`` with framework ``name``'s Python; its last stdout line is JSON."""
    python = framework_python(name)
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
                "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
                "PYTHONPATH": "", **(env or {})}
    proc = subprocess.run([str(python), str(PROBES / probe), *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, env=full_env)
    assert proc.returncode == 0, f"{probe} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])
