"""dialogkit: messy LLM post-training data in, clean validated chat-format datasets out.

The public API is curated here. ``import dialogkit`` imports nothing heavy (not pydantic, not
``datasets``, ``pyarrow``, ``jinja2``, ``rich`` or ``yaml``): every public name is loaded on first
use (PEP 562 ``__getattr__``), and the models build their validators on first use too.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # for type checkers and editors; at run time every name loads on first use
    from dialogkit.api import Report, convert, read, validate, write
    from dialogkit.errors import (
        DetectionError,
        DialogkitError,
        MissingDependencyError,
        OutputError,
        ParseError,
        RecordError,
        TemplateError,
        UnknownFormatError,
        UsageError,
    )
    from dialogkit.hf import from_dataset, to_dataset, to_iterable_dataset
    from dialogkit.models import (
        Candidate,
        Comparison,
        Conversation,
        Grading,
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
    from dialogkit.templates.check import check_template
    from dialogkit.templates.render import render

__version__ = "0.1.0"

# name -> the module it comes from, imported on first use (PEP 562): `import dialogkit` loads
# neither pydantic nor the models, so `dialogkit --help` and `import dialogkit` start fast
_LAZY: dict[str, str] = {
    **dict.fromkeys(("Report", "convert", "read", "validate", "write"), "dialogkit.api"),
    **dict.fromkeys(
        (
            "DetectionError", "DialogkitError", "MissingDependencyError", "OutputError",
            "ParseError",
            "RecordError", "TemplateError", "UnknownFormatError", "UsageError",
        ),
        "dialogkit.errors",
    ),
    **dict.fromkeys(
        (
            "Candidate", "Comparison", "Conversation", "Grading", "InstructionDemo", "Message",
            "PreferencePair", "PromptOnly", "Record", "Source", "ToolCall", "TrainerDialogue",
            "TrainerMessage", "UnpairedExample",
        ),
        "dialogkit.models",
    ),
    **dict.fromkeys(("Format", "Options", "all_formats", "get_format"), "dialogkit.registry"),
    "check_template": "dialogkit.templates.check",
    "from_dataset": "dialogkit.hf",
    "render": "dialogkit.templates.render",
    "to_dataset": "dialogkit.hf",
    "to_iterable_dataset": "dialogkit.hf",
}


def __getattr__(name: str) -> Any:
    """Load a public name on first use (``dialogkit.convert``, ``dialogkit.Conversation``, ...)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dialogkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The public names, loaded or not (so ``dir(dialogkit)`` lists the whole API)."""
    return sorted({*globals(), *_LAZY})


__all__ = [
    "Candidate",
    "Comparison",
    "Conversation",
    "DetectionError",
    "DialogkitError",
    "Format",
    "Grading",
    "InstructionDemo",
    "Message",
    "MissingDependencyError",
    "Options",
    "OutputError",
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
