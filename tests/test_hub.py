"""dialogkit.hub and ``dialogkit publish``: the Hub-ready folder offline, the upload end to end
against the loopback test server in tests/fakehub.py (never the real Hub)."""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml

from dialogkit import read
from dialogkit.models import RecordAdapter

datasets = pytest.importorskip("datasets")
hf = pytest.importorskip("dialogkit.hf")
hub_mod = pytest.importorskip("dialogkit.hub")
from tests import fakehub  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

CONV = [
    {"kind": "conversation", "id": f"c{i}", "tools": [{"type": "function", "function": {
        "name": f"t{i}", "parameters": {"p": {"type": ["string", "integer"][i % 2]}}}}],
     "metadata": {"x": i / 7},
     "messages": [{"role": "user", "content": f"What is the weather like in town number {i}?"},
                  {"role": "assistant", "tool_calls": [
                      {"id": "a", "name": f"t{i}", "arguments": json.dumps({"n": i})}]},
                  {"role": "tool", "tool_call_id": "a", "content": "sunny"},
                  {"role": "assistant", "content": "It is sunny and the wind is calm there."}]}
    for i in range(5)
]
PREF = [
    {"kind": "preference", "margin": 0.5,
     "prompt": [{"role": "user", "content": "Write a short poem about the sea and the sky"}],
     "chosen": [{"role": "assistant", "content": "Blue on blue"}],
     "rejected": [{"role": "assistant", "content": "No"}]},
]


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return path


