"""Media references of content parts: reading a reference string, and writing it back.

A reader turns the string a format holds (a URL, a data URL, a local path) into a canonical
media part; a relative path is resolved against the input file's folder (or ``--media-root``),
so the canonical record names the file wherever the output goes. A writer turns the part back
into a string: a path is rewritten relative to the output's folder so it still points at the
same file, or, with ``--copy-media DIR``, the file is copied (hard-linked when it can be) under
DIR and referenced there, so the output folder is self-contained.

The options live in :attr:`Options.extra`: ``media_base`` (the folder relative paths are read
against), ``media_out`` (the output's folder), ``copy_media`` (DIR) and ``check_media``.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dialogkit.errors import RecordError
from dialogkit.models import MediaPart, Message

__all__ = [
    "MEDIA_COLUMNS",
    "PLACEHOLDERS",
    "MediaColumns",
    "iter_messages",
    "media_part",
    "media_ref",
    "media_source",
    "record_media",
    "with_placeholders",
]

PLACEHOLDERS: dict[str, str] = {"image": "<image>", "video": "<video>", "audio": "<audio>"}
"""LLaMA-Factory's placeholder tokens for each media type (its ``images``/``videos``/``audios``)."""

_URL_SCHEMES = ("http://", "https://", "ftp://", "s3://", "gs://", "file://", "hf://")
_MESSAGE_LISTS = ("messages", "prompt", "chosen", "rejected", "completion", "context")


def media_source(ref: str) -> dict[str, Any]:
    """A reference string as the source fields of a media part (``url``, ``path`` or ``data``)."""
    if ref.startswith("data:"):
        head, sep, payload = ref.partition(",")
        if sep and head.endswith(";base64"):
            out: dict[str, Any] = {"data": payload}
            mime = head[5:-7]
            if mime:
                out["mime_type"] = mime
            return out
        return {"url": ref}
    if ref.startswith(_URL_SCHEMES):
        return {"url": ref}
    return {"path": ref}


def media_part(kind: str, ref: str, opts: Any, loc: str, **extra: Any) -> dict[str, Any]:
    """A canonical media part dict for ``ref``; a relative path resolved against ``media_base``.

    With ``check_media`` on, a local file that does not exist is an error at ``loc``.
    """
    part: dict[str, Any] = {"type": kind, **media_source(ref)}
    path = part.get("path")
    if path is not None:
        base = opts.get("media_base")
        if base is not None and not os.path.isabs(path):
            path = part["path"] = os.path.normpath(os.path.join(base, path))
        if opts.get("check_media") and not os.path.isfile(path):
            raise RecordError(f"{kind} file not found: {path}", loc=loc, rule="media_missing")
    part.update({k: v for k, v in extra.items() if v is not None})
    return part


def media_ref(part: MediaPart, ctx: Any) -> str:
    """The string a writer puts for ``part``, counting it as written.

    A local path is copied under ``copy_media`` (once per file per run) and referenced there,
    else rewritten relative to the output's folder (``media_out``) so it resolves from there.
    """
    ctx.media[f"{part.type}.written"] += 1
    if part.path is None:
        return part.ref
    path = part.path
    opts = ctx.options
    out_dir = opts.get("media_out")
    copy_dir = opts.get("copy_media")
    if copy_dir is not None:
        path = _copied(path, copy_dir, opts.get("media_base"), ctx.state)
    if out_dir is None or not os.path.isabs(path):
        return path
    return Path(os.path.relpath(path, out_dir)).as_posix()


def _copied(path: str, copy_dir: str, base: str | None, state: dict[str, Any]) -> str:
    """``path`` copied (or hard-linked) under ``copy_dir``: its path below the input folder when
    it is inside it, else ``<hash>/<name>``. A missing file is an error naming it."""
    done: dict[str, str] = state.setdefault("copied_media", {})
    if path in done:
        return done[path]
    src = os.path.abspath(path)
    if base is not None and not os.path.relpath(src, base).startswith(".."):
        rel = os.path.relpath(src, base)
    else:
        digest = hashlib.sha256(os.path.dirname(src).encode()).hexdigest()[:12]
        rel = os.path.join(digest, os.path.basename(src))
    dst = os.path.abspath(os.path.join(copy_dir, rel))
    if not os.path.isfile(src):
        raise RecordError(f"cannot copy media: {path} does not exist", rule="media_missing")
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    if not os.path.exists(dst):
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)
    done[path] = dst
    return dst


