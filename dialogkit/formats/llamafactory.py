"""``llamafactory``: LLaMA-Factory's preference and KTO files, plus their dataset_info.json entry.

Layouts read (each row is recognised by its columns):

- alpaca preference ``{instruction, input?, chosen: str, rejected: str, system?, history?}`` and
  alpaca KTO ``{instruction, input?, output, kto_tag: bool, system?, history?}``. The user turn
  is ``instruction + "\\n" + input`` (LLaMA-Factory's join, not ``Options.join``); ``history``
  pairs ``[[q, a], ...]`` become user/assistant turns after the system prompt.
- sharegpt preference ``{conversations: [{from, value}], chosen: {from, value}, rejected: {from,
  value}, system?, tools?}`` and sharegpt KTO ``{conversations, kto_tag: bool}`` (the last turn is
  the completion). Tags: ``human`` user, ``gpt`` assistant, ``system`` (first turn only),
  ``observation`` tool, ``function_call`` an assistant tool call (its value is the JSON text
  ``{"name", "arguments"}``). A first ``system`` turn wins over the ``system`` column, which
  then stays in ``metadata``.
- OpenAI-style ("openai" layout): ``{messages: [{role, content}], chosen: {role, content},
  rejected: {...}}`` and the KTO file ``{messages, label: bool}`` (``kto_tag`` also accepted)
  as in LLaMA-Factory's kto_en_demo.json.

Preference rows become PreferencePair, KTO rows UnpairedExample. Reading is lenient where
LLaMA-Factory would drop a row silently (a prompt not ending on a user turn is kept); the
turn policies apply as everywhere. The ``tools`` column stays in ``metadata``.

Writing: option ``llamafactory_layout`` = ``"sharegpt"`` (default) | ``"alpaca"`` |
``"openai"``; without it, a record read from an alpaca or openai-layout file
(``metadata["_llamafactory"]``, never written) keeps its layout, so ``read -> write -> read``
is equal. The layout and the kind are fixed per output file by its first record (LLaMA-Factory
needs one layout and one type per dataset). Writers need what LLaMA-Factory accepts: prompt
turns alternating user/assistant after an optional first system turn and ending on a user turn,
and a single assistant message as each answer; anything else is a RecordError. ``margin`` has
no place (tallied as dropped); ``id``/``group_id`` and metadata are written as extra columns,
which LLaMA-Factory ignores. After the data, :meth:`LlamaFactory.finish` creates or updates
``dataset_info.json`` beside it (key = the file's stem; other entries and their order kept).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from dialogkit.errors import RecordError, UsageError
from dialogkit.formats._common import (
    expect_object,
    field,
    leftovers,
    resolve_role,
    type_name,
)
from dialogkit.formats._messages import policy_messages
from dialogkit.formats.openai_preference import dump_message, put_extras, read_messages, take_ids
from dialogkit.io import atomic_output
from dialogkit.media import MEDIA_COLUMNS, MediaColumns, with_placeholders
from dialogkit.models import Message, PreferencePair, UnpairedExample
from dialogkit.registry import Format, Options, WriteContext, build, register

_STATE = "_dialogkit_llamafactory_state"
_LAYOUTS = ("sharegpt", "alpaca", "openai")
_TAGS = {"human": "user", "gpt": "assistant", "system": "system", "observation": "tool",
         "function_call": "assistant"}
_OPENAI_TAGS = {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                "assistant_tag": "assistant", "system_tag": "system"}


# ---------------------------------------------------------------------------------------------
# reading


def _function_call(value: str, loc: str) -> list[dict[str, Any]]:
    """A ``function_call`` turn's JSON text as ToolCall dicts (one object or a list of them)."""
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError:
        raise RecordError("Expected JSON text {\"name\", \"arguments\"} in a function_call turn",
                          loc=loc, rule="function_call JSON") from None
    calls = parsed if isinstance(parsed, list) else [parsed]
    out = []
    for call in calls:
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            raise RecordError("Expected JSON text {\"name\", \"arguments\"} in a function_call "
                              "turn", loc=loc, rule="function_call JSON")
        args = call.get("arguments", {})
        out.append({"name": call["name"],
                    "arguments": args if isinstance(args, str) else orjson.dumps(args).decode()})
    return out


