"""The public API: __all__ sorted and complete, and importing dialogkit stays light."""

from __future__ import annotations

import subprocess
import sys

import dialogkit
from tests.conftest import ROOT


def test_all_is_sorted_and_complete() -> None:
    names = dialogkit.__all__
    assert names == sorted(names)
    assert len(set(names)) == len(names)
    for name in names:
        assert hasattr(dialogkit, name), name
    public = {n for n in vars(dialogkit) if not n.startswith("_")} - {
        "annotations", "api", "errors", "models", "registry", "io", "detect", "formats", "ops",
        "cli", "cli_common", "schemas", "stats",
    }
    assert public - set(names) == set()


def test_import_does_not_import_datasets_or_pyarrow() -> None:
    code = "import sys, dialogkit; print('datasets' in sys.modules, 'pyarrow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, cwd=ROOT)
    assert out.stdout.decode().strip() == "False False"
