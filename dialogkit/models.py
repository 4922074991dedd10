"""The canonical records every format reads into and writes out of (hub and spoke).

Eight kinds, one Pydantic v2 model each, and :data:`Record`, their union discriminated by
``kind``. Each validation rule raises its own :class:`pydantic_core.PydanticCustomError` with a
stable ``type`` (the rule's name) and a message that says what a trainer needs, so reports can
group rejects by rule and users can read them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator
from pydantic_core import PydanticCustomError

__all__ = [
    "KINDS",
    "ROLES",
    "Candidate",
    "Comparison",
    "Conversation",
    "InstructionDemo",
    "Message",
    "PreferencePair",
    "PromptOnly",
    "Record",
    "RecordAdapter",
    "Source",
    "ToolCall",
    "TrainerDialogue",
    "TrainerMessage",
    "UnpairedExample",
]

Role = Literal["system", "user", "assistant", "tool"]
ROLES: tuple[str, ...] = ("system", "user", "assistant", "tool")

# defer_build: a model's validator is built on its first use, not at import, so start-up
# (`dialogkit --help`, `dialogkit formats`) builds none and a run builds only the kinds it meets
_CONFIG = ConfigDict(extra="forbid", validate_assignment=False, defer_build=True)


def _rule(name: str, message: str, **ctx: Any) -> PydanticCustomError:
    """One validation rule's error: ``name`` is its stable id, ``message`` what a trainer needs."""
    return PydanticCustomError(name, message, ctx or None)


class ToolCall(BaseModel):
    """A function call of an assistant message; ``arguments`` stays the JSON text it came as."""

    model_config = _CONFIG

    id: str | None = None
    type: Literal["function"] = "function"
    name: str
    arguments: str


class Message(BaseModel):
    """One turn: a role, its text, and the optional tool-calling and training fields."""

    model_config = _CONFIG

    role: Role
    content: str | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    weight: Literal[0, 1] | None = Field(
        default=None, description="OpenAI's per-message training weight (0 = no loss)."
    )
    reasoning: str | None = Field(
        default=None, description="Reasoning text kept apart from content."
    )

    @model_validator(mode="after")
    def _check(self) -> Message:
        if self.content is None and not self.tool_calls:
            raise _rule("message_empty", "a message needs content or tool_calls")
        if self.tool_calls and self.role != "assistant":
            raise _rule(
                "tool_calls_role",
                "only an assistant message may carry tool_calls, not a {role} message",
                role=self.role,
            )
        if self.weight is not None and self.role != "assistant":
            raise _rule("weight_role", "weight is only allowed on assistant messages")
        return self


class TrainerMessage(Message):
    """A turn of a trainer dialogue, with who wrote it: the human trainer or a model."""

    author: Literal["trainer", "model"] | None = None


class Source(BaseModel):
    """Where a record came from: file (``-`` for stdin), 1-based line, format name."""

    model_config = _CONFIG

    file: str | None = None
    line: int | None = None
    format: str | None = None


class _Base(BaseModel):
    """Fields every kind shares: an id, provenance, and the source row's leftover fields."""

    model_config = _CONFIG

    id: str | None = None
    source: Source | None = None
    metadata: dict[str, Any] = Field(
        default_factory=dict,
        description="Every field of the source row that has no model field, so nothing is lost.",
    )


def _check_tool_answers(messages: list[Message], where: str) -> None:
    """Each tool message must follow an assistant tool call, and name one of its ids if any."""
    open_ids: set[str] = set()
    open_call = False
    for i, m in enumerate(messages):
        if m.role == "assistant":
            open_call = bool(m.tool_calls)
            open_ids = {c.id for c in m.tool_calls or () if c.id}
        elif m.role == "tool":
            if not open_call:
                raise _rule(
                    "tool_without_call",
                    "{where}[{i}] is a tool message that answers no tool call",
                    where=where,
                    i=i,
                )
            if m.tool_call_id is not None and open_ids and m.tool_call_id not in open_ids:
                raise _rule(
                    "tool_call_id_unknown",
                    "{where}[{i}] answers tool call '{id}', which the assistant did not make",
                    where=where,
                    i=i,
                    id=m.tool_call_id,
                )
        else:
            open_call = False
            open_ids = set()


def _check_messages(messages: list[Message], where: str, *, need_assistant: bool) -> None:
    if not messages:
        raise _rule("no_messages", "{where} is empty", where=where)
    if need_assistant and not any(m.role == "assistant" for m in messages):
        raise _rule(
            "no_assistant_turn",
            "an SFT conversation needs at least one assistant turn",
        )
    _check_tool_answers(messages, where)


class Conversation(_Base):
    """A chat-format SFT example: messages with at least one assistant turn, optional tools."""

    kind: Literal["conversation"] = "conversation"
    messages: list[Message]
    tools: list[dict[str, Any]] | None = Field(
        default=None, description="JSON schemas of the tools the assistant may call."
    )

    @model_validator(mode="after")
    def _check(self) -> Conversation:
        _check_messages(self.messages, "messages", need_assistant=True)
        return self


