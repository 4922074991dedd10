"""The reward-model pipeline commands: pairs, merge, split, dedup, build.

Each prints its counts to stderr and writes atomically. Only typer and the stdlib are imported
at module level so ``dialogkit --help`` stays fast; the library is imported inside commands.

``pairs``, ``dedup`` and ``split`` stream, so memory stays flat whatever the input size:
``pairs`` writes each comparison's pairs as they come; ``dedup`` keeps a 16-byte digest per
distinct record; ``split`` reads its input twice (pass 1: group and prompt keys only; pass 2:
each record to its split file), and spools stdin to a temporary file to read it twice.
Rejects are counted by reason, never held (the first three are shown).

``merge`` writes ``--to openai`` by default: OpenAI's chat JSONL is the chat format most SFT
trainers read, and its writer keeps each record's metadata (and so ``provenance``) as extra keys.
``split`` and ``dedup`` write in the input's own format (``dialogkit`` if that one is read-only).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from dialogkit.cli.common import InPlaceOpt, err, guarded, progress_counter

__all__ = ["register"]


class Strategy(str, Enum):
    """Which pairs a ranking gives."""

    all = "all"
    best_vs_rest = "best-vs-rest"
    adjacent = "adjacent"
    best_vs_worst = "best-vs-worst"


class Margin(str, Enum):
    """The margin each pair carries."""

    none = "none"
    rank = "rank"
    score = "score"


class DedupBy(str, Enum):
    """What makes two records duplicates."""

    prompt = "prompt"
    record = "record"


def _writable(fmt: Any) -> str:
    """The input format's name if it can be written, else ``dialogkit``."""
    return fmt.name if fmt.writes else "dialogkit"


class _Rejects:
    """Rejects counted by rule; only the first three are kept (for their messages)."""

    def __init__(self) -> None:
        from collections import Counter

        self.by_rule: Counter[str] = Counter()
        self.first: list[Any] = []

    def add(self, rej: Any) -> None:
        self.by_rule[rej.error.rule] += 1
        if len(self.first) < 3:
            self.first.append(rej.error)

    def __len__(self) -> int:
        return sum(self.by_rule.values())

    def report(self) -> None:
        for rule, n in sorted(self.by_rule.items()):
            err(f"  rejected {n}: {rule}")
        for e in self.first:
            err(f"  {e}")


@contextlib.contextmanager
def _rereadable(input: str) -> Iterator[Callable[..., Iterator[Any]]]:
    """``outcomes(format, on_format=None)``: the records and Rejects of ``input``, each call anew.

    A file is simply read again. Standard input can be read only once, so it is first copied to
    a temporary file (removed at the end): disk, not memory, holds it. Its rows keep the name
    ``-`` (in provenance, errors and detection messages), as if read from stdin directly.
    """
    from dialogkit.api import iter_outcomes

    if input != "-":
        yield lambda fmt, on_format=None: iter_outcomes(input, fmt, on_format=on_format)
        return
    import itertools
    import shutil
    import tempfile

    from dialogkit.detect import SAMPLE_ROWS, detect_format
    from dialogkit.io import Row, read_rows, remove_stale, stdin_binary, temp_prefix

    remove_stale(tempfile.gettempdir(), "dialogkit-stdin-")  # left by killed runs
    with tempfile.TemporaryDirectory(prefix=temp_prefix("dialogkit-stdin-")) as tmp:
        spool = str(Path(tmp) / "stdin")
        with open(spool, "wb") as f:
            shutil.copyfileobj(stdin_binary(), f, 1 << 20)

        def rows() -> Iterator[Any]:
            for r in read_rows(spool):
                r.source = "-"  # a Row or a ParseError: either way from stdin
                yield r

        def outcomes(fmt: Any, on_format: Callable[[Any], None] | None = None) -> Iterator[Any]:
            it: Iterator[Any] = rows()
            if fmt == "auto":
                head = list(itertools.islice(it, SAMPLE_ROWS))
                fmt = detect_format([r.data for r in head if isinstance(r, Row)], "-")
                it = itertools.chain(head, it)
            return iter_outcomes(it, fmt, on_format=on_format)

        yield outcomes


