"""A Hub-ready dataset repository from canonical records, and publishing it in one commit.

:func:`export_folder` writes ``data/<config>/<split>-NNNNN-of-NNNNN.parquet`` shards (one config
per record kind, explicit :func:`dialogkit.hf.features_for` Features) and a ``README.md`` dataset
card: YAML front matter that ``datasets`` reads (``configs`` with ``data_files`` per split,
``dataset_info``) plus licence, language, task categories, tags and a human part. The folder is
built beside ``--out`` and renamed into place only when complete.

:func:`upload` sends that folder with ``huggingface_hub`` as one commit (``create_commit`` with
the exact parent commit, so a concurrent change is a clean 412/409 that is re-planned and
retried). The token comes from ``HF_TOKEN`` or the user's login and never appears in output,
logs or errors. Any failure becomes one :class:`~dialogkit.hf.HubError` line, and what this run
created (a new repository or branch) is removed again, so nothing is left half published.
``datasets`` and ``huggingface_hub`` are imported inside the functions.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from dialogkit.errors import DialogkitError, HubError, UsageError
from dialogkit.io import (
    TEMP_MARK,
    live_temps,
    new_folder_mode,
    output_error,
    remove_stale,
    temp_prefix,
)
from dialogkit.layout import Layout

__all__ = [
    "ExportResult",
    "Plan",
    "build_card",
    "detect_languages",
    "export_folder",
    "plan_upload",
    "split_inputs",
    "upload",
]

MAX_SHARD_BYTES = 500 * 1000 * 1000  # the same shard size datasets' push_to_hub uses
DEFAULT_TIMEOUT = 10.0  # seconds without an answer before a Hub request fails
_BATCH = 1000

# the TRL dataset type of each kind, with its tag and the Hub task categories that fit it
_TRL = {
    "conversation": ("language modeling, conversational (`messages`)", "language-modeling",
                     ["text-generation"]),
    "trainer_dialogue": ("language modeling, conversational (`messages`, with authors)",
                         "language-modeling", ["text-generation"]),
    "demo": ("prompt-completion, standard text once converted (`prompt`/`input`/`response`)",
             "prompt-completion", ["text-generation"]),
    "comparison": ("ranked comparisons (K candidates; make preference pairs with dialogkit)",
                   "ranking", ["text-generation", "reinforcement-learning"]),
    "preference": ("preference, explicit prompt, conversational (`prompt`/`chosen`/`rejected`)",
                   "preference", ["text-generation", "reinforcement-learning"]),
    "unpaired": ("unpaired preference, conversational (`prompt`/`completion`/`label`)",
                 "unpaired-preference", ["text-generation", "reinforcement-learning"]),
    "prompt": ("prompt-only, conversational (`prompt`)", "prompt-only",
               ["text-generation", "reinforcement-learning"]),
}


# ---------------------------------------------------------------------------------------------
# inputs


def _split_name(path: Path) -> str:
    name = path.name.split(".")[0]
    return re.sub(r"\W+", "_", name).strip("_") or "train"


def split_inputs(inputs: Sequence[str]) -> list[tuple[str, str]]:
    """(split, file) pairs: a file is ``train``; a folder's files are the splits they name."""
    out: list[tuple[str, str]] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            files = sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith("."))
            if not files:
                raise UsageError(f"folder {item} has no files")
            out += [(_split_name(f), str(f)) for f in files]
        elif p.exists() or item == "-":
            out.append(("train", item))
        else:
            raise UsageError(f"No such file: {item}")
    order = {"train": 0, "validation": 1, "test": 2}
    return sorted(out, key=lambda sf: (order.get(sf[0], 3), sf[0]))


# ---------------------------------------------------------------------------------------------
# statistics and language


def _texts(record: Any) -> Iterator[str]:
    if record.kind == "demo":
        yield from (t for t in (record.system, record.prompt, record.input, record.response) if t)
        return
    for name in ("messages", "context", "prompt", "chosen", "rejected", "completion"):
        for m in getattr(record, name, None) or []:
            if m.text:
                yield m.text
    for cand in getattr(record, "candidates", None) or []:
        for m in cand.messages:
            if m.text:
                yield m.text


def _turns(record: Any) -> int:
    if record.kind == "demo":
        return 2
    n = 0
    for name in ("messages", "context", "prompt", "chosen", "rejected", "completion"):
        n += len(getattr(record, name, None) or [])
    return n


_SCRIPTS = [  # (language, first, last) code point ranges of scripts that name one language
    ("ja", 0x3040, 0x30FF), ("ko", 0xAC00, 0xD7AF), ("zh", 0x4E00, 0x9FFF),
    ("ru", 0x0400, 0x04FF), ("ar", 0x0600, 0x06FF), ("hi", 0x0900, 0x097F),
    ("el", 0x0370, 0x03FF), ("he", 0x0590, 0x05FF), ("th", 0x0E00, 0x0E7F),
]
# Latin-script languages told apart by lingua (when installed; `pip install dialogkit[languages]`)
_LATIN = ("ENGLISH GERMAN FRENCH SPANISH ITALIAN PORTUGUESE DUTCH POLISH SWEDISH DANISH BOKMAL "
          "FINNISH TURKISH INDONESIAN VIETNAMESE CZECH ROMANIAN HUNGARIAN CATALAN SLOVAK "
          "CROATIAN TAGALOG SWAHILI MALAY").split()
_CONFIDENT = 0.5  # lingua's confidence a text must reach to count for a language


@functools.cache
def _latin_detector() -> Any:
    """lingua's detector for the Latin-script languages, or None when lingua is not installed."""
    try:
        from lingua import Language, LanguageDetectorBuilder
    except ImportError:
        return None
    langs = [getattr(Language, name) for name in _LATIN if hasattr(Language, name)]
    return LanguageDetectorBuilder.from_languages(*langs).with_low_accuracy_mode().build()


