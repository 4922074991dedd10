"""The library's verbs: read, write, convert, validate; each returns or yields canonical records.

``convert`` and ``write`` return a :class:`Report` whose counts always add up:
``read == written + rejected``. The loop itself lives in :mod:`dialogkit.pipeline`; this module
adds the choice between one process and worker processes (:mod:`dialogkit.parallel`).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from typing import Any

from dialogkit.detect import SAMPLE_ROWS, detect_format
from dialogkit.errors import UsageError
from dialogkit.io import Container, Row, check_paths, commit_together, read_rows
from dialogkit.pipeline import (
    Pipeline,
    Report,
    Source,
    check_on_error,
    convert_serial,
    finish,
    iter_outcomes,
    make_options,
    media_options,
    open_source,
    output_container,
    prepare,
    read,
    resolve_format,
    validate,
    write,
)
from dialogkit.registry import Format, Options, WriteContext

__all__ = [
    "Report",
    "convert",
    "Pipeline",
    "iter_outcomes",
    "open_source",
    "prepare",
    "read",
    "resolve_format",
    "validate",
    "write",
]


def convert(
    src: Source,
    dst: str | os.PathLike[str] | None,
    from_: str | Format | None = "auto",
    to: str | Format = "dialogkit",
    *,
    on_error: str = "raise",
    rejects: str | os.PathLike[str] | None = None,
    report: str | os.PathLike[str] | None = None,
    container: Container | None = None,
    input_container: Container | None = None,
    options: Options | None = None,
    progress: Callable[[int], None] | None = None,
    transform: Callable[[Any], Any] | None = None,
    jobs: int = 1,
    in_place: bool = False,
    **kwargs: Any,
) -> Report:
    """Read ``src`` in ``from_``, write ``dst`` in ``to``; return the Report.

    ``from_=None`` means ``src`` is already canonical records. On ``on_error="raise"`` the first
    bad record raises and no output file is left; on ``"skip"`` bad records go to ``rejects``
    (each unchanged, with its reason) and the run goes on. ``report`` gets the Report as JSON.
    ``jobs`` > 1 converts a large JSONL file with that many worker processes (same bytes out).
    Two of ``src``, ``dst``, ``rejects`` and ``report`` naming one file is a UsageError before
    anything is read; ``in_place=True`` lets ``dst`` replace ``src`` (renamed over it at the end).
    """
    check_on_error(on_error)
    if isinstance(src, (str, os.PathLike)):
        check_paths([src], [("OUTPUT", dst), ("--rejects", rejects), ("--report", report)],
                    in_place=in_place)
        if in_place and dst is not None and os.path.islink(dst):
            dst = os.path.realpath(dst)  # through a symlink: replace the file, keep the link
    opts = media_options(make_options(options, kwargs), src if from_ is not None else None, dst)
    out_fmt = resolve_format(to)
    if not out_fmt.writes:
        raise UsageError(f"format {out_fmt.name!r} can only be read")
    rep = Report(format_out=out_fmt.name)
    if jobs > 1 and from_ is not None and isinstance(src, (str, os.PathLike)):
        with commit_together():  # output, rejects and report: all renamed into place, or none
            done = _try_parallel(
                src,
                dst,
                from_,
                out_fmt,
                opts,
                on_error,
                rejects,
                container,
                input_container,
                transform,
                jobs,
                rep,
            )
            if done:
                finish(out_fmt, dst, rep, report, done)
        if done:
            return rep
    return convert_serial(
        src,
        dst,
        from_,
        out_fmt,
        on_error=on_error,
        rejects=rejects,
        report=report,
        container=container,
        input_container=input_container,
        options=opts,
        progress=progress,
        transform=transform,
    )


def _try_parallel(
    src: str | os.PathLike[str],
    dst: Any,
    from_: str | Format,
    out_fmt: Format,
    opts: Options,
    on_error: str,
    rejects: Any,
    container: Container | None,
    input_container: Container | None,
    transform: Any,
    jobs: int,
    rep: Report,
) -> WriteContext | None:
    """Run convert with worker processes when the input allows it; None when it does not."""
    from dialogkit.parallel import can_split, convert_parallel, per_row  # forks: load on use

    if out_fmt.stateful or getattr(transform, "stateful", False):
        return None  # rows depend on earlier records (oasst, merging): one process sees all
    out_container = output_container(out_fmt, dst, container)
    if not can_split(src, out_container, input_container, jobs):
        return None  # checked before detection, which would consume stdin
    if from_ == "auto":
        head = [
            r.data
            for r in itertools.islice(read_rows(src, input_container), SAMPLE_ROWS)
            if isinstance(r, Row)
        ]
        fmt_in = detect_format(head, str(src))
    else:
        fmt_in = resolve_format(from_)
    if not fmt_in.reads or not per_row(fmt_in):
        return None
    rep.format_in = fmt_in.name
    return convert_parallel(
        str(src),
        dst,
        fmt_in,
        out_fmt,
        options=opts,
        on_error=on_error,
        rejects=rejects,
        jobs=jobs,
        transform=transform,
        rep=rep,
    )


