"""`build` recipes: the example recipe end to end, determinism, and recipe errors by key."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pytest
import yaml

from dialogkit.errors import UsageError
from dialogkit.ops.build import build, load_recipe

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def copy_examples(tmp_path: Path) -> Path:
    for name in ("demos.jsonl", "trainer_dialogues.jsonl", "comparisons.jsonl", "recipe.yaml"):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    return tmp_path / "recipe.yaml"


def lines(path: Path) -> list[dict]:
    return [orjson.loads(x) for x in path.read_bytes().splitlines()]


def test_example_recipe(tmp_path: Path) -> None:
    recipe = copy_examples(tmp_path)
    report = build(recipe)
    out = tmp_path / "out"
    assert report["output"] == "out"
    assert orjson.loads((out / "report.json").read_bytes()) == report
    src = report["sources"]
    assert [(n, s["format"], s["read"], s["rejected"]) for n, s in src.items()] == [
        ("demos", "alpaca", 12, 0), ("dialogues", "dialogkit", 4, 0),
        ("comparisons", "dialogkit", 8, 0),
    ]
    sets = report["sets"]
    # 12 demos x weight 2 + 4 dialogues
    assert sets["sft"]["records"] == 16 and sets["sft"]["after_weights"] == 28
    assert sets["sft"]["written"] == {"train": 19, "validation": 4, "test": 5}
    # pairs: 6 + 9 (a tie) + 6 + 10 (one unranked) + 6 + 6 + 10 + 3 (one unranked)
    assert sets["reward"]["pairing"]["comparisons"]["pairs"] == 56
    assert sets["reward"]["written"] == {"train": 44, "validation": 6, "test": 6}
    # cmp-8's prompt is a demo's instruction (case and spaces differ): removed from prompts
    assert sets["prompts"]["removed_against"] == 1
    assert sets["prompts"]["written"] == {"train": 5, "validation": 1, "test": 1}
    assert report["split"]["leaks"] == []
    for s, fmt in (("sft", "openai"), ("reward", "trl-preference"), ("prompts", "trl-prompt")):
        assert sum(sets[s]["written"].values()) == sum(
            len(lines(out / s / f"{n}.jsonl")) for n in ("train", "validation", "test"))
        assert sets[s]["format"] == fmt
    first = lines(out / "sft" / "train.jsonl")[0]
    assert first["provenance"] == {"file": "demos.jsonl", "line": 1, "format": "alpaca"}
    pair = lines(out / "reward" / "train.jsonl")[0]
    assert set(pair) >= {"prompt", "chosen", "rejected", "margin", "group_id"}
    # the same bytes again
    before = {p: p.read_bytes() for p in out.rglob("*.jsonl")}
    build(recipe)
    assert {p: p.read_bytes() for p in out.rglob("*.jsonl")} == before


def test_groups_stay_together_across_sets(tmp_path: Path) -> None:
    recipe = copy_examples(tmp_path)
    build(recipe)
    where: dict[str, set[str]] = {}
    for s in ("reward", "prompts"):
        for n in ("train", "validation", "test"):
            for row in lines(tmp_path / "out" / s / f"{n}.jsonl"):
                gid = row.get("group_id") or row.get("id")
                where.setdefault(gid, set()).add(n)
    assert len(where) == 8
    assert all(len(v) == 1 for v in where.values())


def test_output_override(tmp_path: Path) -> None:
    recipe = copy_examples(tmp_path)
    report = build(recipe, tmp_path / "elsewhere")
    assert (tmp_path / "elsewhere" / "report.json").is_file()
    assert not (tmp_path / "out").exists()
    assert report["output"] == str(tmp_path / "elsewhere")


def write_recipe(tmp_path: Path, data: dict) -> Path:
    p = tmp_path / "r.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "invalid recipe: sources: Field required"),
        ({"sources": {"a": {"path": "x", "weight": -1}}},
         "invalid recipe: sources.a.weight: Input should be greater than or equal to 0"),
        ({"sources": {"a": {"path": "x"}}, "reward": {"strategy": "pairs"}},
         "invalid recipe: reward.strategy: Input should be 'all', 'best-vs-rest', 'adjacent' "
         "or 'best-vs-worst'"),
        ({"sources": {"a": {"path": "x"}}, "sft": {}, "colour": 1},
         "invalid recipe: colour: Extra inputs are not permitted"),
        ({"sources": {"a": {"path": "x", "format": "alpacca"}}},
         "sources.a.format: Unknown format 'alpacca'. Did you mean 'alpaca'?"),
        ({"sources": {"a": {"path": "x", "use": ["reward"]}}, "sft": {}},
         "sources.a.use: the recipe has no `reward` section"),
        ({"sources": {"a": {"path": "x"}}, "sft": {"format": "hh-rlhf"}, "dedup":
          {"against": {"prompts": ["sft"]}}},
         "dedup.against.prompts: the recipe has no `prompts` section"),
    ],
)
def test_recipe_errors_name_the_key(tmp_path: Path, data: dict, message: str) -> None:
    p = write_recipe(tmp_path, data)
    with pytest.raises(UsageError) as exc:
        load_recipe(p)
    assert str(exc.value).startswith(f"{p}: {message}")


def test_missing_source_file(tmp_path: Path) -> None:
    p = write_recipe(tmp_path, {"sources": {"a": {"path": "nope.jsonl"}}, "sft": {}})
    with pytest.raises(UsageError, match=r"^sources\.a\.path: no such file: "):
        build(p)
