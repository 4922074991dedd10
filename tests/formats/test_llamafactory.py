"""llamafactory: real DPO and KTO demo files, every layout, and the dataset_info.json entry."""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from dialogkit import api
from dialogkit.detect import detect_format
from dialogkit.errors import RecordError, UsageError
from dialogkit.io import read_rows
from dialogkit.models import PreferencePair, UnpairedExample
from tests.conftest import shared_file

DPO = ("preference_pairs", "dpo_en_demo_llamafactory_first180.json")
KTO = ("preference_pairs", "kto_en_demo_llamafactory_first300.json")


def _strip(records: Any) -> list[Any]:
    return [r.model_copy(update={"source": None}) for r in records]


def _info(path: Path) -> Any:
    return orjson.loads((path.parent / "dataset_info.json").read_bytes())


# -- real files -----------------------------------------------------------------------------------


def test_dpo_demo_records() -> None:
    recs = list(api.read(shared_file(*DPO)))
    assert len(recs) == 180 and all(isinstance(r, PreferencePair) for r in recs)
    assert recs[0].source.format == "llamafactory"
    assert recs[0].prompt[0].content == ("Hi! I'd like to create a new language game simulating "
                                         "the first person perspective of a character named "
                                         "Angela.")
    assert recs[0].chosen[0].content.startswith("That sounds like a fun and engaging idea! Here")
    assert recs[0].rejected[0].content.startswith("Hello! I'd be happy to help you create a")
    assert [m.role for m in recs[1].prompt] == ["system", "user"]
    assert recs[1].prompt[0].content.startswith("You are a teacher. Given a task, you explain in")
    assert Counter(len(r.prompt) for r in recs) == {1: 68, 2: 45, 5: 34, 7: 32, 9: 1}
    assert sum(r.prompt[0].role == "system" for r in recs) == 45
    assert all(r.metadata == {} for r in recs)


def test_kto_demo_records() -> None:
    recs = list(api.read(shared_file(*KTO)))
    assert len(recs) == 300 and all(isinstance(r, UnpairedExample) for r in recs)
    assert Counter(r.label for r in recs) == {True: 150, False: 150}
    first = recs[0]
    assert first.label is True
    assert first.prompt[0].content.startswith("The Federal Trade Commission is going after spyware")
    assert first.completion[0].content.startswith("Ooh ooh ah ah! *giggle* Let me think...")
    assert len(recs[21].prompt) == 11 and recs[21].label is False
    assert recs[21].completion[0].content.startswith("In step 7, we will implement the apply root")
    assert all(r.metadata == {"_llamafactory": "openai"} for r in recs)


@pytest.mark.parametrize("parts", [DPO, KTO])
def test_auto_detects_real_files(parts: tuple[str, str]) -> None:
    rows = [r.data for r in itertools.islice(read_rows(shared_file(*parts)), 20)]
    assert detect_format(rows).name == "llamafactory"


def test_dpo_roundtrip_and_dataset_info(tmp_path: Path) -> None:
    out = tmp_path / "dpo_demo.json"
    rep = api.convert(shared_file(*DPO), out, to="llamafactory")
    assert (rep.read, rep.written, rep.rejected) == (180, 180, 0)
    assert _strip(api.read(out)) == _strip(api.read(shared_file(*DPO)))
    # the sharegpt layout reproduces the demo rows exactly
    src = orjson.loads(shared_file(*DPO).read_bytes())
    assert orjson.loads(out.read_bytes()) == src
    assert (tmp_path / "dataset_info.json").read_text() == (
        '{\n'
        '  "dpo_demo": {\n'
        '    "file_name": "dpo_demo.json",\n'
        '    "formatting": "sharegpt",\n'
        '    "ranking": true,\n'
        '    "columns": {\n'
        '      "messages": "conversations",\n'
        '      "chosen": "chosen",\n'
        '      "rejected": "rejected"\n'
        '    }\n'
        '  }\n'
        '}\n'
    )


