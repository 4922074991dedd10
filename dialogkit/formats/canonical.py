"""``dialogkit``: canonical records, one JSON object per line with a ``kind``.

Also reads the same records in the column layout dialogkit publishes as Parquet / ``datasets``
(every column present and null where absent; ``metadata`` and ``tools`` as JSON text), so a
published dataset's files convert like any other input.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from dialogkit.layout import row_to_record
from dialogkit.models import KINDS, RecordAdapter
from dialogkit.registry import Format, Options, WriteContext, build_adapter, register


class Canonical(Format):
    """Every kind, exactly as the models define them; the lossless interchange format."""

    name = "dialogkit"
    aliases = ("canonical", "native")
    description = "dialogkit's canonical records (kind-tagged JSON objects)"
    reads = KINDS
    writes = KINDS
    uses_source = True

    def detect(self, row: Any) -> int:
        return 5 if isinstance(row, dict) and row.get("kind") in KINDS else 0

    def read_row(self, data: Any, opts: Options) -> Iterable[Any]:
        if (
            isinstance(data, dict)
            and data.get("kind") in KINDS
            and (isinstance(data.get("metadata"), str) or None in data.values())
        ):
            # a row of a dataset dialogkit published (Parquet, `datasets`): every column present,
            # null where absent, metadata and tools as JSON text
            try:
                yield row_to_record(data)
                return
            except (AttributeError, TypeError, ValueError, KeyError):
                # not that layout after all: the models say what is wrong, field by field
                data = _plain(data)
        # an unknown `kind` is the union's error for this row (a reject), never a usage error
        yield build_adapter(RecordAdapter, data)

    def write_record(self, record: Any, ctx: WriteContext) -> Any:
        data = record.model_dump(mode="json", exclude_none=True)
        return {"kind": data.pop("kind"), **data}


def _plain(data: dict[str, Any]) -> dict[str, Any]:
    """A row with its nulls left out and a JSON-text ``metadata`` decoded (when it decodes), so
    the models' error names the field that is really wrong."""
    out = {k: v for k, v in data.items() if v is not None}
    meta = out.get("metadata")
    if isinstance(meta, str):
        try:
            out["metadata"] = orjson.loads(meta)
        except orjson.JSONDecodeError:
            pass
    return out


FORMAT = register(Canonical())