def _published(records: list[Any]) -> list[Any]:
    """Records as publishing stores them: provenance in the card, not in the rows."""
    return [r.model_copy(update={"source": None}) for r in records]


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No network at all, caches in tmp_path."""
    fakehub.loopback_only(monkeypatch)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True, raising=False)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "cache")


@pytest.fixture
def split_dir(tmp_path: Path) -> Path:
    """A folder as `dialogkit split` writes it, in three containers."""
    d = tmp_path / "splits"
    d.mkdir()
    _jsonl(d / "train.jsonl", CONV[:3])
    (d / "validation.json").write_text(json.dumps(CONV[3:4]))
    with gzip.open(d / "test.jsonl.gz", "wt") as f:
        f.write(json.dumps(CONV[4]) + "\n")
    return d


def _load(folder: Path | str, config: str, split: str, **kw: Any) -> list[Any]:
    ds = datasets.load_dataset(str(folder), config, split=split, **kw)
    return list(hf.from_dataset(ds))


# ---------------------------------------------------------------------------------------------
# the folder, offline


def test_folder_round_trip_every_split(offline: None, split_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "repo"
    res = hub_mod.export_folder([str(split_dir)], out, license="apache-2.0")
    assert [p for p, _ in res.files] == [
        "README.md",
        "data/default/test-00000-of-00001.parquet",
        "data/default/train-00000-of-00001.parquet",
        "data/default/validation-00000-of-00001.parquet",
    ]
    for split, name in (("train", "train.jsonl"), ("validation", "validation.json"),
                        ("test", "test.jsonl.gz")):
        want = _published(list(read(split_dir / name)))
        assert _load(out, "default", split) == want
    assert [len(_load(out, "default", s)) for s in ("train", "validation", "test")] == [3, 1, 1]
    # load_dataset(DIR) with no config name gives the same
    dd = datasets.load_dataset(str(out))
    assert {k: v.num_rows for k, v in dd.items()} == {"train": 3, "validation": 1, "test": 1}


def test_card_front_matter(offline: None, split_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "repo"
    hub_mod.export_folder([str(split_dir)], out, license="apache-2.0",
                          pretty_name="Weather calls", source_licenses=["train.jsonl=cc-by-4.0"])
    text = (out / "README.md").read_text()
    meta = yaml.safe_load(text.split("---\n")[1])
    assert meta["pretty_name"] == "Weather calls"
    assert meta["license"] == "apache-2.0"
    assert meta["language"] == ["en"]
    assert meta["task_categories"] == ["text-generation"]
    assert meta["tags"] == ["dialogkit", "trl", "language-modeling", "conversational"]
    assert meta["size_categories"] == ["n<1K"]
    assert meta["configs"] == [{"config_name": "default", "data_files": [
        {"split": "train", "path": "data/default/train-*"},
        {"split": "validation", "path": "data/default/validation-*"},
        {"split": "test", "path": "data/default/test-*"}]}]
    info = meta["dataset_info"]
    assert [(s["name"], s["num_examples"]) for s in info["splits"]] == [
        ("train", 3), ("validation", 1), ("test", 1)]
    assert {"name": "metadata", "dtype": "string"} in info["features"]  # JSON text
    builder = datasets.load_dataset_builder(str(out))
    assert builder.info.splits["train"].num_examples == 3
    shard = out / "data" / "default" / "train-00000-of-00001.parquet"
    assert builder.info.features == datasets.Features.from_arrow_schema(pq.read_schema(shard))
    assert builder.info.features == datasets.Features.from_arrow_schema(
        pq.read_schema(shard).remove_metadata())
    assert "| train.jsonl | cc-by-4.0 |" in text
    assert "| validation.json | not given |" in text
    assert "| default | train | 3 |" in text
    assert "TRL type: language modeling, conversational (`messages`)" in text
    assert "Written by dialogkit 0.1.0" in text


def test_several_kinds_make_one_config_each(offline: None, tmp_path: Path) -> None:
    src = _jsonl(tmp_path / "mixed.jsonl", [CONV[0], PREF[0], CONV[1]])
    out = tmp_path / "repo"
    res = hub_mod.export_folder([str(src)], out, config="mix")
    assert [(c.name, c.kind) for c in res.configs] == [
        ("mix-conversation", "conversation"), ("mix-preference", "preference")]
    meta = yaml.safe_load((out / "README.md").read_text().split("---\n")[1])
    assert [c.get("default") for c in meta["configs"]] == [True, None]
    recs = _published(list(read(src)))
    assert _load(out, "mix-conversation", "train") == [recs[0], recs[2]]
    assert _load(out, "mix-preference", "train") == [recs[1]]
    assert "reinforcement-learning" in meta["task_categories"]
    assert "preference" in meta["tags"]


def test_small_shards_and_rewrite(offline: None, tmp_path: Path) -> None:
    rows = [{**CONV[i % 5], "id": str(i)} for i in range(2500)]
    src = _jsonl(tmp_path / "big.jsonl", rows)
    out = tmp_path / "repo"
    hub_mod.export_folder([str(src)], out, max_shard_bytes=1)
    shards = sorted(p.name for p in (out / "data" / "default").iterdir())
    assert shards == [f"train-0000{i}-of-00003.parquet" for i in range(3)]
    assert len(_load(out, "default", "train")) == 2500
    hub_mod.export_folder([str(_jsonl(tmp_path / "small.jsonl", CONV[:2]))], out)
    assert sorted(p.name for p in (out / "data" / "default").iterdir()) == [
        "train-00000-of-00001.parquet"]
    assert len(_load(out, "default", "train")) == 2


def test_refuses_a_foreign_folder(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("x")
    src = _jsonl(tmp_path / "a.jsonl", CONV[:1])
    from dialogkit.errors import UsageError

    with pytest.raises(UsageError, match=r"exists and is not an earlier export"):
        hub_mod.export_folder([str(src)], tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "x"


def _sample_texts(*parts: str) -> list[str]:
    from tests.conftest import shared_file

    return [" ".join(hub_mod._texts(r))[:2000] for r in read(shared_file(*parts),
                                                            on_error="skip")]


def test_detect_languages_on_real_samples() -> None:
    """Issue 15 item 8: English prompts were called Portuguese (common-word lists)."""
    toy = _sample_texts("openai_chat", "openai_cookbook_toy_chat_fine_tuning.jsonl")
    assert hub_mod.detect_languages(toy) == ["en"]  # was ['en', 'pt']
    alpaca = _sample_texts("alpaca", "alpaca_en_demo_llamafactory_first300.json")
    ja = _sample_texts("dolly_ja", "databricks-dolly-15k-ja_00000-00299.jsonl")
    assert hub_mod.detect_languages(alpaca) == ["en"]
    assert hub_mod.detect_languages(ja) == ["ja"]
    assert hub_mod.detect_languages(alpaca + ja) == ["en", "ja"]
    tree = _sample_texts("oasst", "en_100_tree.jsonl")
    assert hub_mod.detect_languages(tree) == ["en"]  # was ['en', 'el']


def test_detect_languages_without_lingua_lists_only_scripts(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hub_mod, "_latin_detector", lambda: None)
    assert hub_mod.detect_languages(["The cat is on the mat and it is very happy today"]) == []
    assert hub_mod.detect_languages(["日本語のテキストです。ひらがな"]) == ["ja"]


def test_detect_languages() -> None:
    assert hub_mod.detect_languages(["The cat is on the mat and it is happy"]) == ["en"]
    assert hub_mod.detect_languages(["Der Hund ist nicht mit der Katze"]) == ["de"]
    assert hub_mod.detect_languages(["日本語のテキストです。ひらがな"]) == ["ja"]
    assert hub_mod.detect_languages(["Привет, как дела у тебя сегодня"]) == ["ru"]
    assert hub_mod.detect_languages(["12345"]) == []


# ---------------------------------------------------------------------------------------------
# the CLI, offline


def _cli(args: list[str]) -> Any:
    from typer.testing import CliRunner

    from dialogkit.cli import app

    return CliRunner().invoke(app, args)


def test_cli_publish_out(offline: None, split_dir: Path, tmp_path: Path) -> None:
    res = _cli(["publish", str(split_dir), "--out", str(tmp_path / "r"), "--license", "mit"])
    assert res.exit_code == 0, res.stderr
    assert res.stderr == f"wrote {tmp_path / 'r'}: default/train 3, default/validation 1, " \
                         "default/test 1\n"
    assert len(_load(tmp_path / "r", "default", "train")) == 3


def test_cli_usage_errors(tmp_path: Path) -> None:
    src = _jsonl(tmp_path / "a.jsonl", CONV[:1])
    res = _cli(["publish", str(src)])
    assert res.exit_code == 2
    assert res.stderr == "Error: give --out DIR, --repo-id OWNER/NAME, or both\n"
    res = _cli(["publish", str(src), "--out", str(tmp_path / "o"), "--dry-run"])
    assert res.exit_code == 2
    res = _cli(["publish", str(src), "--repo-id", "bad", "--dry-run"])
    assert res.stderr == "Error: --repo-id must be OWNER/NAME, got 'bad'\n"
    res = _cli(["publish", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "o")])
    assert res.stderr.startswith("Error: No such file: ")


def test_dry_run_sends_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_connect(self: socket.socket, address: Any) -> None:
        raise AssertionError(f"dry run connected to {address}")

    monkeypatch.setattr(socket.socket, "connect", no_connect)
    monkeypatch.setenv("HF_TOKEN", fakehub.TOKEN)
    src = _jsonl(tmp_path / "a.jsonl", CONV)
    res = _cli(["publish", str(src), "--repo-id", "tester/x", "--dry-run", "--revision", "dev"])
    assert res.exit_code == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[:4] == ["repository: datasets/tester/x (public if created)", "revision: dev",
                         "commit message: Publish dataset with dialogkit 0.1.0",
                         "token: from HF_TOKEN"]
    assert lines[4].startswith("files (2, ")
    assert lines[5].endswith("  README.md") and lines[6].endswith(
        "  data/default/train-00000-of-00001.parquet")
    assert fakehub.TOKEN not in res.stdout + res.stderr


# ---------------------------------------------------------------------------------------------
# the upload, against the loopback test server


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[fakehub.FakeHub]:
    """A FakeHub on 127.0.0.1 with huggingface_hub and datasets pointed at it."""
    yield from fakehub.running(monkeypatch, tmp_path)


@pytest.mark.network
def test_publish_and_load_back(fake: fakehub.FakeHub, split_dir: Path) -> None:
    res = _cli(["publish", str(split_dir), "--repo-id", "tester/weather"])
    assert res.exit_code == 0, res.stderr
    assert res.stdout.startswith(f"{fake.url}/datasets/tester/weather/commit/")
    assert fake.commit_count("tester/weather") == 2  # the empty initial one, then ours
    assert sorted(fake.files("tester/weather")) == [
        "README.md", "data/default/test-00000-of-00001.parquet",
        "data/default/train-00000-of-00001.parquet",
        "data/default/validation-00000-of-00001.parquet"]
    assert fake.calls("POST", r"/info/lfs/objects/batch$") == 1
    assert fake.calls("PUT", r"^/_fakehub/lfs/") == 3
    for split, name in (("train", "train.jsonl"), ("validation", "validation.json"),
                        ("test", "test.jsonl.gz")):
        want = _published(list(read(split_dir / name)))
        assert _load("tester/weather", "default", split) == want


@pytest.mark.network
def test_republish_replaces_shards_in_one_commit(fake: fakehub.FakeHub, tmp_path: Path) -> None:
    src = _jsonl(tmp_path / "mixed.jsonl", [CONV[0], PREF[0]])
    assert _cli(["publish", str(src), "--repo-id", "tester/r"]).exit_code == 0
    small = _jsonl(tmp_path / "small.jsonl", CONV[1:3])
    res = _cli(["publish", str(small), "--repo-id", "tester/r", "-m", "second"])
    assert res.exit_code == 0, res.stderr
    assert fake.commit_count("tester/r") == 3
    assert sorted(fake.files("tester/r")) == [
        "README.md", "data/default/train-00000-of-00001.parquet"]
    assert [r.id for r in _load("tester/r", "default", "train")] == ["c1", "c2"]


@pytest.mark.network
def test_branch_and_pull_request(fake: fakehub.FakeHub, tmp_path: Path) -> None:
    src = _jsonl(tmp_path / "a.jsonl", CONV[:2])
    assert _cli(["publish", str(src), "--repo-id", "tester/b"]).exit_code == 0
    more = _jsonl(tmp_path / "b.jsonl", CONV)
    res = _cli(["publish", str(more), "--repo-id", "tester/b", "--revision", "v2"])
    assert res.exit_code == 0, res.stderr
    assert len(_load("tester/b", "default", "train", revision="v2")) == 5
    assert fake.commit_count("tester/b") == 2  # main untouched
    res = _cli(["publish", str(more), "--repo-id", "tester/b", "--create-pr"])
    assert res.exit_code == 0, res.stderr
    assert res.stdout == f"{fake.url}/datasets/tester/b/discussions/1\n"
    assert len(_load("tester/b", "default", "train", revision="refs/pr/1")) == 5
    assert len(_load("tester/b", "default", "train")) == 2


@pytest.mark.network
def test_private_repo(fake: fakehub.FakeHub, tmp_path: Path) -> None:
    src = _jsonl(tmp_path / "a.jsonl", CONV[:1])
    assert _cli(["publish", str(src), "--repo-id", "tester/p", "--private"]).exit_code == 0
    assert fake.repos["tester/p"].private is True


@pytest.mark.network
def test_bad_token_is_one_line_and_leaves_nothing(
    fake: fakehub.FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = "hf_wrongtokenwrongtokenwrongtoken12"
    monkeypatch.setenv("HF_TOKEN", bad)
    src = _jsonl(tmp_path / "a.jsonl", CONV[:1])
    res = _cli(["publish", str(src), "--repo-id", "tester/t"])
    assert res.exit_code == 1
    assert res.stderr.splitlines()[-1] == (
        "Error: the Hub refused the token (401 Unauthorized); check HF_TOKEN or log in again "
        "with `hf auth login`; nothing was published")
    assert bad not in res.stdout + res.stderr
    assert "Traceback" not in res.stdout + res.stderr
    assert fake.repos == {}


@pytest.mark.network
def test_no_token(fake: fakehub.FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_TOKEN")
    src = _jsonl(tmp_path / "a.jsonl", CONV[:1])
    res = _cli(["publish", str(src), "--repo-id", "tester/t"])
    assert res.exit_code == 1
    assert res.stderr == (
        "Error: no Hugging Face token: set HF_TOKEN or log in with `hf auth login`\n")
    assert fake.log == []


@pytest.mark.network
@pytest.mark.parametrize("status", [409, 412])
def test_conflict_is_retried(fake: fakehub.FakeHub, tmp_path: Path, status: int) -> None:
    fake.fail("POST", r"/commit/main$", status, times=2)
    src = _jsonl(tmp_path / "a.jsonl", CONV[:2])
    res = hub_mod.upload(_export(tmp_path, src), "tester/c", backoff=0)
    assert res.startswith(f"{fake.url}/datasets/tester/c/commit/")
    assert fake.calls("POST", r"/commit/main$") == 3
    assert fake.commit_count("tester/c") == 2
    assert len(_load("tester/c", "default", "train")) == 2


@pytest.mark.network
def test_real_412_when_the_branch_moves(fake: fakehub.FakeHub, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Someone commits between our plan and our commit: the parent check refuses, we re-plan."""
    import huggingface_hub

    src = _jsonl(tmp_path / "a.jsonl", CONV[:2])
    folder = _export(tmp_path, src)
    assert _cli(["publish", str(src), "--repo-id", "tester/m"]).exit_code == 0
    real = huggingface_hub.HfApi.create_commit
    moved = []

    def racing(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not moved:
            moved.append(1)
            repo = fake.repos["tester/m"]
            repo.refs["main"] = fake.new_commit(repo.refs["main"], "someone else", {
                **fake.commits[repo.refs["main"]].files, "other.txt": (b"x", None)})
        return real(self, *args, **kwargs)

    monkeypatch.setattr(huggingface_hub.HfApi, "create_commit", racing)
    hub_mod.upload(folder, "tester/m", backoff=0)
    assert [s for m, p, s in fake.log if m == "POST" and p.endswith("/commit/main")][-2:] == [
        412, 200]
    assert "other.txt" in fake.files("tester/m")
    assert fake.commit_count("tester/m") == 4


@pytest.mark.network
def test_persistent_conflict_removes_the_new_repo(fake: fakehub.FakeHub, tmp_path: Path) -> None:
    fake.fail("POST", r"/commit/main$", 409, times=10)
    src = _jsonl(tmp_path / "a.jsonl", CONV[:1])
    with pytest.raises(hf.HubError) as err:
        hub_mod.upload(_export(tmp_path, src), "tester/c", backoff=0)
    assert str(err.value) == (
        "datasets/tester/c kept changing while publishing (HTTP 409, retried): injected 409; "
        "nothing was published (the new repository was removed)")
    assert fake.repos == {}


@pytest.mark.network
def test_server_error_on_an_existing_repo(fake: fakehub.FakeHub, tmp_path: Path) -> None:
    src = _jsonl(tmp_path / "a.jsonl", CONV[:1])
    assert _cli(["publish", str(src), "--repo-id", "tester/e"]).exit_code == 0
    before = fake.files("tester/e")
    fake.fail("POST", r"/commit/main$", 503, times=10)
    res = _cli(["publish", str(_jsonl(tmp_path / "b.jsonl", CONV)), "--repo-id", "tester/e"])
    assert res.exit_code == 1
    assert res.stderr.splitlines()[-1] == (
        "Error: the Hub failed (HTTP 503): injected 503; nothing was published")
    assert fake.files("tester/e") == before


@pytest.mark.network
def test_server_error_on_lfs_upload_leaves_no_new_branch(fake: fakehub.FakeHub,
                                                         tmp_path: Path) -> None:
    src = _jsonl(tmp_path / "a.jsonl", CONV[:1])
    assert _cli(["publish", str(src), "--repo-id", "tester/l"]).exit_code == 0
    fake.fail("POST", r"/info/lfs/objects/batch$", 500, times=50)
    res = _cli(["publish", str(_jsonl(tmp_path / "b.jsonl", CONV)), "--repo-id", "tester/l",
                "--revision", "dev"])
    assert res.exit_code == 1
    assert res.stderr.splitlines()[-1].startswith("Error: the Hub failed (HTTP 500)")
    assert res.stderr.splitlines()[-1].endswith(
        "nothing was published (the new branch was removed)")
    assert set(fake.repos["tester/l"].refs) == {"main"}


@pytest.mark.network
def test_server_gone(fake: fakehub.FakeHub, tmp_path: Path) -> None:
    url = fake.url
    fake.stop()
    src = _jsonl(tmp_path / "a.jsonl", CONV[:1])
    res = _cli(["publish", str(src), "--repo-id", "tester/g"])
    assert res.exit_code == 1
    assert res.stderr.splitlines()[-1] == (
        f"Error: cannot reach the Hub at {url} (connection failed); nothing was published")


@pytest.mark.network
def test_convert_reads_hf_spec_from_the_server(fake: fakehub.FakeHub, tmp_path: Path) -> None:
    src = _jsonl(tmp_path / "a.jsonl", CONV + PREF)
    assert _cli(["publish", str(src), "--repo-id", "tester/h"]).exit_code == 0
    out = tmp_path / "back.jsonl"
    res = _cli(["convert", "hf:tester/h:preference", str(out), "--to", "dialogkit"])
    assert res.exit_code == 0, res.stderr
    back = [RecordAdapter.validate_python(json.loads(x)) for x in out.read_text().splitlines()]
    assert _published(back) == _published(list(read(src)))[5:]


@pytest.mark.network
@pytest.mark.slow
def test_cli_subprocess_with_env_endpoint(fake: fakehub.FakeHub, tmp_path: Path) -> None:
    """The real entry point, HF_ENDPOINT from the environment (read at import), no traceback."""
    src = _jsonl(tmp_path / "a.jsonl", CONV[:2])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "dialogkit", "publish", str(src), "--repo-id", "tester/s"]
    ok = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert sorted(fake.files("tester/s")) == ["README.md",
                                              "data/default/train-00000-of-00001.parquet"]
    bad = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                         env={**env, "HF_TOKEN": "hf_badbadbadbadbadbadbadbad"})
    assert bad.returncode == 1
    assert bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
    assert "hf_badbad" not in bad.stderr