def _language_of(text: str) -> str | None:
    """One text's language where it is certain: by script (kana, hangul, Cyrillic, ...), else,
    for Latin script, lingua's answer when it is confident; None otherwise.

    A list of common words (the earlier way) called English prompts Portuguese ("a", "o",
    "que" are English too); guessing a Latin-script language without a real model is left out.
    """
    counts: Counter[str] = Counter()
    latin = 0
    for ch in text[:2000]:
        cp = ord(ch)
        if cp < 0x250:
            latin += ch.isalpha()
            continue
        for lang, lo, hi in _SCRIPTS:
            if lo <= cp <= hi:
                counts[lang] += 1
                break
    if counts:
        lang, n = counts.most_common(1)[0]
        if counts["ja"] and lang == "zh":
            lang = "ja"  # Japanese mixes kanji with kana
        if n >= 5 and n >= latin:
            return lang
    if latin < 20:
        return None
    detector = _latin_detector()
    if detector is None:
        return None
    snippet = text[:400]
    best = detector.compute_language_confidence_values(snippet)
    if not best or best[0].value < _CONFIDENT:
        return None
    return best[0].language.iso_code_639_1.name.lower()


def detect_languages(texts: Iterable[str], *, share: float = 0.05) -> list[str]:
    """ISO 639-1 codes of the languages of at least ``share`` of the texts (and of two texts,
    unless there is only one), most common first; only languages told with certainty."""
    counts: Counter[str] = Counter()
    total = 0
    for text in texts:
        total += 1
        lang = _language_of(text)
        if lang:
            counts[lang] += 1
    return [lang for lang, n in counts.most_common()
            if total and n / total >= share and (n >= 2 or total == 1)]


def _size_category(n: int) -> str:
    bounds = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
              (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M")]
    for bound, name in bounds:
        if n < bound:
            return name
    return "n>1T" if n > 10**12 else "100M<n<1B"


def _percentiles(values: list[int]) -> list[int]:
    from dialogkit.stats import percentiles

    return percentiles(values, (0.5, 0.9))


# ---------------------------------------------------------------------------------------------
# the folder


@dataclass
class SplitInfo:
    """One split of one config: its shards, sizes and statistics."""

    name: str
    files: list[str] = field(default_factory=list)
    num_examples: int = 0
    num_bytes: int = 0
    download_size: int = 0
    chars: list[int] = field(default_factory=list)
    turns: list[int] = field(default_factory=list)


@dataclass
class ConfigInfo:
    """One config (one record kind) of the exported dataset: its splits and its columns."""

    name: str
    kind: str
    splits: dict[str, SplitInfo] = field(default_factory=dict)
    sample: dict[str, Any] | None = None
    layout: Layout = field(default_factory=Layout)
    format: str = "dialogkit"


@dataclass
class ExportResult:
    """What :func:`export_folder` wrote."""

    folder: Path
    configs: list[ConfigInfo]
    card: str

    @property
    def files(self) -> list[tuple[str, int]]:
        """Every file of the folder (repository path, size in bytes), sorted."""
        out = []
        for p in sorted(self.folder.rglob("*")):
            if p.is_file():
                out.append((p.relative_to(self.folder).as_posix(), p.stat().st_size))
        return out


class _Spool:
    """The output rows of one config and split, kept as JSON lines in a temporary file until
    the config's columns are known (they depend on every row), then written as Parquet."""

    def __init__(self, folder: Path, config: ConfigInfo, split: str) -> None:
        self.config = config
        self.split = split
        self.info = config.splits.setdefault(split, SplitInfo(split))
        self.path = folder / f"{config.name}.{split}.jsonl"
        self.file = open(self.path, "wb")  # noqa: SIM115 - closed in write_shards

    def add(self, row: dict[str, Any], record: Any) -> None:
        self.config.layout.add(row)
        self.file.write(orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE))
        self.info.num_examples += 1
        self.info.chars.append(sum(len(t) for t in _texts(record)))
        self.info.turns.append(_turns(record))

    def write_shards(self, root: Path, max_bytes: int) -> None:
        """Parquet shards ``data/<config>/<split>-NNNNN-of-NNNNN.parquet``, cut at ``max_bytes``
        of Arrow data; the spool file is removed."""
        import pyarrow.parquet as pq

        self.file.close()
        folder = root / "data" / self.config.name
        folder.mkdir(parents=True, exist_ok=True)
        layout = self.config.layout
        schema = layout.arrow_schema()
        paths: list[Path] = []
        writer: Any = None
        shard_bytes = 0

        def emit(rows: list[dict[str, Any]]) -> None:
            nonlocal writer, shard_bytes
            table = layout.table(rows)
            if writer is not None and shard_bytes >= max_bytes:
                writer.close()
                writer = None
            if writer is None:
                paths.append(folder / f".{self.split}-{len(paths):05d}.parquet")
                writer = pq.ParquetWriter(str(paths[-1]), schema, compression="zstd")
                shard_bytes = 0
            writer.write_table(table)
            shard_bytes += table.nbytes
            self.info.num_bytes += table.nbytes

        batch: list[dict[str, Any]] = []
        with open(self.path, "rb") as f:
            for line in f:
                batch.append(orjson.loads(line))
                if len(batch) >= _BATCH:
                    emit(batch)
                    batch = []
        if batch or not paths:
            emit(batch)
        writer.close()
        self.path.unlink()
        n = len(paths)
        for i, path in enumerate(paths):
            final = folder / f"{self.split}-{i:05d}-of-{n:05d}.parquet"
            path.rename(final)
            self.info.files.append(final.name)
            self.info.download_size += final.stat().st_size


