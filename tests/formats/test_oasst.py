"""oasst: trees <-> conversations and ranked comparisons; exact counts on the real sample."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from itertools import pairwise
from pathlib import Path
from typing import Any

import orjson
import pytest

import dialogkit
from dialogkit import parallel
from dialogkit.errors import UsageError
from dialogkit.formats.oasst import FORMAT
from dialogkit.io import Row, read_rows
from dialogkit.models import Comparison, Conversation
from dialogkit.ops.ids import content_id
from dialogkit.registry import Options, Reject, Rows, WriteContext
from tests.conftest import ROOT, shared_file


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


def cli(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "dialogkit", *args], capture_output=True,
                          cwd=ROOT, timeout=120)


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


# ------------------------------------------------------------------ the writer (flat export)

FLAT_KEYS = ["message_id", "parent_id", "user_id", "created_date", "text", "role", "lang",
             "review_count", "review_result", "deleted", "rank", "synthetic", "model_name",
             "detoxify", "message_tree_id", "tree_state", "emojis", "labels"]


def write(records: list[Any], ctx: WriteContext | None = None) -> list[Any]:
    """Rows (as JSON would give them back) and Rejects of ``records``, in one run."""
    out = FORMAT.write(records, ctx or WriteContext())
    return [o if isinstance(o, Reject) else orjson.loads(orjson.dumps(o)) for o in out]


def reread(rows: list[dict[str, Any]], **extra: Any) -> list[Any]:
    return [r.model_copy(update={"source": None}) for r in outcomes(rows, **extra)]


def strip(records: list[Any]) -> list[Any]:
    return [r.model_copy(update={"source": None}) for r in records]


def test_writer_writes_each_message_once_with_the_official_keys() -> None:
    recs = outcomes([TREE])
    ctx = WriteContext()
    per_record = [FORMAT.write_one(r, ctx) for r in recs]
    assert all(isinstance(out, Rows) for out in per_record)
    # 6 conversations share prefixes; the 2 comparisons' messages are all written already
    assert [len(out) for out in per_record] == [2, 2, 1, 2, 1, 1, 0, 0]
    rows = write(recs)
    assert [r["message_id"] for r in rows] == ["p0", "a1", "p3", "a5", "a2", "p4", "a6", "a7",
                                               "a8"]
    assert all(list(r) == FLAT_KEYS for r in rows)
    assert rows[0] == {
        "message_id": "p0", "parent_id": None, "user_id": None, "created_date": None,
        "text": "Q", "role": "prompter", "lang": "en", "review_count": None,
        "review_result": None, "deleted": None, "rank": None, "synthetic": None,
        "model_name": None, "detoxify": None, "message_tree_id": "p0",
        "tree_state": "ready_for_export", "emojis": None, "labels": None}
    assert [(r["parent_id"], r["role"], r["rank"]) for r in rows[1:4]] == [
        ("p0", "assistant", 1), ("a1", "prompter", None), ("p3", "assistant", None)]
    assert (rows[7]["rank"], rows[7]["model_name"]) == (0, "m")
    # read -> write -> read: the same records, except that TREE's nested replies leave their
    # parent_id implied (the real exports write it) and the flat rows write it out
    assert reread(rows) == [with_parents(r) for r in strip(recs)]
    assert ctx.dropped == {}


def with_parents(rec: Any) -> Any:
    """``rec`` with ``parent_id`` in each non-root message's metadata dict."""
    metas = [dict(m) for m in rec.metadata["messages"]]
    for parent, meta in zip(metas, metas[1:], strict=False):
        meta["parent_id"] = parent["message_id"]
    md = {**rec.metadata, "messages": metas}
    if "candidates" in md:
        md["candidates"] = [{**c, "parent_id": rec.id} for c in md["candidates"]]
    return rec.model_copy(update={"metadata": md})


def test_flat_rows_repeat_tree_keys_that_read_as_the_trees() -> None:
    flat = [
        {"message_id": "p", "parent_id": None, "text": "Q", "role": "prompter",
         "message_tree_id": "p", "tree_state": "ready_for_export"},
        {"message_id": "a", "parent_id": "p", "text": "A", "role": "assistant",
         "message_tree_id": "p", "tree_state": "ready_for_export"},
        {"message_id": "b", "parent_id": "p", "text": "B", "role": "assistant",
         "message_tree_id": "p", "tree_state": "growing"},
    ]
    a, b = outcomes(flat)
    assert a.metadata == {"message_tree_id": "p", "tree_state": "ready_for_export",
                          "messages": [{"message_id": "p"},
                                       {"message_id": "a", "parent_id": "p"}]}
    assert b.metadata["messages"][1] == {"message_id": "b", "parent_id": "p",
                                         "tree_state": "growing"}  # its own value stays
    assert write([a, b])[2]["tree_state"] == "growing"


