"""The process chat templates run in: a hard wall-clock limit and a memory ceiling.

The sandbox checks its deadline and sizes as a template runs, which stops every runaway we know
of with a clean message. What it misses (a C routine that runs long or builds a huge value) is
stopped here: templates run in one worker process per dialogkit process (started on first use,
reused for every record, so a render costs one pipe round trip), whose address space is capped
with ``RLIMIT_AS`` at ``max_memory`` bytes above what it starts with, and which is killed when a
job outlives its deadline by a second. Either way the caller gets a TemplateError; the next job
starts a fresh worker.

Requests go to the worker pickled (they come from us); answers come back as JSON, so that a
template that escaped the sandbox could not hand the parent code to run. The memory ceiling needs
``resource`` (POSIX); elsewhere only the deadline holds.
"""

from __future__ import annotations

import atexit
import json
import os
import pickle
import select
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from dialogkit.errors import TemplateError

__all__ = ["DEFAULT_MAX_MEMORY", "Outcome", "render_in_worker"]

# the worker's address space beyond what it starts with: a real render needs a few MB
DEFAULT_MAX_MEMORY = 1 << 30
_GRACE = 1.0  # seconds past the deadline before the worker is killed
# the worker registers dialogkit.templates as a bare package, so that importing the sandbox does
# not run the package's __init__ (which loads pydantic and the models): it starts in ~0.1s
_BOOT = (
    "import sys, types; import dialogkit; "
    "pkg = types.ModuleType('dialogkit.templates'); pkg.__path__ = [sys.argv[1]]; "
    "sys.modules['dialogkit.templates'] = pkg; "
    "from dialogkit.templates.worker import main; main()"
)
_HEADER = struct.Struct("<Q")

# one outcome per rendered variant: ["ok", text, spans] | ["refused", message] |
# ["failed", type name, message] | ["bound", message] (a runaway: the whole run stops)
Outcome = list[Any]


def _write_frame(stream: IO[bytes], payload: bytes) -> None:
    data = memoryview(_HEADER.pack(len(payload)) + payload)  # one write: one wake-up
    while data:
        n = stream.write(data)
        data = data[n if n is not None else len(data):]
    stream.flush()


def _read_exact(stream: IO[bytes], n: int) -> bytes:
    chunks = []
    while n:
        chunk = stream.read(n)
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


# ---------------------------------------------------------------------------------------------
# the parent side


class _Worker:
    """One worker process and the pipes to it."""

    def __init__(self, max_memory: int) -> None:
        self.max_memory = max_memory
        self.pid = os.getpid()  # a forked child must not share this worker's pipes
        self.stderr = tempfile.TemporaryFile()
        root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (root, env.get("PYTHONPATH")) if p
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _BOOT, str(Path(__file__).parent), str(max_memory)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, env=env,
            bufsize=0,  # unbuffered, so that select() sees every byte not yet read
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.stdin, self.stdout = self.proc.stdin, self.proc.stdout
        ready = self._read(time.monotonic() + 60.0)
        if ready != ["ready"]:
            raise TemplateError(f"the chat template worker did not start: {ready!r}")

    def _failed_start(self) -> str:
        self.stderr.seek(0)
        text = self.stderr.read().decode("utf-8", "replace").strip()
        return text.splitlines()[-1] if text else f"exit code {self.proc.poll()}"

    def _read_exact(self, n: int, deadline: float) -> bytes | None:
        """``n`` bytes from the worker, or None if they do not come before ``deadline``."""
        chunks = []
        while n:
            if os.name != "nt":  # no select() on Windows pipes: a timer kills the worker instead
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([self.stdout], [], [], left)[0]:
                    return None
            chunk = self.stdout.read(n)
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def _read(self, deadline: float) -> Any:
        timer = None
        if os.name == "nt":
            timer = threading.Timer(max(deadline - time.monotonic(), 0), self.proc.kill)
            timer.start()
        try:
            header = self._read_exact(_HEADER.size, deadline)
            if header is None:
                return None
            body = self._read_exact(_HEADER.unpack(header)[0], deadline)
            return None if body is None else json.loads(body)
        except (EOFError, OSError, ValueError):
            if time.monotonic() >= deadline:
                return None
            raise TemplateError(
                f"the chat template worker died: {self._failed_start()}"
            ) from None
        finally:
            if timer is not None:
                timer.cancel()

    def run(self, job: Mapping[str, Any], deadline: float) -> list[Outcome] | None:
        """The outcomes of a job, or None when it outlived ``deadline``."""
        try:
            _write_frame(self.stdin, pickle.dumps(dict(job), protocol=pickle.HIGHEST_PROTOCOL))
        except OSError as exc:
            raise TemplateError(f"the chat template worker died: {self._failed_start()}") from exc
        return self._read(deadline)  # type: ignore[no-any-return]

    def close(self) -> None:
        """Stop the worker (closing its input ends it; a stuck one is killed)."""
        try:
            self.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.stdout.close()
        self.stderr.close()


