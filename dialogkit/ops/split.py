"""Group-aware, leak-free train/validation/test splits, assigned by a seeded hash.

Each record has a **group key**: with ``group_by=None`` its ``group_id`` (pairs, and the
``metadata["group_id"]`` that unpaired examples and prompts carry), else its ``id``, else its
normalized prompt. ``group_by="KEY"`` takes a record field of that name (``labeler``,
``trainer_id``, ...) or else ``metadata[KEY]`` (``message_tree_id``, a user id); a dotted
``a.b`` looks into nested metadata. A record without that key falls back to the default key
(counted in the report as ``missing_group_key``).

Groups that share a normalized prompt (system turns left out) are then joined, so one prompt
can never land in two splits. Each joined group goes to a split by
``blake2b(seed, smallest group key)`` read as a number in [0, 1): below ``train`` is train,
below ``train + validation`` is validation, else test. The assignment is deterministic and does
not depend on input order; the fractions are met in expectation, not exactly.
:func:`find_leaks` checks the result and :func:`split_records` raises RecordError on any leak.

:func:`split_records` holds the records in memory (``build`` does, recipes are small). A file of
any size is split in two passes by :class:`SplitPlan` and :func:`write_splits`: pass 1 reads
only the keys of each record, pass 2 reads the records again and writes each to its split
file as it comes; both give the same assignment.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dialogkit.errors import RecordError, UsageError
from dialogkit.ops.convert_kinds import prompt_messages
from dialogkit.ops.dedup import messages_text

__all__ = [
    "SPLITS",
    "SplitPlan",
    "SplitReport",
    "assign_groups",
    "find_leaks",
    "fractions",
    "group_key",
    "leak_key",
    "split_records",
    "write_splits",
]

SPLITS: tuple[str, ...] = ("train", "validation", "test")


def fractions(
    train: float | None = None, validation: float | None = None, test: float | None = None
) -> tuple[float, float, float]:
    """The three fractions: 0.8/0.1/0.1 when none is given; missing ones share the remainder."""
    given = {"train": train, "validation": validation, "test": test}
    if all(v is None for v in given.values()):
        return (0.8, 0.1, 0.1)
    for name, v in given.items():
        if v is not None and not 0.0 <= v <= 1.0:
            raise UsageError(f"--{name} must be between 0 and 1, got {v}")
    missing = [k for k, v in given.items() if v is None]
    rest = 1.0 - sum(v for v in given.values() if v is not None)
    for k in missing:
        given[k] = rest / len(missing)
    vals = (float(given["train"] or 0), float(given["validation"] or 0), float(given["test"] or 0))
    if any(v < -1e-9 for v in vals) or abs(sum(vals) - 1.0) > 1e-6:
        raise UsageError(
            f"split fractions must add up to 1, got train={vals[0]:g}, "
            f"validation={vals[1]:g}, test={vals[2]:g}"
        )
    return vals


def leak_key(record: Any) -> str:
    """The normalized prompt (system turns left out) that must not appear in two splits."""
    return messages_text(prompt_messages(record), normalize=True, include_system=False)


def _lookup(record: Any, key: str) -> Any:
    if "." not in key and key in type(record).model_fields and key != "metadata":
        direct = getattr(record, key)
        if direct is not None:
            return direct
    value: Any = record.metadata
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def group_key(record: Any, group_by: str | None = None) -> tuple[str, bool]:
    """(group key, whether ``group_by`` was found) for one record; see the module doc."""
    gk, found, _ = _keys(record, group_by)
    return gk, found


def _keys(record: Any, group_by: str | None) -> tuple[str, bool, str]:
    """(group key, whether ``group_by`` was found, leak key): the leak key is computed once."""
    lk = leak_key(record)
    if group_by:
        value = _lookup(record, group_by)
        if value is not None:
            return f"{group_by}={value}", True, lk
    gid = getattr(record, "group_id", None) or record.metadata.get("group_id")
    if isinstance(gid, str) and gid:
        return f"group={gid}", not group_by, lk
    if record.id:
        return f"id={record.id}", not group_by, lk
    return f"prompt={lk}", not group_by, lk


def _score(seed: int, key: str) -> float:
    digest = hashlib.blake2b(f"{seed}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _digest(key: str) -> bytes:
    return hashlib.blake2b(key.encode(), digest_size=16).digest()


class _Union:
    """Union-find over keys held as 16-byte digests; a root keeps its component's smallest key.

    The smallest key names the joined group (its hash assigns the split), so the text of a key
    is kept only while it is the smallest of its group; every other key costs one digest.
    """

    def __init__(self) -> None:
        self.parent: dict[bytes, bytes] = {}
        self.least: dict[bytes, str] = {}

    def _root(self, key: str) -> bytes:
        x = _digest(key)
        parent = self.parent
        if x not in parent:
            parent[x] = x
            self.least[x] = key
            return x
        return self.root_of(x)

    def root_of(self, x: bytes) -> bytes:
        """The root of node ``x`` (itself if unknown); path compression on the way."""
        parent = self.parent
        if x not in parent:
            return x
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    def find(self, x: str) -> str:
        """The smallest key of ``x``'s joined group (``x`` itself if it is new)."""
        return self.least[self._root(x)]

    def union(self, a: str, b: str) -> None:
        """Join the groups of ``a`` and ``b``."""
        ra, rb = self._root(a), self._root(b)
        if ra != rb:
            if self.least[rb] < self.least[ra]:
                ra, rb = rb, ra
            self.parent[rb] = ra
            del self.least[rb]


