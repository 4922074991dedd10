"""Containers only: JSONL, JSON arrays, a single JSON object, ``.gz``, Parquet, stdin and stdout.

Reading streams: memory stays flat whatever the input size, JSON arrays included (their elements
are cut out of a sliding buffer and parsed one at a time). Every row carries where it came from
(:class:`Row`: source, 1-based line, 0-based index) for errors and provenance. Writing is atomic:
data goes to a temporary file beside the target that is renamed into place only on success.
Text is never altered: a UTF-8 BOM is skipped, CRLF line ends are accepted, non-ASCII is written
as is.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import functools
import gzip
import io
import logging
import os
import re
import shutil
import socket
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO, Literal

import orjson

from dialogkit.errors import OutputError, ParseError, RecordError, UsageError

__all__ = [
    "TEMP_MARK",
    "Container",
    "Row",
    "atomic_output",
    "check_paths",
    "commit_together",
    "container_for",
    "dumps",
    "iter_json_array",
    "live_temps",
    "new_file_mode",
    "new_folder_mode",
    "output_error",
    "pending_path",
    "read_rows",
    "remove_stale",
    "screen_rows",
    "stdin_binary",
    "temp_prefix",
    "write_rows",
]

log = logging.getLogger("dialogkit")

Container = Literal["jsonl", "json", "parquet"]
_CHUNK = 1 << 20
_BOM = b"\xef\xbb\xbf"


@dataclass(slots=True)  # not frozen: a frozen __init__ costs 3.5x, once per row
class Row:
    """One parsed value and where it came from (``line`` 1-based, ``index`` 0-based, ``raw`` the
    bytes as read when the container has them)."""

    data: Any
    source: str
    line: int
    index: int
    raw: bytes | None = None


def dumps(obj: Any) -> bytes:
    """Serialise one value as compact UTF-8 JSON (non-ASCII raw, key order kept)."""
    return orjson.dumps(obj)


def _display(path: str | os.PathLike[str] | None) -> str:
    return "-" if path is None or str(path) == "-" else str(path)


def stdin_binary() -> BinaryIO:
    """Standard input as bytes; one error line when it is closed (``<&-``), not a traceback."""
    if sys.stdin is None:
        raise ParseError("cannot read standard input: it is closed", source="-",
                         rule="closed stdin")
    return sys.stdin.buffer


def _open_binary(path: str | os.PathLike[str]) -> BinaryIO:
    if str(path) == "-":
        return stdin_binary()
    p = Path(path)
    if not p.exists():
        raise UsageError(f"No such file: {p}")
    if p.is_dir():
        raise UsageError(f"{p} is a folder, not a file")
    f: BinaryIO = open(p, "rb")  # noqa: SIM115 - closed by the caller
    head = f.peek(2)[:2] if hasattr(f, "peek") else b""
    if head == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=f, mode="rb")  # type: ignore[return-value]
    return f


def container_for(path: str | os.PathLike[str]) -> Container | None:
    """The container named by a path's suffix (``.gz`` looks at the suffix under it)."""
    name = str(path).lower()
    if name.endswith(".gz"):
        name = name[:-3]
    if name.endswith((".jsonl", ".ndjson", ".jsonlines")):
        return "jsonl"
    if name.endswith(".json"):
        return "json"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    return None


def _parse_error(exc: Exception, source: str, line: int, what: str = "invalid JSON") -> ParseError:
    msg = str(exc).split(": line ")[0]
    err = ParseError(f"{what}: {msg}", source=source, line=line, rule="invalid JSON")
    err.__cause__ = exc
    return err


# Defaults of the read limits (``--max-line-bytes``, ``--max-depth``). A line (a JSONL row, a
# JSON array element, a whole JSON document) is refused before it is read whole past 256 MiB:
# real rows are KBs to a few MBs, and orjson plus the Python objects of one row take ~5-10x its
# bytes, so 256 MiB keeps one row within a few GB. Nesting past 128 levels is refused at read:
# real chat data nests < 10 levels, the output layouts add at most ~4, orjson writes at most
# 254 and Python's recursion (pydantic, error paths) fails near 1000.
MAX_LINE_BYTES = 256 << 20
MAX_DEPTH = 128


def _too_large(source: str, line: int | None, limit: int, what: str = "line") -> ParseError:
    return ParseError(
        f"{what} longer than {limit} bytes (--max-line-bytes): not read",
        source=source,
        line=line,
        rule="too_large",
    )


def _bounded_lines(f: BinaryIO, limit: int, first: bytes = b"") -> Iterator[bytes]:
    """The lines of ``f`` (after those of ``first``, already read from it), none read past
    ``limit + 1`` bytes: a longer line comes back cut, without its newline, so the caller can
    refuse it and skip the rest with :func:`_skip_line`. ``readline`` runs in C."""
    if first:
        lines = first.splitlines(keepends=True)
        if lines and not lines[-1].endswith(b"\n"):
            lines[-1] += f.readline(max(1, limit + 1 - len(lines[-1])))
        yield from lines
    yield from iter(functools.partial(f.readline, limit + 1), b"")


