"""``convert``, ``validate``, ``formats``, ``schema`` and ``inspect``: records in, records out.

Heavy imports happen inside the commands so ``dialogkit --help`` stays fast.
"""

from __future__ import annotations

import json
import re
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from dialogkit.cli.common import InPlaceOpt, OnError, err, guarded, progress_counter


class UnknownRole(str, Enum):
    """Policy for a role the format does not know."""

    reject = "reject"
    drop = "drop"
    map = "map"


class EmptyTurn(str, Enum):
    """Policy for a turn with empty content."""

    reject = "reject"
    drop = "drop"
    keep = "keep"


class Consecutive(str, Enum):
    """Policy for two turns in a row from one role."""

    reject = "reject"
    merge = "merge"
    keep = "keep"


class AsKind(str, Enum):
    """A change of record kind on the way through convert."""

    conversation = "conversation"
    prompt = "prompt"
    unpaired = "unpaired"


class Side(str, Enum):
    """Which answer of a preference pair ``--as conversation`` keeps."""

    chosen = "chosen"
    rejected = "rejected"


class Think(str, Enum):
    """What to do with ``<think>…</think>`` at the start of assistant content."""

    keep = "keep"
    split = "split"


class ToolArguments(str, Enum):
    """How a writer puts tool-call arguments (default: the output format's own choice)."""

    string = "string"
    object = "object"
    source = "source"


class Reference(str, Enum):
    """Which answer ``--as prompt`` keeps as the prompt's reference."""

    best = "best"
    response = "response"
    none = "none"


class ContainerChoice(str, Enum):
    """The file container of an output."""

    jsonl = "jsonl"
    json = "json"
    parquet = "parquet"


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\"}


def unescape(text: str) -> str:
    """``\\n``, ``\\t``, ``\\r`` and ``\\\\`` typed on a command line as the characters they name;
    anything else (non-ASCII included) is left as it is."""
    return re.sub(r"\\([ntr\\])", lambda m: _ESCAPES[m.group(1)], text)


def _parse_pairs(items: list[str] | None, what: str) -> dict[str, Any]:
    """``KEY=VALUE`` items as a dict; a value is JSON when it parses (``true``, ``3``,
    ``"a b"``), else a string with backslash escapes understood (see :func:`unescape`)."""
    from dialogkit.errors import UsageError

    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{what} takes KEY=VALUE, got {item!r}")
        try:
            out[key.strip().replace("-", "_")] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip().replace("-", "_")] = unescape(value)
    return out


def _role_map(items: list[str] | None) -> dict[str, str]:
    return {k: str(v) for k, v in _parse_pairs(items, "--role-map").items()}


FromOpt = Annotated[
    str, typer.Option("--from", "-f", help="Input format name, or auto to detect it.")
]
OptionOpt = Annotated[
    list[str] | None,
    typer.Option("--option", "-o", help="A format-specific option KEY=VALUE (repeatable)."),
]
UnknownRoleOpt = Annotated[
    UnknownRole, typer.Option(help="Unknown roles: reject, drop the turn, or map with --role-map.")
]
RoleMapOpt = Annotated[
    list[str] | None, typer.Option(help="Map a source role to a canonical one: SRC=ROLE.")
]
MaxDepthOpt = Annotated[
    int,
    typer.Option("--max-depth", min=1, max=250,
                 help="Reject rows nested deeper than this (rule too_deep; at most 250, as "
                 "the JSON writer nests at most 254 levels)."),
]
MaxLineBytesOpt = Annotated[
    int,
    typer.Option("--max-line-bytes", min=1,
                 help="Reject a line, array element or document longer than this, unread "
                 "(rule too_large; default 256 MiB)."),
]
EmptyTurnOpt = Annotated[EmptyTurn, typer.Option(help="Empty turns: reject, drop or keep.")]
ConsecutiveOpt = Annotated[
    Consecutive, typer.Option(help="Two turns in a row from one role: reject, merge or keep.")
]


ThinkOpt = Annotated[
    Think,
    typer.Option(help="<think>...</think> at the start of assistant content: keep it as text, "
                 "or split it into the message's reasoning."),
]
ThinkTagsOpt = Annotated[
    str | None,
    typer.Option(help="The opening and closing reasoning tags for --think split, as "
                 "OPEN,CLOSE (default '<think>,</think>')."),
]
MediaRootOpt = Annotated[
    Path | None,
    typer.Option(help="Folder relative media paths are read against (default: the input "
                 "file's folder)."),
]
CheckMediaOpt = Annotated[
    bool, typer.Option(help="Reject a record whose local media file does not exist.")
]


