"""Docs that run: every `$ dialogkit ...` line of the README, the README's two commands and
.ci/run agree, and every example file is exercised."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def console_lines() -> list[str]:
    lines = []
    for block in re.findall(r"```console\n(.*?)```", README, flags=re.S):
        lines += [line[2:] for line in block.splitlines() if line.startswith("$ dialogkit ")]
    return lines


def test_readme_opens_with_the_two_commands_and_ci_runs_the_second() -> None:
    first_block = re.search(r"```bash\n(.*?)```", README, flags=re.S)
    assert first_block is not None and README.index("```bash") < README.index("## ")
    install_run, install_test = first_block.group(1).strip().splitlines()
    assert install_run.endswith("dialogkit build examples/recipe.yaml")
    assert install_test.endswith("python -m pytest")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert install_test in ci.splitlines()


def test_readme_console_lines_run(tmp_path: Path) -> None:
    """Run each README command, in order, in a scratch copy of examples/ (Hub uploads skipped:
    only their --dry-run form, which needs no network, is run)."""
    shutil.copytree(ROOT / "examples", tmp_path / "examples",
                    ignore=shutil.ignore_patterns("out"))
    (tmp_path / "out").mkdir()
    lines = console_lines()
    assert len(lines) >= 15
    for line in lines:
        argv = shlex.split(line)
        res = subprocess.run([sys.executable, "-m", "dialogkit", *argv[1:]], cwd=tmp_path,
                             capture_output=True, timeout=300,
                             env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1",
                                  "HOME": str(tmp_path)})
        assert res.returncode == 0, (line, res.stderr.decode())


def test_example_recipe_builds(tmp_path: Path) -> None:
    res = subprocess.run([sys.executable, "-m", "dialogkit", "build",
                          str(ROOT / "examples" / "recipe.yaml"), "--out", str(tmp_path)],
                         capture_output=True, timeout=300)
    assert res.returncode == 0, res.stderr.decode()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prompts", "report.json", "reward",
                                                         "sft"]


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "examples").iterdir()
                                        if p.is_file()))
def test_every_example_file_is_used_by_the_readme_or_the_recipe(name: str) -> None:
    recipe = (ROOT / "examples" / "recipe.yaml").read_text(encoding="utf-8")
    assert f"examples/{name}" in README or name in recipe
