"""Pre-flight check of a chat template against a dataset: refusals and silent damage.

Before an SFT run, :func:`check_template` renders every record as
:mod:`dialogkit.templates.render` would and reports, per record:

- ``refused``: the template raises on it (its own message: system role not supported, roles must
  alternate, ...), or fails on it (e.g. ``content: None`` concatenated).
- ``system prompt dropped`` / ``content dropped``: a message's text (stripped, since templates
  trim) does not appear in the rendering (Mistral v0.3/Nemo put the system prompt on the last
  user turn only, so a conversation ending with an assistant turn loses it).
- ``reasoning stripped``: a message's reasoning is not in the rendering (DeepSeek-R1 keeps only
  the text after ``</think>``; Qwen3 renders reasoning only after the last user turn).
- ``tool call dropped``: a tool call's function name is not in the rendering.
- ``media dropped``: a conversation's images (audio, video) leave no trace: giving each media
  part twice renders the same text (a text-only template on vision-language data).
- ``message dropped``: an empty message whose removal leaves the rendering unchanged (Phi-3.5
  drops empty system messages).
- ``no assistant spans``: the template has no ``{% generation %}`` tags and prefix rendering
  cannot place the assistant turns.
- ``empty assistant mask``: no token (or, without a tokenizer, no character) is marked as
  assistant output, so assistant-only loss would train on nothing.
- ``too long``: more tokens than ``max_tokens``.
- ``not an SFT record``: a record kind that cannot be rendered as a conversation.

A template that reaches for Python internals or runs away raises TemplateError for the whole run.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dialogkit.errors import RecordError, UsageError
from dialogkit.models import Conversation
from dialogkit.registry import Reject
from dialogkit.templates.load import ChatTemplate, coerce_template
from dialogkit.templates.render import _as_conversation, render_conversation
from dialogkit.templates.sandbox import DEFAULT_MAX_TEMPLATE_CHARS, Compat
from dialogkit.templates.tokens import Tokenizer, load_tokenizer

__all__ = ["CheckReport", "Finding", "check_conversation", "check_template"]


@dataclass(frozen=True)
class Finding:
    """One problem with one record: where it is, what kind, and the detail."""

    record: str
    issue: str
    detail: str


@dataclass
class CheckReport:
    """The outcome of a check: counts, and every finding in input order."""

    records: int = 0
    damaged: int = 0
    findings: list[Finding] = field(default_factory=list)
    by_issue: Counter[str] = field(default_factory=Counter)

    def add(self, record: str, problems: list[tuple[str, str]]) -> None:
        """Count one record and its problems (none means it is fine)."""
        self.records += 1
        if problems:
            self.damaged += 1
        for issue, detail in problems:
            self.findings.append(Finding(record, issue, detail))
            self.by_issue[issue] += 1


def _missing(text: str, value: str | None) -> bool:
    """True when ``value`` has text the rendering lacks (compared trimmed, as templates trim)."""
    return value is not None and bool(value.strip()) and value.strip() not in text


def _doubled(m: Any) -> Any:
    """``m`` with each of its media parts given twice (text parts as they are)."""
    if not m.media:
        return m
    parts = [q for p in m.content for q in ((p,) if p.type == "text" else (p, p))]
    return m.model_copy(update={"content": parts})


def check_conversation(
    conv: Conversation,
    template: ChatTemplate,
    *,
    tokenizer: Tokenizer | None = None,
    max_tokens: int | None = None,
    compat: Compat | str = "v5",
    **render_kw: Any,
) -> list[tuple[str, str]]:
    """The problems (issue, detail) the template causes for one conversation."""
    problems: list[tuple[str, str]] = []
    if tokenizer is not None:  # its special tokens win, as in render_conversation
        special = {**template.special_tokens, **tokenizer.special_tokens}
        template = ChatTemplate(template.templates, special, template.source)

    def text_of(c: Conversation) -> str:
        return render_conversation(c, template, compat=compat, spans=False, **render_kw).text

    try:
        text = text_of(conv)
    except RecordError as exc:
        return [("refused", exc.reason)]
    for i, m in enumerate(conv.messages):
        label = f"messages[{i}] ({m.role})"
        if _missing(text, m.text):
            if m.role == "system":
                problems.append(("system prompt dropped", f"{label}: {_short(m.text)}"))
            else:
                problems.append(("content dropped", f"{label}: {_short(m.text)}"))
        elif m.text is not None and not m.text.strip() and not m.tool_calls and not m.media:
            rest = conv.model_copy(update={"messages": conv.messages[:i] + conv.messages[i + 1:]})
            try:
                if text_of(rest) == text:
                    problems.append(("message dropped", f"{label}: the empty message leaves "
                                                        "no trace in the rendering"))
            except RecordError:
                pass
        if _missing(text, m.reasoning):
            problems.append(("reasoning stripped", f"{label}: {_short(m.reasoning)}"))
        for call in m.tool_calls or ():
            if call.name not in text:
                problems.append(("tool call dropped", f"{label}: {call.name}"))
    media = sum(len(m.media) for m in conv.messages)
    if media:  # each media part twice: a template that renders media must change its text
        doubled = conv.model_copy(update={"messages": [_doubled(m) for m in conv.messages]})
        try:
            if text_of(doubled) == text:
                problems.append(("media dropped", f"{media} media parts leave no trace in the "
                                                  "rendering"))
        except RecordError:
            pass
    try:
        out = render_conversation(
            conv, template, tokenizer=tokenizer, compat=compat, spans=True, **render_kw
        )
    except RecordError as exc:
        # the template refusing or failing on a prefix is a refusal, not a span problem
        refused = exc.rule.startswith(("template refused", "template failed"))
        problems.append(("refused" if refused else "no assistant spans", exc.reason))
        if tokenizer is not None and max_tokens is not None:
            length = len(tokenizer.encode(text).ids)
            if length > max_tokens:
                problems.append(("too long", f"{length} tokens, more than {max_tokens}"))
        return problems
    if out.assistant_masks is not None:
        if not any(out.assistant_masks):
            problems.append(("empty assistant mask", f"no token of {out.length} is assistant "
                                                     f"output (spans from {out.span_source})"))
    elif not any(end > start for start, end in out.spans):
        problems.append(("empty assistant mask", f"no character is assistant output "
                                                 f"(spans from {out.span_source})"))
    if max_tokens is not None and out.length is not None and out.length > max_tokens:
        problems.append(("too long", f"{out.length} tokens, more than {max_tokens}"))
    return problems


def _short(text: str | None, width: int = 60) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _label(rec: Any, index: int) -> str:
    src = getattr(rec, "source", None)
    if src is not None and src.file is not None:
        return f"{src.file}:{src.line}" if src.line is not None else src.file
    return f"#{index + 1}"


def check_template(
    records: Iterable[Any],
    template: ChatTemplate | str | os.PathLike[str],
    tokenizer: Tokenizer | str | os.PathLike[str] | None = None,
    *,
    max_tokens: int | None = None,
    compat: Compat | str = "v5",
    progress: Callable[[int], None] | None = None,
    template_kwargs: Mapping[str, Any] | None = None,
    max_template_chars: int = DEFAULT_MAX_TEMPLATE_CHARS,
) -> CheckReport:
    """Check every record (Rejects from reading count as problems too); see the module docstring.

    Example:
        >>> from dialogkit.models import Conversation, Message
        >>> conv = Conversation(messages=[Message(role="system", content="Be brief."),
        ...     Message(role="user", content="Hi"), Message(role="assistant", content="Hello")])
        >>> tpl = "{% for m in messages if m.role != 'system' %}{{ m.content }}{% endfor %}"
        >>> [f.issue for f in check_template([conv], tpl).findings]
        ['system prompt dropped']
    """
    tpl = coerce_template(template)
    tok = (
        load_tokenizer(tokenizer, compat)
        if isinstance(tokenizer, (str, os.PathLike))
        else tokenizer
    )
    if max_tokens is not None and tok is None:
        raise UsageError("--max-tokens needs --tokenizer")
    report = CheckReport()
    for i, rec in enumerate(records):
        if isinstance(rec, Reject):
            where = (f"{rec.error.source}:{rec.error.line}" if rec.error.source is not None
                     else f"#{i + 1}")
            report.add(where, [("unreadable", str(rec.error.reason))])
        else:
            try:
                conv = _as_conversation(rec)
            except RecordError as exc:
                report.add(_label(rec, i), [("not an SFT record", exc.reason)])
            else:
                report.add(_label(rec, i), check_conversation(
                    conv, tpl, tokenizer=tok, max_tokens=max_tokens, compat=compat,
                    template_kwargs=template_kwargs, max_template_chars=max_template_chars,
                ))
        if progress is not None:
            progress(report.records)
    return report
