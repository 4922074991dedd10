"""What every CLI command shares: error-to-exit-code mapping, stderr console, progress bars.

Exit codes: 0 ok, 1 bad data (RecordError, DetectionError, TemplateError, ...), 2 bad usage.
Data goes to stdout only; everything else goes to stderr. Only typer, rich and the stdlib are
imported here, so ``dialogkit --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import shutil
import signal
import sys
from collections.abc import Callable, Iterator
from enum import Enum
from typing import Annotated, Any, TypeVar

import typer

__all__ = ["InPlaceOpt", "OnError", "Terminated", "err", "guarded",
           "install_signal_handlers", "progress_counter"]

InPlaceOpt = Annotated[
    bool,
    typer.Option(
        "--in-place",
        help="Allow OUTPUT to be the input file: written beside it, renamed over it on success.",
    ),
]

F = TypeVar("F", bound=Callable[..., Any])


class OnError(str, Enum):
    """What to do with a bad record: stop the run (raise) or reject it and go on (skip)."""

    raise_ = "raise"
    skip = "skip"


def err(message: str) -> None:
    """Print a diagnostic line to stderr (never stdout, which carries data); nothing when
    stderr is closed (``2>&-``)."""
    if sys.stderr is None:
        return
    sys.stderr.write(message.rstrip("\n") + "\n")
    sys.stderr.flush()


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so every cleanup that handles an interrupt handles it."""

    signum = signal.SIGTERM


def _on_sigterm(signum: int, frame: Any) -> None:
    raise Terminated()


def install_signal_handlers() -> None:
    """SIGTERM raises :class:`Terminated` (SIGINT already raises KeyboardInterrupt), so an
    interrupted run unwinds: temp files are removed and the exit code is 128 + the signal."""
    signal.signal(signal.SIGTERM, _on_sigterm)


def _remove_live_temps() -> None:
    """Remove what the unwinding missed (a signal between making a temp file and its guard)."""
    from dialogkit.io import live_temps

    for path in list(live_temps()):
        with contextlib.suppress(OSError):
            if os.path.isdir(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
        live_temps().discard(path)


def guarded(fn: F) -> F:
    """Run a command body; dialogkit errors become one clean stderr line and an exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from dialogkit.errors import DialogkitError, UsageError

        try:
            return fn(*args, **kwargs)
        except UsageError as exc:
            err(f"Error: {exc}")
            raise typer.Exit(2) from None
        except DialogkitError as exc:
            err(f"Error: {exc}")
            if type(exc).__name__ == "OutputError":
                _quiet_stdout()  # a full or closed stdout: nothing more to flush at exit
            raise typer.Exit(1) from None
        except BrokenPipeError:
            _quiet_stdout()
            raise typer.Exit(0) from None
        except OSError as exc:  # a file-system fault outside dialogkit's own checks
            if exc.errno == errno.EPIPE:
                _quiet_stdout()
                raise typer.Exit(0) from None
            where = f"{exc.filename}: " if exc.filename else ""
            err(f"Error: {where}{exc.strerror or exc}")
            raise typer.Exit(1) from None
        except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM through Terminated
            signum = getattr(exc, "signum", signal.SIGINT)
            _remove_live_temps()
            err(f"Interrupted by {signal.Signals(signum).name}: temporary files removed, "
                "no partial output left.")
            raise typer.Exit(128 + signum) from None

    return wrapper  # type: ignore[return-value]


def _quiet_stdout() -> None:
    """After a closed pipe downstream (``| head``): point stdout at /dev/null so the flush at
    exit does not complain, as Unix tools exit quietly."""
    with contextlib.suppress(Exception):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


@contextlib.contextmanager
def progress_counter(description: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
    """A callback ``update(n_done)`` that drives a rich progress bar on stderr when it is a TTY.

    When stderr is not a terminal (pipes, CI, tests) the callback does nothing, so output stays
    clean and deterministic.
    """
    if not sys.stderr.isatty():
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}")]
    if total is not None:
        columns += [BarColumn(), MofNCompleteColumn()]
    else:
        columns += [TextColumn("{task.completed:,} records")]
    columns.append(TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)
        last = 0

        def update(n: int) -> None:
            nonlocal last
            if n - last >= 1000 or n < 1000:
                bar.update(task, completed=n)
                last = n

        yield update
