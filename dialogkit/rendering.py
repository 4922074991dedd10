"""Chat templates -> text, assistant spans and token masks, exactly as transformers renders.

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
passed (no template reads it).

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

import contextvars
import json
import math
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import jinja2
import jinja2.ext
import jinja2.nodes
import jinja2.utils
from jinja2.sandbox import ImmutableSandboxedEnvironment

from dialogkit.errors import MissingDependencyError, RecordError, TemplateError, UsageError
from dialogkit.models import Conversation, Message
from dialogkit.registry import Reject, WriteContext

__all__ = [
    "COMPATS",
    "ChatTemplate",
    "Rendered",
    "Tokenizer",
    "assistant_mask",
    "has_generation_tags",
    "load_template",
    "load_tokenizer",
    "message_dicts",
    "render",
    "render_conversation",
    "render_messages",
]

Compat = Literal["v4", "v5"]
COMPATS: tuple[str, ...] = ("v5", "v4")
SPECIAL_TOKEN_NAMES: tuple[str, ...] = (
    "bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token",
)
# a real template renders in milliseconds and a few KB; these limits only stop runaways
DEFAULT_TIME_LIMIT = 10.0
DEFAULT_MAX_CHARS = 10_000_000
_GENERATION_RE = re.compile(r"\{\%-?\s*generation\s*-?\%\}")
_REASONING_FIELDS = ("reasoning_content", "thinking", "reasoning")


def has_generation_tags(template: str) -> bool:
    """Whether a template marks assistant output with ``{% generation %}`` (transformers' regex)."""
    return _GENERATION_RE.search(template) is not None


# ---------------------------------------------------------------------------------------------
# the Jinja environment


@dataclass
class _Budget:
    """The runaway limits of one render: a deadline and an output size."""

    deadline: float
    max_chars: int
    time_limit: float

    def check(self) -> None:
        if time.monotonic() > self.deadline:
            raise TemplateError(
                f"chat template ran away: rendering took more than {self.time_limit:g}s"
            )


_BUDGET: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar("budget", default=None)
_TRACKING: contextvars.ContextVar[tuple[list[str], list[tuple[int, int]]] | None] = (
    contextvars.ContextVar("generation_tracking", default=None)
)
_NOW: contextvars.ContextVar[datetime | None] = contextvars.ContextVar("now", default=None)


def _check_budget() -> None:
    budget = _BUDGET.get()
    if budget is not None:
        budget.check()


class _CheckedRange:
    """``range()`` for templates: the sandbox's size cap, plus a deadline check while iterating."""

    __slots__ = ("_r",)

    def __init__(self, r: range) -> None:
        self._r = r

    def __iter__(self) -> Iterator[int]:
        _check_budget()
        for i, v in enumerate(self._r):
            if i & 1023 == 1023:
                _check_budget()
            yield v

    def __reversed__(self) -> Iterator[int]:
        return iter(_CheckedRange(self._r[::-1]))

    def __len__(self) -> int:
        return len(self._r)

    def __getitem__(self, key: Any) -> Any:
        v = self._r[key]
        return _CheckedRange(v) if isinstance(v, range) else v

    def __contains__(self, v: object) -> bool:
        return v in self._r

    def __eq__(self, other: object) -> bool:
        return self._r == (other._r if isinstance(other, _CheckedRange) else other)

    def __hash__(self) -> int:
        return hash(self._r)

    def __repr__(self) -> str:
        return repr(self._r)


def _checked_range(*args: int) -> _CheckedRange:
    from jinja2.sandbox import safe_range

    return _CheckedRange(safe_range(*args))


class _Env(ImmutableSandboxedEnvironment):
    """transformers' environment, plus runaway checks on calls, attribute access and operators."""

    intercepted_binops = frozenset({"*", "**", "+"})

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        _check_budget()
        return super().call(__context, __obj, *args, **kwargs)

    def getattr(self, obj: Any, attribute: str) -> Any:
        _check_budget()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _check_budget()
        return super().getitem(obj, argument)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        # transformers renders an unsafe attribute as '' (and fails only on use); a template that
        # reaches for Python internals is hostile or broken, so stop it at once
        raise TemplateError(
            f"chat template reached for Python internals: access to attribute {attribute!r} "
            f"of {type(obj).__name__!r} object is unsafe"
        )

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _check_budget()
        budget = _BUDGET.get()
        limit = budget.max_chars if budget is not None else DEFAULT_MAX_CHARS
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if (
                    isinstance(seq, (str, list, tuple))
                    and isinstance(n, int)
                    and len(seq) * n > limit
                ):
                    raise TemplateError(
                        f"chat template ran away: a repetition would build {len(seq) * n} items "
                        f"(limit {limit})"
                    )
        elif operator == "**":
            if (
                isinstance(left, (int, float))
                and isinstance(right, int)
                and abs(left) > 1
                and right * math.log2(abs(left)) > 4096
            ):
                raise TemplateError("chat template ran away: a power too large to compute")
        elif (
            operator == "+"
            and isinstance(left, (str, list))
            and isinstance(right, type(left))
            and len(left) + len(right) > limit
        ):
            raise TemplateError(
                f"chat template ran away: a value of more than {limit} characters"
            )
        return super().call_binop(context, operator, left, right)


class _GenerationTracker(jinja2.ext.Extension):
    """``{% generation %}...{% endgeneration %}``: records the character span of its output.

    Like transformers, the start is the length of the chunks yielded so far by
    ``template.generate()``; under v4 a block is tracked only once some output exists.
    """

    tags = {"generation"}

    def parse(self, parser: Any) -> jinja2.nodes.Node:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return jinja2.nodes.CallBlock(
            self.call_method("_generation_support"), [], [], body
        ).set_lineno(lineno)

    @jinja2.pass_eval_context
    def _generation_support(self, context: Any, caller: Any) -> str:
        rv: str = caller()
        tracking = _TRACKING.get()
        if tracking is not None:
            blocks, indices = tracking
            v4 = getattr(self.environment, "dialogkit_compat", "v5") == "v4"
            if not v4 or blocks or indices:
                start = len("".join(blocks))
                indices.append((start, start + len(rv)))
        return rv


def _raise_exception(message: Any) -> None:
    raise jinja2.exceptions.TemplateError(message)


def _tojson(
    x: Any,
    ensure_ascii: bool = False,
    indent: int | None = None,
    separators: Any = None,
    sort_keys: bool = False,
) -> str:
    return json.dumps(
        x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
    )


def _strftime_now(fmt: str) -> str:
    now = _NOW.get()
    return (now or datetime.now()).strftime(fmt)


class _TemplateDict:
    """transformers v5's ``dict`` global: callable and ``fromkeys``, nothing else to reach into."""

    def __call__(self, *args: Any, **kwargs: Any) -> dict[Any, Any]:
        return dict(*args, **kwargs)

    def fromkeys(self, *args: Any, **kwargs: Any) -> dict[Any, Any]:
        return dict.fromkeys(*args, **kwargs)


class _TemplateNamespace(jinja2.utils.Namespace):
    """transformers v5's ``namespace``: rejects attribute names starting with ``_``."""

    def __init__(*args: Any, **kwargs: Any) -> None:  # noqa: N805 - Jinja's signature trick
        self, args = args[0], args[1:]
        attrs = dict(*args, **kwargs)
        for name in attrs:
            _TemplateNamespace._check_name(name)
        jinja2.utils.Namespace.__init__(self, attrs)

    def __setitem__(self, name: str, value: Any) -> None:
        _TemplateNamespace._check_name(name)
        jinja2.utils.Namespace.__setitem__(self, name, value)

    @staticmethod
    def _check_name(name: Any) -> None:
        if isinstance(name, str) and name.startswith("_"):
            raise jinja2.exceptions.SecurityError(
                "Chat templates cannot store underscore-prefixed attributes on a namespace, "
                f"but got {name!r}. Please rename the attribute."
            )


@lru_cache(maxsize=2)
def _environment(compat: str) -> _Env:
    env = _Env(
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=[_GenerationTracker, jinja2.ext.loopcontrols],
    )
    env.dialogkit_compat = compat  # type: ignore[attr-defined]
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    env.globals["range"] = _checked_range
    if compat == "v5":
        env.globals["dict"] = _TemplateDict()
        env.globals["namespace"] = _TemplateNamespace
    return env


@lru_cache(maxsize=64)
def _compile(source: str, compat: str) -> jinja2.Template:
    try:
        return _environment(compat).from_string(source)
    except jinja2.exceptions.TemplateSyntaxError as exc:
        raise TemplateError(f"chat template does not compile: {exc} (line {exc.lineno})") from exc


def _check_compat(compat: str) -> None:
    if compat not in COMPATS:
        raise UsageError(f"compat must be one of {', '.join(COMPATS)}, got {compat!r}")


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
    now: datetime | None = None,
    **kwargs: Any,
) -> tuple[str, list[tuple[int, int]]]:
    """Render dict messages with a template string; return the text and its generation spans.

    This is transformers' ``render_jinja_template`` for one conversation. The template's own
    refusals (``raise_exception``) and its runtime errors propagate as jinja2 exceptions (the
    caller turns them into rejects); Python internals and runaways raise TemplateError.
    """
    _check_compat(compat)
    compiled = _compile(template, compat)
    context: dict[str, Any] = {**(special_tokens or {}), **kwargs}
    if compat == "v5":
        chat = _normalize_v5(messages)
        tools = _plain(tools)
        documents = _plain(documents)
        context = _plain(context)
    else:
        chat = [dict(m) for m in messages]
    blocks: list[str] = []
    spans: list[tuple[int, int]] = []
    budget = _Budget(time.monotonic() + time_limit, max_chars, time_limit)
    tokens = (_BUDGET.set(budget), _TRACKING.set((blocks, spans)), _NOW.set(now))
    size = 0
    try:
        for chunk in compiled.generate(
            messages=chat,
            tools=tools,
            documents=documents,
            add_generation_prompt=add_generation_prompt,
            **context,
        ):
            blocks.append(chunk)
            size += len(chunk)
            if size > max_chars:
                raise TemplateError(
                    f"chat template ran away: more than {max_chars} characters of output"
                )
            budget.check()
    except jinja2.exceptions.SecurityError as exc:
        raise TemplateError(f"chat template reached for Python internals: {exc}") from exc
    except RecursionError as exc:
        raise TemplateError("chat template ran away: recursion too deep") from exc
    except MemoryError as exc:
        raise TemplateError("chat template ran away: out of memory") from exc
    finally:
        _NOW.reset(tokens[2])
        _TRACKING.reset(tokens[1])
        _BUDGET.reset(tokens[0])
    return "".join(blocks), spans


