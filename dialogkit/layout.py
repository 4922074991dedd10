"""The column layout dialogkit publishes: output rows of any format -> Arrow schema and Features.

:class:`Layout` computes the columns from the rows themselves (what ``convert --to FORMAT``
writes): a struct holds only the keys some row uses (a text-only chat's messages are
``{role, content}``), a value without one fixed type (free ``metadata``, ``tools`` schemas, tool
``arguments`` objects, a column whose type differs across rows) is stored as JSON text in a
string column, and the features are written in the plain form every supported ``datasets``
release reads (no ``Json``/``List`` feature types, which 3.x cannot parse). Media parts become
``Image``/``Audio`` features with the bytes embedded.

The older fixed layout of canonical records (:func:`features_for`, :func:`record_to_row`) is kept
for :func:`dialogkit.hf.to_iterable_dataset`, which must fix its features before seeing a row;
:func:`row_to_record` reads either back. ``datasets`` is imported inside the functions only.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import orjson

from dialogkit.errors import MissingDependencyError, UsageError
from dialogkit.models import KINDS, MODELS
from dialogkit.registry import build

__all__ = [
    "FREE_KEYS",
    "Layout",
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
            fn = c.get("function") or c  # the OpenAI shape, or canonical's flat one
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
        tools = json_value(data["tools"])  # one JSON text, or a list of them (older layout)
        data["tools"] = [json_value(t) for t in tools]
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


# ---------------------------------------------------------------------------------------------
# columns computed from the rows


# keys whose values have no fixed type: stored as JSON text unless every value is a string
FREE_KEYS = frozenset({"metadata", "tools", "arguments", "parameters", "chat_template_kwargs"})
# top-level columns of media references (TRL's and LLaMA-Factory's layouts): the files' bytes are
# embedded as datasets.Image()/Audio(); videos stay the paths or URLs they are
MEDIA_COLUMNS = {"images": "image", "image": "image", "audios": "audio", "audio": "audio"}
_INT64 = 1 << 63


class _Node:
    """What one position of the rows holds, learnt from every value seen there.

    ``t`` is None (only nulls so far), ``bool``, ``int``, ``float``, ``str``, ``list``,
    ``struct`` or ``json`` (JSON text: a free key, or values of different types).
    """

    __slots__ = ("dicts", "fields", "free", "item", "media", "parts", "present", "promoted",
                 "root", "t")

    def __init__(self, free: bool = False, parts: bool = False, media: str | None = None,
                 root: bool = False) -> None:
        self.t: str | None = None
        self.root = root
        self.free = free
        self.parts = parts  # a message `content`: a string or a list of parts
        self.promoted = False  # strings stored as one text part (other rows have parts)
        self.media = media  # "image"/"audio": references whose bytes are embedded
        self.item: _Node | None = None
        self.fields: dict[str, _Node] = {}
        self.present: dict[str, int] = {}
        self.dicts = 0

    def see(self, value: Any) -> None:
        """Widen the node to hold ``value`` too."""
        if value is None or self.t == "json":
            return
        tp = type(value)
        if tp is str:
            k = "str"
        elif tp is bool:
            k = "bool"
        elif tp is int:
            k = "int" if -_INT64 <= value < _INT64 else "json"
        elif tp is float:
            k = "float"
        elif tp is list or tp is tuple:
            k = "list"
        elif tp is dict:
            k = "struct"
        else:
            k = "json"
        if self.free and k != "str":
            k = "json"
        if self.media is not None:
            if k == "str" and self.t in (None, "media"):
                self.t = "media"
                return
            if k == "list" and self.t in (None, "list"):
                if self.item is None:
                    self.item = _Node(media=self.media)
                self.t = "list"
                for v in value:
                    self.item.see(v)
                return
            self.media = None
            k = "json"
        if self.parts and {self.t, k} == {"str", "list"}:
            if self.t == "str":  # earlier strings become one text part each
                self.t = "list"
                self.item = _Node()
                self.item.see({"type": "text", "text": ""})
            self.promoted = True
            if k == "str":
                self.item.see({"type": "text", "text": value})  # type: ignore[union-attr]
                return
        if self.t is None:
            self.t = k
        elif self.t != k:
            if {self.t, k} == {"int", "float"}:
                self.t = "float"
                return
            k = "json"
            self.t = "json"
        if k == "json":
            self.item = None
            self.fields = {}
            return
        if k == "list":
            item = self.item
            if item is None:
                item = self.item = _Node()
            for v in value:
                item.see(v)
        elif k == "struct":
            self.dicts += 1
            fields = self.fields
            present = self.present
            for key, v in value.items():
                child = fields.get(key)
                if child is None:
                    child = fields[key] = _Node(free=key in FREE_KEYS, parts=key == "content",
                                                media=MEDIA_COLUMNS.get(key) if self.root else None)
                    present[key] = 0
                present[key] += 1
                child.see(v)

    def settle(self) -> None:
        """Final types: a struct that never had a key (Parquet has no empty struct) is JSON."""
        if self.t == "struct" and not self.fields:
            self.t = "json"
        for child in self.fields.values():
            child.settle()
        if self.item is not None:
            self.item.settle()


class Layout:
    """The columns of a set of output rows: learn them (:meth:`add`), then encode and write.

    Example:
        >>> lay = Layout()
        >>> lay.add({"messages": [{"role": "user", "content": "Hi"}], "metadata": {"k": 1}})
        >>> lay.feature_dict()["messages"], lay.json_columns()
        ([{'role': {'dtype': 'string', '_type': 'Value'}, \
'content': {'dtype': 'string', '_type': 'Value'}}], ['metadata'])
    """

    def __init__(self) -> None:
        self.root = _Node(root=True)
        self.rows = 0
        self._settled = False

    def add(self, row: Mapping[str, Any]) -> None:
        """Learn one output row (a JSON object)."""
        if not isinstance(row, dict):
            raise UsageError(f"a published row must be a JSON object, got {type(row).__name__}")
        self.rows += 1
        self.root.see(row)

    def _root(self) -> _Node:
        if not self._settled:
            self.root.settle()
            if self.root.t is None:
                self.root.t = "struct"
            self._settled = True
        return self.root

    @property
    def columns(self) -> list[str]:
        """Column names in first-seen order."""
        return list(self._root().fields)

    def arrow_schema(self) -> Any:
        """The ``pyarrow`` schema, with the features in the ``huggingface`` metadata key."""
        import pyarrow as pa

        root = self._root()
        schema = pa.schema([(k, _arrow(n)) for k, n in root.fields.items()])
        meta = orjson.dumps({"info": {"features": self.feature_dict()}})
        return schema.with_metadata({b"huggingface": meta})

    def feature_dict(self) -> dict[str, Any]:
        """The ``datasets`` features in the plain dict form every release reads (lists as
        Python lists, ``Value`` dtypes), as ``Features.to_dict`` of ``datasets`` 3.x writes."""
        return {k: _feature(n) for k, n in self._root().fields.items()}

    def features(self) -> Any:
        """The ``datasets.Features`` of the installed ``datasets``."""
        return datasets_module().Features.from_dict(self.feature_dict())

    def json_columns(self) -> list[str]:
        """Where values are JSON text, as paths (``messages[].tool_calls[].function.arguments``)."""
        out: list[str] = []
        _walk(self._root(), "", out, lambda n: n.t == "json")
        return out

    def nullable_keys(self) -> list[str]:
        """Keys that some rows lack (they load as null there), as paths; top level included."""
        out: list[str] = []

        def walk(node: _Node, path: str) -> None:
            if node.t == "list" and node.item is not None:
                walk(node.item, f"{path}[]")
            elif node.t == "struct":
                for key, child in node.fields.items():
                    sub = f"{path}.{key}" if path else key
                    if node.present[key] < node.dicts:
                        out.append(sub)
                    walk(child, sub)

        walk(self._root(), "")
        return out

    def encoder(self) -> Callable[[dict[str, Any]], dict[str, Any]]:
        """A function turning an output row into a row of :meth:`arrow_schema` (JSON text)."""
        enc = _encoder(self._root())
        return enc if enc is not None else (lambda row: row)

    def table(self, rows: list[dict[str, Any]]) -> Any:
        """A ``pyarrow.Table`` of ``rows`` (already learnt with :meth:`add`)."""
        import pyarrow as pa

        enc = self.encoder()
        schema = self.arrow_schema()
        return pa.Table.from_pylist([enc(r) for r in rows], schema=schema)


def _walk(node: _Node, path: str, out: list[str], pick: Callable[[_Node], bool]) -> None:
    if path and pick(node):
        out.append(path)
    if node.t == "list" and node.item is not None:
        _walk(node.item, f"{path}[]", out, pick)
    elif node.t == "struct":
        for key, child in node.fields.items():
            _walk(child, f"{path}.{key}" if path else key, out, pick)


_ARROW_SCALARS = {"bool": "bool_", "int": "int64", "float": "float64", "str": "string",
                  "json": "string"}
_DTYPES = {None: "null", "bool": "bool", "int": "int64", "float": "float64", "str": "string",
           "json": "string"}


def _arrow(node: _Node) -> Any:
    import pyarrow as pa

    if node.t is None:
        return pa.null()
    if node.t == "media":
        return pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    if node.t == "list":
        return pa.list_(_arrow(node.item) if node.item is not None else pa.null())
    if node.t == "struct":
        return pa.struct([(k, _arrow(c)) for k, c in node.fields.items()])
    return getattr(pa, _ARROW_SCALARS[node.t])()


def _feature(node: _Node) -> Any:
    if node.t == "media":
        return {"_type": "Image" if node.media == "image" else "Audio"}
    if node.t == "list":
        return [_feature(node.item) if node.item is not None else _feature(_Node())]
    if node.t == "struct":
        return {k: _feature(c) for k, c in node.fields.items()}
    return {"dtype": _DTYPES[node.t], "_type": "Value"}


def _embed(ref: Any) -> Any:
    """A media reference as ``datasets``' stored form: a local file's (or a data URL's) bytes;
    other URLs are kept as the path, without bytes (nothing is fetched)."""
    if ref is None:
        return None
    import base64
    import os

    if ref.startswith("data:"):
        head, _, body = ref.partition(",")
        data = base64.b64decode(body) if head.endswith(";base64") else body.encode()
        return {"bytes": data, "path": None}
    if "://" in ref:
        return {"bytes": None, "path": ref}
    path = ref[7:] if ref.startswith("file:") else ref
    try:
        with open(path, "rb") as f:
            return {"bytes": f.read(), "path": os.path.basename(path)}
    except OSError as exc:
        raise UsageError(f"cannot embed media file {path}: {exc.strerror}") from None


def _dump_json(value: Any) -> Any:
    return None if value is None else orjson.dumps(value).decode()


def _encoder(node: _Node) -> Callable[[Any], Any] | None:
    """The value transform of one position, or None where values are stored as they are."""
    if node.t == "json":
        return _dump_json
    if node.t == "media":
        return _embed
    if node.t == "list" and node.item is not None:
        inner = _encoder(node.item)
        if node.promoted:
            each = inner or (lambda x: x)

            def parts(v: Any) -> Any:
                if v is None:
                    return None
                if isinstance(v, str):
                    v = [{"type": "text", "text": v}]
                return [each(x) for x in v]

            return parts
        if inner is None:
            return None
        return lambda v: None if v is None else [inner(x) for x in v]
    if node.t == "struct":
        subs = [(k, e) for k, e in ((k, _encoder(c)) for k, c in node.fields.items())
                if e is not None]
        if not subs:
            return None

        def struct(v: Any) -> Any:
            if v is None:
                return None
            out = dict(v)
            for key, e in subs:
                if key in out:
                    out[key] = e(out[key])
            return out

        return struct
    return None