def test_plain_conversations_get_content_ids_and_share_a_tree_per_first_message() -> None:
    u, x, y = ({"role": "user", "content": "Q"}, {"role": "assistant", "content": "X"},
               {"role": "assistant", "content": "Y"})
    recs = list(dialogkit.read([
        {"kind": "conversation", "messages": [u, x], "metadata": {"lang": "ja"}},
        {"kind": "conversation", "id": "c2", "messages": [u, y, u, x],
         "metadata": {"topic": "t"}},
    ], format="dialogkit"))
    ctx = WriteContext()
    rows = write(recs, ctx)
    root = content_id({"messages": [u]})
    ids = [root, content_id({"messages": [u, x]}), content_id({"messages": [u, y]}),
           content_id({"messages": [u, y, u]}), content_id({"messages": [u, y, u, x]})]
    assert [r["message_id"] for r in rows] == ids
    assert [r["parent_id"] for r in rows] == [None, ids[0], ids[0], ids[2], ids[3]]
    assert {r["message_tree_id"] for r in rows} == {root}
    assert [r["lang"] for r in rows] == ["ja", "ja", None, None, None]
    assert [r["role"] for r in rows] == ["prompter", "assistant", "assistant", "prompter",
                                         "assistant"]
    assert [r["rank"] for r in rows] == [None] * 5
    # the shared root keeps the first record's lang; the second's (none) is lost, and said so
    assert ctx.dropped == {"id": 1, "metadata.topic": 1, "lang": 1}
    back = reread(rows)
    assert [[m.content for m in r.messages] for r in back] == [
        ["Q", "X"], ["Q", "Y"], ["Q", "Y", "Q", "X"]]  # a tree: its paths, in depth order
    assert [r.id for r in back] == [ids[1], ids[2], ids[4]]


def test_a_comparison_from_another_format_writes_its_candidates_as_ranked_siblings() -> None:
    comp = next(dialogkit.read([{
        "kind": "comparison", "id": "cmp-1", "labeler": "l1",
        "context": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"},
                    {"role": "user", "content": "Q2"}],
        "candidates": [{"messages": [{"role": "assistant", "content": "B"}], "model": "m1"},
                       {"messages": [{"role": "assistant", "content": "C"}], "score": 2.5},
                       {"messages": [{"role": "assistant", "content": "D"}]}],
        "ranking": [1, 0, None]}], format="dialogkit"))
    ctx = WriteContext()
    rows = write([comp], ctx)
    parent = content_id({"messages": [m.model_dump(include={"role", "content"})
                                      for m in comp.context]})
    assert [r["text"] for r in rows] == ["Q", "A", "Q2", "B", "C", "D"]
    assert [r["parent_id"] for r in rows[3:]] == [parent] * 3
    assert [r["rank"] for r in rows] == [None, None, None, 1, 0, None]  # rank 0 = best
    assert [r["model_name"] for r in rows] == [None, None, None, "m1", None, None]
    assert ctx.dropped == {"labeler": 1, "score": 1, "id": 1}
    back = reread(rows, oasst_yield="comparisons")
    assert len(back) == 1 and isinstance(back[0], Comparison)
    assert back[0].id == parent
    assert back[0].context == comp.context
    assert back[0].ranking == [1, 0, None]
    assert [(c.messages, c.model) for c in back[0].candidates] == [
        (c.messages, c.model) for c in comp.candidates]
    # an unranked comparison reads back as its conversations only (the reader needs a rank)
    unranked = comp.model_copy(update={"ranking": None})
    assert [r["rank"] for r in write([unranked])[3:]] == [None, None, None]
    assert ids(outcomes(write([unranked])), "comparison") == []


def test_demos_are_written_as_their_conversations() -> None:
    demo = next(dialogkit.read([{"instruction": "Add", "input": "2+2", "output": "4"}],
                               format="alpaca"))
    rows = write([demo])
    assert [(r["role"], r["text"]) for r in rows] == [("prompter", "Add\n\n2+2"),
                                                      ("assistant", "4")]


def _rec(data: dict[str, Any]) -> Any:
    return next(dialogkit.read([data], format="dialogkit"))


U = {"role": "user", "content": "Q"}
A = {"role": "assistant", "content": "A"}