# ---------------------------------------------------------------------------------------------
# templates and tokenizers from files


def _token_text(value: Any) -> str | None:
    """A special token from a tokenizer config: a string, or an AddedToken dict's ``content``."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and isinstance(value.get("content"), str):
        return str(value["content"])
    return None


def _special_tokens(config: Mapping[str, Any]) -> dict[str, Any]:
    """The named special tokens of a tokenizer config, plus ``additional_special_tokens``."""
    out: dict[str, Any] = {}
    for name in SPECIAL_TOKEN_NAMES:
        text = _token_text(config.get(name))
        if text is not None:
            out[name] = text
    extra = config.get("additional_special_tokens")
    if isinstance(extra, list):
        out["additional_special_tokens"] = [t for t in map(_token_text, extra) if t is not None]
    return out


def _template_map(value: Any, where: str) -> dict[str, str]:
    """A config's ``chat_template``: a string, or a list of ``{name, template}``."""
    if isinstance(value, str):
        return {"default": value}
    if isinstance(value, list) and all(
        isinstance(t, Mapping) and isinstance(t.get("name"), str)
        and isinstance(t.get("template"), str) for t in value
    ):
        return {t["name"]: t["template"] for t in value}
    if isinstance(value, Mapping) and all(isinstance(v, str) for v in value.values()):
        return dict(value)
    raise TemplateError(
        f"{where}: chat_template must be a string or a list of {{name, template}}, "
        f"got {type(value).__name__}"
    )