def _sharegpt_turn(obj: Any, loc: str, opts: Options) -> dict[str, Any] | None:
    turn = expect_object(obj, loc)
    tag = field(turn, "from", str, loc)
    value = field(turn, "value", str, loc, nullable=True)
    role = resolve_role(tag, _TAGS, opts, f"{loc}.from")
    if role is None:
        return None
    if tag == "function_call" and value:
        return {"role": "assistant", "content": None,
                "tool_calls": _function_call(value, f"{loc}.value")}
    return {"role": role, "content": value}


def _sharegpt_turns(value: Any, loc: str, opts: Options) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise RecordError(f"Expected `array`, got `{type_name(value)}`", loc=loc,
                          rule="expected array")
    msgs: list[dict[str, Any]] = []
    locs: list[str] = []
    for i, obj in enumerate(value):
        m = _sharegpt_turn(obj, f"{loc}[{i}]", opts)
        if m is not None:
            if m["role"] == "system" and msgs:
                raise RecordError("a system turn is only allowed first", loc=f"{loc}[{i}].from",
                                  rule="system turn position")
            msgs.append(m)
            locs.append(f"{loc}[{i}]")
    return policy_messages(msgs, locs, opts)


def _answer(value: Any, loc: str, opts: Options, sharegpt: bool) -> list[dict[str, Any]]:
    """A single chosen/rejected message object (``{from, value}`` or ``{role, content}``)."""
    msgs = _sharegpt_turns([value], loc, opts) if sharegpt else read_messages([value], loc, opts)
    msgs = [{**m} for m in msgs]
    if msgs and msgs[0]["role"] != "assistant":
        key = "from" if sharegpt else "role"
        raise RecordError(f"Expected an assistant answer, got {msgs[0]['role']!r}",
                          loc=f"{loc}.{key}", rule="answer role")
    return msgs


def _fix_locs(err: RecordError, loc: str) -> RecordError:
    # _answer reads a one-element list: drop the "[0]" it adds to the path
    if err.loc is not None and err.loc.startswith(f"{loc}[0]"):
        err.loc = loc + err.loc[len(loc) + 3:]
    return err


def _read_answer(d: dict[str, Any], key: str, opts: Options, sharegpt: bool) -> list[Any]:
    value = field(d, key, dict, "$")
    try:
        return _answer(value, f"$.{key}", opts, sharegpt)
    except RecordError as err:
        raise _fix_locs(err, f"$.{key}") from None


def _split_last(msgs: list[dict[str, Any]], loc: str) -> tuple[list[Any], list[Any]]:
    if not msgs or msgs[-1]["role"] != "assistant":
        got = repr(msgs[-1]["role"]) if msgs else "no turns"
        raise RecordError(f"Expected the last turn to be the assistant's answer, got {got}",
                          loc=loc, rule="KTO answer")
    return msgs[:-1], msgs[-1:]


def _alpaca_prompt(d: dict[str, Any], opts: Options) -> list[dict[str, Any]]:
    instruction = field(d, "instruction", str, "$")
    query = field(d, "input", str, "$", required=False)
    system = field(d, "system", str, "$", required=False)
    history = field(d, "history", list, "$", required=False)
    msgs: list[dict[str, Any]] = []
    locs: list[str] = []
    if system:
        msgs.append({"role": "system", "content": system})
        locs.append("$.system")
    for i, pair in enumerate(history or []):
        loc = f"$.history[{i}]"
        if (not isinstance(pair, list) or len(pair) != 2
                or not all(isinstance(p, str) for p in pair)):
            raise RecordError("Expected a [question, answer] pair of strings", loc=loc,
                              rule="history pair")
        msgs += [{"role": "user", "content": pair[0]}, {"role": "assistant", "content": pair[1]}]
        locs += [f"{loc}[0]", f"{loc}[1]"]
    msgs.append({"role": "user", "content": f"{instruction}\n{query}" if query else instruction})
    locs.append("$.instruction")
    return policy_messages(msgs, locs, opts)


