"""Changes of record kind on the way through the pipeline: pairs to unpaired examples,
comparisons to demonstrations and to RL prompts, and any record to its prompt.

All functions return new records and never change their input. Ids are derived so the origin
stays visible: an unpaired example is ``<pair id>:chosen`` / ``<pair id>:rejected``; the
conversation and the prompt made from a comparison keep the comparison's group id as their id
(so a group-aware split puts them beside the pairs of the same comparison) and its scalar
metadata (see :func:`dialogkit.ops.pairs.derived_metadata`).
"""

from __future__ import annotations

import functools
from typing import Any

from dialogkit.errors import RecordError, UsageError
from dialogkit.models import (
    Comparison,
    Conversation,
    InstructionDemo,
    Message,
    PreferencePair,
    PromptOnly,
    TrainerDialogue,
    UnpairedExample,
)
from dialogkit.ops.chat import user_text
from dialogkit.ops.ids import content_id
from dialogkit.ops.pairs import derived_metadata, effective_ranks, group_id

__all__ = [
    "KIND_TRANSFORMS",
    "AsConversation",
    "best_candidate",
    "comparison_to_conversation",
    "kind_transform",
    "pair_to_conversation",
    "prompt_messages",
    "reference_of",
    "to_prompt",
    "unpair",
]

SIDES: tuple[str, ...] = ("chosen", "rejected")


def unpair(pair: PreferencePair) -> list[UnpairedExample]:
    """A pair as two unpaired examples: chosen labelled True, rejected labelled False.

    The pair's group id (or id) goes to ``metadata["group_id"]`` of both, so they stay together.
    Note (as TRL warns): the labels are relative judgements made absolute.
    """
    meta = dict(pair.metadata)
    gid = pair.group_id or pair.id
    if gid is not None:
        meta["group_id"] = gid
    out = []
    for side, label in (("chosen", True), ("rejected", False)):
        out.append(UnpairedExample.model_construct(
            kind="unpaired",
            id=None if pair.id is None else f"{pair.id}:{side}",
            source=pair.source,
            metadata=dict(meta),
            prompt=list(pair.prompt),
            completion=list(getattr(pair, side)),
            label=label,
        ))
    return out


def best_candidate(comp: Comparison) -> int | None:
    """Position of the best-ranked candidate (first one on a tie), or None when none is ranked."""
    ranks = effective_ranks(comp)
    ranked = [(r, i) for i, r in enumerate(ranks) if r is not None]
    return min(ranked)[1] if ranked else None


def comparison_to_conversation(comp: Comparison) -> Conversation:
    """The context plus the best candidate, as an SFT conversation (RecordError if none ranked)."""
    best = best_candidate(comp)
    if best is None:
        raise RecordError("the comparison has no ranked candidate to take as the best",
                          loc="$.ranking", rule="no ranked candidate")
    meta = derived_metadata(comp)
    messages = [*comp.context, *comp.candidates[best].messages]
    if not any(m.role == "assistant" for m in messages):
        raise RecordError("the best candidate has no assistant turn",
                          loc=f"$.candidates[{best}]", rule="no_assistant_turn")
    return Conversation.model_construct(
        kind="conversation", id=group_id(comp), source=comp.source, metadata=meta,
        messages=messages, tools=None,
    )


def prompt_messages(record: Any) -> list[Message]:
    """The prompt of any record: what a policy would be asked to complete.

    Comparison: its context; pair, unpaired, prompt-only: ``prompt``; demo: its (system and)
    user turn; conversation and trainer dialogue: the messages before the first assistant turn.
    """
    if isinstance(record, Comparison):
        return list(record.context)
    if isinstance(record, (PreferencePair, UnpairedExample, PromptOnly)):
        return list(record.prompt)
    if isinstance(record, InstructionDemo):
        out = []
        if record.system is not None:
            out.append(Message.model_construct(role="system", content=record.system))
        out.append(Message.model_construct(role="user",
                                           content=user_text(record.prompt, record.input)))
        return out
    if isinstance(record, (Conversation, TrainerDialogue)):
        out = []
        for m in record.messages:
            if m.role == "assistant":
                break
            out.append(Message.model_construct(**m.model_dump(exclude={"author"},
                                                              exclude_unset=True)))
        return out
    raise RecordError(f"a record of kind {record.kind!r} has no prompt", rule="no prompt")


REFERENCES = ("none", "response", "best")


def _answer_text(messages: list[Message], where: str) -> str:
    """The text of the first assistant message of an answer (RecordError when it has none)."""
    for m in messages:
        if m.role == "assistant":
            if isinstance(m.content, str) and m.content:
                return m.content
            break
    raise RecordError(f"{where} has no assistant text to keep as the reference",
                      rule="no reference text")


def reference_of(record: Any, mode: str) -> str | None:
    """The reference answer ``convert --as prompt --reference MODE`` keeps for ``record``.

    ``none``: none. ``response``: a demo's response, or the first assistant reply after the
    prompt of a conversation or trainer dialogue. ``best``: the best-ranked candidate of a
    comparison, or the chosen answer of a pair. A mode that does not fit the record's kind is a
    RecordError naming the mode that does, so nothing is guessed. A prompt-only record keeps
    the reference it has.
    """
    if mode not in REFERENCES:
        raise UsageError(f"--reference takes one of {', '.join(REFERENCES)}, got {mode!r}")
    if mode == "none" or isinstance(record, PromptOnly):
        return None
    if mode == "response":
        if isinstance(record, InstructionDemo):
            return record.response
        if isinstance(record, (Conversation, TrainerDialogue)):
            n = len(prompt_messages(record))
            return _answer_text(list(record.messages[n:]), "the conversation")
        raise RecordError(f"a {record.kind} has no single response; use --reference best",
                          rule="no response")
    if isinstance(record, Comparison):
        best = best_candidate(record)
        if best is None:
            raise RecordError("the comparison has no ranked candidate to take as the best",
                              loc="$.ranking", rule="no ranked candidate")
        return _answer_text(record.candidates[best].messages, f"candidate {best}")
    if isinstance(record, PreferencePair):
        return _answer_text(record.chosen, "the chosen answer")
    raise RecordError(f"a {record.kind} has no candidates to pick the best of; use --reference "
                      "response", rule="no candidates")


