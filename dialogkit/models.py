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
    "MEDIA_TYPES",
    "ROLES",
    "Candidate",
    "Comparison",
    "Conversation",
    "Grading",
    "InstructionDemo",
    "MediaPart",
    "Message",
    "Part",
    "PreferencePair",
    "PromptOnly",
    "Record",
    "RecordAdapter",
    "Source",
    "TextPart",
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
    """A function call of an assistant message.

    ``arguments`` stays the exact JSON text it came as; ``arguments_form`` remembers whether the
    source held it as a JSON string (``None``, the default, or ``"string"``) or as a JSON object
    (``"object"``), so a writer that can hold either gives back the same form.
    """

    model_config = _CONFIG

    id: str | None = None
    type: Literal["function"] = "function"
    name: str
    arguments: str
    arguments_form: Literal["string", "object"] | None = Field(
        default=None, description="How the source held the arguments (None: a JSON string)."
    )


MEDIA_TYPES: tuple[str, ...] = ("image", "audio", "video")


class TextPart(BaseModel):
    """A text part of a message's content list."""

    model_config = _CONFIG

    type: Literal["text"] = "text"
    text: str


class MediaPart(BaseModel):
    """An image, audio clip or video of a message's content list, and where its bytes are.

    Exactly one source: ``url`` (http(s) and other URLs), ``path`` (a local file; readers resolve
    a relative path against the input file's folder or ``--media-root``), or ``data`` (inline
    base64, with ``mime_type``). ``details`` keeps format-specific settings (OpenAI's ``detail``,
    an audio ``format``) so they survive a round trip.
    """

    model_config = _CONFIG

    type: Literal["image", "audio", "video"]
    url: str | None = None
    path: str | None = None
    data: str | None = Field(default=None, description="Inline bytes, base64.")
    mime_type: str | None = None
    details: dict[str, Any] | None = Field(
        default=None, description="Format-specific settings: OpenAI's detail, audio format."
    )

    @model_validator(mode="after")
    def _check(self) -> MediaPart:
        given = [k for k in ("url", "path", "data") if getattr(self, k) is not None]
        if not given:
            raise _rule(
                "media_no_source",
                "a {type} part needs a source: url, path or data",
                type=self.type,
            )
        if len(given) > 1:
            raise _rule(
                "media_sources",
                "a {type} part has one source, got {keys}",
                type=self.type,
                keys=", ".join(given),
            )
        return self

    @property
    def ref(self) -> str:
        """The source as one string: the URL, the path, or the data URL of inline bytes."""
        if self.url is not None:
            return self.url
        if self.path is not None:
            return self.path
        return f"data:{self.mime_type or 'application/octet-stream'};base64,{self.data}"


Part = Annotated[Union[TextPart, MediaPart], Field(discriminator="type")]  # noqa: UP007


class Message(BaseModel):
    """One turn: a role, its content (text, or a list of text and media parts), and the
    optional tool-calling, reasoning and training fields.

    A string stays a string: only content that came as a list of parts is held as one.
    """

    model_config = _CONFIG

    role: Role
    content: str | list[Part] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    weight: int | float | None = Field(
        default=None,
        description="Per-message loss weight: OpenAI's weight (0/1), LLaMA-Factory's loss_weight.",
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
        if self.weight is not None and (isinstance(self.weight, bool) or self.weight < 0):
            raise _rule("weight_negative", "a loss weight is a number >= 0, got {w}",
                        w=self.weight)
        return self

    @property
    def text(self) -> str | None:
        """The content's text: the string itself, or the text parts joined (media left out)."""
        c = self.content
        if c is None or isinstance(c, str):
            return c
        return "".join(p.text for p in c if p.type == "text")  # type: ignore[union-attr]

    @property
    def media(self) -> list[MediaPart]:
        """The media parts of the content, in order (empty for string content)."""
        c = self.content
        if c is None or isinstance(c, str):
            return []
        return [p for p in c if p.type != "text"]  # type: ignore[misc]


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


class Grading(BaseModel):
    """How a verifiable reward checks a completion (verl's ``reward_model``): the style
    (``rule`` for a programmatic check, ``model`` for a judge), the ground truth it compares
    with (text, a number, or structured such as test cases) and any verifier parameters."""

    model_config = _CONFIG

    style: str = "rule"
    answer: Any = None
    params: dict[str, Any] = Field(default_factory=dict)


class PromptOnly(_Base):
    """A prompt for the RL step: the conversation so far, to be completed by the policy, with
    the reference answer a verifiable reward compares the completion with (RLVR)."""

    kind: Literal["prompt"] = "prompt"
    prompt: list[Message]
    reference: str | None = Field(
        default=None, description="The ground-truth answer as text (GSM8K's final number)."
    )
    grading: Grading | None = Field(
        default=None, description="How a reward function checks a completion, when not plain."
    )
    task: str | None = Field(
        default=None, description="What verl calls `ability`: math, code, ..."
    )

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

THINK_TAGS: tuple[str, str] = ("<think>", "</think>")
_MESSAGE_FIELDS = ("messages", "prompt", "chosen", "rejected", "completion", "context")


def _split_message(m: Message, open_tag: str, close_tag: str) -> Message:
    """``m`` with a leading ``open_tag…close_tag`` block of its content moved to ``reasoning``
    (newlines around the block trimmed, as Qwen3's and DeepSeek-R1's templates trim them)."""
    if m.role != "assistant" or m.reasoning is not None:
        return m
    content = m.content
    first = content if isinstance(content, str) else (
        content[0].text if content and isinstance(content[0], TextPart) else None
    )
    if first is None:
        return m
    body = first.lstrip()
    if not body.startswith(open_tag):
        return m
    end = body.find(close_tag, len(open_tag))
    if end < 0:
        return m
    reasoning = body[len(open_tag):end].strip("\n")
    rest = body[end + len(close_tag):].lstrip("\n")
    if isinstance(content, str):
        new_content: Any = rest
    else:
        tail = list(content[1:])  # type: ignore[index]
        new_content = ([TextPart(text=rest)] if rest else []) + tail
    return m.model_copy(update={"content": new_content, "reasoning": reasoning})


def split_think(record: Any, tags: tuple[str, str] = THINK_TAGS) -> Any:
    """``record`` with ``<think>…</think>`` at the start of each assistant turn's content split
    into the turn's ``reasoning`` (``--think split``); a record with none is returned as is."""
    open_tag, close_tag = tags
    update: dict[str, Any] = {}
    for name in _MESSAGE_FIELDS:
        msgs = getattr(record, name, None)
        if isinstance(msgs, list):
            new = [_split_message(m, open_tag, close_tag) for m in msgs]
            if any(a is not b for a, b in zip(new, msgs, strict=True)):
                update[name] = new
    cands = getattr(record, "candidates", None)
    if cands:
        new_cands = [split_think(c, tags) for c in cands]
        if any(a is not b for a, b in zip(new_cands, cands, strict=True)):
            update["candidates"] = new_cands
    return record.model_copy(update=update) if update else record
