"""``dialogkit``: the canonical records themselves, one JSON object per line with a ``kind``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

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
        yield build_adapter(RecordAdapter, data)

    def write_record(self, record: Any, ctx: WriteContext) -> Any:
        data = record.model_dump(mode="json", exclude_none=True)
        return {"kind": data.pop("kind"), **data}


FORMAT = register(Canonical())
