"""Several sources into one chat-format SFT set, weighted, with provenance on every record.

Every record becomes a :class:`~dialogkit.models.Conversation`: demonstrations as (system,) user,
assistant; trainer dialogues as their messages (authors and trainer id kept in ``metadata``);
comparisons as the context plus the best-ranked candidate; preference pairs as prompt plus
chosen. Other kinds are rejected with their reason.

Provenance: ``source`` (file, line, format) is kept, and copied to ``metadata["provenance"]``
so it survives chat formats that have no place for it (their writers put metadata back as extra
keys).

Weights are repeat/sample factors per source, applied deterministically: weight ``W`` writes
every record ``floor(W)`` times (copies side by side), then ``round(frac(W) * n)`` of the
source's ``n`` records once more, chosen by a seeded hash of (source name, record position), so
``W = 0.5`` keeps half the records, ``W = 2`` doubles them, ``W = 1.5`` doubles half, and
``W = 0`` leaves the source out. The output keeps source order and record order; same inputs,
weights and seed give the same bytes.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from dialogkit.errors import RecordError, UsageError
from dialogkit.models import (
    Comparison,
    Conversation,
    InstructionDemo,
    Message,
    PreferencePair,
    TrainerDialogue,
)
from dialogkit.ops.chat import demo_to_conversation
from dialogkit.ops.convert_kinds import comparison_to_conversation
from dialogkit.registry import Reject

__all__ = ["MergeReport", "MergeSource", "merge", "sample_positions", "to_sft"]


@dataclass
class MergeSource:
    """One input of a merge: a path (or rows), its format, a weight and a name for reports."""

    path: Any
    format: str = "auto"
    weight: float = 1.0
    name: str | None = None

    def label(self) -> str:
        """The name used in reports and in the sampling hash (the path when unnamed)."""
        return self.name if self.name is not None else str(self.path)


@dataclass
class SourceCounts:
    """Per-source counts: ``read == converted + rejected``; ``written`` after weighting."""

    name: str
    format: str | None = None
    weight: float = 1.0
    read: int = 0
    converted: int = 0
    rejected: int = 0
    rejected_by_reason: Counter[str] = field(default_factory=Counter)
    written: int = 0

    def to_json(self) -> dict[str, Any]:
        """The counts as a JSON object (fixed key order)."""
        return {
            "name": self.name, "format": self.format, "weight": self.weight, "read": self.read,
            "converted": self.converted, "rejected": self.rejected,
            "rejected_by_reason": dict(sorted(self.rejected_by_reason.items())),
            "written": self.written,
        }


@dataclass
class MergeReport:
    """Counts of a merge, per source and in total."""

    sources: list[SourceCounts] = field(default_factory=list)

    @property
    def written(self) -> int:
        """Records written over all sources."""
        return sum(s.written for s in self.sources)

    def to_json(self) -> dict[str, Any]:
        """The counts as a JSON object."""
        return {"sources": [s.to_json() for s in self.sources], "written": self.written}


def _provenance(rec: Any) -> dict[str, Any]:
    meta = dict(rec.metadata)
    if rec.source is not None:
        meta["provenance"] = rec.source.model_dump(mode="json", exclude_none=True)
    return meta


def to_sft(record: Any) -> Conversation:
    """Any SFT-able record as a Conversation (a new object; nothing of the input is lost)."""
    if isinstance(record, Conversation):
        conv = record
    elif isinstance(record, InstructionDemo):
        conv = demo_to_conversation(record)
        extra = {k: getattr(record, k) for k in ("category", "labeler")
                 if getattr(record, k) is not None}
        conv = conv.model_copy(update={"metadata": {**conv.metadata, **extra}})
    elif isinstance(record, TrainerDialogue):
        meta = dict(record.metadata)
        if record.trainer_id is not None:
            meta["trainer_id"] = record.trainer_id
        if any(m.author is not None for m in record.messages):
            meta["authors"] = [m.author for m in record.messages]
        messages = [Message.model_construct(**m.model_dump(exclude={"author"}, exclude_unset=True))
                    for m in record.messages]
        conv = Conversation.model_construct(
            kind="conversation", id=record.id, source=record.source, metadata=meta,
            messages=messages, tools=record.tools,
        )
    elif isinstance(record, Comparison):
        conv = comparison_to_conversation(record)
    elif isinstance(record, PreferencePair):
        conv = Conversation.model_construct(
            kind="conversation", id=record.id, source=record.source,
            metadata=dict(record.metadata), messages=[*record.prompt, *record.chosen], tools=None,
        )
    else:
        raise RecordError(f"a record of kind {record.kind!r} cannot be an SFT conversation",
                          rule="not SFT data")
    return conv.model_copy(update={"metadata": _provenance(conv)})


def _score(seed: int, name: str, index: int) -> float:
    digest = hashlib.blake2b(f"{seed}\x00{name}\x00{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def sample_positions(n: int, weight: float, seed: int, name: str) -> list[int]:
    """How many times each of ``n`` records is written under ``weight`` (see the module doc)."""
    if not math.isfinite(weight) or weight < 0:
        raise UsageError(f"weight of {name!r} must be a number >= 0, got {weight}")
    whole = math.floor(weight)
    extra = round((weight - whole) * n)
    times = [whole] * n
    if extra:
        order = sorted(range(n), key=lambda i: (_score(seed, name, i), i))
        for i in order[:extra]:
            times[i] += 1
    return times


def merge(
    sources: Iterable[MergeSource], seed: int = 0, report: MergeReport | None = None
) -> Iterator[Conversation | Reject]:
    """Conversations from every source, weighted, in source order (Rejects for bad records)."""
    from dialogkit.pipeline import iter_outcomes
    from dialogkit.registry import Format

    rep = report if report is not None else MergeReport()
    for src in sources:
        counts = SourceCounts(name=src.label(), weight=src.weight)
        rep.sources.append(counts)
        sample_positions(0, src.weight, seed, counts.name)  # check the weight before reading

        def seen(fmt: Format, counts: SourceCounts = counts) -> None:
            counts.format = fmt.name

        kept: list[Conversation] = []
        for item in iter_outcomes(src.path, src.format, on_format=seen):
            counts.read += 1
            if isinstance(item, Reject):
                counts.rejected += 1
                counts.rejected_by_reason[item.error.rule] += 1
                yield item
                continue
            try:
                kept.append(to_sft(item))
            except RecordError as exc:
                s = item.source
                counts.rejected += 1
                counts.rejected_by_reason[exc.rule] += 1
                yield Reject(exc.at(source=s.file if s else None, line=s.line if s else None,
                                    format=s.format if s else None), record=item)
                continue
            counts.converted += 1
        for rec, times in zip(kept, sample_positions(len(kept), src.weight, seed, counts.name),
                              strict=True):
            for _ in range(times):
                counts.written += 1
                yield rec
