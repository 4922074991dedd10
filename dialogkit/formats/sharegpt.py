"""``sharegpt``: ``{id?, conversations: [{from, value}], system?, tools?}`` rows (FastChat et al.).

Roles: ``human``/``user`` -> user; ``gpt``/``chatgpt``/``bing``/``bard``/``assistant``/``model`` ->
assistant; ``system`` -> system; ``observation``/``tool`` -> a tool message; ``function_call`` -> an
assistant message with tool calls: its value is the JSON text ``{"name", "arguments": OBJECT}``
(or a list of them). The canonical ToolCall keeps ``arguments`` as compact JSON text; the writer
turns it back into an object and writes the value the way LLaMA-Factory's data does
(``json.dumps(..., ensure_ascii=False)``), so glaive tool calls come back byte for byte.

LLaMA-Factory variants: a ``system`` column (a non-empty one becomes the first, system, message),
a ``tools`` column as a JSON string (``""`` means none), and other tags for the same layout. A
``{"messages": [{"role", "content"}]}`` row looks exactly like ``openai``, so it is never detected
as sharegpt; read it with ``--from sharegpt`` and the options ``messages_key``/``role_tag``/
``content_tag``.

Media (LLaMA-Factory's multimodal files): with an ``images``/``videos``/``audios`` column, each
``<image>``/``<video>``/``<audio>`` placeholder in a turn's text takes the next entry of its
column and the turn's content becomes a part list (text around the placeholders kept exactly);
placeholder and entry counts must match (rule ``media_count``). The writer puts the placeholders
back and lists the references in those columns. A ``messages`` row of ``role``/``content`` turns
with placeholders and a media column is LLaMA-Factory's multimodal layout: it is detected as
``sharegpt`` (over ``openai``) and read with those tags, which the writer keeps.

Options (``Options.extra``):
    messages_key: the list column (default ``conversations``).
    role_tag: the role key of a turn (default ``from``).
    content_tag: the text key of a turn (default ``value``).

How a row looked is remembered in ``metadata["_sharegpt"]`` (only when it differs from the
defaults): ``system: "column"``, ``tools: "list"`` (or ``""``; the default is LLaMA-Factory's
JSON string), the tags, the source names of the roles, and a turn's extra keys (``turns``,
aligned with the messages), so the writer gives the same shape back. It is private to this
format: other formats never write it (see ``Format.markers``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import orjson

from dialogkit.errors import RecordError
from dialogkit.formats._common import expect_object, field, leftovers, resolve_role, type_name
from dialogkit.formats._dataset_info import finish_sft
from dialogkit.formats._messages import Turn, build_conversation, finish_messages
from dialogkit.media import MEDIA_COLUMNS, PLACEHOLDERS, MediaColumns, with_placeholders
from dialogkit.models import Message
from dialogkit.ops.chat import as_conversation
from dialogkit.registry import Format, Options, WriteContext, register

__all__ = ["FORMAT", "ROLE_ALIASES", "ShareGPT"]

ROLE_ALIASES: dict[str, str] = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "chatgpt": "assistant",
    "bing": "assistant",
    "bard": "assistant",
    "assistant": "assistant",
    "model": "assistant",
    "system": "system",
    "function_call": "assistant",
    "observation": "tool",
    "tool": "tool",
}
# the names the writer uses for canonical roles (FastChat / LLaMA-Factory defaults)
DEFAULT_NAMES: dict[str, str] = {
    "user": "human",
    "assistant": "gpt",
    "system": "system",
    "tool": "observation",
}
FUNCTION_CALL = "function_call"
MARKER = "_sharegpt"
_DEFAULT_KEYS = {"messages": "conversations", "role": "from", "content": "value"}
_OPENAI_KEYS = {"messages": "messages", "role": "role", "content": "content"}


def _is_openai_tagged(row: dict[str, Any]) -> bool:
    msgs = row.get("messages")
    return isinstance(msgs, list) and bool(msgs) and isinstance(msgs[0], dict) and (
        "role" in msgs[0]
    )


def _has_placeholders(row: dict[str, Any]) -> bool:
    """A LLaMA-Factory multimodal row: a media column and a turn whose text has a placeholder."""
    if not any(isinstance(row.get(c), list) for c in MEDIA_COLUMNS.values()):
        return False
    msgs = row.get("messages") or row.get("conversations")
    if not isinstance(msgs, list):
        return False
    for m in msgs:
        if isinstance(m, dict):
            text = m.get("content", m.get("value"))
            if isinstance(text, str) and any(t in text for t in PLACEHOLDERS.values()):
                return True
    return False


def _keys(opts: Options, marker: dict[str, Any] | None = None,
          row: dict[str, Any] | None = None) -> dict[str, str]:
    """The list column and turn tags: options, else what the row was read with, else defaults.

    A row with ``messages`` of ``role``/``content`` turns and no ``conversations`` is
    LLaMA-Factory's OpenAI-tag layout (its multimodal demo files): those tags are used.
    """
    remembered = (marker or {}).get("keys", {})
    if row is not None and "conversations" not in row and _is_openai_tagged(row):
        remembered = _OPENAI_KEYS
    return {
        "messages": opts.get("messages_key") or remembered.get("messages", "conversations"),
        "role": opts.get("role_tag") or remembered.get("role", "from"),
        "content": opts.get("content_tag") or remembered.get("content", "value"),
    }


def read_function_call(value: str, loc: str) -> list[dict[str, Any]]:
    """A ``function_call`` value (JSON ``{"name", "arguments"}`` or a list of them) as ToolCalls."""
    try:
        obj = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise RecordError(
            f"a function_call value must be JSON text: {str(exc).split(': line ')[0]}",
            loc=loc, rule="function_call not JSON",
        ) from exc
    calls = obj if isinstance(obj, list) and obj else [obj]
    out = []
    for call in calls:
        if not isinstance(call, dict) or not isinstance(call.get("name"), str) or (
            "arguments" not in call
        ):
            got = type_name(call) if not isinstance(call, dict) else f"keys {sorted(call)}"
            raise RecordError(
                f'Expected a JSON object {{"name": str, "arguments": ...}}, got {got}',
                loc=loc, rule="function_call shape",
            )
        extra = set(call) - {"name", "arguments"}
        if extra:
            raise RecordError(
                f"Unexpected key {sorted(extra)[0]!r} in a function_call value "
                "(expected name, arguments)", loc=loc, rule="function_call shape",
            )
        # compact and deterministic (key order kept): the canonical JSON text of the arguments
        out.append({"name": call["name"], "arguments": orjson.dumps(call["arguments"]).decode()})
    return out


def _read_tools(row: dict[str, Any], marker: dict[str, Any]) -> Any:
    """The ``tools`` column: a list, or LLaMA-Factory's JSON string of one (``""`` = none)."""
    tools = row.get("tools")
    if not isinstance(tools, str):
        value = field(row, "tools", list, required=False)
        if value is not None:
            marker["tools"] = "list"
        return value
    if tools == "":
        marker["tools"] = ""
        return None
    try:
        parsed = orjson.loads(tools)
    except orjson.JSONDecodeError as exc:
        raise RecordError(
            f"the tools string must be JSON text: {str(exc).split(': line ')[0]}",
            loc="$.tools", rule="tools not JSON",
        ) from exc
    if not isinstance(parsed, list):
        raise RecordError(
            f"Expected a JSON array of tool schemas in the tools string, got `{type_name(parsed)}`",
            loc="$.tools", rule="tools not a list",
        )
    return parsed


