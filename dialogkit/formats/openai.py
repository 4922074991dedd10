"""``openai``: OpenAI chat fine-tuning JSONL, one ``{"messages": [...], "tools"?, ...}`` per line.

Messages are ``{role, content, name?, tool_calls?, tool_call_id?, weight?}``; ``tool_calls[i]`` is
``{id, type: "function", function: {name, arguments}}`` and ``arguments`` is kept as the exact JSON
text it came as (the cookbook's drone file double-encodes it: that text is kept, not "fixed");
arguments given as a JSON object are accepted and written back as an object.

``content`` is a string or a list of parts: ``text``, ``image_url`` (``url``, ``detail``),
``input_audio`` (``data``, ``format``), and vLLM's ``audio_url``/``video_url`` (OpenAI's
fine-tuning API has no audio or video by URL); media parts only in user turns, as OpenAI
requires. A URL that is neither http(s) nor a data URL reads as a local path. Reasoning is read
from ``reasoning_content``, ``reasoning`` or ``thinking`` and written back under that key.
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

from dialogkit.errors import RecordError
from dialogkit.formats._common import expect_object, field, leftovers
from dialogkit.formats._dataset_info import finish_sft
from dialogkit.formats._messages import (
    MESSAGE_KEYS,
    ROLES,
    build_conversation,
    finish_messages,
    optional_str,
    read_openai_messages,
    write_arguments,
)
from dialogkit.media import media_ref
from dialogkit.models import InstructionDemo, Message, TextPart
from dialogkit.ops.chat import as_conversation, demo_messages, record_extras
from dialogkit.registry import Format, Options, WriteContext, register

__all__ = ["FORMAT", "MARKER", "MESSAGE_KEYS", "ROLES", "OpenAIChat", "write_message",
           "write_parts"]

# {"reasoning": key, "arguments": "object"}: how the row held reasoning and tool-call arguments,
# so the writer gives them back in that form
MARKER = "_openai"

# top-level keys that mean another layout (preference, KTO, completion, ShareGPT): not this format
_OTHER_LAYOUTS = frozenset(
    {"chosen", "rejected", "label", "prompt", "completion", "conversations", "input",
     "preferred_output", "non_preferred_output", "text"}
)


def write_parts(m: Message, ctx: WriteContext) -> list[dict[str, Any]]:
    """A content list as OpenAI parts: ``text``, ``image_url`` (``url``, ``detail``),
    ``input_audio`` (inline ``data`` and ``format``); audio by URL or path and video become
    vLLM's ``audio_url``/``video_url`` parts (OpenAI's fine-tuning API has none). Media outside
    user turns is refused (rule ``media_role``), as OpenAI refuses it."""
    out: list[dict[str, Any]] = []
    for p in m.content or ():  # type: ignore[union-attr]
        if isinstance(p, TextPart):
            out.append({"type": "text", "text": p.text})
            continue
        if m.role != "user":
            raise RecordError(
                f"{p.type} parts are allowed in user turns only, not in a {m.role} turn "
                "(OpenAI)", rule="media_role",
            )
        details = p.details or {}
        if p.type == "audio" and p.data is not None:
            audio: dict[str, Any] = {"data": p.data}
            fmt = details.get("format") or _audio_format(p.mime_type)
            if fmt is not None:
                audio["format"] = fmt
            ctx.media["audio.written"] += 1
            out.append({"type": "input_audio", "input_audio": audio})
            continue
        key = f"{p.type}_url"
        inner: dict[str, Any] = {"url": media_ref(p, ctx)}
        if p.type == "image" and details.get("detail") is not None:
            inner["detail"] = details["detail"]
        out.append({"type": key, key: inner})
    return out


def _audio_format(mime: str | None) -> str | None:
    """``audio/wav`` -> ``wav``; ``audio/mpeg`` -> ``mp3`` (input_audio's format names)."""
    if not mime or "/" not in mime:
        return None
    sub = mime.split("/", 1)[1]
    return {"mpeg": "mp3", "x-wav": "wav"}.get(sub, sub)


def write_message(
    m: Message, ctx: WriteContext, *, weight: bool = True, reasoning_key: str | None = None,
    arguments: str = "string",
) -> dict[str, Any]:
    """One canonical message as an OpenAI message (``content`` left out when it is None).

    ``weight=False`` for layouts with no per-message weight (OpenAI preference data): a weight
    is then tallied as dropped, as is one OpenAI cannot hold (not 0/1, or not on an assistant
    turn). Reasoning is written under ``reasoning_key`` (the key the row was read with) or
    tallied as dropped. Tool-call arguments are JSON strings, as OpenAI has them, unless
    ``arguments`` (or the ``tool_arguments`` option) says otherwise (``source``: the form each
    call was read in).
    """
    d: dict[str, Any] = {"role": m.role}
    content = m.content
    if content is not None:
        d["content"] = content if type(content) is str else write_parts(m, ctx)
    if m.name is not None:
        d["name"] = m.name
    if m.tool_calls:
        calls = []
        for c in m.tool_calls:
            call: dict[str, Any] = {}
            if c.id is not None:
                call["id"] = c.id
            call["type"] = "function"
            call["function"] = {"name": c.name,
                                "arguments": write_arguments(c, ctx, arguments)}
            calls.append(call)
        d["tool_calls"] = calls
    if m.tool_call_id is not None:
        d["tool_call_id"] = m.tool_call_id
    if m.weight is not None:
        if weight and m.role == "assistant" and m.weight in (0, 1):
            d["weight"] = int(m.weight)
        else:
            ctx.drop("weight")
    if m.reasoning is not None:
        if reasoning_key is not None:
            d[reasoning_key] = m.reasoning
        else:
            ctx.drop("reasoning")
    return d


class OpenAIChat(Format):
    """OpenAI chat fine-tuning rows ``{messages, tools?, parallel_tool_calls?}``, exact call text.

    Options: the shared turn policies; for the writer ``reasoning_key`` (write reasoning under
    this key, e.g. ``reasoning_content``; default: the key the row was read with, else drop and
    count it, since OpenAI's fine-tuning API has no such key) and ``tool_arguments``.
    """

    name = "openai"
    aliases = ("openai-chat",)
    description = "OpenAI chat fine-tuning JSONL ({messages: [{role, content, tool_calls?}]})"
    reads = ("conversation",)
    writes = ("conversation", "demo", "trainer_dialogue")
    markers = (MARKER,)
    content_parts = True

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
        seen: dict[str, Any] = {}
        messages = finish_messages(read_openai_messages(msgs, opts, seen=seen), opts)
        tools = field(row, "tools", list, required=False)
        record_id = optional_str(row, "id", "$")
        metadata = leftovers(row, ("messages", "tools", "id", MARKER))
        if seen:
            metadata[MARKER] = seen
        yield build_conversation(messages, record_id=record_id, tools=tools, metadata=metadata)

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
        meta = dict(conv.metadata)
        marker = meta.pop(MARKER, None)
        key = ctx.options.extra.get("reasoning_key")
        args = "string"
        if isinstance(marker, dict):  # how the row held reasoning and arguments when read
            key = key or marker.get("reasoning")
            if marker.get("arguments"):
                args = "source"
        row = {"messages": [write_message(m, ctx, reasoning_key=key, arguments=args)
                            for m in conv.messages]}
        if "parallel_tool_calls" in meta:  # the cookbook's key order: messages, ptc, tools
            row["parallel_tool_calls"] = meta.pop("parallel_tool_calls")
        if conv.tools is not None:
            row["tools"] = conv.tools
        if conv.id is not None:
            row["id"] = conv.id
        for key, value in meta.items():
            row.setdefault(key, value)
        return row


    def finish(self, dst: Any, ctx: WriteContext) -> None:
        """With option ``dataset_info`` (``--dataset-info``): LLaMA-Factory's entry for the file
        written, in ``dataset_info.json`` beside it, naming every column it reads."""
        finish_sft(self.name, dst, ctx)

FORMAT = register(OpenAIChat())
