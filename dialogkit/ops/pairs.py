"""Ranked comparisons into reward-model pairs (InstructGPT's K-choose-2 and lighter strategies).

Rank direction, stated once and tested: **rank 0 is best**, a larger rank is worse; **a higher
score is better**. A comparison's ranks come from ``Comparison.ranking``; when it has no ranking
but its candidates carry scores, the scores rank them (higher score = better rank, equal scores
tie). Candidates with no rank (``None``) and candidates that tie never make a pair.

Strategies, over the ranked candidates grouped into rank levels (best level first):

- ``all``: every pair of differently ranked candidates (InstructGPT); K distinct ranks give
  K(K-1)/2 pairs.
- ``best-vs-rest``: each candidate of the best level against every worse candidate.
- ``adjacent``: each candidate of a level against each candidate of the next level.
- ``best-vs-worst``: each candidate of the best level against each of the worst level.

Pairs come out in a fixed order: chosen by (rank, position), then rejected by (rank, position).
Every pair carries ``group_id``: the comparison's ``id``, else :func:`content_id` of it, so all
pairs of one prompt can be kept together (in one batch, in one split). ``margin`` is ``none``,
``rank`` (rejected rank minus chosen rank, > 0) or ``score`` (chosen score minus rejected score).
The comparison's labeler, if any, goes to each pair's ``metadata["labeler"]`` (so splits can
group by it). Of the comparison's metadata, the scalar values (ids such as ``message_tree_id``,
language, user ids) are copied to every pair; nested values (per-message and per-candidate
details) stay on the comparison, so they are not repeated K(K-1)/2 times or written as columns
that trainers would misread (OASST's ``messages``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from dialogkit.errors import RecordError, UsageError
from dialogkit.models import Comparison, PreferencePair
from dialogkit.ops.ids import content_id
from dialogkit.registry import Reject

__all__ = [
    "MARGINS",
    "STRATEGIES",
    "PairReport",
    "comparison_pairs",
    "derived_metadata",
    "effective_ranks",
    "group_id",
    "iter_pairs",
    "pair_indices",
]

STRATEGIES: tuple[str, ...] = ("all", "best-vs-rest", "adjacent", "best-vs-worst")
MARGINS: tuple[str, ...] = ("none", "rank", "score")


def _check(strategy: str, margin: str) -> None:
    if strategy not in STRATEGIES:
        raise UsageError(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    if margin not in MARGINS:
        raise UsageError(f"margin must be one of {', '.join(MARGINS)}, got {margin!r}")


def derived_metadata(comp: Comparison) -> dict[str, Any]:
    """What a record made from ``comp`` inherits: its scalar metadata, and its labeler."""
    meta = {k: v for k, v in comp.metadata.items()
            if v is None or isinstance(v, (str, int, float, bool))}
    if comp.labeler is not None:
        meta["labeler"] = comp.labeler
    return meta


def group_id(comp: Comparison) -> str:
    """The comparison's id, else a content hash of it: the group every pair of it carries."""
    return comp.id if comp.id is not None else content_id(comp)


def effective_ranks(comp: Comparison) -> list[float | None]:
    """Rank per candidate (smaller = better, ``None`` = unranked): the ranking, else from scores."""
    if comp.ranking is not None:
        return [None if r is None else float(r) for r in comp.ranking]
    scores = [c.score for c in comp.candidates]
    if all(s is None for s in scores):
        return [None] * len(scores)
    levels = sorted({s for s in scores if s is not None}, reverse=True)
    place = {s: float(i) for i, s in enumerate(levels)}
    return [None if s is None else place[s] for s in scores]


def pair_indices(ranks: list[float | None], strategy: str = "all") -> list[tuple[int, int]]:
    """(chosen, rejected) candidate positions for ``ranks`` under ``strategy``, in fixed order.

    Example:
        >>> pair_indices([1, 0, 2], "all")
        [(1, 0), (1, 2), (0, 2)]
        >>> pair_indices([0, 1, 1, None], "adjacent")
        [(0, 1), (0, 2)]
    """
    _check(strategy, "none")
    ranked = sorted((r, i) for i, r in enumerate(ranks) if r is not None)
    levels = sorted({r for r, _ in ranked})
    if len(levels) < 2:
        return []
    by_level: dict[float, list[int]] = {lv: [] for lv in levels}
    for r, i in ranked:
        by_level[r].append(i)
    out: list[tuple[int, int]] = []
    if strategy == "all":
        for a, (ra, ia) in enumerate(ranked):
            for rb, ib in ranked[a + 1 :]:
                if rb != ra:
                    out.append((ia, ib))
    elif strategy == "best-vs-rest":
        for ia in by_level[levels[0]]:
            for rb, ib in ranked:
                if rb != levels[0]:
                    out.append((ia, ib))
    elif strategy == "adjacent":
        for lo, hi in zip(levels, levels[1:], strict=False):
            out.extend((ia, ib) for ia in by_level[lo] for ib in by_level[hi])
    else:  # best-vs-worst
        out.extend((ia, ib) for ia in by_level[levels[0]] for ib in by_level[levels[-1]])
    return out


