"""dialogkit: messy LLM post-training data in, clean validated chat-format datasets out.

The public API is curated here; ``import dialogkit`` never imports ``datasets``, ``pyarrow`` or
``jinja2``: the functions that need them are loaded on first use (PEP 562 ``__getattr__``).
"""

from __future__ import annotations

import importlib
from typing import Any

from dialogkit.api import Report, convert, read, validate, write
from dialogkit.errors import (
    DetectionError,
    DialogkitError,
    MissingDependencyError,
    ParseError,
    RecordError,
    TemplateError,
    UnknownFormatError,
    UsageError,
)
from dialogkit.models import (
    Candidate,
    Comparison,
    Conversation,
    InstructionDemo,
    Message,
    PreferencePair,
    PromptOnly,
    Record,
    Source,
    ToolCall,
    TrainerDialogue,
    TrainerMessage,
    UnpairedExample,
)
from dialogkit.registry import Format, Options, all_formats, get_format

__version__ = "0.1.0"

# name -> module of the functions loaded on first use, so `import dialogkit` stays light
_LAZY = {
    "check_template": "dialogkit.template_check",
    "from_dataset": "dialogkit.hf",
    "render": "dialogkit.rendering",
    "to_dataset": "dialogkit.hf",
    "to_iterable_dataset": "dialogkit.hf",
}


def __getattr__(name: str) -> Any:
    """Load a heavy public function on first use (``dialogkit.to_dataset``, ``render``, ...)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dialogkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value

__all__ = [
    "Candidate",
    "Comparison",
    "Conversation",
    "DetectionError",
    "DialogkitError",
    "Format",
    "InstructionDemo",
    "Message",
    "MissingDependencyError",
    "Options",
    "ParseError",
    "PreferencePair",
    "PromptOnly",
    "Record",
    "RecordError",
    "Report",
    "Source",
    "TemplateError",
    "ToolCall",
    "TrainerDialogue",
    "TrainerMessage",
    "UnknownFormatError",
    "UnpairedExample",
    "UsageError",
    "__version__",
    "all_formats",
    "check_template",
    "convert",
    "from_dataset",
    "get_format",
    "read",
    "render",
    "to_dataset",
    "to_iterable_dataset",
    "validate",
    "write",
]
