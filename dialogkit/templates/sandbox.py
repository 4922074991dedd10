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
import functools
import json
import math
import re
import time
import types
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal

import jinja2
import jinja2.ext
import jinja2.nodes
import jinja2.utils
import jinja2.visitor
from jinja2.compiler import CodeGenerator
from jinja2.sandbox import (
    ImmutableSandboxedEnvironment,
    SandboxedEscapeFormatter,
    SandboxedFormatter,
)
from markupsafe import Markup

from dialogkit.errors import TemplateError, UsageError

__all__ = [
    "COMPATS",
    "DEFAULT_MAX_CHARS",
    "DEFAULT_MAX_TEMPLATE_CHARS",
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
# any value a template builds (a string, list, join, padding, JSON text): a few times the output
# cap, so that a real template never meets it and a runaway stops before it costs memory
DEFAULT_MAX_TEMPLATE_CHARS = 4 * DEFAULT_MAX_CHARS
_GENERATION_RE = re.compile(r"\{\%-?\s*generation\s*-?\%\}")


def has_generation_tags(template: str) -> bool:
    """Whether a template marks assistant output with ``{% generation %}`` (transformers' regex)."""
    return _GENERATION_RE.search(template) is not None


# ---------------------------------------------------------------------------------------------
# the bounds of one render


@dataclass
class _Budget:
    """The runaway limits of one render: a deadline, an output size, a size for any value."""

    deadline: float
    max_chars: int
    time_limit: float
    max_template_chars: int = DEFAULT_MAX_TEMPLATE_CHARS

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


def _limit() -> int:
    budget = _BUDGET.get()
    return budget.max_template_chars if budget is not None else DEFAULT_MAX_TEMPLATE_CHARS


def _too_big(size: int, what: str = "a value") -> TemplateError:
    return TemplateError(
        f"chat template ran away: {what} of {size} characters "
        f"(limit {_limit()}, --max-template-chars)"
    )


def _check_size(size: int, what: str = "a value") -> None:
    """A TemplateError when an operation would build more than the limit (checked *before*)."""
    if size > _limit():
        raise _too_big(size, what)


def _checked_value(value: Any) -> Any:
    """A result checked after the fact (str, bytes, list, tuple, dict: by length)."""
    if isinstance(value, (str, bytes, list, tuple, dict)) and len(value) > _limit():
        raise _too_big(len(value))
    return value


class _CheckedIter:
    """An iterator for templates: a deadline check every 256 items, and a fixed repr."""

    __slots__ = ("_it", "_n", "_src")

    def __init__(self, src: Any) -> None:
        self._src = src
        self._it: Iterator[Any] | None = None
        self._n = 0

    def __iter__(self) -> _CheckedIter:
        if self._it is None:
            self._it = iter(self._src)
        return self

    def __next__(self) -> Any:
        if self._it is None:
            self._it = iter(self._src)
        self._n += 1
        if self._n & 255 == 0:
            _check_budget()
        return _fixed(next(self._it))

    def __len__(self) -> int:
        return len(self._src)  # a TypeError for generators, as jinja's LoopContext expects

    def __bool__(self) -> bool:
        return bool(self._src) if hasattr(self._src, "__len__") else True

    def __repr__(self) -> str:
        return "<generator>"

    __str__ = __repr__


def _loop_iter(value: Any) -> Any:
    """What a ``{% for %}`` loop iterates: the value, with a deadline check while it runs."""
    _check_budget()
    if isinstance(value, (jinja2.Undefined, _CheckedRange)):
        return value
    return _CheckedIter(value)


class _CheckedRange:
    """``range()`` for templates: the sandbox's size cap, plus a deadline check while iterating."""

    __slots__ = ("_r",)

    def __init__(self, r: range) -> None:
        self._r = r

    def __iter__(self) -> Iterator[int]:
        _check_budget()
        for i, v in enumerate(self._r):
            if i & 255 == 255:
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


# ---------------------------------------------------------------------------------------------
# fixed names: a template never sees a repr with a heap address


class _Named:
    """A callable handed to a template (a global, a bound method), shown by a fixed name.

    Its default repr would show a heap address (``<function generate_lorem_ipsum at 0x7f...>``),
    which leaks a detail of the process and makes renderings differ per run. No attribute of the
    wrapped object is reachable; the sandbox unwraps it before calling.
    """

    __slots__ = ("_obj", "_name")

    def __init__(self, obj: Any, name: str) -> None:
        self._obj = obj
        self._name = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._obj(*args, **kwargs)

    def __repr__(self) -> str:
        return self._name

    __str__ = __repr__


_CALLABLE_TYPES = (
    types.FunctionType, types.BuiltinFunctionType, types.MethodType, types.MethodWrapperType,
    types.WrapperDescriptorType, types.MethodDescriptorType, types.ClassMethodDescriptorType,
    functools.partial,
)
_DATA_TYPES = frozenset({str, int, float, bool, type(None), list, tuple, dict, bytes})


def _fixed(value: Any) -> Any:
    """``value``, or a fixed-name stand-in when its repr would show an address."""
    if type(value) in _DATA_TYPES:
        return value
    if isinstance(value, _CALLABLE_TYPES):
        name = getattr(value, "__qualname__", None) or type(value).__name__
        return _Named(value, f"<method {name}>")
    if isinstance(value, types.GeneratorType) or (
        type(value).__repr__ is object.__repr__ and hasattr(value, "__next__")
    ):
        return _CheckedIter(value)
    if type(value).__repr__ is object.__repr__ and callable(value):
        return _Named(value, f"<{type(value).__name__}>")
    return value


def _unwrap(obj: Any) -> Any:
    return obj._obj if type(obj) is _Named else obj


class _Cycler(jinja2.utils.Cycler):
    def __repr__(self) -> str:
        return "<cycler>"


class _Joiner(jinja2.utils.Joiner):
    def __repr__(self) -> str:
        return "<joiner>"


# ---------------------------------------------------------------------------------------------
# sizes predicted before an operation builds its value

_DIGITS = re.compile(r"\d+")
_PRINTF_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?([a-zA-Z%])")


def _check_printf(fmt: str | bytes, args: Any) -> None:
    """``fmt % args``: no width or precision above the limit (``'%2000000000d' % 1``)."""
    text = fmt.decode("latin-1") if isinstance(fmt, bytes) else fmt
    limit = _limit()
    star = False
    for m in _PRINTF_SPEC.finditer(text):
        for part in (m.group(1), m.group(2)):
            if part == "*":
                star = True
            elif part is not None and int(part) > limit:
                raise _too_big(int(part), "a formatted field")
    if star:
        values = args if isinstance(args, tuple) else (args,)
        for v in values:
            if isinstance(v, int) and abs(v) > limit:
                raise _too_big(abs(v), "a formatted field")


def _check_spec(spec: str) -> None:
    """A ``format()`` spec: no width or precision above the limit (``'{:>2000000000}'``)."""
    for m in _DIGITS.finditer(spec):
        if len(m.group()) > 12 or int(m.group()) > _limit():
            raise _too_big(int(m.group()), "a formatted field")


def _text_len(value: Any) -> int:
    return len(value) if isinstance(value, (str, bytes)) else 0


def _check_join(sep: Any, items: list[Any]) -> None:
    size = max(len(items) - 1, 0) * _text_len(sep) + sum(_text_len(x) for x in items)
    _check_size(size, "a join")


def _check_replace(s: Any, old: Any, new: Any, count: Any = -1) -> None:
    if not isinstance(s, (str, bytes)) or not isinstance(old, type(s)):
        return
    n = len(s) + 1 if not old else s.count(old)  # type: ignore[arg-type]
    if isinstance(count, int) and count >= 0:
        n = min(n, count)
    _check_size(len(s) + n * (_text_len(new) - len(old)), "a replace")


def _check_width(s: Any, width: Any, *rest: Any) -> None:
    if isinstance(width, int):
        _check_size(max(width, _text_len(s)), "a padded value")


def _check_expandtabs(s: Any, tabsize: Any = 8) -> None:
    if isinstance(s, (str, bytes)) and isinstance(tabsize, int):
        tab = "\t" if isinstance(s, str) else b"\t"
        _check_size(len(s) + s.count(tab) * max(tabsize, 0), "an expandtabs")  # type: ignore[arg-type]


def _check_translate(s: Any, table: Any) -> None:
    if isinstance(s, str) and isinstance(table, Mapping):
        widest = max((_text_len(v) for v in table.values()), default=1)
        _check_size(len(s) * widest, "a translate")


def _check_to_bytes(n: Any, length: Any = 1, *rest: Any) -> None:
    if isinstance(length, int):
        _check_size(length, "a to_bytes")


# method name -> check(self, *args) for str and bytes methods that can build large values
_METHOD_CHECKS: dict[str, Callable[..., None]] = {
    "center": _check_width, "ljust": _check_width, "rjust": _check_width, "zfill": _check_width,
    "expandtabs": _check_expandtabs, "replace": _check_replace, "translate": _check_translate,
}


def _check_method_call(obj: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
    """Checks a call of a str/bytes/int method before it runs; returns the (materialized) args."""
    owner = getattr(obj, "__self__", None)
    name = getattr(obj, "__name__", "")
    if isinstance(owner, (str, bytes)):
        if name == "join" and args:
            items = list(args[0])
            _check_join(owner, items)
            return (items, *args[1:])
        check = _METHOD_CHECKS.get(name)
        if check is not None:
            check(owner, *args, *kwargs.values())
    elif isinstance(owner, int) and name == "to_bytes":
        _check_to_bytes(owner, *args, *kwargs.values())
    return args


class _BoundedFormatter(SandboxedFormatter):
    """``str.format`` for templates: each field's spec and the running total are bounded."""

    def __init__(self, env: Any, **kwargs: Any) -> None:
        super().__init__(env, **kwargs)
        self._size = 0

    def format_field(self, value: Any, format_spec: str) -> Any:
        _check_spec(format_spec)
        rv = super().format_field(_fixed(value), format_spec)
        self._size += len(rv)
        _check_size(self._size, "a formatted value")
        return rv


class _BoundedEscapeFormatter(_BoundedFormatter, SandboxedEscapeFormatter):
    pass


# ---------------------------------------------------------------------------------------------
# filters: every one is bounded; those that can grow a value are checked before they run


def _f_center(value: Any, width: Any = 80, **kwargs: Any) -> None:
    _check_width(str(value), width)


def _f_indent(s: Any, width: Any = 4, *rest: Any, **kwargs: Any) -> None:
    text = str(s)
    w = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    _check_size(len(text) + (text.count("\n") + 1) * max(w, 0), "an indent")


def _f_wordwrap(s: Any, width: Any = 79, break_long_words: Any = True,
                wrapstring: Any = None, *rest: Any, **kwargs: Any) -> None:
    text = str(s)
    if isinstance(width, int) and width > 0 and isinstance(wrapstring, str):
        lines = len(text) // width + text.count("\n") + 1
        _check_size(len(text) + lines * len(wrapstring), "a wordwrap")


def _f_format(value: Any, *args: Any, **kwargs: Any) -> None:
    _check_printf(str(value), kwargs or args)


def _f_replace(s: Any, old: Any = "", new: Any = "", count: Any = None, **kwargs: Any) -> None:
    _check_replace(str(s), str(old), str(new), -1 if count is None else count)


def _f_count(value: Any, n: Any = 1, *rest: Any, **kwargs: Any) -> None:
    if isinstance(n, int):
        _check_size(n, "a batch or slice")


def _f_escape(s: Any, *rest: Any, **kwargs: Any) -> None:
    text = s if isinstance(s, str) else str(s)
    _check_size(len(text) + 4 * sum(text.count(c) for c in "<>&'\""), "an escape")


_FILTER_CHECKS: dict[str, Callable[..., None]] = {
    "center": _f_center, "indent": _f_indent, "wordwrap": _f_wordwrap, "format": _f_format,
    "replace": _f_replace, "batch": _f_count, "slice": _f_count, "escape": _f_escape,
    "e": _f_escape, "forceescape": _f_escape,
}


def _bounded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` with a deadline check, its pre-check, a size check of its result, fixed names."""
    skip = 1 if jinja2.utils._PassArg.from_obj(func) is not None else 0
    check = _FILTER_CHECKS.get(name)

    @functools.wraps(func)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        if _BUDGET.get() is None:  # at compile time: no constant folding outside the bounds
            raise jinja2.nodes.Impossible()
        _check_budget()
        if name == "join" and len(args) > skip:
            items = list(args[skip])
            sep = args[skip + 1] if len(args) > skip + 1 else kwargs.get("d", "")
            if kwargs.get("attribute") is None and len(args) <= skip + 2:
                _check_join(str(sep), [str(x) for x in items])
            else:
                _check_size(max(len(items) - 1, 0) * len(str(sep)), "a join")
            args = (*args[:skip], items, *args[skip + 1:])
        elif check is not None and len(args) > skip:
            check(*args[skip:], **kwargs)
        return _fixed(_checked_value(func(*args, **kwargs)))

    return bounded


class _SizedWriter:
    """A list of chunks that refuses to grow past the limit (the bounded ``tojson``)."""

    def __init__(self) -> None:
        self.chunks: list[str] = []
        self.size = 0

    def add(self, chunk: str) -> None:
        self.size += len(chunk)
        if len(self.chunks) & 255 == 255:
            _check_budget()
        _check_size(self.size, "a tojson")
        self.chunks.append(chunk)


def _tojson(
    x: Any,
    ensure_ascii: bool = False,
    indent: int | None = None,
    separators: Any = None,
    sort_keys: bool = False,
) -> str:
    """transformers' ``tojson`` (plain ``json.dumps``), built chunk by chunk within the bounds."""
    if isinstance(indent, int):
        _check_size(indent, "a tojson indent")
    elif isinstance(indent, str):
        _check_size(len(indent), "a tojson indent")
    encoder = json.JSONEncoder(
        ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
    )
    out = _SizedWriter()
    # the pure-Python encoder yields as it goes (the C one builds the whole text first); both
    # give the same text
    iterencode = json.encoder._make_iterencode(  # type: ignore[attr-defined]
        {}, encoder.default,
        json.encoder.py_encode_basestring_ascii if ensure_ascii  # type: ignore[attr-defined]
        else json.encoder.py_encode_basestring,  # type: ignore[attr-defined]
        encoder.indent, float.__repr__, encoder.key_separator, encoder.item_separator,
        sort_keys, encoder.skipkeys, True,
    )
    for chunk in iterencode(x, 0):
        out.add(chunk)
    return "".join(out.chunks)


# ---------------------------------------------------------------------------------------------
# the Jinja environment


class _LoopChecks(jinja2.visitor.NodeTransformer):
    """Wraps every ``{% for %}`` iterable so that a loop checks the deadline while it runs."""

    def visit_For(self, node: jinja2.nodes.For) -> jinja2.nodes.Node:
        self.generic_visit(node)
        node.iter = jinja2.nodes.Filter(
            node.iter, _LOOP_FILTER, [], [], None, None, lineno=node.lineno
        )
        return node


_LOOP_FILTER = "dialogkit_loop"


class _CodeGenerator(CodeGenerator):
    """Jinja's code generator, with ``~`` sized before it joins."""

    def visit_Concat(self, node: jinja2.nodes.Concat, frame: Any) -> None:
        self.write("environment.dialogkit_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _Env(ImmutableSandboxedEnvironment):
    """transformers' environment, plus runaway checks on loops, calls, attributes, operators,
    filters and ``~``, and fixed names for every object that is not plain data."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})
    code_generator_class = _CodeGenerator

    def _parse(self, source: str, name: str | None, filename: str | None) -> jinja2.nodes.Template:
        tree = super()._parse(source, name, filename)
        return _LoopChecks().visit(tree)  # type: ignore[no-any-return]

    def dialogkit_concat(self, values: tuple[Any, ...]) -> str:
        _check_budget()
        parts = [str(v) for v in values]
        _check_size(sum(map(len, parts)), "a ~ concatenation")
        return "".join(parts)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        _check_budget()
        obj = _unwrap(__obj)
        args = _check_method_call(obj, args, kwargs)
        rv = super().call(__context, obj, *args, **kwargs)
        return _fixed(_checked_value(rv))

    def getattr(self, obj: Any, attribute: str) -> Any:
        _check_budget()
        return _fixed(super().getattr(obj, attribute))

    def getitem(self, obj: Any, argument: Any) -> Any:
        _check_budget()
        return _fixed(super().getitem(obj, argument))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """``str.format`` / ``format_map`` (jinja's sandboxed version) with bounded fields."""
        if not isinstance(value, (types.MethodType, types.BuiltinMethodType)) or (
            value.__name__ not in ("format", "format_map")
        ):
            return None
        f_self = value.__self__
        if not isinstance(f_self, str):
            return None
        str_type = type(f_self)
        is_format_map = value.__name__ == "format_map"
        env = self

        def wrapper(*args: Any, **kwargs: Any) -> str:
            formatter: _BoundedFormatter
            if isinstance(f_self, Markup):
                formatter = _BoundedEscapeFormatter(env, escape=f_self.escape)
            else:
                formatter = _BoundedFormatter(env)
            if is_format_map:
                if kwargs:
                    raise TypeError("format_map() takes no keyword arguments")
                if len(args) != 1:
                    raise TypeError(
                        f"format_map() takes exactly one argument ({len(args)} given)"
                    )
                kwargs = args[0]
                args = ()
            return str_type(formatter.vformat(f_self, args, kwargs))

        return functools.update_wrapper(wrapper, value)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        # transformers renders an unsafe attribute as '' (and fails only on use); a template that
        # reaches for Python internals is hostile or broken, so stop it at once
        raise TemplateError(
            f"chat template reached for Python internals: access to attribute {attribute!r} "
            f"of {type(obj).__name__!r} object is unsafe"
        )

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _check_budget()
        limit = _limit()
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if (
                    isinstance(seq, (str, bytes, list, tuple))
                    and isinstance(n, int)
                    and not isinstance(n, bool)
                    and len(seq) * n > limit
                ):
                    raise TemplateError(
                        f"chat template ran away: a repetition would build {len(seq) * n} items "
                        f"(limit {limit})"
                    )
            if (
                isinstance(left, int)
                and isinstance(right, int)
                and left.bit_length() + right.bit_length() > 65536
            ):
                raise TemplateError("chat template ran away: a product too large to compute")
        elif operator == "**":
            if (
                isinstance(left, (int, float))
                and isinstance(right, int)
                and abs(left) > 1
                and right * math.log2(abs(left)) > 4096
            ):
                raise TemplateError("chat template ran away: a power too large to compute")
        elif operator == "+":
            if (
                isinstance(left, (str, bytes, list, tuple))
                and isinstance(right, type(left))
                and len(left) + len(right) > limit
            ):
                raise _too_big(len(left) + len(right))
        elif operator == "%" and isinstance(left, (str, bytes)):
            if isinstance(right, tuple):
                right = tuple(_fixed(v) for v in right)
            _check_printf(left, right)
        return _checked_value(super().call_binop(context, operator, left, right))


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


def _strftime_now(fmt: str) -> str:
    now = _NOW.get()
    return (now or datetime.now()).strftime(fmt)


class _TemplateDict:
    """transformers v5's ``dict`` global: callable and ``fromkeys``, nothing else to reach into."""

    def __repr__(self) -> str:
        return "<class 'dict'>"

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


def _lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:  # noqa: A002
    """Jinja's ``lipsum``, its size checked first (``n`` paragraphs of up to ``max`` words)."""
    if isinstance(n, int) and isinstance(max, int):
        _check_size(n * max * 12, "a lipsum")
    return str(jinja2.utils.generate_lorem_ipsum(n=n, html=html, min=min, max=max))


@lru_cache(maxsize=2)
def _environment(compat: str) -> _Env:
    env = _Env(
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=[_GenerationTracker, jinja2.ext.loopcontrols],
    )
    env.dialogkit_compat = compat  # type: ignore[attr-defined]
    env.filters["tojson"] = _tojson
    env.filters = {name: _bounded_filter(name, f) for name, f in env.filters.items()}
    env.filters[_LOOP_FILTER] = _loop_iter
    env.globals["raise_exception"] = _Named(_raise_exception, "<function raise_exception>")
    env.globals["strftime_now"] = _Named(_strftime_now, "<function strftime_now>")
    env.globals["range"] = _Named(_checked_range, "<function range>")
    env.globals["lipsum"] = _Named(_lipsum, "<function lipsum>")
    env.globals["cycler"] = _Named(_Cycler, "<class cycler>")
    env.globals["joiner"] = _Named(_Joiner, "<class joiner>")
    env.globals["namespace"] = _Named(jinja2.utils.Namespace, "<class namespace>")
    if compat == "v5":
        env.globals["dict"] = _TemplateDict()
        env.globals["namespace"] = _Named(_TemplateNamespace, "<class namespace>")
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
    max_template_chars: int = DEFAULT_MAX_TEMPLATE_CHARS,
    now: datetime | None = None,
    deadline: float | None = None,
) -> tuple[str, list[tuple[int, int]]]:
    """Render within the bounds; return the text and the ``{% generation %}`` spans.

    The deadline is ``time_limit`` from now unless given (one deadline for several renders of a
    record). The template's own refusals (``raise_exception``) and its runtime errors propagate
    as they are; Python internals and runaways raise TemplateError.
    """
    blocks: list[str] = []
    spans: list[tuple[int, int]] = []
    budget = _Budget(
        time.monotonic() + time_limit if deadline is None else deadline,
        max_chars, time_limit, max_template_chars,
    )
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
        return "".join(blocks), spans
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