class InstructionDemo(_Base):
    """An InstructGPT-style human demonstration: a prompt (and optional input) with its response."""

    kind: Literal["demo"] = "demo"
    prompt: str
    input: str | None = Field(default=None, description="Optional input/context for the prompt.")
    response: str
    system: str | None = None
    category: str | None = None
    labeler: str | None = None


class TrainerDialogue(_Base):
    """A ChatGPT-style demonstration: a human trainer wrote both sides (or edited a model's)."""

    kind: Literal["trainer_dialogue"] = "trainer_dialogue"
    messages: list[TrainerMessage]
    trainer_id: str | None = None
    tools: list[dict[str, Any]] | None = None

    @model_validator(mode="after")
    def _check(self) -> TrainerDialogue:
        _check_messages(list(self.messages), "messages", need_assistant=True)
        return self


class Candidate(BaseModel):
    """One of the K completions shown to a labeler for a prompt."""

    model_config = _CONFIG

    messages: list[Message]
    model: str | None = None
    score: float | None = Field(default=None, description="Higher is better.")

    @model_validator(mode="after")
    def _check(self) -> Candidate:
        if not self.messages:
            raise _rule("empty_candidate", "a candidate needs at least one message")
        return self


class Comparison(_Base):
    """K >= 2 candidates for one context, ranked by a person: rank 0 is best, equal ranks tie,
    ``None`` leaves a candidate unranked (and ``ranking=None`` leaves all of them unranked)."""

    kind: Literal["comparison"] = "comparison"
    context: list[Message]
    candidates: list[Candidate]
    ranking: list[int | None] | None = None
    labeler: str | None = None

    @model_validator(mode="after")
    def _check(self) -> Comparison:
        if not self.context:
            raise _rule("no_context", "a comparison needs at least one context message")
        if len(self.candidates) < 2:
            raise _rule(
                "too_few_candidates",
                "a comparison needs at least 2 candidates, got {n}",
                n=len(self.candidates),
            )
        if self.ranking is not None:
            if len(self.ranking) != len(self.candidates):
                raise _rule(
                    "ranking_length",
                    "ranking has {r} entries for {c} candidates",
                    r=len(self.ranking),
                    c=len(self.candidates),
                )
            if any(r is not None and r < 0 for r in self.ranking):
                raise _rule("negative_rank", "ranks start at 0 (best); got a negative rank")
        return self


class PreferencePair(_Base):
    """A reward-model pair: the same prompt with a chosen and a rejected completion."""

    kind: Literal["preference"] = "preference"
    prompt: list[Message]
    chosen: list[Message]
    rejected: list[Message]
    margin: float | None = None
    group_id: str | None = Field(
        default=None, description="The comparison this pair came from; keep groups together."
    )

    @model_validator(mode="after")
    def _check(self) -> PreferencePair:
        if not self.chosen or not self.rejected:
            raise _rule("empty_completion", "chosen and rejected each need at least one message")
        if self.chosen == self.rejected:
            raise _rule(
                "identical_pair", "chosen and rejected are identical, so they carry no preference"
            )
        return self


class UnpairedExample(_Base):
    """A single completion labelled desirable (True) or undesirable (False), as KTO uses."""

    kind: Literal["unpaired"] = "unpaired"
    prompt: list[Message]
    completion: list[Message]
    label: bool

    @model_validator(mode="after")
    def _check(self) -> UnpairedExample:
        if not self.completion:
            raise _rule("empty_completion", "completion needs at least one message")
        return self


class PromptOnly(_Base):
    """A prompt for the RL step: the conversation so far, to be completed by the policy."""

    kind: Literal["prompt"] = "prompt"
    prompt: list[Message]

    @model_validator(mode="after")
    def _check(self) -> PromptOnly:
        if not self.prompt:
            raise _rule("no_messages", "prompt is empty")
        return self


Record = Annotated[
    Union[  # noqa: UP007 - a discriminated union needs the Union spelling on 3.10
        Conversation,
        InstructionDemo,
        TrainerDialogue,
        Comparison,
        PreferencePair,
        UnpairedExample,
        PromptOnly,
    ],
    Field(discriminator="kind"),
]
RecordAdapter: TypeAdapter[Any] = TypeAdapter(Record, config=ConfigDict(defer_build=True))

MODELS: dict[str, type[_Base]] = {
    "conversation": Conversation,
    "demo": InstructionDemo,
    "trainer_dialogue": TrainerDialogue,
    "comparison": Comparison,
    "preference": PreferencePair,
    "unpaired": UnpairedExample,
    "prompt": PromptOnly,
}
KINDS: tuple[str, ...] = tuple(MODELS)
