"""``openai-completion``: legacy GPT-3 fine-tuning JSONL, ``{"prompt": str, "completion": str}``.

A row reads as a :class:`Conversation` of one user turn (``prompt``) and one assistant turn
(``completion``), so it goes to chat formats directly; other fields go to ``metadata``.

Options (format-specific, through ``Options.extra``):

- ``prompt_separator`` (e.g. ``"\\n\\n###\\n\\n"``): stripped from the end of ``prompt`` on
  read, added on write. Unset by default: on read, OpenAI's recommended ``"\\n\\n###\\n\\n"``
  is stripped when it ends the prompt of every one of the first rows (the detection sample);
  ``prompt_separator=""`` keeps the text exactly as it is.
- ``stop`` (e.g. ``" END"`` or ``"<|endoftext|>"``): stripped from the end of ``completion`` on
  read, added on write. Unset by default: on read, a trailing ``<|endoftext|>`` (GPT-3's stop
  token, which chat training would learn as literal text and tiktoken refuses to count) is
  stripped from every completion that has it, and ``" END"`` when it ends the completion of
  every one of the first rows; each strip is counted in the report (``changed``).
  ``stop=""`` keeps the text exactly as it is (the behaviour before 0.2).
- ``require_markers`` (default ``True``): with a marker option set, a row that does not end
  with it is a RecordError. With ``False`` such a row is read as it is (and gets the marker
  when written back).
- ``system_join`` (default unset): a system prompt has no place in this format, so a record
  with one is a RecordError; with ``system_join`` set it is put before the user text, joined
  with this string (one way: it is not split off again on read).

Writing: conversations of exactly one user and one assistant turn (plus a system turn when
``system_join`` is set), demos (instruction and input joined with ``Options.join``) and
trainer dialogues. Ids have no place (tallied as dropped); ``metadata`` is written back as
extra keys.

Automatic stripping happens on read only; writing adds a marker only when the option is set.

The self-instruct predictions file (``prompt``, ``instruction``, ``input``, ``response``,
``target``) has no ``completion``: detection scores it 0, and reading it with this format
rejects every row (``missing required field `completion```), so it is never half-read.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any

from dialogkit.detect import SAMPLE_ROWS
from dialogkit.errors import RecordError, UsageError
from dialogkit.formats._common import expect_object, field, leftovers
from dialogkit.formats._messages import policy_messages
from dialogkit.formats.alpaca import add_metadata, single_turn
from dialogkit.io import Row
from dialogkit.models import Conversation
from dialogkit.ops.chat import as_conversation
from dialogkit.registry import Format, Options, WriteContext, build, register

__all__ = ["FORMAT", "OpenAICompletion"]

_KEYS = frozenset({"prompt", "completion"})
ENDOFTEXT = "<|endoftext|>"
# markers stripped on read when (and only when) they end that field of every sampled row
_USUAL = {"prompt_separator": ("prompt", "\n\n###\n\n"), "stop": ("completion", " END")}
_AUTO = "_auto_"  # prefix of the Options.extra keys read() sets for markers it inferred


def _marker(opts: Options, name: str) -> str:
    """A marker option as a string; unset (or ``""``) is ``""``."""
    value = opts.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise UsageError(f"{name} must be a string, got {type(value).__name__}")
    return value


def _strip(text: str, marker: str, key: str, what: str, strict: bool) -> str:
    """``text`` without the trailing ``marker``; a missing marker is an error when ``strict``."""
    if not marker:
        return text
    if text.endswith(marker):
        return text[: -len(marker)]
    if strict:
        raise RecordError(
            f"{key} does not end with the {what} {marker!r} (set require_markers=False "
            "to accept such rows)",
            loc=f"$.{key}", rule=f"no {what}",
        )
    return text


class OpenAICompletion(Format):
    """Legacy OpenAI prompt/completion rows <-> single-turn conversations.

    Options: ``prompt_separator`` and ``stop`` (stripped on read, added on write),
    ``require_markers`` (default True) and ``system_join`` (default unset: reject system).
    """

    name = "openai-completion"
    aliases = ("legacy", "openai-legacy", "legacy-completion", "gpt3")
    description = "legacy OpenAI (GPT-3) fine-tuning rows: prompt, completion"
    reads = ("conversation",)
    writes = ("conversation", "demo", "trainer_dialogue")

    def detect(self, row: Any) -> int:
        # exactly these two string keys: 2, above trl's 1 for string prompt/completion columns
        if (
            isinstance(row, dict)
            and row.keys() == _KEYS
            and isinstance(row["prompt"], str)
            and isinstance(row["completion"], str)
        ):
            return 2
        return 0

    def read(self, rows: Iterable[Row | RecordError], opts: Options) -> Iterator[Any]:
        """Rows as records, after looking at the first rows for the usual markers (an unset
        ``prompt_separator`` or ``stop`` that ends that field of every one of them is
        stripped wherever it ends it)."""
        it = iter(rows)
        head = list(itertools.islice(it, SAMPLE_ROWS))
        sample = [r.data for r in head if isinstance(r, Row) and isinstance(r.data, dict)]
        auto: dict[str, str] = {}
        for name, (key, marker) in _USUAL.items():
            if opts.get(name) is None and sample and all(
                isinstance(d.get(key), str) and d[key].endswith(marker) for d in sample
            ):
                auto[_AUTO + name] = marker
        if auto:
            opts = replace(opts, extra={**opts.extra, **auto})
        for row in itertools.chain(head, it):
            yield from self.read_one(row, opts)

    def read_row(self, data: Any, opts: Options) -> Iterable[Any]:
        row = expect_object(data)
        prompt = field(row, "prompt", str)
        completion = field(row, "completion", str)
        strict = bool(opts.get("require_markers", True))
        prompt = self._field(opts, prompt, "prompt", "prompt_separator", strict)
        completion = self._field(opts, completion, "completion", "stop", strict)
        messages = policy_messages(
            [{"role": "user", "content": prompt}, {"role": "assistant", "content": completion}],
            ["$.prompt", "$.completion"], opts,
        )
        yield build(Conversation, {"messages": messages, "metadata": leftovers(row, _KEYS)})

    @staticmethod
    def _field(opts: Options, text: str, key: str, name: str, strict: bool) -> str:
        """``text`` of ``key`` without its marker: the option's when set (``""``: none), else
        ``<|endoftext|>`` (completions) or a usual marker that :meth:`read` inferred, each
        strip counted in ``opts.notes``."""
        if opts.get(name) is not None:
            return _strip(text, _marker(opts, name), key, name, strict)
        for marker in ((ENDOFTEXT,) if name == "stop" else ()) + (
            (opts.get(_AUTO + name),) if opts.get(_AUTO + name) else ()
        ):
            if text.endswith(marker):
                opts.notes[f"{key}: trailing {marker!r} stripped (keep it with "
                           f"--option {name}=)"] += 1
                return text[: -len(marker)]
        return text

    def write_record(self, record: Any, ctx: WriteContext) -> Any:
        opts = ctx.options
        conv = as_conversation(record, ctx, self.name)
        system, user, assistant = single_turn(conv, self.name, ctx)
        if system is not None:
            system_join = opts.get("system_join")
            if system_join is None:
                raise RecordError(
                    f"format {self.name!r} has no place for a system prompt "
                    "(set system_join to put it before the prompt)",
                    loc="$.messages[0]", rule="system not writable",
                )
            user = f"{system}{system_join}{user}"
        if record.id is not None:
            ctx.drop("id")
        out = {
            "prompt": user + _marker(opts, "prompt_separator"),
            "completion": assistant + _marker(opts, "stop"),
        }
        return add_metadata(out, conv.metadata, ctx)


FORMAT = register(OpenAICompletion())
