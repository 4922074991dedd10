"""The conversion loop: rows in, records through, rows out, rejects and counts kept.

Owns :class:`Report` and :class:`Pipeline` and everything the serial path and the parallel
workers share (opening a source, options, finishing a run). ``api`` and ``parallel`` build on
this module; it imports neither.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from dialogkit.detect import SAMPLE_ROWS, detect_format
from dialogkit.errors import RecordError, UsageError, format_loc
from dialogkit.io import (
    MAX_LINE_BYTES,
    Container,
    Row,
    atomic_output,
    commit_together,
    container_for,
    make_sink,
    read_rows,
    screen_rows,
)
from dialogkit.registry import Format, Options, Reject, Rows, WriteContext, get_format

__all__ = [
    "Pipeline",
    "Report",
    "Source",
    "check_on_error",
    "convert_serial",
    "finish",
    "iter_outcomes",
    "kind_hint",
    "make_options",
    "media_options",
    "open_source",
    "output_container",
    "prepare",
    "read",
    "records_as_outcomes",
    "resolve_format",
    "write",
    "write_report",
]

Source = str | os.PathLike[str] | Iterable[Any]


@dataclass
class Report:
    """What a run did: records read, written, rejected (by reason), and fields dropped."""

    read: int = 0
    written: int = 0
    rejected: int = 0
    rejected_by_reason: Counter[str] = field(default_factory=Counter)
    fields_dropped: Counter[str] = field(default_factory=Counter)
    fields_changed: Counter[str] = field(default_factory=Counter)  # NaN/Infinity made null
    format_in: str | None = None
    format_out: str | None = None
    first_errors: list[str] = field(default_factory=list)
    expanded: int = 0  # extra records a transform made (unpairing: 2 per pair)
    merged: int = 0  # records a transform merged into an earlier equal one (--as conversation)
    changed: Counter[str] = field(default_factory=Counter)  # text a reader changed, by what
    media: Counter[str] = field(default_factory=Counter)  # "image.read", "image.written"

    def add(self, other: Report, keep: int = 10) -> None:
        """Add another run's counts to these (the parts of a parallel run, in input order)."""
        self.read += other.read
        self.written += other.written
        self.rejected += other.rejected
        self.expanded += other.expanded
        self.merged += other.merged
        self.changed.update(other.changed)
        self.rejected_by_reason.update(other.rejected_by_reason)
        self.media.update(other.media)
        self.fields_changed.update(other.fields_changed)
        self.first_errors.extend(other.first_errors[: max(0, keep - len(self.first_errors))])

    def reject(self, rej: Reject, keep: int = 10) -> None:
        """Count one reject under its rule and remember the first few messages."""
        self.rejected += 1
        self.rejected_by_reason[rej.error.rule] += 1
        if len(self.first_errors) < keep:
            self.first_errors.append(str(rej.error))

    def to_json(self) -> dict[str, Any]:
        """The ``--report`` document (keys in a fixed order).

        ``read + expanded == written + rejected + merged`` always; ``expanded`` is 0 unless a
        kind transform makes several records of one (``--as unpaired``), ``merged`` unless it
        finds a record equal to an earlier one (``--as conversation`` on OASST).
        """
        out: dict[str, Any] = {
            "read": self.read,
            "written": self.written,
            "rejected": self.rejected,
            "expanded": self.expanded,
            "merged": self.merged,
            "rejected_by_reason": dict(sorted(self.rejected_by_reason.items())),
            "fields_dropped": dict(sorted(self.fields_dropped.items())),
            "changed": dict(sorted(self.changed.items())),
            "fields_changed": dict(sorted(self.fields_changed.items())),
            "format_in": self.format_in,
            "format_out": self.format_out,
        }
        if self.media:  # only data with media parts has the key (text-only reports unchanged)
            out["media"] = dict(sorted(self.media.items()))
        return out


def make_options(options: Options | None, kwargs: Mapping[str, Any]) -> Options:
    """``options`` with keyword overrides (unknown keys go to ``extra``), policies checked."""
    opts = options or Options()
    known = {f for f in Options.__dataclass_fields__ if f != "extra"}
    direct = {k: v for k, v in kwargs.items() if k in known}
    extra = {k: v for k, v in kwargs.items() if k not in known}
    if direct or extra:
        opts = replace(opts, **direct, extra={**opts.extra, **extra})
    opts = replace(opts, notes=Counter())  # this run's own tally
    for name, allowed in (
        ("unknown_role", ("reject", "drop", "map")),
        ("empty_turn", ("reject", "drop", "keep")),
        ("consecutive", ("reject", "merge", "keep")),
        ("think", ("keep", "split")),
    ):
        if getattr(opts, name) not in allowed:
            value = getattr(opts, name)
            raise UsageError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return opts