def _skip_line(f: BinaryIO, limit: int) -> None:
    """Read on to the end of an over-long line, ``limit`` bytes at a time (memory stays flat)."""
    while True:
        part = f.readline(limit)
        if not part or part.endswith(b"\n"):
            return


def _iter_jsonl(
    f: BinaryIO, source: str, first: bytes = b"", max_line_bytes: int = MAX_LINE_BYTES
) -> Iterator[Row | ParseError]:
    """One value per non-blank line; a bad line becomes a ParseError item so callers may skip it.

    A line longer than ``max_line_bytes`` is refused (rule ``too_large``) before it is read
    whole, and the stream goes on at the next line.
    """
    lineno = 0
    index = 0
    limit = max_line_bytes
    for raw in _bounded_lines(f, limit, first):
        lineno += 1
        if len(raw) > limit and not raw.endswith(b"\n"):
            _skip_line(f, limit)
            yield _too_large(source, lineno, limit)
            index += 1
            continue
        if lineno == 1 and raw.startswith(_BOM):
            raw = raw[3:]
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            if raw.isspace() or not raw:  # a blank line is not a record
                continue
            err = _parse_error(exc, source, lineno)
            err.raw = raw.rstrip(b"\r\n")
            yield err
            index += 1
            continue
        yield Row(data, source, lineno, index, raw)
        index += 1


_OUTSIDE = re.compile(rb'[\[\]{},"]')
# the rest of a string after its opening quote; possessive, so the regex engine keeps no
# backtracking state per character (a plain `(?:[^"\\]|\\.)*` took ~110 bytes a character)
_STRING_END = re.compile(rb'[^"\\]*+(?:\\.[^"\\]*+)*+"', re.DOTALL)
_NOT_WS = re.compile(rb"[^ \t\r\n]")
_WS = b" \t\r\n"


def iter_json_array(
    f: BinaryIO,
    source: str,
    *,
    chunk: int = _CHUNK,
    prefix: bytes = b"",
    max_element_bytes: int = MAX_LINE_BYTES,
) -> Iterator[Row | ParseError]:
    """Stream the elements of a top-level JSON array: each is cut out and parsed with orjson.

    Structure (brackets, strings, commas) is tracked with regexes so the scan runs at C speed
    and resumes where it stopped when more bytes arrive (reads grow with the element, so a
    large element costs linear time and a small multiple of its size in memory). Each element
    is then fully validated by orjson. An element that fails to parse is yielded as a
    ParseError and the scan goes on; a broken array structure, or an element larger than
    ``max_element_bytes``, ends the stream with a ParseError naming the line.
    """
    buf = prefix
    pos = 0  # scan position in buf
    line_pos = 0  # newlines are counted up to here ...
    line_no = 1  # ... where this is the line number
    eof = False

    def fill(keep_from: int = 0) -> bool:
        nonlocal buf, eof
        if eof:
            return False
        # read at least as much as is held past ``keep_from``: a growing element is copied a
        # logarithmic number of times, not once per chunk
        data = f.read(max(chunk, len(buf) - keep_from))
        if not data:
            eof = True
            return False
        buf += data
        return True

    def line_at(i: int) -> int:
        nonlocal line_pos, line_no
        if i >= line_pos:
            line_no += buf.count(b"\n", line_pos, i)
            line_pos = i
            return line_no
        return line_no - buf.count(b"\n", i, line_pos)

    def trim(i: int) -> None:
        """Drop the bytes before ``i`` (already scanned), keeping the line count right."""
        nonlocal buf, line_pos
        line_at(i)
        buf = buf[i:]
        line_pos -= i

    def skip_ws(i: int) -> int:
        """The index of the next non-blank byte (or len(buf) at EOF); whitespace is skipped
        by regex and dropped as it goes, so a run of any length is linear and bounded."""
        while True:
            m = _NOT_WS.search(buf, i)
            if m is not None:
                return m.start()
            trim(len(buf))
            i = 0
            if not fill():
                return 0

    pos = skip_ws(0)
    if buf.startswith(_BOM, pos):
        pos = skip_ws(pos + 3)
    if pos >= len(buf) or buf[pos : pos + 1] != b"[":
        yield ParseError(
            "expected a JSON array", source=source, line=line_at(pos), rule="invalid JSON"
        )
        return
    pos = skip_ws(pos + 1)
    if buf[pos : pos + 1] == b"]":
        end = skip_ws(pos + 1)
        if end < len(buf):
            yield ParseError(
                "unexpected data after the JSON array",
                source=source,
                line=line_at(end),
                rule="invalid JSON",
            )
        return
    index = 0
    while True:
        # drop consumed bytes to keep memory flat
        if pos > chunk:
            trim(pos)
            pos = 0
        start = pos
        depth = 0
        i = pos
        while True:
            m = _OUTSIDE.search(buf, i)
            if m is None:
                i = len(buf)
                if len(buf) - start > max_element_bytes:
                    yield _too_large(source, line_at(start), max_element_bytes, "array element")
                    return
                if not fill(start):
                    yield ParseError(
                        "unterminated JSON array",
                        source=source,
                        line=line_at(len(buf)),
                        rule="invalid JSON",
                    )
                    return
                continue
            c = buf[m.start()]
            if c == 0x22:  # '"'
                s = m.end()
                while True:
                    sm = _STRING_END.match(buf, s)
                    if sm is not None:
                        i = sm.end()
                        break
                    if len(buf) - start > max_element_bytes:
                        yield _too_large(
                            source, line_at(start), max_element_bytes, "array element"
                        )
                        return
                    if not fill(start):
                        yield ParseError(
                            "unterminated string",
                            source=source,
                            line=line_at(m.start()),
                            rule="invalid JSON",
                        )
                        return
                continue
            if c in b"[{":
                depth += 1
                i = m.end()
                continue
            if c in b"]}" and depth > 0:
                depth -= 1
                i = m.end()
                continue
            if c == 0x2C and depth > 0:  # ',' inside a nested value
                i = m.end()
                continue
            # top-level ',' or ']' ends the element
            end = m.start()
            break
        if end - start > max_element_bytes:
            yield _too_large(source, line_at(start), max_element_bytes, "array element")
            return
        element = buf[start:end]
        line = line_at(start + (len(element) - len(element.lstrip(_WS))))
        if not element.strip(_WS):
            yield ParseError("expected a value", source=source, line=line, rule="invalid JSON")
            return
        try:
            data = orjson.loads(element)
        except orjson.JSONDecodeError as exc:
            err = _parse_error(exc, source, line)
            err.raw = element.strip(_WS)
            yield err
        else:
            yield Row(data, source, line, index, element.strip(_WS))
        del element
        index += 1
        closer = buf[end]
        if closer != 0x2C and closer != 0x5D:  # a top-level '}' with no opener
            yield ParseError(
                "mismatched bracket", source=source, line=line_at(end), rule="invalid JSON"
            )
            return
        pos = skip_ws(end + 1)
        if closer == 0x5D:  # ']'
            if pos < len(buf):
                yield ParseError(
                    "unexpected data after the JSON array",
                    source=source,
                    line=line_at(pos),
                    rule="invalid JSON",
                )
            return


