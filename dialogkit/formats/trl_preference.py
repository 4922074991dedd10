"""TRL's preference, unpaired-preference and prompt-only datasets, with TRL's exact columns.

Three formats:

- ``trl-preference``: ``{prompt, chosen, rejected}`` (explicit prompt) or ``{chosen, rejected}``
  (implicit prompt), each *conversational* (lists of ``{role, content}`` messages) or *standard*
  (plain strings); an optional float ``margin`` column (RewardTrainer's). -> PreferencePair.
- ``trl-unpaired``: ``{prompt, completion, label: bool}`` -> UnpairedExample (KTO, BCO).
- ``trl-prompt``: ``{prompt}`` -> PromptOnly (GRPO, RLOO, online DPO); other columns are kept.
  ``GRPOTrainer``/``RLOOTrainer`` pass every column besides ``prompt`` to the reward functions
  as keyword arguments (TRL's ``docs/source/grpo_trainer.md``: ``accuracy_reward(completions,
  solution, **kwargs)``), so the record's reference answer is a column: reading takes it from
  the column named by option ``reference_column``, else from the first of ``solution``,
  ``ground_truth``, ``answer`` the row has (a string is the ``reference``; any other JSON value
  becomes ``grading.answer``); a ``task`` string column is the record's ``task``. Writing puts
  the reference (else ``grading.answer``) in the column named by option ``reference_as``, else
  the one it was read from, else ``solution``, and ``task`` in ``task``; a grading with a style
  other than ``rule`` or with parameters has no column and is tallied as dropped.

Standard text: a prompt string becomes one user message (``""`` means no prompt), a
completion string one assistant message; text is never altered (TRL's leading space stays in
the completion).

Implicit prompts are extracted when reading (:func:`split_messages`, :func:`split_text`):

- conversational: the prompt is the longest run of whole leading messages that ``chosen`` and
  ``rejected`` share, cut short so that each side keeps at least one message. So when one
  answer is a prefix of the other, the shorter side keeps its last message as its completion.
- standard: the longest common prefix of the two strings, cut back to its last whitespace
  character; the prompt ends before that whitespace, which opens both completions (TRL's
  ``"The sky is"`` / ``" blue."`` convention). This never splits a shared first word
  (``"Yes"`` / ``"Yesterday"``) and leaves each side at least that whitespace character. With
  no whitespace in the common prefix, the prompt is empty.
- identical answers yield identical completions, which PreferencePair rejects ("carry no
  preference"); empty answers are empty turns (``--empty-turn``).

Writing options (through ``Options.extra``):

- ``trl_prompt``: ``"explicit"`` (default) or ``"implicit"`` (``chosen``/``rejected`` are the
  prompt followed by each completion; strings are concatenated as is).
- ``trl_style``: ``"conversational"`` (default) or ``"standard"``. Standard text holds only a
  single user prompt (or none) and a single plain assistant answer; anything else, a system
  message included, is a RecordError (a system prompt cannot be told apart from the prompt in
  plain text, so it is never merged in silently).

Round trips: a record read from a file that is not explicit conversational carries the marker
``metadata["_trl"]`` (``{"prompt": "implicit"}`` and/or ``{"format": "standard"}``). Without
options a writer follows the first record's marker, so ``read -> write -> read`` of the same
file is equal. The layout is fixed per output by its first record, so every row has the same
columns; writers never write the marker itself. Other columns: string ``id`` and ``group_id``
fill the record's fields and are written back; everything else (``tools``,
``chat_template_kwargs``, reward-function columns) is kept in ``metadata`` and written back.
Tool-call ``arguments`` given as objects are kept as compact JSON text and written as text.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dialogkit.errors import RecordError, UsageError
from dialogkit.formats._common import (
    expect_object,
    field,
    leftovers,
    type_name,
)
from dialogkit.formats._messages import policy_messages
from dialogkit.formats.openai_preference import (
    dump_messages,
    put_extras,
    read_messages,
    take_ids,
)
from dialogkit.models import Message, PreferencePair, PromptOnly, UnpairedExample
from dialogkit.registry import Format, Options, WriteContext, build, register

__all__ = ["split_messages", "split_text"]

_STATE = "_dialogkit_trl_layout"  # attribute on the WriteContext: the layout fixed for an output


def split_messages(
    chosen: list[Any], rejected: list[Any]
) -> tuple[list[Any], list[Any], list[Any]]:
    """``(prompt, chosen_rest, rejected_rest)``: the shared whole-message prefix as the prompt.

    The prompt is as long as possible while each side keeps at least one message.

    Example:
        >>> split_messages(["u", "a"], ["u", "b"])
        (['u'], ['a'], ['b'])
        >>> split_messages(["u", "a"], ["u", "a", "u2", "c"])
        (['u'], ['a'], ['a', 'u2', 'c'])
    """
    limit = max(min(len(chosen), len(rejected)) - 1, 0)
    k = 0
    while k < limit and chosen[k] == rejected[k]:
        k += 1
    return chosen[:k], chosen[k:], rejected[k:]


def split_text(chosen: str, rejected: str) -> tuple[str, str, str]:
    """``(prompt, chosen_rest, rejected_rest)`` for standard text, cut at a whitespace boundary.

    Example:
        >>> split_text("The sky is blue.", "The sky is green.")
        ('The sky is', ' blue.', ' green.')
        >>> split_text("A: Yes indeed", "A: Yesterday")
        ('A:', ' Yes indeed', ' Yesterday')
    """
    n = 0
    limit = min(len(chosen), len(rejected))
    while n < limit and chosen[n] == rejected[n]:
        n += 1
    cut = 0
    for i in range(n - 1, -1, -1):
        if chosen[i].isspace():
            cut = i
            break
    return chosen[:cut], chosen[cut:], rejected[cut:]


# ---------------------------------------------------------------------------------------------
# shared reading helpers


def _is_messages(value: Any) -> bool:
    return isinstance(value, list) and (not value or (isinstance(value[0], dict)
                                                     and "role" in value[0]))


def _style_of(value: Any, loc: str) -> str:
    if isinstance(value, str):
        return "standard"
    if isinstance(value, list):
        return "conversational"
    raise RecordError(f"Expected `str` or `array`, got `{type_name(value)}`", loc=loc,
                      rule="expected str or array")


def _same_style(value: Any, style: str, loc: str, first: str) -> None:
    got = _style_of(value, loc)
    if got != style:
        raise RecordError(f"Expected {style} like `{first}`, got {got}", loc=loc,
                          rule="mixed standard and conversational")


def _text_turn(text: str, role: str, loc: str, opts: Options) -> list[dict[str, Any]]:
    return policy_messages([{"role": role, "content": text}], [loc], opts)


def _prompt_turns(value: Any, style: str, loc: str, opts: Options) -> list[dict[str, Any]]:
    if style == "conversational":
        return read_messages(value, loc, opts)
    return [] if value == "" else _text_turn(value, "user", loc, opts)


def _completion_turns(value: Any, style: str, loc: str, opts: Options) -> list[dict[str, Any]]:
    if style == "conversational":
        return read_messages(value, loc, opts)
    return _text_turn(value, "assistant", loc, opts)


def _marker(prompt: str = "explicit", style: str = "conversational") -> dict[str, Any]:
    mark: dict[str, str] = {}
    if prompt != "explicit":
        mark["prompt"] = prompt
    if style != "conversational":
        mark["format"] = style
    return {"_trl": mark} if mark else {}


# ---------------------------------------------------------------------------------------------
# shared writing helpers


def _layout(record: Any, ctx: WriteContext, with_prompt: bool) -> tuple[str, str]:
    """The (prompt, style) layout of this output: options, else the first record's marker."""
    fixed = getattr(ctx, _STATE, None)
    if fixed is not None:
        return fixed  # type: ignore[no-any-return]
    mark = record.metadata.get("_trl")
    mark = mark if isinstance(mark, dict) else {}
    prompt = ctx.options.get("trl_prompt") or mark.get("prompt", "explicit")
    style = ctx.options.get("trl_style") or mark.get("format", "conversational")
    if prompt not in ("explicit", "implicit"):
        raise UsageError(f"trl_prompt must be 'explicit' or 'implicit', got {prompt!r}")
    if style not in ("conversational", "standard"):
        raise UsageError(f"trl_style must be 'conversational' or 'standard', got {style!r}")
    layout = (prompt if with_prompt else "explicit", style)
    setattr(ctx, _STATE, layout)
    return layout