def media_options(opts: Options, src: Any = None, dst: Any = None) -> Options:
    """``opts`` with the folders media paths are read against and written relative to:
    ``media_base`` (``--media-root``, else the input file's folder) and ``media_out`` (the
    output file's folder); ``copy_media`` made absolute. Set once (parallel parts keep them)."""
    extra = dict(opts.extra)
    if extra.get("media_root") is not None:
        extra["media_base"] = os.path.abspath(extra["media_root"])
    elif "media_base" not in extra and isinstance(src, (str, os.PathLike)) and str(src) != "-" \
            and not str(src).startswith("hf:"):
        path = os.path.abspath(src)
        extra["media_base"] = path if os.path.isdir(path) else os.path.dirname(path)
    if "media_out" not in extra and isinstance(dst, (str, os.PathLike)) and str(dst) != "-":
        extra["media_out"] = os.path.dirname(os.path.abspath(dst))
    if extra.get("copy_media") is not None:
        extra["copy_media"] = os.path.abspath(extra["copy_media"])
    if extra == opts.extra:
        return opts
    return replace(opts, extra=extra)


def resolve_format(name: str | Format) -> Format:
    """A Format from a name, alias or instance."""
    return name if isinstance(name, Format) else get_format(name)


def _rows(
    src: Source,
    container: Container | None,
    max_line_bytes: int = MAX_LINE_BYTES,
    notes: Counter[str] | None = None,
    changed: Counter[str] | None = None,
    strict: bool = False,
) -> tuple[str, Iterator[Row | RecordError]]:
    if isinstance(src, (str, os.PathLike)):
        if str(src).startswith("hf:") or os.path.isdir(src):  # a Hub dataset or dataset folder
            from dialogkit.hf_rows import iter_hf_rows

            name = str(src)
            rows: Iterator[Any] = (Row(d, name, n, n - 1, None) for d, n in iter_hf_rows(name))
            return name, _finite(rows, changed, strict)
        rows = read_rows(src, container, max_line_bytes=max_line_bytes, notes=notes)
        if (container or container_for(src)) == "parquet":  # JSON text cannot hold NaN
            rows = _finite(rows, changed, strict)
        return str(src), rows
    rows = (
        r if isinstance(r, (Row, RecordError)) else Row(r, "<rows>", i + 1, i, None)
        for i, r in enumerate(src)
    )
    return "<rows>", rows


_FLOAT_NAMES = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def _finite(
    rows: Iterator[Any], changed: Counter[str] | None, strict: bool
) -> Iterator[Row | RecordError]:
    """Rows with NaN/Infinity floats made None, each field counted in ``changed``
    (``fields_changed``); with ``strict`` such a row is a RecordError instead (JSON would
    have written null: a loss)."""
    from dialogkit.values import field_name, nonfinite_fields

    for row in rows:
        if isinstance(row, Row):
            found = nonfinite_fields(row.data)
            if found:
                if strict:
                    loc, value = found[0]
                    err = RecordError(
                        f"{_FLOAT_NAMES.get(str(value), value)} has no JSON form and would "
                        "be written as null (--strict)",
                        loc=format_loc(loc), source=row.source, line=row.line,
                        rule="non-finite float",
                    )
                    err.raw = orjson.dumps(row.data)
                    yield err
                    continue
                if changed is not None:
                    changed.update({field_name(loc) for loc, _ in found})
        yield row


