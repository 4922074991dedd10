"""hh-rlhf: transcript parsing rules, exact rejects on the real sample, byte-exact write-back."""

from __future__ import annotations

import gzip

import orjson
import pytest

from dialogkit import api
from dialogkit.errors import RecordError
from dialogkit.models import Message, PreferencePair
from dialogkit.registry import Options, Reject, WriteContext, get_format
from tests.conftest import shared_file

FMT = get_format("hh-rlhf")
KEEP = Options(consecutive="keep", empty_turn="keep")


def read_one(row: dict, opts: Options | None = None) -> PreferencePair:
    (rec,) = list(FMT.read_row(row, opts or Options()))
    return rec


def msgs(*pairs: tuple[str, str]) -> list[Message]:
    return [Message(role=r, content=c) for r, c in pairs]


def test_basic_pair_shares_prompt_and_keeps_spaces() -> None:
    row = {
        "chosen": "\n\nHuman: Hi  there\n\nAssistant:  Hello.",
        "rejected": "\n\nHuman: Hi  there\n\nAssistant: Go away",
    }
    rec = read_one(row)
    assert rec.prompt == msgs(("user", "Hi  there"))
    assert rec.chosen == msgs(("assistant", " Hello."))  # the second space is content
    assert rec.rejected == msgs(("assistant", "Go away"))
    assert rec.metadata == {}
    assert FMT.write_record(rec, WriteContext()) == row


def test_inline_tags_stay_in_the_turn() -> None:
    row = {
        "chosen": "\n\nHuman: a\n\nAssistant: Sure. Human: no Assistant: yes",
        "rejected": "\n\nHuman: a\n\nAssistant: No",
    }
    rec = read_one(row)
    assert rec.chosen == msgs(("assistant", "Sure. Human: no Assistant: yes"))


def test_multi_turn_prompt_and_extra_keys_to_metadata() -> None:
    row = {
        "chosen": "\n\nHuman: a\n\nAssistant: b\n\nHuman: c\n\nAssistant: d",
        "rejected": "\n\nHuman: a\n\nAssistant: b\n\nHuman: c\n\nAssistant: e",
        "split": "test",
    }
    rec = read_one(row)
    assert rec.prompt == msgs(("user", "a"), ("assistant", "b"), ("user", "c"))
    assert rec.metadata == {"split": "test"}
    assert FMT.write_record(rec, WriteContext()) == row


CONSEC = {
    "chosen": "\n\nHuman: q\n\nAssistant: one\n\nAssistant:  two",
    "rejected": "\n\nHuman: q\n\nAssistant: other",
}


def test_consecutive_rejected_by_default() -> None:
    with pytest.raises(RecordError) as exc:
        read_one(CONSEC)
    assert exc.value.reason == (
        "two Assistant turns in a row (turns 2 and 3 of chosen; use --consecutive merge or keep)"
    )
    assert exc.value.loc == "$.chosen"


def test_consecutive_keep_gives_a_two_turn_completion_and_writes_back() -> None:
    rec = read_one(CONSEC, KEEP)
    assert rec.prompt == msgs(("user", "q"))
    assert rec.chosen == msgs(("assistant", "one"), ("assistant", " two"))
    assert rec.rejected == msgs(("assistant", "other"))
    assert FMT.write_record(rec, WriteContext()) == CONSEC


def test_consecutive_merge() -> None:
    rec = read_one(CONSEC, Options(consecutive="merge"))
    assert rec.chosen == msgs(("assistant", "one\n\n two"))


EMPTY = {"chosen": "\n\nHuman: q\n\nAssistant: ", "rejected": "\n\nHuman: q\n\nAssistant: x"}


def test_empty_final_turn_policies() -> None:
    with pytest.raises(RecordError) as exc:
        read_one(EMPTY)
    assert exc.value.reason == EMPTY_FINAL.format(2)
    rec = read_one(EMPTY, Options(empty_turn="keep"))
    assert rec.chosen == msgs(("assistant", ""))
    assert FMT.write_record(rec, WriteContext()) == EMPTY
    with pytest.raises(RecordError) as exc:
        read_one(EMPTY, Options(empty_turn="drop"))
    assert exc.value.reason == "chosen does not end with an Assistant turn"


@pytest.mark.parametrize(
    ("row", "reason", "loc"),
    [
        (
            {"chosen": "\n\nHuman: a\n\nAssistant: b", "rejected": "\n\nHuman: a\n\nAssistant: b"},
            "chosen and rejected are identical, so they carry no preference",
            "$",
        ),
        (
            {"chosen": "\n\nHuman: a\n\nAssistant: b", "rejected": "\n\nHuman: z\n\nAssistant: b"},
            "chosen and rejected have different prompts (first difference at turn 1)",
            "$",
        ),
        (
            {"chosen": "Human: a\n\nAssistant: b", "rejected": "\n\nHuman: a\n\nAssistant: c"},
            'text before the first turn tag (a transcript starts with "\\n\\nHuman: ")',
            "$.chosen",
        ),
        (
            {"chosen": "\n\nHuman: a\n\nAssistant: b", "rejected": "\n\nHuman: a"},
            "rejected does not end with an Assistant turn",
            "$.rejected",
        ),
        (
            {"chosen": "\n\nAssistant: b", "rejected": "\n\nAssistant: c"},
            "chosen has no Human turn before its final Assistant turn",
            "$.chosen",
        ),
        ({"chosen": "\n\nHuman: a\n\nAssistant: b"}, "missing required field `rejected`",
         "$.rejected"),
        ({"chosen": 3, "rejected": "x"}, "Expected `str`, got `int`", "$.chosen"),
    ],
)
def test_bad_rows(row: dict, reason: str, loc: str) -> None:
    with pytest.raises(RecordError) as exc:
        read_one(row)
    assert exc.value.reason == reason
    assert exc.value.loc == loc