def _plain(m: Message) -> bool:
    return (m.content is not None and not m.tool_calls and m.name is None
            and m.tool_call_id is None)


def _standard_prompt(msgs: list[Message], *, allow_empty: bool) -> str:
    if not msgs and allow_empty:
        return ""
    if any(m.role == "system" for m in msgs):
        raise RecordError(
            "standard text cannot hold a system message (write trl_style=conversational)",
            rule="standard text shape")
    if len(msgs) != 1 or msgs[0].role != "user" or not _plain(msgs[0]):
        roles = ", ".join(m.role for m in msgs)
        raise RecordError(
            f"standard text holds a prompt of one plain user message, got [{roles}] "
            f"(write trl_style=conversational)", rule="standard text shape")
    return msgs[0].content or ""


def _standard_completion(msgs: list[Message], side: str) -> str:
    if len(msgs) != 1 or msgs[0].role != "assistant" or not _plain(msgs[0]):
        roles = ", ".join(m.role for m in msgs)
        raise RecordError(
            f"standard text holds a {side} of one plain assistant message, got [{roles}] "
            f"(write trl_style=conversational)", rule="standard text shape")
    return msgs[0].content or ""


# ---------------------------------------------------------------------------------------------


class TrlPreference(Format):
    """TRL preference rows (explicit or implicit prompt; conversational or standard) <-> pairs."""

    name = "trl-preference"
    aliases = ("trl-dpo", "trl-pairs")
    description = "TRL preference data: prompt?, chosen, rejected, margin? (DPO, reward, ORPO)"
    reads = ("preference",)
    writes = ("preference",)
    markers = ("_trl",)

    def detect(self, row: Any) -> int:
        if not isinstance(row, dict) or "chosen" not in row or "rejected" not in row:
            return 0
        chosen, rejected, prompt = row["chosen"], row["rejected"], row.get("prompt")
        if _is_messages(chosen) and _is_messages(rejected):
            return 3 if prompt is None or _is_messages(prompt) else 0
        if isinstance(chosen, str) and isinstance(rejected, str):
            if isinstance(prompt, str):
                return 3
            # implicit standard text; hh-rlhf's transcripts and other layouts score higher
            return 1 if prompt is None else 0
        return 0

    def read_row(self, data: Any, opts: Options) -> Iterable[Any]:
        d = expect_object(data)
        field(d, "chosen", (str, list), "$")
        field(d, "rejected", (str, list), "$")
        style = _style_of(d["chosen"], "$.chosen")
        _same_style(d["rejected"], style, "$.rejected", "chosen")
        has_prompt = d.get("prompt") is not None
        if has_prompt:
            _same_style(d["prompt"], style, "$.prompt", "chosen")
            prompt = _prompt_turns(d["prompt"], style, "$.prompt", opts)
            chosen = _completion_turns(d["chosen"], style, "$.chosen", opts)
            rejected = _completion_turns(d["rejected"], style, "$.rejected", opts)
        elif style == "conversational":
            prompt, chosen, rejected = split_messages(
                read_messages(d["chosen"], "$.chosen", opts),
                read_messages(d["rejected"], "$.rejected", opts))
        else:
            p, c, r = split_text(d["chosen"], d["rejected"])
            prompt = [] if p == "" else _text_turn(p, "user", "$.chosen", opts)
            chosen = _text_turn(c, "assistant", "$.chosen", opts)
            rejected = _text_turn(r, "assistant", "$.rejected", opts)
        margin = field(d, "margin", (int, float), "$", required=False)
        ids, id_keys = take_ids(d)
        metadata = leftovers(d, {"prompt", "chosen", "rejected", "margin", *id_keys})
        metadata.update(_marker("explicit" if has_prompt else "implicit", style))
        yield build(PreferencePair, {
            "prompt": prompt, "chosen": chosen, "rejected": rejected,
            "margin": None if margin is None else float(margin), "metadata": metadata, **ids,
        })

    def write_record(self, record: Any, ctx: WriteContext) -> Any:
        if not isinstance(record, PreferencePair):
            raise self.cannot_hold(record)
        mode, style = _layout(record, ctx, with_prompt=True)
        row: dict[str, Any]
        if style == "standard":
            p = _standard_prompt(record.prompt, allow_empty=True)
            c = _standard_completion(record.chosen, "chosen")
            r = _standard_completion(record.rejected, "rejected")
            if mode == "explicit":
                row = {"prompt": p, "chosen": c, "rejected": r}
            else:
                row = {"chosen": p + c, "rejected": p + r}
        else:
            p_msgs = dump_messages(record.prompt, ctx)
            c_msgs = dump_messages(record.chosen, ctx)
            r_msgs = dump_messages(record.rejected, ctx)
            if mode == "explicit":
                row = {"prompt": p_msgs, "chosen": c_msgs, "rejected": r_msgs}
            else:
                row = {"chosen": p_msgs + c_msgs, "rejected": p_msgs + r_msgs}
        if record.margin is not None:
            row["margin"] = record.margin
        return put_extras(row, record, ctx)


