"""Canonical records <-> Hugging Face ``datasets`` objects.

``to_dataset`` / ``to_iterable_dataset`` build datasets in dialogkit's published layout
(:mod:`dialogkit.layout`); ``from_dataset`` reads the Arrow storage directly (JSON text parsed
with orjson), because the ``Json`` feature's own decoder rounds floats; so
``from_dataset(to_dataset(records))`` gives back records equal to the input. Reading other
datasets as input is :mod:`dialogkit.hf_rows`. ``datasets`` is imported inside the functions
only, so ``import dialogkit`` stays light.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from dialogkit.errors import HubError, UsageError
from dialogkit.hf_rows import iter_hf_rows, parse_hf_spec
from dialogkit.layout import (
    Layout,
    datasets_module,
    features_for,
    raw_rows,
    record_to_row,
    row_to_record,
)
from dialogkit.pipeline import read

__all__ = [
    "HubError",
    "features_for",
    "from_dataset",
    "iter_hf_rows",
    "parse_hf_spec",
    "record_to_row",
    "row_to_record",
    "to_dataset",
    "to_iterable_dataset",
]


def _rows_of_one_kind(
    records: Iterable[Any], kind: str | None, format: str
) -> tuple[str | None, list[dict[str, Any]]]:
    """The rows ``format``'s writer makes of ``records`` (all of one kind)."""
    from dialogkit.pipeline import resolve_format
    from dialogkit.registry import Reject, Rows, WriteContext

    fmt = resolve_format(format)
    if not fmt.writes:
        raise UsageError(f"format {fmt.name!r} can only be read")
    ctx = WriteContext()
    rows: list[dict[str, Any]] = []
    kinds: set[str] = set()
    for rec in records:
        kinds.add(rec.kind)
        out = fmt.write_one(rec, ctx)
        if isinstance(out, Reject):
            raise out.error
        rows += out if type(out) is Rows else [out]
    if kind is not None:
        kinds.add(kind)
    if len(kinds) > 1:
        raise UsageError(
            f"records of several kinds ({', '.join(sorted(kinds))}) cannot share one dataset's "
            "features; give one kind per dataset (publish makes one config per kind)"
        )
    return (kinds.pop() if kinds else None), rows


def to_dataset(
    records: Iterable[Any] | Mapping[str, Iterable[Any]],
    *,
    kind: str | None = None,
    format: str = "dialogkit",
) -> Any:
    """A ``datasets.Dataset`` of the rows ``format``'s writer makes (what ``dialogkit convert
    --to FORMAT`` writes), with features computed from them; a ``DatasetDict`` for
    ``{split: records}``.

    All records must be of one kind (``kind=`` gives an empty input its features). Structs hold
    only the keys some row uses; values without a fixed type are JSON text
    (:class:`dialogkit.layout.Layout`). The default ``dialogkit`` format keeps every field.

    Example:
        >>> from dialogkit.models import PromptOnly, Message
        >>> ds = to_dataset([PromptOnly(prompt=[Message(role="user", content="Hi")])])
        >>> ds.num_rows, ds.column_names
        (1, ['kind', 'prompt', 'metadata'])
        >>> to_dataset([PromptOnly(prompt=[Message(role="user", content="Hi")])],
        ...            format="trl").column_names
        ['prompt']
    """
    ds = datasets_module()
    if isinstance(records, Mapping):
        out = {}
        kinds: set[str] = set()
        for split, recs in records.items():
            found, rows = _rows_of_one_kind(recs, kind, format)
            out[split] = _dataset(rows, found or kind)
            if found is not None:
                kinds.add(found)
        if len(kinds) > 1:
            raise UsageError(f"splits hold different kinds ({', '.join(sorted(kinds))})")
        return ds.DatasetDict(out)
    k, rows = _rows_of_one_kind(records, kind, format)
    if k is None:
        raise UsageError("no records, and no kind= to give the empty dataset its features")
    return _dataset(rows, k)


def _dataset(rows: list[dict[str, Any]], kind: str | None) -> Any:
    ds = datasets_module()
    if not rows:
        if kind is None:
            raise UsageError("no records, and no kind= to give the empty dataset its features")
        features = features_for(kind)
        return ds.Dataset.from_dict({name: [] for name in features}, features=features)
    layout = Layout()
    for row in rows:
        layout.add(row)
    return ds.Dataset(layout.table(rows), info=ds.DatasetInfo(features=layout.features()))


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
    ds = datasets_module()
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


def from_dataset(dataset: Any, *, format: str = "dialogkit") -> Iterator[Any]:
    """Canonical records from a ``Dataset`` or ``IterableDataset`` made by :func:`to_dataset`
    (or loaded from a folder ``publish`` wrote) in ``format``.

    Keys that are null only because another row has them are left out again before the
    format's reader sees the row.
    """
    if format in ("dialogkit", "canonical", "native"):
        for row in raw_rows(dataset):
            yield row_to_record(row)
        return
    from dialogkit.io import Row
    from dialogkit.pipeline import resolve_format
    from dialogkit.registry import Options, Reject

    fmt = resolve_format(format)
    rows = (Row(_no_nulls(r), "<dataset>", i + 1, i, None) for i, r in enumerate(raw_rows(dataset)))
    for item in fmt.read(rows, Options()):
        if isinstance(item, Reject):
            raise item.error
        yield item


def _no_nulls(value: Any) -> Any:
    """A loaded row as a format reader expects it: no added nulls, embedded media as data URLs."""
    if isinstance(value, dict):
        if set(value) == {"bytes", "path"} and isinstance(value["bytes"], bytes):
            return _data_url(value["bytes"], value["path"])
        return {k: _no_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_no_nulls(v) for v in value]
    return value


def _data_url(data: bytes, name: str | None) -> str:
    """Embedded media bytes (``datasets``' Image/Audio storage) as a base64 data URL."""
    import base64
    import mimetypes

    mime = mimetypes.guess_type(name or "")[0] or "application/octet-stream"
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"