def _options(
    system: str | None,
    unknown_role: UnknownRole,
    role_map: list[str] | None,
    empty_turn: EmptyTurn,
    consecutive: Consecutive,
    option: list[str] | None,
    join: str | None = None,
    *,
    think: Think = Think.keep,
    think_tags: str | None = None,
    media_root: Path | None = None,
    check_media: bool = False,
    copy_media: Path | None = None,
    tool_arguments: ToolArguments | None = None,
    max_depth: int | None = None,
    max_line_bytes: int | None = None,
) -> Any:
    from dialogkit.errors import UsageError
    from dialogkit.registry import Options

    extra = _parse_pairs(option, "--option")
    for key, value in (("media_root", media_root), ("copy_media", copy_media)):
        if value is not None:
            extra[key] = str(value)
    if check_media:
        extra["check_media"] = True
    if tool_arguments is not None:
        extra["tool_arguments"] = tool_arguments.value
    kwargs: dict[str, Any] = {
        "unknown_role": unknown_role.value,
        "role_map": _role_map(role_map),
        "empty_turn": empty_turn.value,
        "consecutive": consecutive.value,
        "system": system,
        "think": think.value,
        "extra": extra,
    }
    if think_tags is not None:
        tags = tuple(unescape(t) for t in think_tags.split(","))
        if len(tags) != 2 or not all(tags):
            raise UsageError(f"--think-tags takes OPEN,CLOSE, got {think_tags!r}")
        kwargs["think_tags"] = tags
    if join is not None:
        kwargs["join"] = unescape(join)
    if max_depth is not None:
        kwargs["max_depth"] = max_depth
    if max_line_bytes is not None:
        kwargs["max_line_bytes"] = max_line_bytes
    return Options(**kwargs)