@dataclass
class SplitReport:
    """Counts per split, groups, records without the ``group_by`` key, and any leaks."""

    read: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    groups: int = 0
    joined_groups: int = 0
    missing_group_key: int = 0
    leaks: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The counts as a JSON object (fixed key order)."""
        return {
            "read": self.read,
            **{s: self.counts[s] for s in SPLITS},
            "groups": self.groups,
            "joined_groups": self.joined_groups,
            "missing_group_key": self.missing_group_key,
            "leaks": list(self.leaks),
        }


class SplitPlan:
    """A split in two passes over the records, holding keys, never records.

    Pass 1: :meth:`add` every record (its group key and leak key join the union-find), then
    :meth:`close`. Pass 2: :meth:`name` every record again, in any order, to get its split; the
    plan counts them and notes every prompt found in two splits (:meth:`leaks`). Memory grows
    with the number of distinct groups and prompts (a 16-byte digest each, plus the name of
    each joined group), not with the records or their size.
    """

    def __init__(
        self,
        fracs: tuple[float, float, float] = (0.8, 0.1, 0.1),
        group_by: str | None = None,
        seed: int = 0,
        report: SplitReport | None = None,
    ) -> None:
        self.group_by = group_by
        self.seed = seed
        self.report = report if report is not None else SplitReport()
        self.cut_train, self.cut_val = fracs[0], fracs[0] + fracs[1]
        self._uf = _Union()
        self._groups: set[bytes] = set()
        self._where: dict[bytes, int] = {}  # leak key digest -> bit set of the splits it is in
        self._leaked: dict[bytes, str] = {}  # leak key of the prompts seen in two splits

    def add(self, record: Any) -> None:
        """Pass 1: join the record's group with its prompt."""
        gk, found, lk = _keys(record, self.group_by)
        if self.group_by and not found:
            self.report.missing_group_key += 1
        self._uf.union(gk, "leak:" + lk)
        self._groups.add(_digest(gk))

    def close(self) -> None:
        """End of pass 1: count the groups and the joined groups."""
        rep = self.report
        rep.groups = len(self._groups)
        rep.joined_groups = len({self._uf.root_of(d) for d in self._groups})
        self._groups = set()

    def name(self, record: Any) -> str:
        """Pass 2: the record's split (``train``, ``validation`` or ``test``), counted."""
        gk, _, lk = _keys(record, self.group_by)
        x = _score(self.seed, self._uf.find(gk))
        name = "train" if x < self.cut_train else "validation" if x < self.cut_val else "test"
        self.report.counts[name] += 1
        self.report.read += 1
        self._see(lk, name)
        return name

    def _see(self, lk: str, name: str) -> None:
        d = _digest(lk)
        old = self._where.get(d, 0)
        new = old | (1 << SPLITS.index(name))
        if new != old:
            self._where[d] = new
            if old:
                self._leaked[d] = lk

    def leaks(self, limit: int = 10) -> list[str]:
        """Normalized prompts seen in more than one split (at most ``limit``), as messages."""
        out = []
        for d, k in sorted(self._leaked.items(), key=lambda item: item[1])[:limit]:
            shown = k if len(k) <= 80 else k[:77] + "..."
            where = self._where[d]
            names = [s for i, s in enumerate(SPLITS) if where >> i & 1]
            out.append(f"{shown!r} in {', '.join(names)}")
        return out


