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
        "cli_common", "Any", "TYPE_CHECKING", "importlib", "pipeline", "layout",
    }
    assert public - set(names) == set()


HEAVY = ("rich", "pyarrow", "datasets", "jinja2", "yaml", "pydantic")


def _loaded_after(code: str) -> list[str]:
    """The HEAVY modules a fresh interpreter has loaded after running ``code``."""
    probe = f"{code}\nimport sys; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, check=True, cwd=ROOT)
    return out.stdout.decode().split()


def test_import_does_not_import_heavy_dependencies() -> None:
    # every public name loads on first use, so importing the package loads none of these
    assert _loaded_after("import dialogkit") == []


def test_help_imports_no_heavy_dependency() -> None:
    code = (
        "import contextlib, io, dialogkit.cli\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    dialogkit.cli.app(['--help'])"
    )
    assert _loaded_after(code) == []


def test_formats_builds_no_record_validator() -> None:
    # `dialogkit formats` loads every format module, yet no model builds its validator: they
    # are deferred to first use, which is what keeps start-up short
    code = (
        "import contextlib, io, dialogkit.cli\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    dialogkit.cli.app(['formats'])\n"
        "import pydantic, dialogkit.models as m, dialogkit.registry as r\n"
        "assert len(r.all_formats()) >= 10\n"
        "built = [n for n, c in vars(m).items() if isinstance(c, type)\n"
        "         and issubclass(c, pydantic.BaseModel) and c.__pydantic_complete__]\n"
        "print('built:', built, type(m.RecordAdapter.validator).__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, cwd=ROOT)
    assert out.stdout.decode().splitlines()[-1] == "built: [] MockValSer"


def test_validators_build_on_first_use() -> None:
    from dialogkit.models import InstructionDemo

    demo = InstructionDemo.model_validate({"prompt": "p", "response": "r"})
    assert InstructionDemo.__pydantic_complete__
    assert demo.response == "r"


def test_lazy_functions_load_on_first_use() -> None:
    from dialogkit.hf import to_dataset
    from dialogkit.rendering import render

    assert dialogkit.render is render
    assert dialogkit.to_dataset is to_dataset