class ShareGPT(Format):
    """ShareGPT conversations (``from``/``value`` turns), with LLaMA-Factory's system/tools columns.

    Options: ``messages_key``, ``role_tag``, ``content_tag`` (see the module docstring), plus the
    shared turn policies (``unknown_role``, ``empty_turn``, ``consecutive``).
    """

    name = "sharegpt"
    aliases = ("vicuna", "fastchat")
    description = "ShareGPT / Vicuna conversations ({conversations: [{from, value}]})"
    reads = ("conversation",)
    writes = ("conversation", "demo", "trainer_dialogue")
    markers = ("_sharegpt",)
    content_parts = True

    def detect(self, row: Any) -> int:
        """2 for a ``conversations`` list of ``from`` turns with no preference columns."""
        if not isinstance(row, dict) or {"chosen", "rejected", "label"}.intersection(row):
            return 0
        conv = row.get("conversations")
        if isinstance(conv, list) and conv and isinstance(conv[0], dict) and "from" in conv[0]:
            return 3 if _has_placeholders(row) else 2
        if _is_openai_tagged(row) and _has_placeholders(row):
            return 3  # LLaMA-Factory's multimodal files (openai scores 2 on the same rows)
        return 0

    def read_row(self, data: Any, opts: Options) -> Iterable[Any]:
        row = expect_object(data)
        keys = _keys(opts, row=row)
        mkey, rtag, ctag = keys["messages"], keys["role"], keys["content"]
        turns = field(row, mkey, list)
        marker: dict[str, Any] = {}
        media = MediaColumns(row, opts)
        known = {mkey, "tools", *media.columns()}
        messages: list[Turn] = []
        system = row.get("system")
        if isinstance(system, str) and system != "":
            messages.append(Turn({"role": "system", "content": system}, "$.system"))
            marker["system"] = "column"
            known.add("system")
        elif system is not None and not isinstance(system, str):
            field(row, "system", str)  # raises the typed error
        names: dict[str, set[str]] = {}
        for i, turn in enumerate(turns):
            loc = f"$.{mkey}[{i}]"
            turn = expect_object(turn, loc)
            if rtag not in turn:
                raise RecordError(f"missing required field `{rtag}`", loc=f"{loc}.{rtag}",
                                  rule="missing role")
            raw = turn[rtag]
            role = resolve_role(raw, ROLE_ALIASES, opts, f"{loc}.{rtag}")
            if role is None:
                continue
            value = field(turn, ctag, str, loc)
            msg: dict[str, Any]
            if raw == FUNCTION_CALL:
                msg = {"role": "assistant", "content": None,
                       "tool_calls": read_function_call(value, f"{loc}.{ctag}")}
            else:
                content = media.split(value, f"{loc}.{ctag}") if media else value
                msg = {"role": role, "content": content}
                names.setdefault(role, set()).add(raw)
            messages.append(Turn(msg, loc, leftovers(turn, (rtag, ctag)) or None))
        media.check_all_taken()
        messages = finish_messages(messages, opts)
        extras = [t.tag for t in messages]
        if any(extras):
            marker["turns"] = extras
        if keys != _DEFAULT_KEYS:
            marker["keys"] = keys
        roles = {r: min(n) for r, n in names.items() if len(n) == 1 and min(n) != DEFAULT_NAMES[r]}
        if roles:
            marker["roles"] = roles
        tools = _read_tools(row, marker)
        record_id = row.get("id") if isinstance(row.get("id"), str) else None
        if record_id is not None:
            known.add("id")
        metadata = leftovers(row, known)
        if marker:
            metadata[MARKER] = marker
        yield build_conversation(messages, record_id=record_id, tools=tools, metadata=metadata)

    def write_record(self, record: Any, ctx: WriteContext) -> Any:
        conv = as_conversation(record, ctx, self.name)
        meta = dict(conv.metadata)
        marker = meta.pop(MARKER, None) or {}
        keys = _keys(ctx.options, marker)
        names = {**DEFAULT_NAMES, **marker.get("roles", {})}
        extras = marker.get("turns") or []
        row: dict[str, Any] = {}
        if conv.id is not None:
            row["id"] = conv.id
        messages = list(conv.messages)
        offset = 0
        system_text = None
        if marker.get("system") == "column" and messages and messages[0].role == "system":
            system_text = messages[0].content
            messages = messages[1:]
            offset = 1
        turns = []
        refs: dict[str, list[str]] = {}
        for i, m in enumerate(messages):
            turn = self._turn(m, names, keys, ctx, refs)
            extra = extras[i + offset] if i + offset < len(extras) else None
            if extra:
                turn.update({k: v for k, v in extra.items() if k not in turn})
            turns.append(turn)
        row[keys["messages"]] = turns
        for kind, col in MEDIA_COLUMNS.items():
            if kind in refs:
                row[col] = refs[kind]
        if system_text is not None:
            row["system"] = system_text
        if conv.tools is not None:
            if marker.get("tools") == "list":
                row["tools"] = conv.tools
            else:  # LLaMA-Factory's convention: the tools column is JSON text
                row["tools"] = json.dumps(conv.tools, ensure_ascii=False)
        elif marker.get("tools") == "":
            row["tools"] = ""
        for key, value in meta.items():
            row.setdefault(key, value)
        return row

    def _turn(self, m: Message, names: dict[str, str], keys: dict[str, str],
              ctx: WriteContext, refs: dict[str, list[str]]) -> dict[str, Any]:
        """One canonical message as a ShareGPT turn; fields with no place here are tallied."""
        rtag, ctag = keys["role"], keys["content"]
        for name in ("name", "tool_call_id", "weight", "reasoning"):
            if getattr(m, name) is not None:
                ctx.drop(name)
        if m.tool_calls:
            if m.content:
                raise RecordError(
                    "sharegpt cannot hold an assistant message with both text and tool calls "
                    "(a function_call turn has no text)", rule="content with tool calls",
                )
            if m.content == "":
                ctx.drop("content")
            calls = []
            for c in m.tool_calls:
                if c.id is not None:
                    ctx.drop("tool_calls.id")
                try:
                    args = json.loads(c.arguments)
                except json.JSONDecodeError as exc:
                    raise RecordError(
                        f"tool call arguments are not JSON text ({exc.msg}); sharegpt stores "
                        "them as a JSON value", rule="arguments not JSON",
                    ) from exc
                calls.append({"name": c.name, "arguments": args})
            value: Any = calls[0] if len(calls) == 1 else calls
            return {rtag: FUNCTION_CALL, ctag: json.dumps(value, ensure_ascii=False)}
        text = with_placeholders(m, ctx, refs)
        return {rtag: names[m.role], ctag: text if text is not None else ""}


    def finish(self, dst: Any, ctx: WriteContext) -> None:
        """With option ``dataset_info`` (``--dataset-info``): LLaMA-Factory's entry for the file
        written, in ``dataset_info.json`` beside it, naming every column it reads."""
        finish_sft(self.name, dst, ctx)

FORMAT = register(ShareGPT())