def test_kto_roundtrip_and_dataset_info(tmp_path: Path) -> None:
    out = tmp_path / "kto.jsonl"
    rep = api.convert(shared_file(*KTO), out, to="llamafactory")
    assert (rep.read, rep.written) == (300, 300)
    assert _strip(api.read(out)) == _strip(api.read(shared_file(*KTO)))
    first = orjson.loads(out.read_bytes().splitlines()[0])
    assert list(first) == ["messages", "label"]
    assert _info(out) == {"kto": {
        "file_name": "kto.jsonl", "formatting": "sharegpt",
        "columns": {"messages": "messages", "kto_tag": "label"},
        "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                 "assistant_tag": "assistant", "system_tag": "system"},
    }}


def test_kto_to_sharegpt_layout(tmp_path: Path) -> None:
    out = tmp_path / "kto_sharegpt.json"
    api.convert(shared_file(*KTO), out, to="llamafactory", llamafactory_layout="sharegpt")
    rows = orjson.loads(out.read_bytes())
    assert rows[0]["conversations"][-1]["from"] == "gpt" and rows[0]["kto_tag"] is True
    assert _info(out)["kto_sharegpt"] == {
        "file_name": "kto_sharegpt.json", "formatting": "sharegpt",
        "columns": {"messages": "conversations", "kto_tag": "kto_tag"}}
    back = list(api.read(out))
    assert Counter(r.label for r in back) == {True: 150, False: 150}
    assert [r.completion for r in back] == [r.completion for r in api.read(shared_file(*KTO))]


def test_dpo_to_trl_and_back(tmp_path: Path) -> None:
    trl = tmp_path / "dpo.jsonl"
    api.convert(shared_file(*DPO), trl, to="trl-preference")
    assert _strip(api.read(trl)) == _strip(api.read(shared_file(*DPO)))


# -- alpaca layout --------------------------------------------------------------------------------

ALPACA = {"instruction": "Translate", "input": "bonjour", "chosen": "hello", "rejected": "bye",
          "system": "You translate.", "history": [["Hi", "Hello!"]]}


def test_alpaca_preference_read() -> None:
    [rec] = api.read([ALPACA], format="auto")
    assert [(m.role, m.content) for m in rec.prompt] == [
        ("system", "You translate."), ("user", "Hi"), ("assistant", "Hello!"),
        ("user", "Translate\nbonjour")]
    assert rec.chosen[0].content == "hello" and rec.rejected[0].content == "bye"
    assert rec.metadata == {"_llamafactory": "alpaca"}


def test_alpaca_roundtrip_and_entry(tmp_path: Path) -> None:
    out = tmp_path / "alp.json"
    api.convert([ALPACA, {"instruction": "Add", "chosen": "4", "rejected": "5"}], out,
                from_="llamafactory", to="llamafactory")
    rows = orjson.loads(out.read_bytes())
    assert rows == [
        {"instruction": "Translate\nbonjour", "input": "", "chosen": "hello", "rejected": "bye",
         "system": "You translate.", "history": [["Hi", "Hello!"]]},
        {"instruction": "Add", "input": "", "chosen": "4", "rejected": "5"},
    ]
    assert _strip(api.read(out)) == _strip(api.read([ALPACA, {"instruction": "Add",
                                                              "chosen": "4", "rejected": "5"}],
                                                    format="llamafactory"))
    assert _info(out) == {"alp": {"file_name": "alp.json", "ranking": True, "columns": {
        "prompt": "instruction", "query": "input", "chosen": "chosen", "rejected": "rejected",
        "system": "system", "history": "history"}}}


def test_alpaca_kto(tmp_path: Path) -> None:
    row = {"instruction": "Say hi", "input": "", "output": "Hi", "kto_tag": False}
    [rec] = api.read([row], format="auto")
    assert isinstance(rec, UnpairedExample) and rec.label is False
    out = tmp_path / "k.json"
    api.convert([row], out, from_="llamafactory", to="llamafactory")
    assert orjson.loads(out.read_bytes()) == [row]
    assert _info(out)["k"]["columns"] == {"prompt": "instruction", "query": "input",
                                          "response": "output", "kto_tag": "kto_tag"}