def _config_name(base: str, kind: str, several: bool) -> str:
    if not several:
        return base
    return kind if base == "default" else f"{base}-{kind}"


def _empty(path: str) -> bool:
    """Whether a local input file holds no rows at all (Hub ids and folders are never empty)."""
    from dialogkit.io import read_rows

    if path.startswith("hf:") or not Path(path).is_file():
        return False
    return next(iter(read_rows(path)), None) is None


@dataclass
class _Input:
    split: str
    path: str
    format_in: str = ""
    records: int = 0


def _output_format(to: str | None, inputs: list[_Input]) -> Any:
    """The format to publish: ``to``, else the one format all inputs are in."""
    from dialogkit.pipeline import resolve_format

    if to is not None:
        fmt = resolve_format(to)
        if not fmt.writes:
            raise UsageError(f"format {fmt.name!r} can only be read; give another --to")
        return fmt
    names = list(dict.fromkeys(i.format_in for i in inputs))
    if len(names) > 1:
        raise UsageError(f"the inputs are in several formats ({', '.join(names)}); give --to "
                         "FORMAT to publish them in one (--to dialogkit keeps every field)")
    fmt = resolve_format(names[0])
    if not fmt.writes:
        raise UsageError(f"format {fmt.name!r} can only be read; give --to FORMAT to publish "
                         "it (e.g. --to trl-preference, or --to dialogkit for every field)")
    return fmt


def export_folder(
    inputs: Sequence[str],
    out: str | os.PathLike[str],
    *,
    config: str = "default",
    format: str = "auto",
    to: str | None = None,
    provenance: bool = False,
    license: str | None = None,
    source_licenses: Sequence[str] = (),
    pretty_name: str | None = None,
    language: Sequence[str] | None = None,
    recipe: str | os.PathLike[str] | None = None,
    command: str | None = None,
    max_shard_bytes: int = MAX_SHARD_BYTES,
    options: Any = None,
    repo_id: str | None = None,
) -> ExportResult:
    """Write a Hub-ready dataset repository for ``inputs`` to ``out`` (atomically).

    The rows are exactly what ``dialogkit convert INPUT --to FORMAT`` writes (``to``, default:
    the inputs' own format), one config per record kind, as Parquet with columns computed from
    the rows. ``provenance`` adds a ``source`` column (file name, line, input format); the card's
    build section always names the inputs.
    """
    from dialogkit.pipeline import make_options, media_options, open_source
    from dialogkit.registry import Reject, Rows, WriteContext

    if not re.fullmatch(r"[\w.-]+", config):
        raise UsageError(f"--config must be letters, digits, '-', '_' or '.', got {config!r}")
    target = Path(out)
    if target.exists() and (not target.is_dir() or (
            any(target.iterdir()) and not (target / "README.md").is_file())):
        raise UsageError(f"{target} exists and is not an earlier export (no README.md); "
                         "give a new or empty folder")
    # an empty split file (a small `dialogkit split` can leave one) holds no records and no
    # rows to detect a format from: it is left out, as it would be with an explicit --from
    items = [_Input(split, path) for split, path in split_inputs(inputs) if not _empty(path)]
    if not items:
        raise UsageError("the inputs hold no records")
    opts = make_options(options, {})
    opened = []
    for item in items:
        fmt_in, rows = open_source(item.path, format)
        item.format_in = fmt_in.name
        opened.append((item, fmt_in, rows))
    out_fmt = _output_format(to, items)
    recipe_text = Path(recipe).read_text(encoding="utf-8") if recipe else None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        stem = f".{target.name}.{TEMP_MARK}"
        remove_stale(target.parent, stem)
        tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(stem), dir=target.parent))
        live_temps().add(str(tmp))
        # mkdtemp makes 0700: give the folder the mode mkdir would (or the replaced folder's)
        os.chmod(tmp, new_folder_mode(target if target.is_dir() else None))
        spool_dir = Path(tempfile.mkdtemp(prefix=".spool.", dir=tmp))
    except OSError as exc:
        raise output_error(target, exc) from exc
    ctx = WriteContext(options=opts)
    try:
        configs: dict[str, ConfigInfo] = {}
        spools: dict[tuple[str, str], _Spool] = {}
        texts: list[str] = []
        for item, fmt_in, rows in opened:
            # relative media paths resolve against the input's folder; written absolute, their
            # bytes are embedded in the shards (images, audio)
            for rec in fmt_in.read(rows, media_options(opts, src=item.path)):
                if isinstance(rec, Reject):
                    raise rec.error
                out_rows = out_fmt.write_one(rec, ctx)
                if isinstance(out_rows, Reject):
                    raise out_rows.error
                item.records += 1
                cfg = configs.get(rec.kind)
                if cfg is None:
                    cfg = configs[rec.kind] = ConfigInfo(rec.kind, rec.kind,
                                                         format=out_fmt.name)
                key = (rec.kind, item.split)
                spool = spools.get(key)
                if spool is None:
                    spool = spools[key] = _Spool(spool_dir, cfg, item.split)
                for row in (out_rows if type(out_rows) is Rows else [out_rows]):
                    row = _without_source(row) if out_fmt.name == "dialogkit" else row
                    if provenance:
                        row = {**row, "source": _provenance(rec, fmt_in.name)}
                    spool.add(row, rec)
                    if cfg.sample is None:
                        cfg.sample = _cut(row)
                if len(texts) < 2000:
                    texts.append(" ".join(_texts(rec))[:2000])
        if not configs:
            raise UsageError("the inputs hold no records")
        several = len(configs) > 1
        for cfg in configs.values():
            cfg.name = _config_name(config, cfg.kind, several)
        for spool in spools.values():
            spool.write_shards(tmp, max_shard_bytes)
        shutil.rmtree(spool_dir)
        langs = list(language) if language else detect_languages(texts)
        card = build_card(
            list(configs.values()), license=license, source_licenses=source_licenses,
            pretty_name=pretty_name or target.name, languages=langs,
            sources=[Path(i.path).name for i in items], recipe=recipe_text, command=command,
            inputs=[(Path(i.path).name, i.split, i.format_in, i.records) for i in items],
            dropped=dict(ctx.dropped), repo_id=repo_id, provenance=provenance,
        )
        (tmp / "README.md").write_text(card, encoding="utf-8")
        _swap_into_place(tmp, target)
    except BaseException as exc:
        for spool in spools.values() if "spools" in locals() else ():
            with contextlib.suppress(OSError):  # a full disk fails the flush again
                spool.file.close()
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError):  # disk full, read-only: one line naming --out
            raise output_error(target, exc) from exc
        raise
    finally:
        live_temps().discard(str(tmp))
    return ExportResult(target, list(configs.values()), card)