class TrlUnpaired(Format):
    """TRL unpaired preference rows ``{prompt, completion, label}`` <-> UnpairedExample."""

    name = "trl-unpaired"
    aliases = ("trl-kto",)
    description = "TRL unpaired preference data: prompt, completion, label (KTO, BCO)"
    reads = ("unpaired",)
    writes = ("unpaired",)
    markers = ("_trl",)

    def detect(self, row: Any) -> int:
        if not isinstance(row, dict) or not isinstance(row.get("label"), bool):
            return 0
        prompt, completion = row.get("prompt"), row.get("completion")
        if isinstance(prompt, str) and isinstance(completion, str):
            return 4
        if _is_messages(prompt) and _is_messages(completion):
            return 4
        return 0

    def read_row(self, data: Any, opts: Options) -> Iterable[Any]:
        d = expect_object(data)
        field(d, "prompt", (str, list), "$")
        field(d, "completion", (str, list), "$")
        style = _style_of(d["prompt"], "$.prompt")
        _same_style(d["completion"], style, "$.completion", "prompt")
        label = field(d, "label", bool, "$")
        ids, id_keys = take_ids(d)
        metadata = leftovers(d, {"prompt", "completion", "label", *id_keys})
        metadata.update(_marker(style=style))
        yield build(UnpairedExample, {
            "prompt": _prompt_turns(d["prompt"], style, "$.prompt", opts),
            "completion": _completion_turns(d["completion"], style, "$.completion", opts),
            "label": label, "metadata": metadata, **ids,
        })

    def write_record(self, record: Any, ctx: WriteContext) -> Any:
        if not isinstance(record, UnpairedExample):
            raise self.cannot_hold(record)
        _, style = _layout(record, ctx, with_prompt=False)
        row: dict[str, Any]
        if style == "standard":
            row = {"prompt": _standard_prompt(record.prompt, allow_empty=True),
                   "completion": _standard_completion(record.completion, "completion")}
        else:
            row = {"prompt": dump_messages(record.prompt, ctx),
                   "completion": dump_messages(record.completion, ctx)}
        row["label"] = record.label
        return put_extras(row, record, ctx)