@dataclass(frozen=True)
class ChatTemplate:
    """One or more named chat templates and the special tokens of the config they came from."""

    templates: Mapping[str, str]
    special_tokens: Mapping[str, Any] = field(default_factory=dict)
    source: str = "<string>"

    def select(self, has_tools: bool) -> str:
        """The template transformers would pick: ``tool_use`` with tools, else ``default``."""
        if len(self.templates) == 1 and "default" in self.templates:
            return self.templates["default"]
        if has_tools and "tool_use" in self.templates:
            return self.templates["tool_use"]
        if "default" in self.templates:
            return self.templates["default"]
        raise TemplateError(
            f"{self.source} has several chat templates and none named 'default': "
            f"{', '.join(sorted(self.templates))}"
        )


def _read_text(path: Path) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def _read_json(path: Path) -> Any:
    try:
        return json.loads(_read_text(path))
    except json.JSONDecodeError as exc:
        raise TemplateError(f"{path} is not valid JSON: {exc}") from exc


def load_template(path: str | os.PathLike[str]) -> ChatTemplate:
    """A chat template from a ``.jinja`` file, a ``tokenizer_config.json`` / ``chat_template.json``
    (string or list of named templates) or a folder holding one.

    In a folder, ``chat_template.jinja`` (with ``additional_chat_templates/*.jinja``) wins over
    ``chat_template.json``, which wins over ``tokenizer_config.json``, as in transformers v5;
    special tokens come from the folder's ``tokenizer_config.json``.
    """
    p = Path(path)
    if not p.exists():
        raise UsageError(f"No such template: {p}")
    if p.is_dir():
        config = p / "tokenizer_config.json"
        special = _special_tokens(_read_json(config)) if config.is_file() else {}
        jinja_file = p / "chat_template.jinja"
        if jinja_file.is_file():
            templates = {"default": _read_text(jinja_file)}
            extra = p / "additional_chat_templates"
            if extra.is_dir():
                for f in sorted(extra.glob("*.jinja")):
                    templates[f.stem] = _read_text(f)
            return ChatTemplate(templates, special, str(p))
        for name in ("chat_template.json", "tokenizer_config.json"):
            f = p / name
            if f.is_file():
                data = _read_json(f)
                if isinstance(data, Mapping) and data.get("chat_template") is not None:
                    return ChatTemplate(
                        _template_map(data["chat_template"], str(f)), special, str(p)
                    )
        raise UsageError(
            f"{p} holds no chat template (chat_template.jinja, chat_template.json or "
            "tokenizer_config.json with chat_template)"
        )
    if p.suffix == ".json":
        data = _read_json(p)
        if not isinstance(data, Mapping) or data.get("chat_template") is None:
            raise UsageError(f"{p} has no chat_template")
        return ChatTemplate(
            _template_map(data["chat_template"], str(p)), _special_tokens(data), str(p)
        )
    return ChatTemplate({"default": _read_text(p)}, {}, str(p))