_LOCK = threading.Lock()
_WORKER: _Worker | None = None


def _close_worker() -> None:
    global _WORKER
    if _WORKER is not None:
        _WORKER.close()
        _WORKER = None


atexit.register(_close_worker)


def render_in_worker(
    source: str,
    compat: str,
    variants: Sequence[Mapping[str, Any]],
    *,
    time_limit: float,
    max_chars: int,
    max_template_chars: int,
    max_memory: int = DEFAULT_MAX_MEMORY,
    now: Any = None,
    stop_unless_prefix: bool = False,
) -> list[Outcome]:
    """Render ``source`` with each set of variables, in order, within one deadline.

    The worker stops at the first error, and with ``stop_unless_prefix`` at the first text that
    is not a prefix of the first; a runaway outcome (``"bound"``) raises TemplateError here.
    """
    global _WORKER
    job = {
        "source": source, "compat": compat, "variants": list(variants),
        "time_limit": time_limit, "max_chars": max_chars,
        "max_template_chars": max_template_chars, "now": now,
        "stop_unless_prefix": stop_unless_prefix,
    }
    with _LOCK:
        if _WORKER is not None and _WORKER.pid != os.getpid():
            _WORKER = None  # inherited through fork: the parent still owns that worker
        if _WORKER is not None and (
            _WORKER.max_memory != max_memory or _WORKER.proc.poll() is not None
        ):
            _close_worker()
        if _WORKER is None:
            _WORKER = _Worker(max_memory)
        worker = _WORKER
        outcomes = worker.run(job, time.monotonic() + time_limit + _GRACE)
        if outcomes is None:
            worker.proc.kill()
            _close_worker()
            raise TemplateError(
                f"chat template ran away: rendering took more than {time_limit:g}s "
                "(the worker was stopped)"
            )
        if outcomes and outcomes[-1][0] == "bound":
            message = outcomes[-1][1]
            if message.endswith("out of memory"):
                _close_worker()  # a fresh process for the next job
                message += f" (more than {max_memory >> 20} MiB)"
            raise TemplateError(message)
    return outcomes


# ---------------------------------------------------------------------------------------------
# the worker side


def _cap_memory(max_memory: int) -> None:
    """RLIMIT_AS at what the process maps now plus ``max_memory`` (where the OS has it)."""
    try:
        import resource

        with open("/proc/self/statm") as f:
            mapped = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        limit = mapped + max_memory
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, OSError, ValueError):
        pass


def _outcome(exc: BaseException) -> Outcome:
    import jinja2

    if isinstance(exc, TemplateError):
        return ["bound", str(exc)]
    if type(exc) is jinja2.exceptions.TemplateError:
        return ["refused", None if exc.message is None else str(exc.message)]
    return ["failed", type(exc).__name__, str(exc)]


def _run_job(job: dict[str, Any]) -> list[Outcome]:
    from dialogkit.templates.sandbox import compile_template, run_template

    deadline = time.monotonic() + job["time_limit"]
    outcomes: list[Outcome] = []
    first: str | None = None
    try:
        compiled = compile_template(job["source"], job["compat"])
    except Exception as exc:  # noqa: BLE001 - every failure goes back as an outcome
        return [_outcome(exc)]
    for variables in job["variants"]:
        try:
            text, spans = run_template(
                compiled, variables, compat=job["compat"], time_limit=job["time_limit"],
                max_chars=job["max_chars"], max_template_chars=job["max_template_chars"],
                now=job["now"], deadline=deadline,
            )
        except MemoryError:
            outcomes.append(["bound", "chat template ran away: out of memory"])
            break
        except Exception as exc:  # noqa: BLE001
            outcomes.append(_outcome(exc))
            break
        outcomes.append(["ok", text, spans])
        if first is None:
            first = text
        elif job["stop_unless_prefix"] and not first.startswith(text):
            break
    return outcomes


def main() -> None:
    """The worker's loop: a pickled job in, a JSON list of outcomes out, until stdin closes."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    import dialogkit.templates.sandbox  # noqa: F401 - loaded before the ceiling is set

    _cap_memory(int(sys.argv[2]))
    _write_frame(stdout, b'["ready"]')
    while True:
        try:
            size = _HEADER.unpack(_read_exact(stdin, _HEADER.size))[0]
            job = pickle.loads(_read_exact(stdin, size))
        except EOFError:
            return
        try:
            outcomes = _run_job(job)
            payload = json.dumps(outcomes).encode()
        except MemoryError:
            payload = b'[["bound", "chat template ran away: out of memory"]]'
        _write_frame(stdout, payload)
