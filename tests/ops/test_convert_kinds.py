"""Kind changes: unpairing, comparisons to demonstrations and to RL prompts."""

from __future__ import annotations

import pytest

from dialogkit.errors import RecordError
from dialogkit.models import (
    Candidate,
    Comparison,
    Conversation,
    InstructionDemo,
    Message,
    PreferencePair,
    TrainerDialogue,
)
from dialogkit.ops.convert_kinds import (
    best_candidate,
    comparison_to_conversation,
    prompt_messages,
    to_prompt,
    unpair,
)

U = Message(role="user", content="Q")


def a(text: str) -> Message:
    return Message(role="assistant", content=text)


def comp(ranking, id="c") -> Comparison:
    return Comparison(id=id, context=[U], labeler="L",
                      candidates=[Candidate(messages=[a(f"x{i}")]) for i in range(len(ranking))],
                      ranking=ranking, metadata={"tree": "t", "nested": {"a": 1}})


def test_unpair() -> None:
    p = PreferencePair(id="p1", prompt=[U], chosen=[a("good")], rejected=[a("bad")],
                       group_id="g", metadata={"k": 1})
    yes, no = unpair(p)
    assert (yes.label, yes.completion, yes.id) == (True, [a("good")], "p1:chosen")
    assert (no.label, no.completion, no.id) == (False, [a("bad")], "p1:rejected")
    assert yes.metadata == no.metadata == {"k": 1, "group_id": "g"}
    assert yes.prompt == no.prompt == [U]
    assert p.metadata == {"k": 1}


def test_best_candidate_and_conversation() -> None:
    assert best_candidate(comp([2, 0, 1])) == 1
    assert best_candidate(comp([1, 0, 0])) == 1  # first of a tie
    assert best_candidate(comp([None, None])) is None
    conv = comparison_to_conversation(comp([2, None, 1]))
    assert conv.messages == [U, a("x2")]
    assert conv.id == "c" and conv.metadata == {"tree": "t", "labeler": "L"}
    with pytest.raises(RecordError, match="^the comparison has no ranked candidate"):
        comparison_to_conversation(comp([None, None]))


def test_prompts_of_every_kind() -> None:
    sys = Message(role="system", content="S")
    assert prompt_messages(comp([0, 1])) == [U]
    d = InstructionDemo(prompt="Do", input="this", response="ok", system="S")
    assert prompt_messages(d) == [sys, Message(role="user", content="Do\n\nthis")]
    c = Conversation(messages=[sys, U, a("A"), Message(role="user", content="more"), a("B")])
    assert prompt_messages(c) == [sys, U]
    td = TrainerDialogue(messages=[{"role": "user", "content": "Q", "author": "trainer"},
                                   {"role": "assistant", "content": "A"}])
    assert prompt_messages(td) == [U]
    p = to_prompt(comp([0, 1], id=None))
    assert p.prompt == [U] and p.id is not None and len(p.id) == 32
    assert to_prompt(PreferencePair(prompt=[U], chosen=[a("1")], rejected=[a("2")],
                                    group_id="g")).metadata == {"group_id": "g"}
    with pytest.raises(RecordError, match="^the record has no prompt messages$"):
        to_prompt(PreferencePair(prompt=[], chosen=[a("1")], rejected=[a("2")]))


def test_pair_to_conversation_takes_either_side() -> None:
    """Issue 15 item 9: a pair becomes an SFT conversation: its prompt plus one side."""
    from dialogkit.ops.convert_kinds import kind_transform, pair_to_conversation

    p = PreferencePair(id="p1", prompt=[U], chosen=[a("good")], rejected=[a("bad")],
                       group_id="g", margin=2.0, metadata={"k": 1})
    conv = pair_to_conversation(p)
    assert isinstance(conv, Conversation)
    assert (conv.id, conv.messages, conv.metadata) == ("p1", [U, a("good")],
                                                        {"k": 1, "group_id": "g"})
    assert pair_to_conversation(p, "rejected").messages == [U, a("bad")]
    assert kind_transform("conversation", "rejected")(p).messages == [U, a("bad")]
    assert kind_transform("conversation")(p).messages == [U, a("good")]
    assert p.metadata == {"k": 1}
    no_answer = PreferencePair(prompt=[U], chosen=[Message(role="user", content="x")],
                               rejected=[a("bad")])
    with pytest.raises(RecordError) as info:
        pair_to_conversation(no_answer)
    assert info.value.rule == "no_assistant_turn"


def test_side_only_with_as_conversation() -> None:
    from dialogkit.errors import UsageError
    from dialogkit.ops.convert_kinds import kind_transform

    with pytest.raises(UsageError, match=r"^--side only goes with --as conversation, not "
                                         r"--as prompt$"):
        kind_transform("prompt", "chosen")
    with pytest.raises(UsageError, match=r"^--side takes one of chosen, rejected, got 'x'$"):
        kind_transform("conversation", "x")


def test_as_conversation_merges_a_comparison_equal_to_a_conversation() -> None:
    """Issue 15 item 3: a comparison's best conversation equal to one already seen (or seen
    later) is merged (``[]``); plain conversations that repeat each other are kept."""
    from dialogkit.ops.convert_kinds import AsConversation, kind_transform

    t = kind_transform("conversation")
    assert isinstance(t, AsConversation) and t.stateful
    best = Conversation(id="m", messages=[U, a("x1")])
    c = comp([1, 0])
    assert t(best) is best
    assert t(best) is best
    assert t(c) == []
    other = comp([0, 1], id="d")
    t2 = AsConversation()
    assert t2(other).messages == [U, a("x0")]
    assert t2(Conversation(messages=[U, a("x0")])) == []
    assert kind_transform("conversation") is not kind_transform("conversation")
