"""Parallel ``convert`` of large JSONL files: byte ranges cut at line ends, one worker each.

Per-record work in Python is CPU-bound, so a second core nearly doubles throughput
(perf-anchors.md: 2 forked workers reach 1.9x). Each worker converts its range into part files
(output, rejects) and returns its counts; the parent joins the parts in input order, so the
bytes out are the same as a single-process run, and the report is the sum of the parts. With
``on_error="raise"`` the error reported is the first one in input order, as in a serial run.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dialogkit.errors import RecordError
from dialogkit.io import (
    MAX_LINE_BYTES,
    TEMP_MARK,
    Row,
    atomic_output,
    live_temps,
    make_sink,
    remove_stale,
    screen_rows,
    temp_prefix,
)
from dialogkit.registry import Format, Options, WriteContext

__all__ = ["MIN_PARALLEL_BYTES", "can_split", "convert_parallel", "line_ranges", "per_row"]

MIN_PARALLEL_BYTES = 16 << 20  # below this, forking costs more than it saves


def line_ranges(path: str, parts: int) -> list[tuple[int, int, int]]:
    """(start, end, first line number) of ``parts`` byte ranges that each begin at a line start."""
    size = os.path.getsize(path)
    bounds = [0]
    with open(path, "rb") as f:
        for i in range(1, parts):
            f.seek(max(bounds[-1], size * i // parts))
            f.readline()
            pos = f.tell()
            if pos >= size:
                break
            if pos > bounds[-1]:
                bounds.append(pos)
        bounds.append(size)
        out = []
        line = 1
        for start, end in zip(bounds, bounds[1:], strict=False):
            out.append((start, end, line))
            f.seek(start)
            remaining = end - start
            while remaining > 0:
                chunk = f.read(min(remaining, 1 << 22))
                if not chunk:
                    break
                line += chunk.count(b"\n")
                remaining -= len(chunk)
    return out


def _range_rows(
    path: str, start: int, end: int, first_line: int, max_line_bytes: int = MAX_LINE_BYTES
) -> Iterator[Row | RecordError]:
    """The JSONL rows of one byte range (a BOM is only skipped at offset 0); a line longer
    than ``max_line_bytes`` is refused before it is read whole, as in a serial run."""
    import orjson

    from dialogkit.io import _bounded_lines, _parse_error, _too_large

    lineno = first_line - 1
    limit = max_line_bytes
    with open(path, "rb") as f:
        f.seek(start)
        pos = start
        for raw in _bounded_lines(f, limit):
            if pos >= end:
                break
            lineno += 1
            if len(raw) > limit and not raw.endswith(b"\n"):
                pos += len(raw)
                while raw and not raw.endswith(b"\n"):  # on to the line's end
                    raw = f.readline(limit)
                    pos += len(raw)
                yield _too_large(path, lineno, limit)
                continue
            pos += len(raw)
            if pos == len(raw) and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if not raw.strip():
                continue
            try:
                data = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                err = _parse_error(exc, path, lineno)
                err.raw = raw.rstrip(b"\r\n")
                yield err
                continue
            yield Row(data, path, lineno, lineno - 1, raw)


@dataclass
class _Job:
    path: str
    start: int
    end: int
    first_line: int
    fmt_in: Format
    fmt_out: Format
    options: Options
    on_error: str
    out_part: str
    rejects_part: str | None
    container: Any
    transform: Callable[[Any], Any] | None


def _run_part(job: _Job) -> tuple[Any, Counter[str], RecordError | None]:
    """Convert one byte range into its part files with the same loop as a serial run; returns
    its Report, the fields it dropped, and the error that stopped it (``on_error="raise"``)."""
    from dialogkit.pipeline import Pipeline, Report

    error: RecordError | None = None
    rep = Report(format_in=job.fmt_in.name)
    ctx = WriteContext(options=job.options)
    rejects_file = open(job.rejects_part, "wb") if job.rejects_part else None  # noqa: SIM115
    try:
        with open(job.out_part, "wb") as out:
            sink = make_sink(out, job.container)
            run = Pipeline(
                job.fmt_out,
                ctx,
                sink,
                rep,
                job.on_error,
                make_sink(rejects_file, "jsonl") if rejects_file else None,
                transform=job.transform,
            )
            try:
                opts = job.options
                rows = _range_rows(job.path, job.start, job.end, job.first_line,
                                   opts.max_line_bytes)
                run.feed_rows(job.fmt_in, screen_rows(rows, max_depth=opts.max_depth,
                                                      strict=opts.strict, notes=rep.changed))
            except RecordError as exc:  # on_error="raise": the parent raises the first one
                error = exc
    finally:
        if rejects_file is not None:
            rejects_file.close()
    rep.media.update(ctx.media)
    return rep, ctx.dropped, error


def _worker_signals() -> None:
    """Workers leave interrupts to the parent (it stops the pool and removes the parts) and
    die quietly on the SIGTERM that stopping the pool sends, whatever the CLI installed."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def per_row(fmt_in: Format) -> bool:
    """Whether a reader converts row by row (so ranges can be read apart); OASST cannot."""
    return fmt_in.per_row


