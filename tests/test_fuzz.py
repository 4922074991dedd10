"""Structure-aware fuzzing of every reader, in the suite (issue 12, item 4).

Each registered format gets valid-looking rows of its own (its contract sample) with values
mutated: wrong types, missing and extra keys, empty lists, None, huge, non-BMP and lone-surrogate
strings, big ints, deep nesting. Reading must yield records or dialogkit errors only, and every
record read must write and read back equal in every format that holds its kind
(tests/fuzz/cases.py says what equal means). Derandomized with a fixed example count, a few
seconds per format. Hypothesis also draws constants from the local modules loaded, so the rows
tried alone and inside the whole suite differ (each is the same every time).
tests/fuzz/fuzz_readers.py runs the same check under atheris on demand (README, Development).
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings

import dialogkit
from dialogkit.io import Row
from dialogkit.registry import Options, Reject, get_format
from tests.fuzz.cases import (
    KNOWN,
    KNOWN_SHAPES,
    READERS,
    check_bytes,
    known,
    mutated_rows,
    problems,
)
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
    rows = {"sharegpt": {"id": 7, "conversations": [{"from": "human", "value": "hi"},
                                                    {"from": "gpt", "value": "hello"}]},
            "oasst": {"message_tree_id": "t", "prompt": {
                "message_id": "t", "text": "Hi", "role": "prompter", "replies": [
                    {"message_id": "a", "text": "Yo", "role": "assistant"}]}}}
    rows["math"] = SAMPLES["math"][0]  # any record written to verl
    rows["verl"] = {**SAMPLES["verl"][0], "extra_info": {}}
    seen = {p.split(":", 1)[0] for name, row in rows.items() for p in problems(name, row)}
    seen = {"* -> verl" if s.endswith("-> verl") else s for s in seen}
    assert seen == set(KNOWN)
    empty_parts = {"kind": "conversation", "messages": [{"role": "user", "content": []},
                                                        {"role": "assistant", "content": "x"}]}
    found = problems("dialogkit", empty_parts)
    assert found and all(any(k in p for k in KNOWN_SHAPES) for p in found)


def test_found_oasst_reply_naming_another_parent_is_rejected() -> None:
    """Found by this suite: a nested reply whose parent_id is not its parent's message_id was
    read, and wrote a tree that read back different."""
    tree = {"message_tree_id": "t1", "tree_state": "ready_for_export", "prompt": {
        "message_id": "p", "text": "Hi", "role": "prompter", "replies": [
            {"message_id": "a1", "parent_id": "t1", "text": "Hello", "role": "assistant"}]}}
    [rej] = list(get_format("oasst").read([Row(tree, "t.jsonl", 3, 0)], Options()))
    assert isinstance(rej, Reject)
    assert str(rej.error) == (
        "parent_id 't1' is not the message_id of the message this reply is nested in ('p') - "
        "at $.prompt.replies[0].parent_id (t.jsonl:3, format=oasst)")
    assert problems("oasst", tree) == []


def test_found_unranked_comparison_to_oasst_is_counted_as_lost(tmp_path: Path) -> None:
    """Found by this suite: a comparison without a ranking (best-of-n) written to oasst reads
    back as conversations only; now tallied as dropped, and rejected with --strict."""
    rows = [{"instruction": "Write", "input": "", "output": ["a", "b"]}]
    rep = dialogkit.convert(rows, tmp_path / "o.jsonl", from_="best-of-n", to="oasst")
    assert (rep.written, dict(rep.fields_dropped)) == (1, {"comparison (unranked)": 1})
    rep = dialogkit.convert(rows, tmp_path / "o.jsonl", from_="best-of-n", to="oasst",
                            strict=True, on_error="skip")
    assert (rep.written, rep.rejected) == (0, 1)
    assert problems("best-of-n", rows[0]) == []


def test_lone_surrogate_no_longer_crashes_the_oasst_writer() -> None:
    """Found by this suite: the oasst writer hashed text with orjson and raised TypeError."""
    row = {"prompt": "\ud800", "completion": "x"}
    assert problems("openai-completion", row) == []
