"""read / write / convert / validate on canonical records: counts add up, errors say where."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import dialogkit
from dialogkit.errors import DetectionError, RecordError, UnknownFormatError, UsageError

GOOD = {"kind": "conversation", "messages": [{"role": "user", "content": "日本 "},
                                             {"role": "assistant", "content": "ok"}]}
NO_ASSISTANT = {"kind": "conversation", "messages": [{"role": "user", "content": "x"}]}


def write_jsonl(path: Path, rows: list[object], bad_line: str | None = None) -> Path:
    lines = [json.dumps(r, ensure_ascii=False) for r in rows]
    if bad_line is not None:
        lines.insert(1, bad_line)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_read_yields_models_with_provenance(tmp_path: Path) -> None:
    p = write_jsonl(tmp_path / "in.jsonl", [GOOD, GOOD])
    recs = list(dialogkit.read(p))
    assert [r.kind for r in recs] == ["conversation", "conversation"]
    assert recs[1].source.model_dump() == {"file": str(p), "line": 2, "format": "dialogkit"}
    assert recs[0].messages[0].content == "日本 "


def test_read_raises_with_file_line_path_and_format(tmp_path: Path) -> None:
    p = write_jsonl(tmp_path / "in.jsonl", [GOOD, NO_ASSISTANT])
    with pytest.raises(RecordError) as info:
        list(dialogkit.read(p, format="dialogkit"))
    assert str(info.value) == (
        f"an SFT conversation needs at least one assistant turn - at $ ({p}:2, format=dialogkit)"
    )


def test_read_from_rows_and_skip() -> None:
    recs = list(dialogkit.read([GOOD, NO_ASSISTANT, GOOD], format="dialogkit", on_error="skip"))
    assert len(recs) == 2


def test_convert_counts_add_up_with_rejects_and_report(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", [GOOD, NO_ASSISTANT, GOOD], bad_line='{"kind": ')
    out, rej, rep = tmp_path / "out.jsonl", tmp_path / "rej.jsonl", tmp_path / "rep.json"
    report = dialogkit.convert(src, out, to="dialogkit", on_error="skip", rejects=rej, report=rep)
    assert (report.read, report.written, report.rejected) == (4, 2, 2)
    assert report.read == report.written + report.rejected
    doc = json.loads(rep.read_text())
    assert doc["read"] == 4 and doc["written"] == 2 and doc["rejected"] == 2
    assert doc["rejected_by_reason"] == {"invalid JSON": 1, "no_assistant_turn": 1}
    rejects = [json.loads(line) for line in rej.read_text().splitlines()]
    assert [r["line"] for r in rejects] == [2, 3]
    assert rejects[0]["raw"] == '{"kind": '
    assert rejects[1]["record"] == NO_ASSISTANT
    assert rejects[1]["reason"] == "an SFT conversation needs at least one assistant turn"


def test_convert_raise_leaves_no_output(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", [GOOD, NO_ASSISTANT])
    out = tmp_path / "out.jsonl"
    with pytest.raises(RecordError):
        dialogkit.convert(src, out, to="dialogkit")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]


def test_convert_is_deterministic(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", [GOOD, GOOD])
    dialogkit.convert(src, tmp_path / "a.jsonl", to="dialogkit")
    dialogkit.convert(src, tmp_path / "b.jsonl", to="dialogkit")
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()


def test_write_then_read_is_equal(tmp_path: Path) -> None:
    recs = list(dialogkit.read([GOOD], format="dialogkit"))
    rep = dialogkit.write(recs, tmp_path / "w.jsonl", format="dialogkit")
    assert rep.written == 1
    assert list(dialogkit.read(tmp_path / "w.jsonl")) == recs


def test_system_option_adds_a_system_prompt(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", [GOOD])
    dialogkit.convert(src, tmp_path / "o.jsonl", to="dialogkit", system="Be brief.")
    rec = next(dialogkit.read(tmp_path / "o.jsonl"))
    assert [(m.role, m.content) for m in rec.messages][0] == ("system", "Be brief.")


def test_unknown_format_suggests_the_closest() -> None:
    with pytest.raises(UnknownFormatError) as info:
        dialogkit.get_format("dialogkt")
    assert "Did you mean 'dialogkit'?" in str(info.value)
    assert str(info.value).startswith("Unknown format 'dialogkt'. Did you mean 'dialogkit'?")


def test_detection_error_shows_keys(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", [{"foo": 1, "bar": 2}])
    with pytest.raises(DetectionError) as info:
        list(dialogkit.read(src))
    assert str(info.value) == (
        f"{src}: no known format matches the first rows (keys seen: bar, foo); pass --from FORMAT"
    )
    assert info.value.keys == ["bar", "foo"]


def test_bad_option_values_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="empty_turn must be one of reject, drop, keep, got 'x'"):
        list(dialogkit.read([GOOD], format="dialogkit", empty_turn="x"))
    with pytest.raises(UsageError, match="on_error must be 'raise' or 'skip', got 'ignore'"):
        list(dialogkit.read([GOOD], on_error="ignore"))


def test_validate_counts(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", [GOOD, NO_ASSISTANT])
    rep = dialogkit.validate(src)
    assert (rep.read, rep.written, rep.rejected, rep.format_in) == (2, 1, 1, "dialogkit")


def test_detection_survives_a_few_bad_rows_and_rejects_them(tmp_path: Path) -> None:
    row = {"instruction": "Say hi", "input": "", "output": "Hi"}
    src = write_jsonl(tmp_path / "in.jsonl", [row, {"instruction": 3}, row, row],
                      bad_line="not json")
    rep = dialogkit.convert(src, tmp_path / "o.jsonl", to="openai", on_error="skip")
    assert (rep.format_in, rep.read, rep.written, rep.rejected) == ("alpaca", 5, 3, 2)
    assert rep.rejected_by_reason == {"invalid JSON": 1, "wrong type instruction": 1}


def test_detection_needs_half_the_rows(tmp_path: Path) -> None:
    row = {"instruction": "Say hi", "input": "", "output": "Hi"}
    src = write_jsonl(tmp_path / "in.jsonl", [row, {"x": 1}, {"y": 2}])
    with pytest.raises(DetectionError, match="no known format matches the first rows"):
        list(dialogkit.read(src))
