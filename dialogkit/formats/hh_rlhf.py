"""``hh-rlhf``: Anthropic's HH-RLHF ``{"chosen": str, "rejected": str}`` transcripts <-> pairs.

Each string is a whole transcript whose turns start with ``"\\n\\nHuman: "`` or
``"\\n\\nAssistant: "``. A record becomes one :class:`~dialogkit.models.PreferencePair`: the
shared prompt conversation plus the final Assistant turn(s) of each side. The real data has
quirks (../shared/data/FORMATS.md §1); each has one rule:

- **Tags.** Only ``"\\n\\nHuman: "`` and ``"\\n\\nAssistant: "`` (a blank line, the tag, one
  space) start a turn. The single space is the separator; any further spaces belong to the
  content and are kept (``"Assistant:  O.k."`` has content ``" O.k."``). A transcript must start
  with a tag; text before the first tag is rejected (``text before the first turn tag``).
- **Inline role tags** (``"... Human: ..."`` without the blank line) are text of the current
  turn, kept verbatim: the transcript cannot tell them from content, and splitting on them would
  invent turns.
- **Two turns in a row from one role** (``"...\\n\\nAssistant: A\\n\\nAssistant: B"``) follow the
  shared ``consecutive`` policy: ``reject`` (default; reason ``two Assistant turns in a row
  (turns 4 and 5 of chosen; use --consecutive merge or keep)``), ``keep`` them as separate
  messages (the transcript is written back exactly), or ``merge`` them with ``merge_separator``.
- **Empty turns** (``"...\\n\\nAssistant: "`` at the end) follow the shared ``empty_turn``
  policy: ``reject`` (default; ``empty final Assistant turn in chosen``), ``keep`` (content
  ``""``), or ``drop`` (the turn is removed; a side left without a final Assistant turn is then
  rejected).
- **Prompt vs completion.** The completion of a side is its trailing run of Assistant turns (one
  turn, or several under ``--consecutive keep``); the prompt is everything before it. When the
  two sides' prompts differ (as in the records where one side's answer is two Assistant turns
  in a row, so a character-level common prefix cuts in the wrong place) the prompts are compared
  turn by turn and the record is rejected if they still differ (``chosen and rejected have
  different prompts (first difference at turn 3)``); otherwise the prompt is shared and each
  side keeps its own completion turns.
- **Identical sides**: ``chosen and rejected are identical, so they carry no preference``.

Text is never altered. Keys besides ``chosen``/``rejected`` go to ``metadata`` and are written
back. The writer renders the prompt plus each completion as a transcript, so
``read -> write -> read`` is equal and a record read from hh-rlhf is written back to the very
strings it came from.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from dialogkit.errors import RecordError
from dialogkit.formats._common import expect_object, field, leftovers
from dialogkit.models import Message, PreferencePair
from dialogkit.registry import Format, Options, WriteContext, build, register

_TAG = re.compile(r"\n\n(Human|Assistant): ")
_ROLE = {"Human": "user", "Assistant": "assistant"}
_TAG_OF = {"user": "Human", "assistant": "Assistant"}
_SIDES = ("chosen", "rejected")


def split_transcript(text: str, side: str) -> list[tuple[str, str]]:
    """``(tag, content)`` turns of one transcript; text before the first tag is an error."""
    parts = _TAG.split(text)
    if parts[0] != "":
        raise RecordError(
            "text before the first turn tag (a transcript starts with \"\\n\\nHuman: \")",
            loc=f"$.{side}", rule="text before first tag",
        )
    return [(parts[i], parts[i + 1]) for i in range(1, len(parts), 2)]


Turns = list[tuple[str, str]]


def _apply_policies(turns: Turns, side: str, opts: Options) -> Turns:
    """The shared empty-turn and consecutive-role policies, with reasons naming the turn."""
    out: list[tuple[str, str]] = []
    last = len(turns) - 1
    for i, (tag, content) in enumerate(turns):
        if content == "":
            if opts.empty_turn == "reject":
                where = "final " if i == last else ""
                raise RecordError(
                    f"empty {where}{tag} turn in {side} "
                    f"(turn {i + 1}; use --empty-turn drop or keep)",
                    loc=f"$.{side}", rule="empty turn",
                )
            if opts.empty_turn == "drop":
                continue
        if out and out[-1][0] == tag:
            if opts.consecutive == "reject":
                raise RecordError(
                    f"two {tag} turns in a row (turns {i} and {i + 1} of {side}; "
                    "use --consecutive merge or keep)",
                    loc=f"$.{side}", rule="consecutive turns",
                )
            if opts.consecutive == "merge":
                prev = out[-1][1]
                joined = opts.merge_separator.join(p for p in (prev, content) if p)
                out[-1] = (tag, joined)
                continue
        out.append((tag, content))
    return out


def _completion_start(turns: list[tuple[str, str]]) -> int:
    """Index where the trailing run of Assistant turns begins (``len(turns)`` if none)."""
    i = len(turns)
    while i > 0 and turns[i - 1][0] == "Assistant":
        i -= 1
    return i


def _messages(turns: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
    return [{"role": _ROLE[tag], "content": content} for tag, content in turns]


class HHRLHF(Format):
    """Anthropic HH-RLHF chosen/rejected transcripts; one PreferencePair per record.

    Uses the shared ``consecutive`` and ``empty_turn`` options (see the module docstring).
    """

    name = "hh-rlhf"
    aliases = ("hh", "anthropic-hh")
    description = "Anthropic HH-RLHF {chosen, rejected} Human/Assistant transcripts"
    reads = ("preference",)
    writes = ("preference",)

    def detect(self, row: Any) -> int:
        if not isinstance(row, dict):
            return 0
        chosen, rejected = row.get("chosen"), row.get("rejected")
        if not (isinstance(chosen, str) and isinstance(rejected, str)):
            return 0
        if chosen.startswith("\n\nHuman: ") and rejected.startswith("\n\nHuman: "):
            return 20
        if "\n\nAssistant: " in chosen and "\n\nAssistant: " in rejected:
            return 15
        return 0

    def read_row(self, data: Any, opts: Options) -> Iterable[Any]:
        row = expect_object(data)
        chosen_text = field(row, "chosen", str)
        rejected_text = field(row, "rejected", str)
        if chosen_text == rejected_text:
            raise RecordError(
                "chosen and rejected are identical, so they carry no preference",
                loc="$", rule="identical_pair",
            )
        sides: dict[str, tuple[list[tuple[str, str]], list[tuple[str, str]]]] = {}
        for side, text in (("chosen", chosen_text), ("rejected", rejected_text)):
            turns = _apply_policies(split_transcript(text, side), side, opts)
            start = _completion_start(turns)
            if start == len(turns):
                raise RecordError(
                    f"{side} does not end with an Assistant turn", loc=f"$.{side}",
                    rule="no final assistant turn",
                )
            if start == 0:
                raise RecordError(
                    f"{side} has no Human turn before its final Assistant turn",
                    loc=f"$.{side}", rule="no prompt",
                )
            sides[side] = (turns[:start], turns[start:])
        prompt_c, prompt_r = sides["chosen"][0], sides["rejected"][0]
        if prompt_c != prompt_r:
            first = next(
                (i for i, (a, b) in enumerate(zip(prompt_c, prompt_r, strict=False)) if a != b),
                min(len(prompt_c), len(prompt_r)),
            )
            raise RecordError(
                "chosen and rejected have different prompts "
                f"(first difference at turn {first + 1})",
                loc="$", rule="different prompts",
            )
        yield build(
            PreferencePair,
            {
                "prompt": _messages(prompt_c),
                "chosen": _messages(sides["chosen"][1]),
                "rejected": _messages(sides["rejected"][1]),
                "metadata": leftovers(row, _SIDES),
            },
        )

    def write_record(self, record: Any, ctx: WriteContext) -> Any:
        if not isinstance(record, PreferencePair):
            raise self.cannot_hold(record)
        if not record.prompt:
            raise RecordError("hh-rlhf needs a prompt with at least one Human turn", loc="$.prompt",
                              rule="no prompt")
        if record.prompt[-1].role != "user":
            raise RecordError(
                f"hh-rlhf needs the prompt to end with a Human turn, got {record.prompt[-1].role}",
                loc=f"$.prompt[{len(record.prompt) - 1}]", rule="prompt end",
            )
        prompt = self._render(record.prompt, "prompt", ctx)
        out: dict[str, Any] = {}
        for side in _SIDES:
            messages: list[Message] = getattr(record, side)
            for i, m in enumerate(messages):
                if m.role != "assistant":
                    raise RecordError(
                        f"hh-rlhf completions are Assistant turns only, got a {m.role} message",
                        loc=f"$.{side}[{i}]", rule="completion role",
                    )
            out[side] = prompt + self._render(messages, side, ctx)
        if record.margin is not None:
            ctx.drop("margin")
        if record.group_id is not None:
            ctx.drop("group_id")
        if record.id is not None:
            ctx.drop("id")
        for key, value in record.metadata.items():
            if key not in out:
                out[key] = value
        return out

    @staticmethod
    def _render(messages: list[Message], where: str, ctx: WriteContext) -> str:
        """Messages as transcript text; a turn the format cannot hold is a RecordError."""
        parts = []
        for i, m in enumerate(messages):
            loc = f"$.{where}[{i}]"
            if m.role not in _TAG_OF:
                raise RecordError(
                    "hh-rlhf transcripts have only Human and Assistant turns, "
                    f"got a {m.role} message",
                    loc=loc, rule="unsupported role",
                )
            if m.content is None or m.tool_calls:
                raise RecordError("hh-rlhf cannot hold tool calls", loc=loc, rule="tool calls")
            if _TAG.search(m.content):
                raise RecordError(
                    "content contains a \\n\\nHuman: or \\n\\nAssistant: tag, so it would not read "
                    "back as one turn", loc=f"{loc}.content", rule="tag in content",
                )
            for name in ("name", "weight", "reasoning"):
                if getattr(m, name) is not None:
                    ctx.drop(name)
            parts.append(f"\n\n{_TAG_OF[m.role]}: {m.content}")
        return "".join(parts)


FORMAT = register(HHRLHF())
