"""Rows of any dataset as an input: ``hf:OWNER/NAME[:CONFIG][@REVISION]`` or a local folder.

The Hub id streams through ``datasets.load_dataset``; a folder is a ``save_to_disk`` folder, a
folder of JSON(L) files (read with dialogkit's own container reader), or any data folder
``datasets.load_dataset`` understands. Datasets in dialogkit's published layout come out as
canonical record dicts (:mod:`dialogkit.layout`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dialogkit.errors import DialogkitError, HubError, UsageError
from dialogkit.io import read_rows
from dialogkit.layout import columns, datasets_module, json_value, raw_rows, row_to_record
from dialogkit.models import KINDS

__all__ = ["iter_hf_rows", "parse_hf_spec"]


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
        if set(features) == set(columns(kind)):
            return kind
    # a published canonical layout: columns computed from the rows, all canonical field names
    known = {name for kind in KINDS for name in columns(kind)}
    return "dialogkit" if set(features) <= known else None


def _dataset_rows(dataset: Any) -> Iterator[dict[str, Any]]:
    """Rows of one split; dialogkit-layout datasets come out as canonical record dicts."""
    features = getattr(dataset, "features", None)
    if _our_layout(features) is not None:
        for row in raw_rows(dataset):
            rec = row_to_record(row)
            data = rec.model_dump(mode="json", exclude_none=True)
            yield {"kind": data.pop("kind"), **data}
        return
    ds = datasets_module()
    if features is not None and hasattr(ds, "Json") and "Json" in repr(features):
        for row in raw_rows(dataset):
            yield _parse_json_cells(row, features)
        return
    yield from dataset


def _parse_json_cells(row: dict[str, Any], features: Any) -> dict[str, Any]:
    ds = datasets_module()

    def walk(value: Any, f: Any) -> Any:
        if value is None:
            return None
        if isinstance(f, ds.Json):
            return json_value(value)
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
    ds = datasets_module()
    if isinstance(loaded, (ds.DatasetDict, ds.IterableDatasetDict)):
        return [loaded[k] for k in sorted(loaded.keys(), key=_split_key)]
    return [loaded]


def _load(spec: str, split: str | None) -> list[Any]:
    """The splits to read for a spec, as (Iterable)Dataset objects."""
    ds = datasets_module()
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
