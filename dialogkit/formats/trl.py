"""``trl``: the columns TRL's ``SFTTrainer`` reads, as conversations.

Rows:
    ``{"messages": [...]}``: conversational language modeling -> Conversation.
    ``{"prompt": [...], "completion": [...]}``: conversational prompt-completion -> Conversation
    (prompt + completion); ``metadata["_trl"]`` keeps ``type: "prompt-completion"`` and
    ``prompt_len`` so the writer splits it at the same place.
    ``{"prompt": str, "completion": str}``: standard prompt-completion -> Conversation
    [user, assistant] with ``format: "standard"`` in ``metadata["_trl"]``, written back as strings.
    ``{"text": str}``: rejected ("plain text has no roles"): a rendered string cannot be turned
    back into turns. It is not detected either.
A ``tools`` column (a list of JSON schemas, or the JSON string older ``datasets`` needed) is kept.

Vision-language rows (TRL's VLM layout): content lists of ``{"type": "image"}`` and ``{"type":
"text", "text"}`` parts with an ``images`` column holding the images in order (``videos`` and
``audios`` likewise); a part may also name its source (``url``/``path``/``base64``). Counts must
match (rule ``media_count``). String content stays a string; text-only part lists stay lists.

Messages follow TRL: ``{role, content, tool_calls?, name?, tool_call_id?, thinking?}``; a tool
call is ``{type: "function", function: {name, arguments: OBJECT}}`` (``id`` optional);
``thinking`` (or ``reasoning_content``/``reasoning``, written back under the same key) is the
canonical ``reasoning``. Canonical ``arguments`` is JSON text: the reader
serialises an object compactly (orjson, key order kept); the writer parses it back to an object.
When that changes the text (``'{"altitude": 100}'`` has a space) the exact spacing is lost:
no ``_`` bookkeeping column ever reaches an output row, so it is tallied as dropped (``_trl``;
with ``--strict`` the record is rejected). Text that is not a JSON object (the drone file's
double-encoded arguments) is written as the string it is.

Writer option ``trl_type``: ``messages`` | ``prompt-completion`` | ``text``. Default: what the
record was read as (``metadata["_trl"]``), else ``messages``. ``prompt-completion`` without a
remembered split puts every message after the last user turn in ``completion``. ``text`` needs a
chat template to render messages and is a UsageError for now.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import orjson

from dialogkit.errors import RecordError, UsageError
from dialogkit.formats._common import expect_object, field, leftovers, type_name
from dialogkit.formats._messages import (
    REASONING_KEYS,
    Turn,
    build_conversation,
    check_keys,
    finish_call,
    finish_messages,
    optional_str,
    read_arguments,
    read_content,
    read_reasoning,
    start_message,
    write_arguments,
)
from dialogkit.media import MEDIA_COLUMNS, MediaColumns, media_ref
from dialogkit.models import Conversation, Message, TextPart
from dialogkit.ops.chat import as_conversation
from dialogkit.registry import Format, Options, WriteContext, register

__all__ = ["FORMAT", "TRL", "TRL_TYPES"]

TRL_TYPES = ("messages", "prompt-completion", "text")
MARKER = "_trl"
MESSAGE_KEYS = ("role", "content", "name", "tool_calls", "tool_call_id", *REASONING_KEYS)
_CALL_KEYS = ("id", "type", "function")
_FUNCTION_KEYS = ("name", "arguments")
_OTHER_LAYOUTS = frozenset({"chosen", "rejected", "label", "completions", "labels"})


def _is_messages(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and isinstance(value[0], dict) and (
        "role" in value[0]
    )


def _read_call(call: Any, loc: str, remembered: dict[str, str], key: str) -> dict[str, Any]:
    """A TRL tool call as a canonical ToolCall dict (``arguments`` as JSON text)."""
    call = expect_object(call, loc)
    check_keys(call, _CALL_KEYS, loc, "a tool call")
    fn = field(call, "function", dict, loc)
    floc = f"{loc}.function"
    check_keys(fn, _FUNCTION_KEYS, floc, "a tool call's function")
    name = field(fn, "name", str, floc)
    out = {"name": name, **read_arguments(fn, floc, name)}
    args = fn["arguments"]
    if key in remembered and remembered[key] != out["arguments"]:
        try:
            same = json.loads(remembered[key]) == args
        except json.JSONDecodeError:
            same = False
        if same:  # the exact text the record had before it was written as an object
            out = {"name": name, "arguments": remembered[key]}
    return finish_call(call, loc, out)


def _read_messages(items: list[Any], column: str, opts: Options, remembered: dict[str, str],
                   start: int = 0, media: MediaColumns | None = None,
                   seen: dict[str, Any] | None = None) -> list[Turn]:
    """TRL message objects as turns tagged with their column (``None`` values count as absent,
    as Arrow writes them). ``media`` holds the row's media columns for bare image parts."""
    out: list[Turn] = []
    for i, m in enumerate(items):
        loc = f"$.{column}[{i}]"
        m = expect_object(m, loc)
        m = {k: v for k, v in m.items() if v is not None or k == "content"}
        msg = start_message(m, loc, MESSAGE_KEYS, opts)
        if msg is None:
            continue
        if type(msg["content"]) is list:
            msg["content"] = read_content(msg["content"], f"{loc}.content", opts, media)
        for key in ("name", "tool_call_id"):
            if key in m:
                msg[key] = field(m, key, str, loc)
        if "thinking" in m or "reasoning_content" in m or "reasoning" in m:
            msg["reasoning"] = read_reasoning(m, loc, seen if seen is not None else {})
        if "tool_calls" in m:
            calls = field(m, "tool_calls", list, loc)
            msg["tool_calls"] = [
                _read_call(c, f"{loc}.tool_calls[{j}]", remembered, f"{start + i}.{j}")
                for j, c in enumerate(calls)
            ]
        out.append(Turn(msg, loc, column))
    return out


