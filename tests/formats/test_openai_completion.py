"""openai-completion: markers stripped and added, single-turn rule, exact errors, real samples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

import dialogkit
from dialogkit.detect import detect_format
from dialogkit.errors import DetectionError, RecordError, UsageError
from dialogkit.models import Conversation, InstructionDemo, Message, TrainerDialogue, TrainerMessage
from dialogkit.registry import Options, WriteContext, get_format
from tests.conftest import shared_file

FMT = get_format("openai-completion")
DIR = "legacy_prompt_completion"
AG_NEWS = "t0_ag_news_classify_gpt3_finetune.jsonl"
ADV_QA = "t0_adversarial_qa_dbert_answer_the_following_q_first100.jsonl"
PREDICTIONS = "self_instruct_human_eval_text-davinci-003_predictions.jsonl"
MARKERS = {"prompt_separator": "\n\n###\n\n", "stop": " END"}


def opts(**extra: Any) -> Options:
    return Options(extra=extra)


def read_one(row: Any, options: Options | None = None) -> Conversation:
    (rec,) = list(FMT.read_row(row, options or Options()))
    return rec


def turns(conv: Conversation) -> list[tuple[str, str | None]]:
    return [(m.role, m.content) for m in conv.messages]


def error_of(row: Any, **kwargs: Any) -> str:
    with pytest.raises(RecordError) as info:
        list(dialogkit.read([row], format="openai-completion", **kwargs))
    return str(info.value)


def plain(records: list[Any]) -> list[dict[str, Any]]:
    return [r.model_dump(exclude={"source"}) for r in records]


def test_aliases() -> None:
    assert get_format("legacy") is FMT
    assert get_format("openai_completion") is FMT


def test_row_is_a_two_turn_conversation_text_kept_as_is() -> None:
    rec = read_one({"prompt": "Q: 2+2?\n", "completion": " 4<|endoftext|>"}, opts(stop=""))
    assert turns(rec) == [("user", "Q: 2+2?\n"), ("assistant", " 4<|endoftext|>")]
    assert rec.metadata == {}


def test_endoftext_stripped_by_default_and_counted(tmp_path: Path) -> None:
    """Issue 15 item 5: GPT-3's stop token is stripped on read unless ``stop=""``."""
    rows = [{"prompt": "Q: 2+2?\n", "completion": " 4<|endoftext|>"},
            {"prompt": "Q: 3+3?\n", "completion": " 6"}]
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    out, report = tmp_path / "out.jsonl", tmp_path / "r.json"
    rep = dialogkit.convert(src, out, to="openai", report=report)
    assert [m["messages"][1]["content"] for m in map(orjson.loads, out.read_bytes().splitlines())
            ] == [" 4", " 6"]
    what = "completion: trailing '<|endoftext|>' stripped (keep it with --option stop=)"
    assert dict(rep.changed) == {what: 1}
    assert orjson.loads(report.read_bytes())["changed"] == {what: 1}
    rep = dialogkit.convert(src, out, to="openai", stop="")
    assert dict(rep.changed) == {}
    assert b"4<|endoftext|>" in out.read_bytes()


def test_usual_markers_stripped_only_when_they_end_every_row() -> None:
    """Issue 15 item 5: OpenAI's ``\\n\\n###\\n\\n`` and `` END`` are stripped when every
    sampled row ends with them; one row without keeps all text as it is."""
    rows = [{"prompt": f"Q{i}\n\n###\n\n", "completion": f" A{i} END"} for i in range(3)]
    recs = list(dialogkit.read(rows, format="openai-completion"))
    assert [turns(r) for r in recs] == [[("user", f"Q{i}"), ("assistant", f" A{i}")]
                                        for i in range(3)]
    mixed = [*rows, {"prompt": "Q\n", "completion": " A"}]
    recs = list(dialogkit.read(mixed, format="openai-completion"))
    assert turns(recs[0]) == [("user", "Q0\n\n###\n\n"), ("assistant", " A0 END")]
    kept = list(dialogkit.read(rows, format="openai-completion", stop="", prompt_separator=""))
    assert turns(kept[0]) == [("user", "Q0\n\n###\n\n"), ("assistant", " A0 END")]


