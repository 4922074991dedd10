"""The message helpers chat formats share (``openai``, ``sharegpt``, ``trl`` and the preference
layouts): reading OpenAI-style messages and tool calls, the turn policies, and validating the
result as a Conversation with errors mapped back to each message's place in the source row.

Readers build :class:`Turn` values (a message dict with its source path) so the turn policies
can drop and merge messages and still report every error where the user will find it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any, NamedTuple

import orjson

from dialogkit.errors import RecordError
from dialogkit.formats._common import expect_object, field, resolve_role, type_name
from dialogkit.media import MediaColumns, media_part
from dialogkit.models import Conversation, ToolCall
from dialogkit.registry import Options, WriteContext, build

__all__ = [
    "MESSAGE_KEYS",
    "REASONING_KEYS",
    "ROLES",
    "Turn",
    "apply_turn_policies",
    "build_conversation",
    "check_keys",
    "finish_call",
    "finish_messages",
    "optional_str",
    "policy_messages",
    "read_arguments",
    "read_content",
    "read_openai_call",
    "read_openai_messages",
    "read_reasoning",
    "read_weight",
    "start_message",
    "with_system",
    "with_system_turn",
    "write_arguments",
]

ROLES: dict[str, str] = {r: r for r in ("system", "user", "assistant", "tool")}
REASONING_KEYS = ("reasoning_content", "reasoning", "thinking")
MESSAGE_KEYS = ("role", "content", "name", "tool_calls", "tool_call_id", "weight",
                *REASONING_KEYS)
_CALL_KEYS = ("id", "type", "function")
_FUNCTION_KEYS = ("name", "arguments")
_REASON_INDEX = re.compile(r"messages\[(\d+)\]")


class Turn(NamedTuple):
    """One message dict on its way to the canonical model, with its source path for errors.

    ``tag`` is what the reader wants back about this turn after the policies (the TRL column it
    came from, a ShareGPT turn's extra keys); the policies carry it along untouched.
    """

    message: dict[str, Any]
    loc: str
    tag: Any = None


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


def build_conversation(
    turns: list[Turn],
    *,
    record_id: str | None,
    tools: Any,
    metadata: dict[str, Any],
) -> Conversation:
    """Validate turns as a Conversation.

    A canonical validation error at ``$.messages[i]...`` is reported at turn ``i``'s source
    path, so the user finds it in their own file.
    """
    locs = [t.loc for t in turns]
    data: dict[str, Any] = {"messages": [t.message for t in turns], "metadata": metadata}
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


def finish_messages(turns: list[Turn], opts: Options) -> list[Turn]:
    """Apply the turn policies and the ``system`` option (source paths stay attached)."""
    return with_system_turn(apply_turn_policies(turns, opts), opts)


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
    name = field(fn, "name", str, floc)
    out: dict[str, Any] = {"name": name, **read_arguments(fn, floc, name)}
    return finish_call(call, loc, out)


def read_arguments(fn: dict[str, Any], floc: str, name: str) -> dict[str, Any]:
    """A call's ``arguments``, a JSON string or a JSON object, as canonical ``arguments`` (the
    exact text; an object serialised compactly, key order kept) and ``arguments_form``.

    Text that is not JSON is an error naming the call: no trainer can parse it either.
    """
    if fn.get("arguments") is None:
        raise RecordError("missing required field `arguments`", loc=f"{floc}.arguments",
                          rule="missing arguments")
    args = fn["arguments"]
    if isinstance(args, dict):
        return {"arguments": orjson.dumps(args).decode(), "arguments_form": "object"}
    if not isinstance(args, str):
        raise RecordError(f"Expected `str` or `object`, got `{type_name(args)}`",
                          loc=f"{floc}.arguments", rule="wrong type arguments")
    try:
        json.loads(args)
    except json.JSONDecodeError as exc:
        raise RecordError(
            f"the arguments of tool call {name!r} are not valid JSON: {exc.msg} "
            f"(char {exc.pos})", loc=f"{floc}.arguments", rule="arguments not JSON",
        ) from exc
    return {"arguments": args}


def read_reasoning(m: dict[str, Any], loc: str, seen: dict[str, Any]) -> str | None:
    """A message's reasoning from ``reasoning_content``, ``reasoning`` or ``thinking`` (one of
    them); the key it came under is kept in ``seen["reasoning"]`` so a writer can reuse it."""
    found = [k for k in REASONING_KEYS if m.get(k) is not None]
    if not found:
        return None
    if len(found) > 1:
        raise RecordError(f"a message has one reasoning field, got {', '.join(found)}",
                          loc=f"{loc}.{found[1]}", rule="reasoning keys")
    key = found[0]
    seen.setdefault("reasoning", key)
    return field(m, key, str, loc)  # type: ignore[no-any-return]


# OpenAI's part types (and vLLM's audio_url/video_url), then transformers'/TRL's
_URL_PARTS = {"image_url": "image", "audio_url": "audio", "video_url": "video"}
_BARE_PARTS = ("image", "audio", "video")
_BARE_SOURCES = ("url", "path", "base64", "image", "audio", "video")
_PART_TYPES = ("text", "image_url", "input_audio", "audio_url", "video_url", *_BARE_PARTS)


def read_content(
    content: Any,
    loc: str,
    opts: Options,
    column: MediaColumns | None = None,
) -> Any:
    """A message's content: a string, null, or a list of parts as canonical part dicts.

    Reads OpenAI's parts (``text``, ``image_url`` with ``url``/``detail``, ``input_audio`` with
    ``data``/``format``; vLLM's ``audio_url``/``video_url``) and transformers' (``{"type":
    "image", "url"|"path"|"base64"|"image": ...}``). A bare ``{"type": "image"}`` takes the next
    entry of ``column`` (TRL's ``images`` column); with no entry left it is an error.
    """
    if content is None or isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise RecordError(f"Expected `str`, `array` or `null`, got `{type_name(content)}`",
                          loc=loc, rule="wrong type content")
    parts: list[dict[str, Any]] = []
    for j, p in enumerate(content):
        ploc = f"{loc}[{j}]"
        p = expect_object(p, ploc)
        kind = p.get("type")
        if kind == "text":
            check_keys(p, ("type", "text"), ploc, "a text part")
            parts.append({"type": "text", "text": field(p, "text", str, ploc)})
        elif kind in _URL_PARTS:
            check_keys(p, ("type", kind), ploc, f"an {kind} part")
            inner = field(p, kind, dict, ploc)
            iloc = f"{ploc}.{kind}"
            keys = ("url", "detail") if kind == "image_url" else ("url",)
            check_keys(inner, keys, iloc, f"an {kind} object")
            url = field(inner, "url", str, iloc)
            detail = optional_str(inner, "detail", iloc)
            parts.append(media_part(_URL_PARTS[kind], url, opts, f"{iloc}.url",
                                    details={"detail": detail} if detail is not None else None))
        elif kind == "input_audio":
            check_keys(p, ("type", "input_audio"), ploc, "an input_audio part")
            inner = field(p, "input_audio", dict, ploc)
            iloc = f"{ploc}.input_audio"
            check_keys(inner, ("data", "format"), iloc, "an input_audio object")
            part: dict[str, Any] = {"type": "audio", "data": field(inner, "data", str, iloc)}
            fmt = optional_str(inner, "format", iloc)
            if fmt is not None:
                part["details"] = {"format": fmt}
            parts.append(part)
        elif kind in _BARE_PARTS:
            check_keys(p, ("type", *_BARE_SOURCES), ploc, f"an {kind} part")
            given = [k for k in _BARE_SOURCES if p.get(k) is not None]
            if given:
                key = given[0]
                ref = field(p, key, str, ploc)
                if key == "base64":
                    ref = f"data:;base64,{ref}"
                parts.append(media_part(kind, ref, opts, f"{ploc}.{key}"))
                continue
            if column is None:
                raise RecordError(
                    f"an {kind} part with no {kind}: the row has no {kind}s column",
                    loc=ploc, rule="media_count",
                )
            parts.append(column.take(kind, ploc, f"{kind} part"))
        else:
            known = ", ".join(repr(t) for t in _PART_TYPES)
            raise RecordError(f"Expected one of {known}, got {kind!r}", loc=f"{ploc}.type",
                              rule="part type")
    return parts


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
    known role (None when the unknown-role policy drops it), and text, parts or null content
    (parts are read by :func:`read_content`).

    Returns ``{role, content}`` for the reader to complete.
    """
    m = expect_object(m, loc)
    check_keys(m, keys, loc, "a message")
    if "role" not in m:
        raise RecordError("missing required field `role`", loc=f"{loc}.role", rule="missing role")
    role = resolve_role(m["role"], ROLES, opts, f"{loc}.role")
    if role is None:
        return None
    content = m.get("content")
    if content is not None and not isinstance(content, (str, list)):
        raise RecordError(f"Expected `str`, `array` or `null`, got `{type_name(content)}`",
                          loc=f"{loc}.content", rule="wrong type content")
    return {"role": role, "content": content}


def read_openai_messages(
    messages: list[Any], opts: Options, base: str = "$.messages",
    seen: dict[str, Any] | None = None,
) -> list[Turn]:
    """OpenAI-shaped message objects as turns, before the turn policies.

    ``seen`` collects what the writer needs to give the row back in its own form (the key the
    reasoning came under).
    """
    out: list[Turn] = []
    seen = {} if seen is None else seen
    for i, m in enumerate(messages):
        loc = f"{base}[{i}]"
        msg = start_message(m, loc, MESSAGE_KEYS, opts)
        if msg is None:
            continue
        if type(msg["content"]) is list:
            msg["content"] = read_content(msg["content"], f"{loc}.content", opts)
            _check_openai_media(msg, loc)
        if len(m) == 2 and "content" in m:  # just role and content: nothing optional to read
            out.append(Turn(msg, loc))
            continue
        for key in ("name", "tool_call_id"):
            value = optional_str(m, key, loc)
            if value is not None:
                msg[key] = value
        weight = read_weight(m, loc)
        if weight is not None:
            if msg["role"] != "assistant":
                raise RecordError("weight is only allowed on assistant messages", loc=loc,
                                  rule="weight_role")
            msg["weight"] = weight
        if "reasoning_content" in m or "reasoning" in m or "thinking" in m:
            reasoning = read_reasoning(m, loc, seen)
            if reasoning is not None:
                msg["reasoning"] = reasoning
        calls = field(m, "tool_calls", list, loc, required=False)
        if calls is not None:
            msg["tool_calls"] = [
                read_openai_call(c, f"{loc}.tool_calls[{j}]") for j, c in enumerate(calls)
            ]
            if any("arguments_form" in c for c in msg["tool_calls"]):
                seen["arguments"] = "object"  # written back as objects, as they came
        out.append(Turn(msg, loc))
    return out


def _check_openai_media(msg: dict[str, Any], loc: str) -> None:
    """OpenAI allows media parts in user turns only (rule ``media_role``)."""
    if msg["role"] == "user":
        return
    for j, p in enumerate(msg["content"]):
        if p["type"] != "text":
            raise RecordError(
                f"{p['type']} parts are allowed in user turns only, not in a {msg['role']} turn",
                loc=f"{loc}.content[{j}]", rule="media_role",
            )


def _joined(prev: Any, cur: Any, sep: str) -> Any:
    """Two turns' contents merged: strings joined with ``sep``; part lists concatenated with a
    ``sep`` text part between them (a string side becomes a text part)."""
    if type(prev) is not list and type(cur) is not list:
        return sep.join(p for p in (prev or "", cur or "") if p)

    def parts(c: Any) -> list[dict[str, Any]]:
        if not c:
            return []
        return c if type(c) is list else [{"type": "text", "text": c}]

    a, b = parts(prev), parts(cur)
    return [*a, {"type": "text", "text": sep}, *b] if a and b and sep else [*a, *b]


def apply_turn_policies(turns: Iterable[Turn], opts: Options) -> list[Turn]:
    """Apply the empty-turn and consecutive-role policies; the surviving turns, source paths kept.

    A merged turn keeps the first turn's path and tag. Returns a new list; the input is not
    changed.
    """
    out: list[Turn] = []
    for msg, loc, tag in turns:
        content = msg.get("content")
        empty = (content is None or content == "" or content == []) and not msg.get("tool_calls")
        if empty:
            if opts.empty_turn == "reject":
                raise RecordError(
                    "empty turn (use --empty-turn drop or keep to accept it)",
                    loc=loc,
                    rule="empty turn",
                )
            if opts.empty_turn == "drop":
                continue
            if content is None:
                msg = {**msg, "content": ""}
        if (
            out
            and out[-1].message["role"] == msg["role"]
            and msg["role"] in ("user", "assistant", "system")
        ):
            if opts.consecutive == "reject":
                raise RecordError(
                    f"two {msg['role']} turns in a row (use --consecutive merge or keep)",
                    loc=loc,
                    rule="consecutive turns",
                )
            if opts.consecutive == "merge":
                prev = out[-1].message
                if prev.get("tool_calls") or msg.get("tool_calls"):
                    raise RecordError(
                        "cannot merge turns that carry tool calls",
                        loc=loc,
                        rule="consecutive turns",
                    )
                joined = _joined(prev.get("content"), msg.get("content"),
                                 opts.merge_separator)
                out[-1] = out[-1]._replace(message={**prev, "content": joined})
                continue
        out.append(Turn(msg, loc, tag))
    return out


def policy_messages(
    messages: list[dict[str, Any]], locs: list[str], opts: Options
) -> list[dict[str, Any]]:
    """:func:`apply_turn_policies` for readers that need only the surviving message dicts."""
    return [t.message for t in apply_turn_policies(map(Turn, messages, locs), opts)]


def with_system(messages: list[dict[str, Any]], opts: Options) -> list[dict[str, Any]]:
    """Prepend ``opts.system`` when set and the messages have no system turn yet."""
    if opts.system is None or (messages and messages[0].get("role") == "system"):
        return messages
    return [{"role": "system", "content": opts.system}, *messages]


def with_system_turn(turns: list[Turn], opts: Options) -> list[Turn]:
    """:func:`with_system` for turns (the added system turn is located at ``$``)."""
    if opts.system is None or (turns and turns[0].message.get("role") == "system"):
        return turns
    return [Turn({"role": "system", "content": opts.system}, "$"), *turns]


def write_arguments(c: ToolCall, ctx: WriteContext, default: str) -> Any:
    """A call's arguments in the form asked for (``tool_arguments``), else ``default``
    (``source``: the form it was read in). An object is written only for text that parses as
    a JSON object; any other text stays the string it is."""
    form = ctx.options.get("tool_arguments") or default
    if form == "source":
        form = c.arguments_form or "string"
    if form == "object":
        try:
            parsed = json.loads(c.arguments)
        except json.JSONDecodeError:
            return c.arguments
        if isinstance(parsed, dict):
            return parsed
    return c.arguments