def _with_media(media: MediaColumns, groups: Iterable[list[dict[str, Any]]]
                ) -> list[list[dict[str, Any]]]:
    """The message dicts of each group with ``<image>``-style placeholders as media parts, taken
    in order (prompt first); every entry of the media columns must be used."""
    out = []
    for msgs in groups:
        out.append([
            {**m, "content": media.split(m["content"], "$")} if isinstance(m.get("content"), str)
            else m for m in msgs
        ])
    media.check_all_taken()
    return out


def _placeholders(record: Any, ctx: WriteContext, refs: dict[str, list[str]]) -> Any:
    """``record`` with part-list contents as text with placeholders (references to ``refs``)."""
    update = {}
    for name in ("prompt", "chosen", "rejected", "completion"):
        msgs = getattr(record, name, None)
        if msgs and any(type(m.content) is list for m in msgs):
            update[name] = [
                m.model_copy(update={"content": with_placeholders(m, ctx, refs)})
                if type(m.content) is list else m for m in msgs
            ]
    return record.model_copy(update=update) if update else record


def _layout_of(d: dict[str, Any]) -> str | None:
    if "conversations" in d:
        return "sharegpt"
    if "messages" in d:
        return "openai"
    if "instruction" in d:
        return "alpaca"
    return None


# ---------------------------------------------------------------------------------------------
# writing


def _to_sharegpt(m: Message) -> dict[str, Any]:
    if m.role == "assistant" and m.tool_calls:
        if m.content:
            raise RecordError("LLaMA-Factory cannot hold an assistant turn with both text and "
                              "tool calls", rule="llamafactory shape")
        calls = [{"name": c.name, "arguments": _json_or_text(c.arguments)} for c in m.tool_calls]
        value = calls[0] if len(calls) == 1 else calls
        return {"from": "function_call", "value": orjson.dumps(value).decode()}
    tag = {"user": "human", "assistant": "gpt", "system": "system", "tool": "observation"}[m.role]
    return {"from": tag, "value": m.content if m.content is not None else ""}


