"""Ranked and K-candidate sources: ultrafeedback, summarize-feedback, shp, stack-exchange-paired,
best-of-n (rank direction, exact errors, the real samples)."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from dialogkit import api
from dialogkit.errors import RecordError
from dialogkit.models import Comparison, PreferencePair
from dialogkit.registry import Options, get_format
from tests.conftest import shared_file


def read_one(fmt: str, row: dict[str, Any], **extra: Any) -> Any:
    (rec,) = list(get_format(fmt).read_row(row, Options(extra=extra)))
    return rec


def error(fmt: str, row: dict[str, Any], **extra: Any) -> tuple[str, str | None]:
    with pytest.raises(RecordError) as exc:
        read_one(fmt, row, **extra)
    return exc.value.reason, exc.value.loc


def texts(comp: Comparison) -> list[str | None]:
    return [c.messages[0].content for c in comp.candidates]


# ---------------------------------------------------------------------------------- ultrafeedback


def completion(model: str, response: str, overall: float | None, **ratings: str) -> dict[str, Any]:
    return {
        "model": model, "principle": "helpfulness", "custom_system_prompt": "Be helpful.",
        "response": response,
        "annotations": {k.replace("_", "-"): {"Rating": v, "Rationale": "because"}
                        for k, v in ratings.items()},
        "fine-grained_score": 3.5, "overall_score": overall, "critique": "ok",
    }


UF = {
    "source": "evol_instruct",
    "instruction": "Name a prime.",
    "models": ["m1", "m2", "m3"],
    "completions": [
        completion("m1", "4", 2.0, helpfulness="1", honesty="3"),
        completion("m2", "7", 8.5, helpfulness="5", honesty="N/A"),
        completion("m3", "2", 8.5, helpfulness="4", honesty="4"),
    ],
}


def test_ultrafeedback_overall_score_ranks_higher_first() -> None:
    rec = read_one("ultrafeedback", UF)
    assert isinstance(rec, Comparison)
    assert [m.content for m in rec.context] == ["Name a prime."]
    assert texts(rec) == ["4", "7", "2"]
    assert [c.model for c in rec.candidates] == ["m1", "m2", "m3"]
    assert [c.score for c in rec.candidates] == [2.0, 8.5, 8.5]
    assert rec.ranking == [1, 0, 0]  # higher score = better = rank 0; equal scores tie
    assert rec.metadata["source"] == "evol_instruct"
    assert rec.metadata["models"] == ["m1", "m2", "m3"]
    assert rec.metadata["score_from"] == "overall"
    assert rec.metadata["completions"][0] == {
        "principle": "helpfulness", "custom_system_prompt": "Be helpful.",
        "annotations": UF["completions"][0]["annotations"], "fine-grained_score": 3.5,
        "overall_score": 2.0, "critique": "ok",
    }


def test_ultrafeedback_mean_and_aspect() -> None:
    rec = read_one("ultrafeedback", UF, ultrafeedback_score="mean")
    assert [c.score for c in rec.candidates] == [2.0, 5.0, 4.0]  # "N/A" is left out
    assert rec.ranking == [2, 0, 1]
    rec = read_one("ultrafeedback", UF, ultrafeedback_score="honesty")
    assert [c.score for c in rec.candidates] == [3.0, None, 4.0]
    assert rec.ranking == [1, None, 0]  # no rating: unranked


def test_ultrafeedback_errors() -> None:
    bad = copy.deepcopy(UF)
    bad["completions"][1]["annotations"]["helpfulness"]["Rating"] = "five"
    assert error("ultrafeedback", bad, ultrafeedback_score="helpfulness") == (
        "Expected a rating like \"3\" or \"N/A\", got 'five'",
        "$.completions[1].annotations.helpfulness.Rating",
    )
    assert error("ultrafeedback", UF, ultrafeedback_score="truthfulness") == (
        "missing required field `truthfulness`", "$.completions[0].annotations.truthfulness")
    bad = copy.deepcopy(UF)
    del bad["completions"][2]["response"]
    assert error("ultrafeedback", bad) == (
        "missing required field `response`", "$.completions[2].response")
    one = {**UF, "completions": UF["completions"][:1]}
    assert error("ultrafeedback", one) == (
        "a comparison needs at least 2 candidates, got 1", "$")


def test_ultrafeedback_without_scores_is_unranked() -> None:
    rows = copy.deepcopy(UF)
    for comp in rows["completions"]:
        comp["overall_score"] = None
    assert read_one("ultrafeedback", rows).ranking is None


# ----------------------------------------------------------------------------- summarize-feedback

SF = {
    "info": {"id": "t3_x", "post": "My post.", "title": "Help", "subreddit": "advice"},
    "summaries": [
        {"text": " first", "policy": "ref", "note": None},
        {"text": " second", "policy": "sup4", "note": "good"},
    ],
    "choice": 1, "worker": "w1", "batch": "batch9", "split": "train",
    "extra": {"confidence": 8},
}


def test_summarize_feedback_choice_is_rank_zero() -> None:
    rec = read_one("summarize-feedback", SF)
    assert rec.context[0].content == (
        "SUBREDDIT: r/advice\n\nTITLE: Help\n\nPOST: My post.\n\nTL;DR:")
    assert texts(rec) == [" first", " second"]
    assert [c.model for c in rec.candidates] == ["ref", "sup4"]
    assert rec.ranking == [1, 0]
    assert rec.labeler == "w1"
    assert rec.metadata == {
        "info": SF["info"], "batch": "batch9", "split": "train", "extra": {"confidence": 8},
        "summaries": [{"note": None}, {"note": "good"}],
    }


def test_summarize_feedback_article_and_errors() -> None:
    news = {**SF, "info": {"id": "a", "article": "Text.", "title": None, "site": "dm"}}
    assert read_one("summarize-feedback", news).context[0].content == "ARTICLE: Text.\n\nTL;DR:"
    assert error("summarize-feedback", {**SF, "choice": 2}) == (
        "choice 2 is not an index into the 2 summaries", "$.choice")
    assert error("summarize-feedback", {**SF, "info": {"id": "x"}}) == (
        "missing required field `post` (or `article`)", "$.info.post")
    assert error("summarize-feedback", {**SF, "choice": "1"}) == (
        "Expected `int`, got `str`", "$.choice")


def test_summarize_feedback_real_example() -> None:
    path = shared_file("summarize_from_feedback", "comparisons_readme_example.jsonl")
    fmts: list[str] = []
    (rec,) = list(api.read(path, on_format=lambda f: fmts.append(f.name)))
    assert fmts == ["summarize-feedback"]
    assert rec.ranking == [1, 0]
    assert [c.model for c in rec.candidates] == ["sup4_ppo_rm3_kl10", "ref"]
    assert texts(rec)[1].startswith(" we suspect other party involved of speeding")
    assert rec.context[0].content.startswith(
        "SUBREDDIT: r/legaladvice\n\nTITLE: Anybody with knowledge of the Dutch law around ?")
    assert rec.context[0].content.endswith("\n\nTL;DR:")
    assert rec.labeler == "ikNmucwunMnYJCQpnq6ZYb57OW7NiD"
    assert rec.metadata["info"]["id"] == "t3_2vwp1w"


# ------------------------------------------------------------------------------------------- shp

SHP = {
    "post_id": "himc90", "domain": "askculinary_train", "upvote_ratio": 0.99,
    "history": "How do I fix runny sauce?", "c_root_id_A": "fu9dazt", "c_root_id_B": "fu9ahtd",
    "created_at_utc_A": 1593536063, "created_at_utc_B": 1593533968, "score_A": 3, "score_B": 20,
    "human_ref_A": "Add flour.", "human_ref_B": "Reduce it longer.", "labels": 0,
    "seconds_difference": 2095.0, "score_ratio": 6.666666666666667,
}


def test_shp_labels_and_scores() -> None:
    rec = read_one("shp", SHP)
    assert rec.id == "himc90/fu9dazt/fu9ahtd"
    assert [m.content for m in rec.context] == ["How do I fix runny sauce?"]
    assert texts(rec) == ["Add flour.", "Reduce it longer."]
    assert [c.score for c in rec.candidates] == [3.0, 20.0]
    assert rec.ranking == [1, 0]  # labels 0: B preferred, and B has the higher score
    assert rec.metadata == {k: SHP[k] for k in (
        "post_id", "domain", "upvote_ratio", "c_root_id_A", "c_root_id_B", "created_at_utc_A",
        "created_at_utc_B", "seconds_difference", "score_ratio")}
    assert read_one("shp", {**SHP, "labels": 1, "score_A": 20, "score_B": 3}).ranking == [0, 1]
    assert error("shp", {**SHP, "labels": 2}) == (
        "Expected 0 or 1 (1 = A preferred), got 2", "$.labels")
    assert error("shp", {**SHP, "human_ref_A": None}) == (
        "missing required field `human_ref_A`", "$.human_ref_A")


# ------------------------------------------------------------------------- stack-exchange-paired


def test_stack_exchange_pair_and_group() -> None:
    row = {"qid": 42, "question": "Q?", "response_j": "good", "response_k": "bad",
           "date": "2020/01/01", "metadata": ["https://x"]}
    rec = read_one("stack-exchange-paired", row)
    assert isinstance(rec, PreferencePair)
    assert (rec.chosen[0].content, rec.rejected[0].content) == ("good", "bad")
    assert rec.group_id == "42"
    assert rec.metadata == {"qid": 42, "date": "2020/01/01", "metadata": ["https://x"]}
    assert error("stack-exchange-paired", {**row, "response_k": "good"}) == (
        "chosen and rejected are identical, so they carry no preference", "$")


def test_stack_exchange_real_sample() -> None:
    path = shared_file("preference_pairs", "stack_exchange_paired_tiny_torchtune.json")
    fmts: list[str] = []
    recs = list(api.read(path, on_format=lambda f: fmts.append(f.name)))
    assert fmts == ["stack-exchange-paired"]
    assert len(recs) == 25
    original = orjson.loads(path.read_bytes())
    for rec, row in zip(recs, original, strict=True):
        assert rec.prompt[0].content == row["question"]
        assert rec.chosen[0].content == row["response_j"]
        assert rec.rejected[0].content == row["response_k"]
        assert rec.group_id is None and rec.metadata == {}
    assert recs[0].chosen[0].content.startswith("The code you are showing does exactly one thing")


# ------------------------------------------------------------------------------------- best-of-n


def test_best_of_n_real_sample_is_unranked() -> None:
    path = shared_file("k_way_rankings", "alpaca_farm_multisamples_sft.json")
    fmts: list[str] = []
    recs = list(api.read(path, on_format=lambda f: fmts.append(f.name)))
    assert fmts == ["best-of-n"]
    assert len(recs) == 8
    assert all(r.ranking is None and len(r.candidates) == 4 for r in recs)
    first = recs[0].context[0].content
    assert first == "Describe a time when you had to make a difficult decision."
    assert recs[2].context[0].content == "Identify the odd one out.\n\nTwitter, Instagram, Telegram"
    assert texts(recs[2])[1] == "Twitter is the odd one out."


def test_alpaca_farm_pairs_to_annotate_are_unranked_comparisons() -> None:
    path = shared_file("preference_pairs", "alpaca_farm_outputs_pairs.json")
    fmts: list[str] = []
    recs = list(api.read(path, on_format=lambda f: fmts.append(f.name)))
    assert fmts == ["best-of-n"]
    assert len(recs) == 6
    assert all(r.ranking is None and len(r.candidates) == 2 for r in recs)
    assert texts(recs[0]) == [
        "If you have questions about my rate or need to modify the scope of this project, "
        "please let me know.",
        "Let me know if you have questions about my rate or need to adjust the project scope."]


def test_alpaca_farm_preference_ranks_the_preferred_output() -> None:
    row = {"instruction": "i", "input": "", "output_2": "b", "output_1": "a", "preference": 2}
    (rec,) = api.read([row], format="best-of-n")
    assert [c.messages[0].content for c in rec.candidates] == ["a", "b"]
    assert rec.ranking == [1, 0]
    assert error("best-of-n", {**row, "preference": 3}) == (
        "Expected the number of a preferred output (1..2) or 0, got 3", "$.preference")


def test_best_of_n_errors() -> None:
    assert error("best-of-n", {"instruction": "x", "output": ["a", 3]}) == (
        "Expected `str`, got `int`", "$.output[1]")
    assert error("best-of-n", {"instruction": "x", "output": "a"}) == (
        "Expected `array`, got `str`", "$.output")


@pytest.mark.parametrize(
    ("row", "name"),
    [(UF, "ultrafeedback"), (SF, "summarize-feedback"), (SHP, "shp"),
     ({"question": "q", "response_j": "a", "response_k": "b"}, "stack-exchange-paired"),
     ({"instruction": "i", "input": "", "output": ["a", "b"]}, "best-of-n")],
)
def test_detection_picks_exactly_one(row: dict[str, Any], name: str) -> None:
    fmts: list[str] = []
    list(api.read([row], on_format=lambda f: fmts.append(f.name)))
    assert fmts == [name]