def pairs(
    input: Annotated[str, typer.Argument(help="Input file with comparisons, or - for stdin.")],
    output: Annotated[str, typer.Argument(help="Output file, or - for stdout.")],
    from_: Annotated[
        str, typer.Option("--from", "-f", help="Input format, or auto to detect it.")
    ] = "auto",
    strategy: Annotated[
        Strategy, typer.Option(help="all (InstructGPT), best-vs-rest, adjacent or best-vs-worst.")
    ] = Strategy.all,
    to: Annotated[str, typer.Option("--to", "-t", help="Output format name.")] = "",
    margin: Annotated[
        Margin, typer.Option(help="none, rank (rank gap) or score (score difference).")
    ] = Margin.none,
    in_place: InPlaceOpt = False,
) -> None:
    """Turn ranked comparisons into preference pairs (rank 0 = best; higher score = better)."""
    from dialogkit.api import iter_outcomes, write
    from dialogkit.errors import UsageError
    from dialogkit.ops.pairs import PairReport, iter_pairs
    from dialogkit.registry import Reject

    if not to:
        raise UsageError("--to FORMAT is required (see `dialogkit formats`)")
    output = _output_checked([input], output, in_place)
    prep = PairReport()
    rejects = _Rejects()

    def good(update: Callable[[int], None]) -> Iterator[Any]:
        for item in iter_pairs(iter_outcomes(input, from_), strategy.value, margin.value, prep):
            update(prep.read)
            if isinstance(item, Reject):
                rejects.add(item)
                continue
            yield item
        if prep.comparisons == 0 and prep.other_kinds:
            raise _nothing_to_pair(input, prep.other_kinds)

    # streams: each comparison's pairs are written as they come; only counts are kept
    with progress_counter(f"pairing {input}") as update:
        rep = write(good(update), output, format=to)
    others = sum(prep.other_kinds.values())
    err(
        f"pairs ({strategy.value}): read {prep.read} records: {prep.comparisons} comparisons, "
        f"{others} other records skipped, {prep.rejected} rejected; "
        f"{prep.without_pairs} comparisons gave no pair; wrote {rep.written} pairs"
    )
    for kind, n in sorted(prep.other_kinds.items()):
        err(f"  skipped {n}: kind {kind}")
    rejects.report()


def _nothing_to_pair(input: str, kinds: Any) -> Any:
    """The error for an input with no comparison at all: say what it holds, and what to run."""
    from dialogkit.errors import RecordError

    held = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
    hint = ""
    if "preference" in kinds:
        hint = (f" They are already pairs: `dialogkit convert {input} OUTPUT --to "
                "trl-preference` writes them as TRL preference data.")
    elif "unpaired" in kinds:
        hint = (f" They are unpaired examples: `dialogkit convert {input} OUTPUT --to "
                "trl-unpaired` writes them as they are.")
    return RecordError(f"{input} holds no ranked comparison to pair ({held}).{hint}",
                       rule="nothing to pair")


