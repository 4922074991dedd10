"""Helpers shared by the format modules: typed field access with exact errors, roles, extras.

Errors follow one template: ``Expected `str`, got `int` - at $.output``. Paths are JSON paths
into the *source* row, so a user can find the field in their own file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from dialogkit.errors import RecordError
from dialogkit.registry import Options

_JSON_TYPES = {
    str: "str",
    int: "int",
    float: "float",
    bool: "bool",
    list: "array",
    dict: "object",
    type(None): "null",
}


def type_name(value: Any) -> str:
    """The JSON-ish name of a value's type, as error messages print it."""
    return _JSON_TYPES.get(type(value), type(value).__name__)


def expect_object(data: Any, loc: str = "$") -> dict[str, Any]:
    """``data`` itself must be a JSON object."""
    if not isinstance(data, dict):
        raise RecordError(
            f"Expected `object`, got `{type_name(data)}`", loc=loc, rule="expected object"
        )
    return data


def field(
    data: Mapping[str, Any],
    key: str,
    expected: type | tuple[type, ...],
    loc: str = "$",
    *,
    required: bool = True,
    nullable: bool = False,
) -> Any:
    """``data[key]`` checked against ``expected``; missing and null are errors unless allowed."""
    if key not in data or data[key] is None:
        if key in data and nullable:
            return None
        if not required:
            return None
        raise RecordError(
            f"missing required field `{key}`", loc=f"{loc}.{key}", rule=f"missing {key}"
        )
    value = data[key]
    if not isinstance(value, expected) or (
        isinstance(value, bool) and bool not in _as_tuple(expected)
    ):
        names = " or ".join(f"`{_JSON_TYPES.get(t, t.__name__)}`" for t in _as_tuple(expected))
        raise RecordError(
            f"Expected {names}, got `{type_name(value)}`",
            loc=f"{loc}.{key}",
            rule=f"wrong type {key}",
        )
    return value


def _as_tuple(t: type | tuple[type, ...]) -> tuple[type, ...]:
    return t if isinstance(t, tuple) else (t,)


def leftovers(data: Mapping[str, Any], known: Iterable[str]) -> dict[str, Any]:
    """Fields of a source row that no model field took: they go to ``metadata``."""
    known_set = known if isinstance(known, (set, frozenset)) else set(known)
    return {k: v for k, v in data.items() if k not in known_set}


def resolve_role(raw: Any, aliases: Mapping[str, str], opts: Options, loc: str) -> str | None:
    """Map a source role to a canonical one; ``None`` means drop the turn (``drop`` policy)."""
    if not isinstance(raw, str):
        raise RecordError(f"Expected `str`, got `{type_name(raw)}`", loc=loc, rule="role type")
    role = aliases.get(raw)
    if role is not None:
        return role
    if raw in opts.role_map:
        return opts.role_map[raw]
    if opts.unknown_role == "drop":
        return None
    known = ", ".join(repr(k) for k in aliases)
    raise RecordError(f"Expected one of {known}, got {raw!r}", loc=loc, rule="unknown role")
