"""LLaMA-Factory's ``dataset_info.json`` beside an SFT output (``--dataset-info``).

LLaMA-Factory reads a dataset only through its entry in ``dataset_info.json`` (``file_name``,
``formatting``, ``columns``, ``tags``; ``data/README.md`` of hiyouga/LlamaFactory), and a column
the entry does not name is silently ignored (an alpaca file's ``system`` and ``history``). So
the entry is made from the file as written: :func:`finish_sft` reads the output back and names
every column LLaMA-Factory has a role for (``columns``), with the tags of the turns actually
written. Columns with no role there (``id``, metadata) are left out; LLaMA-Factory drops them.

:func:`update_dataset_info` merges one entry into the file by dataset name (the file's stem),
keeping the other entries and their order; the write is atomic.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson

from dialogkit.errors import UsageError
from dialogkit.formats._common import type_name
from dialogkit.io import Row, atomic_output, container_for, pending_path, read_rows
from dialogkit.registry import WriteContext

__all__ = ["dataset_key", "finish_sft", "sft_entry", "update_dataset_info"]

# LLaMA-Factory's role of each tag and the values dialogkit's sharegpt reader takes for it
_TAG_OF_ROLE = {"user": "user_tag", "assistant": "assistant_tag", "system": "system_tag",
                "tool": "observation_tag"}
_SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                   "chatgpt": "assistant", "bing": "assistant", "bard": "assistant",
                   "model": "assistant", "system": "system", "observation": "tool",
                   "tool": "tool"}
_LF_DEFAULT_TAGS = {"role_tag": "from", "content_tag": "value", "user_tag": "human",
                    "assistant_tag": "gpt", "observation_tag": "observation",
                    "function_tag": "function_call", "system_tag": "system"}
_OPENAI_TAGS = {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                "assistant_tag": "assistant", "observation_tag": "tool",
                "function_tag": "function_call", "system_tag": "system"}


def dataset_key(dst: str | os.PathLike[str]) -> str:
    """The dataset name of an output file in ``dataset_info.json``: its stem (``.gz`` off)."""
    name = Path(dst).name
    if name.endswith(".gz"):
        name = name[:-3]
    return Path(name).stem


def update_dataset_info(dst: str | os.PathLike[str], entry: dict[str, Any]) -> Path:
    """Create or update ``dataset_info.json`` beside ``dst`` with ``entry`` under its name."""
    info_path = Path(dst).parent / "dataset_info.json"
    info: dict[str, Any] = {}
    if info_path.exists():
        try:
            info = orjson.loads(info_path.read_bytes())
        except orjson.JSONDecodeError as exc:
            raise UsageError(f"{info_path} is not valid JSON ({exc}); fix or remove it") from exc
        if not isinstance(info, dict):
            raise UsageError(f"{info_path} must hold a JSON object, got {type_name(info)}")
    info[dataset_key(dst)] = entry
    with atomic_output(info_path) as out:
        out.write(orjson.dumps(info, option=orjson.OPT_INDENT_2) + b"\n")
    return info_path


def _columns_and_roles(dst: Any, messages_keys: tuple[str, ...], role_key: str
                       ) -> tuple[list[str], dict[str, set[str]], str | None]:
    """The columns of the written file (first-seen order), the role values of its turns by
    canonical role, and the list column holding the turns."""
    columns: dict[str, None] = {}
    roles: dict[str, set[str]] = {}
    list_key = None
    for row in read_rows(pending_path(dst), container_for(dst)):
        if not isinstance(row, Row) or not isinstance(row.data, dict):
            continue
        columns.update(dict.fromkeys(row.data))
        for key in messages_keys:
            turns = row.data.get(key)
            if isinstance(turns, list):
                list_key = list_key or key
                for turn in turns:
                    tag = turn.get(role_key) if isinstance(turn, dict) else None
                    if isinstance(tag, str) and tag != "function_call":
                        role = _SHAREGPT_ROLES.get(tag, tag)
                        roles.setdefault(role, set()).add(tag)
    return list(columns), roles, list_key


def sft_entry(fmt: str, file_name: str, columns: list[str], roles: dict[str, set[str]],
              list_key: str | None, role_key: str = "from", content_key: str = "value"
              ) -> dict[str, Any]:
    """The ``dataset_info.json`` entry of an SFT file written as ``fmt`` (alpaca, sharegpt,
    openai), naming each of ``columns`` LLaMA-Factory has a role for.

    Example:
        >>> sft_entry("alpaca", "sft.json", ["instruction", "input", "output", "history"], {},
        ...           None)["columns"]
        {'prompt': 'instruction', 'query': 'input', 'response': 'output', 'history': 'history'}
    """
    entry: dict[str, Any] = {"file_name": file_name, "formatting": fmt}
    cols: dict[str, str] = {}
    present = set(columns)
    if fmt == "alpaca":
        for role, col in (("prompt", "instruction"), ("query", "input"), ("response", "output"),
                          ("system", "system"), ("history", "history")):
            if col in present:
                cols[role] = col
    else:
        cols["messages"] = list_key or ("messages" if fmt == "openai" else "conversations")
        for col in ("system", "tools"):
            if col in present:
                cols[col] = col
    for col in ("images", "videos", "audios"):  # media columns beside <image> placeholders
        if col in present:
            cols[col] = col
    entry["columns"] = cols
    if fmt == "openai":
        entry["tags"] = dict(_OPENAI_TAGS)
    elif fmt == "sharegpt":
        tags = {"role_tag": role_key, "content_tag": content_key}
        for role, values in sorted(roles.items()):
            tag = _TAG_OF_ROLE.get(role)
            if tag is None:
                continue
            if len(values) > 1:
                raise UsageError(
                    f"LLaMA-Factory takes one tag per role, but the {role} turns of {file_name} "
                    f"are tagged {', '.join(sorted(values))}; write them with one name")
            tags[tag] = next(iter(values))
        tags = {k: v for k, v in tags.items() if _LF_DEFAULT_TAGS.get(k) != v}
        if tags:
            entry["tags"] = tags
    return entry


def finish_sft(fmt: str, dst: str | os.PathLike[str], ctx: WriteContext) -> None:
    """With option ``dataset_info``, write ``dst``'s entry into ``dataset_info.json`` beside it
    (nothing when the output is stdout or no row was written)."""
    if not ctx.options.get("dataset_info"):
        return
    role_key = ctx.options.get("role_tag") or ("role" if fmt == "openai" else "from")
    content_key = ctx.options.get("content_tag") or ("content" if fmt == "openai" else "value")
    keys = (ctx.options.get("messages_key") or "conversations", "messages") \
        if fmt == "sharegpt" else ("messages",)
    columns, roles, list_key = _columns_and_roles(dst, keys, role_key)
    if not columns:
        return
    entry = sft_entry(fmt, Path(dst).name, columns, roles, list_key, role_key, content_key)
    update_dataset_info(dst, entry)
