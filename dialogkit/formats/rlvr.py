"""``gsm8k`` and ``math``: the public math sets of RL with verifiable rewards, as RL prompts.

Each row becomes a :class:`~dialogkit.models.PromptOnly` whose ``reference`` is the final
answer a rule-based reward compares with, ``task`` is ``"math"`` (verl's ``ability``), and
whose worked solution is kept, unchanged, in ``metadata["worked_solution"]``. Every other
column goes to ``metadata`` as usual.

- ``gsm8k``: ``{"question", "answer"}`` as OpenAI's grade-school-math release (``openai/gsm8k``
  on the Hub, ``grade_school_math/data/train.jsonl`` in github.com/openai/grade-school-math):
  ``answer`` is the worked solution ending with a ``#### N`` line; ``N`` without its thousands
  commas is the reference (:func:`dialogkit.ops.answers.gsm8k_answer`, the same extraction as
  verl's ``gsm8k`` reward). An answer with no such line is a RecordError.
- ``math``: ``{"problem", "solution", "level"?, "type"?}`` as Hendrycks et al.'s MATH
  (github.com/hendrycks/math; ``DigitalLearningGmbH/MATH-lighteval``, ``EleutherAI/
  hendrycks_math``): the reference is the argument of the solution's last ``\\boxed{}``
  (:func:`dialogkit.ops.answers.boxed_answer`); a solution with none is a RecordError.

Both are read-only: write the prompts with ``verl``, ``openrlhf`` or ``trl-prompt``. The
``source.format`` of each record (``gsm8k``/``math``) gives the ``verl`` writer its default
``data_source`` (``openai/gsm8k``, ``DigitalLearningGmbH/MATH-lighteval``: the names verl's
default reward function dispatches on). An ``id`` string column becomes the record id.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dialogkit.errors import RecordError
from dialogkit.formats._common import expect_object, field, leftovers
from dialogkit.formats._messages import policy_messages
from dialogkit.models import PromptOnly
from dialogkit.ops.answers import boxed_answer, gsm8k_answer
from dialogkit.registry import Format, Options, build, register

__all__ = ["GSM8K", "MATH", "WORKED"]

WORKED = "worked_solution"


def _prompt(row: dict[str, Any], key: str, opts: Options) -> list[dict[str, Any]]:
    text = field(row, key, str)
    return policy_messages([{"role": "user", "content": text}], [f"$.{key}"], opts)


def _record(row: dict[str, Any], prompt: list[Any], reference: str, worked: str,
            known: set[str]) -> Any:
    metadata = {WORKED: worked, **leftovers(row, known | {"id"})}
    data: dict[str, Any] = {"prompt": prompt, "reference": reference, "task": "math",
                            "metadata": metadata}
    if isinstance(row.get("id"), str):
        data["id"] = row["id"]
    elif "id" in row:
        metadata["id"] = row["id"]
    return build(PromptOnly, data)


class GSM8K(Format):
    """GSM8K rows ``{question, answer}``: the question as the prompt, ``#### N`` as reference."""

    name = "gsm8k"
    aliases = ("grade-school-math",)
    description = "GSM8K math word problems: question, answer ending '#### N' (RL prompts)"
    reads = ("prompt",)

    def detect(self, row: Any) -> int:
        if not isinstance(row, dict) or not isinstance(row.get("question"), str):
            return 0
        answer = row.get("answer")
        return 4 if isinstance(answer, str) and "#### " in answer else 0

    def read_row(self, data: Any, opts: Options) -> Iterable[Any]:
        row = expect_object(data)
        prompt = _prompt(row, "question", opts)
        worked = field(row, "answer", str)
        reference = gsm8k_answer(worked)
        if reference is None:
            raise RecordError("the answer has no final `#### N` line to take the reference from",
                              loc="$.answer", rule="no final answer")
        yield _record(row, prompt, reference, worked, {"question", "answer"})


class MATH(Format):
    """MATH rows ``{problem, solution}``: the problem as the prompt, the last boxed answer as
    reference."""

    name = "math"
    aliases = ("hendrycks-math", "competition-math")
    description = "MATH competition problems: problem, solution with \\boxed{} (RL prompts)"
    reads = ("prompt",)

    def detect(self, row: Any) -> int:
        if not isinstance(row, dict) or not isinstance(row.get("problem"), str):
            return 0
        solution = row.get("solution")
        if isinstance(solution, str) and ("\\boxed" in solution or "\\fbox" in solution):
            return 4
        return 0

    def read_row(self, data: Any, opts: Options) -> Iterable[Any]:
        row = expect_object(data)
        prompt = _prompt(row, "problem", opts)
        worked = field(row, "solution", str)
        reference = boxed_answer(worked)
        if reference is None:
            raise RecordError("the solution has no \\boxed{} answer to take the reference from",
                              loc="$.solution", rule="no boxed answer")
        yield _record(row, prompt, reference, worked, {"problem", "solution"})


GSM8K_FORMAT = register(GSM8K())
MATH_FORMAT = register(MATH())
