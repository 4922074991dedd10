"""The ``dialogkit`` command: a thin typer layer over the library (no format logic here).

Exit codes: 0 ok, 1 bad data, 2 bad usage. Data on stdout, diagnostics on stderr. Heavy imports
happen inside the commands so ``dialogkit --help`` stays fast.
"""

from __future__ import annotations

import importlib
import sys

import typer

app = typer.Typer(
    name="dialogkit",
    help="Turn messy LLM post-training data into clean, validated, chat-format datasets.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

# command modules that add themselves with register(app); each imports only typer at module level
_COMMANDS: list[str] = [
    "dialogkit.cli.convert",
    "dialogkit.cli.pipeline",
    "dialogkit.cli.hub",
    "dialogkit.cli.render",
]


def _load_commands() -> None:
    for mod in _COMMANDS:
        importlib.import_module(mod).register(app)


_load_commands()

from dialogkit.cli.convert import unescape  # noqa: E402  (re-exported: `dialogkit.cli.unescape`)

__all__ = ["app", "main", "unescape"]


def main() -> None:
    """Entry point of the ``dialogkit`` script."""
    from dialogkit.cli.common import install_signal_handlers

    install_signal_handlers()
    try:
        app()
    except BrokenPipeError:  # e.g. `dialogkit convert ... | head`
        sys.stderr.close()
        sys.exit(0)
