"""The Format protocol every format module implements, the options they share, and lookup.

A format is a reader/writer pair into and out of the canonical records (hub and spoke). Most
formats convert one row at a time (:meth:`Format.read_row`, :meth:`Format.write_record`); a
format that needs the whole stream (OASST trees) overrides :meth:`Format.read`. Formats register
themselves by being listed in ``_MODULES``; they are imported on first lookup so ``import
dialogkit`` stays cheap.
"""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from dialogkit.errors import RecordError, UnknownFormatError, format_loc
from dialogkit.io import MAX_DEPTH, MAX_LINE_BYTES, Container, Row
from dialogkit.models import KINDS, THINK_TAGS, Source, TextPart, split_think

_KIND_TAGS = frozenset(KINDS)

__all__ = [
    "Format",
    "Options",
    "Reject",
    "Rows",
    "WriteContext",
    "all_formats",
    "build",
    "build_adapter",
    "count_parts",
    "get_format",
    "has_parts",
    "register",
    "set_source",
]

# modules that define formats, imported lazily in this order (the order of `dialogkit formats`)
_MODULES: list[str] = [
    "dialogkit.formats.canonical",
    "dialogkit.formats.alpaca",
    "dialogkit.formats.alpaca_text",
    "dialogkit.formats.dolly",
    "dialogkit.formats.sharegpt",
    "dialogkit.formats.openai",
    "dialogkit.formats.openai_completion",
    "dialogkit.formats.trl",
    "dialogkit.formats.hh_rlhf",
    "dialogkit.formats.oasst",
    "dialogkit.formats.rankings",
    "dialogkit.formats.openai_preference",
    "dialogkit.formats.trl_preference",
    "dialogkit.formats.llamafactory",
    "dialogkit.formats.llamafactory_v1",
    "dialogkit.formats.rlvr",
    "dialogkit.formats.verl",
    "dialogkit.formats.openrlhf",
]
_REGISTRY: dict[str, Format] = {}
_ALIASES: dict[str, str] = {}
_loaded = False


@dataclass(frozen=True)
class Options:
    """Options every reader and writer understands; format-specific ones live in ``extra``.

    The turn policies are explicit because real data has these defects and trainers choke on
    them; the defaults reject, so nothing is changed silently:

    - ``unknown_role``: ``reject`` (default), ``drop`` the turn, or ``map`` it with ``role_map``.
    - ``empty_turn``: ``reject`` (default), ``drop`` the turn, or ``keep`` it as is.
    - ``consecutive``: two turns in a row from one role: ``reject`` (default), ``merge`` them
      (joined with ``merge_separator``), or ``keep`` them.
    - ``system``: a system prompt added to records that have none (``--system``).
    - ``join``: how an instruction and its input become one user turn (``"\\n\\n"``).
    - ``keep_metadata``: write a record's ``metadata`` (the source row's extra fields) back as
      extra columns (default), or drop them and tally each as ``metadata.<key>`` in the report.
      The formats' own layout markers (``_trl``, ``_sharegpt``, ...: :attr:`Format.markers`)
      are private to the format that set them; no other format writes them. Any other key,
      ``_``-prefixed or not (``_id``), is kept like every extra column.
    - ``strict``: any loss is an error: a record with a field the output format has no place
      for is rejected (naming the field) instead of written without it; so is a row with a
      number that cannot be kept exactly (an integer beyond 64 bits, ``1e-400``).
    - ``notes``: what a reader changed in the text on the way (``openai-completion``'s stop
      marker stripped), counted by what; a run's Report carries it as ``changed``. Each run
      gets a fresh one (:func:`dialogkit.pipeline.make_options`).
    - ``think``: ``keep`` (default) leaves assistant content as it is; ``split`` moves a leading
      ``think_tags[0]…think_tags[1]`` block into the message's ``reasoning`` (``--think``).
    - ``max_depth`` / ``max_line_bytes``: rows nested deeper, and lines (array elements, whole
      documents) longer, are rejected at read (``too_deep``, ``too_large``); see
      :data:`dialogkit.io.MAX_DEPTH` for why the defaults.
    """

    unknown_role: str = "reject"
    role_map: Mapping[str, str] = field(default_factory=dict)
    empty_turn: str = "reject"
    consecutive: str = "reject"
    merge_separator: str = "\n\n"
    system: str | None = None
    join: str = "\n\n"
    keep_metadata: bool = True
    strict: bool = False
    think: str = "keep"
    think_tags: tuple[str, str] = THINK_TAGS
    max_depth: int = MAX_DEPTH
    max_line_bytes: int = MAX_LINE_BYTES
    extra: Mapping[str, Any] = field(default_factory=dict)
    notes: Counter[str] = field(default_factory=Counter, compare=False, repr=False)

    def get(self, key: str, default: Any = None) -> Any:
        """A format-specific option from ``extra``."""
        return self.extra.get(key, default)