# -- dataset_info.json merging ----------------------------------------------------------------


def test_dataset_info_is_merged(tmp_path: Path) -> None:
    info = tmp_path / "dataset_info.json"
    info.write_text('{"zeta": {"file_name": "z.json"}, "pairs": {"file_name": "old.json"}}')
    pair = {"conversations": [{"from": "human", "value": "q"}],
            "chosen": {"from": "gpt", "value": "a"}, "rejected": {"from": "gpt", "value": "b"}}
    api.convert([pair], tmp_path / "pairs.json", from_="llamafactory", to="llamafactory")
    merged = orjson.loads(info.read_bytes())
    assert list(merged) == ["zeta", "pairs"]
    assert merged["zeta"] == {"file_name": "z.json"}
    assert merged["pairs"]["file_name"] == "pairs.json"
    api.convert([pair], tmp_path / "more.json", from_="llamafactory", to="llamafactory",
                llamafactory_layout="openai")
    merged = orjson.loads(info.read_bytes())
    assert list(merged) == ["zeta", "pairs", "more"]
    assert merged["more"]["tags"]["role_tag"] == "role"
    info.write_text("[1]")
    with pytest.raises(UsageError, match="must hold a JSON object, got array$"):
        api.convert([pair], tmp_path / "x.json", from_="llamafactory", to="llamafactory")


# -- sharegpt details and errors --------------------------------------------------------------


def test_sharegpt_system_column_and_tools(tmp_path: Path) -> None:
    row = {"conversations": [{"from": "human", "value": "q"}],
           "chosen": {"from": "gpt", "value": "a"}, "rejected": {"from": "gpt", "value": "b"},
           "system": "Be nice.", "tools": "[]"}
    [rec] = api.read([row], format="llamafactory")
    assert [(m.role, m.content) for m in rec.prompt] == [("system", "Be nice."), ("user", "q")]
    assert rec.metadata == {"tools": "[]"}
    out = tmp_path / "t.json"
    rep = api.convert([row], out, from_="llamafactory", to="llamafactory")
    assert dict(rep.fields_dropped) == {}
    assert orjson.loads(out.read_bytes())[0] == {
        "conversations": [{"from": "system", "value": "Be nice."}, {"from": "human", "value": "q"}],
        "chosen": {"from": "gpt", "value": "a"}, "rejected": {"from": "gpt", "value": "b"},
        "tools": "[]"}
    assert _info(out)["t"]["columns"]["tools"] == "tools"


def test_function_call_turns() -> None:
    row = {"conversations": [
        {"from": "human", "value": "Land"},
        {"from": "function_call", "value": '{"name": "land", "arguments": {"at": "here"}}'},
        {"from": "observation", "value": "ok"}],
        "chosen": {"from": "gpt", "value": "Landed."}, "rejected": {"from": "gpt", "value": "No."}}
    [rec] = api.read([row], format="llamafactory")
    assert rec.prompt[1].tool_calls[0].name == "land"
    assert rec.prompt[1].tool_calls[0].arguments == '{"at":"here"}'
    assert rec.prompt[2].role == "tool"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"conversations": [{"from": "human", "value": "q"}], "chosen": {"from": "human",
          "value": "a"}, "rejected": {"from": "gpt", "value": "b"}},
         "Expected an assistant answer, got 'user' - at $.chosen.from"),
        ({"conversations": [{"from": "human", "value": "q"}], "chosen": "a",
          "rejected": {"from": "gpt", "value": "b"}},
         "Expected `object`, got `str` - at $.chosen"),
        ({"conversations": [{"from": "bot", "value": "q"}], "kto_tag": True},
         "Expected one of 'human', 'gpt', 'system', 'observation', 'function_call', got 'bot'"
         " - at $.conversations[0].from"),
        ({"conversations": [{"from": "human", "value": "q"}], "kto_tag": True},
         "Expected the last turn to be the assistant's answer, got 'user' - at "
         "$.conversations[0]"),
        ({"messages": [{"content": "q", "role": "user"}, {"content": "a", "role": "assistant"}],
          "label": "true"}, "Expected `bool`, got `str` - at $.label"),
        ({"instruction": "q", "chosen": "a", "rejected": "a"},
         "chosen and rejected are identical, so they carry no preference - at $"),
        ({"instruction": "q", "history": [["only one"]], "chosen": "a", "rejected": "b"},
         "Expected a [question, answer] pair of strings - at $.history[0]"),
    ],
)
def test_read_errors(row: dict[str, Any], message: str) -> None:
    with pytest.raises(RecordError) as info:
        list(api.read([row], format="llamafactory"))
    assert str(info.value) == f"{message} (<rows>:1, format=llamafactory)"


