"""``openai``: OpenAI chat fine-tuning JSONL, one ``{"messages": [...], "tools"?, ...}`` per line.

Messages are ``{role, content, name?, tool_calls?, tool_call_id?, weight?}``; ``tool_calls[i]`` is
``{id, type: "function", function: {name, arguments}}`` and ``arguments`` is kept as the exact JSON
text it came as (the cookbook's drone file double-encodes it: that text is kept, not "fixed").
An assistant message with ``tool_calls`` and no ``content`` key reads as ``content=None`` and is
written back without ``content``. A top-level ``id`` becomes the record id; every other top-level
key (``parallel_tool_calls`` included) goes to ``metadata`` and is written back.

Decisions on the cookbook's deliberately flawed toy file: a conversation without a system turn
(line 3) or without a user turn (line 4) is still a valid SFT conversation (the cookbook's own
checker only warns about both), and an over-long turn (line 5) is a tokenizer matter, so all five
lines are read. What is rejected: a message key OpenAI does not define, a role outside
system/user/assistant/tool (unless ``unknown_role``/``role_map`` says otherwise), empty turns and
two user/assistant/system turns in a row (turn policies, see :class:`~dialogkit.registry.Options`).

The message helpers it shares with ``sharegpt`` and ``trl`` live in :mod:`._messages`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dialogkit.formats._common import expect_object, field, leftovers
from dialogkit.formats._messages import (
    MESSAGE_KEYS,
    ROLES,
    build_conversation,
    finish_messages,
    optional_str,
    read_openai_messages,
)
from dialogkit.models import InstructionDemo, Message
from dialogkit.ops.chat import as_conversation, demo_messages, record_extras
from dialogkit.registry import Format, Options, WriteContext, register

__all__ = ["FORMAT", "MESSAGE_KEYS", "ROLES", "OpenAIChat", "write_message"]

# top-level keys that mean another layout (preference, KTO, completion, ShareGPT): not this format
_OTHER_LAYOUTS = frozenset(
    {"chosen", "rejected", "label", "prompt", "completion", "conversations", "input",
     "preferred_output", "non_preferred_output", "text"}
)


def write_message(m: Message, ctx: WriteContext, *, weight: bool = True) -> dict[str, Any]:
    """One canonical message as an OpenAI message (``content`` left out when it is None).

    ``weight=False`` for layouts with no per-message weight (OpenAI preference data): a weight
    is then tallied as dropped.
    """
    d: dict[str, Any] = {"role": m.role}
    if m.content is not None:
        d["content"] = m.content
    if m.name is not None:
        d["name"] = m.name
    if m.tool_calls:
        calls = []
        for c in m.tool_calls:
            call: dict[str, Any] = {}
            if c.id is not None:
                call["id"] = c.id
            call["type"] = "function"
            call["function"] = {"name": c.name, "arguments": c.arguments}
            calls.append(call)
        d["tool_calls"] = calls
    if m.tool_call_id is not None:
        d["tool_call_id"] = m.tool_call_id
    if m.weight is not None:
        if weight:
            d["weight"] = m.weight
        else:
            ctx.drop("weight")
    if m.reasoning is not None:
        ctx.drop("reasoning")
    return d


class OpenAIChat(Format):
    """OpenAI chat fine-tuning rows ``{messages, tools?, parallel_tool_calls?}``, exact call text.

    Options: the shared turn policies only.
    """

    name = "openai"
    aliases = ("openai-chat",)
    description = "OpenAI chat fine-tuning JSONL ({messages: [{role, content, tool_calls?}]})"
    reads = ("conversation",)
    writes = ("conversation", "demo", "trainer_dialogue")

    def detect(self, row: Any) -> int:
        """2 for ``messages`` as role objects (``trl`` scores 1 on the same columns)."""
        if not isinstance(row, dict) or _OTHER_LAYOUTS.intersection(row):
            return 0
        msgs = row.get("messages")
        if isinstance(msgs, list) and msgs and isinstance(msgs[0], dict) and "role" in msgs[0]:
            return 2
        return 0

    def read_row(self, data: Any, opts: Options) -> Iterable[Any]:
        row = expect_object(data)
        msgs = field(row, "messages", list)
        messages = finish_messages(read_openai_messages(msgs, opts), opts)
        tools = field(row, "tools", list, required=False)
        record_id = optional_str(row, "id", "$")
        yield build_conversation(
            messages, record_id=record_id, tools=tools,
            metadata=leftovers(row, ("messages", "tools", "id")),
        )

    def write_record(self, record: Any, ctx: WriteContext) -> Any:
        if isinstance(record, InstructionDemo):
            # the hot path of alpaca/dolly -> openai: a demo's turns are plain role/content
            # dicts already, so skip building (and validating) an intermediate Conversation
            row: dict[str, Any] = {"messages": demo_messages(record, ctx.options.join)}
            if record.id is not None:
                row["id"] = record.id
            if record.category is not None or record.labeler is not None:
                row.update(record_extras(record, ctx))
            for key, value in record.metadata.items():
                row.setdefault(key, value)
            return row
        conv = as_conversation(record, ctx, self.name)
        row = {"messages": [write_message(m, ctx) for m in conv.messages]}
        meta = dict(conv.metadata)
        if "parallel_tool_calls" in meta:  # the cookbook's key order: messages, ptc, tools
            row["parallel_tool_calls"] = meta.pop("parallel_tool_calls")
        if conv.tools is not None:
            row["tools"] = conv.tools
        if conv.id is not None:
            row["id"] = conv.id
        for key, value in meta.items():
            row.setdefault(key, value)
        return row


FORMAT = register(OpenAIChat())
