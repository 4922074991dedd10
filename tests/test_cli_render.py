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
        "--max-tokens", "--on-error", "--bos-token", "--eos-token", "--max-template-chars",
    } - {"INPUT", "OUTPUT"} | {"input", "output"}
    assert _params("check-template") == {
        "input", "--template", "--tokenizer", "--max-tokens", "--bos-token", "--eos-token",
        "--max-template-chars",
    }


def test_max_template_chars_default_is_the_librarys() -> None:
    from dialogkit.templates.sandbox import DEFAULT_MAX_TEMPLATE_CHARS

    for name in ("render", "check-template"):
        cmd = typer.main.get_command(app).commands[name]  # type: ignore[attr-defined]
        (opt,) = [p for p in cmd.params if "--max-template-chars" in p.opts]
        assert opt.default == DEFAULT_MAX_TEMPLATE_CHARS


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


MISTRAL_HINT = (
    "the template failed: UndefinedError: 'eos_token' is undefined (the template needs "
    "eos_token: pass --eos-token / special_tokens={'eos_token': ...}, a --tokenizer, or put the "
    "model's tokenizer_config.json beside the template)"
)


def test_a_template_needing_eos_token_says_how_to_give_it(data: Path, tmp_path: Path) -> None:
    tpl = _t("mistral-7b-instruct-v0.1.jinja")
    res = runner.invoke(app, ["render", str(data), str(tmp_path / "o.jsonl"), "--template", tpl,
                              "--on-error", "skip"])
    assert res.exit_code == 0, res.output
    assert "rejected 1: template failed: UndefinedError" in res.stderr
    res = runner.invoke(app, ["render", "-", "-", "--template", tpl],
                        input=json.dumps(ROWS[1], ensure_ascii=False) + "\n")
    assert res.exit_code == 1
    assert res.stderr.startswith(f"Error: {MISTRAL_HINT} (")


def test_bos_and_eos_token_flags(data: Path, tmp_path: Path) -> None:
    tpl = _t("mistral-7b-instruct-v0.1.jinja")
    out = tmp_path / "o.jsonl"
    res = runner.invoke(app, ["render", str(data), str(out), "--template", tpl, "--on-error",
                              "skip", "--bos-token", "<s>", "--eos-token", "</s>"])
    assert res.exit_code == 0, res.output
    assert ("rejected 1: template refused: Conversation roles must alternate "
            "user/assistant/user/assistant/...") in res.stderr
    assert json.loads(out.read_text(encoding="utf-8")) == {
        "text": "<s>[INST] 日本の首都は？ [/INST]東京です。</s> "
    }


def test_tokens_from_a_tokenizer_config_beside_the_template(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    tpl = folder / "chat.jinja"
    tpl.write_text(Path(_t("mistral-7b-instruct-v0.1.jinja")).read_text(encoding="utf-8"),
                   encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"bos_token": "<s>", "eos_token": {"content": "</s>", "__type": "AddedToken"}}
    ))
    data = tmp_path / "in.jsonl"
    data.write_text(json.dumps(ROWS[1], ensure_ascii=False) + "\n", encoding="utf-8")
    res = runner.invoke(app, ["check-template", str(data), "--template", str(tpl)])
    assert res.exit_code == 0, res.output
    assert f"{data}: 1 records, 0 refused or damaged" in res.stdout
    res = runner.invoke(app, ["render", str(data), "-", "--template", str(tpl),
                              "--eos-token", "<|end|>"])  # the flag wins over the config
    assert json.loads(res.stdout) == {"text": "<s>[INST] 日本の首都は？ [/INST]東京です。<|end|> "}


def test_check_template_without_eos_token_is_refused_with_the_hint(data: Path) -> None:
    from dialogkit.api import iter_outcomes
    from dialogkit.templates import check_template, load_template

    rep = check_template(iter_outcomes(str(data)), load_template(
        _t("mistral-7b-instruct-v0.1.jinja")))
    assert [(f.issue, f.detail) for f in rep.findings] == [
        ("refused", "Conversation roles must alternate user/assistant/user/assistant/..."),
        ("refused", MISTRAL_HINT),
    ]


def test_render_max_template_chars_flag(data: Path, tmp_path: Path) -> None:
    bad = tmp_path / "big.jinja"
    bad.write_text("{{ 'a'|center(5000) }}")
    res = runner.invoke(app, ["render", str(data), "-", "--template", str(bad),
                              "--max-template-chars", "4000"])
    assert res.exit_code == 1
    assert res.stderr == (
        "Error: chat template ran away: a padded value of 5000 characters (limit 4000, "
        "--max-template-chars)\n"
    )