REFERENCE_COLUMNS = ("solution", "ground_truth", "answer")
_NOT_PROMPT_ONLY = frozenset({"completion", "chosen", "rejected", "label", "messages",
                              "completions", "labels", "text", "kind"})


class TrlPrompt(Format):
    """TRL prompt-only rows ``{prompt}`` <-> PromptOnly; extra columns (reward kwargs) are kept."""

    name = "trl-prompt"
    aliases = ("trl-prompt-only",)
    description = "TRL prompt-only data: prompt (GRPO, RLOO, online DPO)"
    reads = ("prompt",)
    writes = ("prompt",)
    markers = ("_trl",)

    def detect(self, row: Any) -> int:
        if not isinstance(row, dict) or "prompt" not in row:
            return 0
        if any(k in row for k in _NOT_PROMPT_ONLY):
            return 0
        prompt = row["prompt"]
        if not (isinstance(prompt, str) or (_is_messages(prompt) and prompt)):
            return 0
        return 2 if set(row) <= {"prompt", "id", "group_id"} else 1

    def read_row(self, data: Any, opts: Options) -> Iterable[Any]:
        d = expect_object(data)
        field(d, "prompt", (str, list), "$")
        style = _style_of(d["prompt"], "$.prompt")
        ids, id_keys = take_ids(d)
        known = {"prompt", *id_keys}
        out: dict[str, Any] = {}
        column = opts.get("reference_column") or next(
            (c for c in REFERENCE_COLUMNS if d.get(c) is not None), None)
        if column is not None and d.get(column) is not None:
            value = d[column]
            if isinstance(value, str):
                out["reference"] = value
            else:
                out["grading"] = {"answer": value}
            known.add(column)
        task = field(d, "task", str, "$", required=False)
        if task is not None:
            out["task"] = task
            known.add("task")
        metadata = leftovers(d, known)
        mark = _marker(style=style)
        if column is not None and column in known and column != "solution":
            mark.setdefault("_trl", {})["reference"] = column
        metadata.update(mark)
        yield build(PromptOnly, {"prompt": _prompt_turns(d["prompt"], style, "$.prompt", opts),
                                 "metadata": metadata, **out, **ids})

    def write_record(self, record: Any, ctx: WriteContext) -> Any:
        if not isinstance(record, PromptOnly):
            raise self.cannot_hold(record)
        _, style = _layout(record, ctx, with_prompt=False)
        if style == "standard":
            row: dict[str, Any] = {"prompt": _standard_prompt(record.prompt, allow_empty=False)}
        else:
            row = {"prompt": dump_messages(record.prompt, ctx)}
        mark = record.metadata.get("_trl")
        remembered = mark.get("reference") if isinstance(mark, dict) else None
        column = ctx.options.get("reference_as") or remembered or "solution"
        grading = record.grading
        if record.reference is not None:
            row[column] = record.reference
        elif grading is not None:
            row[column] = grading.answer
        if grading is not None and (grading.style != "rule" or grading.params):
            ctx.drop("grading")
        if record.task is not None:
            row["task"] = record.task
        return put_extras(row, record, ctx)


FORMAT = register(TrlPreference())
UNPAIRED = register(TrlUnpaired())
PROMPT = register(TrlPrompt())
