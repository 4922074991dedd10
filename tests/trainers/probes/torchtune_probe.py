"""Run in torchtune's venv: its own ``chat_dataset`` and ``preference_dataset`` builders.

Usage: torchtune_probe.py TOKENIZER_JSON CHAT.jsonl PAIRS.jsonl. torchtune 0.6.1 has no model
tokenizer for a bare ``tokenizer.json`` (its Phi-3 tokenizer wants a SentencePiece model file),
so a minimal ``ModelTokenizer`` wraps torchtune's own ``HuggingFaceBaseTokenizer`` and joins
each message's text; the builders' loading and message conversion
(``OpenAIToMessages``, ``ChosenRejectedToMessages``) are torchtune's. Prints one JSON line: the
messages (role, text, masked) torchtune built for each row.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from torchtune.datasets import chat_dataset, preference_dataset
from torchtune.modules.transforms.tokenizers import HuggingFaceBaseTokenizer

SEEN: list[list[dict[str, Any]]] = []


class Tokenizer:
    """The ModelTokenizer protocol torchtune's datasets call, recording the messages."""

    def __init__(self, path: str) -> None:
        self.base = HuggingFaceBaseTokenizer(path, tokenizer_config_json_path=path.replace(
            "tokenizer.json", "tokenizer_config.json"))
        self.special_tokens: dict[str, int] = {}
        self.max_seq_len = None
        self.eos_id = 2
        self.pad_id = 0

    def tokenize_messages(self, messages: list[Any], **kwargs: Any) -> tuple[list[int], list[bool]]:
        SEEN.append([{"role": m.role, "text": m.text_content, "masked": m.masked}
                     for m in messages])
        tokens: list[int] = []
        mask: list[bool] = []
        for m in messages:
            ids = self.base.encode(m.text_content, add_bos=False, add_eos=False)
            tokens += ids
            mask += [m.masked] * len(ids)
        return tokens, mask

    def __call__(self, sample: dict[str, Any], inference: bool = False) -> dict[str, Any]:
        tokens, mask = self.tokenize_messages(sample.pop("messages"))
        return {**sample, "tokens": tokens, "mask": mask}


def main() -> None:
    tok = Tokenizer(sys.argv[1])
    chat = chat_dataset(tok, source="json", data_files=sys.argv[2], conversation_column="messages",
                        conversation_style="openai", split="train")
    chat_rows = []
    for i in range(len(chat)):
        chat[i]
        chat_rows.append(SEEN.pop())
    pairs = preference_dataset(tok, source="json", data_files=sys.argv[3], split="train")
    pair_rows = []
    for i in range(len(pairs)):
        pairs[i]
        rejected, chosen = SEEN.pop(), SEEN.pop()
        pair_rows.append({"chosen": chosen, "rejected": rejected})
    print(json.dumps({"chat": chat_rows, "pairs": pair_rows}, ensure_ascii=False))


if __name__ == "__main__":
    main()
