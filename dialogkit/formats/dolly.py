"""``dolly``: Databricks Dolly 15k rows and the Japanese translation (dolly-ja), as demos.

Two variants, told apart per row:

- ``en``: ``{"instruction", "context", "response", "category"}`` -> ``InstructionDemo`` with
  ``input`` = ``context`` and ``category`` = ``category``.
- ``ja`` (kunishou/databricks-dolly-15k-ja): ``{"index", "instruction", "input", "output",
  "category"}`` with a STRING ``index`` -> the same, with ``id`` = ``index``. A row is ``ja``
  when it has ``output`` and no ``response``.

``""``, null and a missing ``context``/``input`` all read as ``input=None`` and are written as
``""``; ``category`` is written only when the record has one. Other fields go to ``metadata``
and are written back as extra keys.

Writing picks the variant with the option ``variant``: ``"en"``, ``"ja"``, or ``"auto"``
(default): ``ja`` for a record that was read by this format and has an id (only ``ja`` rows
give one), else ``en``. So a file is written back in the variant it was read in, with no marker
in ``metadata``. ``ja`` needs an id for ``index``; ``en`` has no place for an id, a system
prompt or a labeler (tallied as dropped). Conversations with exactly one user and one
assistant turn are written as demos.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dialogkit.errors import RecordError, UsageError
from dialogkit.formats._common import expect_object, field, leftovers
from dialogkit.formats.alpaca import add_metadata, single_turn
from dialogkit.models import InstructionDemo
from dialogkit.ops.chat import as_conversation
from dialogkit.registry import Format, Options, WriteContext, build, register

__all__ = ["FORMAT", "Dolly"]

_EN_KEYS = ("instruction", "context", "response", "category")
_JA_KEYS = ("index", "instruction", "input", "output", "category")
_VARIANTS = ("auto", "en", "ja")


class Dolly(Format):
    """Dolly 15k (``en``) and dolly-ja (``ja``) rows <-> instruction demos.

    Option ``variant`` (``auto`` | ``en`` | ``ja``) chooses the layout written; ``auto`` writes
    records back in the variant they were read in.
    """

    name = "dolly"
    aliases = ("dolly-15k", "databricks-dolly")
    description = "Databricks Dolly 15k rows and the Japanese dolly-ja translation"
    reads = ("demo",)
    writes = ("demo", "conversation", "trainer_dialogue")
    uses_source = True

    def detect(self, row: Any) -> int:
        if not isinstance(row, dict):
            return 0
        if all(isinstance(row.get(k), str) for k in ("instruction", "context", "response")):
            return 3
        if all(isinstance(row.get(k), str) for k in ("index", "instruction", "output", "category")):
            return 3  # beats alpaca's 2: alpaca rows have no index and category
        return 0

    def read_row(self, data: Any, opts: Options) -> Iterable[Any]:
        row = expect_object(data)
        ja = "output" in row and "response" not in row
        if ja:
            rid = field(row, "index", str)
            instruction = field(row, "instruction", str)
            inp = field(row, "input", str, required=False)
            response = field(row, "output", str)
            known: tuple[str, ...] = _JA_KEYS
        else:
            rid = None
            instruction = field(row, "instruction", str)
            inp = field(row, "context", str, required=False)
            response = field(row, "response", str)
            known = _EN_KEYS
        category = field(row, "category", str, required=False)
        yield build(InstructionDemo, {
            "id": rid, "prompt": instruction, "input": inp or None, "response": response,
            "category": category, "metadata": leftovers(row, known),
        })

    def write_record(self, record: Any, ctx: WriteContext) -> Any:
        variant = ctx.options.get("variant", "auto")
        if variant not in _VARIANTS:
            raise UsageError(f"variant must be one of {', '.join(_VARIANTS)}, got {variant!r}")
        if variant == "auto":
            src = record.source
            from_ja = src is not None and src.format == self.name and record.id is not None
            variant = "ja" if from_ja else "en"
        if isinstance(record, InstructionDemo):
            demo = record
        else:
            conv = as_conversation(record, ctx, self.name)
            system, user, assistant = single_turn(conv, self.name, ctx)
            demo = InstructionDemo.model_construct(
                kind="demo", id=conv.id, prompt=user, input=None, response=assistant,
                system=system, category=None, labeler=None, source=conv.source,
                metadata=conv.metadata,
            )
        for name in ("system", "labeler"):
            if getattr(demo, name) is not None:
                ctx.drop(name)
        out: dict[str, Any]
        if variant == "ja":
            if demo.id is None:
                raise RecordError(
                    "variant 'ja' writes the record id as `index`, and this record has none",
                    loc="$.id", rule="no id for index",
                )
            out = {"index": demo.id, "instruction": demo.prompt, "input": demo.input or "",
                   "output": demo.response}
        else:
            if demo.id is not None:
                ctx.drop("id")
            out = {"instruction": demo.prompt, "context": demo.input or "",
                   "response": demo.response}
        if demo.category is not None:
            out["category"] = demo.category
        return add_metadata(out, demo.metadata, ctx)


FORMAT = register(Dolly())