def _read_whole(
    f: BinaryIO, source: str, head: bytes, max_bytes: int = MAX_LINE_BYTES
) -> Iterator[Row | ParseError]:
    """A single JSON document that is not an array: one row (refused past ``max_bytes``)."""
    data = head + f.read(max(0, max_bytes + 1 - len(head)))
    if len(data) > max_bytes:
        yield _too_large(source, 1, max_bytes, "JSON document")
        return
    if data.startswith(_BOM):
        data = data[3:]
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        line = 1
        m = re.search(r"line (\d+)", str(exc))
        if m:
            line = int(m.group(1))
        yield _parse_error(exc, source, line)
        return
    yield Row(value, source, 1, 0, None)


def _iter_parquet(
    path: str, source: str, notes: Counter[str] | None = None
) -> Iterator[Row | ParseError]:
    """The rows of a Parquet file as JSON values.

    Arrow types JSON has no form for get one rule each: a value with one lossless JSON form is
    converted and counted in ``notes`` (decimal -> string, timestamp/date/time -> ISO 8601
    string, duration -> ISO 8601 ``PT<seconds>S``, map -> object); a row holding a binary value,
    a map that is no object (non-string or repeated keys) or invalid UTF-8 is rejected.
    """
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for a bad file
        err = ParseError(
            f"not a readable Parquet file: {exc}", source=source, line=None, rule="invalid Parquet"
        )
        err.__cause__ = exc
        yield err
        return
    special = [f.name for f in pf.schema_arrow if _needs_json_form(f.type)]
    counts: Counter[str] = notes if notes is not None else Counter()
    index = 0
    for batch in pf.iter_batches(batch_size=4096):
        try:
            rows = batch.to_pylist()
        except UnicodeDecodeError:
            rows = [_row_or_error(batch, i) for i in range(batch.num_rows)]
        for row in rows:
            if isinstance(row, str):  # the column holding invalid UTF-8
                yield ParseError(f"invalid UTF-8 in a string column - at $.{row}",
                                 source=source, line=index + 1, rule="invalid_utf8")
                index += 1
                continue
            if special:
                try:
                    for name in special:
                        row[name] = _json_form(row[name], counts, f"$.{name}")
                except RecordError as exc:
                    yield ParseError(exc.reason, source=source, line=index + 1, rule=exc.rule)
                    index += 1
                    continue
            yield Row(row, source, index + 1, index, None)
            index += 1


def _row_or_error(batch: Any, i: int) -> dict[str, Any] | str:
    """Row ``i`` of a batch, or the name of its first column that is not valid UTF-8."""
    out = {}
    for name, col in zip(batch.schema.names, batch.columns, strict=True):
        try:
            out[name] = col[i].as_py()
        except UnicodeDecodeError:
            return name
    return out


