"""``openrlhf``: OpenRLHF's prompt rows (PPO, REINFORCE++, GRPO with a label) and its
preference rows (reward model, DPO), as chat lists for ``--data.apply_chat_template``.

What OpenRLHF reads (``openrlhf/datasets/prompts_dataset.py`` and ``reward_dataset.py``,
``preprocess_data``): a prompt row's ``data[input_key]`` is a chat list (or a string, taken as
one user turn) rendered with ``add_generation_prompt=True``, and ``data[label_key]`` is the
label its reward function (``--reward.remote_url`` or a ``reward_func`` script) gets with the
completion; a preference row's ``data[prompt_key] + data[chosen_key]`` and ``... +
data[rejected_key]`` are rendered whole and cut after the rendered prompt, with an optional
float ``margin``. Without ``prompt_key`` (OpenRLHF's default for ``train_rm``), ``chosen`` and
``rejected`` are whole conversations.

Rows:

- prompt: ``{input_key: [messages], label_key: reference}`` (``--data.input_key input
  --data.label_key label`` by default) -> PromptOnly; the label is the record's ``reference``
  (``grading.answer`` when it is not text); a record without one is written without the label
  key, which OpenRLHF then refuses to train with a label, so say ``--data.label_key`` only for
  files that have it.
- preference: ``{prompt_key: [messages], chosen_key: [messages], rejected_key: [messages],
  margin?}`` -> PreferencePair (``prompt``/``chosen``/``rejected`` by default); option
  ``openrlhf_prompt=implicit`` writes no prompt key, each side holding the whole conversation.

Options: ``input_key``, ``label_key``, ``prompt_key``, ``chosen_key``, ``rejected_key`` rename
the columns for writing and reading; ``id``, ``group_id`` and metadata are extra columns
(OpenRLHF ignores them). A conversational TRL preference file is the same layout; auto-detection
therefore leaves such rows to ``trl-preference`` and detects only prompt rows here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dialogkit.errors import RecordError, UsageError
from dialogkit.formats._common import expect_object, field, leftovers
from dialogkit.formats.openai_preference import dump_messages, put_extras, read_messages, take_ids
from dialogkit.models import PreferencePair, PromptOnly
from dialogkit.ops.prompt import split_messages
from dialogkit.registry import Format, Options, WriteContext, build, register

__all__ = ["FORMAT", "OpenRLHF"]

_DEFAULTS = {"input_key": "input", "label_key": "label", "prompt_key": "prompt",
             "chosen_key": "chosen", "rejected_key": "rejected"}


def _key(opts: Options, name: str) -> str:
    value = opts.get(name) or _DEFAULTS[name]
    if not isinstance(value, str):
        raise UsageError(f"{name} must be a column name, got {value!r}")
    return value


def _messages(row: dict[str, Any], key: str, opts: Options) -> list[dict[str, Any]]:
    value = field(row, key, (list, str))
    if isinstance(value, str):  # OpenRLHF takes a string as one user turn
        return read_messages([{"role": "user", "content": value}], f"$.{key}", opts)
    return read_messages(value, f"$.{key}", opts)


class OpenRLHF(Format):
    """OpenRLHF prompt rows (input, label) and preference rows (prompt, chosen, rejected)."""

    name = "openrlhf"
    aliases = ("open-rlhf",)
    description = "OpenRLHF rows: input + label (PPO/GRPO prompts), prompt/chosen/rejected (RM)"
    reads = ("prompt", "preference")
    writes = ("prompt", "preference")

    def detect(self, row: Any) -> int:
        if not isinstance(row, dict) or "chosen" in row or "rejected" in row:
            return 0
        value = row.get("input")
        chat = isinstance(value, list) and bool(value) and isinstance(value[0], dict) \
            and "role" in value[0]
        return 2 if chat and isinstance(row.get("label"), (str, type(None))) else 0

    def read_row(self, data: Any, opts: Options) -> Iterable[Any]:
        row = expect_object(data)
        ids, id_keys = take_ids(row)
        chosen_key, rejected_key = _key(opts, "chosen_key"), _key(opts, "rejected_key")
        if chosen_key in row or rejected_key in row:
            prompt_key = _key(opts, "prompt_key")
            chosen = _messages(row, chosen_key, opts)
            rejected = _messages(row, rejected_key, opts)
            if row.get(prompt_key) is not None:
                prompt = _messages(row, prompt_key, opts)
            else:
                prompt, chosen, rejected = split_messages(chosen, rejected)
            margin = field(row, "margin", (int, float), required=False)
            metadata = leftovers(row, {prompt_key, chosen_key, rejected_key, "margin", *id_keys})
            yield build(PreferencePair, {
                "prompt": prompt, "chosen": chosen, "rejected": rejected,
                "margin": None if margin is None else float(margin), "metadata": metadata,
                **ids})
            return
        input_key, label_key = _key(opts, "input_key"), _key(opts, "label_key")
        out: dict[str, Any] = {"prompt": _messages(row, input_key, opts)}
        label = row.get(label_key)
        if isinstance(label, str):
            out["reference"] = label
        elif label is not None:
            out["grading"] = {"answer": label}
        out["metadata"] = leftovers(row, {input_key, label_key, *id_keys})
        yield build(PromptOnly, {**out, **ids})

    def write_record(self, record: Any, ctx: WriteContext) -> Any:
        opts = ctx.options
        row: dict[str, Any]
        if isinstance(record, PromptOnly):
            row = {_key(opts, "input_key"): dump_messages(record.prompt, ctx)}
            grading = record.grading
            if record.reference is not None:
                row[_key(opts, "label_key")] = record.reference
            elif grading is not None and grading.answer is not None:
                row[_key(opts, "label_key")] = grading.answer
            if grading is not None and (grading.style != "rule" or grading.params):
                ctx.drop("grading")
            if record.task is not None:
                ctx.drop("task")
        elif isinstance(record, PreferencePair):
            mode = opts.get("openrlhf_prompt") or "explicit"
            if mode not in ("explicit", "implicit"):
                raise UsageError(f"openrlhf_prompt must be 'explicit' or 'implicit', got {mode!r}")
            prompt = dump_messages(record.prompt, ctx)
            chosen = dump_messages(record.chosen, ctx)
            rejected = dump_messages(record.rejected, ctx)
            if mode == "explicit":
                if not prompt:
                    raise RecordError("the pair has no prompt to write under prompt_key (write "
                                      "openrlhf_prompt=implicit)", rule="no prompt")
                row = {_key(opts, "prompt_key"): prompt, _key(opts, "chosen_key"): chosen,
                       _key(opts, "rejected_key"): rejected}
            else:
                row = {_key(opts, "chosen_key"): prompt + chosen,
                       _key(opts, "rejected_key"): prompt + rejected}
            if record.margin is not None:
                row["margin"] = record.margin
        else:
            raise self.cannot_hold(record)
        return put_extras(row, record, ctx)


FORMAT = register(OpenRLHF())