def assign_groups(
    record_sets: Sequence[Sequence[Any]],
    fracs: tuple[float, float, float] = (0.8, 0.1, 0.1),
    group_by: str | None = None,
    seed: int = 0,
    report: SplitReport | None = None,
) -> list[list[str]]:
    """The split name of every record of several sets, assigned jointly (one union of groups).

    Splitting an SFT, a reward and a prompt set together keeps one prompt in one split across
    all three.
    """
    plan = SplitPlan(fracs, group_by, seed, report)
    for records in record_sets:
        for rec in records:
            plan.add(rec)
    plan.close()
    return [[plan.name(rec) for rec in records] for records in record_sets]


def find_leaks(records: Sequence[Any], names: Sequence[str], limit: int = 10) -> list[str]:
    """Normalized prompts found in more than one split (at most ``limit``), as messages."""
    check = SplitPlan()
    for rec, name in zip(records, names, strict=True):
        check._see(leak_key(rec), name)
    return check.leaks(limit)


def _leak_error(leaks: list[str]) -> RecordError:
    return RecordError(f"{len(leaks)} prompt(s) found in two splits: {'; '.join(leaks)}",
                       rule="prompt in two splits")


def split_records(
    records: Sequence[Any],
    fracs: tuple[float, float, float] = (0.8, 0.1, 0.1),
    group_by: str | None = None,
    seed: int = 0,
    report: SplitReport | None = None,
) -> dict[str, list[Any]]:
    """Records by split name (``train``, ``validation``, ``test``), input order kept in each.

    Raises RecordError (rule ``prompt in two splits``) naming the prompts if any leaks.
    """
    rep = report if report is not None else SplitReport()
    names = assign_groups([records], fracs, group_by, seed, rep)[0]
    rep.leaks = find_leaks(records, names)
    if rep.leaks:
        raise _leak_error(rep.leaks)
    out: dict[str, list[Any]] = {s: [] for s in SPLITS}
    for rec, name in zip(records, names, strict=True):
        out[name].append(rec)
    return out


def write_splits(
    records: Iterable[Any], plan: SplitPlan, out: str | os.PathLike[str], format: str
) -> dict[str, int]:
    """Pass 2 of a streaming split: each record to ``out/{split}.jsonl`` as it comes.

    ``plan`` has seen every record in pass 1. The three files are written in one pass through
    ``format``'s writer and appear only if every record was written and no prompt is in two
    splits; otherwise RecordError is raised, no file is left, and a folder this call created
    is removed. Returns the records written per split.
    """
    from dialogkit.io import atomic_output, commit_together, make_sink
    from dialogkit.pipeline import Pipeline, Report, resolve_format
    from dialogkit.registry import Options, WriteContext

    fmt = resolve_format(format)
    folder = Path(out)
    created = [p for p in (folder, *folder.parents) if not p.exists()]
    runs: dict[str, Any] = {}
    try:
        # the three files appear together, or none does
        with commit_together(), contextlib.ExitStack() as stack:
            for s in SPLITS:
                sink = make_sink(stack.enter_context(atomic_output(folder / f"{s}.jsonl")), "jsonl")
                ctx = WriteContext(options=Options())
                runs[s] = Pipeline(fmt, ctx, sink, Report(format_out=fmt.name), "raise")
            name = plan.name
            for rec in records:
                runs[name(rec)].one(rec)
            plan.report.leaks = plan.leaks()
            if plan.report.leaks:
                raise _leak_error(plan.report.leaks)
            for run in runs.values():
                run.sink.close()
    except BaseException:
        for p in created:  # deepest first; only folders left empty
            with contextlib.suppress(OSError):
                p.rmdir()
        raise
    finish = getattr(fmt, "finish", None)  # after: each call reads the side file the last wrote
    if finish is not None:
        for s in SPLITS:
            finish(folder / f"{s}.jsonl", runs[s].ctx)
    return {s: runs[s].rep.written for s in SPLITS}
