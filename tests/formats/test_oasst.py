"""oasst: trees -> conversations and ranked comparisons; exact counts on the real sample."""

from __future__ import annotations

from collections import Counter
from itertools import pairwise
from typing import Any

import orjson
import pytest

from dialogkit.errors import UsageError
from dialogkit.formats.oasst import FORMAT
from dialogkit.io import Row, read_rows
from dialogkit.models import Comparison, Conversation
from dialogkit.registry import Options, Reject
from tests.conftest import shared_file


def msg(mid: str, role: str, text: str, *replies: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return {"message_id": mid, "text": text, "role": role, "lang": "en", **kw,
            "replies": list(replies)}


# p0 -> a1 (rank 1) -> p3 -> a5 (only reply)
#    -> a2 (rank 0) -> p4 -> a6 (rank None), a7 (rank 0)
#    -> a8 (no rank)
TREE = {
    "message_tree_id": "p0",
    "tree_state": "ready_for_export",
    "prompt": msg(
        "p0", "prompter", "Q",
        msg("a1", "assistant", "A1", msg("p3", "prompter", "Q3", msg("a5", "assistant", "A5")),
            rank=1),
        msg("a2", "assistant", "A2",
            msg("p4", "prompter", "Q4", msg("a6", "assistant", "A6", rank=None),
                msg("a7", "assistant", "A7", rank=0, model_name="m")),
            rank=0),
        msg("a8", "assistant", "A8"),
    ),
}


def outcomes(rows: list[Any], **extra: Any) -> list[Any]:
    items = [Row(r, "<t>", i + 1, i) for i, r in enumerate(rows)]
    return list(FORMAT.read(items, Options(extra=extra)))


def ids(records: list[Any], kind: str) -> list[str | None]:
    return [r.id for r in records if not isinstance(r, Reject) and r.kind == kind]


def test_every_path_to_an_assistant_message() -> None:
    recs = outcomes([TREE])
    assert ids(recs, "conversation") == ["a1", "a5", "a2", "a6", "a7", "a8"]
    conv = recs[1]
    assert isinstance(conv, Conversation)
    assert [(m.role, m.content) for m in conv.messages] == [
        ("user", "Q"), ("assistant", "A1"), ("user", "Q3"), ("assistant", "A5")]
    assert conv.metadata["message_tree_id"] == "p0"
    assert conv.metadata["tree_state"] == "ready_for_export"
    assert conv.metadata["lang"] == "en"
    assert [m["message_id"] for m in conv.metadata["messages"]] == ["p0", "a1", "p3", "a5"]
    assert conv.metadata["messages"][1] == {"message_id": "a1", "lang": "en", "rank": 1}
    assert conv.source is not None and conv.source.line == 1


def test_comparisons_for_ranked_sibling_groups() -> None:
    recs = outcomes([TREE], oasst_yield="comparisons")
    assert ids(recs, "comparison") == ["p0", "p4"]
    first, second = recs
    assert isinstance(first, Comparison) and isinstance(second, Comparison)
    assert [c.messages[0].content for c in first.candidates] == ["A1", "A2", "A8"]
    assert first.ranking == [1, 0, None]  # rank 0 = best; the unranked sibling stays None
    assert [m.content for m in second.context] == ["Q", "A2", "Q4"]
    assert second.ranking == [None, 0]
    assert [c.model for c in second.candidates] == [None, "m"]
    assert [c["message_id"] for c in second.metadata["candidates"]] == ["a6", "a7"]


def test_top_paths_follow_rank_zero_or_the_only_reply() -> None:
    recs = outcomes([TREE], oasst_paths="top", oasst_yield="conversations")
    assert ids(recs, "conversation") == ["a7"]
    single = {"message_tree_id": "x", "prompt": msg("x", "prompter", "Q",
                                                    msg("y", "assistant", "A"))}
    assert ids(outcomes([single], oasst_paths="top"), "conversation") == ["y"]


def test_missing_and_null_keys_mean_the_same() -> None:
    nulls = msg("p0", "prompter", "Q", msg("a", "assistant", "A", rank=0, parent_id="p0",
                                           emojis=None),
                msg("b", "assistant", "B", rank=1, parent_id="p0"), parent_id=None, rank=None)
    missing = msg("p0", "prompter", "Q", msg("a", "assistant", "A", rank=0, parent_id="p0"),
                  msg("b", "assistant", "B", rank=1, parent_id="p0"))
    strip = [r.model_copy(update={"source": None}) for r in outcomes([nulls])]
    assert strip == [r.model_copy(update={"source": None}) for r in outcomes([missing])]
    assert len(strip) == 3


def test_flat_rows_rebuild_trees_in_any_order() -> None:
    flat = [
        {"message_id": "a2", "parent_id": "p0", "text": "A2", "role": "assistant", "rank": 0,
         "message_tree_id": "p0"},
        {"message_id": "p0", "parent_id": None, "text": "Q", "role": "prompter",
         "message_tree_id": "p0"},
        {"message_id": "a1", "parent_id": "p0", "text": "A1", "role": "assistant", "rank": 1,
         "message_tree_id": "p0"},
        {"message_id": "zz", "parent_id": "nowhere", "text": "?", "role": "assistant"},
    ]
    recs = outcomes(flat)
    assert ids(recs, "conversation") == ["a2", "a1"]
    comp = recs[-1]
    assert isinstance(comp, Comparison) and comp.ranking == [0, 1]
    assert comp.source is not None and comp.source.line == 2  # the parent's row
    (rej,) = [r for r in recs if isinstance(r, Reject)]
    assert (rej.error.reason, rej.error.loc, rej.error.line) == (
        "parent message 'nowhere' is not in the input", "$.parent_id", 4)


def test_deleted_messages_are_kept_or_skipped() -> None:
    tree = {"message_tree_id": "p", "prompt": msg(
        "p", "prompter", "Q", msg("a", "assistant", "A", rank=0),
        msg("b", "assistant", "B", rank=1, deleted=True, replies=[]),
        msg("c", "assistant", "C", rank=2, review_result=False))}
    assert ids(outcomes([tree]), "conversation") == ["a", "b", "c"]
    recs = outcomes([tree], oasst_deleted="skip")
    assert ids(recs, "conversation") == ["a"]
    assert ids(recs, "comparison") == []  # one candidate left


@pytest.mark.parametrize(
    ("row", "reason", "loc"),
    [
        ({"message_tree_id": "t", "prompt": msg("p", "prompter", "Q", msg("a", "bot", "A"))},
         "Expected one of 'prompter', 'assistant', got 'bot'", "$.prompt.replies[0].role"),
        ({"message_tree_id": "t", "prompt": msg("p", "prompter", "Q", {"message_id": "a",
                                                                       "role": "assistant"})},
         "missing required field `text`", "$.prompt.replies[0].text"),
        ({"message_tree_id": "t", "prompt": msg("p", "prompter", "Q",
                                                msg("a", "assistant", "A", rank="0"))},
         "Expected `int`, got `str`", "$.prompt.replies[0].rank"),
        ({"message_tree_id": "t", "prompt": msg("p", "prompter", 5)},
         "Expected `str`, got `int`", "$.prompt.text"),
        ({"message_tree_id": "t", "prompt": "text"}, "Expected `object`, got `str`", "$.prompt"),
    ],
)
def test_bad_trees_are_rejected_whole(row: dict[str, Any], reason: str, loc: str) -> None:
    (rej,) = outcomes([row])
    assert isinstance(rej, Reject)
    assert (rej.error.reason, rej.error.loc, rej.error.line) == (reason, loc, 1)


def test_bad_option() -> None:
    with pytest.raises(UsageError, match="^oasst_paths must be one of all, top, got 'best'$"):
        outcomes([TREE], oasst_paths="best")


def test_negative_rank_is_a_record_error() -> None:
    tree = {"message_tree_id": "p", "prompt": msg(
        "p", "prompter", "Q", msg("a", "assistant", "A", rank=-1),
        msg("b", "assistant", "B", rank=0))}
    (rej,) = outcomes([tree], oasst_yield="comparisons")
    assert isinstance(rej, Reject)
    assert (rej.error.reason, rej.error.loc) == (
        "Expected a rank >= 0 (0 = best), got -1", "$.prompt.replies[0].rank")


# ------------------------------------------------------------------ the real sample


def _read(name: str, **extra: Any) -> list[Any]:
    return list(FORMAT.read(read_rows(shared_file("oasst", name)), Options(extra=extra)))


def pair_counts(comparisons: list[Comparison]) -> dict[str, int]:
    """Pairs each strategy makes, by plain arithmetic on the rankings (None never pairs)."""
    out = Counter[str]()
    for comp in comparisons:
        assert comp.ranking is not None
        ranks = [r for r in comp.ranking if r is not None]
        levels = Counter(ranks)
        order = sorted(levels)
        n = len(ranks)
        out["all"] += (n * (n - 1) - sum(c * (c - 1) for c in levels.values())) // 2
        if len(order) > 1:
            out["best-vs-rest"] += levels[order[0]] * (n - levels[order[0]])
            out["adjacent"] += sum(levels[a] * levels[b] for a, b in pairwise(order))
            out["best-vs-worst"] += levels[order[0]] * levels[order[-1]]
    return dict(out)


def test_real_tree_file_counts() -> None:
    recs = _read("en_100_tree.jsonl")
    assert not [r for r in recs if isinstance(r, Reject)]
    convs = [r for r in recs if r.kind == "conversation"]
    comps = [r for r in recs if r.kind == "comparison"]
    assert len(convs) == 687  # one per assistant message
    assert len(comps) == 212
    ranked = Counter(sum(r is not None for r in c.ranking) for c in comps)
    assert dict(ranked) == {2: 57, 3: 117, 4: 27, 5: 3, 6: 6, 8: 1, 9: 1}  # FORMATS.md §2
    assert dict(Counter(len(c.candidates) for c in comps)) == {
        2: 57, 3: 116, 4: 28, 5: 3, 6: 6, 8: 1, 9: 1}
    assert [c.ranking for c in comps if None in c.ranking] == [[0, 1, 2, None]]
    assert pair_counts(comps) == {
        "all": 754, "best-vs-rest": 429, "adjacent": 429, "best-vs-worst": 212}
    first = comps[0]
    assert first.id == "054e1df3-35e0-4bb8-a585-607dbdcd24e0"
    assert first.ranking == [0, 1, 2]
    assert [c.model for c in first.candidates] == ["chip20b"] * 3
    top = _read("en_100_tree.jsonl", oasst_paths="top", oasst_yield="conversations")
    assert len(top) == 101
    for conv in top:  # every assistant step is rank 0 or the only reply
        for meta in conv.metadata["messages"][1::2]:
            assert meta.get("rank") in (0, None)


def test_real_message_file_matches_the_tree_file() -> None:
    msgs = _read("en_100_message_first50.jsonl")
    assert len([r for r in msgs if r.kind == "conversation"]) == 319
    comps = [r for r in msgs if r.kind == "comparison"]
    assert len(comps) == 97
    assert pair_counts(comps) == {
        "all": 361, "best-vs-rest": 199, "adjacent": 199, "best-vs-worst": 97}
    trees = [r for r in _read("en_100_tree.jsonl") if r.source.line <= 50]

    def norm(r: Any) -> Any:
        meta = {k: v for k, v in r.metadata.items() if k != "tree_state"}
        return r.model_copy(update={"source": None, "metadata": meta})

    assert [norm(r) for r in msgs] == [norm(r) for r in trees]


def test_real_flat_rows_rebuild_the_same_records() -> None:
    flat: list[Row] = []

    def walk(m: dict[str, Any], parent: str | None) -> None:
        flat.append(Row({**{k: v for k, v in m.items() if k != "replies"}, "parent_id": parent},
                        "flat", len(flat) + 1, len(flat)))
        for reply in m["replies"]:
            walk(reply, m["message_id"])

    with open(shared_file("oasst", "en_100_message_first50.jsonl"), "rb") as f:
        for line in f:
            walk(orjson.loads(line), None)
    assert len(flat) == 549
    rebuilt = list(FORMAT.read(flat, Options()))
    nested = _read("en_100_message_first50.jsonl")
    assert [r.model_copy(update={"source": None}) for r in rebuilt] == [
        r.model_copy(update={"source": None}) for r in nested]
    backwards = list(FORMAT.read(list(reversed(flat)), Options()))
    assert sorted(r.id for r in backwards) == sorted(r.id for r in nested)