class Tokenizer:
    """A ``tokenizers.Tokenizer`` with the special tokens of its ``tokenizer_config.json``."""

    def __init__(self, backend: Any, special_tokens: Mapping[str, Any], source: str) -> None:
        self.backend = backend
        self.special_tokens = dict(special_tokens)
        self.source = source

    def encode(self, text: str) -> Any:
        """The Encoding of ``text`` without added special tokens (as apply_chat_template does)."""
        return self.backend.encode(text, add_special_tokens=False)


def _import_tokenizers() -> Any:
    try:
        import tokenizers
    except ImportError as exc:
        raise MissingDependencyError(
            "tokenizers", "tokenizing rendered chats", extra="tokenizers"
        ) from exc
    return tokenizers


_LLAMA_CLASSES = frozenset({"LlamaTokenizer", "LlamaTokenizerFast"})


def load_tokenizer(path: str | os.PathLike[str], compat: Compat | str = "v5") -> Tokenizer:
    """A tokenizer from a ``tokenizer.json`` or a folder with ``tokenizer.json`` and
    ``tokenizer_config.json`` (special tokens come from the config).

    The ``tokenizers`` package is imported here. Under v5, a config naming ``LlamaTokenizer``
    gets the pipeline transformers v5 builds for it (no normalizer; a Metaspace pre-tokenizer
    that adds the prefix ``▁`` to the first word only unless ``legacy`` is true), so ids match
    transformers; other tokenizers, and every tokenizer under v4, are used as the file says.
    """
    _check_compat(compat)
    tokenizers = _import_tokenizers()
    p = Path(path)
    file = p / "tokenizer.json" if p.is_dir() else p
    if not file.is_file():
        raise UsageError(f"No tokenizer.json at {p}")
    try:
        backend = tokenizers.Tokenizer.from_file(str(file))
    except Exception as exc:  # tokenizers raises its own Exception type
        raise UsageError(f"{file} is not a tokenizers file: {exc}") from exc
    config_file = file.parent / "tokenizer_config.json"
    config = _read_json(config_file) if config_file.is_file() else {}
    if compat == "v5" and config.get("tokenizer_class") in _LLAMA_CLASSES:
        add_prefix_space = config.get("add_prefix_space")
        if add_prefix_space is None:
            add_prefix_space = True
        scheme = "never"
        if add_prefix_space:
            scheme = "always" if config.get("legacy", False) else "first"
        backend.normalizer = None
        backend.pre_tokenizer = tokenizers.pre_tokenizers.Metaspace(
            replacement="▁", prepend_scheme=scheme, split=False
        )
    return Tokenizer(backend, _special_tokens(config), str(p))


