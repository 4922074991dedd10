"""Load published dataset folders with whatever ``datasets`` this Python has; print the rows.

Run by tests/test_published_load.py in a separate virtual environment per supported
``datasets`` release (made by .ci/run), so it needs nothing but ``datasets`` and the stdlib.
Usage: ``python load_published.py DIR...``; prints one JSON document:
``{"version": "...", "folders": {DIR: {config: {split: [row, ...]}}}}``. Images come out as
``{"image": [width, height, mode]}`` so they can be compared without PIL on the other side.
"""

from __future__ import annotations

import json
import sys


def _plain(value):  # noqa: ANN001, ANN202 - runs under any supported Python and datasets
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if hasattr(value, "size") and hasattr(value, "mode"):  # a decoded PIL image
        return {"image": [value.size[0], value.size[1], value.mode]}
    return value


def main(folders: list[str]) -> int:
    """Load every config and split of each folder with ``datasets.load_dataset``."""
    import datasets

    out = {}
    for folder in folders:
        out[folder] = {}
        for config in datasets.get_dataset_config_names(folder):
            dd = datasets.load_dataset(folder, config)
            out[folder][config] = {split: [_plain(r) for r in dd[split]] for split in dd}
    json.dump({"version": datasets.__version__, "folders": out}, sys.stdout, ensure_ascii=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
