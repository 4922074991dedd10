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
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dialogkit.errors import RecordError, UsageError
from dialogkit.ops.convert_kinds import prompt_messages
from dialogkit.ops.dedup import messages_text

__all__ = [
    "SPLITS",
    "SplitReport",
    "assign_groups",
    "find_leaks",
    "fractions",
    "group_key",
    "leak_key",
    "split_records",
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
    if group_by:
        value = _lookup(record, group_by)
        if value is not None:
            return f"{group_by}={value}", True
    gid = getattr(record, "group_id", None) or record.metadata.get("group_id")
    if isinstance(gid, str) and gid:
        return f"group={gid}", not group_by
    if record.id:
        return f"id={record.id}", not group_by
    return f"prompt={leak_key(record)}", not group_by


def _score(seed: int, key: str) -> float:
    digest = hashlib.blake2b(f"{seed}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class _Union:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            lo, hi = sorted((ra, rb))  # the smallest key names the joined group
            self.parent[hi] = lo


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
    rep = report if report is not None else SplitReport()
    uf = _Union()
    keys: list[list[str]] = []
    for records in record_sets:
        row = []
        for rec in records:
            gk, found = group_key(rec, group_by)
            if group_by and not found:
                rep.missing_group_key += 1
            uf.union(gk, "leak:" + leak_key(rec))
            row.append(gk)
        keys.append(row)
    group_keys = {k for row in keys for k in row}
    rep.groups = len(group_keys)
    roots = {uf.find(k) for k in group_keys}
    rep.joined_groups = len(roots)
    cut_train, cut_val = fracs[0], fracs[0] + fracs[1]
    out: list[list[str]] = []
    for row in keys:
        names = []
        for k in row:
            x = _score(seed, uf.find(k))
            name = "train" if x < cut_train else "validation" if x < cut_val else "test"
            names.append(name)
            rep.counts[name] += 1
            rep.read += 1
        out.append(names)
    return out


def find_leaks(records: Sequence[Any], names: Sequence[str], limit: int = 10) -> list[str]:
    """Normalized prompts found in more than one split (at most ``limit``), as messages."""
    where: dict[str, set[str]] = {}
    for rec, name in zip(records, names, strict=True):
        where.setdefault(leak_key(rec), set()).add(name)
    leaks = [k for k, v in where.items() if len(v) > 1]
    out = []
    for k in sorted(leaks)[:limit]:
        shown = k if len(k) <= 80 else k[:77] + "..."
        out.append(f"{shown!r} in {', '.join(s for s in SPLITS if s in where[k])}")
    return out


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
        raise RecordError(
            f"{len(rep.leaks)} prompt(s) found in two splits: {'; '.join(rep.leaks)}",
            rule="prompt in two splits",
        )
    out: dict[str, list[Any]] = {s: [] for s in SPLITS}
    for rec, name in zip(records, names, strict=True):
        out[name].append(rec)
    return out