def test_writer_refuses_what_would_not_read_back() -> None:
    ctx = WriteContext()
    base = {"prompt": msgs(("user", "q")), "chosen": msgs(("assistant", "a")),
            "rejected": msgs(("assistant", "b"))}
    cases = [
        ({**base, "prompt": msgs(("system", "s"), ("user", "q"))}, "$.prompt[0]",
         "hh-rlhf transcripts have only Human and Assistant turns, got a system message"),
        ({**base, "prompt": msgs(("user", "q"), ("assistant", "x"))}, "$.prompt[1]",
         "hh-rlhf needs the prompt to end with a Human turn, got assistant"),
        ({**base, "chosen": msgs(("assistant", "a"), ("user", "more"))}, "$.chosen[1]",
         "hh-rlhf completions are Assistant turns only, got a user message"),
        ({**base, "rejected": msgs(("assistant", "b\n\nHuman: sneaky"))}, "$.rejected[0].content",
         "content contains a \\n\\nHuman: or \\n\\nAssistant: tag, so it would not read back as "
         "one turn"),
    ]
    for data, loc, reason in cases:
        with pytest.raises(RecordError) as exc:
            FMT.write_record(PreferencePair(**data), ctx)
        assert (exc.value.loc, exc.value.reason) == (loc, reason)


def test_writer_tallies_dropped_fields() -> None:
    ctx = WriteContext()
    rec = PreferencePair(prompt=msgs(("user", "q")), chosen=msgs(("assistant", "a")),
                         rejected=msgs(("assistant", "b")), margin=1.0, group_id="g")
    assert FMT.write_record(rec, ctx) == {"chosen": "\n\nHuman: q\n\nAssistant: a",
                                          "rejected": "\n\nHuman: q\n\nAssistant: b"}
    assert dict(ctx.dropped) == {"margin": 1, "group_id": 1}


# ------------------------------------------------------------------ the real sample (282 records)

EMPTY_FINAL = "empty final Assistant turn in chosen (turn {}; use --empty-turn drop or keep)"
TWO_IN_A_ROW = (
    "two Assistant turns in a row (turns {} and {} of {}; use --consecutive merge or keep)"
)
SAMPLE_REJECTS = [
    (87, EMPTY_FINAL.format(4)),
    (271, EMPTY_FINAL.format(2)),
    (272, TWO_IN_A_ROW.format(4, 5, "chosen")),
    (273, TWO_IN_A_ROW.format(2, 3, "chosen")),
    (274, EMPTY_FINAL.format(2)),
    (275, EMPTY_FINAL.format(2)),
    (276, TWO_IN_A_ROW.format(4, 5, "chosen")),
    (277, TWO_IN_A_ROW.format(8, 9, "chosen")),
    (278, TWO_IN_A_ROW.format(4, 5, "chosen")),
    (279, TWO_IN_A_ROW.format(4, 5, "chosen")),
    (280, TWO_IN_A_ROW.format(2, 3, "rejected")),
    (281, TWO_IN_A_ROW.format(4, 5, "chosen")),
    (282, TWO_IN_A_ROW.format(10, 11, "chosen")),
]


def _sample() -> str:
    return str(shared_file("hh_rlhf", "harmless-base_test_sample300.jsonl.gz"))


def _outcomes(**kwargs: object) -> tuple[list[PreferencePair], list[tuple[int | None, str]]]:
    out = list(api.iter_outcomes(_sample(), "auto", **kwargs))
    recs = [o for o in out if not isinstance(o, Reject)]
    rejects = [(o.error.line, o.error.reason) for o in out if isinstance(o, Reject)]
    return recs, rejects


def test_real_sample_default_policies() -> None:
    recs, rejects = _outcomes()
    assert len(recs) == 269
    assert rejects == SAMPLE_REJECTS
    first = recs[0]
    assert first.source is not None and (first.source.line, first.source.format) == (1, "hh-rlhf")
    assert first.prompt[0].content.startswith("what are some pranks with a pen i can do?")


def test_real_sample_merge_and_drop() -> None:
    recs, rejects = _outcomes(consecutive="merge")
    assert len(recs) == 278
    assert [line for line, _ in rejects] == [87, 271, 274, 275]
    recs, rejects = _outcomes(consecutive="keep", empty_turn="drop")
    assert len(recs) == 278
    assert {reason for _, reason in rejects} == {"chosen does not end with an Assistant turn"}


def test_real_sample_writes_back_the_original_strings() -> None:
    recs, rejects = _outcomes(consecutive="keep", empty_turn="keep")
    assert (len(recs), rejects) == (282, [])
    with gzip.open(_sample(), "rb") as f:
        originals = [orjson.loads(line) for line in f]
    ctx = WriteContext(options=KEEP)
    multi = 0
    for rec, original in zip(recs, originals, strict=True):
        written = FMT.write_record(rec, ctx)
        assert written == original
        assert read_one(written, KEEP) == rec.model_copy(update={"source": None})
        multi += len(rec.chosen) > 1 or len(rec.rejected) > 1
    assert multi == 5  # answers made of two Assistant turns in a row (lines 276, 278, 280-282)
