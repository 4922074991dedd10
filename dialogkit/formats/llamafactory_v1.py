"""``llamafactory-v1``: LLaMA-Factory v1's sample layout, typed content parts and loss weights.

A message is ``{role: system|user|assistant|tool, content: [{type, value}], loss_weight?}``;
part types are ``text``, ``reasoning``, ``tool_call`` (value: the JSON text ``{"name",
"arguments": OBJECT}``), ``image_url``, ``video_url`` and ``audio_url`` (value: a path, URL or
data URL). SFT rows are ``{messages, tools?: JSON string, extra_info?}``; preference rows are
``{chosen_messages, rejected_messages, tools?, extra_info?}``, each the whole conversation: the
longest shared prefix becomes the prompt (at least the last message of each side stays its
answer).

Canonical mapping: ``reasoning`` parts -> ``Message.reasoning`` (several are joined); ``tool_call``
parts -> ``tool_calls`` (arguments remembered as an object); ``loss_weight`` -> ``weight``; a
content made of one text part reads as a plain string (and is written back as that one part), so
it converts to text-only formats as text. Other top-level keys (``extra_info``) go to
``metadata``. The writer puts parts in LLaMA-Factory's order: reasoning, content, tool calls.
Fields v1 has no place for (a message ``name``, ``tool_call_id``, tool-call ids, media details)
are tallied as dropped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import orjson

from dialogkit.errors import RecordError
from dialogkit.formats._common import expect_object, field, leftovers, resolve_role, type_name
from dialogkit.formats._messages import (
    Turn,
    build_conversation,
    check_keys,
    finish_messages,
    read_arguments,
    write_arguments,
)
from dialogkit.media import media_part, media_ref
from dialogkit.models import Message, PreferencePair, TextPart
from dialogkit.ops.chat import as_conversation
from dialogkit.registry import Format, Options, WriteContext, build, register

__all__ = ["FORMAT", "LlamaFactoryV1"]

MARKER = "_llamafactory_v1"
_ROLES = {r: r for r in ("system", "user", "assistant", "tool")}
_MESSAGE_KEYS = ("role", "content", "loss_weight")
_MEDIA = {"image_url": "image", "video_url": "video", "audio_url": "audio"}
_PART_TYPES = ("text", "reasoning", "tool_call", *_MEDIA)
_SIDES = ("chosen_messages", "rejected_messages")


def _tool_call(value: str, loc: str) -> dict[str, Any]:
    """A ``tool_call`` part's JSON text ``{"name", "arguments"}`` as a ToolCall dict."""
    try:
        obj = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise RecordError(
            f"a tool_call value must be JSON text: {str(exc).split(': line ')[0]}",
            loc=loc, rule="tool_call not JSON",
        ) from exc
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
        raise RecordError('Expected a JSON object {"name": str, "arguments": ...} in a tool_call',
                          loc=loc, rule="tool_call shape")
    check_keys(obj, ("name", "arguments"), loc, "a tool_call value")
    return {"name": obj["name"], **read_arguments(obj, loc, obj["name"])}