def _without_source(row: dict[str, Any]) -> dict[str, Any]:
    if "source" in row:
        row = dict(row)
        del row["source"]
    return row


def _provenance(record: Any, format_in: str) -> dict[str, Any]:
    src = record.source
    return {"file": Path(src.file).name if src and src.file else None,
            "line": src.line if src else None, "format": format_in}


def _swap_into_place(tmp: Path, target: Path) -> None:
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=temp_prefix(f".{target.name}.{TEMP_MARK}"),
                                    suffix=".old", dir=target.parent))
        old.rmdir()  # only the unique name is wanted; the rename below makes it
        target.rename(old)
    tmp.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _cut(value: Any, limit: int = 200) -> Any:
    if isinstance(value, str) and len(value) > limit:
        return value[:limit] + "…"
    if isinstance(value, list):
        return [_cut(v, limit) for v in value]
    if isinstance(value, dict):
        return {k: _cut(v, limit) for k, v in value.items()}
    return value


# ---------------------------------------------------------------------------------------------
# the dataset card


def _trl_use(cfg: ConfigInfo) -> tuple[str, str | None, str, list[str]]:
    """(TRL type, the TRL trainer that reads the columns as they are or None, tag, tasks)."""
    root = cfg.layout.root
    cols = set(cfg.layout.columns)

    def conv(name: str) -> bool:
        node = root.fields.get(name)
        return node is not None and node.t == "list"

    rl = ["text-generation", "reinforcement-learning"]
    if "messages" in cols and conv("messages"):
        return ("language modeling, conversational (`messages`)", "SFTTrainer",
                "language-modeling", ["text-generation"])
    if "text" in cols:
        return ("language modeling, standard (`text`)", "SFTTrainer", "language-modeling",
                ["text-generation"])
    form = "conversational" if conv("prompt") or conv("chosen") else "standard"
    if {"chosen", "rejected"} <= cols:
        which = "explicit prompt" if "prompt" in cols else "implicit prompt"
        return (f"preference, {which}, {form} (`{'prompt`/`' if 'prompt' in cols else ''}"
                "chosen`/`rejected`)", "DPOTrainer", "preference", rl)
    if {"prompt", "completion", "label"} <= cols:
        return (f"unpaired preference, {form} (`prompt`/`completion`/`label`)", "KTOTrainer",
                "unpaired-preference", rl)
    if {"prompt", "completion"} <= cols:
        return (f"prompt-completion, {form} (`prompt`/`completion`)", "SFTTrainer",
                "prompt-completion", ["text-generation"])
    if "prompt" in cols and (conv("prompt") or root.fields["prompt"].t == "str"):
        return (f"prompt-only, {form} (`prompt`)", "GRPOTrainer", "prompt-only", rl)
    return (f"not a TRL layout (`{cfg.format}` columns; publish `--to trl` or "
            "`--to trl-preference` for TRL)", None, _TRL[cfg.kind][1], _TRL[cfg.kind][2])


def _nodes(node: Any) -> Iterator[Any]:
    yield node
    if node.item is not None:
        yield from _nodes(node.item)
    for child in node.fields.values():
        yield from _nodes(child)