def merge(
    inputs: Annotated[list[str], typer.Argument(help="Input files, then the OUTPUT file last.")],
    weight: Annotated[
        list[str] | None,
        typer.Option(help="SOURCE=W: repeat/sample factor of an input (path, file name or stem)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for fractional weights.")] = 0,
    to: Annotated[str, typer.Option("--to", "-t", help="Output chat format.")] = "openai",
    in_place: InPlaceOpt = False,
) -> None:
    """Merge the inputs into one chat-format SFT set (the last path is OUTPUT), with provenance."""
    from dialogkit.api import write
    from dialogkit.errors import UsageError
    from dialogkit.ops.merge import MergeReport, MergeSource
    from dialogkit.ops.merge import merge as run_merge
    from dialogkit.registry import Reject

    if len(inputs) < 2:
        raise UsageError("merge needs at least one INPUT and an OUTPUT")
    *srcs, output = inputs
    output = _output_checked(srcs, output, in_place)
    weights = _weights(weight, srcs)
    mrep = MergeReport()
    rejects = _Rejects()

    def good() -> Any:
        sources = [MergeSource(path=p, weight=weights.get(p, 1.0), name=p) for p in srcs]
        for item in run_merge(sources, seed=seed, report=mrep):
            if isinstance(item, Reject):
                rejects.add(item)
                continue
            yield item

    with progress_counter("merging"):
        rep = write(good(), output, format=to)
    for s in mrep.sources:
        err(f"{s.name} ({s.format}, weight {s.weight:g}): read {s.read}, converted "
            f"{s.converted}, rejected {s.rejected}, written {s.written}")
    err(f"merge: wrote {rep.written} records to {output}")
    rejects.report()


def _output_checked(inputs: list[str], output: str, in_place: bool) -> str:
    """``output`` after the shared path check (an input as OUTPUT needs ``--in-place``);
    with ``--in-place`` through a symlink, the file it points to (the link is kept)."""
    import os

    from dialogkit.io import check_paths

    check_paths(inputs, [("OUTPUT", output)], in_place=in_place)
    if in_place and os.path.islink(output):
        return os.path.realpath(output)
    return output


def _weights(items: list[str] | None, srcs: list[str]) -> dict[str, float]:
    from dialogkit.errors import UsageError

    out: dict[str, float] = {}
    for item in items or []:
        name, sep, value = item.rpartition("=")
        if not sep or not name:
            raise UsageError(f"--weight takes SOURCE=W, got {item!r}")
        try:
            w = float(value)
        except ValueError:
            raise UsageError(f"--weight {item!r}: W must be a number") from None
        matches = [p for p in srcs if name in (p, Path(p).name, Path(p).stem)]
        if len(matches) != 1:
            what = "matches no input" if not matches else "matches several inputs"
            raise UsageError(f"--weight {item!r}: {name!r} {what} (inputs: {', '.join(srcs)})")
        out[matches[0]] = w
    return out


def split(
    input: Annotated[str, typer.Argument(help="Input file, or - for stdin.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for train/validation/test.jsonl.")],
    train: Annotated[float | None, typer.Option(help="Train fraction (default 0.8).")] = None,
    validation: Annotated[
        float | None, typer.Option(help="Validation fraction (default 0.1).")
    ] = None,
    test: Annotated[float | None, typer.Option(help="Test fraction (default 0.1).")] = None,
    group_by: Annotated[
        str | None,
        typer.Option(help="Group key: a record field or metadata key (e.g. message_tree_id)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the hash that assigns groups.")] = 0,
) -> None:
    """Split INPUT group-aware into OUT/{train,validation,test}.jsonl in the input's format."""
    from dialogkit.errors import RecordError
    from dialogkit.io import check_paths
    from dialogkit.ops.split import SPLITS, SplitPlan, SplitReport, fractions, write_splits
    from dialogkit.registry import Reject

    check_paths([input], [(f"--out {s}", out / f"{s}.jsonl") for s in SPLITS], main_output=False)
    fracs = fractions(train, validation, test)
    srep = SplitReport()
    plan = SplitPlan(fracs, group_by, seed, srep)
    found: list[Any] = []
    rejects = _Rejects()
    with _rereadable(input) as outcomes:
        # pass 1: only the keys of each record (for the group -> split assignment)
        with progress_counter(f"reading {input}") as update:
            for n, item in enumerate(outcomes("auto", on_format=found.append), 1):
                if isinstance(item, Reject):
                    rejects.add(item)
                else:
                    plan.add(item)
                update(n)
        if rejects:
            rejects.report()
            raise RecordError(f"{len(rejects)} invalid record(s) in {input}; fix or convert "
                              "first with `dialogkit convert --on-error skip`",
                              rule="invalid input")
        plan.close()
        fmt = found[0] if found else None
        name = _writable(fmt) if fmt is not None else "dialogkit"
        # pass 2: the records again, each written to its split as it comes
        with progress_counter(f"splitting {input}") as update:
            def records() -> Iterator[Any]:
                for n, item in enumerate(outcomes(fmt if fmt is not None else "auto"), 1):
                    update(n)
                    if isinstance(item, Reject):  # the input changed since pass 1
                        raise item.error
                    yield item

            try:
                write_splits(records(), plan, out, name)
            except RecordError:
                for leak in srep.leaks:
                    err(f"  leak: {leak}")
                raise
    if fmt is not None and name != fmt.name:
        err(f"  {fmt.name} cannot be written: the splits are in {name}")
    err(f"split: read {srep.read} records ({name}), {srep.groups} groups joined into "
        f"{srep.joined_groups}; train {srep.counts['train']}, validation "
        f"{srep.counts['validation']}, test {srep.counts['test']}; no prompt in two splits")
    if group_by and srep.missing_group_key:
        err(f"  {srep.missing_group_key} records had no {group_by!r}: grouped by id or prompt")