def _message(m: Any, loc: str, opts: Options) -> dict[str, Any] | None:
    """One v1 message as a canonical message dict (None when the role policy drops it)."""
    m = expect_object(m, loc)
    check_keys(m, _MESSAGE_KEYS, loc, "a message")
    if "role" not in m:
        raise RecordError("missing required field `role`", loc=f"{loc}.role", rule="missing role")
    role = resolve_role(m["role"], _ROLES, opts, f"{loc}.role")
    if role is None:
        return None
    content = m.get("content")
    msg: dict[str, Any] = {"role": role}
    if isinstance(content, str):  # lenient: plain text content
        msg["content"] = content
    else:
        parts: list[dict[str, Any]] = []
        reasoning: list[str] = []
        calls: list[dict[str, Any]] = []
        for j, p in enumerate(field(m, "content", list, loc)):
            ploc = f"{loc}.content[{j}]"
            p = expect_object(p, ploc)
            check_keys(p, ("type", "value"), ploc, "a content part")
            kind = p.get("type")
            if kind not in _PART_TYPES:
                known = ", ".join(repr(t) for t in _PART_TYPES)
                raise RecordError(f"Expected one of {known}, got {kind!r}", loc=f"{ploc}.type",
                                  rule="part type")
            value = field(p, "value", str, ploc)
            if kind == "text":
                parts.append({"type": "text", "text": value})
            elif kind == "reasoning":
                reasoning.append(value)
            elif kind == "tool_call":
                calls.append(_tool_call(value, f"{ploc}.value"))
            else:
                parts.append(media_part(_MEDIA[kind], value, opts, f"{ploc}.value"))
        if len(parts) == 1 and parts[0]["type"] == "text":
            msg["content"] = parts[0]["text"]
        elif parts or not calls:
            msg["content"] = parts
        if reasoning:
            msg["reasoning"] = "".join(reasoning)
        if calls:
            msg["tool_calls"] = calls
    weight = m.get("loss_weight")
    if weight is not None:
        if isinstance(weight, bool) or not isinstance(weight, (int, float)):
            raise RecordError(f"Expected `float`, got `{type_name(weight)}`",
                              loc=f"{loc}.loss_weight", rule="wrong type loss_weight")
        msg["weight"] = weight
    return msg


def _turns(value: Any, loc: str, opts: Options) -> list[Turn]:
    if not isinstance(value, list):
        raise RecordError(f"Expected `array`, got `{type_name(value)}`", loc=loc,
                          rule="expected array")
    out = []
    for i, m in enumerate(value):
        msg = _message(m, f"{loc}[{i}]", opts)
        if msg is not None:
            out.append(Turn(msg, f"{loc}[{i}]"))
    return finish_messages(out, opts)


def _tools(row: dict[str, Any], marker: dict[str, Any]) -> Any:
    """The ``tools`` column: a JSON string of a list of schemas (a list is accepted too)."""
    tools = row.get("tools")
    if tools is None or isinstance(tools, list):
        return tools
    if not isinstance(tools, str):
        raise RecordError(f"Expected `str`, got `{type_name(tools)}`", loc="$.tools",
                          rule="wrong type tools")
    try:
        parsed = orjson.loads(tools)
    except orjson.JSONDecodeError as exc:
        raise RecordError(f"the tools string must be JSON text: {str(exc).split(': line ')[0]}",
                          loc="$.tools", rule="tools not JSON") from exc
    if not isinstance(parsed, list):
        raise RecordError(
            f"Expected a JSON array of tool schemas in the tools string, got `{type_name(parsed)}`",
            loc="$.tools", rule="tools not a list",
        )
    if json.dumps(parsed, ensure_ascii=False) != tools:
        marker["tools"] = tools  # the exact text, when dumping the list would not give it back
    return parsed