def _llamafactory_entry(cfg: ConfigInfo, repo: str) -> dict[str, Any] | None:
    """The LLaMA-Factory ``dataset_info.json`` entry that reads this config, if one can."""
    from dialogkit.formats.llamafactory import dataset_info_entry

    root = cfg.layout.root
    cols = cfg.layout.columns

    def node(name: str) -> Any:
        return root.fields.get(name)

    def keys(name: str) -> set[str]:
        n = node(name)
        item = n.item if n is not None and n.t == "list" else None
        return set(item.fields) if item is not None and item.t == "struct" else set()

    base: dict[str, Any] = {"hf_hub_url": repo, "subset": cfg.name, "split": "train"}
    entry: dict[str, Any] | None = None
    if cfg.format == "llamafactory":
        layout = ("sharegpt" if "conversations" in cols else
                  "alpaca" if "instruction" in cols else "openai")
        entry = dataset_info_entry("", layout, cfg.kind, cols)
        entry.pop("file_name", None)
    elif "messages" in cols and {"role", "content"} <= keys("messages") and not (
            {"tool_calls", "chosen"} & (keys("messages") | set(cols))):
        entry = {"formatting": "sharegpt", "columns": {"messages": "messages"},
                 "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                          "assistant_tag": "assistant", "system_tag": "system"}}
    elif "conversations" in cols and {"from", "value"} <= keys("conversations"):
        entry = {"formatting": "sharegpt", "columns": {"messages": "conversations"}}
        for col in ("system", "tools"):
            if col in cols:
                entry["columns"][col] = col
    elif {"instruction", "output"} <= set(cols):
        entry = {"columns": {"prompt": "instruction", "query": "input", "response": "output"}}
        for col in ("system", "history"):
            if col in cols:
                entry["columns"][col] = col
    elif all(node(c) is not None and node(c).t == "str" for c in ("prompt", "chosen", "rejected")):
        entry = {"ranking": True,
                 "columns": {"prompt": "prompt", "chosen": "chosen", "rejected": "rejected"}}
    elif (all(node(c) is not None and node(c).t == "str" for c in ("prompt", "completion"))
          and "label" not in cols):
        entry = {"columns": {"prompt": "prompt", "response": "completion"}}
    if entry is None:
        return None
    return {**base, **entry}


def _card_yaml(configs: list[ConfigInfo], *, license: str, languages: list[str],
               pretty_name: str) -> dict[str, Any]:
    from datasets.info import DatasetInfo, DatasetInfosDict
    from datasets.splits import SplitDict
    from datasets.splits import SplitInfo as DsSplitInfo

    total = sum(s.num_examples for c in configs for s in c.splits.values())
    tasks: list[str] = []
    tags = ["dialogkit", "trl"]
    for c in configs:
        _, _, tag, cats = _trl_use(c)
        for t in cats:
            if t not in tasks:
                tasks.append(t)
        if tag not in tags:
            tags.append(tag)
        if c.kind != "demo" and "conversational" not in tags:
            tags.append("conversational")
    meta: dict[str, Any] = {"pretty_name": pretty_name, "license": license}
    if languages:
        meta["language"] = languages
    meta |= {"task_categories": tasks, "tags": tags, "size_categories": [_size_category(total)]}
    meta["configs"] = [
        {"config_name": c.name, **({"default": True} if i == 0 and len(configs) > 1 else {}),
         "data_files": [{"split": s, "path": f"data/{c.name}/{s}-*"} for s in c.splits]}
        for i, c in enumerate(configs)
    ]
    infos = DatasetInfosDict()
    for c in configs:
        splits = SplitDict()
        for s in c.splits.values():
            splits.add(DsSplitInfo(name=s.name, num_bytes=s.num_bytes,
                                   num_examples=s.num_examples))
        infos[c.name] = DatasetInfo(
            features=c.layout.features(), splits=splits, config_name=c.name,
            download_size=sum(s.download_size for s in c.splits.values()),
            dataset_size=sum(s.num_bytes for s in c.splits.values()),
        )
    holder: dict[str, Any] = {}
    infos.to_dataset_card_data(holder)  # type: ignore[arg-type]
    meta["dataset_info"] = holder["dataset_info"]
    return meta


def build_card(
    configs: list[ConfigInfo],
    *,
    license: str | None,
    source_licenses: Sequence[str],
    pretty_name: str,
    languages: list[str],
    sources: list[str],
    recipe: str | None = None,
    command: str | None = None,
    inputs: Sequence[tuple[str, str, str, int]] = (),
    dropped: dict[str, int] | None = None,
    repo_id: str | None = None,
    provenance: bool = False,
) -> str:
    """The README.md dataset card: YAML front matter that ``datasets`` reads, then a human part.

    ``inputs`` are (file name, split, input format, records) for the build section.
    """
    import yaml

    from dialogkit import __version__

    meta = _card_yaml(configs, license=license or "unknown", languages=languages,
                      pretty_name=pretty_name)
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=100)
    total = sum(s.num_examples for c in configs for s in c.splits.values())
    kinds = ", ".join(f"`{c.kind}`" for c in configs)
    formats = ", ".join(dict.fromkeys(f"`{c.format}`" for c in configs))
    repo = repo_id or "<this repository or folder>"
    lines = [
        "---", front.rstrip("\n"), "---", "",
        f"# {pretty_name}", "",
        f"{total} post-training records ({kinds}) in the {formats} format, exactly as "
        f"`dialogkit convert --to {configs[0].format}` writes them, stored as Parquet with "
        "features computed from the data.", "",
        "## Sources and licences", "",
    ]
    given = dict(_pair(s) for s in source_licenses)
    lines += ["| source | licence |", "|---|---|"]
    named = set()
    for src in dict.fromkeys(sources):
        lines.append(f"| {src} | {given.get(src, 'not given')} |")
        named.add(src)
    for src, lic in given.items():
        if src not in named:
            lines.append(f"| {src} | {lic} |")
    lines += ["", f"Licence of this dataset: `{license or 'unknown'}`"
              + ("" if license else " (not given; check the sources' licences before use)")
              + ".", ""]
    lines += ["## Format", ""]
    for c in configs:
        trl_type, trainer, _, _ = _trl_use(c)
        lay = c.layout
        lines += [f"### Config `{c.name}`", "",
                  f"- record kind: `{c.kind}`, written as `{c.format}`",
                  f"- TRL type: {trl_type}",
                  f"- columns: {', '.join(f'`{k}`' for k in lay.columns)}"]
        nullable = lay.nullable_keys()
        if nullable:
            lines.append("- keys some rows lack (null in those rows): "
                         + ", ".join(f"`{k}`" for k in nullable))
        else:
            lines.append("- every row has every key (no nulls were added)")
        media = [(k, n.item.media if n.t == "list" and n.item is not None else n.media)
                 for k, n in lay.root.fields.items()
                 if n.t == "media" or (n.t == "list" and n.item is not None
                                       and n.item.t == "media")]
        for k, kind in media:
            lines.append(f"- `{k}`: `datasets.{'Image' if kind == 'image' else 'Audio'}()` "
                         "with the files' bytes embedded in the shards")
        if media or any(k in lay.root.fields for k in ("videos", "video")):
            lines.append("- videos, and media parts inside messages, stay the paths or URLs "
                         "they were written as (not uploaded)")
        if any(n.promoted for n in _nodes(lay.root)):
            lines.append("- a text-only `content` is stored as one text part "
                         "(`[{type: text, text}]`) where other turns have parts")
        js = lay.json_columns()
        if js:
            lines.append("- JSON text (`json.loads` gives the value; they have no fixed type): "
                         + ", ".join(f"`{k}`" for k in js))
        lines += ["", "How to use:", "", "```python",
                  "from datasets import load_dataset",
                  f'ds = load_dataset("{repo}", "{c.name}", split="train")']
        if trainer is not None:
            extra = ", reward_funcs=my_reward" if trainer == "GRPOTrainer" else ""
            lines += [
                "",
                f"from trl import {trainer}",
                f'{trainer}(model="Qwen/Qwen2.5-0.5B-Instruct", train_dataset=ds{extra}).train()',
            ]
            if trainer == "DPOTrainer":
                lines += ["# or a reward model: "
                          'RewardTrainer(model="Qwen/Qwen2.5-0.5B-Instruct", '
                          "train_dataset=ds).train()"]
        lines += ["```", ""]
        lf = _llamafactory_entry(c, repo)
        if lf is not None:
            lines += ["LLaMA-Factory (`data/dataset_info.json` entry):", "", "```json",
                      orjson.dumps({pretty_name: lf}, option=orjson.OPT_INDENT_2).decode(),
                      "```", ""]
        else:
            lines += [f"LLaMA-Factory cannot read the `{c.format}` columns of this config as "
                      "they are; publish `--to llamafactory` (preference, KTO) or `--to "
                      "sharegpt` for it.", ""]
        lines += ["A sample row (strings cut at 200 characters):", "", "```json",
                  orjson.dumps(c.sample, option=orjson.OPT_INDENT_2).decode()
                  if c.sample else "{}", "```", ""]
    lines += ["## Statistics", "",
              "| config | split | records | characters min / p50 / p90 / max "
              "| messages min / p50 / p90 / max |",
              "|---|---|---:|---|---|"]
    for c in configs:
        for s in c.splits.values():
            ch = " / ".join(str(v) for v in _percentiles(s.chars))
            tu = " / ".join(str(v) for v in _percentiles(s.turns))
            lines.append(f"| {c.name} | {s.name} | {s.num_examples} | {ch} | {tu} |")
    lines += ["", "## How it was built", "",
              f"Written by dialogkit {__version__}"
              + (f" with `{command}`" if command else "") + "."]
    if inputs:
        lines += ["", "| input | split | read as | records |", "|---|---|---|---:|"]
        lines += [f"| {name} | {split} | `{fmt}` | {n} |" for name, split, fmt, n in inputs]
    if dropped:
        lines += ["", "Fields the output format has no place for (dropped, with counts): "
                  + ", ".join(f"`{k}` {v}" for k, v in sorted(dropped.items())) + "."]
    lines += ["", "Each row's provenance (input file, line, format) is in the `source` column."
              if provenance else "Per-row provenance is not stored (publish with "
              "`--provenance` for a `source` column)."]
    if recipe:
        lines += ["", "Recipe:", "", "```yaml", recipe.rstrip("\n"), "```"]
    return "\n".join(lines) + "\n"