def can_split(src: Any, container: str, input_container: str | None, jobs: int) -> bool:
    """Whether ``src`` can be cut into ranges: a large plain (not gzip) JSONL file, JSONL out."""
    if jobs < 2 or not isinstance(src, (str, os.PathLike)) or str(src) == "-":
        return False
    path = str(src)
    if container != "jsonl":
        return False
    if input_container not in (None, "jsonl") or not path.lower().endswith((".jsonl", ".ndjson")):
        return False
    try:
        # a FIFO or other stream must not be opened here: the bytes peeked would be lost
        if not os.path.isfile(path) or os.path.getsize(path) < MIN_PARALLEL_BYTES:
            return False
        with open(path, "rb") as f:
            return f.read(2) != b"\x1f\x8b"
    except OSError:
        return False


def convert_parallel(
    src: str,
    dst: str | os.PathLike[str] | None,
    fmt_in: Format,
    fmt_out: Format,
    *,
    options: Options,
    on_error: str,
    rejects: str | os.PathLike[str] | None,
    jobs: int,
    transform: Callable[[Any], Any] | None = None,
    rep: Any,
) -> WriteContext:
    """Convert ``src`` with ``jobs`` forked workers, adding their counts to ``rep`` (a Report);
    returns the write context with the fields dropped."""
    ranges = line_ranges(str(src), jobs)
    if dst in (None, "-"):
        folder, stem = tempfile.gettempdir(), "dialogkit-parts-"
    else:
        folder, stem = str(Path(dst).parent), f".{Path(dst).name}.{TEMP_MARK}"
    remove_stale(folder, stem)
    tmpdir = tempfile.mkdtemp(prefix=temp_prefix(stem), suffix=".parts", dir=folder)
    live_temps().add(tmpdir)
    try:
        parts = [
            _Job(
                str(src),
                s,
                e,
                line,
                fmt_in,
                fmt_out,
                options,
                on_error,
                os.path.join(tmpdir, f"out-{i}"),
                os.path.join(tmpdir, f"rej-{i}") if rejects is not None else None,
                "jsonl",
                transform,
            )
            for i, (s, e, line) in enumerate(ranges)
        ]
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(len(parts), initializer=_worker_signals) as pool:
            results = pool.map(_run_part, parts, chunksize=1)
        for _, _, error in results:
            if error is not None:
                raise error
        wctx = WriteContext(options=options)
        for part, dropped, _ in results:
            rep.add(part)
            wctx.dropped.update(dropped)
        with atomic_output(dst) as out:
            for job in parts:
                with open(job.out_part, "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 20)
        if rejects is not None:
            with atomic_output(rejects) as out:
                for job in parts:
                    assert job.rejects_part is not None
                    with open(job.rejects_part, "rb") as f:
                        shutil.copyfileobj(f, out, 1 << 20)
        return wctx
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
        live_temps().discard(tmpdir)
