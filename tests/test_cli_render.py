"""The render and check-template commands: flags, outputs, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from dialogkit.cli import app
from tests.conftest import shared_file

runner = CliRunner()

ROWS = [
    {"kind": "conversation", "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
    ]},
    {"kind": "conversation", "messages": [
        {"role": "user", "content": "日本の首都は？"},
        {"role": "assistant", "content": "東京です。"},
    ]},
]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ROWS),
                    encoding="utf-8")
    return path


def _t(name: str) -> str:
    return str(shared_file("chat_templates", *name.split("/")))


def _tok() -> str:
    return str(shared_file("chat_templates", "tokenizers", "phi-3-mini"))


def _params(name: str) -> set[str]:
    cmd = typer.main.get_command(app).commands[name]  # type: ignore[attr-defined]
    return {opt for p in cmd.params for opt in p.opts}


def test_flags_are_exactly_the_issues() -> None:
    assert _params("render") == {
        "INPUT", "OUTPUT", "--template", "--tokenizer", "--add-generation-prompt",
        "--max-tokens", "--on-error",
    } - {"INPUT", "OUTPUT"} | {"input", "output"}
    assert _params("check-template") == {
        "input", "--template", "--tokenizer", "--max-tokens",
    }


def test_render_jsonl_with_tokenizer(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    res = runner.invoke(app, ["render", str(data), str(out), "--template",
                              _t("generation/trl-phi3_training.jinja"), "--tokenizer", _tok()])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 2
    assert rows[1]["text"] == (
        "<|user|>\n日本の首都は？<|end|>\n<|assistant|>\n東京です。<|end|>\n<|endoftext|>"
    )
    assert rows[0]["length"] == 15
    assert rows[0]["assistant_masks"] == [0] * 11 + [1] * 4
    assert "read 2, written 2, rejected 0" in res.stderr


def test_render_parquet_and_generation_prompt(data: Path, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    out = tmp_path / "out.parquet"
    res = runner.invoke(app, ["render", str(data), str(out), "--template", _t("chatml.jinja"),
                              "--add-generation-prompt"])
    assert res.exit_code == 0, res.output
    table = pq.read_table(out)
    assert table.column_names == ["text"]
    assert table.column("text")[1].as_py() == (
        "<|im_start|>user\n日本の首都は？<|im_end|>\n<|im_start|>assistant\n東京です。<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_render_refusal_raise_and_skip(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    args = ["render", str(data), str(out), "--template", _t("gemma-2-it.jinja")]
    res = runner.invoke(app, args)
    assert res.exit_code == 1
    assert res.stderr.startswith("Error: System role not supported (")
    assert not out.exists()
    res = runner.invoke(app, [*args, "--on-error", "skip"])
    assert res.exit_code == 0
    assert "read 2, written 1, rejected 1" in res.stderr
    assert "rejected 1: template refused: System role not supported" in res.stderr
    assert len(out.read_text(encoding="utf-8").splitlines()) == 1


def test_render_usage_errors(data: Path, tmp_path: Path) -> None:
    out = str(tmp_path / "o.jsonl")
    res = runner.invoke(app, ["render", str(data), out, "--template", _t("chatml.jinja"),
                              "--max-tokens", "5"])
    assert (res.exit_code, res.stderr) == (2, "Error: --max-tokens needs --tokenizer\n")
    res = runner.invoke(app, ["render", str(data), out, "--template", str(tmp_path / "no.jinja")])
    assert res.exit_code == 2
    assert "No such template" in res.stderr


def test_render_hostile_template(data: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jinja"
    bad.write_text("{{ ''.__class__.__mro__ }}")
    res = runner.invoke(app, ["render", str(data), str(tmp_path / "o.jsonl"), "--template",
                              str(bad), "--on-error", "skip"])
    assert res.exit_code == 1
    assert res.stderr == (
        "Error: chat template reached for Python internals: access to attribute '__class__' of "
        "'str' object is unsafe\n"
    )


def test_check_template_damage(data: Path) -> None:
    res = runner.invoke(app, ["check-template", str(data), "--template",
                              _t("mistral-7b-instruct-v0.3.jinja"), "--tokenizer", _tok(),
                              "--max-tokens", "10"])
    assert res.exit_code == 1
    assert f"{data}: 2 records, 2 refused or damaged" in res.stdout
    assert "system prompt dropped" in res.stdout
    assert "messages[0] (system): You are terse." in res.stdout
    assert "too long" in res.stdout


def test_check_template_clean(data: Path) -> None:
    res = runner.invoke(app, ["check-template", str(data), "--template",
                              _t("generation/trl-llama3_training.jinja"), "--tokenizer", _tok()])
    assert res.exit_code == 0, res.output
    assert f"{data}: 2 records, 0 refused or damaged" in res.stdout
