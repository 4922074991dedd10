"""Group-aware, leak-free splits: groups stay whole, a prompt never spans two splits."""

from __future__ import annotations

from collections import defaultdict

import pytest

from dialogkit.errors import RecordError, UsageError
from dialogkit.models import Conversation, InstructionDemo, Message, PreferencePair
from dialogkit.ops.split import (
    SplitReport,
    assign_groups,
    find_leaks,
    fractions,
    group_key,
    split_records,
)
from tests.conftest import shared_file


def pair(prompt: str, gid: str | None, n: int, **kw) -> PreferencePair:
    return PreferencePair(prompt=[Message(role="user", content=prompt)],
                          chosen=[Message(role="assistant", content=f"good {n}")],
                          rejected=[Message(role="assistant", content=f"bad {n}")],
                          group_id=gid, **kw)


def test_fractions() -> None:
    assert fractions() == (0.8, 0.1, 0.1)
    assert fractions(0.9, 0.1) == (0.9, 0.1, 0.0)
    assert fractions(train=0.5) == (0.5, 0.25, 0.25)
    with pytest.raises(UsageError, match="^split fractions must add up to 1, got train=0.9, "
                       "validation=0.2, test=0.1$"):
        fractions(0.9, 0.2, 0.1)
    with pytest.raises(UsageError, match="^--test must be between 0 and 1, got 1.5$"):
        fractions(test=1.5)


def test_group_key_order() -> None:
    assert group_key(pair("p", "g", 0)) == ("group=g", True)
    assert group_key(pair("p", None, 0, id="r1")) == ("id=r1", True)
    assert group_key(pair("p", None, 0)) == ("prompt=user: p", True)
    p = pair("p", "g", 0, metadata={"labeler": "L1", "user": {"id": 7}})
    assert group_key(p, "labeler") == ("labeler=L1", True)
    assert group_key(p, "user.id") == ("user.id=7", True)
    assert group_key(p, "missing") == ("group=g", False)
    d = InstructionDemo(prompt="x", response="y", labeler="L2")
    assert group_key(d, "labeler") == ("labeler=L2", True)


def test_groups_stay_whole_and_assignment_is_deterministic() -> None:
    records = [pair(f"prompt {i // 3}", f"g{i // 3}", i) for i in range(300)]
    rep = SplitReport()
    parts = split_records(records, (0.6, 0.2, 0.2), None, 0, rep)
    where = defaultdict(set)
    for name, recs in parts.items():
        for r in recs:
            where[r.group_id].add(name)
    assert all(len(v) == 1 for v in where.values())
    assert sum(len(v) for v in parts.values()) == 300 == rep.read
    assert rep.groups == 100 and rep.joined_groups == 100
    assert all(parts[s] for s in ("train", "validation", "test"))
    again = split_records(list(reversed(records)), (0.6, 0.2, 0.2), None, 0)
    assert {s: {r.chosen[0].content for r in v} for s, v in again.items()} == {
        s: {r.chosen[0].content for r in v} for s, v in parts.items()}
    other = split_records(records, (0.6, 0.2, 0.2), None, 1)
    assert other != parts


def test_groups_sharing_a_prompt_are_joined() -> None:
    # different group ids, same prompt after normalization (case, spaces, system turn)
    a = pair("Hello  World", "g1", 1)
    b = pair("hello world", "g2", 2)
    c = PreferencePair(prompt=[Message(role="system", content="Be brief."),
                               Message(role="user", content="HELLO WORLD")],
                       chosen=[Message(role="assistant", content="x")],
                       rejected=[Message(role="assistant", content="y")], group_id="g3")
    for seed in range(20):
        rep = SplitReport()
        parts = split_records([a, b, c], (0.34, 0.33, 0.33), None, seed, rep)
        assert sorted(len(v) for v in parts.values()) == [0, 0, 3]
        assert rep.groups == 3 and rep.joined_groups == 1


def test_find_leaks_reports_a_prompt_in_two_splits() -> None:
    a, b = pair("Same prompt", "g1", 1), pair("same  prompt", "g2", 2)
    assert find_leaks([a, b], ["train", "test"]) == ["'user: same prompt' in train, test"]
    assert find_leaks([a, b], ["test", "test"]) == []


def test_split_fails_on_a_leak(monkeypatch: pytest.MonkeyPatch) -> None:
    import dialogkit.ops.split as split

    def no_union(self, a: str, b: str) -> None:  # break the joining to force a leak
        self.find(a)
        self.find(b)

    monkeypatch.setattr(split._Union, "union", no_union)
    records = [pair("Same prompt", f"g{i}", i) for i in range(40)]
    rep = SplitReport()
    with pytest.raises(RecordError) as exc:
        split_records(records, (0.5, 0.25, 0.25), None, 0, rep)
    assert str(exc.value) == (
        "1 prompt(s) found in two splits: 'user: same prompt' in train, validation, test")
    assert rep.leaks == ["'user: same prompt' in train, validation, test"]


def test_joint_assignment_over_several_sets() -> None:
    conv = Conversation(messages=[Message(role="user", content="shared prompt"),
                                  Message(role="assistant", content="x")])
    pairs = [pair("Shared prompt", f"g{i}", i) for i in range(10)]
    for seed in range(10):
        names = assign_groups([[conv], pairs], seed=seed)
        assert len({names[0][0], *names[1]}) == 1


def test_oasst_trees_never_span_splits() -> None:
    path = shared_file("oasst", "en_100_tree.jsonl")
    pytest.importorskip("dialogkit.formats.oasst")
    from dialogkit.api import read

    records = list(read(path, format="oasst"))
    rep = SplitReport()
    parts = split_records(records, (0.8, 0.1, 0.1), "message_tree_id", 0, rep)
    where = defaultdict(set)
    for name, recs in parts.items():
        for r in recs:
            where[r.metadata["message_tree_id"]].add(name)
    assert len(where) == 100
    assert all(len(v) == 1 for v in where.values())
    assert rep.missing_group_key == 0 and rep.leaks == []
    assert rep.read == 899 == sum(len(v) for v in parts.values())
    assert rep.groups == 100


def test_hh_rlhf_prompts_never_span_splits() -> None:
    path = shared_file("hh_rlhf", "harmless-base_test_sample300.jsonl.gz")
    pytest.importorskip("dialogkit.formats.hh_rlhf")
    from dialogkit.api import read
    from dialogkit.ops.split import leak_key

    records = list(read(path, format="hh-rlhf", on_error="skip"))
    parts = split_records(records, (0.8, 0.1, 0.1), None, 0)
    seen: dict[str, str] = {}
    for name, recs in parts.items():
        for r in recs:
            assert seen.setdefault(leak_key(r), name) == name
    assert sum(len(v) for v in parts.values()) == len(records)
