"""Ranked and K-candidate sources, read into Comparisons (or pairs): five read-only formats.

- ``ultrafeedback``: OpenBMB UltraFeedback ``{source, instruction, models, completions[{model,
  principle, custom_system_prompt, response, annotations{aspect: {Rating, Rationale}},
  fine-grained_score, overall_score, critique}]}`` -> Comparison; each candidate's ``score``
  comes from option ``ultrafeedback_score``: ``"overall"`` (default, ``overall_score``),
  ``"mean"`` (mean of the numeric aspect ``Rating`` strings, ``"N/A"`` left out) or an aspect
  name (that aspect's ``Rating``). The ranking is dense by score, higher = better: the best
  score gets rank 0, equal scores tie, a candidate without a score is unranked (``None``).
- ``summarize-feedback``: OpenAI summarize-from-feedback comparisons ``{info, summaries[{text,
  policy, note}], choice, worker, batch, split, extra}`` -> Comparison. The context is one user
  message built from ``info``: ``"SUBREDDIT: r/{subreddit}\\n\\nTITLE: {title}\\n\\nPOST:
  {post}\\n\\nTL;DR:"`` for Reddit posts, ``"TITLE: {title}\\n\\nARTICLE: {article}\\n\\nTL;DR:"``
  for news articles (a part whose field is missing or null is left out). Candidates are the
  summaries (``model`` = ``policy``, text kept with its leading space); ``choice`` gets rank 0,
  the others rank 1; ``labeler`` = ``worker``; ``info`` is kept whole in ``metadata``.
- ``shp``: Stanford Human Preferences ``{post_id, domain, upvote_ratio, history, c_root_id_A/B,
  created_at_utc_A/B, score_A, score_B, human_ref_A, human_ref_B, labels, seconds_difference,
  score_ratio}`` -> Comparison of two candidates (A, B) with scores ``score_A``/``score_B``;
  ``labels`` 1 (A preferred) gives ranking ``[0, 1]``, 0 gives ``[1, 0]``. Id:
  ``post_id/c_root_id_A/c_root_id_B``.
- ``stack-exchange-paired``: ``{question, response_j, response_k}`` (``response_j`` is
  preferred) -> PreferencePair; ``group_id`` is ``str(qid)`` when the row has a ``qid``.
- ``best-of-n``: K samples without a ranking, e.g. AlpacaFarm ``{instruction, input, output:
  [str, ...]}`` -> an unranked Comparison (``ranking=None``), ready to be ranked. The
  instruction and input become one user turn joined with the shared ``join`` option.

In every format the source keys with no model field go to ``metadata``; per-candidate leftovers
go to ``metadata["completions"]`` / ``metadata["summaries"]`` in candidate order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from dialogkit.errors import RecordError
from dialogkit.formats._common import expect_object, field, leftovers, type_name
from dialogkit.models import Comparison, PreferencePair
from dialogkit.ops.chat import user_text
from dialogkit.registry import Format, Options, build, register

_NUM = (int, float)


def _user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def _assistant(text: str) -> list[dict[str, Any]]:
    return [{"role": "assistant", "content": text}]


def ranking_from_scores(scores: list[float | None]) -> list[int | None] | None:
    """Dense ranks by score, higher = better (rank 0); ``None`` scores stay unranked."""
    levels = sorted({s for s in scores if s is not None}, reverse=True)
    if not levels:
        return None
    index = {s: i for i, s in enumerate(levels)}
    return [None if s is None else index[s] for s in scores]


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)


# ---------------------------------------------------------------------------------- ultrafeedback


def parse_rating(value: Any, loc: str) -> float | None:
    """An UltraFeedback ``Rating``: a string like ``"3"`` (or a number); ``"N/A"`` is no rating."""
    if value is None or value == "N/A":
        return None
    if isinstance(value, _NUM) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise RecordError(f'Expected a rating like "3" or "N/A", got {value!r}', loc=loc,
                      rule="bad rating")


class UltraFeedback(Format):
    """UltraFeedback instructions with rated completions -> scored, ranked Comparisons.

    Option ``ultrafeedback_score``: ``overall`` (default) | ``mean`` | an aspect name.
    """

    name = "ultrafeedback"
    description = "OpenBMB UltraFeedback (instruction, completions with ratings)"
    reads = ("comparison",)

    def detect(self, row: Any) -> int:
        if (isinstance(row, dict) and isinstance(row.get("instruction"), str)
                and isinstance(row.get("completions"), list)):
            return 20
        return 0

    def read_row(self, data: Any, opts: Options) -> Iterable[Any]:
        row = expect_object(data)
        how = str(opts.get("ultrafeedback_score", "overall"))
        instruction = field(row, "instruction", str)
        completions = field(row, "completions", list)
        candidates = []
        extras = []
        for i, comp in enumerate(completions):
            loc = f"$.completions[{i}]"
            comp = expect_object(comp, loc)
            response = field(comp, "response", str, loc)
            model = field(comp, "model", str, loc, required=False)
            score = self._score(comp, how, loc)
            candidates.append({"messages": _assistant(response), "model": model, "score": score})
            extras.append(leftovers(comp, ("response", "model")))
        scores = [c["score"] for c in candidates]
        meta = leftovers(row, ("instruction", "completions"))
        meta["completions"] = extras
        meta["score_from"] = how
        yield build(Comparison, {
            "context": _user(instruction), "candidates": candidates,
            "ranking": ranking_from_scores(scores), "metadata": meta,
        })

    @staticmethod
    def _score(comp: dict[str, Any], how: str, loc: str) -> float | None:
        if how == "overall":
            value = field(comp, "overall_score", _NUM, loc, required=False)
            return None if value is None else float(value)
        annotations = field(comp, "annotations", dict, loc)
        aloc = f"{loc}.annotations"
        if how == "mean":
            ratings = []
            for aspect, ann in annotations.items():
                ann = expect_object(ann, f"{aloc}.{aspect}")
                rating = parse_rating(ann.get("Rating"), f"{aloc}.{aspect}.Rating")
                if rating is not None:
                    ratings.append(rating)
            return sum(ratings) / len(ratings) if ratings else None
        ann = field(annotations, how, dict, aloc)
        return parse_rating(ann.get("Rating"), f"{aloc}.{how}.Rating")


# ----------------------------------------------------------------------------- summarize-feedback


def summarize_prompt(info: dict[str, Any], loc: str = "$.info") -> str:
    """The user turn for a summarize-from-feedback post or article (template in the docstring)."""
    parts = []
    if "post" in info and info["post"] is not None:
        subreddit = field(info, "subreddit", str, loc, required=False)
        if subreddit is not None:
            parts.append(f"SUBREDDIT: r/{subreddit}")
        title = field(info, "title", str, loc, required=False)
        if title is not None:
            parts.append(f"TITLE: {title}")
        parts.append(f"POST: {field(info, 'post', str, loc)}")
    elif "article" in info and info["article"] is not None:
        title = field(info, "title", str, loc, required=False)
        if title is not None:
            parts.append(f"TITLE: {title}")
        parts.append(f"ARTICLE: {field(info, 'article', str, loc)}")
    else:
        raise RecordError("missing required field `post` (or `article`)", loc=f"{loc}.post",
                          rule="missing post")
    return "\n\n".join(parts) + "\n\nTL;DR:"


class SummarizeFeedback(Format):
    """OpenAI summarize-from-feedback comparisons: the chosen summary ranks 0, the others 1."""

    name = "summarize-feedback"
    aliases = ("summarize-from-feedback", "tldr-comparisons")
    description = "OpenAI summarize-from-feedback comparisons (info, summaries, choice)"
    reads = ("comparison",)

    def detect(self, row: Any) -> int:
        if (isinstance(row, dict) and isinstance(row.get("info"), dict)
                and isinstance(row.get("summaries"), list) and "choice" in row):
            return 20
        return 0

    def read_row(self, data: Any, opts: Options) -> Iterable[Any]:
        row = expect_object(data)
        info = field(row, "info", dict)
        summaries = field(row, "summaries", list)
        choice = field(row, "choice", int)
        if not 0 <= choice < len(summaries):
            raise RecordError(
                f"choice {choice} is not an index into the {len(summaries)} summaries",
                loc="$.choice", rule="bad choice",
            )
        candidates = []
        extras = []
        for i, summ in enumerate(summaries):
            loc = f"$.summaries[{i}]"
            summ = expect_object(summ, loc)
            text = field(summ, "text", str, loc)
            policy = field(summ, "policy", str, loc, required=False)
            candidates.append({"messages": _assistant(text), "model": policy})
            extras.append(leftovers(summ, ("text", "policy")))
        meta = leftovers(row, ("summaries", "choice", "worker"))
        meta["summaries"] = extras
        yield build(Comparison, {
            "context": _user(summarize_prompt(info)),
            "candidates": candidates,
            "ranking": [0 if i == choice else 1 for i in range(len(summaries))],
            "labeler": field(row, "worker", str, required=False),
            "metadata": meta,
        })


# ------------------------------------------------------------------------------------------- shp

_SHP_KEYS = ("history", "human_ref_A", "human_ref_B", "score_A", "score_B", "labels")


class SHP(Format):
    """Stanford Human Preferences: two Reddit comments, scored, ``labels`` 1 = A preferred."""

    name = "shp"
    aliases = ("stanford-shp",)
    description = "Stanford Human Preferences (history, human_ref_A/B, labels, score_A/B)"
    reads = ("comparison",)

    def detect(self, row: Any) -> int:
        if isinstance(row, dict) and all(k in row for k in ("history", "human_ref_A",
                                                              "human_ref_B", "labels")):
            return 20
        return 0

    def read_row(self, data: Any, opts: Options) -> Iterable[Any]:
        row = expect_object(data)
        history = field(row, "history", str)
        refs = [field(row, "human_ref_A", str), field(row, "human_ref_B", str)]
        scores = [field(row, "score_A", _NUM, required=False),
                  field(row, "score_B", _NUM, required=False)]
        label = row.get("labels")
        if label not in (0, 1) or isinstance(label, bool):
            raise RecordError(f"Expected 0 or 1 (1 = A preferred), got {label!r}",
                              loc="$.labels", rule="bad labels")
        ids = [row.get(k) for k in ("post_id", "c_root_id_A", "c_root_id_B")]
        str_ids = [i for i in ids if isinstance(i, str)]
        yield build(Comparison, {
            "id": "/".join(str_ids) if len(str_ids) == len(ids) else None,
            "context": _user(history),
            "candidates": [
                {"messages": _assistant(ref), "score": None if s is None else float(s)}
                for ref, s in zip(refs, scores, strict=True)
            ],
            "ranking": [0, 1] if label == 1 else [1, 0],
            "metadata": leftovers(row, _SHP_KEYS),
        })


# ------------------------------------------------------------------------- stack-exchange-paired


class StackExchangePaired(Format):
    """A Stack Exchange question with a preferred (``response_j``) and a worse answer."""

    name = "stack-exchange-paired"
    aliases = ("stack-exchange", "se-paired")
    description = "Stack-Exchange-paired (question, response_j preferred, response_k)"
    reads = ("preference",)

    def detect(self, row: Any) -> int:
        if isinstance(row, dict) and all(
            isinstance(row.get(k), str) for k in ("question", "response_j", "response_k")
        ):
            return 20
        return 0

    def read_row(self, data: Any, opts: Options) -> Iterable[Any]:
        row = expect_object(data)
        qid = row.get("qid")
        yield build(PreferencePair, {
            "prompt": _user(field(row, "question", str)),
            "chosen": _assistant(field(row, "response_j", str)),
            "rejected": _assistant(field(row, "response_k", str)),
            "group_id": None if qid is None else str(qid),
            "metadata": leftovers(row, ("question", "response_j", "response_k")),
        })


# ------------------------------------------------------------------------------------- best-of-n


_NUMBERED = re.compile(r"output_([1-9][0-9]*)")


def _numbered_outputs(row: dict[str, Any]) -> list[str]:
    """``output_1 .. output_K`` keys of a row, in number order (AlpacaFarm's pairwise layout)."""
    keys = [(int(m.group(1)), k) for k in row if (m := _NUMBERED.fullmatch(k))]
    return [k for _, k in sorted(keys)]


class BestOfN(Format):
    """K sampled outputs for one instruction, not ranked yet (AlpacaFarm multisamples).

    Two layouts: ``{instruction, input, output: [str, ...]}`` (multisamples) and
    ``{instruction, input, output_1, output_2, ..., preference?}`` (AlpacaFarm's pairs to
    annotate; ``preference`` = the 1-based number of the preferred output, when annotated,
    ranks it 0 and the others 1; 0 or absent leaves them unranked).
    """

    name = "best-of-n"
    aliases = ("multisamples", "k-samples", "alpaca-farm")
    description = "K unranked samples per prompt ({instruction, input, output: [...]})"
    reads = ("comparison",)

    def detect(self, row: Any) -> int:
        if not isinstance(row, dict) or not isinstance(row.get("instruction"), str):
            return 0
        if _is_str_list(row.get("output")):
            return 10
        numbered = _numbered_outputs(row)
        if len(numbered) >= 2 and "output" not in row and all(
            isinstance(row[k], str) for k in numbered
        ):
            return 10
        return 0

    def read_row(self, data: Any, opts: Options) -> Iterable[Any]:
        row = expect_object(data)
        instruction = field(row, "instruction", str)
        inp = field(row, "input", str, required=False)
        ranking = None
        if "output" in row or not _numbered_outputs(row):
            keys: tuple[str, ...] = ("instruction", "input", "output")
            outputs = field(row, "output", list)
            for i, out in enumerate(outputs):
                if not isinstance(out, str):
                    raise RecordError(f"Expected `str`, got `{type_name(out)}`",
                                      loc=f"$.output[{i}]", rule="wrong type output")
        else:
            numbered = _numbered_outputs(row)
            outputs = [field(row, k, str) for k in numbered]
            keys = ("instruction", "input", *numbered, "preference")
            pref = row.get("preference")
            if pref is not None and pref != 0:
                if not isinstance(pref, int) or isinstance(pref, bool) or not (
                    1 <= pref <= len(outputs)
                ):
                    raise RecordError(
                        f"Expected the number of a preferred output (1..{len(outputs)}) or 0, "
                        f"got {pref!r}", loc="$.preference", rule="bad preference")
                ranking = [0 if i + 1 == pref else 1 for i in range(len(outputs))]
        yield build(Comparison, {
            "context": _user(user_text(instruction, inp, opts.join)),
            "candidates": [{"messages": _assistant(out)} for out in outputs],
            "ranking": ranking,
            "metadata": leftovers(row, keys),
        })


ULTRAFEEDBACK = register(UltraFeedback())
SUMMARIZE_FEEDBACK = register(SummarizeFeedback())
SHP_FORMAT = register(SHP())
STACK_EXCHANGE_PAIRED = register(StackExchangePaired())
BEST_OF_N = register(BestOfN())