def open_source(
    src: Source,
    format: str | Format = "auto",
    *,
    container: Container | None = None,
    options: Options | None = None,
    notes: Counter[str] | None = None,
    changed: Counter[str] | None = None,
) -> tuple[Format, Iterator[Row | RecordError]]:
    """The input format (detected from the first rows for ``auto``) and the rows of ``src``.

    The rows are screened first (:func:`dialogkit.io.screen_rows`): nesting past
    ``options.max_depth`` and, with ``options.strict``, numbers that cannot be kept exactly
    are rejected; ``notes`` counts the values a reader changed. NaN/Infinity from Parquet or
    ``datasets`` become None, counted by field in ``changed`` (rows holding them are
    RecordErrors with ``options.strict``).
    """
    opts = options or Options()
    name, rows = _rows(src, container, opts.max_line_bytes, notes, changed, opts.strict)
    rows = screen_rows(rows, max_depth=opts.max_depth, strict=opts.strict, notes=notes)
    if format == "auto":
        head = list(itertools.islice(rows, SAMPLE_ROWS))
        sample = [r.data for r in head if isinstance(r, Row)]
        fmt = detect_format(sample, name)
        rows = itertools.chain(head, rows)
    else:
        fmt = resolve_format(format)
        if not fmt.reads:
            raise UsageError(f"format {fmt.name!r} can only be written")
    return fmt, rows


def iter_outcomes(
    src: Source,
    format: str | Format = "auto",
    options: Options | None = None,
    *,
    container: Container | None = None,
    on_format: Callable[[Format], None] | None = None,
    **kwargs: Any,
) -> Iterator[Any]:
    """Records and Rejects from a file, ``-`` or an iterable of rows, in input order."""
    opts = media_options(make_options(options, kwargs), src)
    fmt, rows = open_source(src, format, container=container, options=opts)
    if on_format is not None:
        on_format(fmt)
    yield from fmt.read(rows, opts)


def read(
    src: Source,
    format: str | Format = "auto",
    *,
    on_error: str = "raise",
    options: Options | None = None,
    **kwargs: Any,
) -> Iterator[Any]:
    """Yield canonical records from a path, ``-`` (stdin) or an iterable of rows (dicts).

    With ``on_error="raise"`` the first bad row raises its RecordError; with ``"skip"`` bad rows
    are passed over (use :func:`convert` to keep them in a rejects file).

    Example:
        >>> rows = [{"instruction": "Say hi", "input": "", "output": "Hi"}]
        >>> [r.kind for r in read(rows, format="alpaca")]
        ['demo']
    """
    check_on_error(on_error)
    for item in iter_outcomes(src, format, options, **kwargs):
        if isinstance(item, Reject):
            if on_error == "raise":
                raise item.error
            continue
        yield item


def check_on_error(on_error: str) -> None:
    """A UsageError unless ``on_error`` is ``raise`` or ``skip``."""
    if on_error not in ("raise", "skip"):
        raise UsageError(f"on_error must be 'raise' or 'skip', got {on_error!r}")


def output_container(fmt: Format, dst: Any, container: Container | None) -> Container:
    """The container to write: the one asked for, else the output's suffix, else the format's."""
    if container is not None:
        return container
    if dst is not None and str(dst) != "-":
        by_suffix = container_for(dst)
        if by_suffix is not None:
            return by_suffix
    return fmt.container


def write(
    records: Iterable[Any],
    dst: str | os.PathLike[str] | None,
    format: str | Format = "dialogkit",
    *,
    container: Container | None = None,
    on_error: str = "raise",
    options: Options | None = None,
    **kwargs: Any,
) -> Report:
    """Write canonical records to ``dst`` (``-``/None = stdout) in ``format``, atomically."""
    return convert_serial(
        records,
        dst,
        from_=None,
        to=format,
        container=container,
        on_error=on_error,
        options=options,
        **kwargs,
    )


def convert_serial(
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
    **kwargs: Any,
) -> Report:
    """Read ``src`` in ``from_``, write ``dst`` in ``to`` in this process; return the Report.

    ``from_=None`` means ``src`` is already canonical records. On ``on_error="raise"`` the first
    bad record raises and no output file is left; on ``"skip"`` bad records go to ``rejects``
    (each unchanged, with its reason) and the run goes on. ``report`` gets the Report as JSON.
    """
    check_on_error(on_error)
    opts = media_options(make_options(options, kwargs), src if from_ is not None else None, dst)
    out_fmt = resolve_format(to)
    if not out_fmt.writes:
        raise UsageError(f"format {out_fmt.name!r} can only be read")
    rep = Report(format_out=out_fmt.name)
    ctx = WriteContext(options=opts)
    out_container = output_container(out_fmt, dst, container)
    if from_ is None:
        if isinstance(src, (str, os.PathLike)):
            raise UsageError("from_=None takes records, not a path; pass from_='dialogkit'")
        rep.format_in = "dialogkit"
        fmt_in: Format | None = None
        rows: Iterable[Any] = records_as_outcomes(src)
    else:
        fmt_in, rows = open_source(src, from_, container=input_container, options=opts,
                                   notes=rep.changed, changed=rep.fields_changed)
        rep.format_in = fmt_in.name
    # output, rejects, writer's side files and report: renamed into place together, or none
    with commit_together(), contextlib.ExitStack() as stack:
        reject_sink = None
        if rejects is not None:
            reject_sink = make_sink(stack.enter_context(atomic_output(rejects)), "jsonl")
        with atomic_output(dst) as out:
            sink = make_sink(out, out_container)
            run = Pipeline(out_fmt, ctx, sink, rep, on_error, reject_sink, progress, transform)
            if fmt_in is None:
                run.feed(rows)
            else:
                run.feed_rows(fmt_in, rows)
            sink.close()
        rep.changed.update(getattr(sink, "notes", {}))  # Parquet places written as JSON text
        stack.close()
        finish(out_fmt, dst, rep, report, ctx)
    return rep