def dedup(
    input: Annotated[str, typer.Argument(help="Input file, or - for stdin.")],
    output: Annotated[str, typer.Argument(help="Output file, or - for stdout.")],
    by: Annotated[DedupBy, typer.Option(help="Compare whole records or prompts.")] = DedupBy.record,
    normalize: Annotated[
        bool, typer.Option("--normalize", help="Compare after NFKC, case folding, whitespace.")
    ] = False,
    in_place: InPlaceOpt = False,
) -> None:
    """Remove duplicate records of INPUT (the first one is kept), in the input's format."""
    from dialogkit.api import iter_outcomes, write
    from dialogkit.ops.dedup import DedupReport
    from dialogkit.ops.dedup import dedup as run_dedup
    from dialogkit.registry import Reject

    output = _output_checked([input], output, in_place)
    found: list[Any] = []
    head = iter_outcomes(input, "auto", on_format=found.append)
    rejects = _Rejects()
    first = next(head, None)
    fmt = found[0] if found else None

    def records(update: Callable[[int], None]) -> Iterator[Any]:
        import itertools

        for n, item in enumerate(itertools.chain([first] if first is not None else [], head), 1):
            update(n)
            if isinstance(item, Reject):
                rejects.add(item)
                continue
            yield item

    # streams: only a 16-byte digest per distinct record is kept, never the records
    drep = DedupReport()
    with progress_counter(f"dedup {input}") as update:
        write(run_dedup(records(update), by.value, normalize, drep), output,
              format=_writable(fmt) if fmt is not None else "dialogkit")
    err(f"dedup by {by.value}{' (normalized)' if normalize else ''}: read "
        f"{drep.read + len(rejects)}, kept {drep.kept}, removed {drep.removed} duplicates, "
        f"rejected {len(rejects)}")
    rejects.report()


def build(
    recipe: Annotated[Path, typer.Argument(help="The recipe YAML file.")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Output folder (default: the recipe's output).")
    ] = None,
) -> None:
    """Build the SFT, reward-model and RL prompt sets of a recipe, split, with a report."""
    from dialogkit.ops.build import build as run_build

    with progress_counter(f"building {recipe}"):
        report = run_build(recipe, out)
    for name, src in report["sources"].items():
        err(f"source {name} ({src['format']}): read {src['read']}, rejected {src['rejected']}")
    for name, s in report["sets"].items():
        w = s["written"]
        err(f"{name} ({s['format']}): {s['records']} made, {sum(w.values())} written: "
            f"train {w['train']}, validation {w['validation']}, test {w['test']}")
    err(f"report: {report['output']}/report.json")


def register(app: typer.Typer) -> None:
    """Add the pipeline commands to the ``dialogkit`` app."""
    app.command()(guarded(pairs))
    app.command()(guarded(merge))
    app.command()(guarded(split))
    app.command()(guarded(dedup))
    app.command()(guarded(build))