def comparison_pairs(
    comp: Comparison, strategy: str = "all", margin: str = "none"
) -> list[PreferencePair]:
    """The preference pairs of one comparison (empty when fewer than two rank levels).

    Raises RecordError when ``margin="score"`` and a paired candidate has no score, or when a
    pair's chosen and rejected are identical (they carry no preference).

    Example:
        >>> from dialogkit.models import Candidate, Message
        >>> def cand(t): return Candidate(messages=[Message(role="assistant", content=t)])
        >>> comp = Comparison(id="q1", context=[Message(role="user", content="Hi?")],
        ...                   candidates=[cand("meh"), cand("Hello!")], ranking=[1, 0])
        >>> [(p.chosen[0].content, p.rejected[0].content, p.group_id)
        ...  for p in comparison_pairs(comp)]
        [('Hello!', 'meh', 'q1')]
    """
    _check(strategy, margin)
    ranks = effective_ranks(comp)
    gid = group_id(comp)
    meta = derived_metadata(comp)
    pairs = []
    for ci, ri in pair_indices(ranks, strategy):
        chosen, rejected = comp.candidates[ci], comp.candidates[ri]
        m: float | None = None
        if margin == "rank":
            m = float(ranks[ri] - ranks[ci])  # type: ignore[operator]
        elif margin == "score":
            if chosen.score is None or rejected.score is None:
                raise RecordError(
                    "margin=score needs a score on both candidates of a pair",
                    loc=f"$.candidates[{ci if chosen.score is None else ri}].score",
                    rule="missing score",
                )
            m = float(chosen.score - rejected.score)
        if chosen.messages == rejected.messages:
            raise RecordError(
                "chosen and rejected are identical, so they carry no preference",
                loc=f"$.candidates[{ri}]",
                rule="identical_pair",
            )
        pairs.append(
            PreferencePair.model_construct(
                kind="preference",
                id=f"{gid}:{ci}>{ri}",
                source=comp.source,
                metadata=dict(meta),
                prompt=list(comp.context),
                chosen=list(chosen.messages),
                rejected=list(rejected.messages),
                margin=m,
                group_id=gid,
            )
        )
    return pairs


@dataclass
class PairReport:
    """Counts of a pairing run: every input record is a comparison, another kind, or a reject."""

    read: int = 0
    comparisons: int = 0
    other_kinds: Counter[str] = field(default_factory=Counter)
    rejected: int = 0
    rejected_by_reason: Counter[str] = field(default_factory=Counter)
    without_pairs: int = 0
    pairs: int = 0

    def to_json(self) -> dict[str, Any]:
        """The counts as a JSON object (fixed key order)."""
        return {
            "read": self.read,
            "comparisons": self.comparisons,
            "other_kinds": dict(sorted(self.other_kinds.items())),
            "rejected": self.rejected,
            "rejected_by_reason": dict(sorted(self.rejected_by_reason.items())),
            "comparisons_without_pairs": self.without_pairs,
            "pairs": self.pairs,
        }


def iter_pairs(
    items: Iterable[Any],
    strategy: str = "all",
    margin: str = "none",
    report: PairReport | None = None,
) -> Iterator[PreferencePair | Reject]:
    """Pairs for every Comparison in ``items``; other kinds are counted and passed over.

    Rejects in ``items`` (from a reader) and comparisons that fail (see
    :func:`comparison_pairs`) come out as :class:`Reject` so the caller can report them.
    ``read == comparisons + sum(other_kinds) + rejects-from-reading``, and every comparison
    either gives pairs, gives none (``without_pairs``) or is rejected.
    """
    _check(strategy, margin)
    rep = report if report is not None else PairReport()
    for item in items:
        rep.read += 1
        if isinstance(item, Reject):
            rep.rejected += 1
            rep.rejected_by_reason[item.error.rule] += 1
            yield item
            continue
        if not isinstance(item, Comparison):
            rep.other_kinds[item.kind] += 1
            continue
        rep.comparisons += 1
        try:
            pairs = comparison_pairs(item, strategy, margin)
        except RecordError as exc:
            src = item.source
            rep.rejected += 1
            rep.rejected_by_reason[exc.rule] += 1
            yield Reject(
                exc.at(source=src.file if src else None, line=src.line if src else None,
                       format=src.format if src else None),
                record=item,
            )
            continue
        if not pairs:
            rep.without_pairs += 1
        rep.pairs += len(pairs)
        yield from pairs