def _read_tools(row: dict[str, Any], marker: dict[str, Any]) -> Any:
    """The ``tools`` column: a list of schemas, or that list as a JSON string."""
    tools = row.get("tools")
    if not isinstance(tools, str):
        return field(row, "tools", list, required=False)
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
    marker["tools"] = "string"
    return parsed


class TRL(Format):
    """TRL SFT rows: ``messages``, or ``prompt``/``completion`` (message lists or strings).

    Options: ``trl_type`` for the writer (``messages`` | ``prompt-completion``; ``text`` is a
    UsageError until chat templates are supported), plus the shared turn policies for reading.
    """

    name = "trl"
    aliases = ("trl-sft",)
    description = "TRL SFT columns: messages, or prompt/completion (conversational or standard)"
    reads = ("conversation",)
    writes = ("conversation", "demo", "trainer_dialogue")
    markers = ("_trl",)
    content_parts = True

    def detect(self, row: Any) -> int:
        """3: conversational prompt/completion; 1: ``messages`` or string prompt/completion."""
        if not isinstance(row, dict) or _OTHER_LAYOUTS.intersection(row):
            return 0
        if "prompt" in row and "completion" in row:
            p, c = row["prompt"], row["completion"]
            if _is_messages(p) and _is_messages(c):
                return 3
            if isinstance(p, str) and isinstance(c, str):
                return 1
            return 0
        if "prompt" not in row and "completion" not in row and _is_messages(row.get("messages")):
            return 1
        return 0

    def read_row(self, data: Any, opts: Options) -> Iterable[Any]:
        row = expect_object(data)
        raw_marker = row.get(MARKER)
        carried: dict[str, Any] = raw_marker if isinstance(raw_marker, dict) else {}
        remembered = carried.get("arguments") or {}
        marker: dict[str, Any] = {}
        media = MediaColumns(row, opts)
        seen: dict[str, Any] = {}
        if "messages" in row:
            items = field(row, "messages", list)
            messages = _read_messages(items, "messages", opts, remembered, 0, media, seen)
            known: tuple[str, ...] = ("messages",)
        elif "prompt" in row and "completion" in row:
            known = ("prompt", "completion")
            prompt, completion = row["prompt"], row["completion"]
            if isinstance(prompt, str) and isinstance(completion, str):
                messages = [
                    Turn({"role": "user", "content": prompt}, "$.prompt", "prompt"),
                    Turn({"role": "assistant", "content": completion}, "$.completion",
                         "completion"),
                ]
                marker.update({"type": "prompt-completion", "format": "standard"})
            elif isinstance(prompt, list) and isinstance(completion, list):
                messages = _read_messages(prompt, "prompt", opts, remembered, 0, media, seen)
                messages += _read_messages(completion, "completion", opts, remembered,
                                           len(prompt), media, seen)
                marker["type"] = "prompt-completion"
            else:
                raise RecordError(
                    "`prompt` and `completion` must both be strings or both be message lists, "
                    f"got `{type_name(prompt)}` and `{type_name(completion)}`",
                    loc="$.completion", rule="prompt/completion types",
                )
        elif "text" in row:
            raise RecordError(
                "plain text has no roles: a TRL `text` row cannot be read as a conversation",
                loc="$.text", rule="plain text",
            )
        else:
            raise RecordError(
                "Expected TRL SFT columns: `messages`, or `prompt` and `completion`",
                loc="$", rule="not a TRL SFT row",
            )
        media.check_all_taken("parts")
        if seen.get("reasoning", "thinking") != "thinking":
            marker["reasoning"] = seen["reasoning"]
        messages = finish_messages(messages, opts)
        if marker.get("type") == "prompt-completion" and "format" not in marker:
            marker["prompt_len"] = sum(1 for t in messages if t.tag == "prompt")
        tools = _read_tools(row, marker)
        record_id = optional_str(row, "id", "$")
        metadata = leftovers(row, {*known, "tools", "id", MARKER,
                                    *media.columns()})
        extra_marker = {k: v for k, v in carried.items() if k != "arguments"}
        marker = {**extra_marker, **marker}
        if marker:
            metadata[MARKER] = marker
        yield build_conversation(messages, record_id=record_id, tools=tools, metadata=metadata)

    def write_record(self, record: Any, ctx: WriteContext) -> Any:
        conv = as_conversation(record, ctx, self.name)
        meta = dict(conv.metadata)
        marker = meta.pop(MARKER, None) or {}
        trl_type = ctx.options.get("trl_type") or marker.get("type") or "messages"
        if trl_type not in TRL_TYPES:
            raise UsageError(f"trl_type must be one of {', '.join(TRL_TYPES)}, got {trl_type!r}")
        if trl_type == "text":
            raise UsageError(
                "trl_type=text needs a chat template to render messages into text, which the "
                "trl writer does not do yet; write `messages` or `prompt-completion`"
            )
        remember: dict[str, str] = {}
        rkey = marker.get("reasoning") or "thinking"
        row: dict[str, Any] = {}
        if conv.id is not None:
            row["id"] = conv.id
        if trl_type == "messages":
            row["messages"] = [self._message(m, i, remember, ctx, rkey)
                               for i, m in enumerate(conv.messages)]
        elif marker.get("format") == "standard" and ctx.options.get("trl_type") is None:
            row.update(self._standard(conv))
        else:
            cut = self._split(conv, marker)
            out = [self._message(m, i, remember, ctx, rkey)
                   for i, m in enumerate(conv.messages)]
            row["prompt"], row["completion"] = out[:cut], out[cut:]
        if conv.tools is not None:
            tools_as_string = marker.get("tools") == "string"
            row["tools"] = json.dumps(conv.tools, ensure_ascii=False) if tools_as_string \
                else conv.tools
        for key, value in meta.items():
            row.setdefault(key, value)
        media = [p for m in conv.messages for p in m.media] if ctx.parts else None
        if media:
            if any(p.details for p in media):
                ctx.drop("media.details")  # OpenAI's detail, an audio format: no place here
            for kind, col in MEDIA_COLUMNS.items():
                refs = [media_ref(p, ctx) for p in media if p.type == kind]
                if refs:
                    row[col] = refs
        if remember:
            row[MARKER] = {"arguments": remember}
        return row

    def _standard(self, conv: Conversation) -> dict[str, str]:
        """Standard prompt/completion strings: the record must be exactly [user, assistant] text."""
        msgs = conv.messages
        plain = all(
            type(m.content) is str and not m.tool_calls and m.name is None
            and m.tool_call_id is None and m.weight is None and m.reasoning is None
            for m in msgs
        )
        if len(msgs) != 2 or [m.role for m in msgs] != ["user", "assistant"] or not plain:
            raise RecordError(
                "standard prompt/completion holds exactly one user and one assistant text turn, "
                f"got roles {[m.role for m in msgs]}", rule="not standard prompt/completion",
            )
        return {"prompt": msgs[0].content or "", "completion": msgs[1].content or ""}

    def _split(self, conv: Conversation, marker: dict[str, Any]) -> int:
        """Where the completion starts: the remembered split, else after the last user turn."""
        n = len(conv.messages)
        cut = marker.get("prompt_len")
        if isinstance(cut, int) and 0 < cut < n:
            return cut
        users = [i for i, m in enumerate(conv.messages) if m.role == "user"]
        if not users or users[-1] == n - 1:
            raise RecordError(
                "prompt-completion needs a user turn followed by the completion",
                rule="no completion",
            )
        return users[-1] + 1

    def _message(self, m: Message, i: int, remember: dict[str, str],
                 ctx: WriteContext, reasoning_key: str = "thinking") -> dict[str, Any]:
        """One canonical message in TRL's shape (tool-call arguments as objects)."""
        d: dict[str, Any] = {"role": m.role}
        content = m.content
        if content is not None:
            d["content"] = content if type(content) is str else [
                {"type": "text", "text": p.text} if isinstance(p, TextPart) else {"type": p.type}
                for p in content
            ]
        if m.reasoning is not None:
            d[reasoning_key] = m.reasoning
        if m.name is not None:
            d["name"] = m.name
        if m.tool_calls:
            calls = []
            for j, c in enumerate(m.tool_calls):
                args = write_arguments(c, ctx, "object")
                if isinstance(args, dict) and orjson.dumps(args).decode() != c.arguments:
                    remember[f"{i}.{j}"] = c.arguments
                call: dict[str, Any] = {}
                if c.id is not None:
                    call["id"] = c.id
                call["type"] = "function"
                call["function"] = {"name": c.name, "arguments": args}
                calls.append(call)
            d["tool_calls"] = calls
        if m.tool_call_id is not None:
            d["tool_call_id"] = m.tool_call_id
        if m.weight is not None:
            ctx.drop("weight")
        return d


FORMAT = register(TRL())
