"""dialogkit: messy LLM post-training data in, clean validated chat-format datasets out.

The public API is curated here; ``import dialogkit`` never imports ``datasets``.
"""

from __future__ import annotations

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
    "convert",
    "get_format",
    "read",
    "validate",
    "write",
]