def assistant_mask(
    encoding: Any, spans: list[tuple[int, int]], compat: Compat | str = "v5"
) -> list[int]:
    """1 for each token in an assistant span: v5 by offset overlap, v4 by ``char_to_token``."""
    n = len(encoding.ids)
    mask = [0] * n
    if compat == "v4":
        for start, end in spans:
            start_tok = encoding.char_to_token(start)
            end_tok = encoding.char_to_token(end - 1)
            if start_tok is None:
                break
            for i in range(start_tok, end_tok + 1 if end_tok else n):
                mask[i] = 1
        return mask
    k = 0
    for i, (tok_start, tok_end) in enumerate(encoding.offsets):
        while k < len(spans) and tok_start >= spans[k][1]:
            k += 1
        if k == len(spans):
            break
        if tok_end > spans[k][0]:
            mask[i] = 1
    return mask


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


def message_dicts(
    messages: Iterable[Message], tool_arguments: str = "object"
) -> list[dict[str, Any]]:
    """Canonical messages as the dicts chat templates read (see the module docstring)."""
    if tool_arguments not in ("object", "string"):
        raise UsageError(f"tool_arguments must be 'object' or 'string', got {tool_arguments!r}")
    out = []
    for m in messages:
        d: dict[str, Any] = {"role": m.role, "content": m.content}
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


def _template_error(exc: Exception) -> RecordError:
    """A template's refusal or runtime failure on one record, as a RecordError."""
    if isinstance(exc, jinja2.exceptions.TemplateError) and type(exc) in (
        jinja2.exceptions.TemplateError,
    ):
        reason = str(exc.message) if exc.message is not None else "the template refused the record"
        err = RecordError(reason, rule=f"template refused: {reason}")
    else:
        reason = f"the template failed: {type(exc).__name__}: {exc}"
        err = RecordError(reason, rule=f"template failed: {type(exc).__name__}")
    err.__cause__ = exc
    return err


def _prefix_spans(
    messages: list[dict[str, Any]], text: str, do: Callable[..., tuple[str, Any]]
) -> list[tuple[int, int]]:
    """Assistant spans from rendering prefixes; a RecordError when a prefix is not a prefix."""
    spans: list[tuple[int, int]] = []
    for i, m in enumerate(messages):
        if m.get("role") != "assistant":
            continue
        head, _ = do(messages[:i], True)
        whole, _ = do(messages[: i + 1], False)
        for part, what in ((head, "with the generation prompt"), (whole, "")):
            if not text.startswith(part):
                end = f"messages[:{i + 1 if not what else i}]"
                raise RecordError(
                    f"cannot find assistant spans: the template has no {{% generation %}} tags "
                    f"and rendering {end}{' ' + what if what else ''} is not a prefix of the "
                    "whole rendering; use a template with generation tags (TRL ships training "
                    "versions of common templates) or render without --tokenizer",
                    rule="no assistant spans",
                )
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

    def do(msgs: list[dict[str, Any]], agp: bool) -> tuple[str, list[tuple[int, int]]]:
        try:
            return render_messages(
                msgs, source, tools=conv.tools, add_generation_prompt=agp, compat=compat,
                special_tokens=special, time_limit=time_limit, max_chars=max_chars, now=now,
                **(template_kwargs or {}),
            )
        except TemplateError:
            raise
        except Exception as exc:  # the template's own refusal or a runtime error in it
            raise _template_error(exc) from exc

    text, gen_spans = do(messages, add_generation_prompt)
    span_source: Literal["generation", "prefix", "none"] = "none"
    found = gen_spans
    if has_generation_tags(source):
        span_source = "generation"
    elif spans:
        found = _prefix_spans(messages, text, do)
        span_source = "prefix"
    out = Rendered(text, found, span_source)
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
    _check_compat(compat)
    tpl = _coerce_template(template)
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
                now=now,
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


def _coerce_template(template: ChatTemplate | str | os.PathLike[str]) -> ChatTemplate:
    """A ChatTemplate from an instance, a path, or a template string (anything with ``{``)."""
    if isinstance(template, ChatTemplate):
        return template
    if isinstance(template, str) and ("{" in template or "\n" in template):
        return ChatTemplate({"default": template})
    return load_template(template)