def _needs_json_form(t: Any) -> bool:
    """Whether an Arrow type holds values orjson cannot write as they are (or not exactly)."""
    import pyarrow.types as pt

    if (pt.is_binary(t) or pt.is_large_binary(t) or pt.is_fixed_size_binary(t)
            or pt.is_decimal(t) or pt.is_timestamp(t) or pt.is_duration(t) or pt.is_date(t)
            or pt.is_time(t) or pt.is_map(t)):
        return True
    if pt.is_struct(t):
        return any(_needs_json_form(t.field(i).type) for i in range(t.num_fields))
    if pt.is_list(t) or pt.is_large_list(t) or pt.is_fixed_size_list(t):
        return _needs_json_form(t.value_type)
    if pt.is_dictionary(t):
        return _needs_json_form(t.value_type)
    return False


def _json_form(value: Any, counts: Counter[str], loc: str) -> Any:
    """``value`` (from Arrow) in its one lossless JSON form, or a RecordError (see
    :func:`_iter_parquet`)."""
    import datetime as dt
    import decimal

    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, dict):
        return {k: _json_form(v, counts, f"{loc}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        if value and all(isinstance(x, tuple) for x in value):  # an Arrow map
            keys = [k for k, _ in value]
            if not all(isinstance(k, str) for k in keys) or len(set(keys)) != len(keys):
                raise RecordError(f"map with non-string or repeated keys has no JSON form - at "
                                  f"{loc}", rule="unsupported_type")
            counts["map -> object"] += 1
            return {k: _json_form(v, counts, f"{loc}.{k}") for k, v in value}
        return [_json_form(v, counts, f"{loc}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, (bytes, bytearray)):
        raise RecordError(f"binary value has no JSON form - at {loc}", rule="binary_value")
    if isinstance(value, decimal.Decimal):
        counts["decimal -> string"] += 1
        return str(value)
    if isinstance(value, dt.timedelta):
        counts["duration -> ISO 8601 string (PT<seconds>S)"] += 1
        return _iso_duration(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        counts["timestamp/date/time -> ISO 8601 string"] += 1
        return value.isoformat()
    raise RecordError(f"{type(value).__name__} value has no JSON form - at {loc}",
                      rule="unsupported_type")


def _iso_duration(value: Any) -> str:
    """A duration as ISO 8601 seconds, exactly: ``PT1.5S``, ``-PT0.000001500S``."""
    ns = getattr(value, "value", None)  # pandas.Timedelta keeps nanoseconds
    if not isinstance(ns, int):
        ns = ((value.days * 86400 + value.seconds) * 1_000_000 + value.microseconds) * 1000
    sign = "-" if ns < 0 else ""
    whole, frac = divmod(abs(ns), 1_000_000_000)
    text = f"{whole}.{frac:09d}".rstrip("0").rstrip(".")
    return f"{sign}PT{text}S"


def _too_deep(value: Any, limit: int) -> bool:
    """Whether ``value`` nests arrays/objects deeper than ``limit`` (iterative: no recursion)."""
    if not isinstance(value, (dict, list)):
        return False
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if d > limit:
            return True
        children = v.values() if isinstance(v, dict) else v
        stack.extend((c, d + 1) for c in children if isinstance(c, (dict, list)))
    return False


# a JSON number orjson may not keep exactly: 20+ digits, or a 3-digit exponent (1e-400 -> 0.0)
_SUSPECT_NUMBER = re.compile(rb"\d{20}|[eE][+-]?0*[1-9]\d{2}")
_INT_RANGE = (-(1 << 63), (1 << 64) - 1)  # what orjson parses as an integer


def _inexact_numbers(raw: bytes) -> list[str]:
    """The number literals of ``raw`` that orjson does not keep exactly (big integers become
    floats, an out-of-range exponent becomes 0.0); parsed again with the stdlib to see them."""
    import json

    found: list[str] = []

    def on_int(text: str) -> int:
        n = int(text)
        if not _INT_RANGE[0] <= n <= _INT_RANGE[1]:
            found.append(text)
        return 0

    def on_float(text: str) -> float:
        f = float(text)
        mantissa = re.split("[eE]", text)[0]
        if f in (float("inf"), float("-inf")) or (f == 0.0 and mantissa.strip("-+0.")):
            found.append(text)
        return 0.0

    try:
        json.loads(raw, parse_int=on_int, parse_float=on_float)
    except ValueError:
        return []
    return found


def screen_rows(
    rows: Iterable[Row | RecordError],
    *,
    max_depth: int = MAX_DEPTH,
    strict: bool = False,
    notes: Counter[str] | None = None,
) -> Iterator[Row | RecordError]:
    """Rows checked before any reader sees them: nesting deeper than ``max_depth`` is a
    ParseError (rule ``too_deep``); a number orjson does not keep exactly (an integer beyond 64
    bits, ``1e-400``) is counted in ``notes`` and, with ``strict``, a ParseError (rule
    ``inexact_number``). Both checks look at the raw bytes first, so the common row costs two
    ``bytes.count`` calls and one regex scan in C.
    """
    for row in rows:
        if type(row) is Row:
            raw = row.raw
            if (raw is None or raw.count(b"[") + raw.count(b"{") > max_depth) and _too_deep(
                row.data, max_depth
            ):
                err = ParseError(
                    f"nested deeper than {max_depth} levels (--max-depth)",
                    source=row.source,
                    line=row.line,
                    rule="too_deep",
                )
                err.raw = raw
                yield err
                continue
            if raw is not None and _SUSPECT_NUMBER.search(raw):
                inexact = _inexact_numbers(raw)
                if inexact:
                    if strict:
                        err = ParseError(
                            f"number {inexact[0]} cannot be kept exactly (beyond 64-bit "
                            "integers or double range) (--strict)",
                            source=row.source,
                            line=row.line,
                            rule="inexact_number",
                        )
                        err.raw = raw
                        yield err
                        continue
                    if notes is not None:
                        notes["number not kept exactly (big integer -> float, tiny -> 0.0)"] += (
                            len(inexact)
                        )
        yield row


def _sniff(f: BinaryIO) -> tuple[bytes, int]:
    """Read up to the first non-blank byte; return what was read and that byte (or -1 at EOF)."""
    head = b""
    while True:
        chunk = f.read(4096) if not hasattr(f, "read1") else f.read1(4096)
        if not chunk:
            return head, -1
        head += chunk
        body = head[3:] if head.startswith(_BOM) else head
        stripped = body.lstrip(_WS)
        if stripped:
            return head, stripped[0]


def read_rows(
    path: str | os.PathLike[str],
    container: Container | None = None,
    *,
    max_line_bytes: int = MAX_LINE_BYTES,
    notes: Counter[str] | None = None,
) -> Iterator[Row | ParseError]:
    """Yield the rows of a file (or ``-`` for stdin), each a Row or a ParseError for a bad one.

    The container comes from ``container``, else the suffix, else the first bytes: ``[`` is a
    JSON array; ``{`` is JSONL when the first line parses alone, else one JSON object. No line,
    array element or document is read whole past ``max_line_bytes``. ``notes`` counts the
    values a reader changed to fit JSON (Parquet decimals, timestamps, durations, maps).
    """
    source = _display(path)
    kind = container or container_for(path)
    if kind == "parquet":
        if source == "-":
            raise UsageError("Parquet cannot be read from stdin; give a file")
        yield from _iter_parquet(str(path), source, notes)
        return
    f = _open_binary(path)
    limit = max_line_bytes
    try:
        try:
            head, first = _sniff(f)
        except (OSError, EOFError) as exc:  # gzip errors
            raise ParseError(f"cannot read: {exc}", source=source, rule="invalid gzip") from exc
        if first == -1:
            return
        if kind == "jsonl":
            yield from _iter_jsonl(f, source, head, limit)
        elif first == ord("["):
            yield from iter_json_array(f, source, prefix=head, max_element_bytes=limit)
        elif first == ord("{") and kind != "json":
            yield from _iter_jsonl(f, source, head, limit)
        elif first == ord("{"):
            # a .json file starting with '{': JSONL if the first line is a whole value
            line_end = head.find(b"\n")
            while line_end < 0 and len(head) <= limit:
                more = f.read(_CHUNK)
                if not more:
                    break
                head += more
                line_end = head.find(b"\n")
            if line_end > limit or (line_end < 0 and len(head) > limit):
                yield _too_large(source, 1, limit)
                return
            first_line = head if line_end < 0 else head[:line_end]
            if first_line.startswith(_BOM):
                first_line = first_line[3:]
            try:
                orjson.loads(first_line)
                whole_line = True
            except orjson.JSONDecodeError:
                whole_line = False
            if whole_line:
                yield from _iter_jsonl(f, source, head, limit)
            else:
                yield from _read_whole(f, source, head, limit)
        else:
            yield from _read_whole(f, source, head, limit)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise ParseError(f"cannot read: {exc}", source=source, rule="invalid gzip") from exc
    finally:
        if sys.stdin is None or f is not sys.stdin.buffer:
            f.close()


# ---------------------------------------------------------------------------------------------
# writing


def _file_key(path: str | os.PathLike[str]) -> tuple[Any, ...]:
    """What identifies a file: its device and inode when it exists (so a symlink or a hard
    link is the same file), else its resolved path; ``-`` is the standard stream."""
    if str(path) == "-":
        return ("-",)
    try:
        st = os.stat(path)
    except OSError:
        return ("path", os.path.realpath(path))
    return ("inode", st.st_dev, st.st_ino)


def check_paths(
    inputs: Iterable[str | os.PathLike[str] | None],
    outputs: Iterable[tuple[str, str | os.PathLike[str] | None]],
    *,
    in_place: bool = False,
    main_output: bool = True,
) -> None:
    """A UsageError when two of a run's files are one file, before anything is read.

    ``outputs`` are ``(label, path)`` pairs, the main output first (``None`` = not written).
    No two outputs may be one file (through a symlink or a hard link too), and no output may
    be an input: a rejects file or report naming the input would destroy it. The one exception
    is the main output replacing an input when ``in_place`` is set (``--in-place``): it is
    written beside and renamed over the input only when the run succeeds. ``main_output=False``:
    the command has no main output that could replace its input (``split``).
    """
    ins = [(str(p), _file_key(p)) for p in inputs if p is not None and str(p) != "-"]
    seen: list[tuple[str, str, tuple[Any, ...]]] = []
    for n, (label, path) in enumerate(outputs):
        if path is None:
            continue
        key = _file_key(path)
        for other_label, other, other_key in seen:
            if key == other_key:
                raise UsageError(
                    f"{label} and {other_label} name the same file ({other}"
                    f"{'' if str(path) == other else ' and ' + str(path)}); give each its own"
                )
        for src, src_key in ins:
            if key != src_key:
                continue
            if n == 0 and main_output and in_place:
                break
            if n == 0 and main_output:
                raise UsageError(
                    f"{label} {path} is the input file {src}: pass --in-place to replace it"
                )
            raise UsageError(
                f"{label} {path} is the input file {src}: it would be destroyed; give "
                f"{label} another path"
            )
        seen.append((label, str(path), key))


# the outputs of the run in progress, renamed into place together at its end (commit_together)
_GROUP: contextvars.ContextVar[list[tuple[str, Path]] | None] = contextvars.ContextVar(
    "dialogkit_commit_group", default=None
)


@contextlib.contextmanager
def commit_together() -> Iterator[None]:
    """Every :func:`atomic_output` finished inside this block is renamed into place at its end,
    all together, or, if the block fails, none is (a run's output, rejects file and report:
    all or nothing). Nested blocks join the outermost one.
    """
    if _GROUP.get() is not None:
        yield
        return
    pending: list[tuple[str, Path]] = []
    token = _GROUP.set(pending)
    try:
        yield
        for _, target in pending:  # a folder in the way fails here, before anything moves
            if target.is_dir():
                raise OutputError(f"cannot write {target}: it is a folder")
        for tmp, target in pending:
            try:
                os.replace(tmp, target)
            except OSError as exc:
                raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from exc
    finally:
        _GROUP.reset(token)
        for tmp, _ in pending:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)


def pending_path(path: str | os.PathLike[str]) -> Path:
    """Where ``path``'s bytes are now: inside :func:`commit_together`, the finished temporary
    file waiting to be renamed to it; else ``path`` itself (so a writer's side file can be made
    from the output it just wrote, before the output is committed)."""
    target = Path(path)
    for tmp, pending in reversed(_GROUP.get() or []):
        if pending == target:
            return Path(tmp)
    return target


def output_error(target: Path | str, exc: OSError) -> OutputError:
    """One line naming the output and the cause (no temp file name, no traceback)."""
    if exc.errno == errno.EPIPE:
        raise exc  # a closed pipe downstream is no error of ours: the CLI exits quietly
    cause = exc.strerror or str(exc)
    if isinstance(exc, (NotADirectoryError, FileExistsError)) and exc.errno in (
        errno.ENOTDIR,
        errno.EEXIST,
    ):
        cause = "a part of the path is a file, not a folder"
    err = OutputError(f"cannot write {target}: {cause}")
    err.__cause__ = exc
    return err


# Temporary names carry a marker, the pid and the host (``.o.jsonl.dialogkit-4242-node1-x1y2.tmp``).
# A later run that writes the same output removes the ones whose process is gone (SIGKILL,
# power loss), and only those: a live run's temp file (this host, pid alive) or another host's
# (shared storage: its pids mean nothing here) is never touched.
_HOST = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:24] or "host"
TEMP_MARK = "dialogkit-"
_LIVE: set[str] = set()  # temp files and folders of this process, for interrupt cleanup


def temp_prefix(stem: str) -> str:
    """The start of a temporary name: ``stem`` + ``<pid>-<host>-`` (see :func:`remove_stale`)."""
    return f"{stem}{os.getpid()}-{_HOST}-"


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, someone else's
        return True
    return True


def remove_stale(folder: str | os.PathLike[str], stem: str) -> list[str]:
    """Remove temp files/folders named ``stem<pid>-<host>-...`` in ``folder`` whose process (on
    this host) is dead; each removal is logged on the ``dialogkit`` logger. Returns the names."""
    pattern = re.compile(re.escape(stem) + r"(\d+)-([A-Za-z0-9]+)-")
    removed: list[str] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        m = pattern.match(entry.name)
        if m is None or m.group(2) != _HOST or _alive(int(m.group(1))):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
        except FileNotFoundError:  # another run removed it first
            continue
        except OSError:
            continue
        removed.append(entry.name)
        log.warning(
            "removed %s, left by an interrupted run (pid %s)", entry.path, m.group(1)
        )
    return removed


def live_temps() -> set[str]:
    """Temporary files and folders this process has made and not yet renamed or removed."""
    return _LIVE


def new_file_mode(existing: str | os.PathLike[str] | None = None) -> int:
    """The mode for an output file: an existing one's (when replacing it), else what
    ``open(path, "w")`` gives: 0o666 minus the umask."""
    if existing is not None:
        with contextlib.suppress(OSError):
            return os.stat(existing).st_mode & 0o7777
    return 0o666 & ~_umask()


def new_folder_mode(existing: str | os.PathLike[str] | None = None) -> int:
    """The mode for an output folder: an existing one's, else 0o777 minus the umask."""
    if existing is not None:
        with contextlib.suppress(OSError):
            return os.stat(existing).st_mode & 0o7777
    return 0o777 & ~_umask()


def _umask() -> int:
    try:  # Linux shows it without changing it (os.umask can only set, racing with threads)
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str] | None) -> Iterator[BinaryIO]:
    """A binary stream for ``path`` that appears under that name only if the block succeeds.

    ``None`` or ``-`` is stdout (written through, nothing to rename). A ``.gz`` path is
    compressed with a fixed mtime so the bytes are deterministic. Inside
    :func:`commit_together` the rename waits for the end of that block. A file-system fault
    (no space, read-only, a folder in the way) is an :class:`OutputError` naming ``path``.
    The file gets the mode ``open()`` would give (or the replaced file's); stale temp files
    of dead runs writing the same output are removed first.
    """
    if path is None or str(path) == "-":
        out = _stdout()
        try:
            yield out
            out.flush()
        except OSError as exc:
            raise output_error("standard output", exc) from exc
        return
    target = Path(path)
    if target.is_dir():
        raise OutputError(f"cannot write {target}: it is a folder")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        stem = f".{target.name}.{TEMP_MARK}"
        remove_stale(target.parent, stem)
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(stem), suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise output_error(target, exc) from exc
    _LIVE.add(tmp)
    group = _GROUP.get()
    try:
        os.fchmod(fd, new_file_mode(target if target.is_file() else None))
        with os.fdopen(fd, "wb") as raw:
            if str(target).endswith(".gz"):
                with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
                    yield gz  # type: ignore[misc]
            else:
                yield raw
            raw.flush()
            os.fsync(raw.fileno())
        if group is None:
            os.replace(tmp, target)
        else:
            group.append((tmp, target))
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, OutputError):
            raise output_error(target, exc) from exc
        raise
    finally:
        _LIVE.discard(tmp)


