"""Hub errors never carry the token, not even a fragment of it (issue 17 item 5)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("huggingface_hub")

from dialogkit import hub as hub_mod  # noqa: E402
from dialogkit.errors import HubError  # noqa: E402
from tests import fakehub  # noqa: E402

TOKEN = fakehub.TOKEN
ROW = {"kind": "conversation", "messages": [
    {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
]}


@pytest.mark.parametrize(
    ("message", "scrubbed"),
    [
        (f"bad {TOKEN} here", "bad *** here"),
        ("cut at hf_fakehub", "cut at ***"),
        ("cut at hf_f; nothing", "cut at ***; nothing"),
        ("cut at hf_", "cut at ***"),
        ("other hf_fakehubzzz stays", "other hf_fakehubzzz stays"),
        ("generic hf_ABCDEFGHIJKLMNOPQRSTUVWXYZ", "generic ***"),
    ],
)
def test_scrub_removes_the_token_and_any_prefix_of_it(message: str, scrubbed: str) -> None:
    assert hub_mod._scrub(message, TOKEN) == scrubbed


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[fakehub.FakeHub]:
    """A FakeHub on 127.0.0.1 with huggingface_hub and datasets pointed at it."""
    yield from fakehub.running(monkeypatch, tmp_path)


@pytest.mark.network
@pytest.mark.parametrize("offset", [3, 10, 22, 30])
def test_a_token_reflected_across_the_cut_leaves_no_fragment(
    fake: fakehub.FakeHub, tmp_path: Path, offset: int
) -> None:
    # the server reflects the token so that it straddles the 200-character cut
    reflected = "x" * (200 - offset) + " " + TOKEN + " nothing was published"
    fake.fail("POST", r"/commit/main$", 403, headers={"X-Error-Message": reflected})
    src = tmp_path / "a.jsonl"
    src.write_text(json.dumps(ROW) + "\n", encoding="utf-8")
    out = tmp_path / "export"
    hub_mod.export_folder([str(src)], out)
    with pytest.raises(HubError) as info:
        hub_mod.upload(out, "tester/s", backoff=0)
    text = str(info.value)
    assert text == (
        "the token may not write to datasets/tester/s (403 Forbidden): "
        + ("x" * (200 - offset) + " *** nothing was published")[:200]
        + "; nothing was published (the new repository was removed)"
    )
