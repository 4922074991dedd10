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
import gzip
import itertools
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO, Literal

import orjson

from dialogkit.errors import OutputError, ParseError, UsageError

__all__ = [
    "Container",
    "Row",
    "atomic_output",
    "check_paths",
    "commit_together",
    "container_for",
    "dumps",
    "iter_json_array",
    "pending_path",
    "read_rows",
    "write_rows",
]

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


def _open_binary(path: str | os.PathLike[str]) -> BinaryIO:
    if str(path) == "-":
        return sys.stdin.buffer
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


def _iter_jsonl(f: BinaryIO, source: str, first: bytes = b"") -> Iterator[Row | ParseError]:
    """One value per non-blank line; a bad line becomes a ParseError item so callers may skip it."""
    lineno = 0
    index = 0
    stream: Iterable[bytes] = f
    if first:
        stream = _chain_first(first, f)
    for raw in stream:
        lineno += 1
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


def _chain_first(first: bytes, f: BinaryIO) -> Iterator[bytes]:
    """Lines of ``first`` (already read from ``f``) followed by the rest of ``f``.

    Built with ``itertools.chain`` so the per-line loop stays in C.
    """
    lines = first.splitlines(keepends=True)
    if lines and not lines[-1].endswith(b"\n"):
        lines[-1] += f.readline()
    return itertools.chain(lines, f)


_OUTSIDE = re.compile(rb'[\[\]{},"]')
_STRING_END = re.compile(rb'(?:[^"\\]|\\.)*"', re.DOTALL)
_WS = b" \t\r\n"


def iter_json_array(
    f: BinaryIO, source: str, *, chunk: int = _CHUNK, prefix: bytes = b""
) -> Iterator[Row | ParseError]:
    """Stream the elements of a top-level JSON array: each is cut out and parsed with orjson.

    Structure (brackets, strings, commas) is tracked with two regexes so the scan runs at C
    speed; each element is then fully validated by orjson. An element that fails to parse is
    yielded as a ParseError and the scan goes on; a broken array structure ends the stream with
    a ParseError naming the line.
    """
    buf = prefix
    pos = 0  # scan position in buf
    line_pos = 0  # newlines are counted up to here ...
    line_no = 1  # ... where this is the line number
    eof = False

    def fill() -> bool:
        nonlocal buf, eof
        if eof:
            return False
        data = f.read(chunk)
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

    def skip_ws(i: int) -> int:
        while True:
            while i < len(buf) and buf[i] in _WS:
                i += 1
            if i < len(buf) or not fill():
                return i

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
            line_at(pos)
            buf = buf[pos:]
            line_pos -= pos
            pos = 0
        start = pos
        depth = 0
        i = pos
        while True:
            m = _OUTSIDE.search(buf, i)
            if m is None:
                if not fill():
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
                    if not fill():
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
        index += 1
        closer = buf[end]
        pos = skip_ws(end + 1)
        if closer == 0x5D:  # ']'
            if c != 0x5D:
                yield ParseError(
                    "mismatched bracket", source=source, line=line_at(end), rule="invalid JSON"
                )
                return
            if pos < len(buf):
                yield ParseError(
                    "unexpected data after the JSON array",
                    source=source,
                    line=line_at(pos),
                    rule="invalid JSON",
                )
            return
        if closer != 0x2C:  # a top-level '}' with no opener
            yield ParseError(
                "mismatched bracket", source=source, line=line_at(end), rule="invalid JSON"
            )
            return


def _read_whole(f: BinaryIO, source: str, head: bytes) -> Iterator[Row | ParseError]:
    """A single JSON document that is not an array: one row."""
    data = head + f.read()
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