def _stdout() -> BinaryIO:
    """The binary standard output, or an OutputError when it is closed (``>&-``)."""
    if sys.stdout is None or not hasattr(sys.stdout, "buffer"):
        if sys.stdout is not None and hasattr(sys.stdout, "write"):  # a notebook's StringIO
            raise OutputError("standard output takes text only here; give an output path")
        raise OutputError("cannot write standard output: it is closed")
    return sys.stdout.buffer


class _JsonlSink:
    def __init__(self, out: IO[bytes]) -> None:
        self.out = out

    def write(self, obj: Any) -> None:
        self.out.write(orjson.dumps(obj, option=orjson.OPT_APPEND_NEWLINE))

    def close(self) -> None:
        pass


class _JsonArraySink:
    """A JSON array with one element per line, so large arrays stay diffable."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.n = 0

    def write(self, obj: Any) -> None:
        data = orjson.dumps(obj)  # first: a value JSON cannot hold leaves the array as it was
        self.out.write(b"[\n" if self.n == 0 else b",\n")
        self.out.write(data)
        self.n += 1

    def close(self) -> None:
        self.out.write(b"[]\n" if self.n == 0 else b"\n]\n")


class _Shape:
    """What the values seen at one place of the rows are: JSON kinds, int range, children."""

    __slots__ = ("kinds", "lo", "hi", "keys", "items")

    def __init__(self) -> None:
        self.kinds: set[str] = set()
        self.lo = 0
        self.hi = 0
        self.keys: dict[str, _Shape] = {}
        self.items: _Shape | None = None

    def add(self, v: Any) -> None:
        if v is None:
            return
        if isinstance(v, bool):
            self.kinds.add("bool")
        elif isinstance(v, int):
            self.kinds.add("int")
            self.lo = min(self.lo, v)
            self.hi = max(self.hi, v)
        elif isinstance(v, float):
            self.kinds.add("float")
        elif isinstance(v, str):
            self.kinds.add("str")
        elif isinstance(v, dict):
            self.kinds.add("dict")
            for k, x in v.items():
                child = self.keys.get(k)
                if child is None:
                    child = self.keys[k] = _Shape()
                child.add(x)
        elif isinstance(v, (list, tuple)):
            self.kinds.add("list")
            if self.items is None:
                self.items = _Shape()
            for x in v:
                self.items.add(x)
        else:
            self.kinds.add(type(v).__name__)

    def mixed(self) -> bool:
        """Whether Arrow has no one type for these values (so they become JSON text)."""
        kinds = self.kinds - {"float"} if "int" in self.kinds else self.kinds
        if len(kinds) > 1:
            return True
        if "int" in kinds and (self.lo < -(1 << 63) or self.hi > (1 << 63) - 1):
            return True  # beyond int64 (uint64 max, big integers): kept exactly as JSON text
        return kinds == {"dict"} and not self.keys  # Parquet has no struct without fields


def _json_paths(shape: _Shape, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The outermost places whose values differ in shape (``[]`` stands for list items)."""
    if shape.mixed():
        return [path]
    out: list[tuple[str, ...]] = []
    for k, child in shape.keys.items():
        out += _json_paths(child, (*path, k))
    if shape.items is not None:
        out += _json_paths(shape.items, (*path, "[]"))
    return out


