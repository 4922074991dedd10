"""Errors raised by dialogkit, kept in two families: your data is wrong, or you called us wrong.

::

    DialogkitError
    ├── RecordError            a record is bad: .reason, .loc (JSON path), .source, .line, .format
    │   └── ParseError         the container could not be parsed (invalid JSON, bad gzip)
    ├── DetectionError         `auto` found no format, or several, for the first rows
    ├── UsageError             the call itself is wrong (bad option, missing file)
    │   └── UnknownFormatError a format name that is not registered
    ├── TemplateError          a chat template failed to load, or ran away
    ├── OutputError            an output could not be written (disk full, read-only, ...)
    └── MissingDependencyError an optional package is not installed (message has the pip line)

The CLI maps RecordError, DetectionError, TemplateError and OutputError to exit code 1 and
UsageError to 2.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = [
    "DetectionError",
    "DialogkitError",
    "HubError",
    "MissingDependencyError",
    "OutputError",
    "ParseError",
    "RecordError",
    "TemplateError",
    "UnknownFormatError",
    "UsageError",
    "format_loc",
]


class DialogkitError(Exception):
    """Base of every error dialogkit raises on purpose."""


def format_loc(loc: Iterable[Any]) -> str:
    """A JSON path for a location tuple: ``("messages", 3, "role")`` -> ``$.messages[3].role``."""
    out = "$"
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}"
    return out


class RecordError(DialogkitError):
    """One record is invalid. ``reason`` says what was expected, ``loc`` where (a JSON path).

    The message reads ``<reason> - at <loc> (<file>:<line>, format=<fmt>)``; the parts that are
    unknown are left out. ``rule`` is a short stable name for grouping rejects in reports;
    ``raw`` holds the undecodable bytes of a row that never became a value.
    """

    raw: bytes | None = None

    def __init__(
        self,
        reason: str,
        *,
        loc: str | None = None,
        source: str | None = None,
        line: int | None = None,
        format: str | None = None,
        rule: str | None = None,
    ) -> None:
        self.reason = reason
        self.loc = loc
        self.source = source
        self.line = line
        self.format = format
        self.rule = rule or reason
        super().__init__(reason)

    def at(
        self, *, source: str | None = None, line: int | None = None, format: str | None = None
    ) -> RecordError:
        """Fill in where the record came from (kept if already set); returns self for chaining."""
        if self.source is None:
            self.source = source
        if self.line is None:
            self.line = line
        if self.format is None:
            self.format = format
        return self

    def __str__(self) -> str:
        msg = self.reason
        if self.loc:
            msg += f" - at {self.loc}"
        where = []
        if self.source is not None:
            where.append(f"{self.source}:{self.line}" if self.line is not None else self.source)
        if self.format:
            where.append(f"format={self.format}")
        if where:
            msg += f" ({', '.join(where)})"
        return msg


class ParseError(RecordError):
    """The container (JSON, JSONL, gzip, Parquet) could not be read at this place."""


class DetectionError(DialogkitError):
    """Format auto-detection failed: no candidate matched, or several did."""

    def __init__(self, message: str, *, keys: Sequence[str] = (), candidates: Sequence[str] = ()):
        self.keys = list(keys)
        self.candidates = list(candidates)
        super().__init__(message)


class UsageError(DialogkitError):
    """The call is wrong (not the data): an unknown option value, a missing file, and so on."""


class UnknownFormatError(UsageError):
    """A format name that is not registered; the message lists the known ones and the closest."""

    def __init__(self, name: str, known: Sequence[str]) -> None:
        self.name = name
        self.known = sorted(known)
        close = difflib.get_close_matches(name, self.known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        super().__init__(f"Unknown format {name!r}.{hint} Known formats: {', '.join(self.known)}")


class TemplateError(DialogkitError):
    """A chat template could not be loaded or rendered safely."""


class MissingDependencyError(DialogkitError, ImportError):
    """An optional dependency is missing; the message has the exact ``pip install`` line."""

    def __init__(self, package: str, purpose: str, extra: str | None = None) -> None:
        target = f"dialogkit[{extra}]" if extra else package
        super().__init__(f"{purpose} needs {package!r}: pip install '{target}'")


class HubError(DialogkitError):
    """A Hub or ``datasets`` operation failed (unreachable, refused, not found); exit code 1."""


class OutputError(DialogkitError):
    """An output (or stdin/stdout) could not be used: no space left, a read-only folder, a path
    that is a folder or lies under a file. The message names the path and the cause; exit 1."""