@dataclass
class Reject:
    """A row (or record) that could not be converted, with the error that says why."""

    error: RecordError
    row: Row | None = None
    record: BaseModel | None = None

    def to_json(self) -> dict[str, Any]:
        """The rejects-file line: where, why, and the input exactly as it came."""
        out: dict[str, Any] = {
            "source": self.error.source,
            "line": self.error.line,
            "reason": str(self.error.reason),
            "rule": self.error.rule,
            "loc": self.error.loc,
        }
        if self.row is not None:
            out["record"] = self.row.data
        elif self.error.raw is not None:
            out["raw"] = self.error.raw.decode("utf-8", "replace")
        elif self.record is not None:
            out["record"] = self.record.model_dump(mode="json", exclude_none=True)
        return out


class Rows(list[Any]):
    """Several output rows for one record, or none: what a writer whose rows are not one per
    record returns (``oasst`` writes each message of a tree once, so a record whose messages
    were all written before makes no row). :class:`dialogkit.api.Pipeline` writes them one by
    one and counts the record once; :meth:`Format.write` yields them one by one."""


@dataclass
class WriteContext:
    """What a writer gets besides the record: the options, a tally of fields it dropped, and
    ``state``, where a :attr:`Format.stateful` writer keeps what it needs across the records
    of one run (one context per run, so runs stay independent; never a module global)."""

    options: Options = field(default_factory=Options)
    dropped: Counter[str] = field(default_factory=Counter)
    state: dict[str, Any] = field(default_factory=dict)
    media: Counter[str] = field(default_factory=Counter)  # "image.written": parts written
    parts: bool = False  # whether the record being written has content part lists

    def drop(self, name: str) -> None:
        """Record that field ``name`` had no place in the output format (with ``strict``,
        reject the record instead)."""
        if self.options.strict:
            raise RecordError(
                f"`{name}` has no place in the output format and would be lost (--strict)",
                rule="lossy",
            )
        self.dropped[name] += 1


_LISTS: dict[str, tuple[str, ...]] = {
    "conversation": ("messages",),
    "trainer_dialogue": ("messages",),
    "preference": ("prompt", "chosen", "rejected"),
    "unpaired": ("prompt", "completion"),
    "prompt": ("prompt",),
    "comparison": ("context",),
}


def _message_lists(record: Any) -> list[list[Any]]:
    lists = [getattr(record, n) for n in _LISTS.get(record.kind, ())]
    if record.kind == "comparison":
        lists.extend(c.messages for c in record.candidates)
    return lists


def has_parts(record: Any) -> bool:
    """Whether any message of ``record`` holds its content as a list of parts (this runs once
    per record written, so it is a plain loop over the kind's message fields)."""
    d = record.__dict__
    msgs = d.get("messages")
    if msgs is not None:  # a conversation or trainer dialogue: the common case, checked first
        for m in msgs:
            if type(m.content) is list:
                return True
        return False
    names = _LISTS.get(d["kind"])
    if names is None:  # a demo: no messages
        return False
    for name in names:
        for m in d[name]:
            if type(m.content) is list:
                return True
    if names == ("context",):  # a comparison: its candidates too
        return any(type(m.content) is list for c in record.candidates for m in c.messages)
    return False