def test_markers_are_stripped_on_read_and_added_on_write() -> None:
    row = {"prompt": "Q: 2+2?\n\n###\n\n", "completion": " 4 END", "split": "train"}
    rec = read_one(row, opts(**MARKERS))
    assert turns(rec) == [("user", "Q: 2+2?"), ("assistant", " 4")]
    assert rec.metadata == {"split": "train"}
    assert FMT.write_record(rec, WriteContext(options=opts(**MARKERS))) == row


def test_missing_marker_is_an_error_unless_not_required() -> None:
    row = {"prompt": "Q", "completion": " 4 END"}
    assert error_of(row, **MARKERS) == (
        "prompt does not end with the prompt_separator '\\n\\n###\\n\\n' (set "
        "require_markers=False to accept such rows) - at $.prompt "
        "(<rows>:1, format=openai-completion)")
    assert error_of({"prompt": "Q", "completion": "4"}, stop="<|endoftext|>") == (
        "completion does not end with the stop '<|endoftext|>' (set require_markers=False "
        "to accept such rows) - at $.completion (<rows>:1, format=openai-completion)")
    rec = read_one(row, opts(require_markers=False, **MARKERS))
    assert turns(rec) == [("user", "Q"), ("assistant", " 4")]


def test_marker_option_must_be_a_string() -> None:
    with pytest.raises(UsageError, match=r"^stop must be a string, got int$"):
        read_one({"prompt": "p", "completion": "c"}, opts(stop=3))


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"prompt": "p"}, "missing required field `completion` - at $.completion"),
        ({"completion": "c"}, "missing required field `prompt` - at $.prompt"),
        ({"prompt": "p", "completion": 1}, "Expected `str`, got `int` - at $.completion"),
        ({"prompt": ["p"], "completion": "c"}, "Expected `str`, got `array` - at $.prompt"),
        ({"prompt": "p", "completion": ""},
         "empty turn (use --empty-turn drop or keep to accept it) - at $.completion"),
        ("p", "Expected `object`, got `str` - at $"),
    ],
)
def test_exact_errors(row: Any, message: str) -> None:
    assert error_of(row) == f"{message} (<rows>:1, format=openai-completion)"


def test_empty_prompt_kept_on_request() -> None:
    rec = read_one({"prompt": "", "completion": "c"}, Options(empty_turn="keep"))
    assert turns(rec) == [("user", ""), ("assistant", "c")]


# --- writing -------------------------------------------------------------------------------


def test_demo_is_joined_and_keeps_category_as_a_column() -> None:
    demo = InstructionDemo(id="d", prompt="Add", input="2 2", response="4", category="math")
    ctx = WriteContext(options=Options(join="\n", extra={"stop": "<|endoftext|>"}))
    assert FMT.write_record(demo, ctx) == {"prompt": "Add\n2 2", "completion": "4<|endoftext|>",
                                           "category": "math"}
    assert ctx.dropped == {"id": 1}


def test_trainer_dialogue() -> None:
    td = TrainerDialogue(messages=[TrainerMessage(role="user", content="u"),
                                   TrainerMessage(role="assistant", content="a")])
    assert FMT.write_record(td, WriteContext()) == {"prompt": "u", "completion": "a"}


def test_system_prompt_rejected_unless_system_join() -> None:
    conv = Conversation(messages=[Message(role="system", content="S"),
                                  Message(role="user", content="u"),
                                  Message(role="assistant", content="a")])
    with pytest.raises(RecordError) as info:
        FMT.write_record(conv, WriteContext())
    assert str(info.value) == (
        "format 'openai-completion' has no place for a system prompt (set system_join to put "
        "it before the prompt) - at $.messages[0]")
    joined = WriteContext(options=opts(system_join="\n\n"))
    assert FMT.write_record(conv, joined) == {"prompt": "S\n\nu", "completion": "a"}