def _export(tmp_path: Path, src: Path) -> Path:
    out = tmp_path / f"export-{src.stem}"
    hub_mod.export_folder([str(src)], out)
    return out


def test_empty_split_file_is_left_out_with_auto_detection(tmp_path: Path) -> None:
    """A small `dialogkit split` can leave an empty test.jsonl: publish skips it, no error."""
    from dialogkit.hub import export_folder

    splits = tmp_path / "splits"
    splits.mkdir()
    row = {"prompt": [{"role": "user", "content": "Q"}],
           "chosen": [{"role": "assistant", "content": "good"}],
           "rejected": [{"role": "assistant", "content": "bad"}]}
    (splits / "train.jsonl").write_text(json.dumps(row) + "\n", encoding="utf-8")
    (splits / "test.jsonl").write_text("", encoding="utf-8")
    res = export_folder([str(splits)], tmp_path / "hub")
    assert [(c.kind, sorted(c.splits)) for c in res.configs] == [("preference", ["train"])]


# ---------------------------------------------------------------------------------------------
# a Hub that accepts connections and never answers


@pytest.mark.network
def test_silent_hub_fails_within_the_bound(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                           ) -> None:
    import time

    src = _jsonl(tmp_path / "a.jsonl", CONV[:1])
    fakehub.loopback_only(monkeypatch)
    with fakehub.silent_server() as url:
        fakehub.point_clients_at(monkeypatch, url, tmp_path)
        start = time.monotonic()
        res = _cli(["publish", str(src), "--repo-id", "tester/q", "--timeout", "0.5"])
        took = time.monotonic() - start
    assert res.exit_code == 1
    assert res.stderr.splitlines() == [
        f"Error: the Hub at {url} did not answer within 0.5s (GET /api/datasets/tester/q); "
        "retries stopped after 2s (raise --timeout for a slow link); nothing was published"]
    assert took < 0.5 + 2 + 0.5 + 2  # one timeout, the retry budget, one last try, slack


@pytest.mark.network
def test_hub_hanging_at_the_commit_removes_the_new_repo(fake: fakehub.FakeHub,
                                                        tmp_path: Path) -> None:
    fake.fail("POST", r"/commit/main$", 0, times=10)
    src = _jsonl(tmp_path / "a.jsonl", CONV[:1])
    with pytest.raises(hf.HubError) as err:
        hub_mod.upload(_export(tmp_path, src), "tester/h", timeout=0.5, backoff=0)
    assert str(err.value) == (
        f"the Hub at {fake.url} did not answer within 0.5s (POST "
        "/api/datasets/tester/h/commit/main); retries stopped after 2s (raise --timeout for a "
        "slow link); nothing was published (the new repository was removed)")
    assert fake.repos == {}
    assert fake.calls("POST", r"/commit/main$") == 1  # a timeout is not a conflict: no re-plan


def test_timeout_default_is_in_the_help() -> None:
    res = _cli(["publish", "--help"])
    assert "--timeout" in res.stdout and "10.0" in res.stdout
