"""Canonical records <-> Hugging Face ``datasets`` objects, and reading rows from datasets.

Every record kind gets explicit :class:`datasets.Features` (:func:`features_for`): messages are a
list of ``{role, content, name, tool_calls, tool_call_id, weight, reasoning}`` structs, tool calls
keep the OpenAI shape ``{id, type, function: {name, arguments}}`` with ``arguments`` as the JSON
text it came as, and the free-form parts (``tools``, ``metadata``) are ``datasets.Json()`` values
(JSON text on ``datasets`` releases without ``Json``), so files whose tool schemas differ always
merge. A ``kind`` column names the record kind; a ``source`` struct keeps provenance.

``from_dataset`` reads the Arrow storage directly (JSON text parsed with orjson), because the
``Json`` feature's own decoder rounds floats; so ``from_dataset(to_dataset(records))`` gives back
records equal to the input. ``datasets`` is imported inside the functions only, so ``import
dialogkit`` stays light.
"""

from __future__ import annotations

import functools
import itertools
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson

from dialogkit.errors import DialogkitError, MissingDependencyError, UsageError
from dialogkit.models import KINDS, MODELS
from dialogkit.registry import build

__all__ = [
    "HubError",
    "features_for",
    "from_dataset",
    "iter_hf_rows",
    "record_to_row",
    "row_to_record",
    "to_dataset",
    "to_iterable_dataset",
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


class HubError(DialogkitError):
    """A Hub or ``datasets`` operation failed (unreachable, refused, not found); exit code 1."""


def _datasets() -> Any:
    try:
        import datasets
    except ImportError as exc:  # pragma: no cover - datasets is a dependency
        raise MissingDependencyError("datasets", "Hugging Face datasets support") from exc
    return datasets


def _json_feature() -> Any:
    ds = _datasets()
    return ds.Json() if hasattr(ds, "Json") else ds.Value("string")


def _list(inner: Any) -> Any:
    ds = _datasets()
    return ds.List(inner) if hasattr(ds, "List") else [inner]


def _message_feature(trainer: bool) -> dict[str, Any]:
    ds = _datasets()
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
    ds = _datasets()
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
        cols |= {"prompt": msgs}
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
    data["metadata"] = _jtext(data.get("metadata") or {})
    return {name: data.get(name) for name in _columns(kind)}


@functools.cache
def _columns(kind: str) -> tuple[str, ...]:
    return tuple(features_for(kind))


def _json_value(value: Any) -> Any:
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
        data["tools"] = [_json_value(t) for t in data["tools"]]
    meta = _json_value(data.get("metadata")) if "metadata" in data else {}
    if extra:
        meta = {**(meta or {}), **extra}
    data["metadata"] = meta or {}
    if "source" in data:
        data["source"] = {k: v for k, v in data["source"].items() if v is not None}
    return build(model, data)


def _rows_of_one_kind(records: Iterable[Any], kind: str | None) -> tuple[str, list[dict[str, Any]]]:
    rows: list[dict[str, Any]] = []
    kinds: set[str] = set()
    for rec in records:
        kinds.add(rec.kind)
        rows.append(record_to_row(rec))
    if kind is not None:
        kinds.add(kind)
    if len(kinds) > 1:
        raise UsageError(
            f"records of several kinds ({', '.join(sorted(kinds))}) cannot share one dataset's "
            "features; give one kind per dataset (publish makes one config per kind)"
        )
    if not kinds:
        raise UsageError("no records, and no kind= to give the empty dataset its features")
    return kinds.pop(), rows


def to_dataset(
    records: Iterable[Any] | Mapping[str, Iterable[Any]], *, kind: str | None = None
) -> Any:
    """A ``datasets.Dataset`` with explicit Features, or a ``DatasetDict`` for ``{split: records}``.

    All records must be of one kind (``kind=`` gives an empty input its features).

    Example:
        >>> from dialogkit.models import PromptOnly, Message
        >>> ds = to_dataset([PromptOnly(prompt=[Message(role="user", content="Hi")])])
        >>> ds.num_rows, ds.column_names[:3]
        (1, ['kind', 'id', 'prompt'])
    """
    ds = _datasets()
    if isinstance(records, Mapping):
        out = {}
        kinds: set[str] = set()
        for split, recs in records.items():
            out[split] = to_dataset(recs, kind=kind)
            found = out[split][0]["kind"] if out[split].num_rows else kind
            if found is not None:
                kinds.add(str(found))
        if len(kinds) > 1:
            raise UsageError(f"splits hold different kinds ({', '.join(sorted(kinds))})")
        return ds.DatasetDict(out)
    k, rows = _rows_of_one_kind(records, kind)
    features = features_for(k)
    if not rows:
        return ds.Dataset.from_dict({name: [] for name in features}, features=features)
    return ds.Dataset.from_list(rows, features=features)


def to_iterable_dataset(
    records: str | os.PathLike[str] | Callable[[], Iterable[Any]] | Iterable[Any],
    *,
    kind: str | None = None,
    format: str = "auto",
) -> Any:
    """A ``datasets.IterableDataset`` that converts lazily, for inputs larger than memory.

    ``records`` is a file path (read with :func:`dialogkit.read` in ``format``; re-iterable), a
    callable returning an iterable of records (re-iterable), or an iterable (iterated once).
    The kind comes from ``kind=`` or the first record.
    """
    ds = _datasets()
    from dialogkit.api import read

    factory: Callable[[], Iterable[Any]]
    if isinstance(records, (str, os.PathLike)):
        path = records

        def factory() -> Iterable[Any]:
            return read(path, format)
    elif callable(records):
        factory = records
    else:
        it = iter(records)
        first = list(itertools.islice(it, 1))
        if kind is None and first:
            kind = first[0].kind
        once = itertools.chain(first, it)

        def factory() -> Iterable[Any]:
            return once
    if kind is None:
        head = list(itertools.islice(iter(factory()), 1))
        if not head:
            raise UsageError("no records, and no kind= to give the empty dataset its features")
        kind = head[0].kind
    want = kind

    def gen() -> Iterator[dict[str, Any]]:
        for rec in factory():
            if rec.kind != want:
                raise UsageError(
                    f"record of kind {rec.kind!r} in a {want!r} dataset; one kind per dataset"
                )
            yield record_to_row(rec)

    return ds.IterableDataset.from_generator(gen, features=features_for(kind))


def _no_decode(features: Any) -> Any:
    """The same features with every ``Json`` left undecoded (raw JSON text, parsed by us)."""
    ds = _datasets()
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


def _raw_rows(dataset: Any) -> Iterator[dict[str, Any]]:
    """Rows of a Dataset or IterableDataset with JSON values as their stored text."""
    ds = _datasets()
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


def from_dataset(dataset: Any) -> Iterator[Any]:
    """Canonical records from a ``Dataset`` or ``IterableDataset`` made by :func:`to_dataset`."""
    for row in _raw_rows(dataset):
        yield row_to_record(row)


# ---------------------------------------------------------------------------------------------
# reading rows of any dataset (``dialogkit convert hf:owner/name ...`` or a local folder)


def parse_hf_spec(spec: str) -> tuple[str, str | None, str | None]:
    """``hf:OWNER/NAME[:CONFIG][@REVISION]`` -> (repo id, config, revision)."""
    body = spec[3:] if spec.startswith("hf:") else spec
    revision = None
    if "@" in body:
        body, revision = body.rsplit("@", 1)
    config = None
    if ":" in body:
        body, config = body.split(":", 1)
    if not re.fullmatch(r"[\w.-]+(/[\w.-]+)?", body) or spec.endswith(("@", ":")):
        raise UsageError(f"expected hf:OWNER/NAME[:CONFIG][@REVISION], got {spec!r}")
    return body, config or None, revision or None


_SPLIT_ORDER = {"train": 0, "validation": 1, "valid": 1, "dev": 1, "test": 2}


def _split_key(name: str) -> tuple[int, str]:
    return _SPLIT_ORDER.get(name, 3), name


def _our_layout(features: Any) -> str | None:
    """The kind when ``features`` are dialogkit's own (so rows become canonical dicts)."""
    if features is None or "kind" not in features:
        return None
    for kind in KINDS:
        if set(features) == set(_columns(kind)):
            return kind
    return None


def _dataset_rows(dataset: Any) -> Iterator[dict[str, Any]]:
    """Rows of one split; dialogkit-layout datasets come out as canonical record dicts."""
    features = getattr(dataset, "features", None)
    if _our_layout(features) is not None:
        for row in _raw_rows(dataset):
            rec = row_to_record(row)
            data = rec.model_dump(mode="json", exclude_none=True)
            yield {"kind": data.pop("kind"), **data}
        return
    ds = _datasets()
    if features is not None and hasattr(ds, "Json") and "Json" in repr(features):
        for row in _raw_rows(dataset):
            yield _parse_json_cells(row, features)
        return
    yield from dataset


def _parse_json_cells(row: dict[str, Any], features: Any) -> dict[str, Any]:
    ds = _datasets()

    def walk(value: Any, f: Any) -> Any:
        if value is None:
            return None
        if isinstance(f, ds.Json):
            return _json_value(value)
        if isinstance(f, dict):
            return {k: walk(value.get(k), f[k]) if k in f else v for k, v in value.items()}
        inner = f[0] if isinstance(f, list) else getattr(f, "feature", None)
        if inner is not None and isinstance(value, list):
            return [walk(v, inner) for v in value]
        return value

    return {k: walk(v, features[k]) if k in features else v for k, v in row.items()}


def _is_save_to_disk(path: Path) -> bool:
    return (path / "dataset_dict.json").is_file() or (
        (path / "state.json").is_file() and (path / "dataset_info.json").is_file()
    )


_PLAIN = (".jsonl", ".json", ".jsonl.gz", ".json.gz", ".ndjson")


def _plain_files(path: Path) -> list[Path] | None:
    """JSON(L) files of a folder without a dataset card (read with dialogkit's own reader)."""
    if (path / "README.md").exists() or _is_save_to_disk(path):
        return None
    files = [p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")]
    if not files or not all(p.name.lower().endswith(_PLAIN) for p in files):
        return None
    stem = {p: p.name.split(".")[0] for p in files}
    return sorted(files, key=lambda p: _split_key(stem[p]))


def _splits(loaded: Any) -> list[Any]:
    ds = _datasets()
    if isinstance(loaded, (ds.DatasetDict, ds.IterableDatasetDict)):
        return [loaded[k] for k in sorted(loaded.keys(), key=_split_key)]
    return [loaded]


def _load(spec: str, split: str | None) -> list[Any]:
    """The splits to read for a spec, as (Iterable)Dataset objects."""
    ds = _datasets()
    path = Path(spec)
    try:
        if not spec.startswith("hf:"):
            if _is_save_to_disk(path):
                loaded = ds.load_from_disk(str(path))
                return [loaded[split]] if split else _splits(loaded)
            configs = ds.get_dataset_config_names(str(path))
            out: list[Any] = []
            for config in configs:
                loaded = ds.load_dataset(str(path), config, split=split, streaming=True)
                out += [loaded] if split else _splits(loaded)
            return out
        repo, config, revision = parse_hf_spec(spec)
        loaded = ds.load_dataset(repo, config, revision=revision, split=split, streaming=True)
        return [loaded] if split else _splits(loaded)
    except DialogkitError:
        raise
    except FileNotFoundError as exc:
        raise UsageError(f"cannot load {spec}: {_one_line(exc)}") from None
    except Exception as exc:  # datasets raises many types (network, config, schema)
        raise HubError(f"cannot load {spec}: {_one_line(exc)}") from None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def iter_hf_rows(spec: str, *, split: str | None = None) -> Iterator[tuple[dict[str, Any], int]]:
    """Rows and 1-based line numbers of ``hf:OWNER/NAME[:CONFIG][@REVISION]`` or a local folder.

    The Hub id streams through ``datasets.load_dataset``; a folder is a ``save_to_disk`` folder
    (``datasets.load_from_disk``), a folder of JSON(L) files such as ``dialogkit split`` writes
    (read with dialogkit's own reader, files in split order), or any data folder
    ``datasets.load_dataset`` understands (Parquet, a dataset card with configs). Every split
    (and every config of a folder) is read, train first; ``split=`` picks one.
    """
    path = Path(spec)
    if not spec.startswith("hf:") and not path.is_dir():
        raise UsageError(f"No such folder: {spec}")
    line = 0
    if not spec.startswith("hf:"):
        plain = _plain_files(path)
        if plain is not None:
            from dialogkit.io import read_rows

            for f in plain:
                if split is not None and f.name.split(".")[0] != split:
                    continue
                for item in read_rows(f):
                    if isinstance(item, DialogkitError):
                        raise item
                    line += 1
                    yield item.data, line
            return
    for part in _load(spec, split):
        try:
            for data in _dataset_rows(part):
                line += 1
                yield data, line
        except DialogkitError:
            raise
        except Exception as exc:  # streaming reads fail late (network, bad shard)
            raise HubError(f"cannot read {spec}: {_one_line(exc)}") from None