def to_prompt(record: Any, reference: str = "none") -> PromptOnly:
    """The RL prompt of any record (see :func:`prompt_messages`); a comparison keeps its group.

    ``reference`` (``none``, ``response``, ``best``) keeps an answer of the record as the
    prompt's reference (:func:`reference_of`); a prompt-only record is returned as it is.
    """
    if isinstance(record, PromptOnly):
        return record
    prompt = prompt_messages(record)
    if not prompt:
        raise RecordError("the record has no prompt messages", rule="no prompt")
    ref = reference_of(record, reference)
    rid = group_id(record) if isinstance(record, Comparison) else record.id
    meta = derived_metadata(record) if isinstance(record, Comparison) else dict(record.metadata)
    gid = getattr(record, "group_id", None)
    if gid is not None:
        meta["group_id"] = gid
    return PromptOnly.model_construct(
        kind="prompt", id=rid, source=record.source, metadata=meta, prompt=prompt,
        reference=ref, grading=None, task=None,
    )


def pair_to_conversation(pair: PreferencePair, side: str = "chosen") -> Conversation:
    """A pair as an SFT conversation: its prompt, then its ``side`` (chosen or rejected).

    The pair's id and metadata are kept (its group id too, under ``metadata["group_id"]``);
    the other side and the margin are what SFT has no place for. A RecordError (rule
    ``no_assistant_turn``) when the result has no assistant turn to learn from.
    """
    if side not in SIDES:
        from dialogkit.errors import UsageError

        raise UsageError(f"side must be one of {', '.join(SIDES)}, got {side!r}")
    from dialogkit.registry import build

    meta = dict(pair.metadata)
    if pair.group_id is not None:
        meta["group_id"] = pair.group_id
    conv = build(Conversation, {
        "id": pair.id, "metadata": meta,
        "messages": [*pair.prompt, *getattr(pair, side)],
    })
    if pair.source is not None:
        conv.__dict__["source"] = pair.source
    return conv


class AsConversation:
    """The ``--as conversation`` transform: comparisons become their best conversation, pairs
    their prompt plus ``side``; other kinds pass (writers coerce demos).

    A conversation made from a comparison that equals a conversation of the input (OASST
    yields every path of a tree, and also the comparison whose best reply ends one of them),
    or the other way round, is the same training example twice: the second one is merged into
    the first (the transform returns ``[]``, which the report counts as ``merged``). Plain
    conversations that repeat each other are left alone (that is ``dialogkit dedup``'s job).
    Only a 16-byte digest per conversation is kept. ``stateful``: one run must see the whole
    stream in one process.
    """

    stateful = True

    def __init__(self, side: str = "chosen") -> None:
        self.side = side
        self.plain: set[str] = set()
        self.derived: set[str] = set()

    def __call__(self, record: Any) -> Any:
        if isinstance(record, PreferencePair):
            return pair_to_conversation(record, self.side)
        if isinstance(record, Comparison):
            conv = comparison_to_conversation(record)
            key = content_id(conv)
            if key in self.plain or key in self.derived:
                return []
            self.derived.add(key)
            return conv
        if isinstance(record, Conversation):
            key = content_id(record)
            if key in self.derived:
                return []
            self.plain.add(key)
        return record


def _to_conversation(record: Any, side: str = "chosen") -> Any:
    """One record as ``--as conversation`` makes it, with no merging (see AsConversation)."""
    return AsConversation(side)(record)


def _unpair_any(record: Any) -> list[UnpairedExample]:
    if not isinstance(record, PreferencePair):
        raise RecordError(f"only preference pairs can be unpaired, not {record.kind!r}",
                          rule="not a pair")
    return unpair(record)


KIND_TRANSFORMS = {
    "conversation": _to_conversation,
    "prompt": to_prompt,
    "unpaired": _unpair_any,
}


def kind_transform(kind: str, side: str | None = None, reference: str = "none") -> Any:
    """The record transform behind ``convert --as KIND`` (conversation, prompt, unpaired);
    ``side`` (``--side``: chosen, the default, or rejected) is which answer of a pair
    ``--as conversation`` keeps; ``reference`` is ``--reference`` of ``--as prompt`` (see
    :func:`reference_of`)."""
    try:
        fn = KIND_TRANSFORMS[kind]
    except KeyError:
        raise UsageError(
            f"--as takes one of {', '.join(KIND_TRANSFORMS)}, got {kind!r}"
        ) from None
    if side is not None and kind != "conversation":
        raise UsageError(f"--side only goes with --as conversation, not --as {kind}")
    if side is not None and side not in SIDES:
        raise UsageError(f"--side takes one of {', '.join(SIDES)}, got {side!r}")
    if reference != "none" and kind != "prompt":
        raise UsageError("--reference needs --as prompt")
    if reference not in REFERENCES:
        raise UsageError(f"--reference takes one of {', '.join(REFERENCES)}, got {reference!r}")
    if kind == "conversation":  # a fresh one per run: it remembers what it has seen
        return AsConversation(side or "chosen")
    if kind == "prompt":
        return functools.partial(to_prompt, reference=reference)
    return fn
