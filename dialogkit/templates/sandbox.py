"""The sandbox chat templates run in: transformers' Jinja environment, plus runaway bounds.

The environment is the one ``apply_chat_template`` builds (trim_blocks, lstrip_blocks,
loopcontrols, the ``{% generation %}`` extension, ``tojson`` as plain ``json.dumps``,
``raise_exception``, ``strftime_now``; under v5 the guarded ``dict`` and ``namespace``), so
renderings are byte-for-byte transformers'. On top, a template that reaches for Python internals
or runs away (more than ``time_limit`` seconds or ``max_chars`` characters) raises
:class:`TemplateError`. :func:`run_template` is the one entry point: a compiled template, its
variables, the bounds; out come the text and the generation spans.
"""

from __future__ import annotations

import contextvars
import json
import math
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal

import jinja2
import jinja2.ext
import jinja2.nodes
import jinja2.utils
from jinja2.sandbox import ImmutableSandboxedEnvironment

from dialogkit.errors import TemplateError, UsageError

__all__ = [
    "COMPATS",
    "DEFAULT_MAX_CHARS",
    "DEFAULT_TIME_LIMIT",
    "Compat",
    "check_compat",
    "compile_template",
    "has_generation_tags",
    "run_template",
]

Compat = Literal["v4", "v5"]
COMPATS: tuple[str, ...] = ("v5", "v4")
# a real template renders in milliseconds and a few KB; these limits only stop runaways
DEFAULT_TIME_LIMIT = 10.0
DEFAULT_MAX_CHARS = 10_000_000
_GENERATION_RE = re.compile(r"\{\%-?\s*generation\s*-?\%\}")


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
def compile_template(source: str, compat: str) -> jinja2.Template:
    """The template compiled once per (source, compat); a syntax error is a TemplateError."""
    try:
        return _environment(compat).from_string(source)
    except jinja2.exceptions.TemplateSyntaxError as exc:
        raise TemplateError(f"chat template does not compile: {exc} (line {exc.lineno})") from exc


def check_compat(compat: str) -> None:
    """A UsageError unless ``compat`` is one of COMPATS."""
    if compat not in COMPATS:
        raise UsageError(f"compat must be one of {', '.join(COMPATS)}, got {compat!r}")


def run_template(
    compiled: jinja2.Template,
    variables: Mapping[str, Any],
    *,
    compat: str,
    time_limit: float = DEFAULT_TIME_LIMIT,
    max_chars: int = DEFAULT_MAX_CHARS,
    now: datetime | None = None,
) -> tuple[str, list[tuple[int, int]]]:
    """Render within the bounds; return the text and the ``{% generation %}`` spans.

    The template's own refusals (``raise_exception``) and its runtime errors propagate as they
    are; Python internals and runaways raise TemplateError.
    """
    blocks: list[str] = []
    spans: list[tuple[int, int]] = []
    budget = _Budget(time.monotonic() + time_limit, max_chars, time_limit)
    tokens = (_BUDGET.set(budget), _TRACKING.set((blocks, spans)), _NOW.set(now))
    size = 0
    try:
        for chunk in compiled.generate(**variables):
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