def _encode_at(v: Any, path: tuple[str, ...], counts: Counter[str], name: str) -> Any:
    """``v`` with the value at ``path`` written as JSON text (null stays null)."""
    if v is None:
        return None
    if not path:
        counts[name] += 1
        return orjson.dumps(v).decode()
    head, rest = path[0], path[1:]
    if head == "[]":
        if isinstance(v, (list, tuple)):
            return [_encode_at(x, rest, counts, name) for x in v]
        return v
    if isinstance(v, dict) and head in v:
        return {**v, head: _encode_at(v[head], rest, counts, name)}
    return v


def _path_name(path: tuple[str, ...]) -> str:
    return "".join(p if p == "[]" else f".{p}" for p in path).lstrip(".")


class _ParquetSink:
    """Buffered Parquet writer: the first batch fixes the schema, later batches follow it.

    Arrow needs one type per column. Where the first batch's values differ in shape at some
    place (tool-call ``arguments`` an object here and a string there, ``tools`` a list or a
    string, integers beyond int64, an always-empty object), the values at that place, and only
    there, are written as JSON text; ``notes`` counts them per place for the report.
    """

    def __init__(self, out: IO[bytes], batch_size: int = 10_000) -> None:
        self.out = out
        self.rows: list[Any] = []
        self.batch_size = batch_size
        self.writer: Any = None
        self.schema: Any = None
        self.json_paths: list[tuple[str, ...]] = []
        self.notes: Counter[str] = Counter()

    def write(self, obj: Any) -> None:
        # Arrow fails on a big int or a lone surrogate only at the batch, where the record is
        # lost: orjson (same limits, about 1 us a row) refuses it here, for this record alone
        orjson.dumps(obj)
        self.rows.append(obj)
        if len(self.rows) >= self.batch_size:
            self._flush()

    def _encoded(self, rows: list[Any]) -> list[Any]:
        for path in self.json_paths:
            name = f"{_path_name(path)} -> JSON text (its values differ in shape across rows)"
            rows = [_encode_at(r, path, self.notes, name) for r in rows]
        return rows

    def _flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self.rows and self.writer is not None:
            return
        rows = self.rows
        if self.schema is None:
            try:
                table = pa.Table.from_pylist(rows)
                pq.ParquetWriter(io.BytesIO(), table.schema).close()  # can Parquet hold it?
            except (pa.ArrowException, OverflowError, TypeError, ValueError):
                shape = _Shape()
                for r in rows:
                    shape.add(r)
                self.json_paths = [p for p in _json_paths(shape) if p]
                try:
                    table = pa.Table.from_pylist(self._encoded(rows))
                except (pa.ArrowException, OverflowError, TypeError, ValueError) as exc:
                    raise UsageError(f"these rows have no one Parquet schema ({exc}); write "
                                     "JSONL instead") from exc
            self.schema = table.schema
            self.writer = pq.ParquetWriter(self.out, self.schema, compression="zstd")
        else:
            try:
                table = pa.Table.from_pylist(self._encoded(rows), schema=self.schema)
            except (pa.ArrowException, OverflowError, TypeError, ValueError) as exc:
                raise UsageError(
                    f"rows do not fit the Parquet schema fixed by the first {self.batch_size} "
                    f"rows ({exc}); write JSONL instead"
                ) from exc
        self.writer.write_table(table)
        self.rows = []

    def close(self) -> None:
        if self.rows or self.writer is None:
            self._flush()
        if self.writer is not None:
            self.writer.close()


def make_sink(out: IO[bytes], container: Container) -> _JsonlSink | _JsonArraySink | _ParquetSink:
    """A writer of rows in ``container`` on an open binary stream."""
    if container == "jsonl":
        return _JsonlSink(out)
    if container == "json":
        return _JsonArraySink(out)
    if container == "parquet":
        return _ParquetSink(out)
    raise UsageError(f"unknown container {container!r}")


def write_rows(
    rows: Iterable[Any],
    path: str | os.PathLike[str] | None,
    container: Container | None = None,
    *,
    on_row: Callable[[], None] | None = None,
) -> int:
    """Write rows atomically to ``path`` (``-``/None = stdout); returns how many were written."""
    kind = container or (container_for(path) if path not in (None, "-") else None) or "jsonl"
    n = 0
    with atomic_output(path) as out:
        sink = make_sink(out, kind)
        for row in rows:
            sink.write(row)
            n += 1
            if on_row is not None:
                on_row()
        sink.close()
    return n
