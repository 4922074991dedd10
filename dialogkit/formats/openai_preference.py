"""``openai-preference``: OpenAI's preference (DPO) fine-tuning JSONL, read and written.

One row is ``{"input": {"messages": [...], "tools"?: [...], "parallel_tool_calls"?: bool},
"preferred_output": [assistant message], "non_preferred_output": [assistant message]}`` and
becomes a :class:`~dialogkit.models.PreferencePair` (``input.messages`` is the prompt).

Where things go: ``input.tools`` and ``input.parallel_tool_calls`` are kept in ``metadata``
under ``tools`` and ``parallel_tool_calls`` (the same key TRL's ``tools`` column uses, so a
conversion to ``trl-preference`` carries them as that column); other keys of ``input`` go to
``metadata["input"]``. Top-level ``id`` and ``group_id`` strings fill the record's fields; every
other top-level key goes to ``metadata``. OpenAI has no margin: writing tallies ``margin`` as
dropped. Each output must be exactly one assistant message.

This module also holds the OpenAI-style message helpers the TRL and LLaMA-Factory modules share.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from dialogkit.errors import RecordError
from dialogkit.formats._common import (
    expect_object,
    field,
    leftovers,
    resolve_role,
    type_name,
)
from dialogkit.formats._messages import policy_messages
from dialogkit.formats.openai import write_message
from dialogkit.models import Message, PreferencePair
from dialogkit.registry import Format, Options, WriteContext, build, register

# metadata keys that remember how a record was laid out in its source (see trl_preference.py and
# llamafactory.py); writers never write them as columns
MARKERS = frozenset({"_trl", "_llamafactory"})

_ROLES = {"system": "system", "user": "user", "assistant": "assistant", "tool": "tool"}
_MESSAGE_KEYS = frozenset({"role", "content", "name", "tool_calls", "tool_call_id"})


def read_tool_call(obj: Any, loc: str) -> dict[str, Any]:
    """One OpenAI/TRL tool call ``{id?, type?, function: {name, arguments}}`` as a ToolCall dict.

    ``arguments`` may be JSON text (kept as is) or an object (TRL's docs), which is kept as its
    compact JSON text.
    """
    call = expect_object(obj, loc)
    kind = field(call, "type", str, loc, required=False)
    if kind is not None and kind != "function":
        raise RecordError(f"Expected 'function', got {kind!r}", loc=f"{loc}.type",
                          rule="tool call type")
    fn = expect_object(field(call, "function", dict, loc), f"{loc}.function")
    name = field(fn, "name", str, f"{loc}.function")
    args = field(fn, "arguments", (str, dict), f"{loc}.function")
    if isinstance(args, dict):
        args = orjson.dumps(args).decode()
    out: dict[str, Any] = {"name": name, "arguments": args}
    call_id = field(call, "id", str, loc, required=False)
    if call_id is not None:
        out["id"] = call_id
    return out


def read_message(obj: Any, loc: str, opts: Options) -> dict[str, Any] | None:
    """An OpenAI-style message ``{role, content, ...}`` as a Message dict (None = role dropped)."""
    msg = expect_object(obj, loc)
    for key in msg:
        if key not in _MESSAGE_KEYS:
            raise RecordError(f"unexpected key `{key}` in a message", loc=f"{loc}.{key}",
                              rule="unexpected message key")
    raw_role = field(msg, "role", str, loc)
    role = resolve_role(raw_role, _ROLES, opts, f"{loc}.role")
    if role is None:
        return None
    out: dict[str, Any] = {"role": role, "content": field(msg, "content", str, loc, required=False)}
    for key in ("name", "tool_call_id"):
        value = field(msg, key, str, loc, required=False)
        if value is not None:
            out[key] = value
    calls = field(msg, "tool_calls", list, loc, required=False)
    if calls:
        out["tool_calls"] = [
            read_tool_call(c, f"{loc}.tool_calls[{i}]") for i, c in enumerate(calls)
        ]
    return out


def read_messages(value: Any, loc: str, opts: Options) -> list[dict[str, Any]]:
    """A JSON array of OpenAI-style messages, with the turn policies applied."""
    if not isinstance(value, list):
        raise RecordError(f"Expected `array`, got `{type_name(value)}`", loc=loc,
                          rule="expected array")
    msgs: list[dict[str, Any]] = []
    locs: list[str] = []
    for i, item in enumerate(value):
        m = read_message(item, f"{loc}[{i}]", opts)
        if m is not None:
            msgs.append(m)
            locs.append(f"{loc}[{i}]")
    return policy_messages(msgs, locs, opts)


def dump_message(m: Message, ctx: WriteContext) -> dict[str, Any]:
    """A canonical Message as an OpenAI-style dict (``content`` left out when None; no weight)."""
    return write_message(m, ctx, weight=False)


def dump_messages(messages: Iterable[Message], ctx: WriteContext) -> list[dict[str, Any]]:
    """Canonical messages as OpenAI-style dicts."""
    return [dump_message(m, ctx) for m in messages]


def take_ids(data: Mapping[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """String ``id``/``group_id`` columns as record fields (other types stay in metadata)."""
    out: dict[str, Any] = {}
    for key in ("id", "group_id"):
        if isinstance(data.get(key), str):
            out[key] = data[key]
    return out, set(out)


def put_extras(row: dict[str, Any], record: Any, ctx: WriteContext) -> dict[str, Any]:
    """Add a record's ``group_id``, ``id`` and metadata to an output row as extra top-level keys.

    Keys the row already has win (a colliding metadata key is tallied as dropped); layout
    markers (:data:`MARKERS`) are never written.
    """
    for key in ("group_id", "id"):
        value = getattr(record, key, None)
        if value is not None and key not in row:
            row[key] = value
    for key, value in record.metadata.items():
        if key in MARKERS:
            continue
        if key in row:
            ctx.drop(f"metadata.{key}")
            continue
        row[key] = value
    return row


def without_markers(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """A record's metadata without the layout markers of other formats."""
    return {k: v for k, v in metadata.items() if k not in MARKERS}


def _one_assistant(data: dict[str, Any], key: str, opts: Options) -> list[dict[str, Any]]:
    value = field(data, key, list, "$")
    if len(value) != 1:
        raise RecordError(f"Expected exactly 1 message, got {len(value)}", loc=f"$.{key}",
                          rule="output length")
    msgs = read_messages(value, f"$.{key}", opts)
    if msgs and msgs[0]["role"] != "assistant":
        raise RecordError(f"Expected 'assistant', got {msgs[0]['role']!r}",
                          loc=f"$.{key}[0].role", rule="output role")
    return msgs


class OpenAIPreference(Format):
    """OpenAI preference fine-tuning rows <-> PreferencePair (tools kept in metadata)."""

    name = "openai-preference"
    aliases = ("openai-dpo",)
    description = (
        "OpenAI preference fine-tuning JSONL (input, preferred_output, non_preferred_output)"
    )
    reads = ("preference",)
    writes = ("preference",)

    def detect(self, row: Any) -> int:
        if not isinstance(row, dict):
            return 0
        inp = row.get("input")
        if (isinstance(inp, dict) and isinstance(inp.get("messages"), list)
                and isinstance(row.get("preferred_output"), list)
                and isinstance(row.get("non_preferred_output"), list)):
            return 4
        return 0

    def read_row(self, data: Any, opts: Options) -> Iterable[Any]:
        d = expect_object(data)
        inp = field(d, "input", dict, "$")
        prompt = read_messages(field(inp, "messages", list, "$.input"), "$.input.messages", opts)
        chosen = _one_assistant(d, "preferred_output", opts)
        rejected = _one_assistant(d, "non_preferred_output", opts)
        ids, id_keys = take_ids(d)
        metadata: dict[str, Any] = {}
        tools = field(inp, "tools", list, "$.input", required=False)
        if tools is not None:
            metadata["tools"] = tools
        parallel = field(inp, "parallel_tool_calls", bool, "$.input", required=False)
        if parallel is not None:
            metadata["parallel_tool_calls"] = parallel
        rest_input = leftovers(inp, ("messages", "tools", "parallel_tool_calls"))
        if rest_input:
            metadata["input"] = rest_input
        metadata.update(leftovers(d, {"input", "preferred_output", "non_preferred_output",
                                      *id_keys}))
        yield build(PreferencePair, {"prompt": prompt, "chosen": chosen, "rejected": rejected,
                                     "metadata": metadata, **ids})

    def write_record(self, record: Any, ctx: WriteContext) -> Any:
        if not isinstance(record, PreferencePair):
            raise self.cannot_hold(record)
        for side in ("chosen", "rejected"):
            msgs = getattr(record, side)
            if len(msgs) != 1 or msgs[0].role != "assistant":
                roles = ", ".join(m.role for m in msgs)
                raise RecordError(
                    f"format 'openai-preference' holds exactly one assistant message as the "
                    f"{side} output, got [{roles}]", rule="output shape")
        meta = dict(record.metadata)
        inp: dict[str, Any] = {"messages": dump_messages(record.prompt, ctx)}
        extra_input = meta.pop("input", None)
        if "tools" in meta:
            inp["tools"] = meta.pop("tools")
        if "parallel_tool_calls" in meta:
            inp["parallel_tool_calls"] = meta.pop("parallel_tool_calls")
        if isinstance(extra_input, dict):
            for k, v in extra_input.items():
                inp.setdefault(k, v)
        elif extra_input is not None:
            meta["input"] = extra_input  # not ours: collides with the column and is dropped
        if record.margin is not None:
            ctx.drop("margin")
        row: dict[str, Any] = {
            "input": inp,
            "preferred_output": dump_messages(record.chosen, ctx),
            "non_preferred_output": dump_messages(record.rejected, ctx),
        }
        return put_extras(row, record.model_copy(update={"metadata": meta}), ctx)


FORMAT = register(OpenAIPreference())
