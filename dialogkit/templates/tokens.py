"""Token ids and assistant masks: offline ``tokenizers`` files and the span-to-token rules.

transformers encodes the whole rendered string with ``add_special_tokens=False``; a token is in
the assistant mask when its offsets overlap an assistant span (v5), or by ``char_to_token`` of the
span ends with v4's quirks.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dialogkit.errors import MissingDependencyError, UsageError
from dialogkit.templates.load import _read_json, _special_tokens
from dialogkit.templates.sandbox import Compat, check_compat

__all__ = ["Tokenizer", "assistant_mask", "load_tokenizer"]


class Tokenizer:
    """A ``tokenizers.Tokenizer`` with the special tokens of its ``tokenizer_config.json``."""

    def __init__(self, backend: Any, special_tokens: Mapping[str, Any], source: str) -> None:
        self.backend = backend
        self.special_tokens = dict(special_tokens)
        self.source = source

    def encode(self, text: str) -> Any:
        """The Encoding of ``text`` without added special tokens (as apply_chat_template does)."""
        return self.backend.encode(text, add_special_tokens=False)


def _import_tokenizers() -> Any:
    try:
        import tokenizers
    except ImportError as exc:
        raise MissingDependencyError(
            "tokenizers", "tokenizing rendered chats", extra="tokenizers"
        ) from exc
    return tokenizers


_LLAMA_CLASSES = frozenset({"LlamaTokenizer", "LlamaTokenizerFast"})


def load_tokenizer(path: str | os.PathLike[str], compat: Compat | str = "v5") -> Tokenizer:
    """A tokenizer from a ``tokenizer.json`` or a folder with ``tokenizer.json`` and
    ``tokenizer_config.json`` (special tokens come from the config).

    The ``tokenizers`` package is imported here. Under v5, a config naming ``LlamaTokenizer``
    gets the pipeline transformers v5 builds for it (no normalizer; a Metaspace pre-tokenizer
    that adds the prefix ``▁`` to the first word only unless ``legacy`` is true), so ids match
    transformers; other tokenizers, and every tokenizer under v4, are used as the file says.
    """
    check_compat(compat)
    tokenizers = _import_tokenizers()
    p = Path(path)
    file = p / "tokenizer.json" if p.is_dir() else p
    if not file.is_file():
        raise UsageError(f"No tokenizer.json at {p}")
    try:
        backend = tokenizers.Tokenizer.from_file(str(file))
    except Exception as exc:  # tokenizers raises its own Exception type
        raise UsageError(f"{file} is not a tokenizers file: {exc}") from exc
    config_file = file.parent / "tokenizer_config.json"
    config = _read_json(config_file) if config_file.is_file() else {}
    if compat == "v5" and config.get("tokenizer_class") in _LLAMA_CLASSES:
        add_prefix_space = config.get("add_prefix_space")
        if add_prefix_space is None:
            add_prefix_space = True
        scheme = "never"
        if add_prefix_space:
            scheme = "always" if config.get("legacy", False) else "first"
        backend.normalizer = None
        backend.pre_tokenizer = tokenizers.pre_tokenizers.Metaspace(
            replacement="▁", prepend_scheme=scheme, split=False
        )
    return Tokenizer(backend, _special_tokens(config), str(p))


def assistant_mask(
    encoding: Any, spans: list[tuple[int, int]], compat: Compat | str = "v5"
) -> list[int]:
    """1 for each token in an assistant span: v5 by offset overlap, v4 by ``char_to_token``."""
    n = len(encoding.ids)
    mask = [0] * n
    if compat == "v4":
        for start, end in spans:
            start_tok = encoding.char_to_token(start)
            end_tok = encoding.char_to_token(end - 1)
            if start_tok is None:
                break
            for i in range(start_tok, end_tok + 1 if end_tok else n):
                mask[i] = 1
        return mask
    k = 0
    for i, (tok_start, tok_end) in enumerate(encoding.offsets):
        while k < len(spans) and tok_start >= spans[k][1]:
            k += 1
        if k == len(spans):
            break
        if tok_end > spans[k][0]:
            mask[i] = 1
    return mask