@pytest.mark.parametrize(
    ("data", "reason", "loc", "rule"),
    [
        ({"kind": "conversation", "messages": [{"role": "system", "content": "S"}, U, A]},
         "format 'oasst' holds only user (prompter) and assistant messages, not a system "
         "message", "$.messages[0].role", "role not writable"),
        ({"kind": "conversation", "messages": [
            U, {"role": "assistant", "tool_calls": [
                {"id": "c", "name": "f", "arguments": "{}"}]},
            {"role": "tool", "tool_call_id": "c", "content": "1"}, A]},
         "format 'oasst' cannot hold tool calls", "$.messages[1].tool_calls",
         "tool calls not writable"),
        ({"kind": "comparison", "context": [U],
          "candidates": [{"messages": [A, U]}, {"messages": [A]}]},
         "format 'oasst' writes each candidate as one assistant reply; candidates[0] is "
         "2 messages", "$.candidates[0].messages", "candidate not one reply"),
        ({"kind": "comparison", "context": [U],
          "candidates": [{"messages": [A]}, {"messages": [U]}]},
         "format 'oasst' writes each candidate as one assistant reply; candidates[1] is "
         "a user message", "$.candidates[1].messages", "candidate not one reply"),
        ({"kind": "preference", "prompt": [U], "chosen": [A],
          "rejected": [{"role": "assistant", "content": "B"}]},
         "format 'oasst' cannot hold a record of kind 'preference' (it writes conversation, "
         "comparison, demo, trainer_dialogue)", None, "kind not writable"),
        ({"kind": "conversation", "messages": [U, A],
          "metadata": {"message_tree_id": "t", "messages": [{"message_id": "q"}]}},
         "metadata.messages must hold one object per message (2) as the oasst reader makes "
         "it, got 1 entries", "$.metadata.messages", "oasst metadata"),
        ({"kind": "conversation", "messages": [U, A],
          "metadata": {"message_tree_id": "t", "messages": [{"message_id": "q"}, {}]}},
         "metadata.messages[1] must be an object with a `message_id` string",
         "$.metadata.messages[1]", "oasst metadata"),
    ],
)
def test_records_the_writer_cannot_hold(data: dict[str, Any], reason: str, loc: str | None,
                                        rule: str) -> None:
    ctx = WriteContext()
    (rej,) = write([_rec(data)], ctx)
    assert isinstance(rej, Reject)
    assert (rej.error.reason, rej.error.loc, rej.error.rule) == (reason, loc, rule)
    assert ctx.state.get("oasst.written", {}) == {}


def test_a_message_is_written_once_by_the_first_record_that_holds_it() -> None:
    convs = outcomes([TREE], oasst_yield="conversations")
    comps = outcomes([TREE], oasst_yield="comparisons")  # p0 with a1 (rank 1), a2 (0), a8
    ctx = WriteContext()
    assert len(write([comps[0]], ctx)) == 4
    reranked = comps[0].model_copy(update={"ranking": [0, 1, None]})
    assert write([reranked], ctx) == []  # nothing new; the first ranks stand, 2 are lost
    assert ctx.dropped == {"rank": 2}
    (rej,) = write([reranked], WriteContext(options=Options(strict=True), state=ctx.state))
    assert isinstance(rej, Reject)
    assert rej.error.reason == (
        "`rank` has no place in the output format and would be lost (--strict)")
    edited = convs[0].model_copy(update={"messages": [
        convs[0].messages[0], convs[0].messages[1].model_copy(update={"content": "A1!"})]})
    (rej,) = write([edited], ctx)
    assert isinstance(rej, Reject)
    assert (rej.error.reason, rej.error.loc, rej.error.rule) == (
        "message 'a1' was written before with another parent, role, text or tree; a message "
        "is written once, so records must agree on it", "$.messages[1]", "message conflict")
    # a rejected record changed nothing: the next one writes just its own new messages
    assert [r["message_id"] for r in write([comps[1]], ctx)] == ["p4", "a6", "a7"]
    assert len(ctx.state["oasst.written"]) == 7
    assert len(write([comps[0]])) == 4  # another run (context) starts from nothing


def test_strict_rejects_what_has_no_place() -> None:
    rec = _rec({"kind": "conversation", "messages": [U, {**A, "weight": 1}]})
    (rej,) = write([rec], WriteContext(options=Options(strict=True)))
    assert isinstance(rej, Reject)
    assert rej.error.reason == (
        "`weight` has no place in the output format and would be lost (--strict)")


# ------------------------------------------------------------------ the writer on real data


def _distinct(records: list[Any]) -> set[str]:
    out = set()
    for r in records:
        out.update(m["message_id"] for m in r.metadata["messages"])
        out.update(m["message_id"] for m in r.metadata.get("candidates", []))
    return out


