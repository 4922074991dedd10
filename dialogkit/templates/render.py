"""Records -> rendered rows: text, assistant spans and token masks, as transformers renders.

:func:`render` turns SFT records into TRL's language-modeling rows: ``text``, and with a tokenizer
also ``input_ids``, ``attention_mask``, ``assistant_masks`` and ``length``. Rendering uses the same
sandboxed Jinja environment as transformers' ``apply_chat_template`` (trim_blocks, lstrip_blocks,
loopcontrols, the ``{% generation %}`` extension, ``tojson`` as plain ``json.dumps``,
``raise_exception``, ``strftime_now``), so the text is byte-for-byte the same. Two behaviours are
offered with ``compat``:

- ``"v5"`` (default): message keys whose value is None are dropped, reasoning fields are aliased
  (``reasoning_content`` and ``thinking``), ``dict``/``namespace`` are transformers' guarded
  versions, and a token is in the assistant mask when its offsets overlap an assistant span.
- ``"v4"``: messages passed as built (``content: None`` stays), ``additional_special_tokens`` is
  passed to the template, masks map spans with ``char_to_token`` (with v4's quirks: a generation
  block rendered before any other output is not tracked; a span whose start has no token ends the
  mask).

Canonical messages become the dicts templates expect: ``reasoning`` is passed as
``reasoning_content``; a tool call becomes ``{"id", "type": "function", "function": {"name",
"arguments"}}`` with ``arguments`` decoded from its JSON text to an object when it parses
(``tool_arguments="string"`` keeps the text, as DeepSeek-style templates need); ``weight`` is not
passed (no template reads it). Content parts become transformers' blocks (``{"type": "text",
"text"}``, ``{"type": "image", "url"|"path"|"base64": ...}``), and in a conversation with media
every string content becomes one text block, as TRL passes vision-language data.

Assistant spans come from ``{% generation %}`` tags when the template has them; otherwise from
rendering prefixes (the conversation up to each assistant turn, with and without the generation
prompt) when every prefix is a prefix of the full rendering, and a :class:`RecordError` saying so
when it is not. A record the template refuses (``raise_exception``) is rejected with the
template's own message. A template that reaches for Python internals, or runs away (more than
``time_limit`` seconds or ``max_chars`` characters of output), raises :class:`TemplateError`.

Example:
    >>> from dialogkit.models import Conversation, Message
    >>> conv = Conversation(messages=[Message(role="user", content="Hi"),
    ...                               Message(role="assistant", content="Hello")])
    >>> tpl = "{% for m in messages %}<{{ m.role }}>{{ m.content }}\\n{% endfor %}"
    >>> [row["text"] for row in render([conv], template=tpl)]
    ['<user>Hi\\n<assistant>Hello\\n']
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import jinja2

from dialogkit.errors import RecordError, UsageError
from dialogkit.models import Conversation, Message
from dialogkit.registry import Reject, WriteContext
from dialogkit.templates.load import ChatTemplate, coerce_template
from dialogkit.templates.sandbox import (
    DEFAULT_MAX_CHARS,
    DEFAULT_MAX_TEMPLATE_CHARS,
    DEFAULT_TIME_LIMIT,
    Compat,
    check_compat,
    has_generation_tags,
)
from dialogkit.templates.tokens import Tokenizer, assistant_mask, load_tokenizer
from dialogkit.templates.worker import DEFAULT_MAX_MEMORY, render_in_worker

__all__ = [
    "Rendered",
    "TemplateFailure",
    "message_dicts",
    "render",
    "render_conversation",
    "render_messages",
]

_REASONING_FIELDS = ("reasoning_content", "thinking", "reasoning")


# ---------------------------------------------------------------------------------------------
# rendering dict messages (the level transformers works at)


def _plain(value: Any) -> Any:
    """transformers v5's ``_plain_template_data``: exact JSON types, other objects a placeholder."""
    if value is None or type(value) in (str, int, float, bool):
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int.__int__(value)
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, Mapping):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    if callable(getattr(value, "model_dump", None)):
        return _plain(value.model_dump())
    return f"<{type(value).__name__}>"


