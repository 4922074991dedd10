"""``dialogkit publish``: a Hub-ready dataset folder, and uploading it to the Hub in one commit.

Only typer and the stdlib are imported here; the work is in :mod:`dialogkit.hub`.
"""

from __future__ import annotations

import shlex
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from dialogkit.cli.common import err, guarded

__all__ = ["register"]


def publish(
    inputs: Annotated[list[str], typer.Argument(
        metavar="INPUT...",
        help="Files (one split, train) or folders written by `dialogkit split` (one file a split).",
    )],
    out: Annotated[Path | None, typer.Option(
        "--out", help="Write the Hub-ready folder here (Parquet under data/, README.md).")
    ] = None,
    repo_id: Annotated[str | None, typer.Option(
        "--repo-id", metavar="OWNER/NAME", help="Upload to this Hub dataset repository.")] = None,
    config: Annotated[str, typer.Option(
        "--config", metavar="NAME", help="Config name (one config per record kind).")] = "default",
    private: Annotated[bool, typer.Option(
        "--private", help="Create the repository private.")] = False,
    revision: Annotated[str | None, typer.Option(
        "--revision", metavar="BRANCH", help="Commit to this branch (created if missing).")] = None,
    create_pr: Annotated[bool, typer.Option(
        "--create-pr", help="Open a pull request instead of committing to the branch.")] = False,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Print the upload plan (files, sizes, commit message); no network.")
    ] = False,
    from_: Annotated[str, typer.Option(
        "--from", "-f", help="Input format name, or auto to detect it.")] = "auto",
    to: Annotated[str | None, typer.Option(
        "--to", "-t", metavar="FORMAT",
        help="Publish the rows `dialogkit convert --to FORMAT` writes (default: the input's "
             "format; dialogkit: canonical records with every field).")] = None,
    provenance: Annotated[bool, typer.Option(
        "--provenance", help="Add a `source` column (input file name, line, format) to every "
                             "row; the card names the inputs either way.")] = False,
    timeout: Annotated[float, typer.Option(
        "--timeout", metavar="SECONDS", min=0.1,
        help="Connect and read timeout of each Hub request; retries stop after 4x this "
             "in total.")] = 10.0,  # hub.DEFAULT_TIMEOUT
    license: Annotated[str | None, typer.Option(
        "--license", help="Licence id of the dataset for the card, e.g. apache-2.0.")] = None,
    source_license: Annotated[list[str] | None, typer.Option(
        "--source-license", metavar="SOURCE=LICENCE",
        help="A source and its licence, as given (repeatable).")] = None,
    pretty_name: Annotated[str | None, typer.Option(
        "--pretty-name", help="Human name of the dataset (default: the folder or repo name).")
    ] = None,
    language: Annotated[list[str] | None, typer.Option(
        "--language", help="Language code(s) for the card (default: detected from the text).")
    ] = None,
    recipe: Annotated[Path | None, typer.Option(
        "--recipe", help="The recipe file the data was built with (quoted in the card).")] = None,
    message: Annotated[str | None, typer.Option(
        "--message", "-m", help="Commit message.")] = None,
) -> None:
    """Write INPUT... as a Hub-ready dataset (--out DIR) and/or upload it (--repo-id OWNER/NAME)."""
    from dialogkit.errors import UsageError
    from dialogkit.hub import export_folder, plan_upload, upload

    if out is None and repo_id is None:
        raise UsageError("give --out DIR, --repo-id OWNER/NAME, or both")
    if out is not None:
        _check_not_inside(inputs, out)
    if repo_id is None and (private or revision or create_pr or dry_run):
        raise UsageError("--private, --revision, --create-pr and --dry-run need --repo-id")
    command = "dialogkit publish " + " ".join(
        shlex.quote(a) for a in sys.argv[2:] if a.strip()
    ) if len(sys.argv) > 2 else None
    name = pretty_name or (repo_id.split("/")[-1] if repo_id else None)
    from dialogkit.io import remove_stale, temp_prefix

    remove_stale(tempfile.gettempdir(), "dialogkit-publish-")  # left by killed runs
    with tempfile.TemporaryDirectory(prefix=temp_prefix("dialogkit-publish-")) as tmp:
        folder = out if out is not None else Path(tmp) / "dataset"
        res = export_folder(
            inputs, folder, config=config, format=from_, to=to, provenance=provenance,
            repo_id=repo_id, license=license,
            source_licenses=source_license or (), pretty_name=name, language=language,
            recipe=recipe, command=command,
        )
        counts = ", ".join(
            f"{c.name}/{s.name} {s.num_examples}" for c in res.configs for s in c.splits.values()
        )
        if out is not None:
            err(f"wrote {out}: {counts}")
        if repo_id is None:
            return
        if dry_run:
            plan = plan_upload(folder, repo_id, revision=revision, create_pr=create_pr,
                               private=private, commit_message=message)
            for line in plan.lines():
                print(line)
            err(f"dry run: nothing was sent ({counts})")
            return
        url = upload(folder, repo_id, private=private, revision=revision, create_pr=create_pr,
                     commit_message=message, log=err, timeout=timeout)
        err(f"published {counts}")
        print(url)


def _check_not_inside(inputs: list[str], out: Path) -> None:
    """A UsageError when an input lies in the --out folder, which is replaced as a whole."""
    import os

    from dialogkit.errors import UsageError

    folder = os.path.realpath(out)
    for src in inputs:
        real = os.path.realpath(src)
        if real == folder or real.startswith(folder.rstrip(os.sep) + os.sep):
            raise UsageError(f"input {src} is inside --out {out}, which publish replaces as a "
                             "whole; give another --out folder")


def register(app: typer.Typer) -> None:
    """Add ``publish`` to the dialogkit app."""
    app.command("publish")(guarded(publish))
