"""``alpaca``: Stanford Alpaca / LLaMA-Factory instruction rows, one demonstration per row.

A row is ``{"instruction", "input", "output"}`` with the optional ``system`` and ``history``
columns LLaMA-Factory reads (``history`` = ``[[user, assistant], ...]``, the earlier turns).

Reading:

- a row with no (or an empty/null) ``history`` is an :class:`InstructionDemo`: ``prompt`` =
  ``instruction``, ``input`` = ``input`` (``""``, null and a missing ``input`` all read as
  ``None``), ``response`` = ``output``, ``system`` = ``system`` (kept as is, ``""`` included),
  ``id`` = ``id`` when it is a string. Every other field (torchtune's pre-rendered ``text``,
  an empty ``history``) goes to ``metadata``.
- a row with a non-empty ``history`` is a :class:`Conversation`: the system turn, the history
  pairs, then ``instruction`` and ``input`` joined into one user turn (``Options.join``,
  default ``"\\n\\n"``; no join when ``input`` is empty) and ``output`` as the assistant turn.
  A non-empty ``input`` is also kept in ``metadata["input"]`` so the writer can split the last
  user turn back into ``instruction`` and ``input``.
- a self-instruct seed task (``{"id", "name", "instruction", "instances": [{"input",
  "output"}], "is_classification"}``) gives one demo per instance; the id is the task id when
  there is one instance, else ``"<id>#<n>"``; ``name`` and ``is_classification`` go to
  ``metadata``. Seed tasks are written back as plain Alpaca rows (one per instance).

Writing: demos directly; conversations whose turns are an optional system turn, then
user/assistant pairs ending on an assistant turn (earlier pairs -> ``history``, the last user
turn -> ``instruction``, ``input`` = ``""`` unless ``metadata["input"]`` still ends that turn);
trainer dialogues as conversations. ``input`` is always written (``""`` when there is none),
``system``/``history``/``id`` only when present, then ``metadata`` as extra keys.

Media (LLaMA-Factory's multimodal alpaca rows): with an ``images``/``videos``/``audios`` column
the row reads as a Conversation whose turns hold the ``<image>``/``<video>``/``<audio>``
placeholders as media parts (counts must match, rule ``media_count``); the writer puts the
placeholders and the columns back.

Round trips: rows with ``"input": ""`` come back byte for byte; a row without an ``input`` key
(or with ``null``) comes back with ``"input": ""`` (the records compare equal either way).

Options: ``join`` (``Options.join``) -- the string between instruction and input in a user turn.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dialogkit.errors import RecordError
from dialogkit.formats._common import (
    expect_object,
    field,
    leftovers,
    type_name,
)
from dialogkit.formats._dataset_info import finish_sft
from dialogkit.formats._messages import policy_messages
from dialogkit.media import MEDIA_COLUMNS, MediaColumns, with_placeholders
from dialogkit.models import Conversation, InstructionDemo
from dialogkit.ops.chat import as_conversation, record_extras, user_text
from dialogkit.registry import Format, Options, WriteContext, build, register

__all__ = ["FORMAT", "Alpaca", "add_metadata", "plain_turns", "single_turn"]

_ROW_KEYS = frozenset({"instruction", "input", "output", "system", "history"})
_DEMO_KEYS = _ROW_KEYS - {"history"}
_DEMO_KEYS_ID = _DEMO_KEYS | {"id"}
_SEED_KEYS = frozenset({"instruction", "instances"})
_DROPPED_MESSAGE_FIELDS = ("name", "weight", "reasoning", "tool_call_id")


def add_metadata(
    out: dict[str, Any], metadata: dict[str, Any], ctx: WriteContext
) -> dict[str, Any]:
    """``out`` with ``metadata`` added as extra keys; a key the format already wrote is dropped."""
    for key, value in metadata.items():
        if key in out:
            ctx.drop(key)
        else:
            out[key] = value
    return out


def plain_turns(
    conv: Conversation, fmt: str, ctx: WriteContext
) -> tuple[str | None, list[tuple[str, str]], str, str]:
    """Split a plain conversation into (system, earlier pairs, last user, last assistant).

    The turns must be an optional system turn, then user/assistant pairs ending on an
    assistant turn, without tool calls; anything else is a RecordError saying why. Message
    fields with no place in a plain text row (name, weight, reasoning) are tallied as dropped.
    """
    messages = conv.messages
    system: str | None = None
    start = 0
    if messages and messages[0].role == "system":
        system = messages[0].content or ""
        start = 1
    rest = messages[start:]
    for i, msg in enumerate(messages):
        if msg.tool_calls:
            raise RecordError(
                f"format {fmt!r} cannot hold tool calls", loc=f"$.messages[{i}].tool_calls",
                rule="tool calls not writable",
            )
        for name in _DROPPED_MESSAGE_FIELDS:
            if getattr(msg, name) is not None:
                ctx.drop(name)
    if conv.tools is not None:
        ctx.drop("tools")
    for j, msg in enumerate(rest):
        expected = "user" if j % 2 == 0 else "assistant"
        if msg.role != expected:
            raise RecordError(
                f"format {fmt!r} needs user/assistant turns in turn after an optional system "
                f"turn; expected {expected!r}, got {msg.role!r}",
                loc=f"$.messages[{start + j}].role", rule="turns not alternating",
            )
    if not rest or len(rest) % 2:
        raise RecordError(
            f"format {fmt!r} needs the last turn to be an assistant turn",
            loc=f"$.messages[{len(messages) - 1}]" if messages else "$.messages",
            rule="last turn not assistant",
        )
    texts = [m.content or "" for m in rest]
    pairs = [(texts[k], texts[k + 1]) for k in range(0, len(texts) - 2, 2)]
    return system, pairs, texts[-2], texts[-1]


def single_turn(conv: Conversation, fmt: str, ctx: WriteContext) -> tuple[str | None, str, str]:
    """(system, user, assistant) of a one-exchange conversation; RecordError for more turns."""
    system, pairs, user, assistant = plain_turns(conv, fmt, ctx)
    if pairs:
        raise RecordError(
            f"format {fmt!r} holds one user turn and one assistant turn, "
            f"got {len(pairs) + 1} of each",
            loc="$.messages", rule="multi-turn not writable",
        )
    return system, user, assistant


class Alpaca(Format):
    """Alpaca rows (instruction, input, output; optional system and history) <-> demos.

    Rows with a non-empty ``history`` read as conversations; self-instruct seed tasks read as
    one demo per instance. ``Options.join`` joins instruction and input into one user turn.
    """

    name = "alpaca"
    aliases = ("alpaca-json", "stanford-alpaca", "self-instruct-seed")
    description = "Alpaca / LLaMA-Factory instruction rows (instruction, input, output)"
    reads = ("demo", "conversation")
    writes = ("demo", "conversation", "trainer_dialogue")
    container = "json"
    content_parts = True  # media as LLaMA-Factory's placeholders and images/videos/audios

    def detect(self, row: Any) -> int:
        if not isinstance(row, dict) or not isinstance(row.get("instruction"), str):
            return 0
        if isinstance(row.get("output"), str):
            return 2
        if "output" not in row and isinstance(row.get("instances"), list):
            return 2
        return 0

    def read_row(self, data: Any, opts: Options) -> Iterable[Any]:
        if type(data) is dict and len(data) == 3:
            # the hot path: a plain {instruction, input, output} row of strings goes straight
            # to pydantic-core (same result as below, a third of the cost)
            instruction = data.get("instruction")
            inp = data.get("input")
            output = data.get("output")
            if type(instruction) is str and type(inp) is str and type(output) is str:
                validator = InstructionDemo.__pydantic_validator__  # built on first use
                return [validator.validate_python({"prompt": instruction, "input": inp or None,
                                                   "response": output})]
        row = expect_object(data)
        if "output" not in row and "instances" in row:
            return self._read_seed(row)
        instruction = field(row, "instruction", str)
        inp = field(row, "input", str, required=False)
        output = field(row, "output", str)
        system = field(row, "system", str, required=False)
        history = row.get("history")
        rid = row.get("id") if isinstance(row.get("id"), str) else None
        media = MediaColumns(row, opts)
        if (history is None or history == []) and not media:
            # history stays in metadata, so `"history": []` round-trips
            known = _DEMO_KEYS_ID if rid is not None else _DEMO_KEYS
            return [
                build(InstructionDemo, {
                    "id": rid, "prompt": instruction, "input": inp or None, "response": output,
                    "system": system, "metadata": leftovers(row, known),
                })
            ]
        if history is None:
            history = []
        if not isinstance(history, list):
            raise RecordError(
                f"Expected `array`, got `{type_name(history)}`", loc="$.history",
                rule="wrong type history",
            )
        known = (_ROW_KEYS | {"id"} if rid is not None else _ROW_KEYS) | set(media.columns())
        messages: list[dict[str, Any]] = []
        locs: list[str] = []
        for i, pair in enumerate(history):
            loc = f"$.history[{i}]"
            if not isinstance(pair, list) or len(pair) != 2:
                got = (f"an array of {len(pair)}" if isinstance(pair, list)
                       else f"`{type_name(pair)}`")
                raise RecordError(
                    f"Expected a [user, assistant] pair, got {got}", loc=loc,
                    rule="history pair",
                )
            for j, role in ((0, "user"), (1, "assistant")):
                if not isinstance(pair[j], str):
                    raise RecordError(
                        f"Expected `str`, got `{type_name(pair[j])}`", loc=f"{loc}[{j}]",
                        rule="wrong type history",
                    )
                messages.append({"role": role, "content": pair[j]})
                locs.append(f"{loc}[{j}]")
        messages.append({"role": "user", "content": user_text(instruction, inp, opts.join)})
        locs.append("$.instruction")
        messages.append({"role": "assistant", "content": output})
        locs.append("$.output")
        if media:  # LLaMA-Factory's <image> placeholders: the turns become part lists
            for m, loc in zip(messages, locs, strict=True):
                m["content"] = media.split(m["content"], loc)
            media.check_all_taken()
        messages = policy_messages(messages, locs, opts)
        if system is not None:
            messages.insert(0, {"role": "system", "content": system})
        metadata = leftovers(row, known)
        if inp:
            metadata["input"] = inp
        return [build(Conversation, {"id": rid, "messages": messages, "metadata": metadata})]

    def _read_seed(self, row: dict[str, Any]) -> list[InstructionDemo]:
        """A self-instruct seed task: one demo per instance (all built before any is returned)."""
        instruction = field(row, "instruction", str)
        instances = field(row, "instances", list)
        if not instances:
            raise RecordError("instances is empty", loc="$.instances", rule="no instances")
        rid = field(row, "id", str, required=False)
        known = set(_SEED_KEYS) | ({"id"} if rid is not None else set())
        metadata = leftovers(row, known)
        demos = []
        for j, inst in enumerate(instances):
            loc = f"$.instances[{j}]"
            inst = expect_object(inst, loc)
            inp = field(inst, "input", str, loc, required=False)
            output = field(inst, "output", str, loc)
            meta = dict(metadata)
            extra = leftovers(inst, ("input", "output"))
            if extra:
                meta["instance"] = extra
            demo_id = rid if rid is None or len(instances) == 1 else f"{rid}#{j}"
            demos.append(build(InstructionDemo, {
                "id": demo_id, "prompt": instruction, "input": inp or None, "response": output,
                "metadata": meta,
            }))
        return demos

    def write_record(self, record: Any, ctx: WriteContext) -> Any:
        if isinstance(record, InstructionDemo):
            out: dict[str, Any] = {
                "instruction": record.prompt,
                "input": record.input or "",
                "output": record.response,
            }
            if record.system is not None:
                out["system"] = record.system
            metadata = {**record_extras(record, ctx), **record.metadata}
        else:
            conv = as_conversation(record, ctx, self.name)
            refs: dict[str, list[str]] = {}
            if any(type(m.content) is list for m in conv.messages):
                conv = conv.model_copy(update={"messages": [
                    m.model_copy(update={"content": with_placeholders(m, ctx, refs)})
                    if type(m.content) is list else m for m in conv.messages]})
            system, pairs, user, assistant = plain_turns(conv, self.name, ctx)
            metadata = dict(conv.metadata)
            instruction, inp = _split_user(user, metadata.pop("input", None), ctx)
            out = {"instruction": instruction, "input": inp, "output": assistant}
            if system is not None:
                out["system"] = system
            if pairs:
                out["history"] = [[u, a] for u, a in pairs]
            for kind, col in MEDIA_COLUMNS.items():
                if kind in refs:
                    out[col] = refs[kind]
        if record.id is not None:
            out["id"] = record.id
        return add_metadata(out, metadata, ctx)

    def finish(self, dst: Any, ctx: WriteContext) -> None:
        """With option ``dataset_info`` (``--dataset-info``): LLaMA-Factory's entry for the file
        written, in ``dataset_info.json`` beside it, naming every column it reads."""
        finish_sft(self.name, dst, ctx)


def _split_user(user: str, inp: Any, ctx: WriteContext) -> tuple[str, str]:
    """The last user turn back into (instruction, input), using the input kept in metadata."""
    if inp is None:
        return user, ""
    tail = f"{ctx.options.join}{inp}"
    if isinstance(inp, str) and inp and user.endswith(tail):
        return user[: -len(tail)], inp
    ctx.drop("input")  # stale: the turn no longer ends with it
    return user, ""


FORMAT = register(Alpaca())
