"""The column layout dialogkit publishes: canonical records <-> rows with explicit Features.

Every record kind gets explicit :class:`datasets.Features` (:func:`features_for`): messages are a
list of ``{role, content, name, tool_calls, tool_call_id, weight, reasoning}`` structs, tool calls
keep the OpenAI shape ``{id, type, function: {name, arguments}}`` with ``arguments`` as the JSON
text it came as, and the free-form parts (``tools``, ``metadata``) are ``datasets.Json()`` values
(JSON text on ``datasets`` releases without ``Json``). :func:`row_to_record` reads such a row back
(from ``datasets``, Parquet or JSON); the readers of containers and formats use it, the
``datasets`` bridge (:mod:`dialogkit.hf`) writes with :func:`record_to_row`. ``datasets`` is
imported inside the functions only.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from typing import Any

import orjson

from dialogkit.errors import MissingDependencyError, UsageError
from dialogkit.models import KINDS, MODELS
from dialogkit.registry import build

__all__ = [
    "columns",
    "datasets_module",
    "features_for",
    "json_value",
    "raw_rows",
    "record_to_row",
    "row_to_record",
]

# message-list fields of each kind; every other field is a scalar or handled by name
_MESSAGE_LISTS = {
    "conversation": ("messages",),
    "trainer_dialogue": ("messages",),
    "comparison": ("context",),
    "preference": ("prompt", "chosen", "rejected"),
    "unpaired": ("prompt", "completion"),
    "prompt": ("prompt",),
    "demo": (),
}
_BATCH = 1000


def datasets_module() -> Any:
    """The ``datasets`` module, or a MissingDependencyError with the pip line."""
    try:
        import datasets
    except ImportError as exc:  # pragma: no cover - datasets is a dependency
        raise MissingDependencyError("datasets", "Hugging Face datasets support") from exc
    return datasets


def _json_feature() -> Any:
    ds = datasets_module()
    return ds.Json() if hasattr(ds, "Json") else ds.Value("string")


def _list(inner: Any) -> Any:
    ds = datasets_module()
    return ds.List(inner) if hasattr(ds, "List") else [inner]


def _message_feature(trainer: bool) -> dict[str, Any]:
    ds = datasets_module()
    s = ds.Value("string")
    fields: dict[str, Any] = {
        "role": s,
        "content": s,
        "name": s,
        "tool_calls": _list(
            {"id": s, "type": s, "function": {"name": s, "arguments": s}}
        ),
        "tool_call_id": s,
        "weight": ds.Value("int64"),
        "reasoning": s,
    }
    if trainer:
        fields["author"] = s
    return fields


def features_for(kind: str) -> Any:
    """The explicit ``datasets.Features`` of one record kind (columns in a fixed order)."""
    if kind not in KINDS:
        raise UsageError(f"unknown record kind {kind!r}; known kinds: {', '.join(KINDS)}")
    ds = datasets_module()
    s = ds.Value("string")
    msgs = _list(_message_feature(kind == "trainer_dialogue"))
    cols: dict[str, Any] = {"kind": s, "id": s}
    if kind == "conversation":
        cols |= {"messages": msgs, "tools": _list(_json_feature())}
    elif kind == "trainer_dialogue":
        cols |= {"messages": msgs, "trainer_id": s, "tools": _list(_json_feature())}
    elif kind == "demo":
        cols |= {"prompt": s, "input": s, "response": s, "system": s, "category": s, "labeler": s}
    elif kind == "comparison":
        cand = {"messages": msgs, "model": s, "score": ds.Value("float64")}
        cols |= {"context": msgs, "candidates": _list(cand),
                 "ranking": _list(ds.Value("int64")), "labeler": s}
    elif kind == "preference":
        cols |= {"prompt": msgs, "chosen": msgs, "rejected": msgs,
                 "margin": ds.Value("float64"), "group_id": s}
    elif kind == "unpaired":
        cols |= {"prompt": msgs, "completion": msgs, "label": ds.Value("bool")}
    elif kind == "prompt":
        cols |= {"prompt": msgs, "reference": s, "grading": _json_feature(), "task": s}
    cols |= {
        "metadata": _json_feature(),
        "source": {"file": s, "line": ds.Value("int64"), "format": s},
    }
    return ds.Features(cols)


def _jtext(value: Any) -> str:
    return orjson.dumps(value).decode()


def _msg_row(m: dict[str, Any]) -> dict[str, Any]:
    out = dict(m)
    calls = out.get("tool_calls")
    if calls is not None:
        out["tool_calls"] = [
            {"id": c.get("id"), "type": c.get("type", "function"),
             "function": {"name": c["name"], "arguments": c["arguments"]}}
            for c in calls
        ]
    return out


def record_to_row(record: Any) -> dict[str, Any]:
    """One record as a row of :func:`features_for` its kind (JSON parts as JSON text)."""
    data = record.model_dump(mode="json")
    kind = data["kind"]
    for name in _MESSAGE_LISTS[kind]:
        data[name] = [_msg_row(m) for m in data[name]]
    if kind == "comparison":
        data["candidates"] = [
            {**c, "messages": [_msg_row(m) for m in c["messages"]]} for c in data["candidates"]
        ]
    if "tools" in data and data["tools"] is not None:
        data["tools"] = [_jtext(t) for t in data["tools"]]
    if data.get("grading") is not None:
        data["grading"] = _jtext(data["grading"])
    data["metadata"] = _jtext(data.get("metadata") or {})
    return {name: data.get(name) for name in columns(kind)}


@functools.cache
def columns(kind: str) -> tuple[str, ...]:
    return tuple(features_for(kind))


def json_value(value: Any) -> Any:
    if isinstance(value, (str, bytes)):
        return orjson.loads(value)
    return value


def _msg_back(m: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in m.items() if v is not None}
    calls = out.get("tool_calls")
    if calls is not None:
        back = []
        for c in calls:
            fn = c.get("function") or {}
            call = {"id": c.get("id"), "type": c.get("type"), "name": fn.get("name"),
                    "arguments": fn.get("arguments")}
            back.append({k: v for k, v in call.items() if v is not None})
        out["tool_calls"] = back
    return out


def row_to_record(row: Mapping[str, Any]) -> Any:
    """The canonical record of a row written by :func:`record_to_row` (the inverse).

    Columns the kind does not have are kept in ``metadata`` so nothing is lost.
    """
    kind = row.get("kind")
    if kind not in MODELS:
        raise UsageError(
            f"not a dialogkit dataset row: `kind` is {kind!r}; read other datasets with "
            "dialogkit.read('hf:...') or a folder path"
        )
    model = MODELS[kind]
    data: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in row.items():
        if key in model.model_fields:
            if value is not None:
                data[key] = value
        elif value is not None:
            extra[key] = value
    for name in _MESSAGE_LISTS[kind]:
        if name in data:
            data[name] = [_msg_back(m) for m in data[name]]
    if kind == "comparison" and "candidates" in data:
        data["candidates"] = [
            {k: v for k, v in {**c, "messages": [_msg_back(m) for m in c["messages"]]}.items()
             if v is not None}
            for c in data["candidates"]
        ]
    if "tools" in data:
        data["tools"] = [json_value(t) for t in data["tools"]]
    if "grading" in data:
        data["grading"] = json_value(data["grading"])
    meta = json_value(data.get("metadata")) if "metadata" in data else {}
    if extra:
        meta = {**(meta or {}), **extra}
    data["metadata"] = meta or {}
    if "source" in data:
        data["source"] = {k: v for k, v in data["source"].items() if v is not None}
    return build(model, data)


def _no_decode(features: Any) -> Any:
    """The same features with every ``Json`` left undecoded (raw JSON text, parsed by us)."""
    ds = datasets_module()
    if not hasattr(ds, "Json"):
        return features

    def walk(f: Any) -> Any:
        if isinstance(f, ds.Json):
            return ds.Json(decode=False)
        if isinstance(f, dict):
            return {k: walk(v) for k, v in f.items()}
        if isinstance(f, list):
            return [walk(v) for v in f]
        if hasattr(ds, "List") and isinstance(f, ds.List):
            return ds.List(walk(f.feature), length=f.length)
        return f

    return ds.Features({k: walk(v) for k, v in features.items()})


def raw_rows(dataset: Any) -> Iterator[dict[str, Any]]:
    """Rows of a Dataset or IterableDataset with JSON values as their stored text."""
    ds = datasets_module()
    if isinstance(dataset, (ds.DatasetDict, ds.IterableDatasetDict)):
        raise UsageError(
            "from_dataset takes one split; for a DatasetDict use "
            "{split: list(from_dataset(d)) for split, d in dd.items()}"
        )
    if isinstance(dataset, ds.Dataset):
        for batch in dataset.with_format("arrow").iter(batch_size=_BATCH):
            yield from batch.to_pylist()
        return
    features = getattr(dataset, "features", None)
    if features is not None:
        dataset = dataset.cast(_no_decode(features))
    yield from dataset
