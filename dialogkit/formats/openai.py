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

This module also holds the message helpers the other chat formats (``sharegpt``, ``trl``) share:
carrying each message's source path through the turn policies and mapping canonical validation
errors back to that path.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from dialogkit.errors import RecordError
from dialogkit.formats._common import (
    apply_turn_policies,
    expect_object,
    field,
    leftovers,
    resolve_role,
    type_name,
    with_system,
)
from dialogkit.models import Conversation, InstructionDemo, Message
from dialogkit.ops.chat import as_conversation, demo_messages, record_extras
from dialogkit.registry import Format, Options, WriteContext, build, register

__all__ = ["FORMAT", "OpenAIChat", "build_conversation"]

ROLES: dict[str, str] = {r: r for r in ("system", "user", "assistant", "tool")}
MESSAGE_KEYS = ("role", "content", "name", "tool_calls", "tool_call_id", "weight")
_CALL_KEYS = ("id", "type", "function")
_FUNCTION_KEYS = ("name", "arguments")
# top-level keys that mean another layout (preference, KTO, completion, ShareGPT): not this format
_OTHER_LAYOUTS = frozenset(
    {"chosen", "rejected", "label", "prompt", "completion", "conversations", "input",
     "preferred_output", "non_preferred_output", "text"}
)
_REASON_INDEX = re.compile(r"messages\[(\d+)\]")
LOC = "_loc"  # private key: a message dict's source path, carried through the turn policies


def _keys_list(keys: Iterable[str]) -> str:
    return ", ".join(keys)


def check_keys(obj: dict[str, Any], allowed: Iterable[str], loc: str, what: str) -> None:
    """Reject keys ``what`` does not define, naming the first one and listing the allowed ones."""
    allowed_t = tuple(allowed)
    for key in obj:
        if key not in allowed_t:
            raise RecordError(
                f"Unexpected key {key!r} in {what} (expected {_keys_list(allowed_t)})",
                loc=f"{loc}.{key}", rule="unexpected key",
            )


def strip_private(msg: dict[str, Any]) -> dict[str, Any]:
    """A message dict without the private ``_``-prefixed keys the readers carry along."""
    return {k: v for k, v in msg.items() if not k.startswith("_")}


def build_conversation(
    messages: list[dict[str, Any]],
    *,
    record_id: str | None,
    tools: Any,
    metadata: dict[str, Any],
) -> Conversation:
    """Validate message dicts (each with its source path under ``_loc``) as a Conversation.

    A canonical validation error at ``$.messages[i]...`` is reported at message ``i``'s source
    path, so the user finds it in their own file.
    """
    locs = [m.get(LOC, "$") for m in messages]
    data: dict[str, Any] = {"messages": [strip_private(m) for m in messages], "metadata": metadata}
    if record_id is not None:
        data["id"] = record_id
    if tools is not None:
        data["tools"] = tools
    try:
        return build(Conversation, data)
    except RecordError as exc:
        exc.loc = _source_loc(exc.loc, locs)
        m = _REASON_INDEX.match(exc.reason)
        if exc.loc in (None, "$") and m and int(m.group(1)) < len(locs):
            exc.loc = locs[int(m.group(1))]  # "messages[3] is a tool message that ..."
        raise


def _source_loc(loc: str | None, locs: list[str]) -> str | None:
    """``$.messages[3].content`` -> the source path of message 3 (``$.conversations[4]``)."""
    prefix = "$.messages["
    if loc is None or not loc.startswith(prefix):
        return loc
    end = loc.index("]", len(prefix))
    i = int(loc[len(prefix):end])
    rest = loc[end + 1:]
    return (locs[i] + rest) if i < len(locs) else loc


def finish_messages(messages: list[dict[str, Any]], opts: Options) -> list[dict[str, Any]]:
    """Apply the turn policies and the ``system`` option (source paths stay attached)."""
    locs = [m.get(LOC, "$") for m in messages]
    out = apply_turn_policies(messages, locs, opts)
    return with_system(out, opts)


def optional_str(obj: dict[str, Any], key: str, loc: str) -> str | None:
    """``obj[key]`` when present and not null; it must then be a string."""
    return field(obj, key, str, loc, required=False)  # type: ignore[no-any-return]


def read_weight(m: dict[str, Any], loc: str) -> int | None:
    """OpenAI's per-message weight: the integer 0 or 1 (a bool is not a weight)."""
    if m.get("weight") is None:
        return None
    w = m["weight"]
    if isinstance(w, bool) or w not in (0, 1):
        raise RecordError(f"Expected 0 or 1, got {w!r}", loc=f"{loc}.weight", rule="weight")
    return int(w)


def read_openai_call(call: Any, loc: str) -> dict[str, Any]:
    """One ``{id, type, function: {name, arguments}}`` as a canonical ToolCall dict."""
    call = expect_object(call, loc)
    check_keys(call, _CALL_KEYS, loc, "a tool call")
    fn = field(call, "function", dict, loc)
    floc = f"{loc}.function"
    check_keys(fn, _FUNCTION_KEYS, floc, "a tool call's function")
    out: dict[str, Any] = {
        "name": field(fn, "name", str, floc),
        "arguments": field(fn, "arguments", str, floc),
    }
    return finish_call(call, loc, out)


def finish_call(call: dict[str, Any], loc: str, out: dict[str, Any]) -> dict[str, Any]:
    """Add a tool call's optional ``id`` to ``out`` and check its ``type`` is ``function``."""
    call_id = optional_str(call, "id", loc)
    if call_id is not None:
        out["id"] = call_id
    kind = call.get("type", "function")
    if kind != "function":
        raise RecordError(f"Expected 'function', got {kind!r}", loc=f"{loc}.type",
                          rule="tool call type")
    return out


def start_message(
    m: Any, loc: str, keys: Any, opts: Options
) -> dict[str, Any] | None:
    """The checks every OpenAI-style message reader starts with: an object with known keys, a
    known role (None when the unknown-role policy drops it), and text or null content.

    Returns ``{role, content, _loc}`` for the reader to complete.
    """
    m = expect_object(m, loc)
    check_keys(m, keys, loc, "a message")
    if "role" not in m:
        raise RecordError("missing required field `role`", loc=f"{loc}.role", rule="missing role")
    role = resolve_role(m["role"], ROLES, opts, f"{loc}.role")
    if role is None:
        return None
    content = m.get("content")
    if content is not None and not isinstance(content, str):
        raise RecordError(f"Expected `str` or `null`, got `{type_name(content)}`",
                          loc=f"{loc}.content", rule="wrong type content")
    return {"role": role, "content": content, LOC: loc}


def read_openai_messages(
    messages: list[Any], opts: Options, base: str = "$.messages"
) -> list[dict[str, Any]]:
    """OpenAI-shaped message objects as message dicts (with ``_loc``), before the turn policies."""
    out: list[dict[str, Any]] = []
    for i, m in enumerate(messages):
        loc = f"{base}[{i}]"
        msg = start_message(m, loc, MESSAGE_KEYS, opts)
        if msg is None:
            continue
        for key in ("name", "tool_call_id"):
            value = optional_str(m, key, loc)
            if value is not None:
                msg[key] = value
        weight = read_weight(m, loc)
        if weight is not None:
            msg["weight"] = weight
        calls = field(m, "tool_calls", list, loc, required=False)
        if calls is not None:
            msg["tool_calls"] = [
                read_openai_call(c, f"{loc}.tool_calls[{j}]") for j, c in enumerate(calls)
            ]
        out.append(msg)
    return out


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
