"""Prompt extraction from implicit-prompt pairs: TRL's failing edge cases, and properties."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from dialogkit.errors import RecordError, UsageError
from dialogkit.models import Message, PreferencePair
from dialogkit.ops.prompt import extract_prompt, split_messages, split_text


@pytest.mark.parametrize(
    ("chosen", "rejected", "expected"),
    [
        ("The sky is blue.", "The sky is green.", ("The sky is", " blue.", " green.")),
        # TRL (a): one answer a prefix of the other -> prompt "The sk", chosen "y"
        ("The sky", "The sky is blue", ("The", " sky", " sky is blue")),
        # TRL (b): divergence at index 0 with a trailing space
        ("Paris ", "London", ("", "Paris ", "London")),
        # the texts diverge inside a word: the word stays whole in both answers
        ("Answer: Parisian", "Answer: Paris", ("Answer:", " Parisian", " Paris")),
        # answers sharing a first word, diverging after punctuation
        ("Q: capital? A: Paris, France", "Q: capital? A: Paris.",
         ("Q: capital? A:", " Paris, France", " Paris.")),
        # a whitespace run stays with the answers; the prompt has no trailing space
        ("Hi  there", "Hi  you", ("Hi", "  there", "  you")),
        # different whitespace right at the divergence
        ("Say\nyes", "Say no", ("Say", "\nyes", " no")),
        ("日本の 首都は 東京", "日本の 首都は 大阪", ("日本の 首都は", " 東京", " 大阪")),
    ],
)
def test_split_text(chosen: str, rejected: str, expected: tuple[str, str, str]) -> None:
    assert split_text(chosen, rejected) == expected


def test_marker_keeps_a_shared_first_answer_word_in_the_answers() -> None:
    chosen = "\n\nHuman: Capital?\n\nAssistant: Paris is the capital."
    rejected = "\n\nHuman: Capital?\n\nAssistant: Paris is big."
    assert split_text(chosen, rejected) == (
        "\n\nHuman: Capital?\n\nAssistant: Paris is",
        " the capital.", " big.",
    )
    assert split_text(chosen, rejected, marker="\n\nAssistant:") == (
        "\n\nHuman: Capital?\n\nAssistant:", " Paris is the capital.", " Paris is big.",
    )


def test_marker_not_in_shared_start_falls_back_to_words() -> None:
    assert split_text("A b c", "A b d", marker="Assistant:") == ("A b", " c", " d")
    # the marker would leave the shorter answer empty: back to the word rule
    assert split_text("Q A:", "Q A: more", marker="A:") == ("Q", " A:", " A: more")


def test_identical_answers_are_rejected() -> None:
    # TRL (c): "same"/"same" -> prompt "sam", chosen "e", rejected "e"
    with pytest.raises(RecordError) as exc:
        split_text("same", "same")
    assert str(exc.value) == (
        "chosen and rejected are identical, so they carry no preference - at $.rejected"
    )
    assert exc.value.rule == "identical_pair"


@pytest.mark.parametrize(("chosen", "rejected", "which"), [("", "x", "chosen"),
                                                          ("x", "", "rejected")])
def test_empty_answers_are_rejected(chosen: str, rejected: str, which: str) -> None:
    # TRL (d): UnboundLocalError
    with pytest.raises(RecordError) as exc:
        split_text(chosen, rejected)
    assert str(exc.value) == f"{which} is empty, so there is nothing to prefer - at $.{which}"


def msg(role: str, text: str) -> Message:
    return Message(role=role, content=text)


def test_split_messages() -> None:
    u, a1, a2 = msg("user", "Hi"), msg("assistant", "Hello"), msg("assistant", "Yo")
    assert split_messages([u, a1], [u, a2]) == ([u], [a1], [a2])
    # messages sharing a first word are still whole messages
    b1, b2 = msg("assistant", "Paris is big"), msg("assistant", "Paris is old")
    assert split_messages([u, b1], [u, b2]) == ([u], [b1], [b2])
    # a prefix: the shorter side keeps its last message
    u2, a3 = msg("user", "More?"), msg("assistant", "Sure")
    assert split_messages([u, a1], [u, a1, u2, a3]) == ([u], [a1], [a1, u2, a3])
    with pytest.raises(RecordError, match="^chosen and rejected are identical"):
        split_messages([u, a1], [u, a1])
    with pytest.raises(RecordError, match="^chosen is empty"):
        split_messages([], [u])


def test_extract_prompt_message_and_text_levels() -> None:
    u = msg("user", "Q?")
    pair = PreferencePair(prompt=[], chosen=[u, msg("assistant", "A")],
                          rejected=[u, msg("assistant", "B")], group_id="g")
    out = extract_prompt(pair)
    assert out.prompt == [u] and out.chosen == [msg("assistant", "A")] and out.group_id == "g"
    assert pair.prompt == []  # input unchanged
    assert extract_prompt(out) is out  # a pair with a prompt is left alone
    std = PreferencePair(prompt=[], chosen=[msg("assistant", "The sky is blue.")],
                         rejected=[msg("assistant", "The sky is green.")])
    t = extract_prompt(std, level="text")
    assert t.prompt == [msg("user", "The sky is")]
    assert t.chosen == [msg("assistant", " blue.")]
    assert t.rejected == [msg("assistant", " green.")]
    with pytest.raises(UsageError, match="^level must be 'message' or 'text', got 'word'$"):
        extract_prompt(std, level="word")


texts = st.text(alphabet=st.sampled_from("ab \n.Zé"), max_size=12)


@settings(max_examples=500, deadline=None)
@given(texts, texts, texts, st.one_of(st.none(), st.sampled_from(["a:", " ", "Z"])))
def test_property_split_text(prefix: str, c: str, r: str, marker: str | None) -> None:
    chosen, rejected = prefix + c, prefix + r
    assume(chosen and rejected and chosen != rejected)
    p, pc, pr = split_text(chosen, rejected, marker)
    assert p + pc == chosen and p + pr == rejected  # nothing lost or duplicated
    assert pc and pr  # both answers non-empty
    assert pc != pr
    if marker is None or not p.endswith(marker):
        # the cut is at a word boundary: the prompt ends before whitespace or is empty
        assert p == "" or (pc[0].isspace() and pr[0].isspace() and not p[-1].isspace())


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 3), max_size=5), st.lists(st.integers(0, 3), max_size=4),
       st.lists(st.integers(0, 3), max_size=4))
def test_property_split_messages(prefix: list[int], c: list[int], r: list[int]) -> None:
    chosen, rejected = prefix + c, prefix + r
    assume(chosen and rejected and chosen != rejected)
    p, pc, pr = split_messages(chosen, rejected)
    assert p + pc == chosen and p + pr == rejected
    assert pc and pr
    # maximal: one more shared message would leave a side empty or is not shared
    n = len(p)
    assert (n + 1 >= len(chosen) or n + 1 >= len(rejected) or chosen[n] != rejected[n])
