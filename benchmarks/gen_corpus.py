"""Write a seeded, deterministic Alpaca-style JSONL corpus for the convert benchmark.

The shape mirrors ``shared/research/perf-anchors.md`` (the corpus the anchors were measured on):
``{"instruction", "input", "output"}`` per line; instruction lengths log-normal (median ~99
chars, p99 ~300); ``input`` non-empty in 40% of records (median ~83, at most 1,501); output
log-normal (median ~165, mean ~253, p99 ~1,400, at most 3,000); 20% Japanese (kana/kanji, 0.55x
the English character count, written as raw UTF-8); ~5.8% with emoji (ZWJ and skin-tone
sequences included); ~12% with a fenced code block holding quotes, backslashes and tabs.

The same ``--seed`` and ``--mb`` give the same bytes, and a smaller ``--mb`` with the same seed
gives a prefix of a larger one (records are drawn one by one until the size is reached), so
two sizes of one corpus differ only in length.

Usage::

    python benchmarks/gen_corpus.py --mb 100 --seed 20260101 --out benchmarks/data/alpaca.jsonl
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_SEED", "generate", "main", "record", "write_corpus"]

DEFAULT_SEED = 20260101
MB = 1_000_000  # "MB" means 10^6 bytes throughout the benchmarks, as in perf-anchors.md

# log-normal parameters (mu = ln(median); sigma from mean/median or p99/median); the English
# medians sit ~9% above the targets so the whole corpus (20% Japanese at 0.55x) lands on them
_INSTRUCTION = (math.log(108), 0.478, 12, 600)  # mu, sigma, min, max chars
_INPUT = (math.log(92), 0.85, 3, 1501)
_OUTPUT = (math.log(178), 0.924, 2, 3000)
_P_JAPANESE = 0.20
_P_INPUT = 0.40
_P_EMOJI = 0.058
_P_CODE = 0.12
_P_ODD_SPACING = 0.03  # Alpaca's own quirk: "1.Eat ... \n2. Exercise" (space before newline)
_JA_SCALE = 0.55

_EN_WORDS = (
    "the of and to a in is that for it as with was on be by this are or from at an which "
    "but not have has can all one more also their will about there other when into some "
    "time these two may first then only new use how its most over such after people any "
    "data model train example value list number text write explain describe give provide "
    "summarize classify translate generate create find identify compare suggest rewrite "
    "following sentence paragraph article story poem question answer reason step result "
    "function code program python string file table word letter name city country water "
    "energy health food sleep exercise science history music art book movie computer "
    "network language learning machine system process method problem solution idea plan "
    "important different several small large simple clear short long good better best "
    "because however therefore although while where why what who each every many few "
    "healthy balanced daily regularly quickly carefully easily often usually always never "
    "climate change pollution environment economy market price customer service product "
    "team project meeting email report review feedback design user interface feature test "
    "bake crepes flour eggs milk butter salt sugar mix whisk cook pan heat minutes serve"
).split()
_EN_PUNCT = (",", ",", ".", ".", ".", "?", ":", ";")

_JA_WORDS = (
    "日本語 説明 して ください データ 学習 モデル 東京 大阪 京都 について の は が を に で と "
    "から まで です ます でした ません 今日 明日 天気 料理 健康 運動 睡眠 食事 野菜 果物 "
    "経済 環境 問題 解決 方法 理由 結果 文章 質問 回答 翻訳 要約 分類 作成 生成 比較 "
    "重要 簡単 難しい 新しい 古い 大きい 小さい 多い 少ない 人工知能 機械学習 自然言語処理 "
    "プログラム コード 関数 変数 ファイル ネットワーク システム ユーザー サービス 製品 "
    "ヴァージン・オーストラリア 航空 運航 開始 会社 社会 歴史 音楽 映画 本 物語 詩 "
    "ひらがな カタカナ 漢字 例えば つまり しかし そして また さらに 以下 次 最初 最後"
).split()
_JA_PUNCT = ("、", "、", "。", "。", "？", "「", "」", "（", "）")

_EMOJI = (
    "😀", "😂", "🚀", "✅", "❤️", "👍", "🎉", "🙏", "🔥", "🤖", "🍣", "🗾",
    "👍🏻", "👋🏽", "🙌🏿", "🧑🏽‍💻", "👩‍🔬", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🧑‍🤝‍🧑", "🇯🇵",
)

_CODE = (
    'def greet(name):\n\t"""Say hello."""\n\treturn f"Hello, {name}!\\n"\n',
    'path = "C:\\\\Users\\\\alice\\\\data.json"\nprint("loaded \\"%s\\"" % path)\n',
    "import re\npattern = re.compile(r'\\d+\\.\\d*\\s+\"quoted\"')\n",
    'for i in range(10):\n\tif i % 2 == 0:\n\t\tprint(i, end="\\t")\n',
    'SELECT name, "order" FROM users WHERE note LIKE \'%\\_%\' ESCAPE \'\\\\\';\n',
    'const s = "tab\\there";\nconsole.log(`quote: "${s}"`, \'single \\\'q\\\'\');\n',
    'printf("%d\\t%s\\n", n, "a \\"b\\" c");\n',
    'echo "$HOME" | sed \'s/\\//\\\\\\//g\'\n',
)
_CODE_LANGS = ("python", "python", "", "sql", "javascript", "c", "bash")


def _length(rng: random.Random, spec: tuple[float, float, int, int], scale: float = 1.0) -> int:
    mu, sigma, lo, hi = spec
    n = int(rng.lognormvariate(mu, sigma) * scale)
    return max(int(lo * scale) or 1, min(n, hi))


def _english(rng: random.Random, n: int) -> str:
    """About ``n`` characters of English-like words with punctuation and paragraph breaks."""
    words = rng.choices(_EN_WORDS, k=n // 5 + 3)
    parts: list[str] = []
    size = 0
    cap = True
    for w in words:
        if cap:
            w = w[:1].upper() + w[1:]
            cap = False
        r = rng.random()
        if r < 0.09:
            p = rng.choice(_EN_PUNCT)
            w += p
            cap = p in ".?"
        parts.append(w)
        size += len(w) + 1
        if size >= n:
            break
        if r > 0.985 and size > 40:
            parts.append("\n\n" if r > 0.99 else "\n")
            cap = True
    text = " ".join(parts).replace(" \n", "\n").replace("\n ", "\n")[:n].rstrip(" ")
    return text if text.endswith((".", "?")) else text[: n - 1].rstrip(" ") + "."


def _japanese(rng: random.Random, n: int) -> str:
    """About ``n`` characters of Japanese (kana/kanji, no spaces) with punctuation."""
    parts: list[str] = []
    size = 0
    for w in rng.choices(_JA_WORDS, k=n // 2 + 3):
        if rng.random() < 0.15:
            w += rng.choice(_JA_PUNCT)
        parts.append(w)
        size += len(w)
        if size >= n:
            break
    text = "".join(parts)[:n]
    return text if text.endswith("。") else text[: n - 1] + "。"


def _code_block(rng: random.Random, n: int) -> str:
    body = []
    size = 0
    while size < max(n, 40):
        snippet = rng.choice(_CODE)
        body.append(snippet)
        size += len(snippet)
    lang = rng.choice(_CODE_LANGS)
    return f"```{lang}\n{''.join(body)}```"


def _insert(rng: random.Random, text: str, extra: str) -> str:
    at = rng.randrange(len(text) + 1)
    return f"{text[:at]}{extra}{text[at:]}"


def record(rng: random.Random) -> dict[str, str]:
    """One Alpaca record drawn from ``rng`` (key order: instruction, input, output)."""
    japanese = rng.random() < _P_JAPANESE
    scale = _JA_SCALE if japanese else 1.0
    text = _japanese if japanese else _english
    instruction = text(rng, _length(rng, _INSTRUCTION, scale))
    inp = text(rng, _length(rng, _INPUT, scale)) if rng.random() < _P_INPUT else ""
    out_len = _length(rng, _OUTPUT, scale)
    if rng.random() < _P_CODE:
        code_len = max(40, out_len // 2)
        lead = text(rng, max(10, out_len - code_len))
        output = f"{lead}\n\n{_code_block(rng, code_len)}"
        if rng.random() < 0.5:
            output += "\n\n" + text(rng, 40)
    else:
        output = text(rng, out_len)
    if rng.random() < _P_ODD_SPACING:
        output = output.replace(". ", ". \n", 1).replace("\n\n", " \n", 1)
    if rng.random() < _P_EMOJI:
        for _ in range(rng.randint(1, 3)):
            emoji = rng.choice(_EMOJI)
            if rng.random() < 0.3:
                instruction = _insert(rng, instruction, emoji)
            else:
                output = _insert(rng, output, emoji)
    return {"instruction": instruction, "input": inp, "output": output}


def generate(seed: int = DEFAULT_SEED) -> Iterator[bytes]:
    """Endless JSONL lines (UTF-8 bytes, raw non-ASCII, ending in ``\\n``) for ``seed``."""
    rng = random.Random(seed)
    dumps = json.JSONEncoder(ensure_ascii=False).encode
    while True:
        yield (dumps(record(rng)) + "\n").encode("utf-8")


def write_corpus(out: Path, mb: float, seed: int = DEFAULT_SEED) -> dict[str, Any]:
    """Write records to ``out`` until it holds at least ``mb`` x 10^6 bytes; return its stats."""
    target = int(mb * MB)
    out.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    size = 0
    with open(out, "wb") as f:
        for line in generate(seed):
            if size >= target and n > 0:
                break
            f.write(line)
            size += len(line)
            n += 1
    return {"path": str(out), "records": n, "bytes": size, "seed": seed}


def main(argv: list[str] | None = None) -> int:
    """Command line: ``--mb``, ``--seed``, ``--out``; prints the stats as one JSON line."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=100.0, help="size in 10^6 bytes (default 100)")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/data/alpaca.jsonl"))
    args = ap.parse_args(argv)
    stats = write_corpus(args.out, args.mb, args.seed)
    sys.stdout.write(json.dumps(stats) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