def _pair(item: str) -> tuple[str, str]:
    name, sep, lic = item.partition("=")
    if not sep or not name.strip() or not lic.strip():
        raise UsageError(f"--source-license takes SOURCE=LICENCE, got {item!r}")
    return name.strip(), lic.strip()


# ---------------------------------------------------------------------------------------------
# the upload


@dataclass
class Plan:
    """What :func:`upload` will send: files with sizes, the commit message, where to."""

    repo_id: str
    files: list[tuple[str, int]]
    commit_message: str
    revision: str | None
    create_pr: bool
    private: bool

    def lines(self) -> list[str]:
        """The plan as text lines (for ``--dry-run``); no token, no network."""
        where = self.revision or "main"
        out = [f"repository: datasets/{self.repo_id} ({'private' if self.private else 'public'}"
               " if created)",
               f"revision: {where}" + (" (as a pull request)" if self.create_pr else ""),
               f"commit message: {self.commit_message}",
               f"token: {_token_origin()}",
               f"files ({len(self.files)}, {sum(s for _, s in self.files)} bytes):"]
        out += [f"  {size:>12}  {path}" for path, size in self.files]
        out.append("stale files under data/ on the Hub would be deleted in the same commit")
        return out


def _check_repo_id(repo_id: str) -> None:
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo_id) or ".." in repo_id:
        raise UsageError(f"--repo-id must be OWNER/NAME, got {repo_id!r}")


def plan_upload(folder: str | os.PathLike[str], repo_id: str, *, revision: str | None = None,
                create_pr: bool = False, private: bool = False,
                commit_message: str | None = None) -> Plan:
    """The upload plan for an exported folder (no network)."""
    _check_repo_id(repo_id)
    root = Path(folder)
    files = [(p.relative_to(root).as_posix(), p.stat().st_size)
             for p in sorted(root.rglob("*")) if p.is_file()]
    if not any(path == "README.md" for path, _ in files):
        raise UsageError(f"{root} has no README.md; write it with `dialogkit publish --out`")
    from dialogkit import __version__

    msg = commit_message or f"Publish dataset with dialogkit {__version__}"
    return Plan(repo_id, files, msg, revision, create_pr, private)


def _token_origin() -> str:
    if os.environ.get("HF_TOKEN"):
        return "from HF_TOKEN"
    try:
        from huggingface_hub import get_token
    except ImportError:  # pragma: no cover
        return "none found"
    return "from the huggingface login" if get_token() else "none found"


