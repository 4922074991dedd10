"""Structure-aware fuzzing of every reader, in the suite (issue 12, item 4).

Each registered format gets valid-looking rows of its own (its contract sample) with values
mutated: wrong types, missing and extra keys, empty lists, None, huge, non-BMP and lone-surrogate
strings, big ints, deep nesting. Reading must yield records or dialogkit errors only, and every
record read must write and read back equal in every format that holds its kind
(tests/fuzz/cases.py says what equal means). Derandomized with a fixed example count, so a run
is the same run every time and takes a few seconds per format; tests/fuzz/fuzz_readers.py runs
the same check under atheris on demand (README, Development).
"""

from __future__ import annotations

import orjson
import pytest
from hypothesis import HealthCheck, given, settings

from tests.fuzz.cases import KNOWN, READERS, check_bytes, known, mutated_rows, problems
from tests.test_contract import SAMPLES

EXAMPLES = 100


@pytest.mark.parametrize("name", READERS)
def test_fuzzed_rows_read_to_records_or_dialogkit_errors_and_round_trip(name: str) -> None:
    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck), print_blob=False)
    @given(mutated_rows(name))
    def check(row: object) -> None:
        found = [p for p in problems(name, row) if not known(p)]
        assert not found, "\n".join(found)

    check()


@pytest.mark.parametrize("name", READERS)
def test_atheris_entry_accepts_the_samples_and_non_json(name: str) -> None:
    for row in SAMPLES[name]:
        check_bytes(name, orjson.dumps(row))
    check_bytes(name, b"\xff{not json")


def test_known_failures_still_fail() -> None:
    """Each KNOWN entry is a real failure (so the list shrinks when one is fixed)."""
    rows = {
        "sharegpt": {"id": 7, "conversations": [{"from": "human", "value": "hi"},
                                                {"from": "gpt", "value": "hello"}]},
        "best-of-n": {"instruction": "Write", "input": "", "output": ["a", "b"]},
        "oasst": {"message_tree_id": "t1", "tree_state": "ready_for_export", "prompt": {
            "message_id": "", "text": "Hi", "role": "prompter", "replies": [
                {"message_id": "a1", "parent_id": "t1", "text": "Hello", "role": "assistant",
                 "rank": 0}]}},
    }
    seen = {p.split(":", 1)[0] for name, row in rows.items() for p in problems(name, row)}
    assert set(KNOWN) <= seen


def test_lone_surrogate_no_longer_crashes_the_oasst_writer() -> None:
    """Found by this suite: the oasst writer hashed text with orjson and raised TypeError."""
    row = {"prompt": "\ud800", "completion": "x"}
    assert problems("openai-completion", row) == []