def convert(
    input: Annotated[str, typer.Argument(help="Input file, or - for stdin.")],
    output: Annotated[str, typer.Argument(help="Output file, or - for stdout.")] = "-",
    to: Annotated[str, typer.Option("--to", "-t", help="Output format name.")] = "",
    from_: FromOpt = "auto",
    on_error: Annotated[
        OnError, typer.Option(help="raise: stop at the first bad record; skip: reject it.")
    ] = OnError.raise_,
    rejects: Annotated[
        Path | None, typer.Option(help="With --on-error skip: each bad record with its reason.")
    ] = None,
    report: Annotated[Path | None, typer.Option(help="Write the counts as JSON here.")] = None,
    system: Annotated[
        str | None, typer.Option(help="Add this system prompt to records that have none.")
    ] = None,
    container: Annotated[
        ContainerChoice | None,
        typer.Option(help="Output container (default: from the output suffix, else the format's)."),
    ] = None,
    join: Annotated[
        str | None,
        typer.Option(help=r"How an instruction and its input become one turn (default '\n\n')."),
    ] = None,
    as_kind: Annotated[
        AsKind | None,
        typer.Option(
            "--as",
            help="Change the records' kind first: conversation (a comparison's best "
            "candidate, a pair's prompt plus --side), prompt (RL prompts from any record), "
            "unpaired (pairs -> 2 labelled).",
        ),
    ] = None,
    side: Annotated[
        Side | None,
        typer.Option(help="With --as conversation: the answer of a pair to keep "
                     "(default chosen)."),
    ] = None,
    reference: Annotated[
        Reference | None,
        typer.Option(help="With --as prompt: keep the demo's response or the best candidate "
                     "(or chosen answer) as the prompt's reference answer."),
    ] = None,
    dataset_info: Annotated[
        bool,
        typer.Option("--dataset-info", help="Also write LLaMA-Factory's dataset_info.json entry "
                     "beside the output (alpaca, sharegpt, openai), naming every column."),
    ] = False,
    drop_metadata: Annotated[
        bool,
        typer.Option(help="Do not carry the source's extra fields over as extra columns."),
    ] = False,
    strict: Annotated[
        bool,
        typer.Option(help="Any loss is an error: reject a record with a field the output "
                     "format cannot hold."),
    ] = False,
    jobs: Annotated[
        int,
        typer.Option(help="Worker processes for a large JSONL file (0 = one per core)."),
    ] = 0,
    in_place: InPlaceOpt = False,
    max_depth: MaxDepthOpt = 128,
    max_line_bytes: MaxLineBytesOpt = 256 << 20,
    unknown_role: UnknownRoleOpt = UnknownRole.reject,
    role_map: RoleMapOpt = None,
    empty_turn: EmptyTurnOpt = EmptyTurn.reject,
    consecutive: ConsecutiveOpt = Consecutive.reject,
    option: OptionOpt = None,
    think: ThinkOpt = Think.keep,
    think_tags: ThinkTagsOpt = None,
    media_root: MediaRootOpt = None,
    copy_media: Annotated[
        Path | None,
        typer.Option(help="Copy (or hard-link) every local media file under this folder and "
                     "point the output at the copies, so it is self-contained."),
    ] = None,
    check_media: CheckMediaOpt = False,
    tool_arguments: Annotated[
        ToolArguments | None,
        typer.Option(help="Write tool-call arguments as JSON strings, objects, or in the form "
                     "they were read (default: the output format's choice)."),
    ] = None,
) -> None:
    """Convert INPUT (any known format) to OUTPUT in the format --to."""
    from dialogkit.api import convert as run_convert
    from dialogkit.errors import RecordError, UsageError

    if not to:
        raise UsageError("--to FORMAT is required (see `dialogkit formats`)")
    if rejects is not None and on_error is not OnError.skip:
        raise UsageError("--rejects needs --on-error skip")
    opts = _options(system, unknown_role, role_map, empty_turn, consecutive, option, join,
                    think=think, think_tags=think_tags, media_root=media_root,
                    check_media=check_media, copy_media=copy_media,
                    tool_arguments=tool_arguments, max_depth=max_depth,
                    max_line_bytes=max_line_bytes)
    if dataset_info:
        from dataclasses import replace

        opts = replace(opts, extra={**opts.extra, "dataset_info": True})
    if drop_metadata or strict:
        from dataclasses import replace

        opts = replace(opts, keep_metadata=not drop_metadata, strict=strict)
    with progress_counter(f"converting {input}") as update:
        rep = run_convert(
            input,
            output,
            from_=from_,
            to=to,
            on_error=on_error.value,
            rejects=rejects,
            report=report,
            container=container.value if container else None,
            options=opts,
            progress=update if sys.stderr.isatty() else None,  # no per-record call for nothing
            jobs=jobs if jobs > 0 else _cores(),
            transform=_transform(as_kind, side, reference),
            in_place=in_place,
        )
    made = f", made {rep.expanded} more" if rep.expanded else ""
    merged = f", merged {rep.merged} duplicates" if rep.merged else ""
    err(
        f"{rep.format_in} -> {rep.format_out}: read {rep.read}{made}, written {rep.written}, "
        f"rejected {rep.rejected}{merged}"
    )
    for rule, n in sorted(rep.rejected_by_reason.items()):
        err(f"  rejected {n}: {rule}")
    for name, n in sorted(rep.fields_dropped.items()):
        err(f"  field dropped from {n} records: {name}")
    for what, n in sorted(rep.changed.items()):
        err(f"  changed {n}: {what}")
    for name, n in sorted(rep.media.items()):
        err(f"  media parts {name.replace('.', ' ')}: {n}")
    for name, n in sorted(rep.fields_changed.items()):
        err(f"  NaN/Infinity written as null in {n} records: {name}")
    mismatched = rep.rejected_by_reason.get("kind not writable", 0)
    if rep.written == 0 and mismatched:  # e.g. pairs to an SFT format: the wrong command
        if rep.first_errors:
            err(f"  first: {rep.first_errors[0]}")
        _discard(output)
        raise RecordError(
            f"nothing written: {mismatched} of {rep.read} records are of a kind that "
            f"{rep.format_out} cannot hold",
            rule="kind not writable",
        )


def validate(
    input: Annotated[str, typer.Argument(help="Input file, or - for stdin.")],
    from_: FromOpt = "auto",
    show: Annotated[int, typer.Option(help="How many errors to print.")] = 10,
    max_depth: MaxDepthOpt = 128,
    max_line_bytes: MaxLineBytesOpt = 256 << 20,
    unknown_role: UnknownRoleOpt = UnknownRole.reject,
    role_map: RoleMapOpt = None,
    empty_turn: EmptyTurnOpt = EmptyTurn.reject,
    consecutive: ConsecutiveOpt = Consecutive.reject,
    option: OptionOpt = None,
    think: ThinkOpt = Think.keep,
    think_tags: ThinkTagsOpt = None,
    media_root: MediaRootOpt = None,
    check_media: CheckMediaOpt = False,
) -> None:
    """Check every record of INPUT; exit 1 if any is invalid."""
    from dialogkit.api import validate as run_validate

    opts = _options(None, unknown_role, role_map, empty_turn, consecutive, option,
                    think=think, think_tags=think_tags, media_root=media_root,
                    check_media=check_media, max_depth=max_depth,
                    max_line_bytes=max_line_bytes)
    rep = run_validate(input, from_, options=opts)
    print(
        f"{input}: format {rep.format_in}, {rep.read} records, {rep.written} valid, "
        f"{rep.rejected} invalid"
    )
    for rule, n in sorted(rep.rejected_by_reason.items()):
        print(f"  {n:>6}  {rule}")
    for line in rep.first_errors[:show]:
        err(line)
    if rep.rejected:
        raise typer.Exit(1)