def count_parts(record: Any, ctx: WriteContext, *, flatten: bool) -> Any:
    """Count ``record``'s media parts as read (``image.read``); with ``flatten``, the record
    with each part list as its text (text parts joined), each media part tallied as dropped
    (``media.image``; ``--strict`` rejects)."""
    for msgs in _message_lists(record):
        for m in msgs:
            if type(m.content) is list:
                for p in m.content:
                    if p.type != "text":
                        ctx.media[f"{p.type}.read"] += 1
                        if flatten:
                            ctx.drop(f"media.{p.type}")
    if not flatten:
        return record
    update: dict[str, Any] = {}
    for name in _LISTS.get(record.kind, ()):
        msgs = getattr(record, name)
        if any(type(m.content) is list for m in msgs):
            update[name] = [_flat(m) for m in msgs]
    if record.kind == "comparison":
        update["candidates"] = [
            c.model_copy(update={"messages": [_flat(m) for m in c.messages]})
            for c in record.candidates
        ]
    return record.model_copy(update=update)


def _flat(m: Any) -> Any:
    if type(m.content) is not list:
        return m
    text = "".join(p.text for p in m.content if isinstance(p, TextPart))
    return m.model_copy(update={"content": text})


def build(model: type[BaseModel], data: dict[str, Any]) -> Any:
    """Validate ``data`` as ``model``; a ValidationError becomes a RecordError at its JSON path."""
    try:  # the validator itself: model_validate adds a Python frame per record
        return model.__pydantic_validator__.validate_python(data)
    except ValidationError as exc:
        raise _record_error(exc) from exc


def build_adapter(adapter: TypeAdapter[Any], data: Any) -> Any:
    """Like :func:`build`, through a TypeAdapter (the discriminated union of all kinds)."""
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        raise _record_error(exc, union=True) from exc


def _record_error(exc: ValidationError, *, union: bool = False) -> RecordError:
    """The first error of a ValidationError as a RecordError (the rest are in ``__cause__``)."""
    errors = exc.errors(include_url=False)
    err = errors[0]
    if len(errors) > 1 and err["loc"] and err["loc"][-1] == "str":
        err = errors[1]  # content is a string or a part list: the part list's error says why
    rule = err["type"]
    msg = err["msg"]
    if rule == "missing":
        msg = f"missing required field `{err['loc'][-1]}`"
    elif rule == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        msg = f"Expected {expected}, got {err['input']!r}"
    loc = _clean_loc(err["loc"])
    if union and loc and loc[0] in _KIND_TAGS:  # the union puts the tag first: not a field
        loc = loc[1:]
    return RecordError(msg, loc=format_loc(loc), rule=rule)


_PART_TAGS = frozenset({"text", "image", "audio", "video"})


def _clean_loc(raw: Any) -> list[Any]:
    """A pydantic location without the union branch names of ``content`` (``str``,
    ``list[...]`` and the part type tag), so it is a JSON path into the data."""
    loc = list(raw)
    if "content" not in loc:
        return loc
    out: list[Any] = []
    for i, part in enumerate(loc):
        if isinstance(part, str) and out and out[-1] == "content" and (
            part == "str" or part.startswith("list[")
        ):
            continue
        if part in _PART_TAGS and i >= 2 and isinstance(loc[i - 1], int) and (
            "content" in loc[:i]
        ):
            continue
        out.append(part)
    return out



def set_source(record: Any, file: str | None, line: int | None, format: str | None) -> None:
    """Set a record's provenance in place, fast: this runs once per record on the hot path.

    Validating a small dict in pydantic-core is several times faster than ``model_construct``,
    and writing ``__dict__`` skips ``BaseModel.__setattr__``; the field is marked as set.
    """
    record.__dict__["source"] = Source.__pydantic_validator__.validate_python(
        {"file": file, "line": line, "format": format}
    )
    record.__pydantic_fields_set__.add("source")