class Pipeline:
    """The convert loop: records in, output rows to a sink, rejects handled, counts kept.

    Shared by the serial path and each parallel worker. The per-row path calls
    :meth:`Format.read_one` and :meth:`Format.write_one` directly, one flat loop with no
    generator between reader and writer (it is the hot path).
    """

    def __init__(
        self,
        out_fmt: Format,
        ctx: WriteContext,
        sink: Any,
        rep: Report,
        on_error: str,
        reject_sink: Any = None,
        progress: Callable[[int], None] | None = None,
        transform: Callable[[Any], Any] | None = None,
    ) -> None:
        self.out_fmt = out_fmt
        self.ctx = ctx
        self.sink = sink
        self.rep = rep
        self.on_error = on_error
        self.reject_sink = reject_sink
        self.progress = progress
        self.transform = transform
        self.system = ctx.options.system
        self.reading = False  # whether records come from a reader (not given as records)

    def reject(self, rej: Reject) -> None:
        """Raise (``on_error="raise"``) or count the reject and write it to the rejects file."""
        if self.on_error == "raise":
            raise rej.error
        self.rep.reject(rej)
        if self.reject_sink is not None:
            line = rej.to_json()
            try:
                self.reject_sink.write(line)
            except (TypeError, UnicodeEncodeError, OverflowError):  # what JSON cannot hold
                from dialogkit.values import json_safe

                self.reject_sink.write(json_safe(line))

    def kind_mismatch(self, error: RecordError, record: Any) -> None:
        """A record of a kind the output cannot hold: name the input format (as every other
        error does) and say which command does what was probably meant."""
        src = record.source.format if record.source is not None else None
        src = src or (self.rep.format_in if self.reading else None)
        if src and src != self.out_fmt.name:
            error.reason += f" read from {src}"
            error.format = src
        error.reason += f": {kind_hint(record.kind)}"

    def feed_rows(self, fmt_in: Format, rows: Iterable[Any]) -> None:
        """Read ``rows`` with ``fmt_in`` and write every record."""
        opts = self.ctx.options
        self.reading = True
        if not fmt_in.per_row:
            self.feed(fmt_in.read(rows, opts))
            return
        read_one = fmt_in.read_one
        one = self.one
        # provenance costs a model per record: set it only when something will look at it
        with_source = self.out_fmt.uses_source or self.system is not None or (
            self.transform is not None
        )
        for row in rows:
            for item in read_one(row, opts, with_source):
                one(item, row)

    def feed(self, items: Iterable[Any]) -> None:
        """Write every record (or count every Reject) of ``items``."""
        one = self.one
        for item in items:
            one(item)

    def one(self, item: Any, row: Any = None) -> None:
        """One read outcome: a Reject, or a record to transform and write (``row``, when
        given, locates a writer's error for a record that carries no provenance)."""
        rep = self.rep
        rep.read += 1
        if self.progress is not None:
            self.progress(rep.read)
        if isinstance(item, Reject):
            self.reject(item)
            return
        if self.system is None and self.transform is None:
            records = (item,)
        else:
            records = prepare(item, self.system, self.transform)  # type: ignore[assignment]
            if records:
                rep.expanded += len(records) - 1
            else:  # the transform merged it into an earlier record
                rep.merged += 1
        for rec in records:
            if isinstance(rec, Reject):
                self.reject(rec)
                continue
            out = self.out_fmt.write_one(rec, self.ctx)
            if isinstance(out, Reject):
                if out.error.rule == "kind not writable":
                    self.kind_mismatch(out.error, rec)
                if row is not None and isinstance(row, Row):
                    out.error.at(source=row.source, line=row.line)
                self.reject(out)
                continue
            try:
                if type(out) is Rows:  # a stateful writer's rows for this record: some or none
                    for each in out:
                        self.sink.write(each)
                else:
                    self.sink.write(out)
            except (TypeError, UnicodeEncodeError, OverflowError) as exc:
                # a big int or a lone surrogate (Python rows): the writer wrote nothing of it
                self.unencodable(out, exc, rec, row)
                continue
            rep.written += 1  # records, not rows

    def unencodable(self, out: Any, exc: BaseException, rec: Any, row: Any) -> None:
        """Reject a record whose output row holds a value no writer encodes, naming it."""
        from dialogkit.values import unencodable_error

        error = unencodable_error(out, exc)
        src = rec.source
        if src is not None:
            error.at(source=src.file, line=src.line)
        elif isinstance(row, Row):
            error.at(source=row.source, line=row.line)
        error.at(format=self.out_fmt.name)
        self.reject(Reject(error, row=row if isinstance(row, Row) else None, record=rec))


