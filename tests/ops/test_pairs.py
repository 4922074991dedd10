"""Rankings into pairs: strategies, rank direction, ties, unranked candidates, group ids."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialogkit.errors import RecordError, UsageError
from dialogkit.models import Candidate, Comparison, Conversation, Message
from dialogkit.ops.ids import content_id
from dialogkit.ops.pairs import (
    PairReport,
    comparison_pairs,
    effective_ranks,
    iter_pairs,
    pair_indices,
)
from dialogkit.registry import Reject
from tests.conftest import shared_file


def cand(text: str, score: float | None = None) -> Candidate:
    return Candidate(messages=[Message(role="assistant", content=text)], score=score)


def comp(ranking: list[int | None] | None, *, id: str | None = "g1", scores=None,
         labeler: str | None = None, metadata=None) -> Comparison:
    n = len(ranking) if ranking is not None else len(scores)
    scores = scores or [None] * n
    return Comparison(
        id=id, context=[Message(role="user", content="Q?")],
        candidates=[cand(f"answer {i}", scores[i]) for i in range(n)],
        ranking=ranking, labeler=labeler, metadata=metadata or {},
    )


def texts(pairs) -> list[tuple[str, str]]:
    return [(p.chosen[0].content, p.rejected[0].content) for p in pairs]


def test_rank_zero_is_best_and_chosen() -> None:
    pairs = comparison_pairs(comp([2, 0, 1]), "all")
    assert texts(pairs) == [
        ("answer 1", "answer 2"), ("answer 1", "answer 0"), ("answer 2", "answer 0"),
    ]


def test_all_strategies_on_four_distinct_ranks() -> None:
    c = comp([3, 1, 0, 2])
    assert pair_indices(effective_ranks(c), "all") == [
        (2, 1), (2, 3), (2, 0), (1, 3), (1, 0), (3, 0),
    ]
    assert pair_indices(effective_ranks(c), "best-vs-rest") == [(2, 1), (2, 3), (2, 0)]
    assert pair_indices(effective_ranks(c), "adjacent") == [(2, 1), (1, 3), (3, 0)]
    assert pair_indices(effective_ranks(c), "best-vs-worst") == [(2, 0)]


def test_ties_and_unranked_never_pair() -> None:
    ranks = [0, 1, 1, None, 2]
    assert pair_indices(ranks, "all") == [(0, 1), (0, 2), (0, 4), (1, 4), (2, 4)]
    assert pair_indices(ranks, "adjacent") == [(0, 1), (0, 2), (1, 4), (2, 4)]
    assert pair_indices(ranks, "best-vs-rest") == [(0, 1), (0, 2), (0, 4)]
    assert pair_indices(ranks, "best-vs-worst") == [(0, 4)]
    assert pair_indices([0, 0, None], "all") == []
    assert pair_indices([None, None], "all") == []


def test_tie_at_best_pairs_each_best() -> None:
    assert pair_indices([0, 0, 1], "best-vs-rest") == [(0, 2), (1, 2)]
    assert pair_indices([0, 0, 1], "best-vs-worst") == [(0, 2), (1, 2)]


def test_sparse_ranks_keep_their_order() -> None:
    assert pair_indices([5, 2, 9], "adjacent") == [(1, 0), (0, 2)]


def test_scores_rank_when_no_ranking_higher_is_better() -> None:
    c = comp(None, scores=[0.2, 0.9, 0.5, None])
    assert effective_ranks(c) == [2.0, 0.0, 1.0, None]
    pairs = comparison_pairs(c, "best-vs-worst", "score")
    assert texts(pairs) == [("answer 1", "answer 0")]
    assert pairs[0].margin == pytest.approx(0.7)


def test_equal_scores_tie() -> None:
    assert effective_ranks(comp(None, scores=[1.0, 1.0, 0.0])) == [0.0, 0.0, 1.0]
    assert len(comparison_pairs(comp(None, scores=[1.0, 1.0, 0.0]))) == 2


def test_ranking_wins_over_scores() -> None:
    c = comp([1, 0], scores=[0.9, 0.1])
    assert texts(comparison_pairs(c)) == [("answer 1", "answer 0")]


def test_margin_rank_is_positive_gap() -> None:
    pairs = comparison_pairs(comp([0, 1, 3]), "all", "rank")
    assert [p.margin for p in pairs] == [1.0, 3.0, 2.0]
    assert all(p.margin is None for p in comparison_pairs(comp([0, 1]), "all", "none"))


def test_margin_score_needs_scores() -> None:
    with pytest.raises(RecordError, match=r"^margin=score needs a score on both candidates "
                       r"of a pair - at \$\.candidates\[1\]\.score$") as exc:
        comparison_pairs(comp([0, 1], scores=[1.0, None]), "all", "score")
    assert exc.value.loc == "$.candidates[1].score"


def test_group_id_is_comparison_id_else_content_hash() -> None:
    assert {p.group_id for p in comparison_pairs(comp([0, 1, 2]))} == {"g1"}
    c = comp([0, 1, 2], id=None)
    assert {p.group_id for p in comparison_pairs(c)} == {content_id(c)}
    assert len(content_id(c)) == 32
    assert [p.id for p in comparison_pairs(comp([1, 0]))] == ["g1:1>0"]


def test_content_id_ignores_id_source_metadata() -> None:
    a = comp([0, 1], id="x", metadata={"a": 1})
    b = comp([0, 1], id="y")
    assert content_id(a) == content_id(b)
    assert content_id(a) != content_id(comp([1, 0]))


def test_scalar_metadata_and_labeler_are_inherited() -> None:
    c = comp([0, 1], labeler="L7", metadata={"message_tree_id": "t1", "messages": [{"x": 1}]})
    (p,) = comparison_pairs(c)
    assert p.metadata == {"message_tree_id": "t1", "labeler": "L7"}


def test_identical_candidates_are_rejected() -> None:
    c = Comparison(context=[Message(role="user", content="Q")],
                   candidates=[cand("same"), cand("same")], ranking=[0, 1])
    with pytest.raises(RecordError, match="^chosen and rejected are identical, so they carry "
                       "no preference - at \\$\\.candidates\\[1\\]$"):
        comparison_pairs(c)


def test_unknown_strategy_and_margin() -> None:
    with pytest.raises(UsageError, match="^strategy must be one of all, best-vs-rest, adjacent, "
                       "best-vs-worst, got 'pairs'$"):
        comparison_pairs(comp([0, 1]), "pairs")
    with pytest.raises(UsageError, match="^margin must be one of none, rank, score, got 'x'$"):
        comparison_pairs(comp([0, 1]), "all", "x")


def test_iter_pairs_counts_add_up() -> None:
    conv = Conversation(messages=[Message(role="user", content="a"),
                                  Message(role="assistant", content="b")])
    bad = Comparison(context=[Message(role="user", content="Q")],
                     candidates=[cand("s"), cand("s")], ranking=[0, 1])
    items = [comp([0, 1, 2]), conv, comp([None, None]), bad, comp([0, 0])]
    rep = PairReport()
    out = list(iter_pairs(items, "all", "none", rep))
    assert sum(1 for o in out if isinstance(o, Reject)) == 1
    assert rep.to_json() == {
        "read": 5, "comparisons": 4, "other_kinds": {"conversation": 1}, "rejected": 1,
        "rejected_by_reason": {"identical_pair": 1}, "comparisons_without_pairs": 2, "pairs": 3,
    }


def test_pairs_do_not_change_the_comparison() -> None:
    c = comp([1, 0], metadata={"k": "v"})
    before = c.model_dump()
    pairs = comparison_pairs(c)
    pairs[0].metadata["k"] = "changed"
    pairs[0].prompt.append(Message(role="user", content="x"))
    assert c.model_dump() == before


rankings = st.lists(st.one_of(st.none(), st.integers(0, 4)), min_size=2, max_size=8)


@settings(max_examples=200, deadline=None)
@given(rankings)
def test_property_all_is_every_differently_ranked_pair(ranking: list[int | None]) -> None:
    ranked = [r for r in ranking if r is not None]
    expected = sum(1 for a, b in itertools.combinations(ranked, 2) if a != b)
    pairs = comparison_pairs(comp(ranking), "all", "rank")
    assert len(pairs) == expected
    for p in pairs:
        ci, ri = (int(x) for x in p.id.split(":")[1].split(">"))
        assert ranking[ci] is not None and ranking[ri] is not None
        assert ranking[ci] < ranking[ri]  # chosen always ranked better
        assert p.margin == ranking[ri] - ranking[ci] > 0
        assert p.group_id == "g1"
    assert len({p.id for p in pairs}) == len(pairs)


@settings(max_examples=200, deadline=None)
@given(rankings, st.sampled_from(["best-vs-rest", "adjacent", "best-vs-worst"]))
def test_property_other_strategies_are_subsets_of_all(ranking, strategy) -> None:
    every = set(pair_indices(ranking, "all"))
    some = pair_indices(ranking, strategy)
    assert set(some) <= every
    assert len(set(some)) == len(some)
    levels = sorted({r for r in ranking if r is not None})
    if len(levels) >= 2:
        assert some
        n_best = ranking.count(levels[0])
        if strategy == "best-vs-worst":
            assert len(some) == n_best * ranking.count(levels[-1])
        if strategy == "best-vs-rest":
            assert len(some) == n_best * (len([r for r in ranking if r is not None]) - n_best)
    else:
        assert some == []


OASST_PAIRS = {"all": 754, "best-vs-rest": 429, "adjacent": 429, "best-vs-worst": 212}


@pytest.mark.parametrize("strategy", sorted(OASST_PAIRS))
def test_oasst_pairs_per_strategy(strategy: str) -> None:
    path = shared_file("oasst", "en_100_tree.jsonl")
    pytest.importorskip("dialogkit.formats.oasst")
    from dialogkit.api import iter_outcomes

    rep = PairReport()
    pairs = list(iter_pairs(iter_outcomes(path, "oasst"), strategy, "rank", rep))
    assert len(pairs) == OASST_PAIRS[strategy]
    assert rep.comparisons == 212
    assert rep.other_kinds == {"conversation": 687}
    assert rep.rejected == 0 and rep.without_pairs == 0
    assert all(p.margin is not None and p.margin > 0 for p in pairs)


def test_oasst_rank_direction_and_unranked_sibling() -> None:
    path = shared_file("oasst", "en_100_tree.jsonl")
    pytest.importorskip("dialogkit.formats.oasst")
    from dialogkit.api import read

    comps = [r for r in read(path, format="oasst") if r.kind == "comparison"]
    partial = [c for c in comps if None in c.ranking]
    assert len(partial) == 1 and sorted(partial[0].ranking, key=str) == [0, 1, 2, None]
    pairs = comparison_pairs(partial[0], "all")
    assert len(pairs) == 3
    by_text = {c.messages[0].content: r for c, r in zip(partial[0].candidates,
                                                          partial[0].ranking, strict=True)}
    for p in pairs:
        assert by_text[p.chosen[0].content] < by_text[p.rejected[0].content]
        assert p.group_id == partial[0].id
        assert p.metadata["message_tree_id"] == partial[0].metadata["message_tree_id"]


def test_oasst_pairs_round_trip_through_trl_preference(tmp_path) -> None:
    path = shared_file("oasst", "en_100_tree.jsonl")
    pytest.importorskip("dialogkit.formats.oasst")
    pytest.importorskip("dialogkit.formats.trl_preference")
    from dialogkit.api import iter_outcomes, read, write

    pairs = list(iter_pairs(iter_outcomes(path, "oasst"), "adjacent", "rank"))
    out = tmp_path / "pairs.jsonl"
    rep = write(pairs, out, format="trl-preference")
    assert rep.written == 429 and rep.rejected == 0
    back = list(read(out, format="trl-preference"))
    assert len(back) == 429
    for a, b in zip(pairs, back, strict=True):
        assert (b.prompt, b.chosen, b.rejected) == (a.prompt, a.chosen, a.rejected)
        assert (b.margin, b.group_id) == (a.margin, a.group_id)
    again = tmp_path / "again.jsonl"
    write(back, again, format="trl-preference")
    assert again.read_bytes() == out.read_bytes()