class Format:
    """Base of every format: name, the kinds it reads and writes, and detect/read/write.

    Subclasses set the class attributes and implement :meth:`detect`, :meth:`read_row` and
    :meth:`write_record` (or leave reading/writing out by leaving ``reads``/``writes`` empty).
    """

    name: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()
    description: ClassVar[str] = ""
    reads: ClassVar[tuple[str, ...]] = ()
    writes: ClassVar[tuple[str, ...]] = ()
    container: ClassVar[Container] = "jsonl"
    markers: ClassVar[tuple[str, ...]] = ()  # private ``_`` metadata keys this format reads
    uses_source: ClassVar[bool] = False  # whether write_record reads record.source
    # whether write_record depends on the records before it (through WriteContext.state):
    # such a writer must see the whole stream in one process, so convert never splits it
    stateful: ClassVar[bool] = False
    # whether write_record takes content part lists (media); others get plain text
    content_parts: ClassVar[bool] = False

    def writable(self, record: Any, ctx: WriteContext) -> Any:
        """The record as this writer may see it: other formats' markers removed (and tallied),
        and public metadata dropped (and tallied) when ``keep_metadata`` is off; its media parts
        counted as read, and, for a writer without :attr:`content_parts`, its part lists made
        plain text (media tallied as dropped). Unchanged records are returned as they are, so
        the common case costs a few checks."""
        parts = ctx.parts = has_parts(record)
        if parts:
            record = count_parts(record, ctx, flatten=not self.content_parts)
        md = record.metadata
        if not md:
            return record
        drop_public = not ctx.options.keep_metadata
        private = layout_markers()
        if not drop_public and not any(k in private and k not in self.markers for k in md):
            return record
        kept: dict[str, Any] = {}
        for key, value in md.items():
            if key in private:
                if key in self.markers:
                    kept[key] = value
                else:  # another format's layout details: no place here, and said so
                    ctx.drop(f"metadata.{key}")
            elif drop_public:
                ctx.drop(f"metadata.{key}")
            else:
                kept[key] = value
        return record.model_copy(update={"metadata": kept})

    def detect(self, row: Any) -> int:
        """How surely ``row`` (one parsed value) is this format: 0 = not it, higher = surer."""
        return 0

    def read_row(self, data: Any, opts: Options) -> Iterable[Any]:
        """Convert one row to canonical records; raise RecordError for a bad row."""
        raise NotImplementedError(f"format {self.name!r} cannot be read")

    def read_one(
        self, row: Row | RecordError, opts: Options, with_source: bool = True
    ) -> list[Any]:
        """The records of one row with their provenance set, or ``[Reject]``.

        A row is converted whole or rejected whole (never half-read). This is the per-row step
        of :meth:`read`; ``convert`` calls it directly to keep its loop flat, and passes
        ``with_source=False`` when the writer never looks at provenance (it then locates
        errors from the row itself).
        """
        if isinstance(row, RecordError):
            return [Reject(row.at(format=self.name))]
        try:
            recs = list(self.read_row(row.data, opts))
        except RecordError as exc:
            return [Reject(exc.at(source=row.source, line=row.line, format=self.name), row=row)]
        if opts.think == "split":
            recs = [split_think(rec, opts.think_tags) for rec in recs]
        if with_source:
            for rec in recs:
                if rec.source is None:
                    set_source(rec, row.source, row.line, self.name)
        return recs

    def read(self, rows: Iterable[Row | RecordError], opts: Options) -> Iterator[Any]:
        """Records (or Rejects) for a stream of rows; per row, so one bad row is skipped alone.

        Formats that need the whole stream (OASST trees) override this; :attr:`per_row` then
        says False.
        """
        for row in rows:
            yield from self.read_one(row, opts)

    @property
    def per_row(self) -> bool:
        """Whether this reader converts row by row (False when :meth:`read` is overridden)."""
        return type(self).read is Format.read

    def write_record(self, record: Any, ctx: WriteContext) -> Any:
        """One output row for a canonical record (or :class:`Rows`: several or none);
        RecordError if this format cannot hold it."""
        raise NotImplementedError(f"format {self.name!r} cannot be written")

    def write_one(self, record: Any, ctx: WriteContext) -> Any:
        """One output row (or :class:`Rows`), or a Reject when this format cannot hold it.

        No ``_``-prefixed key of a row is ever written (see :func:`_public`). Formats
        override :meth:`write_record`, not this or :meth:`write`.
        """
        try:
            out = self.write_record(self.writable(record, ctx), ctx)
            if type(out) is dict:
                if any(type(k) is str and k.startswith("_") for k in out):
                    out = _public(out, ctx, _source_columns(record))
            elif type(out) is Rows:
                keep = _source_columns(record)
                out = Rows(_public(r, ctx, keep) if type(r) is dict else r for r in out)
            return out
        except RecordError as exc:
            src = record.source
            return Reject(
                exc.at(
                    source=src.file if src else None,
                    line=src.line if src else None,
                    format=self.name,
                ),
                record=record,
            )

    def write(self, records: Iterable[Any], ctx: WriteContext) -> Iterator[Any | Reject]:
        """Output rows (or Rejects for records this format cannot hold)."""
        for rec in records:
            out = self.write_one(rec, ctx)
            if type(out) is Rows:  # several rows (or none) for one record
                yield from out
            else:
                yield out

    def cannot_hold(self, record: Any) -> RecordError:
        """The error for a record of a kind this format does not write."""
        return RecordError(
            f"format {self.name!r} cannot hold a record of kind {record.kind!r} "
            f"(it writes {', '.join(self.writes)})",
            rule="kind not writable",
        )


