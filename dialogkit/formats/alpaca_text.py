"""``alpaca-text``: demonstrations already rendered with the Alpaca prompt template, ``{"text"}``.

Stanford Alpaca's template (English) and its Japanese translation (llm-jp-sft and the Japanese
Alpaca datasets) put the instruction, an optional input and the response under ``###``
headers after a fixed preamble:

- English: ``Below is an instruction that describes a task[, paired with an input that
  provides further context]. Write a response that appropriately completes the request.`` then
  ``### Instruction:``, ``### Input:``, ``### Response:``.
- Japanese: ``以下は、タスクを説明する指示[と、文脈のある入力の組み合わせ]です。要求を適切に満たす
  応答を書きなさい。`` then ``### 指示:``, ``### 入力:``, ``### 応答:``.

Reading splits the text at the first of each header, so writing the parts back with the same
template always gives the original text, byte for byte. A text that does not start with a known
preamble is rejected with that reason. The language read is remembered (private marker
``_alpaca_text``) so a round trip writes the same template; other records are written with the
``alpaca_text_lang`` option (``en``, the default, or ``ja``). A system prompt has no place in
the template: it is dropped and counted (rejected with ``--strict``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dialogkit.errors import RecordError, UsageError
from dialogkit.formats._common import expect_object, field, leftovers
from dialogkit.formats.alpaca import single_turn
from dialogkit.models import InstructionDemo
from dialogkit.ops.chat import as_conversation, record_extras
from dialogkit.registry import Format, Options, WriteContext, build, register

__all__ = ["FORMAT", "TEMPLATES", "AlpacaText", "render_alpaca"]

MARKER = "_alpaca_text"

# lang -> (preamble without input, preamble with input, instruction, input, response headers)
TEMPLATES: dict[str, tuple[str, str, str, str, str]] = {
    "en": (
        "Below is an instruction that describes a task. Write a response that appropriately "
        "completes the request.\n\n",
        "Below is an instruction that describes a task, paired with an input that provides "
        "further context. Write a response that appropriately completes the request.\n\n",
        "### Instruction:\n",
        "\n\n### Input:\n",
        "\n\n### Response:\n",
    ),
    "ja": (
        "以下は、タスクを説明する指示です。要求を適切に満たす応答を書きなさい。\n\n",
        "以下は、タスクを説明する指示と、文脈のある入力の組み合わせです。要求を適切に満たす応答を"
        "書きなさい。\n\n",
        "### 指示:\n",
        "\n\n### 入力:\n",
        "\n\n### 応答:\n",
    ),
}


def render_alpaca(instruction: str, input: str | None, response: str, lang: str = "en") -> str:
    """The Alpaca template filled in (the form models were fine-tuned on in Stanford Alpaca)."""
    plain, with_input, head_i, head_in, head_r = TEMPLATES[lang]
    if input:
        return f"{with_input}{head_i}{instruction}{head_in}{input}{head_r}{response}"
    return f"{plain}{head_i}{instruction}{head_r}{response}"


def _parse(text: str) -> tuple[str, str, str | None, str]:
    """(lang, instruction, input or None, response) of a rendered text; RecordError if not one."""
    for lang, (plain, with_input, head_i, head_in, head_r) in TEMPLATES.items():
        for preamble, has_input in ((with_input, True), (plain, False)):
            start = preamble + head_i
            if not text.startswith(start):
                continue
            body = text[len(start):]
            cut = body.find(head_r)
            if cut < 0:
                raise RecordError(f"no {head_r.strip()!r} header after the instruction",
                                  loc="$.text", rule="no response header")
            head, response = body[:cut], body[cut + len(head_r):]
            if not has_input:
                return lang, head, None, response
            split = head.find(head_in)
            if split < 0:
                raise RecordError(f"the preamble announces an input but there is no "
                                  f"{head_in.strip()!r} header", loc="$.text",
                                  rule="no input header")
            return lang, head[:split], head[split + len(head_in):], response
    raise RecordError("the text does not start with a known Alpaca template preamble "
                      "(English or Japanese)", loc="$.text", rule="not an Alpaca template")


class AlpacaText(Format):
    """Alpaca-template text rows ``{"text"}`` (English and Japanese templates) <-> demos."""

    name = "alpaca-text"
    aliases = ("alpaca-prompt", "alpaca-rendered")
    description = "demos pre-rendered with the Alpaca template ({text}, English or Japanese)"
    reads = ("demo",)
    writes = ("demo", "conversation", "trainer_dialogue")
    markers = (MARKER,)

    def detect(self, row: Any) -> int:
        if not isinstance(row, dict) or "instruction" in row:
            return 0
        text = row.get("text")
        if not isinstance(text, str):
            return 0
        starts = [p + t[2] for t in TEMPLATES.values() for p in t[:2]]
        return 3 if any(text.startswith(s) for s in starts) else 0

    def read_row(self, data: Any, opts: Options) -> Iterable[Any]:
        row = expect_object(data)
        text = field(row, "text", str)
        lang, instruction, inp, response = _parse(text)
        metadata = leftovers(row, ("text",))
        if lang != "en":
            metadata[MARKER] = {"lang": lang}
        yield build(InstructionDemo, {"prompt": instruction, "input": inp, "response": response,
                                      "metadata": metadata})

    def write_record(self, record: Any, ctx: WriteContext) -> Any:
        marker = record.metadata.get(MARKER) or {}
        lang = ctx.options.get("alpaca_text_lang") or marker.get("lang") or "en"
        if lang not in TEMPLATES:
            raise UsageError(f"alpaca_text_lang must be one of {', '.join(TEMPLATES)}, "
                             f"got {lang!r}")
        if isinstance(record, InstructionDemo):
            instruction, inp, response, system = (record.prompt, record.input, record.response,
                                                  record.system)
            metadata = {**record_extras(record, ctx), **record.metadata}
        else:
            conv = as_conversation(record, ctx, self.name)
            system, instruction, response = single_turn(conv, self.name, ctx)
            inp = None
            metadata = dict(conv.metadata)
        if system is not None:
            ctx.drop("system")
        if record.id is not None:
            ctx.drop("id")
        out: dict[str, Any] = {"text": render_alpaca(instruction, inp, response, lang)}
        for key, value in metadata.items():
            if key != MARKER and key not in out:
                out[key] = value
        return out


FORMAT = register(AlpacaText())
