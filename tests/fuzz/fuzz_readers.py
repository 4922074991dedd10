"""On-demand atheris target for one reader: coverage-guided bytes, each parsed as one JSON row
and put through the same check as tests/test_fuzz.py (tests/fuzz/cases.py).

    pip install atheris
    PYTHONPATH=$PWD python tests/fuzz/fuzz_readers.py FORMAT [CORPUS_DIR] -max_total_time=60

FORMAT is any reader (`dialogkit formats`). The corpus folder (default
``.fuzz-corpus/FORMAT``) is seeded with the format's contract samples; a crash is saved by
libFuzzer as ``crash-*`` in the current folder: replay it with ``fuzz_readers.py FORMAT crash-*``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris
import orjson

with atheris.instrument_imports(include=["dialogkit"]):
    from tests.fuzz.cases import READERS, check_bytes
    from tests.test_contract import SAMPLES


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in READERS:
        sys.exit(f"usage: fuzz_readers.py FORMAT [CORPUS_DIR] [libFuzzer flags]\n"
                 f"FORMAT is one of: {', '.join(READERS)}")
    name = sys.argv[1]
    rest = sys.argv[2:]
    if rest and not rest[0].startswith("-"):
        corpus = Path(rest.pop(0))
    else:
        corpus = Path(".fuzz-corpus") / name
    if not corpus.is_file():  # a file is a crash to replay; a folder is the corpus
        corpus.mkdir(parents=True, exist_ok=True)
        for i, row in enumerate(SAMPLES[name]):
            (corpus / f"sample-{i}.json").write_bytes(orjson.dumps(row))
    atheris.Setup([sys.argv[0], str(corpus), *rest], lambda data: check_bytes(name, data))
    atheris.Fuzz()


if __name__ == "__main__":
    main()
