"""Prompt extraction from implicit-prompt pairs: the shared start of chosen and rejected.

Rules (TRL's ``extract_prompt`` breaks on the edge cases below; these are property-tested):

1. ``prompt + chosen == original chosen`` and ``prompt + rejected == original rejected``,
   always: nothing is dropped, stripped or duplicated.
2. Both completions are non-empty. When one answer is a prefix of the other, the prompt is
   shortened until the shorter answer keeps something.
3. Message lists (conversational format) are cut at a message boundary: the prompt is the
   longest run of equal leading messages that leaves each side at least one message.
4. Strings (standard format) are cut at a character position, never inside a word: the cut
   goes back to the start of the whitespace run before the word in which the texts first
   differ, so the completions keep their leading space (``" blue."``, TRL's convention) and a
   word that both answers start with stays whole in both answers rather than being split.
   Without a marker, a first word the two *answers* share cannot be told from the prompt's last
   word; pass ``marker`` (e.g. ``"\\n\\nAssistant:"``) and the prompt ends right after the last
   marker inside the shared start, so everything after it stays in the answers.
   A cut that finds no whitespace leaves the prompt empty (``""``): the texts share no prompt.
5. Identical answers carry no preference and an empty answer has nothing to prefer: both raise
   RecordError (rules ``identical_pair`` and ``empty_completion``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from dialogkit.errors import RecordError, UsageError
from dialogkit.models import Message, PreferencePair

__all__ = ["extract_prompt", "split_messages", "split_text"]

T = TypeVar("T")


def _common(a: Sequence[Any], b: Sequence[Any]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _check(chosen: Sequence[Any], rejected: Sequence[Any]) -> None:
    if len(chosen) == 0 or len(rejected) == 0:
        which = "chosen" if len(chosen) == 0 else "rejected"
        raise RecordError(f"{which} is empty, so there is nothing to prefer", loc=f"$.{which}",
                          rule="empty_completion")
    if chosen == rejected:
        raise RecordError("chosen and rejected are identical, so they carry no preference",
                          loc="$.rejected", rule="identical_pair")


def split_messages(
    chosen: Sequence[T], rejected: Sequence[T]
) -> tuple[list[T], list[T], list[T]]:
    """(prompt, chosen, rejected) for two message lists sharing a leading run of messages.

    Example:
        >>> split_messages(["u", "a1"], ["u", "a2"])
        (['u'], ['a1'], ['a2'])
        >>> split_messages(["u", "a"], ["u", "a", "u2", "a2"])
        (['u'], ['a'], ['a', 'u2', 'a2'])
    """
    _check(chosen, rejected)
    n = min(_common(chosen, rejected), len(chosen) - 1, len(rejected) - 1)
    return list(chosen[:n]), list(chosen[n:]), list(rejected[n:])


def split_text(chosen: str, rejected: str, marker: str | None = None) -> tuple[str, str, str]:
    """(prompt, chosen, rejected) for two strings sharing a leading text (rules in the module doc).

    Example:
        >>> split_text("The sky is blue.", "The sky is green.")
        ('The sky is', ' blue.', ' green.')
        >>> split_text("The sky", "The sky is blue")
        ('The', ' sky', ' sky is blue')
        >>> split_text("Q: Capital? A: Paris.", "Q: Capital? A: Paris is it.", marker="A:")
        ('Q: Capital? A:', ' Paris.', ' Paris is it.')
    """
    _check(chosen, rejected)
    n = _common(chosen, rejected)
    if marker:
        # the last marker wholly inside the shared start that leaves both answers non-empty
        limit = min(n, len(chosen) - 1, len(rejected) - 1)
        at = chosen.rfind(marker, 0, limit) if limit > 0 else -1
        if at >= 0:
            cut = at + len(marker)
            return chosen[:cut], chosen[cut:], rejected[cut:]
    # cut = largest c <= n where both texts continue with whitespace at c (or c == 0)
    cut = n
    while cut > 0 and not (
        cut < len(chosen) and cut < len(rejected)
        and chosen[cut].isspace() and rejected[cut].isspace()
    ):
        cut -= 1
    while cut > 0 and chosen[cut - 1].isspace():  # start of the whitespace run
        cut -= 1
    return chosen[:cut], chosen[cut:], rejected[cut:]


def extract_prompt(
    pair: PreferencePair, *, level: str = "message", marker: str | None = None
) -> PreferencePair:
    """An implicit-prompt pair (empty ``prompt``) with its prompt moved out of chosen/rejected.

    ``level="message"`` cuts at a message boundary (rule 3). ``level="text"`` is for standard
    text held as one message per side: the two texts are cut inside (rule 4) and the shared
    start becomes one ``user`` prompt message (none when it is empty). A pair that already has
    a prompt is returned unchanged; a new object is returned otherwise, the input is unchanged.
    """
    if level not in ("message", "text"):
        raise UsageError(f"level must be 'message' or 'text', got {level!r}")
    if pair.prompt:
        return pair
    chosen, rejected = list(pair.chosen), list(pair.rejected)
    if level == "text":
        if len(chosen) != 1 or len(rejected) != 1:
            raise RecordError("level='text' needs exactly one chosen and one rejected message",
                              loc="$.chosen", rule="not standard text")
        c_text, r_text = chosen[0].content or "", rejected[0].content or ""
        p, c, r = split_text(c_text, r_text, marker)
        prompt = [Message(role="user", content=p)] if p else []
        return pair.model_copy(update={
            "prompt": prompt,
            "chosen": [chosen[0].model_copy(update={"content": c})],
            "rejected": [rejected[0].model_copy(update={"content": r})],
        })
    p_msgs, c_msgs, r_msgs = split_messages(chosen, rejected)
    return pair.model_copy(update={"prompt": p_msgs, "chosen": c_msgs, "rejected": r_msgs})