_KIND_HINTS = {
    "preference": "write pairs with `--to trl-preference`, or make SFT conversations of them "
                  "with `--as conversation --side chosen`",
    "unpaired": "write unpaired examples with `--to trl-unpaired`",
    "comparison": "make pairs of comparisons with `dialogkit pairs`, or take the best "
                  "candidate with `--as conversation`",
    "prompt": "write RL prompts with `--to trl-prompt`",
}
_SFT_HINT = ("write SFT records with an SFT format such as `--to openai`, or make RL prompts "
             "of them with `--as prompt`")


def kind_hint(kind: str) -> str:
    """What to run instead when a record of ``kind`` reaches a writer that cannot hold it."""
    return _KIND_HINTS.get(kind, _SFT_HINT)


def write_report(rep: Report, report: str | os.PathLike[str] | None) -> None:
    """The Report as indented JSON at ``report`` (atomically); nothing when it is None."""
    if report is not None:
        with atomic_output(report) as out:
            out.write(orjson.dumps(rep.to_json(), option=orjson.OPT_INDENT_2) + b"\n")


def finish(out_fmt: Format, dst: Any, rep: Report, report: Any, ctx: WriteContext) -> None:
    """After a run: record dropped fields, let the writer finish its files, write the report."""
    rep.fields_dropped = ctx.dropped
    rep.changed.update(ctx.options.notes)
    rep.media.update(ctx.media)
    finish = getattr(out_fmt, "finish", None)
    if finish is not None and dst is not None and str(dst) != "-":
        finish(dst, ctx)
    write_report(rep, report)


def prepare(item: Any, system: str | None, transform: Callable[[Any], Any] | None) -> list[Any]:
    """One read record after ``--system`` and a kind transform (``--as``): records or a Reject.

    A transform may return one record or a list (unpairing makes two; an empty list means the
    record was merged into an earlier one); a RecordError it raises rejects the record with
    its reason.
    """
    if system is not None:
        from dialogkit.ops.chat import add_system

        item = add_system(item, system)
    if transform is None:
        return [item]
    try:
        out = transform(item)
    except RecordError as exc:
        src = item.source
        exc.at(source=src.file if src else None, line=src.line if src else None)
        return [Reject(exc, record=item)]
    return out if isinstance(out, list) else [out]


def records_as_outcomes(records: Iterable[Any]) -> Iterator[Any]:
    """Canonical records passed through (dicts are validated as canonical records first)."""
    from dialogkit.formats.canonical import FORMAT as canonical

    for i, rec in enumerate(records):
        if isinstance(rec, dict):
            yield from canonical.read([Row(rec, "<records>", i + 1, i, None)], Options())
        else:
            yield rec


def validate(
    src: Source, format: str | Format = "auto", *, options: Options | None = None, **kwargs: Any
) -> Report:
    """Check every record of ``src``; the Report counts valid (``written``) and invalid ones."""
    rep = Report()

    def seen(fmt: Format) -> None:
        rep.format_in = fmt.name

    for item in iter_outcomes(src, format, options, on_format=seen, **kwargs):
        rep.read += 1
        if isinstance(item, Reject):
            rep.reject(item)
        else:
            rep.written += 1
    return rep