def _unanswered_prompters(name: str) -> tuple[int, int]:
    """(messages in the file, prompter messages with no assistant message below them)."""
    total = unanswered = 0

    def walk(m: dict[str, Any]) -> bool:
        nonlocal total, unanswered
        total += 1
        below = [walk(r) for r in m.get("replies") or []]
        answered = m["role"] == "assistant" or any(below)
        unanswered += not answered
        return answered

    with open(shared_file("oasst", name), "rb") as f:
        for line in f:
            data = orjson.loads(line)
            walk(data.get("prompt", data))
    return total, unanswered


@pytest.mark.parametrize(
    ("name", "records", "rows", "messages", "unanswered"),
    [("en_100_tree.jsonl", 899, 941, 1167, 226),
     ("en_100_message_first50.jsonl", 416, 439, 549, 110)],
)
def test_real_read_write_read_is_equal(name: str, records: int, rows: int, messages: int,
                                       unanswered: int) -> None:
    recs = _read(name)
    assert len(recs) == records
    ctx = WriteContext()
    flat = write(recs, ctx)
    assert ctx.dropped == {}
    assert len(flat) == rows == len(_distinct(recs))  # one row per distinct message
    assert len({r["message_id"] for r in flat}) == rows
    # the file's other messages are prompter turns that no assistant message answers: no
    # record holds them (conversations end on an assistant turn), so they are not written
    assert _unanswered_prompters(name) == (messages, unanswered)
    assert messages - unanswered == rows
    assert all(list(r) == FLAT_KEYS for r in flat)
    back = reread(flat)
    assert back == strip(recs)  # everything but source (file, line) is the same
    assert write(back) == flat  # and writing the flat file's records again gives it back


def test_real_read_write_read_with_reader_options() -> None:
    comps = _read("en_100_tree.jsonl", oasst_yield="comparisons")
    flat = write(comps)
    assert (len(comps), len(flat)) == (212, 856)
    assert reread(flat, oasst_yield="comparisons") == strip(comps)
    top = _read("en_100_tree.jsonl", oasst_paths="top", oasst_yield="conversations")
    flat = write(top)
    assert (len(top), len(flat)) == (101, 290)
    assert reread(flat, oasst_paths="top", oasst_yield="conversations") == strip(top)


def test_real_write_is_deterministic(tmp_path: Path) -> None:
    recs = _read("en_100_tree.jsonl")
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    rep = dialogkit.write(recs, a, format="oasst")
    dialogkit.write(recs, b, format="oasst")
    assert (rep.read, rep.written, rep.rejected) == (899, 899, 0)  # records, not rows
    assert a.read_bytes() == b.read_bytes()
    assert len(a.read_bytes().splitlines()) == 941


def test_cli_convert_to_oasst_and_back(tmp_path: Path) -> None:
    src = shared_file("oasst", "en_100_tree.jsonl")
    flat, back = tmp_path / "flat.jsonl", tmp_path / "back.jsonl"
    r = cli("convert", str(src), str(flat), "--to", "oasst")  # --jobs default: one per core
    assert r.returncode == 0, r.stderr
    assert r.stderr.decode() == "oasst -> oasst: read 899, written 899, rejected 0\n"
    assert len(flat.read_bytes().splitlines()) == 941
    r = cli("convert", str(flat), str(back), "--to", "dialogkit")  # auto-detects oasst
    assert r.returncode == 0, r.stderr
    assert r.stderr.decode() == "oasst -> dialogkit: read 899, written 899, rejected 0\n"
    assert strip(list(dialogkit.read(back, format="dialogkit"))) == strip(
        _read("en_100_tree.jsonl"))


def test_a_stateful_writer_is_never_split_across_processes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"".join(
        orjson.dumps({"instruction": f"Q{i % 3}", "input": "", "output": f"A{i}"}) + b"\n"
        for i in range(20)))
    monkeypatch.setattr(parallel, "MIN_PARALLEL_BYTES", 0)

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("convert_parallel called")

    monkeypatch.setattr(parallel, "convert_parallel", refuse)
    with pytest.raises(AssertionError, match="convert_parallel called"):  # the control
        dialogkit.convert(src, tmp_path / "o.jsonl", from_="alpaca", to="openai", jobs=2)
    rep = dialogkit.convert(src, tmp_path / "t.jsonl", from_="alpaca", to="oasst", jobs=2)
    assert (rep.read, rep.written) == (20, 20)
    rows = [orjson.loads(x) for x in (tmp_path / "t.jsonl").read_bytes().splitlines()]
    assert len(rows) == 23  # 3 distinct prompts, each written once, and 20 answers