def test_multi_turn_rejected() -> None:
    conv = Conversation(messages=[Message(role="user", content="u"),
                                  Message(role="assistant", content="a"),
                                  Message(role="user", content="v"),
                                  Message(role="assistant", content="b")])
    with pytest.raises(RecordError) as info:
        FMT.write_record(conv, WriteContext())
    assert str(info.value) == (
        "format 'openai-completion' holds one user turn and one assistant turn, got 2 of each "
        "- at $.messages")


def test_detect_scores() -> None:
    assert FMT.detect({"prompt": "p", "completion": "c"}) == 2
    assert FMT.detect({"prompt": "p", "completion": "c", "id": 1}) == 0
    assert FMT.detect({"prompt": [{"role": "user", "content": "p"}], "completion": "c"}) == 0
    assert FMT.detect({"prompt": "p", "instruction": "i", "input": "", "response": "r",
                       "target": "t"}) == 0


# --- real samples --------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "count"), [(AG_NEWS, 200), (ADV_QA, 100)])
def test_auto_detects_openai_completion(name: str, count: int) -> None:
    rep = dialogkit.validate(shared_file(DIR, name))
    assert (rep.format_in, rep.read, rep.written, rep.rejected) == (
        "openai-completion", count, count, 0)


@pytest.mark.parametrize("options", [{"stop": ""},
                                     {"stop": "<|endoftext|>", "prompt_separator": "\n"}])
@pytest.mark.parametrize(("name", "count"), [(AG_NEWS, 200), (ADV_QA, 100)])
def test_round_trip(name: str, count: int, options: dict[str, str], tmp_path: Path) -> None:
    path = shared_file(DIR, name)
    first = list(dialogkit.read(path, format="openai-completion", **options))
    out = tmp_path / "out.jsonl"
    rep = dialogkit.write(first, out, format="openai-completion", **options)
    assert (rep.written, rep.rejected, dict(rep.fields_dropped)) == (count, 0, {})
    second = list(dialogkit.read(out, format="openai-completion", **options))
    assert plain(second) == plain(first)
    originals = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert [orjson.loads(line) for line in out.read_bytes().splitlines()] == originals


def test_ag_news_values_with_markers_stripped() -> None:
    path = shared_file(DIR, AG_NEWS)
    recs = list(dialogkit.read(path, format="legacy", stop="<|endoftext|>",
                               prompt_separator="\n"))
    assert len(recs) == 200
    assert {r.messages[1].content for r in recs} >= {"Business"}
    assert turns(recs[1]) == [
        ("user", "Carlyle Looks Toward Commercial Aerospace (Reuters) Reuters - Private "
                 "investment firm Carlyle Group,\\which has a reputation for making well-timed "
                 "and occasionally\\controversial plays in the defense industry, has quietly "
                 "placed\\its bets on another part of the market. \nWhat label best describes "
                 "this news article?"),
        ("assistant", "Business"),
    ]


def test_adversarial_qa_last_line() -> None:
    recs = list(dialogkit.read(shared_file(DIR, ADV_QA), stop="<|endoftext|>"))
    assert len(recs) == 100
    last = recs[99]
    assert last.source is not None and last.source.line == 100
    assert last.messages[0].content is not None and last.messages[0].content.endswith(
        "Question: What is an interesting fact about the Cretaceious, or than chalk?\n")
    assert last.messages[1].content == "one-third of Earth's present land area was submerged"


def test_self_instruct_predictions_are_not_this_format() -> None:
    path = shared_file(DIR, PREDICTIONS)
    rows = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert [FMT.detect(r) for r in rows] == [0] * 252
    try:  # `auto` may pick another format (trl's prompt-only) or none, never this one
        picked = detect_format(rows).name
    except DetectionError:
        picked = None
    assert picked != "openai-completion"
    rep = dialogkit.validate(path, format="openai-completion")
    assert (rep.read, rep.written, rep.rejected) == (252, 0, 252)
    assert dict(rep.rejected_by_reason) == {"missing completion": 252}
    assert rep.first_errors[0] == (
        f"missing required field `completion` - at $.completion ({path}:1, "
        "format=openai-completion)")