def test_write_errors(tmp_path: Path) -> None:
    def pair(prompt: list[dict[str, str]], **kw: Any) -> PreferencePair:
        return PreferencePair.model_validate({"prompt": prompt, "chosen": [
            {"role": "assistant", "content": "a"}], "rejected": [
            {"role": "assistant", "content": "b"}], **kw})

    ends_on_assistant = pair([{"role": "user", "content": "q"},
                              {"role": "assistant", "content": "x"}])
    with pytest.raises(RecordError) as info:
        api.write([ends_on_assistant], tmp_path / "a.json", format="llamafactory")
    assert info.value.reason == (
        "LLaMA-Factory needs prompt turns alternating user and assistant after an optional "
        "system turn and ending on a user turn, got [user, assistant]")
    ok = pair([{"role": "user", "content": "q"}], margin=1.0)
    kto = UnpairedExample.model_validate({"prompt": [{"role": "user", "content": "q"}],
                                          "completion": [{"role": "assistant", "content": "a"}],
                                          "label": True})
    with pytest.raises(RecordError) as info:
        api.write([ok, kto], tmp_path / "b.json", format="llamafactory")
    assert info.value.reason == ("a LLaMA-Factory file holds one kind of record; this one has "
                                 "preference records, not unpaired")
    rep = api.write([ok], tmp_path / "c.json", format="llamafactory")
    assert dict(rep.fields_dropped) == {"margin": 1}
    with pytest.raises(UsageError, match="^llamafactory_layout must be one of sharegpt, alpaca, "
                                         "openai, got 'xml'$"):
        api.write([ok], tmp_path / "d.json", format="llamafactory", llamafactory_layout="xml")


def test_media_placeholders_and_dataset_info_media_columns(tmp_path: Path) -> None:
    rows = [{"conversations": [{"from": "human", "value": "<image>Which one is sharper?"}],
             "chosen": {"from": "gpt", "value": "The left."},
             "rejected": {"from": "gpt", "value": "Both."}, "images": ["pics/a.jpg"]},
            {"conversations": [{"from": "human", "value": "<image><video>Same scene?"}],
             "chosen": {"from": "gpt", "value": "Yes."},
             "rejected": {"from": "gpt", "value": "No."},
             "images": ["pics/b.jpg"], "videos": ["clips/b.mp4"]}]
    src = tmp_path / "in.json"
    src.write_bytes(orjson.dumps(rows))
    recs = list(api.read(src))
    assert [p.path for p in recs[1].prompt[0].media] == [str(tmp_path / "pics" / "b.jpg"),
                                                         str(tmp_path / "clips" / "b.mp4")]
    out = tmp_path / "again.json"
    rep = api.convert(src, out, to="llamafactory")
    assert orjson.loads(out.read_bytes()) == rows
    assert rep.media == Counter({"image.read": 2, "image.written": 2, "video.read": 1,
                                 "video.written": 1})
    assert _info(out)["again"]["columns"] == {"messages": "conversations", "chosen": "chosen",
                                             "rejected": "rejected", "images": "images",
                                             "videos": "videos"}
    bad = [{**rows[0], "images": []}]
    with pytest.raises(RecordError, match="an <image> placeholder with no image"):
        list(api.read(bad, "llamafactory"))
