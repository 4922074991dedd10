"""Demonstrations into chat format, and the system-prompt option, as pure functions.

These return new records and never change their input.
"""

from __future__ import annotations

from typing import Any

from dialogkit.errors import RecordError
from dialogkit.models import (
    Conversation,
    InstructionDemo,
    Message,
    PreferencePair,
    PromptOnly,
    TrainerDialogue,
    UnpairedExample,
)
from dialogkit.registry import WriteContext

__all__ = [
    "add_system",
    "as_conversation",
    "demo_messages",
    "demo_to_conversation",
    "record_extras",
    "user_text",
]

def user_text(prompt: str, input: str | None, join: str = "\n\n") -> str:
    """The user turn of a demonstration: the instruction, then its input after ``join`` if any."""
    return f"{prompt}{join}{input}" if input else prompt


def demo_messages(demo: InstructionDemo, join: str = "\n\n") -> list[dict[str, Any]]:
    """A demonstration's turns as plain ``{role, content}`` dicts: (system,) user, assistant."""
    messages: list[dict[str, Any]] = []
    if demo.system is not None:
        messages.append({"role": "system", "content": demo.system})
    messages.append({"role": "user", "content": user_text(demo.prompt, demo.input, join)})
    messages.append({"role": "assistant", "content": demo.response})
    return messages


def record_extras(record: Any, ctx: WriteContext) -> dict[str, Any]:
    """A record's scalar fields that chat formats have no field for (a demo's category and
    labeler, a trainer dialogue's trainer_id): carried as extra columns like ``metadata``, so
    a round trip through openai or trl keeps them; with ``keep_metadata`` off they are dropped
    and tallied instead."""
    names = ("trainer_id",) if isinstance(record, TrainerDialogue) else ("category", "labeler")
    out: dict[str, Any] = {}
    for name in names:
        value = getattr(record, name, None)
        if value is None:
            continue
        if ctx.options.keep_metadata:
            out[name] = value
        else:
            ctx.drop(name)
    return out


def demo_to_conversation(demo: InstructionDemo, join: str = "\n\n") -> Conversation:
    """An instruction demonstration as a (system,) user, assistant conversation.

    Example:
        >>> d = InstructionDemo(prompt="Add", input="2+2", response="4")
        >>> [m.content for m in demo_to_conversation(d).messages]
        ['Add\\n\\n2+2', '4']
    """
    messages = demo_messages(demo, join)
    # pydantic-core validation of a plain dict is several times faster than model_construct
    conv = Conversation.__pydantic_validator__.validate_python(
        {"messages": messages, "id": demo.id, "metadata": demo.metadata}
    )
    if demo.source is not None:
        conv.__dict__["source"] = demo.source
    return conv


def as_conversation(record: Any, ctx: WriteContext, fmt: str) -> Conversation:
    """A record that an SFT format can hold, as a Conversation; other kinds are a RecordError.

    A demo's category and labeler and a trainer dialogue's trainer_id move to ``metadata``
    (see :func:`record_extras`); a trainer dialogue's per-message authors have no place in a
    flat message list and are tallied in ``ctx.dropped``.
    """
    if isinstance(record, Conversation):
        return record
    if isinstance(record, InstructionDemo):
        extras = record_extras(record, ctx)
        conv = demo_to_conversation(record, ctx.options.join)
        if extras:
            conv.metadata = {**extras, **conv.metadata}
        return conv
    if isinstance(record, TrainerDialogue):
        if any(m.author is not None for m in record.messages):
            ctx.drop("author")
        extras = record_extras(record, ctx)
        messages = [
            Message.model_construct(**m.model_dump(exclude={"author"}, exclude_unset=True))
            for m in record.messages
        ]
        return Conversation.model_construct(
            kind="conversation",
            id=record.id,
            messages=messages,
            tools=record.tools,
            source=record.source,
            metadata={**extras, **record.metadata},
        )
    raise RecordError(
        f"format {fmt!r} holds SFT conversations, not a record of kind {record.kind!r}",
        rule="kind not writable",
    )


def _prepend(messages: list[Message], text: str) -> list[Message]:
    if messages and messages[0].role == "system":
        return messages
    return [Message.model_construct(role="system", content=text), *messages]


def add_system(record: Any, text: str) -> Any:
    """The record with system prompt ``text`` added where it has none (a new object)."""
    if isinstance(record, (Conversation, TrainerDialogue)):
        if record.messages and record.messages[0].role == "system":
            return record
        if isinstance(record, TrainerDialogue):
            from dialogkit.models import TrainerMessage

            first = TrainerMessage.model_construct(role="system", content=text)
            return record.model_copy(update={"messages": [first, *record.messages]})
        return record.model_copy(update={"messages": _prepend(record.messages, text)})
    if isinstance(record, InstructionDemo):
        return record if record.system is not None else record.model_copy(update={"system": text})
    if isinstance(record, (PreferencePair, UnpairedExample, PromptOnly)):
        return record.model_copy(update={"prompt": _prepend(record.prompt, text)})
    if hasattr(record, "context"):
        return record.model_copy(update={"context": _prepend(record.context, text)})
    return record
