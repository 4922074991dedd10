"""``verl``: the RL-prompt Parquet layout of volcengine/verl, as its examples write it.

One row per prompt (verl's ``examples/data_preprocess/gsm8k.py`` and the "Prepare Data" page
of its docs)::

    {"data_source": "openai/gsm8k",
     "prompt": [{"role": "user", "content": "..."}],
     "ability": "math",
     "reward_model": {"style": "rule", "ground_truth": "72"},
     "extra_info": {"split": "train", "index": 0, ...}}

verl's ``RLHFDataset`` applies the chat template to ``prompt``; its reward managers pass
``data_source``, the completion, ``reward_model["ground_truth"]`` and ``extra_info`` to the
score function, and ``default_compute_score`` picks the scorer by ``data_source``
(``openai/gsm8k``, ``DigitalLearningGmbH/MATH-lighteval``, ...). So a row without a ground truth
cannot train: writing a record with neither ``reference`` nor ``grading`` is a RecordError.

Writing (PromptOnly only):

- ``data_source``: option ``data_source``, else the record's ``metadata["data_source"]``, else
  the name verl's reward knows for the format it was read from (``gsm8k`` ->
  ``openai/gsm8k``, ``math`` -> ``DigitalLearningGmbH/MATH-lighteval``), else the stem of the
  file it came from; with none of these, a RecordError asks for ``--option data_source=NAME``.
- ``reward_model``: ``{"style": grading.style or "rule", "ground_truth": grading.answer, else
  the reference}`` plus the grading's parameters as further keys.
- ``ability``: the record's ``task``, else option ``ability``, else null.
- ``extra_info``: ``split`` (option ``split``, default ``train``), ``index`` (the row's
  position in this output, 0-based, so it is stable for the same input), ``id`` when the
  record has one, then the record's metadata (GSM8K's ``worked_solution``, ...).
- the chat ``prompt`` as ``{role, content}`` messages (tool calls are kept in the OpenAI
  shape).

Reading is the inverse: ``ability`` -> ``task``, ``reward_model`` -> ``grading`` (and a text
ground truth also the ``reference``), ``data_source`` -> ``metadata``, ``extra_info``'s keys ->
metadata (its ``split`` and ``index`` kept aside so writing the records again gives the same
rows). The writer is stateful (``index`` counts rows), so ``convert`` runs it in one process.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import PurePath
from typing import Any

from dialogkit.errors import RecordError
from dialogkit.formats._common import expect_object, field, leftovers
from dialogkit.formats.openai_preference import dump_messages, read_messages
from dialogkit.models import PromptOnly
from dialogkit.registry import Format, Options, WriteContext, build, register

__all__ = ["DATA_SOURCES", "FORMAT", "Verl"]

MARKER = "_verl"
# the data_source names verl's default_compute_score dispatches on, for formats dialogkit reads
DATA_SOURCES = {"gsm8k": "openai/gsm8k", "math": "DigitalLearningGmbH/MATH-lighteval"}
_KEYS = ("data_source", "prompt", "ability", "reward_model", "extra_info")


def _data_source(record: Any, ctx: WriteContext) -> str:
    name = ctx.options.get("data_source") or record.metadata.get("data_source")
    if isinstance(name, str) and name:
        return name
    src = record.source
    if src is not None and src.format in DATA_SOURCES:
        return DATA_SOURCES[src.format]
    if src is not None and src.file and src.file != "-":
        stem = PurePath(src.file).name.split(".")[0]
        if stem:
            return stem
    raise RecordError("verl needs a data_source to choose the reward function; pass "
                      "--option data_source=NAME", rule="no data_source")


class Verl(Format):
    """verl RL prompts (Parquet): data_source, prompt, ability, reward_model, extra_info."""

    name = "verl"
    aliases = ("verl-prompt",)
    description = "verl RL prompts: data_source, prompt, ability, reward_model, extra_info"
    reads = ("prompt",)
    writes = ("prompt",)
    container = "parquet"
    markers = (MARKER,)
    uses_source = True
    stateful = True

    def detect(self, row: Any) -> int:
        if not isinstance(row, dict):
            return 0
        if isinstance(row.get("reward_model"), dict) and "prompt" in row and "data_source" in row:
            return 5
        return 0

    def read_row(self, data: Any, opts: Options) -> Iterable[Any]:
        row = expect_object(data)
        prompt = read_messages(field(row, "prompt", list), "$.prompt", opts)
        reward = field(row, "reward_model", dict)
        style = field(reward, "style", str, "$.reward_model", required=False)
        if "ground_truth" not in reward:
            raise RecordError("missing required field `ground_truth`",
                              loc="$.reward_model.ground_truth", rule="missing ground_truth")
        truth = reward["ground_truth"]
        params = leftovers(reward, {"style", "ground_truth"})
        out: dict[str, Any] = {"prompt": prompt,
                               "grading": {"style": style or "rule", "answer": truth,
                                           "params": params}}
        if isinstance(truth, str):
            out["reference"] = truth
        task = field(row, "ability", str, required=False)
        if task is not None:
            out["task"] = task
        extra = dict(field(row, "extra_info", dict, required=False) or {})
        if isinstance(extra.get("id"), str):
            out["id"] = extra.pop("id")
        marker = {k: extra.pop(k) for k in ("split", "index") if k in extra}
        metadata = {**leftovers(row, _KEYS), **extra}
        metadata["data_source"] = field(row, "data_source", str)
        if marker:
            metadata[MARKER] = marker
        out["metadata"] = metadata
        yield build(PromptOnly, out)

    def write_record(self, record: Any, ctx: WriteContext) -> Any:
        if not isinstance(record, PromptOnly):
            raise self.cannot_hold(record)
        grading = record.grading
        if grading is not None and grading.answer is not None:
            truth: Any = grading.answer
        elif record.reference is not None:
            truth = record.reference
        else:
            raise RecordError("verl's reward needs reward_model.ground_truth: the prompt has no "
                              "reference answer", rule="no reference")
        reward = {"style": grading.style if grading else "rule", "ground_truth": truth,
                  **(grading.params if grading else {})}
        index = ctx.state.get("index", 0)
        ctx.state["index"] = index + 1
        meta = dict(record.metadata)
        marker = meta.pop(MARKER, None) or {}
        source = _data_source(record, ctx)
        meta.pop("data_source", None)
        extra: dict[str, Any] = {
            "split": ctx.options.get("split") or marker.get("split", "train"),
            "index": marker.get("index", index),
        }
        if record.id is not None:
            extra["id"] = record.id
        for key, value in meta.items():
            if key in extra:
                ctx.drop(f"metadata.{key}")
            else:
                extra[key] = value
        return {
            "data_source": source,
            "prompt": dump_messages(record.prompt, ctx),
            "ability": record.task if record.task is not None else ctx.options.get("ability"),
            "reward_model": reward,
            "extra_info": extra,
        }


FORMAT = register(Verl())
