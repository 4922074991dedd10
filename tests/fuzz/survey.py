"""On demand: how many fuzzed rows per format fail the suite's check, KNOWN failures included.

    PYTHONPATH=$PWD python tests/fuzz/survey.py [EXAMPLES] [FORMAT...]

Prints ``FORMAT: tried N, failing M (K known)`` per reader and the first problem of each kind.
"""

from __future__ import annotations

import collections
import sys

from hypothesis import HealthCheck, given, settings

from tests.fuzz.cases import READERS, known, mutated_rows, problems


def survey(name: str, examples: int) -> tuple[int, int, int, dict[str, str]]:
    """(tried, failing, failing only by KNOWN problems, first problem by kind) for ``name``."""
    counts = collections.Counter()
    first: dict[str, str] = {}

    @settings(max_examples=examples, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(mutated_rows(name))
    def run(row: object) -> None:
        counts["tried"] += 1
        found = problems(name, row)
        if found:
            counts["failing"] += 1
            counts["known"] += all(known(p) for p in found)
            for p in found:
                first.setdefault(p.split(":", 1)[0] + ":" + p.split(":", 2)[1][:50], p[:300])

    run()
    return counts["tried"], counts["failing"], counts["known"], first


def main() -> None:
    examples = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    for name in sys.argv[2:] or READERS:
        tried, failing, n_known, first = survey(name, examples)
        print(f"{name}: tried {tried}, failing {failing} ({n_known} known)", flush=True)
        for p in first.values():
            print(f"    {p}")


if __name__ == "__main__":
    main()
