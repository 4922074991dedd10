"""Chat templates and their special tokens from files: ``.jinja``, ``tokenizer_config.json``,
``chat_template.json``, or a folder holding them (as transformers v5 picks among them).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dialogkit.errors import TemplateError, UsageError

__all__ = ["SPECIAL_TOKEN_NAMES", "ChatTemplate", "coerce_template", "load_template"]

SPECIAL_TOKEN_NAMES: tuple[str, ...] = (
    "bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token",
)


def _token_text(value: Any) -> str | None:
    """A special token from a tokenizer config: a string, or an AddedToken dict's ``content``."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and isinstance(value.get("content"), str):
        return str(value["content"])
    return None


def _special_tokens(config: Mapping[str, Any]) -> dict[str, Any]:
    """The named special tokens of a tokenizer config, plus ``additional_special_tokens``."""
    out: dict[str, Any] = {}
    for name in SPECIAL_TOKEN_NAMES:
        text = _token_text(config.get(name))
        if text is not None:
            out[name] = text
    extra = config.get("additional_special_tokens")
    if isinstance(extra, list):
        out["additional_special_tokens"] = [t for t in map(_token_text, extra) if t is not None]
    return out


def _template_map(value: Any, where: str) -> dict[str, str]:
    """A config's ``chat_template``: a string, or a list of ``{name, template}``."""
    if isinstance(value, str):
        return {"default": value}
    if isinstance(value, list) and all(
        isinstance(t, Mapping) and isinstance(t.get("name"), str)
        and isinstance(t.get("template"), str) for t in value
    ):
        return {t["name"]: t["template"] for t in value}
    if isinstance(value, Mapping) and all(isinstance(v, str) for v in value.values()):
        return dict(value)
    raise TemplateError(
        f"{where}: chat_template must be a string or a list of {{name, template}}, "
        f"got {type(value).__name__}"
    )


@dataclass(frozen=True)
class ChatTemplate:
    """One or more named chat templates and the special tokens of the config they came from."""

    templates: Mapping[str, str]
    special_tokens: Mapping[str, Any] = field(default_factory=dict)
    source: str = "<string>"

    def select(self, has_tools: bool) -> str:
        """The template transformers would pick: ``tool_use`` with tools, else ``default``."""
        if len(self.templates) == 1 and "default" in self.templates:
            return self.templates["default"]
        if has_tools and "tool_use" in self.templates:
            return self.templates["tool_use"]
        if "default" in self.templates:
            return self.templates["default"]
        raise TemplateError(
            f"{self.source} has several chat templates and none named 'default': "
            f"{', '.join(sorted(self.templates))}"
        )


def _load_error(path: Path, what: str) -> TemplateError:
    return TemplateError(f"a chat template failed to load: {path}: {what}")


def _read_text(path: Path) -> str:
    """A file's text; a TemplateError when it is not UTF-8 or cannot be read."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except UnicodeDecodeError as exc:
        raise _load_error(path, f"not UTF-8 text ({exc})") from exc
    except OSError as exc:
        raise _load_error(path, exc.strerror or str(exc)) from exc


def _read_json(path: Path) -> Any:
    """A JSON file; a TemplateError when it is not JSON or nests too deeply to parse."""
    text = _read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _load_error(path, f"not valid JSON ({exc})") from exc
    except RecursionError as exc:
        raise _load_error(path, "JSON nested too deeply") from exc


def load_template(path: str | os.PathLike[str]) -> ChatTemplate:
    """A chat template from a ``.jinja`` file, a ``tokenizer_config.json`` / ``chat_template.json``
    (string or list of named templates) or a folder holding one.

    A ``.jinja`` file takes its special tokens from a ``tokenizer_config.json`` beside it. In a
    folder, ``chat_template.jinja`` (with ``additional_chat_templates/*.jinja``) wins over
    ``chat_template.json``, which wins over ``tokenizer_config.json``, as in transformers v5;
    special tokens come from the folder's ``tokenizer_config.json``.
    """
    p = Path(path)
    if not p.exists():
        raise UsageError(f"No such template: {p}")
    if p.is_dir():
        config = p / "tokenizer_config.json"
        special = _special_tokens(_read_json(config)) if config.is_file() else {}
        jinja_file = p / "chat_template.jinja"
        if jinja_file.is_file():
            templates = {"default": _read_text(jinja_file)}
            extra = p / "additional_chat_templates"
            if extra.is_dir():
                for f in sorted(extra.glob("*.jinja")):
                    templates[f.stem] = _read_text(f)
            return ChatTemplate(templates, special, str(p))
        for name in ("chat_template.json", "tokenizer_config.json"):
            f = p / name
            if f.is_file():
                data = _read_json(f)
                if isinstance(data, Mapping) and data.get("chat_template") is not None:
                    return ChatTemplate(
                        _template_map(data["chat_template"], str(f)), special, str(p)
                    )
        raise UsageError(
            f"{p} holds no chat template (chat_template.jinja, chat_template.json or "
            "tokenizer_config.json with chat_template)"
        )
    if p.suffix == ".json":
        data = _read_json(p)
        if not isinstance(data, Mapping) or data.get("chat_template") is None:
            raise UsageError(f"{p} has no chat_template")
        return ChatTemplate(
            _template_map(data["chat_template"], str(p)), _special_tokens(data), str(p)
        )
    beside = p.parent / "tokenizer_config.json"  # the model's special tokens, when it is there
    special = _special_tokens(_read_json(beside)) if beside.is_file() else {}
    return ChatTemplate({"default": _read_text(p)}, special, str(p))


def coerce_template(template: ChatTemplate | str | os.PathLike[str]) -> ChatTemplate:
    """A ChatTemplate from an instance, a path, or a template string (anything with ``{``)."""
    if isinstance(template, ChatTemplate):
        return template
    if isinstance(template, str) and ("{" in template or "\n" in template):
        return ChatTemplate({"default": template})
    return load_template(template)
