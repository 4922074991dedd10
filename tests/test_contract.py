"""The contract every registered format keeps, run over all of them with one small sample each.

A format detects its own sample (``auto`` picks it), ``read -> write -> read`` is equal, and
``write`` is deterministic. A new format must add a sample here, or this test fails.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

import dialogkit
from dialogkit.detect import detect_format
from dialogkit.registry import WriteContext, all_formats, get_format

U = {"role": "user", "content": "日本の首都は？"}
A = {"role": "assistant", "content": "東京です。"}
B = {"role": "assistant", "content": "大阪です。"}

SAMPLES: dict[str, list[dict[str, Any]]] = {
    "dialogkit": [{"kind": "conversation", "messages": [U, A]},
                  {"kind": "prompt", "prompt": [U]}],
    "alpaca": [{"instruction": "Translate", "input": "猫", "output": "cat"},
               {"instruction": "Say hi", "input": "", "output": "Hi "}],
    "alpaca-text": [{"text": "以下は、タスクを説明する指示です。"
                             "要求を適切に満たす応答を書きなさい。"
                             "\n\n### 指示:\n日本の首都は？\n\n### 応答:\n東京"}],
    "dolly": [{"instruction": "Q?", "context": "", "response": "A.", "category": "open_qa"}],
    "openai": [{"messages": [{"role": "system", "content": "Be kind."}, U, A]},
               {"messages": [U, {"role": "assistant", "tool_calls": [
                   {"id": "c1", "type": "function",
                    "function": {"name": "f", "arguments": "{\"x\": 1}"}}]},
                   {"role": "tool", "tool_call_id": "c1", "content": "2"}, A]}],
    "sharegpt": [{"id": "s1", "conversations": [{"from": "human", "value": "hi"},
                                                {"from": "gpt", "value": "hello"}]}],
    "openai-completion": [{"prompt": "2+2=", "completion": " 4"}],
    "trl": [{"prompt": [U], "completion": [A]}],
    "hh-rlhf": [{"chosen": "\n\nHuman: Hi\n\nAssistant: Hello!",
                 "rejected": "\n\nHuman: Hi\n\nAssistant: Go away."}],
    "oasst": [{"message_tree_id": "t1", "tree_state": "ready_for_export", "prompt": {
        "message_id": "t1", "text": "Hi", "role": "prompter", "lang": "en", "replies": [
            {"message_id": "a1", "parent_id": "t1", "text": "Hello", "role": "assistant",
             "rank": 0},
            {"message_id": "a2", "parent_id": "t1", "text": "Yo", "role": "assistant",
             "rank": 1}]}}],
    "ultrafeedback": [{"source": "s", "instruction": "Q?", "models": ["m1", "m2"],
                       "completions": [
                           {"model": "m1", "response": "A", "overall_score": 7.0,
                            "annotations": {}},
                           {"model": "m2", "response": "B", "overall_score": 3.0,
                            "annotations": {}}]}],
    "summarize-feedback": [{"info": {"id": "t3_x", "post": "P", "title": "T",
                                     "subreddit": "s"},
                            "summaries": [{"text": " a", "policy": "ref", "note": None},
                                          {"text": " b", "policy": "sup", "note": None}],
                            "choice": 0, "worker": "w", "batch": "b", "split": "train",
                            "extra": {}}],
    "shp": [{"post_id": "p", "domain": "d", "upvote_ratio": 0.9, "history": "Q?",
             "c_root_id_A": "a", "c_root_id_B": "b", "created_at_utc_A": 1,
             "created_at_utc_B": 2, "score_A": 10, "score_B": 2, "human_ref_A": "A",
             "human_ref_B": "B", "labels": 1, "seconds_difference": 1.0, "score_ratio": 5.0}],
    "stack-exchange-paired": [{"question": "Q?", "response_j": "good", "response_k": "bad"}],
    "best-of-n": [{"instruction": "Write", "input": "", "output": ["a", "b", "c"]}],
    "openai-preference": [{"input": {"messages": [U]}, "preferred_output": [A],
                           "non_preferred_output": [B]}],
    "trl-preference": [{"prompt": [U], "chosen": [A], "rejected": [B]}],
    "trl-unpaired": [{"prompt": [U], "completion": [A], "label": True}],
    "trl-prompt": [{"prompt": [U]}, {"prompt": [U], "solution": "東京", "task": "geo"}],
    "gsm8k": [{"question": "リンゴが3個と4個。全部で？", "answer": "3 + 4 = <<3+4=7>>7\n#### 7"}],
    "math": [{"problem": "What is $1+1$?", "solution": "$1+1=\\boxed{2}$.", "level": "Level 1",
              "type": "Prealgebra"}],
    "verl": [{"data_source": "openai/gsm8k", "prompt": [U], "ability": "math",
              "reward_model": {"style": "rule", "ground_truth": "7"},
              "extra_info": {"split": "train", "index": 0, "worked_solution": "#### 7"}}],
    "openrlhf": [{"input": [U], "label": "東京"}],
    "llamafactory": [{"conversations": [{"from": "human", "value": "Q"}],
                      "chosen": {"from": "gpt", "value": "good"},
                      "rejected": {"from": "gpt", "value": "bad"}}],
    "llamafactory-v1": [
        {"messages": [{"role": "user", "content": [{"type": "text", "value": "日本の首都は？"}],
                       "loss_weight": 0.0},
                      {"role": "assistant", "content": [
                          {"type": "reasoning", "value": "首都…"},
                          {"type": "text", "value": "東京です。"}], "loss_weight": 1.0}]},
        {"chosen_messages": [{"role": "user", "content": [{"type": "text", "value": "Q"}]},
                             {"role": "assistant", "content": [{"type": "text", "value": "a"}]}],
         "rejected_messages": [{"role": "user", "content": [{"type": "text", "value": "Q"}]},
                               {"role": "assistant", "content": [{"type": "text", "value": "b"}]}
                               ]}],
}

FORMATS = [f.name for f in all_formats()]


def test_every_format_has_a_sample() -> None:
    assert sorted(SAMPLES) == sorted(FORMATS)


@pytest.mark.parametrize("name", FORMATS)
def test_auto_detects_its_own_sample(name: str) -> None:
    assert detect_format(SAMPLES[name]).name == name


@pytest.mark.parametrize("name", FORMATS)
def test_sample_reads_without_rejects(name: str) -> None:
    fmt = get_format(name)
    recs = list(dialogkit.read(SAMPLES[name], format=name))
    assert recs
    assert {r.kind for r in recs} <= set(fmt.reads)


def _strip(recs: list[Any]) -> list[Any]:
    return [r.model_copy(update={"source": None}) for r in recs]


@pytest.mark.parametrize("name", [f.name for f in all_formats() if f.writes and f.reads])
def test_read_write_read_is_equal_and_write_is_deterministic(name: str, tmp_path: Path) -> None:
    recs = list(dialogkit.read(SAMPLES[name], format=name))
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    ra = dialogkit.write(recs, a, format=name)
    dialogkit.write(recs, b, format=name)
    assert ra.written == len(recs) and ra.rejected == 0
    assert a.read_bytes() == b.read_bytes()
    assert _strip(list(dialogkit.read(a, format=name))) == _strip(recs)
    assert b"\\u" not in a.read_bytes()  # non-ASCII is written as is, never \u-escaped


@pytest.mark.parametrize("name", [f.name for f in all_formats() if f.writes])
def test_writer_refuses_kinds_it_cannot_hold_with_a_reason(name: str) -> None:
    fmt = get_format(name)
    others = [k for k in ("comparison", "prompt", "unpaired") if k not in fmt.writes]
    samples = {
        "comparison": {"kind": "comparison", "context": [U],
                       "candidates": [{"messages": [A]}, {"messages": [B]}]},
        "prompt": {"kind": "prompt", "prompt": [U]},
        "unpaired": {"kind": "unpaired", "prompt": [U], "completion": [A], "label": False},
    }
    for kind in others:
        rec = next(dialogkit.read([samples[kind]], format="dialogkit"))
        out = list(fmt.write([rec], WriteContext()))
        assert len(out) == 1
        reject = out[0]
        assert reject.error.rule in ("kind not writable", "kind not writable here") or \
            kind in reject.error.reason, (name, kind, str(reject.error))


def test_samples_are_json() -> None:
    for rows in SAMPLES.values():
        for row in rows:
            assert orjson.loads(orjson.dumps(row)) == row