def _iter_parquet(path: str, source: str) -> Iterator[Row | ParseError]:
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
    index = 0
    for batch in pf.iter_batches(batch_size=4096):
        for row in batch.to_pylist():
            yield Row(row, source, index + 1, index, None)
            index += 1


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
    path: str | os.PathLike[str], container: Container | None = None
) -> Iterator[Row | ParseError]:
    """Yield the rows of a file (or ``-`` for stdin), each a Row or a ParseError for a bad one.

    The container comes from ``container``, else the suffix, else the first bytes: ``[`` is a
    JSON array; ``{`` is JSONL when the first line parses alone, else one JSON object.
    """
    source = _display(path)
    kind = container or container_for(path)
    if kind == "parquet":
        if source == "-":
            raise UsageError("Parquet cannot be read from stdin; give a file")
        yield from _iter_parquet(str(path), source)
        return
    f = _open_binary(path)
    try:
        try:
            head, first = _sniff(f)
        except (OSError, EOFError) as exc:  # gzip errors
            raise ParseError(f"cannot read: {exc}", source=source, rule="invalid gzip") from exc
        if first == -1:
            return
        if kind == "jsonl":
            yield from _iter_jsonl(f, source, head)
        elif first == ord("["):
            yield from iter_json_array(f, source, prefix=head)
        elif first == ord("{") and kind != "json":
            yield from _iter_jsonl(f, source, head)
        elif first == ord("{"):
            # a .json file starting with '{': JSONL if the first line is a whole value
            line_end = head.find(b"\n")
            while line_end < 0:
                more = f.read(_CHUNK)
                if not more:
                    break
                head += more
                line_end = head.find(b"\n")
            first_line = head if line_end < 0 else head[:line_end]
            if first_line.startswith(_BOM):
                first_line = first_line[3:]
            try:
                orjson.loads(first_line)
                whole_line = True
            except orjson.JSONDecodeError:
                whole_line = False
            if whole_line:
                yield from _iter_jsonl(f, source, head)
            else:
                yield from _read_whole(f, source, head)
        else:
            yield from _read_whole(f, source, head)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise ParseError(f"cannot read: {exc}", source=source, rule="invalid gzip") from exc
    finally:
        if f is not sys.stdin.buffer:
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


def _os_error(target: Path | str, exc: OSError) -> OutputError:
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


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str] | None) -> Iterator[BinaryIO]:
    """A binary stream for ``path`` that appears under that name only if the block succeeds.

    ``None`` or ``-`` is stdout (written through, nothing to rename). A ``.gz`` path is
    compressed with a fixed mtime so the bytes are deterministic. Inside
    :func:`commit_together` the rename waits for the end of that block. A file-system fault
    (no space, read-only, a folder in the way) is an :class:`OutputError` naming ``path``.
    """
    if path is None or str(path) == "-":
        out = _stdout()
        try:
            yield out
            out.flush()
        except OSError as exc:
            raise _os_error("standard output", exc) from exc
        return
    target = Path(path)
    if target.is_dir():
        raise OutputError(f"cannot write {target}: it is a folder")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise _os_error(target, exc) from exc
    group = _GROUP.get()
    try:
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
            raise _os_error(target, exc) from exc
        raise


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
        self.out.write(b"[\n" if self.n == 0 else b",\n")
        self.out.write(orjson.dumps(obj))
        self.n += 1

    def close(self) -> None:
        self.out.write(b"[]\n" if self.n == 0 else b"\n]\n")


class _ParquetSink:
    """Buffered Parquet writer: the first batch fixes the schema, later batches follow it."""

    def __init__(self, out: IO[bytes], batch_size: int = 10_000) -> None:
        self.out = out
        self.rows: list[Any] = []
        self.batch_size = batch_size
        self.writer: Any = None
        self.schema: Any = None

    def write(self, obj: Any) -> None:
        self.rows.append(obj)
        if len(self.rows) >= self.batch_size:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self.rows and self.writer is not None:
            return
        if self.schema is None:
            table = pa.Table.from_pylist(self.rows)
            self.schema = table.schema
            self.writer = pq.ParquetWriter(self.out, self.schema, compression="zstd")
        else:
            try:
                table = pa.Table.from_pylist(self.rows, schema=self.schema)
            except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
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