def iter_messages(record: Any) -> Iterator[Message]:
    """Every message of a record of any kind (context, candidates, prompt, completions)."""
    for name in _MESSAGE_LISTS:
        msgs = getattr(record, name, None)
        if isinstance(msgs, list):
            yield from msgs
    for cand in getattr(record, "candidates", None) or ():
        yield from cand.messages


def record_media(record: Any) -> list[MediaPart]:
    """The media parts of a record, in message order."""
    return [p for m in iter_messages(record) for p in m.media]


_PLACEHOLDER_RE = re.compile("(<image>|<video>|<audio>)")
_KIND_OF = {v: k for k, v in PLACEHOLDERS.items()}
MEDIA_COLUMNS: dict[str, str] = {"image": "images", "video": "videos", "audio": "audios"}
"""The row column that lists each media type's files, in placeholder order (LLaMA-Factory)."""


class MediaColumns:
    """A row's ``images``/``videos``/``audios`` columns, taken in order by placeholders or
    bare parts; :meth:`check_all_taken` then says whether the counts matched."""

    def __init__(self, row: dict[str, Any], opts: Any) -> None:
        self.opts = opts
        self.entries: dict[str, list[Any]] = {}
        self.taken: dict[str, int] = {}
        for kind, col in MEDIA_COLUMNS.items():
            value = row.get(col)
            if value is None:
                continue
            if not isinstance(value, list):
                raise RecordError(f"Expected `array`, got `{type(value).__name__}`",
                                  loc=f"$.{col}", rule=f"wrong type {col}")
            self.entries[kind] = value
            self.taken[kind] = 0

    def __bool__(self) -> bool:
        return bool(self.entries)

    def columns(self) -> list[str]:
        """The names of the media columns the row has."""
        return [MEDIA_COLUMNS[k] for k in self.entries]

    def take(self, kind: str, loc: str, what: str) -> dict[str, Any]:
        """The next ``kind`` entry as a canonical media part; none left is ``media_count``."""
        entries = self.entries.get(kind)
        i = self.taken.get(kind, 0)
        col = MEDIA_COLUMNS[kind]
        if entries is None or i >= len(entries):
            raise RecordError(
                f"an {what} with no {kind}: the row's {col} column has none left for it",
                loc=loc, rule="media_count",
            )
        self.taken[kind] = i + 1
        ref = entries[i]
        eloc = f"$.{col}[{i}]"
        if not isinstance(ref, str):
            raise RecordError(f"Expected `str`, got `{type(ref).__name__}`", loc=eloc,
                              rule=f"wrong type {col}")
        return media_part(kind, ref, self.opts, eloc)

    def split(self, text: str, loc: str) -> Any:
        """``text`` with placeholders as a part list (text unchanged when it has none)."""
        if "<" not in text or not _PLACEHOLDER_RE.search(text):
            return text
        parts: list[dict[str, Any]] = []
        for piece in _PLACEHOLDER_RE.split(text):
            if piece in _KIND_OF:
                parts.append(self.take(_KIND_OF[piece], loc, f"{piece} placeholder"))
            elif piece:
                parts.append({"type": "text", "text": piece})
        return parts

    def check_all_taken(self, what: str = "placeholders") -> None:
        """Every entry of every media column must have been taken (rule ``media_count``)."""
        for kind, entries in self.entries.items():
            if self.taken[kind] != len(entries):
                col = MEDIA_COLUMNS[kind]
                raise RecordError(
                    f"the {col} column has {len(entries)} entries but the messages have "
                    f"{self.taken[kind]} {PLACEHOLDERS[kind] if what == 'placeholders' else kind}"
                    f" {what}", loc=f"$.{col}", rule="media_count",
                )


def with_placeholders(m: Message, ctx: Any, refs: dict[str, list[str]]) -> str | None:
    """A message's content as text with ``<image>``-style placeholders, each media part's
    reference appended to ``refs[type]`` in order (LLaMA-Factory's layout)."""
    c = m.content
    if c is None or isinstance(c, str):
        return c
    out = []
    for p in c:
        if p.type == "text":
            out.append(p.text)  # type: ignore[union-attr]
        else:
            if p.details:  # type: ignore[union-attr]
                ctx.drop("media.details")
            refs.setdefault(p.type, []).append(media_ref(p, ctx))  # type: ignore[arg-type]
            out.append(PLACEHOLDERS[p.type])
    return "".join(out)