def _status(exc: BaseException) -> int | None:
    resp = getattr(exc, "response", None)
    code = getattr(resp, "status_code", None)
    return int(code) if isinstance(code, int) else None


def _is_commit_call(exc: BaseException) -> bool:
    url = ""
    with contextlib.suppress(Exception):
        url = str(exc.response.request.url)  # type: ignore[attr-defined]
    return "/commit/" in url


def _server_message(exc: BaseException, token: str | None = None) -> str:
    resp = getattr(exc, "response", None)
    msg = ""
    if resp is not None:
        with contextlib.suppress(Exception):
            msg = resp.headers.get("X-Error-Message", "") or ""
        if not msg:
            with contextlib.suppress(Exception):
                msg = str(resp.json().get("error", ""))
    return _scrub(" ".join(msg.split()), token)[:200]  # scrub first: a cut could split a token


def _is_connection_error(exc: BaseException) -> bool:
    names = {t.__name__ for t in type(exc).__mro__}
    if names & {"ConnectError", "ConnectionError", "ConnectTimeout", "ReadTimeout",
                "RemoteProtocolError", "NetworkError", "TimeoutException", "ReadError",
                "WriteError", "TransportError"}:
        return True
    cause = exc.__cause__ or exc.__context__
    return cause is not None and cause is not exc and _is_connection_error(cause)


def _is_timeout(exc: BaseException) -> bool:
    names = {t.__name__ for t in type(exc).__mro__}
    if names & {"TimeoutException", "ReadTimeout", "ConnectTimeout", "WriteTimeout",
                "PoolTimeout", "Timeout", "_OutOfTime"}:
        return True
    cause = exc.__cause__ or exc.__context__
    return cause is not None and cause is not exc and _is_timeout(cause)


def _describe(exc: BaseException, repo_id: str, endpoint: str, token: str | None = None,
              timeout: float = DEFAULT_TIMEOUT, transport: Any = None) -> str:
    code = _status(exc)
    if code is None and _is_timeout(exc):
        last = getattr(transport, "last", "") or ""
        where = f" ({last})" if last else ""
        return (f"the Hub at {endpoint} did not answer within {timeout:g}s{where}; retries "
                f"stopped after {4 * timeout:g}s (raise --timeout for a slow link)")
    detail = _server_message(exc, token)
    suffix = f": {detail}" if detail else ""
    if code == 401:
        return ("the Hub refused the token (401 Unauthorized); check HF_TOKEN or log in again "
                "with `hf auth login`")
    if code == 403:
        return f"the token may not write to datasets/{repo_id} (403 Forbidden){suffix}"
    if code == 404:
        return f"datasets/{repo_id} or the revision was not found (404){suffix}"
    if code in (409, 412):
        return (f"datasets/{repo_id} kept changing while publishing (HTTP {code}, retried)"
                f"{suffix}")
    if code is not None and code >= 500:
        return f"the Hub failed (HTTP {code}){suffix}"
    if code is not None:
        return f"the Hub answered HTTP {code}{suffix}"
    if _is_connection_error(exc):
        return f"cannot reach the Hub at {endpoint} (connection failed)"
    if isinstance(exc, ValueError) and "metadata" in str(exc).lower():
        return f"the Hub rejected the dataset card: {str(exc).splitlines()[0]}"
    first = (str(exc).strip().splitlines() or [""])[0]
    return _scrub(f"{type(exc).__name__}: {first}", token)[:300]


def _scrub(message: str, token: str | None) -> str:
    """``message`` without the token: whole, any ``hf_`` prefix of it standing as a word
    (however short; a server may have cut it), and anything shaped like a Hub token."""
    if token:
        message = message.replace(token, "***")
        if token.startswith("hf_"):
            out, i = [], 0
            while (p := message.find("hf_", i)) != -1:
                k = 3
                while p + k < len(message) and k < len(token) and message[p + k] == token[k]:
                    k += 1
                whole_word = p + k == len(message) or not message[p + k].isalnum()
                out.append(message[i:p] + ("***" if whole_word else message[p:p + k]))
                i = p + k
            message = "".join(out) + message[i:]
    return re.sub(r"hf_[A-Za-z0-9]{20,}", "***", message)


class _OutOfTime(Exception):
    """Retries went on longer than their budget (raised before the next request is sent)."""


@contextlib.contextmanager
def _bounded_http(timeout: float, budget: float) -> Iterator[Any]:
    """Every Hub request of the block gets connect/read/write timeouts of ``timeout`` seconds,
    and once requests start failing (no answer, refused, 429, 5xx) the retries that follow stop
    ``budget`` seconds after the first failure. huggingface_hub's shared client has no timeout
    of its own (a Hub that never answers hangs it), so the block installs a client factory and
    restores the previous one afterwards. Yields the transport (its ``reset`` opens a new
    budget, for the clean-up after a failure)."""
    from huggingface_hub.utils import _http

    lib = getattr(_http, "httpx2", None) or getattr(_http, "httpx", None)
    if lib is None or not hasattr(_http, "set_client_factory"):  # pragma: no cover - old hubs
        yield None
        return

    class Bounded(lib.BaseTransport):  # type: ignore[name-defined,misc]
        def __init__(self) -> None:
            self.inner = lib.HTTPTransport()
            self.failing_since: float | None = None
            self.last = ""

        def reset(self) -> None:
            self.failing_since = None

        def handle_request(self, request: Any) -> Any:
            now = time.monotonic()
            if self.failing_since is not None and now - self.failing_since > budget:
                raise _OutOfTime(f"{request.method} {request.url.path}")
            self.last = f"{request.method} {request.url.path}"
            # huggingface_hub passes timeout=None on most calls, which would override the
            # client's default: the bound is applied here, to every request
            given = request.extensions.get("timeout") or {}
            request.extensions["timeout"] = {
                k: min(given[k], timeout) if given.get(k) is not None else timeout
                for k in ("connect", "read", "write", "pool")}
            try:
                response = self.inner.handle_request(request)
            except Exception:
                if self.failing_since is None:
                    self.failing_since = now
                raise
            if response.status_code == 429 or response.status_code >= 500:
                if self.failing_since is None:
                    self.failing_since = now
            else:
                self.failing_since = None
            return response

        def close(self) -> None:
            self.inner.close()

    transport = Bounded()
    hooks = {"request": [_http.hf_request_event_hook]}

    def factory() -> Any:
        return lib.Client(transport=transport, event_hooks=hooks, follow_redirects=True,
                          timeout=lib.Timeout(timeout))

    previous = _http._GLOBAL_CLIENT_FACTORY
    _http.set_client_factory(factory)
    try:
        yield transport
    finally:
        _http.set_client_factory(previous)