def _normalize_v5(messages: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Drop None-valued keys, convert to plain data, alias reasoning fields (v5's order)."""
    out = []
    for m in messages:
        msg = _plain({k: v for k, v in m.items() if v is not None})
        reasoning = next((msg[k] for k in _REASONING_FIELDS if msg.get(k) is not None), None)
        if reasoning is not None:
            msg = {"thinking": reasoning, **msg, "reasoning_content": reasoning}
        out.append(msg)
    return out


def _variables(
    messages: Iterable[Mapping[str, Any]],
    tools: Any,
    documents: Any,
    add_generation_prompt: bool,
    compat: str,
    special_tokens: Mapping[str, Any] | None,
    kwargs: Mapping[str, Any],
) -> dict[str, Any]:
    """What ``render()`` receives: the messages (normalised under v5), tools, tokens, kwargs."""
    context: dict[str, Any] = {**(special_tokens or {}), **kwargs}
    if compat == "v5":
        chat = _normalize_v5(messages)
        tools = _plain(tools)
        documents = _plain(documents)
        context = _plain(context)
    else:
        chat = [dict(m) for m in messages]
    return {
        "messages": chat, "tools": tools, "documents": documents,
        "add_generation_prompt": add_generation_prompt, **context,
    }


class TemplateFailure(Exception):
    """A runtime error a template raised in the worker (``type_name`` is its class there)."""

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(message)
        self.type_name = type_name


def _raise_outcome(outcome: list[Any]) -> None:
    """Raise what the template raised in the worker: its refusal, or its runtime error."""
    if outcome[0] == "refused":
        raise jinja2.exceptions.TemplateError(outcome[1])
    name, message = outcome[1], outcome[2]
    cls = getattr(jinja2.exceptions, name, None)
    if isinstance(cls, type) and issubclass(cls, jinja2.exceptions.TemplateError):
        raise cls(message)
    raise TemplateFailure(name, message)


def render_messages(
    messages: Iterable[Mapping[str, Any]],
    template: str,
    *,
    tools: list[dict[str, Any]] | None = None,
    documents: list[dict[str, Any]] | None = None,
    add_generation_prompt: bool = False,
    compat: Compat | str = "v5",
    special_tokens: Mapping[str, Any] | None = None,
    time_limit: float = DEFAULT_TIME_LIMIT,
    max_chars: int = DEFAULT_MAX_CHARS,
    max_template_chars: int = DEFAULT_MAX_TEMPLATE_CHARS,
    max_memory: int = DEFAULT_MAX_MEMORY,
    now: datetime | None = None,
    **kwargs: Any,
) -> tuple[str, list[tuple[int, int]]]:
    """Render dict messages with a template string; return the text and its generation spans.

    This is transformers' ``render_jinja_template`` for one conversation, run in the template
    worker (see :mod:`dialogkit.templates.worker`). The template's own refusals
    (``raise_exception``) propagate as ``jinja2.exceptions.TemplateError``, its runtime errors
    as the jinja2 exception or a :class:`TemplateFailure` naming the error's type (the caller
    turns them into rejects); Python internals and runaways raise TemplateError.
    """
    check_compat(compat)
    variables = _variables(
        messages, tools, documents, add_generation_prompt, compat, special_tokens, kwargs
    )
    (outcome,) = render_in_worker(
        template, compat, [variables], time_limit=time_limit, max_chars=max_chars,
        max_template_chars=max_template_chars, max_memory=max_memory, now=now,
    )
    if outcome[0] != "ok":
        _raise_outcome(outcome)
    return outcome[1], [tuple(span) for span in outcome[2]]


# ---------------------------------------------------------------------------------------------
# canonical records


def _arguments(text: str, mode: str) -> Any:
    if mode == "string":
        return text
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return text
    return value if isinstance(value, dict) else text


def _parts(content: list[Any]) -> list[dict[str, Any]]:
    """Content parts as transformers' chat templates read them: ``{"type": "text", "text"}``,
    and ``{"type": "image"|"video"|"audio"}`` with the source under ``url``, ``path`` or
    ``base64`` (what processors load; templates only look at ``type``)."""
    out: list[dict[str, Any]] = []
    for p in content:
        if p.type == "text":
            out.append({"type": "text", "text": p.text})
        elif p.url is not None:
            out.append({"type": p.type, "url": p.url})
        elif p.path is not None:
            out.append({"type": p.type, "path": p.path})
        else:
            out.append({"type": p.type, "base64": p.data})
    return out


def message_dicts(
    messages: Iterable[Message], tool_arguments: str = "object"
) -> list[dict[str, Any]]:
    """Canonical messages as the dicts chat templates read (see the module docstring).

    Content parts become transformers' blocks (:func:`_parts`); when any message has a media
    part, string contents become one text block too, as TRL's ``prepare_multimodal_messages``
    makes them for vision-language models.
    """
    if tool_arguments not in ("object", "string"):
        raise UsageError(f"tool_arguments must be 'object' or 'string', got {tool_arguments!r}")
    messages = list(messages)
    # a conversation with media renders as TRL's vision-language collators pass it: every
    # message's content a list of blocks (VLM templates index content[0]['text'])
    blocks = any(m.media for m in messages)
    out = []
    for m in messages:
        content = m.content
        d: dict[str, Any] = {"role": m.role, "content": content}
        if content is not None and type(content) is not str:
            d["content"] = _parts(content)
        elif blocks and content is not None:
            d["content"] = [{"type": "text", "text": content}]
        if m.name is not None:
            d["name"] = m.name
        if m.tool_calls:
            calls = []
            for c in m.tool_calls:
                call: dict[str, Any] = {} if c.id is None else {"id": c.id}
                call["type"] = c.type
                call["function"] = {
                    "name": c.name, "arguments": _arguments(c.arguments, tool_arguments)
                }
                calls.append(call)
            d["tool_calls"] = calls
        if m.tool_call_id is not None:
            d["tool_call_id"] = m.tool_call_id
        if m.reasoning is not None:
            d["reasoning_content"] = m.reasoning
        out.append(d)
    return out


@dataclass
class Rendered:
    """One rendered conversation: its text, assistant character spans, and tokens if asked."""

    text: str
    spans: list[tuple[int, int]]
    span_source: Literal["generation", "prefix", "none"]
    input_ids: list[int] | None = None
    assistant_masks: list[int] | None = None

    @property
    def length(self) -> int | None:
        """Token count, when tokenized."""
        return None if self.input_ids is None else len(self.input_ids)

    def row(self) -> dict[str, Any]:
        """The output row: ``text``, plus the token columns when tokenized."""
        out: dict[str, Any] = {"text": self.text}
        if self.input_ids is not None:
            out["input_ids"] = self.input_ids
            out["attention_mask"] = [1] * len(self.input_ids)
            out["assistant_masks"] = self.assistant_masks
            out["length"] = len(self.input_ids)
        return out


def _template_error(outcome: list[Any], during: str = "") -> RecordError:
    """A template's refusal or runtime failure on one record (a worker outcome), as a
    RecordError; a special token the template needs but was not given gets a hint."""
    if outcome[0] == "refused":
        reason = outcome[1] if outcome[1] is not None else "the template refused the record"
        return RecordError(during + reason, rule=f"template refused: {reason}")
    name, message = outcome[1], outcome[2]
    reason = f"{during}the template failed: {name}: {message}"
    missing = _MISSING_TOKEN.search(message) if name == "UndefinedError" else None
    if missing:
        token = missing.group(1)
        flag = token.replace("_", "-")
        reason += (
            f" (the template needs {token}: pass --{flag} / special_tokens={{'{token}': ...}}, "
            "a --tokenizer, or put the model's tokenizer_config.json beside the template)"
        )
    return RecordError(reason, rule=f"template failed: {name}")


_MISSING_TOKEN = re.compile(r"'((?:bos|eos)_token)' is undefined")


def _not_a_prefix(i: int, what: str) -> RecordError:
    end = f"messages[:{i + 1 if not what else i}]"
    return RecordError(
        f"cannot find assistant spans: the template has no {{% generation %}} tags "
        f"and rendering {end}{' ' + what if what else ''} is not a prefix of the "
        "whole rendering; use a template with generation tags (TRL ships training "
        "versions of common templates) or render without --tokenizer",
        rule="no assistant spans",
    )


def _prefix_spans(
    assistants: list[int], text: str, outcomes: list[list[Any]]
) -> list[tuple[int, int]]:
    """Assistant spans from the prefix renderings (``outcomes``: head, whole per assistant
    turn); a RecordError when a prefix is not a prefix or the template refused one."""
    spans: list[tuple[int, int]] = []
    for k, i in enumerate(assistants):
        parts = []
        pair = outcomes[2 * k: 2 * k + 2]
        whats = ("with the generation prompt", "")[: len(pair)]
        for outcome, what in zip(pair, whats, strict=True):
            if outcome[0] != "ok":
                end = i + 1 if not what else i
                raise _template_error(outcome, f"rendering messages[:{end}] for the spans: ")
            if not text.startswith(outcome[1]):
                raise _not_a_prefix(i, what)
            parts.append(outcome[1])
        if len(parts) < 2:  # the worker stopped early; cannot happen without an error above
            raise _not_a_prefix(i, "")
        head, whole = parts
        if len(whole) < len(head):
            raise RecordError(
                f"cannot find assistant spans: messages[{i}] renders shorter than its prompt",
                rule="no assistant spans",
            )
        spans.append((len(head), len(whole)))
    return spans


def render_conversation(
    conv: Conversation,
    template: ChatTemplate | str,
    *,
    tokenizer: Tokenizer | None = None,
    add_generation_prompt: bool = False,
    compat: Compat | str = "v5",
    spans: bool = True,
    tool_arguments: str = "object",
    template_kwargs: Mapping[str, Any] | None = None,
    time_limit: float = DEFAULT_TIME_LIMIT,
    max_chars: int = DEFAULT_MAX_CHARS,
    max_template_chars: int = DEFAULT_MAX_TEMPLATE_CHARS,
    max_memory: int = DEFAULT_MAX_MEMORY,
    now: datetime | None = None,
) -> Rendered:
    """Render one conversation; raise RecordError when the template refuses it.

    With ``spans`` and no generation tags, spans come from prefix renderings (a RecordError when
    that is unsound); with a tokenizer, the token ids and assistant mask are added.
    """
    tpl = template if isinstance(template, ChatTemplate) else ChatTemplate({"default": template})
    source = tpl.select(bool(conv.tools))
    special = {**tpl.special_tokens, **(tokenizer.special_tokens if tokenizer else {})}
    if compat == "v5":
        special.pop("additional_special_tokens", None)
    messages = message_dicts(conv.messages, tool_arguments)
    kwargs = dict(template_kwargs or {})

    def variables(msgs: list[dict[str, Any]], agp: bool) -> dict[str, Any]:
        return _variables(msgs, conv.tools, None, agp, compat, special, kwargs)

    span_source: Literal["generation", "prefix", "none"] = "none"
    assistants: list[int] = []
    if has_generation_tags(source):
        span_source = "generation"
    elif spans:
        span_source = "prefix"
        assistants = [i for i, m in enumerate(messages) if m.get("role") == "assistant"]
    variants = [variables(messages, add_generation_prompt)]
    for i in assistants:
        variants += [variables(messages[:i], True), variables(messages[: i + 1], False)]
    # one worker job for the record: the full rendering, then each assistant turn's prefixes
    outcomes = render_in_worker(
        source, compat, variants, time_limit=time_limit, max_chars=max_chars,
        max_template_chars=max_template_chars, max_memory=max_memory, now=now,
        stop_unless_prefix=bool(assistants),
    )
    if outcomes[0][0] != "ok":
        raise _template_error(outcomes[0])
    text = outcomes[0][1]
    found = [tuple(span) for span in outcomes[0][2]]
    if assistants:
        found = _prefix_spans(assistants, text, outcomes[1:])
    out = Rendered(text, found, span_source)  # type: ignore[arg-type]
    if tokenizer is not None:
        enc = tokenizer.encode(text)
        out.input_ids = list(enc.ids)
        out.assistant_masks = assistant_mask(enc, found, compat)
    return out


def _as_conversation(record: Any) -> Conversation:
    from dialogkit.ops.chat import as_conversation

    return as_conversation(record, WriteContext(), "render")


def _where(rec: Any) -> dict[str, Any]:
    src = getattr(rec, "source", None)
    if src is None:
        return {}
    return {"source": src.file, "line": src.line, "format": src.format}


def render(
    records: Iterable[Any],
    template: ChatTemplate | str | os.PathLike[str],
    tokenizer: Tokenizer | str | os.PathLike[str] | None = None,
    *,
    add_generation_prompt: bool = False,
    max_tokens: int | None = None,
    on_error: str = "raise",
    compat: Compat | str = "v5",
    tool_arguments: str = "object",
    template_kwargs: Mapping[str, Any] | None = None,
    time_limit: float = DEFAULT_TIME_LIMIT,
    max_chars: int = DEFAULT_MAX_CHARS,
    max_template_chars: int = DEFAULT_MAX_TEMPLATE_CHARS,
    max_memory: int = DEFAULT_MAX_MEMORY,
    now: datetime | None = None,
) -> Iterator[dict[str, Any] | Reject]:
    """Rendered rows for SFT records (conversations, demos, trainer dialogues), in input order.

    ``template`` is a ChatTemplate, a path (see :func:`load_template`) or a template string;
    ``tokenizer`` a Tokenizer or a path (see :func:`load_tokenizer`). Rows are
    ``{"text"}`` or, with a tokenizer, ``{"text", "input_ids", "attention_mask",
    "assistant_masks", "length"}``. A record the template refuses, one whose assistant spans
    cannot be found, or one longer than ``max_tokens`` raises its RecordError
    (``on_error="raise"``) or is yielded as a :class:`Reject` (``"skip"``); Rejects read from
    the input are passed through the same way.
    """
    if on_error not in ("raise", "skip"):
        raise UsageError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    check_compat(compat)
    tpl = coerce_template(template)
    tok = (
        load_tokenizer(tokenizer, compat)
        if isinstance(tokenizer, (str, os.PathLike))
        else tokenizer
    )
    if max_tokens is not None and tok is None:
        raise UsageError("max_tokens needs a tokenizer")
    for rec in records:
        if isinstance(rec, Reject):
            if on_error == "raise":
                raise rec.error
            yield rec
            continue
        try:
            conv = _as_conversation(rec)
            out = render_conversation(
                conv, tpl, tokenizer=tok, add_generation_prompt=add_generation_prompt,
                compat=compat, spans=tok is not None, tool_arguments=tool_arguments,
                template_kwargs=template_kwargs, time_limit=time_limit, max_chars=max_chars,
                max_template_chars=max_template_chars, max_memory=max_memory, now=now,
            )
            if max_tokens is not None and out.length is not None and out.length > max_tokens:
                raise RecordError(
                    f"{out.length} tokens, more than --max-tokens {max_tokens}",
                    rule="longer than max tokens",
                )
        except RecordError as exc:
            exc.at(**_where(rec))
            if on_error == "raise":
                raise
            yield Reject(exc, record=rec)
            continue
        yield out.row()
