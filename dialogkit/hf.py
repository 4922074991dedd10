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
from dialogkit.layout import datasets_module, features_for, raw_rows, record_to_row, row_to_record
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
    ds = datasets_module()
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


def from_dataset(dataset: Any) -> Iterator[Any]:
    """Canonical records from a ``Dataset`` or ``IterableDataset`` made by :func:`to_dataset`."""
    for row in raw_rows(dataset):
        yield row_to_record(row)