def upload(
    folder: str | os.PathLike[str],
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    create_pr: bool = False,
    commit_message: str | None = None,
    token: str | None = None,
    retries: int = 3,
    backoff: float = 0.5,
    timeout: float = DEFAULT_TIMEOUT,
    log: Callable[[str], None] | None = None,
) -> str:
    """Upload an exported folder to ``datasets/<repo_id>`` in one commit; returns its URL.

    Files under ``data/`` on the Hub that the folder does not have are deleted in the same
    commit (so old shards do not mix in). On 409/412 (the branch moved) and 5xx the commit is
    re-planned and retried ``retries`` times. Each request fails after ``timeout`` seconds
    without an answer (connect and read), and retries after a failure stop ``4 * timeout``
    seconds after it. On failure a repository or branch this call created is deleted again,
    and :class:`HubError` carries one line without the token.
    """
    plan = plan_upload(folder, repo_id, revision=revision, create_pr=create_pr, private=private,
                       commit_message=commit_message)
    from huggingface_hub import HfApi, constants
    from huggingface_hub import get_token as hub_token

    say = log or (lambda _msg: None)
    token = token or hub_token()
    if not token:
        raise HubError("no Hugging Face token: set HF_TOKEN or log in with `hf auth login`")
    endpoint = constants.ENDPOINT
    api = HfApi(token=token, endpoint=endpoint)
    with _bounded_http(timeout, 4 * timeout) as transport:
        return _upload(api, plan, Path(folder), repo_id, private=private, revision=revision,
                       create_pr=create_pr, token=token, retries=retries, backoff=backoff,
                       timeout=timeout, say=say, endpoint=endpoint, transport=transport)


def _upload(api: Any, plan: Plan, root: Path, repo_id: str, *, private: bool,
            revision: str | None, create_pr: bool, token: str, retries: int, backoff: float,
            timeout: float, say: Callable[[str], None], endpoint: str, transport: Any) -> str:
    """The body of :func:`upload`, inside the bounded HTTP client."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    created_repo = False
    created_branch = False
    try:
        try:
            api.repo_info(repo_id, repo_type="dataset")
        except RepositoryNotFoundError:
            say(f"creating datasets/{repo_id}")
            api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=False)
            created_repo = True
        if revision and not create_pr:
            try:
                api.repo_info(repo_id, repo_type="dataset", revision=revision)
            except RevisionNotFoundError:
                say(f"creating branch {revision}")
                api.create_branch(repo_id, repo_type="dataset", branch=revision)
                created_branch = True
        new_paths = {p for p, _ in plan.files}
        attempt = 0
        while True:
            attempt += 1
            head = api.repo_info(repo_id, repo_type="dataset", revision=revision).sha
            existing = api.list_repo_files(repo_id, repo_type="dataset", revision=head)
            ops: list[Any] = [CommitOperationAdd(path_in_repo=p, path_or_fileobj=str(root / p))
                              for p, _ in plan.files]
            ops += [CommitOperationDelete(path_in_repo=p) for p in existing
                    if p.startswith("data/") and p not in new_paths]
            try:
                info = api.create_commit(
                    repo_id, ops, commit_message=plan.commit_message, repo_type="dataset",
                    revision=revision, create_pr=create_pr, parent_commit=head,
                )
            except Exception as exc:
                code = _status(exc)
                # only the commit itself is retried here (huggingface_hub already retries the
                # LFS transfers); it is atomic on the Hub, so a retry cannot publish twice
                if (attempt <= retries and _is_commit_call(exc)
                        and (code in (409, 412) or (code or 0) >= 500)):
                    say(f"commit answered HTTP {code}; retrying ({attempt}/{retries})")
                    time.sleep(backoff * attempt)
                    continue
                raise
            url = info.pr_url if create_pr and info.pr_url else info.commit_url
            return str(url)
    except DialogkitError:
        raise
    except Exception as exc:
        message = _describe(exc, repo_id, endpoint, token, timeout, transport)
        if transport is not None:
            transport.reset()  # the clean-up gets its own time budget
        cleaned = _undo(api, repo_id, revision, created_repo, created_branch)
        raise HubError(_scrub(message + cleaned, token)) from None


def _undo(api: Any, repo_id: str, revision: str | None, repo: bool, branch: bool) -> str:
    """Remove what this run created; the text says whether anything was left behind."""
    try:
        if repo:
            api.delete_repo(repo_id, repo_type="dataset")
            return "; nothing was published (the new repository was removed)"
        if branch and revision:
            api.delete_branch(repo_id, repo_type="dataset", branch=revision)
            return "; nothing was published (the new branch was removed)"
    except Exception:
        what = f"repository datasets/{repo_id}" if repo else f"branch {revision}"
        return f"; nothing was committed, but the empty {what} could not be removed"
    return "; nothing was published"