def formats() -> None:
    """List every format with the kinds it reads and writes."""
    from rich.console import Console
    from rich.table import Table

    from dialogkit.registry import all_formats

    table = Table("format", "reads", "writes", "aliases", "description", box=None)
    for fmt in all_formats():
        table.add_row(
            fmt.name,
            ", ".join(fmt.reads) or "-",
            ", ".join(fmt.writes) or "-",
            ", ".join(fmt.aliases) or "-",
            fmt.description,
        )
    table.add_row("auto", "(detects the format)", "-", "-", "reading only: picks the format")
    Console(width=200).print(table)


def schema(
    out: Annotated[Path, typer.Option("--out", help="Folder for the *.schema.json files.")],
) -> None:
    """Write the JSON Schema of every record kind (generated from the models)."""
    from dialogkit.schemas import write_schemas

    paths = write_schemas(out)
    err(f"wrote {len(paths)} schemas to {out}")


def inspect(
    input: Annotated[str, typer.Argument(help="Input file, or - for stdin.")],
    from_: FromOpt = "auto",
    unknown_role: UnknownRoleOpt = UnknownRole.reject,
    role_map: RoleMapOpt = None,
    empty_turn: EmptyTurnOpt = EmptyTurn.reject,
    consecutive: ConsecutiveOpt = Consecutive.reject,
    option: OptionOpt = None,
) -> None:
    """Counts by kind, roles, turns per conversation and length percentiles, as tables."""
    from rich.console import Console
    from rich.table import Table

    from dialogkit.stats import collect

    opts = _options(None, unknown_role, role_map, empty_turn, consecutive, option)
    stats = collect(input, from_, options=opts)
    console = Console(width=120)
    console.print(
        f"{input}: format {stats.format}, {stats.records} records, {stats.rejected} rejected"
    )
    t = Table("kind", "records", box=None)
    for kind, n in sorted(stats.kinds.items()):
        t.add_row(kind, str(n))
    console.print(t)
    t = Table("role", "messages", box=None)
    for role, n in sorted(stats.roles.items()):
        t.add_row(role, str(n))
    console.print(t)
    t = Table("measure", "min", "p50", "p90", "p99", "max", box=None)
    for name, values in stats.distributions().items():
        t.add_row(name, *(str(v) for v in values))
    console.print(t)
    if stats.media:
        t = Table("media", "parts", box=None)
        for kind, n in sorted(stats.media.items()):
            t.add_row(kind, str(n))
        console.print(t)
        console.print(f"records with media: {stats.media_records} of {stats.records}")
    if stats.assistant_turns:
        share = 100 * stats.reasoning_turns / stats.assistant_turns
        console.print(f"assistant turns with reasoning: {stats.reasoning_turns} of "
                      f"{stats.assistant_turns} ({share:.0f}%)")


def _transform(as_kind: AsKind | None, side: Side | None = None,
               reference: Reference | None = None) -> Any:
    from dialogkit.errors import UsageError

    if as_kind is None:
        if side is not None:
            raise UsageError("--side goes with --as conversation")
        if reference is not None:
            raise UsageError("--reference needs --as prompt")
        return None
    from dialogkit.ops.convert_kinds import kind_transform

    return kind_transform(as_kind.value, side.value if side else None,
                          reference.value if reference else "none")


def _discard(output: str) -> None:
    """Remove an output that holds nothing (a run that must fail), unless it is stdout."""
    import contextlib
    import os

    if output != "-":
        with contextlib.suppress(FileNotFoundError):
            os.remove(output)


def _cores() -> int:
    """Cores this process may use (affinity-aware), at most 4: the work is per-record Python."""
    import os

    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        n = os.cpu_count() or 1
    return max(1, min(n, 4))


def register(app: typer.Typer) -> None:
    """Add convert, validate, formats, schema and inspect to the ``dialogkit`` app."""
    app.command()(guarded(convert))
    app.command()(guarded(validate))
    app.command()(guarded(formats))
    app.command()(guarded(schema))
    app.command()(guarded(inspect))
