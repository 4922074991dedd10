"""The names of the former flat rendering module; the code lives in :mod:`dialogkit.templates`."""

from __future__ import annotations

from dialogkit.templates.load import ChatTemplate, load_template
from dialogkit.templates.render import (
    Rendered,
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
    "Rendered",
    "Tokenizer",
    "assistant_mask",
    "has_generation_tags",
    "load_template",
    "load_tokenizer",
    "message_dicts",
    "render",
    "render_conversation",
    "render_messages",
]
