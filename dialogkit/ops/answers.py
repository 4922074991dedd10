"""Reference answers out of worked solutions, the way the verifiers of RLVR read them.

- GSM8K: the solution ends with a ``#### N`` line; ``N`` (commas removed) is the answer. This is
  the extraction of OpenAI's grade-school-math repo and of verl's ``gsm8k`` reward
  (``re.search("#### (\\-?[0-9\\.\\,]+)", text)``, then ``.replace(",", "")``).
- MATH (Hendrycks et al.): the answer is the argument of the last ``\\boxed{...}`` (or
  ``\\fbox{...}``) of the solution, braces balanced, as ``last_boxed_only_string`` and
  ``remove_boxed`` of the MATH repo (and verl's ``math`` reward) take it.
"""

from __future__ import annotations

import re

__all__ = ["boxed_answer", "gsm8k_answer"]

_GSM8K = re.compile(r"#### (\-?[0-9\.\,]+)")


def gsm8k_answer(solution: str) -> str | None:
    """The final number of a GSM8K solution (``None`` without a ``#### N`` line).

    Example:
        >>> gsm8k_answer("3 + 4 = <<3+4=7>>7 apples\\n#### 1,007")
        '1007'
        >>> gsm8k_answer("no final line") is None
        True
    """
    found = _GSM8K.search(solution)
    if found is None:
        return None
    return found.group(1).replace(",", "")


def boxed_answer(solution: str) -> str | None:
    """The argument of the last ``\\boxed{}``/``\\fbox{}`` of a solution (``None`` if none).

    Example:
        >>> boxed_answer("so $x = \\\\boxed{2^{10}}$ and $\\\\boxed{1{,}024}$.")
        '1{,}024'
        >>> boxed_answer("no box") is None
        True
    """
    at = max(solution.rfind("\\boxed"), solution.rfind("\\fbox"))
    if at < 0:
        return None
    rest = solution[at:]
    if rest.startswith("\\boxed "):  # "\boxed 5": the answer runs to the next "$"
        return rest[len("\\boxed "):].split("$")[0].strip()
    open_at = rest.find("{")
    if open_at < 0:
        return None
    depth = 0
    for i in range(open_at, len(rest)):
        if rest[i] == "{":
            depth += 1
        elif rest[i] == "}":
            depth -= 1
            if depth == 0:
                return rest[open_at + 1:i]
    return None  # unbalanced braces
