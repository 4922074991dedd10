"""Chat templates: untrusted Jinja code turned into training text, spans and token masks.

One module per responsibility, lowest first:

- ``sandbox``: transformers' Jinja environment and the bounds a template runs within.
- ``load``: templates and their special tokens from ``.jinja`` / ``tokenizer_config.json`` /
  ``chat_template.json`` files or folders.
- ``tokens``: offline ``tokenizers`` files, token ids and assistant masks.
- ``render``: records -> rendered rows (message dicts, prefix spans, ``render``).
- ``check``: the pre-flight ``check_template`` report (refusals and silent damage).

``dialogkit.rendering`` and ``dialogkit.template_check`` re-export the public names of the
previous flat modules.
"""

from __future__ import annotations

from dialogkit.templates.check import CheckReport, Finding, check_conversation, check_template
from dialogkit.templates.load import ChatTemplate, load_template
from dialogkit.templates.render import (
    Rendered,
    TemplateFailure,
    message_dicts,
    render,
    render_conversation,
    render_messages,
)
from dialogkit.templates.sandbox import COMPATS, has_generation_tags
from dialogkit.templates.tokens import Tokenizer, assistant_mask, load_tokenizer

__all__ = [
    "COMPATS",
    "ChatTemplate",
    "CheckReport",
    "Finding",
    "Rendered",
    "TemplateFailure",
    "Tokenizer",
    "assistant_mask",
    "check_conversation",
    "check_template",
    "has_generation_tags",
    "load_template",
    "load_tokenizer",
    "message_dicts",
    "render",
    "render_conversation",
    "render_messages",
]
