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
        assert getattr(dialogkit, name) is not None, name
    # a fresh interpreter, so submodules other tests imported do not show up as attributes
    code = "import dialogkit; print(' '.join(n for n in vars(dialogkit) if n[0] != '_'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, cwd=ROOT)
    public = set(out.stdout.decode().split()) - {
        "annotations", "api", "errors", "models", "registry", "io", "detect", "formats", "ops",
        "cli_common", "Any", "importlib", "pipeline", "layout",
    }
    assert public - set(names) == set()


def test_import_does_not_import_datasets_pyarrow_or_jinja() -> None:
    code = (
        "import sys, dialogkit; "
        "print([m in sys.modules for m in ('datasets', 'pyarrow', 'jinja2')])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, cwd=ROOT)
    assert out.stdout.decode().strip() == "[False, False, False]"


def test_lazy_functions_load_on_first_use() -> None:
    from dialogkit.hf import to_dataset
    from dialogkit.rendering import render

    assert dialogkit.render is render
    assert dialogkit.to_dataset is to_dataset