class LlamaFactoryV1(Format):
    """LLaMA-Factory v1 rows: typed content parts, reasoning, tool calls and loss weights.

    Options: the shared turn policies; ``tool_arguments`` does not apply (v1 holds objects).
    """

    name = "llamafactory-v1"
    aliases = ("llamafactory_v1", "lf-v1")
    description = "LLaMA-Factory v1 ({messages: [{role, content: [{type, value}], loss_weight}]})"
    reads = ("conversation", "preference")
    writes = ("conversation", "demo", "trainer_dialogue", "preference")
    markers = (MARKER,)
    content_parts = True

    def detect(self, row: Any) -> int:
        """4 for ``chosen_messages``/``rejected_messages``, or messages of ``{type, value}``
        parts (``openai`` scores 2 on the same ``messages``)."""
        if not isinstance(row, dict):
            return 0
        if all(k in row for k in _SIDES):
            return 4
        msgs = row.get("messages")
        if isinstance(msgs, list) and msgs and isinstance(msgs[0], dict):
            content = msgs[0].get("content")
            if isinstance(content, list) and content and isinstance(content[0], dict) and (
                "value" in content[0]
            ):
                return 4
        return 0

    def read_row(self, data: Any, opts: Options) -> Iterable[Any]:
        row = expect_object(data)
        marker: dict[str, Any] = {}
        tools = _tools(row, marker)
        if "messages" not in row and all(k in row for k in _SIDES):
            yield self._pair(row, tools, marker, opts)
            return
        turns = _turns(field(row, "messages", list), "$.messages", opts)
        metadata = leftovers(row, ("messages", "tools"))
        if marker:
            metadata[MARKER] = marker
        yield build_conversation(turns, record_id=None, tools=tools, metadata=metadata)

    def _pair(self, row: dict[str, Any], tools: Any, marker: dict[str, Any],
              opts: Options) -> PreferencePair:
        chosen = [t.message for t in _turns(row["chosen_messages"], "$.chosen_messages", opts)]
        rejected = [t.message for t in _turns(row["rejected_messages"], "$.rejected_messages",
                                              opts)]
        n = 0
        while n < min(len(chosen), len(rejected)) - 1 and chosen[n] == rejected[n]:
            n += 1
        metadata = leftovers(row, (*_SIDES, "tools"))
        if tools is not None:
            metadata["tools"] = tools
        if marker:
            metadata[MARKER] = marker
        return build(PreferencePair, {"prompt": chosen[:n], "chosen": chosen[n:],
                                      "rejected": rejected[n:], "metadata": metadata})

    def write_record(self, record: Any, ctx: WriteContext) -> Any:
        meta = dict(record.metadata)
        marker = meta.pop(MARKER, None) or {}
        if isinstance(record, PreferencePair):
            tools = meta.pop("tools", None)
            row: dict[str, Any] = {
                "chosen_messages": [self._message(m, ctx) for m in
                                    [*record.prompt, *record.chosen]],
                "rejected_messages": [self._message(m, ctx) for m in
                                      [*record.prompt, *record.rejected]],
            }
            if record.margin is not None:
                ctx.drop("margin")
            for key in ("id", "group_id"):
                if getattr(record, key) is not None:
                    row.setdefault(key, getattr(record, key))
        else:
            conv = as_conversation(record, ctx, self.name)
            meta = dict(conv.metadata)
            meta.pop(MARKER, None)
            tools = conv.tools
            row = {"messages": [self._message(m, ctx) for m in conv.messages]}
            if conv.id is not None:
                row["id"] = conv.id
        if tools is not None:
            row["tools"] = marker.get("tools") or json.dumps(tools, ensure_ascii=False)
        for key, value in meta.items():
            row.setdefault(key, value)
        return row

    def _message(self, m: Message, ctx: WriteContext) -> dict[str, Any]:
        """One canonical message as v1 parts: reasoning, content, tool calls; loss weight."""
        parts: list[dict[str, str]] = []
        if m.reasoning is not None:
            parts.append({"type": "reasoning", "value": m.reasoning})
        content = m.content
        if isinstance(content, str):
            parts.append({"type": "text", "value": content})
        elif content is not None:
            for p in content:
                if isinstance(p, TextPart):
                    parts.append({"type": "text", "value": p.text})
                else:
                    if p.details:
                        ctx.drop("media.details")
                    parts.append({"type": f"{p.type}_url", "value": media_ref(p, ctx)})
        for c in m.tool_calls or ():
            if c.id is not None:
                ctx.drop("tool_calls.id")
            call = {"name": c.name, "arguments": write_arguments(c, ctx, "object")}
            parts.append({"type": "tool_call", "value": json.dumps(call, ensure_ascii=False)})
        for name in ("name", "tool_call_id"):
            if getattr(m, name) is not None:
                ctx.drop(name)
        d: dict[str, Any] = {"role": m.role, "content": parts}
        if m.weight is not None:
            d["loss_weight"] = float(m.weight)
        return d


FORMAT = register(LlamaFactoryV1())
