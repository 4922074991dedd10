"""The ``render`` and ``check-template`` commands (a thin layer over dialogkit.templates).

Only typer and the stdlib are imported here; the library loads inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dialogkit.cli.common import OnError, err, guarded, progress_counter

__all__ = ["register"]


TemplateOpt = Annotated[
    Path,
    typer.Option(
        "--template",
        help="A .jinja file, a tokenizer_config.json / chat_template.json, or a folder with one.",
    ),
]
TokenizerOpt = Annotated[
    Path | None,
    typer.Option(
        "--tokenizer",
        help="A tokenizer.json, or a folder with tokenizer.json and tokenizer_config.json.",
    ),
]
BosOpt = Annotated[
    str | None,
    typer.Option("--bos-token", help="bos_token for templates that write it (overrides the "
                 "tokenizer_config.json beside the template and --tokenizer's)."),
]
EosOpt = Annotated[
    str | None,
    typer.Option("--eos-token", help="eos_token for templates that write it (overrides the "
                 "tokenizer_config.json beside the template and --tokenizer's)."),
]
MaxTemplateCharsOpt = Annotated[
    int,
    typer.Option("--max-template-chars", min=1,
                 help="Largest value (string, list, JSON text) a template may build; a "
                      "template that tries more is stopped."),
]
MaxTokensOpt = Annotated[
    int | None, typer.Option("--max-tokens", min=1, help="Records longer than this are flagged.")
]


def render_cmd(
    input: Annotated[str, typer.Argument(help="Input file (any format), or - for stdin.")],
    output: Annotated[str, typer.Argument(help="Output .jsonl or .parquet, or - for stdout.")],
    template: TemplateOpt,
    tokenizer: TokenizerOpt = None,
    add_generation_prompt: Annotated[
        bool, typer.Option("--add-generation-prompt", help="End with the assistant header.")
    ] = False,
    max_tokens: Annotated[
        int | None,
        typer.Option("--max-tokens", min=1, help="Reject records longer than this (tokens)."),
    ] = None,
    on_error: Annotated[
        OnError,
        typer.Option("--on-error", help="raise: stop at the first refused record; skip it."),
    ] = OnError.raise_,
    bos_token: BosOpt = None,
    eos_token: EosOpt = None,
    max_template_chars: MaxTemplateCharsOpt = 40_000_000,
) -> None:
    """Render INPUT with a chat template into OUTPUT rows: text (+ ids and assistant masks)."""
    from dialogkit.api import iter_outcomes
    from dialogkit.errors import UsageError
    from dialogkit.io import check_paths, write_rows
    from dialogkit.registry import Reject
    from dialogkit.templates import load_template, load_tokenizer, render

    # no --in-place here (rendered rows are not the input's format): OUTPUT must be another file
    check_paths([input], [("OUTPUT", output)], main_output=False)
    if max_tokens is not None and tokenizer is None:
        raise UsageError("--max-tokens needs --tokenizer")
    tpl = load_template(template)
    tok = load_tokenizer(tokenizer) if tokenizer is not None else None
    counts = {"read": 0, "written": 0, "rejected": 0}
    reasons: dict[str, int] = {}

    with progress_counter(f"rendering {input}") as update:

        def rows():  # type: ignore[no-untyped-def]
            def counted():  # type: ignore[no-untyped-def]
                for item in iter_outcomes(input):
                    counts["read"] += 1
                    update(counts["read"])
                    yield item

            for row in render(
                counted(), template=tpl, tokenizer=tok,
                add_generation_prompt=add_generation_prompt, max_tokens=max_tokens,
                on_error=on_error.value, template_kwargs=_tokens(bos_token, eos_token),
                max_template_chars=max_template_chars,
            ):
                if isinstance(row, Reject):
                    counts["rejected"] += 1
                    reasons[row.error.rule] = reasons.get(row.error.rule, 0) + 1
                    continue
                yield row

        counts["written"] = write_rows(rows(), output)
    err(f"rendered {input}: read {counts['read']}, written {counts['written']}, "
        f"rejected {counts['rejected']}")
    for rule, n in sorted(reasons.items()):
        err(f"  rejected {n}: {rule}")


def check_template_cmd(
    input: Annotated[str, typer.Argument(help="Input file (any format), or - for stdin.")],
    template: TemplateOpt,
    tokenizer: TokenizerOpt = None,
    max_tokens: MaxTokensOpt = None,
    bos_token: BosOpt = None,
    eos_token: EosOpt = None,
    max_template_chars: MaxTemplateCharsOpt = 40_000_000,
) -> None:
    """Show the records the template refuses or silently damages; exit 1 if there are any."""
    from rich.console import Console
    from rich.table import Table

    from dialogkit.api import iter_outcomes
    from dialogkit.templates import check_template, load_template, load_tokenizer

    tpl = load_template(template)
    tok = load_tokenizer(tokenizer) if tokenizer is not None else None
    with progress_counter(f"checking {input}") as update:
        rep = check_template(
            iter_outcomes(input), tpl, tok, max_tokens=max_tokens, progress=update,
            template_kwargs=_tokens(bos_token, eos_token), max_template_chars=max_template_chars,
        )
    console = Console(width=160, highlight=False)
    console.print(f"{input}: {rep.records} records, {rep.damaged} refused or damaged "
                  f"by {template}")
    if rep.findings:
        summary = Table("issue", "records", box=None)
        for issue, n in sorted(rep.by_issue.items()):
            summary.add_row(issue, str(n))
        console.print(summary)
        table = Table("record", "issue", "detail", box=None)
        for f in rep.findings:
            table.add_row(f.record, f.issue, f.detail)
        console.print(table)
        raise typer.Exit(1)


def _tokens(bos: str | None, eos: str | None) -> dict[str, str]:
    """--bos-token / --eos-token as template variables (they win over special tokens)."""
    return {k: v for k, v in (("bos_token", bos), ("eos_token", eos)) if v is not None}


def register(app: typer.Typer) -> None:
    """Add ``render`` and ``check-template`` to the dialogkit app."""
    app.command("render")(guarded(render_cmd))
    app.command("check-template")(guarded(check_template_cmd))