def _source_columns(record: Any) -> frozenset[str]:
    """The ``_``-prefixed keys that came from the source (``_id`` of a database export): kept
    like any extra column; only dialogkit's own markers and bookkeeping are private."""
    md = getattr(record, "metadata", None) or {}
    private = layout_markers()
    return frozenset(k for k in md if k.startswith("_") and k not in private)


def _public(
    row: dict[str, Any], ctx: WriteContext, keep: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """``row`` without its ``_``-prefixed keys other than the source's own (``keep``):
    dialogkit's bookkeeping never reaches an output file (trainers would read it as a
    column); each one dropped is tallied (with ``strict``, the record is rejected)."""
    out = {}
    for key, value in row.items():
        if type(key) is str and key.startswith("_") and key not in keep:
            ctx.drop(key)
        else:
            out[key] = value
    return out


def register(fmt: Format) -> Format:
    """Add a format instance to the registry (by name and aliases)."""
    _REGISTRY[fmt.name] = fmt
    for alias in fmt.aliases:
        _ALIASES[alias] = fmt.name
    return fmt


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for mod in _MODULES:
        importlib.import_module(mod)


_MARKERS: frozenset[str] | None = None


def layout_markers() -> frozenset[str]:
    """The metadata keys private to dialogkit's formats (``_trl``, ``_sharegpt``, ...): the only
    ``_`` keys a writer drops. Any other key, ``_id`` of a database export included, is a
    source column like any other and is kept."""
    global _MARKERS
    if _MARKERS is None:
        _MARKERS = frozenset(m for fmt in all_formats() for m in fmt.markers)
    return _MARKERS


def all_formats() -> list[Format]:
    """Every registered format, in registration order."""
    _load()
    return list(_REGISTRY.values())


def get_format(name: str) -> Format:
    """The format registered under ``name`` or one of its aliases."""
    _load()
    key = name.strip().lower().replace("_", "-")
    key = _ALIASES.get(key, key)
    if key not in _REGISTRY:
        raise UnknownFormatError(name, [*_REGISTRY, "auto"])
    return _REGISTRY[key]
