"""The message helpers chat formats share (``openai``, ``sharegpt``, ``trl`` and the preference
layouts): reading OpenAI-style messages and tool calls, the turn policies, and validating the
result as a Conversation with errors mapped back to each message's place in the source row.

Readers build :class:`Turn` values (a message dict with its source path) so the turn policies
can drop and merge messages and still report every error where the user will find it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, NamedTuple

from dialogkit.errors import RecordError
from dialogkit.formats._common import expect_object, field, resolve_role, type_name
from dialogkit.models import Conversation
from dialogkit.registry import Options, build

__all__ = [
    "MESSAGE_KEYS",
    "ROLES",
    "Turn",
    "apply_turn_policies",
    "build_conversation",
    "check_keys",
    "finish_call",
    "finish_messages",
    "optional_str",
    "policy_messages",
    "read_openai_call",
    "read_openai_messages",
    "read_weight",
    "start_message",
    "with_system",
    "with_system_turn",
]

ROLES: dict[str, str] = {r: r for r in ("system", "user", "assistant", "tool")}
MESSAGE_KEYS = ("role", "content", "name", "tool_calls", "tool_call_id", "weight")
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
    if content is not None and not isinstance(content, str):
        raise RecordError(f"Expected `str` or `null`, got `{type_name(content)}`",
                          loc=f"{loc}.content", rule="wrong type content")
    return {"role": role, "content": content}


def read_openai_messages(
    messages: list[Any], opts: Options, base: str = "$.messages"
) -> list[Turn]:
    """OpenAI-shaped message objects as turns, before the turn policies."""
    out: list[Turn] = []
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
        out.append(Turn(msg, loc))
    return out


def apply_turn_policies(turns: Iterable[Turn], opts: Options) -> list[Turn]:
    """Apply the empty-turn and consecutive-role policies; the surviving turns, source paths kept.

    A merged turn keeps the first turn's path and tag. Returns a new list; the input is not
    changed.
    """
    out: list[Turn] = []
    for msg, loc, tag in turns:
        content = msg.get("content")
        empty = (content is None or content == "") and not msg.get("tool_calls")
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
                joined = opts.merge_separator.join(
                    p for p in (prev.get("content") or "", msg.get("content") or "") if p
                )
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
