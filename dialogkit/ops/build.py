"""``dialogkit build RECIPE.yaml``: the three InstructGPT data sets from one recipe file.

From sources with formats and weights it builds an SFT set (chat format), a reward-model set
(pairs) and an RL prompt set, removes duplicates inside each set and between sets where the
recipe says, splits all three together group-aware (one prompt never lands in two splits, in
any set), writes ``OUT/<set>/{train,validation,test}.jsonl`` and ``OUT/report.json``.

The recipe schema (every key but ``sources`` is optional; unknown keys are errors)::

    output: out            # output folder, relative to the recipe file (default: out)
    seed: 0                # drives weights' sampling and the split hash
    on_error: skip         # skip: bad records are counted in the report; raise: stop
    sources:               # name -> source; names appear in the report
      demos:
        path: demos.jsonl  # relative to the recipe file
        format: alpaca     # any readable format, or auto (default)
        weight: 2          # SFT repeat/sample factor (see dialogkit.ops.merge), default 1
        use: [sft, prompts]  # the sets it feeds (default: every set the recipe builds)
    sft:     {format: openai}                                   # default format: openai
    reward:  {format: trl-preference, strategy: all, margin: none}  # default format: dialogkit
    prompts: {format: trl-prompt}                               # default format: dialogkit
    dedup:
      normalize: true      # compare after NFKC, case folding, whitespace collapsing
      within: record       # record | prompt | none: duplicates inside each set
      against:             # set -> sets whose prompts it must not share
        prompts: [sft, reward]
    split: {train: 0.8, validation: 0.1, test: 0.1, group_by: null}

A set whose section is left out is not built. What goes into each set: ``sft`` takes every
record as a conversation (comparisons give their best candidate, see
:func:`dialogkit.ops.merge.to_sft`); ``reward`` takes preference pairs as they are and turns
comparisons into pairs (other kinds are counted as skipped); ``prompts`` takes the prompt of
every record (:func:`dialogkit.ops.convert_kinds.to_prompt`). Weights apply to the SFT set,
after duplicates are removed, so repeats are never taken for duplicates.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from dialogkit.errors import RecordError, UsageError
from dialogkit.registry import Reject

__all__ = ["Recipe", "build", "load_recipe"]

SetName = Literal["sft", "reward", "prompts"]
SET_NAMES: tuple[str, ...] = ("sft", "reward", "prompts")
_STRICT = ConfigDict(extra="forbid")


class SourceSpec(BaseModel):
    """One input file of the recipe."""

    model_config = _STRICT
    path: str
    format: str = "auto"
    weight: float = Field(default=1.0, ge=0)
    use: list[SetName] | None = None


class SetSpec(BaseModel):
    """An output set: its format."""

    model_config = _STRICT
    format: str


class RewardSpec(SetSpec):
    """The reward-model set: its format, pairing strategy and margin."""

    format: str = "dialogkit"
    strategy: Literal["all", "best-vs-rest", "adjacent", "best-vs-worst"] = "all"
    margin: Literal["none", "rank", "score"] = "none"


class SftSpec(SetSpec):
    """The SFT set (chat format)."""

    format: str = "openai"


class PromptSpec(SetSpec):
    """The RL prompt set."""

    format: str = "dialogkit"


class DedupSpec(BaseModel):
    """Duplicate removal inside and between sets."""

    model_config = _STRICT
    normalize: bool = True
    within: Literal["record", "prompt", "none"] = "record"
    against: dict[SetName, list[SetName]] = Field(default_factory=dict)


class SplitSpec(BaseModel):
    """Split fractions (missing ones share the remainder) and the group key."""

    model_config = _STRICT
    train: float | None = None
    validation: float | None = None
    test: float | None = None
    group_by: str | None = None


class Recipe(BaseModel):
    """A whole build: sources, the sets to build, dedup and split settings."""

    model_config = _STRICT
    output: str = "out"
    seed: int = 0
    on_error: Literal["skip", "raise"] = "skip"
    sources: dict[str, SourceSpec]
    sft: SftSpec | None = None
    reward: RewardSpec | None = None
    prompts: PromptSpec | None = None
    dedup: DedupSpec = Field(default_factory=DedupSpec)
    split: SplitSpec = Field(default_factory=SplitSpec)

    @field_validator("sources")
    @classmethod
    def _some_sources(cls, v: dict[str, SourceSpec]) -> dict[str, SourceSpec]:
        if not v:
            raise ValueError("at least one source is needed")
        return v

    def built_sets(self) -> list[str]:
        """The sets this recipe builds, in a fixed order."""
        return [s for s in SET_NAMES if getattr(self, s) is not None]


def _key_path(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


def load_recipe(path: str | os.PathLike[str]) -> Recipe:
    """Read and validate a recipe; every problem is a UsageError naming the recipe key."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise UsageError(f"No such recipe file: {p}")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise UsageError(f"{p}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise UsageError(f"{p}: a recipe is a mapping with at least `sources`")
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as exc:
        lines = [f"{_key_path(e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False)]
        raise UsageError(f"{p}: invalid recipe: " + "; ".join(lines)) from exc
    _check_formats(recipe, p)
    return recipe


def _check_formats(recipe: Recipe, where: Path) -> None:
    from dialogkit.registry import get_format

    built = recipe.built_sets()
    for name, src in recipe.sources.items():
        if src.format != "auto":
            try:
                fmt = get_format(src.format)
            except UsageError as exc:
                raise UsageError(f"{where}: sources.{name}.format: {exc}") from exc
            if not fmt.reads:
                raise UsageError(f"{where}: sources.{name}.format: {fmt.name!r} cannot be read")
        for used in src.use or []:
            if used not in built:
                raise UsageError(
                    f"{where}: sources.{name}.use: the recipe has no `{used}` section")
    for s in built:
        spec = getattr(recipe, s)
        try:
            fmt = get_format(spec.format)
        except UsageError as exc:
            raise UsageError(f"{where}: {s}.format: {exc}") from exc
        if not fmt.writes:
            raise UsageError(f"{where}: {s}.format: {fmt.name!r} cannot be written")
    for s, others in recipe.dedup.against.items():
        for o in [s, *others]:
            if o not in built:
                raise UsageError(f"{where}: dedup.against.{s}: the recipe has no `{o}` section")


def _read_source(name: str, spec: SourceSpec, base: Path, on_error: str,
                 counts: dict[str, Any]) -> list[Any]:
    from dialogkit.pipeline import iter_outcomes

    path = spec.path if os.path.isabs(spec.path) else str(base / spec.path)
    if not Path(path).is_file():
        raise UsageError(f"sources.{name}.path: no such file: {path}")
    records = []
    rejected: Counter[str] = Counter()

    def seen(fmt: Any) -> None:
        counts["format"] = fmt.name

    for item in iter_outcomes(path, spec.format, on_format=seen):
        if isinstance(item, Reject):
            if on_error == "raise":
                raise item.error
            rejected[item.error.rule] += 1
            continue
        if item.source is not None:  # provenance names the file as the recipe does
            item.source = item.source.model_copy(update={"file": spec.path})
        records.append(item)
    counts.update(read=len(records) + sum(rejected.values()), records=len(records),
                  rejected=sum(rejected.values()),
                  rejected_by_reason=dict(sorted(rejected.items())))
    return records


def build(recipe_path: str | os.PathLike[str], output: str | os.PathLike[str] | None = None
          ) -> dict[str, Any]:
    """Run a recipe; return the report (also written to ``OUT/report.json``).

    ``output`` overrides the recipe's ``output`` (a path relative to the current folder).
    """
    from dialogkit.ops.convert_kinds import to_prompt
    from dialogkit.ops.dedup import DedupReport, dedup, prompt_key
    from dialogkit.ops.merge import sample_positions, to_sft
    from dialogkit.ops.pairs import PairReport, iter_pairs
    from dialogkit.ops.split import SPLITS, SplitReport, assign_groups, find_leaks, fractions
    from dialogkit.pipeline import write

    recipe = load_recipe(recipe_path)
    base = Path(recipe_path).resolve().parent
    out_dir = Path(output) if output is not None else base / recipe.output
    built = recipe.built_sets()
    fracs = fractions(recipe.split.train, recipe.split.validation, recipe.split.test)
    source_reports: dict[str, dict[str, Any]] = {}
    sets: dict[str, list[Any]] = {s: [] for s in built}
    origin: dict[str, list[str]] = {s: [] for s in built}  # source name of each record
    set_reports: dict[str, dict[str, Any]] = {s: {} for s in built}

    def fail_or_count(rep: dict[str, Any], err: RecordError) -> None:
        if recipe.on_error == "raise":
            raise err
        by = rep.setdefault("rejected_by_reason", {})
        by[err.rule] = by.get(err.rule, 0) + 1
        rep["rejected"] = rep.get("rejected", 0) + 1

    for name, spec in recipe.sources.items():
        counts: dict[str, Any] = {"path": spec.path, "format": spec.format, "weight": spec.weight}
        source_reports[name] = counts
        records = _read_source(name, spec, base, recipe.on_error, counts)
        uses = spec.use if spec.use is not None else built
        counts["use"] = list(uses)
        for s in uses:
            srep = set_reports[s]
            if s == "sft":
                for rec in records:
                    try:
                        sets[s].append(to_sft(rec))
                        origin[s].append(name)
                    except RecordError as exc:
                        fail_or_count(srep, exc)
            elif s == "reward":
                prep = PairReport()
                for item in iter_pairs(
                    (r for r in records if r.kind != "preference"),
                    recipe.reward.strategy,  # type: ignore[union-attr]
                    recipe.reward.margin,  # type: ignore[union-attr]
                    prep,
                ):
                    if isinstance(item, Reject):
                        fail_or_count(srep, item.error)
                        continue
                    sets[s].append(item)
                    origin[s].append(name)
                for rec in records:
                    if rec.kind == "preference":
                        sets[s].append(rec)
                        origin[s].append(name)
                        prep.other_kinds["preference (kept as is)"] += 1
                srep.setdefault("pairing", {})[name] = prep.to_json()
            else:
                for rec in records:
                    try:
                        sets[s].append(to_prompt(rec))
                        origin[s].append(name)
                    except RecordError as exc:
                        fail_or_count(srep, exc)

    norm = recipe.dedup.normalize
    for s in built:
        set_reports[s]["records"] = len(sets[s])
        if recipe.dedup.within != "none":
            drep = DedupReport()
            keep = {id(r) for r in dedup(sets[s], recipe.dedup.within, norm, drep)}
            sets[s], origin[s] = _filter(sets[s], origin[s], keep)
            set_reports[s]["duplicates_removed"] = drep.removed
    for s, others in recipe.dedup.against.items():
        taken = {prompt_key(r, norm) for o in others for r in sets[o]}
        keep = {id(r) for r in sets[s] if prompt_key(r, norm) not in taken}
        removed = len(sets[s]) - len(keep)
        sets[s], origin[s] = _filter(sets[s], origin[s], keep)
        set_reports[s]["removed_against"] = removed
    if "sft" in sets:  # weights, after dedup so repeats are not taken for duplicates
        weighted: list[Any] = []
        for name, spec in recipe.sources.items():
            mine = [r for r, o in zip(sets["sft"], origin["sft"], strict=True) if o == name]
            times = sample_positions(len(mine), spec.weight, recipe.seed, name)
            for rec, t in zip(mine, times, strict=True):
                weighted.extend([rec] * t)
        set_reports["sft"]["after_weights"] = len(weighted)
        sets["sft"] = weighted

    split_rep = SplitReport()
    names = assign_groups([sets[s] for s in built], fracs, recipe.split.group_by, recipe.seed,
                          split_rep)
    leaks = find_leaks([r for s in built for r in sets[s]], [n for row in names for n in row])
    split_rep.leaks = leaks
    if leaks:
        raise RecordError(f"{len(leaks)} prompt(s) found in two splits: {'; '.join(leaks)}",
                          rule="prompt in two splits")
    for s, row in zip(built, names, strict=True):
        spec = getattr(recipe, s)
        by_split: dict[str, list[Any]] = {n: [] for n in SPLITS}
        for rec, n in zip(sets[s], row, strict=True):
            by_split[n].append(rec)
        written: dict[str, int] = {}
        for n in SPLITS:
            rep = write(by_split[n], out_dir / s / f"{n}.jsonl", format=spec.format)
            written[n] = rep.written
        set_reports[s].update(format=getattr(recipe, s).format, written=written)

    report = {
        "recipe": str(recipe_path),
        "output": str(output) if output is not None else recipe.output,
        "seed": recipe.seed,
        "sources": source_reports,
        "sets": set_reports,
        "split": {"fractions": list(fracs), "group_by": recipe.split.group_by,
                  **{k: v for k, v in split_rep.to_json().items() if k not in SPLITS}},
    }
    from dialogkit.io import atomic_output

    with atomic_output(out_dir / "report.json") as f:
        f.write(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
    return report


def _filter(records: list[Any], origin: list[str], keep: set[int]) -> tuple[list[Any], list[str]]:
    pairs = [(r, o) for r, o in zip(records, origin, strict=True) if id(r) in keep]
    return [r for r, _ in pairs], [o for _, o in pairs]