def _json_or_text(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def _check_prompt(prompt: list[Message]) -> list[Message]:
    """The prompt turns LLaMA-Factory accepts: [system], user, assistant, ..., user."""
    turns = prompt[1:] if prompt and prompt[0].role == "system" else prompt
    user_side = ("user", "tool")
    ok = bool(turns) and len(turns) % 2 == 1
    for i, m in enumerate(turns):
        want_user = i % 2 == 0
        if (m.role in user_side) != want_user or m.role == "system":
            ok = False
    if not ok:
        roles = ", ".join(m.role for m in prompt)
        raise RecordError(
            "LLaMA-Factory needs prompt turns alternating user and assistant after an optional "
            f"system turn and ending on a user turn, got [{roles}]", rule="llamafactory shape")
    return turns


def _one_answer(msgs: list[Message], side: str) -> Message:
    if len(msgs) != 1 or msgs[0].role != "assistant":
        roles = ", ".join(m.role for m in msgs)
        raise RecordError(f"LLaMA-Factory holds one assistant message as the {side}, got "
                          f"[{roles}]", rule="llamafactory shape")
    return msgs[0]


def _plain_openai(m: Message, ctx: WriteContext) -> dict[str, Any]:
    if m.tool_calls or m.role == "tool":
        raise RecordError("the openai layout holds no tool calls (use llamafactory_layout="
                          "sharegpt)", rule="llamafactory shape")
    out = dump_message(m, ctx)
    if m.name is not None:
        ctx.drop("name")
        out.pop("name")
    return out


def _text(m: Message) -> str:
    if m.tool_calls or m.role == "tool":
        raise RecordError("the alpaca layout holds no tool calls (use llamafactory_layout="
                          "sharegpt)", rule="llamafactory shape")
    return m.content if m.content is not None else ""


def _dataset_key(dst: str | os.PathLike[str]) -> str:
    name = Path(dst).name
    if name.endswith(".gz"):
        name = name[:-3]
    return Path(name).stem


def dataset_info_entry(file_name: str, layout: str, kind: str, extra_columns: Iterable[str] = ()
                       ) -> dict[str, Any]:
    """The dataset_info.json entry for a file, as LLaMA-Factory's data/README.md documents it.

    Example:
        >>> dataset_info_entry("dpo.json", "sharegpt", "preference")["columns"]
        {'messages': 'conversations', 'chosen': 'chosen', 'rejected': 'rejected'}
    """
    extra = set(extra_columns)
    entry: dict[str, Any] = {"file_name": file_name}
    if layout != "alpaca":
        entry["formatting"] = "sharegpt"
    if kind == "preference":
        entry["ranking"] = True
    columns: dict[str, str]
    if layout == "alpaca":
        columns = {"prompt": "instruction", "query": "input"}
        if kind == "preference":
            columns.update(chosen="chosen", rejected="rejected")
        else:
            columns.update(response="output", kto_tag="kto_tag")
        for col in ("system", "history"):
            if col in extra:
                columns[col] = col
    else:
        messages = "conversations" if layout == "sharegpt" else "messages"
        columns = {"messages": messages}
        if kind == "preference":
            columns.update(chosen="chosen", rejected="rejected")
        else:
            columns["kto_tag"] = "kto_tag" if layout == "sharegpt" else "label"
        if "tools" in extra:
            columns["tools"] = "tools"
    for col in MEDIA_COLUMNS.values():
        if col in extra:
            columns[col] = col
    entry["columns"] = columns
    if layout == "openai":
        entry["tags"] = dict(_OPENAI_TAGS)
    return entry


def _check_tools(tools: Any) -> None:
    """``tools`` must be tool schemas: a JSON array or object, or JSON text of one (``""`` is
    none); anything else (``-1``, ``true``) is a reject, never written back as a changed type."""
    value = tools
    if isinstance(tools, str):
        if tools == "":
            return
        try:
            value = orjson.loads(tools)
        except orjson.JSONDecodeError as exc:
            raise RecordError(
                f"the tools string must be JSON text: {str(exc).split(': line ')[0]}",
                loc="$.tools", rule="tools not JSON") from exc
    if value is not None and not isinstance(value, (list, dict)):
        raise RecordError(f"Expected a JSON array or object of tool schemas, got "
                          f"`{type_name(value)}`", loc="$.tools", rule="tools not a list")


class LlamaFactory(Format):
    """LLaMA-Factory preference and KTO data (alpaca, sharegpt, openai layouts) + dataset_info."""

    name = "llamafactory"
    aliases = ("llama-factory", "llamafactory-preference")
    description = "LLaMA-Factory preference/KTO data (alpaca or sharegpt) with dataset_info.json"
    reads = ("preference", "unpaired")
    writes = ("preference", "unpaired")
    markers = ("_llamafactory",)
    container = "json"
    content_parts = True  # media as <image> placeholders with images/videos/audios columns

    def detect(self, row: Any) -> int:
        if not isinstance(row, dict):
            return 0
        pair = isinstance(row.get("chosen"), dict) and isinstance(row.get("rejected"), dict)
        if isinstance(row.get("conversations"), list):
            return 4 if pair or isinstance(row.get("kto_tag"), bool) else 0
        if isinstance(row.get("messages"), list):
            kto = isinstance(row.get("label"), bool) or isinstance(row.get("kto_tag"), bool)
            return 4 if pair or kto else 0
        if isinstance(row.get("instruction"), str):
            if isinstance(row.get("chosen"), str) and isinstance(row.get("rejected"), str):
                return 4
            if "output" in row and isinstance(row.get("kto_tag"), bool):
                return 4
        return 0

    def read_row(self, data: Any, opts: Options) -> Iterable[Any]:
        d = expect_object(data)
        layout = _layout_of(d)
        if layout is None:
            raise RecordError("Expected a LLaMA-Factory row with `conversations`, `messages` "
                              "or `instruction`", loc="$", rule="llamafactory layout")
        ids, id_keys = take_ids(d)
        media = MediaColumns(d, opts)
        known = {"chosen", "rejected", "kto_tag", *id_keys, *media.columns()}
        kto_key = "kto_tag"
        if layout == "alpaca":
            prompt = _alpaca_prompt(d, opts)
            known |= {"instruction", "input", "system", "history", "output"}
        elif layout == "sharegpt":
            prompt = _sharegpt_turns(field(d, "conversations", list, "$"), "$.conversations",
                                     opts)
            known.add("conversations")
            system = field(d, "system", str, "$", required=False)
            if system and not (prompt and prompt[0]["role"] == "system"):
                prompt = [{"role": "system", "content": system}, *prompt]
                known.add("system")
        else:
            prompt = read_messages(field(d, "messages", list, "$"), "$.messages", opts)
            known.add("messages")
            if "kto_tag" not in d:
                kto_key = "label"
                known.add("label")
        metadata = leftovers(d, known)
        if "tools" in metadata:
            _check_tools(metadata["tools"])
        if layout != "sharegpt":
            metadata["_llamafactory"] = layout
        if "chosen" in d or "rejected" in d:
            if layout == "alpaca":
                chosen = policy_messages(
                    [{"role": "assistant", "content": field(d, "chosen", str, "$")}],
                    ["$.chosen"], opts)
                rejected = policy_messages(
                    [{"role": "assistant", "content": field(d, "rejected", str, "$")}],
                    ["$.rejected"], opts)
            else:
                chosen = _read_answer(d, "chosen", opts, layout == "sharegpt")
                rejected = _read_answer(d, "rejected", opts, layout == "sharegpt")
            if media:
                prompt, chosen, rejected = _with_media(media, (prompt, chosen, rejected))
            yield build(PreferencePair, {"prompt": prompt, "chosen": chosen,
                                         "rejected": rejected, "metadata": metadata, **ids})
            return
        label = field(d, kto_key, bool, "$")
        if layout == "alpaca":
            completion = policy_messages(
                [{"role": "assistant", "content": field(d, "output", str, "$")}], ["$.output"],
                opts)
        else:
            key = "conversations" if layout == "sharegpt" else "messages"
            prompt, completion = _split_last(prompt, f"$.{key}[{len(d[key]) - 1}]")
        if media:
            prompt, completion = _with_media(media, (prompt, completion))
        yield build(UnpairedExample, {"prompt": prompt, "completion": completion,
                                      "label": label, "metadata": metadata, **ids})

    # -- writing ------------------------------------------------------------------------------

    def _state(self, record: Any, ctx: WriteContext) -> dict[str, Any]:
        state: dict[str, Any] | None = getattr(ctx, _STATE, None)
        if state is None:
            layout = ctx.options.get("llamafactory_layout")
            if layout is None:
                mark = record.metadata.get("_llamafactory")
                layout = mark if mark in _LAYOUTS else "sharegpt"
            if layout not in _LAYOUTS:
                raise UsageError(
                    f"llamafactory_layout must be one of {', '.join(_LAYOUTS)}, got {layout!r}")
            state = {"layout": layout, "kind": record.kind, "columns": set()}
            setattr(ctx, _STATE, state)
        elif record.kind != state["kind"]:
            raise RecordError(
                f"a LLaMA-Factory file holds one kind of record; this one has {state['kind']} "
                f"records, not {record.kind}", rule="mixed kinds")
        return state

    def write_record(self, record: Any, ctx: WriteContext) -> Any:
        if not isinstance(record, (PreferencePair, UnpairedExample)):
            raise self.cannot_hold(record)
        state = self._state(record, ctx)
        layout = state["layout"]
        refs: dict[str, list[str]] = {}
        record = _placeholders(record, ctx, refs)
        prompt = list(record.prompt)
        turns = _check_prompt(prompt)
        system = prompt[0] if len(turns) < len(prompt) else None
        if isinstance(record, PreferencePair):
            answers = [_one_answer(record.chosen, "chosen"), _one_answer(record.rejected,
                                                                          "rejected")]
            if record.margin is not None:
                ctx.drop("margin")
        else:
            answers = [_one_answer(record.completion, "completion")]
        row: dict[str, Any]
        if layout == "alpaca":
            history = [[_text(turns[i]), _text(turns[i + 1])] for i in range(0, len(turns) - 1, 2)]
            row = {"instruction": _text(turns[-1]), "input": ""}
            if isinstance(record, PreferencePair):
                row.update(chosen=_text(answers[0]), rejected=_text(answers[1]))
            else:
                row.update(output=_text(answers[0]), kto_tag=record.label)
            if system is not None:
                row["system"] = _text(system)
                state["columns"].add("system")
            if history:
                row["history"] = history
                state["columns"].add("history")
        elif layout == "sharegpt":
            conv = [_to_sharegpt(m) for m in prompt]
            if isinstance(record, PreferencePair):
                row = {"conversations": conv, "chosen": _to_sharegpt(answers[0]),
                       "rejected": _to_sharegpt(answers[1])}
            else:
                row = {"conversations": [*conv, _to_sharegpt(answers[0])],
                       "kto_tag": record.label}
        else:
            msgs = [_plain_openai(m, ctx) for m in prompt]
            if isinstance(record, PreferencePair):
                row = {"messages": msgs, "chosen": _plain_openai(answers[0], ctx),
                       "rejected": _plain_openai(answers[1], ctx)}
            else:
                row = {"messages": [*msgs, _plain_openai(answers[0], ctx)],
                       "label": record.label}
        for kind, col in MEDIA_COLUMNS.items():
            if kind in refs:
                row[col] = refs[kind]
                state["columns"].add(col)
        tools = record.metadata.get("tools")
        if tools is not None and layout == "sharegpt":
            row["tools"] = tools if isinstance(tools, str) else orjson.dumps(tools).decode()
            state["columns"].add("tools")
            meta = {k: v for k, v in record.metadata.items() if k != "tools"}
            record = record.model_copy(update={"metadata": meta})
        return put_extras(row, record, ctx)

    def finish(self, dst: str | os.PathLike[str], ctx: WriteContext) -> None:
        """Create or update ``dataset_info.json`` beside ``dst`` with this file's entry.

        The key is the file's stem; an existing file keeps its other entries in their order
        (an existing entry of the same key is replaced in place). Nothing is written when no
        record was.
        """
        state = getattr(ctx, _STATE, None)
        if state is None:
            return
        entry = dataset_info_entry(Path(dst).name, state["layout"], state["kind"],
                                   state["columns"])
        info_path = Path(dst).parent / "dataset_info.json"
        info: dict[str, Any] = {}
        if info_path.exists():
            try:
                info = orjson.loads(info_path.read_bytes())
            except orjson.JSONDecodeError as exc:
                raise UsageError(f"{info_path} is not valid JSON ({exc}); fix or remove it"
                                 ) from exc
            if not isinstance(info, dict):
                raise UsageError(f"{info_path} must hold a JSON object, got "
                                 f"{type_name(info)}")
        info[_dataset_key(dst)] = entry
        with atomic_output(info_path) as out:
            out.write(orjson.dumps(info, option=orjson.OPT_INDENT_2) + b"\n")


FORMAT = register(LlamaFactory())
