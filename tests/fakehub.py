"""A small Hugging Face Hub API test server on 127.0.0.1, in memory, in a thread.

It answers what ``huggingface_hub`` (2.x, with ``HF_HUB_DISABLE_XET=1``) and ``datasets``
(5.x) call to create a repository, upload in one commit (preupload, git-lfs batch, PUT,
verify, NDJSON commit with ``parentCommit`` -> 412), open a PR, create and delete branches and
repositories, and read back (repo info, refs, tree, paths-info, resolve with HEAD and Range),
so ``datasets.load_dataset("owner/name")`` loads from it. Failures are injected with
:meth:`FakeHub.fail`; every request is logged in :attr:`FakeHub.log`. Xet routes answer 501.

Written for dialogkit's tests from the endpoint list in ../shared/research/hub-and-engines.md.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

TOKEN = "hf_fakehubtesttoken0123456789abcdef"


@dataclass
class _Commit:
    sha: str
    parent: str | None
    summary: str
    files: dict[str, tuple[bytes, str | None]]  # path -> (content or LFS pointer, sha256|None)


@dataclass
class _Repo:
    repo_id: str
    private: bool
    refs: dict[str, str] = field(default_factory=dict)  # branch or refs/pr/N -> commit sha
    prs: int = 0


@dataclass
class _Failure:
    method: str
    pattern: str
    status: int
    times: int
    headers: dict[str, str]


class FakeHub:
    """The server's state, failure rules and request log; :func:`serve` starts one."""

    def __init__(self) -> None:
        self.repos: dict[str, _Repo] = {}
        self.commits: dict[str, _Commit] = {}
        self.lfs: dict[str, bytes] = {}
        self.log: list[tuple[str, str, int]] = []
        self.failures: list[_Failure] = []
        self.token = TOKEN
        self.lock = threading.RLock()
        self._ids = itertools.count(1)
        self.url = ""
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.stopping = threading.Event()

    # -- control -------------------------------------------------------------------------
    def fail(self, method: str, pattern: str, status: int, *, times: int = 1,
             headers: dict[str, str] | None = None) -> None:
        """Answer ``times`` requests matching ``method`` and ``pattern`` with ``status``
        (status 0: never answer; the request hangs until the server stops, 30 s at most)."""
        self.failures.append(_Failure(method, pattern, status, times, headers or {}))

    def stop(self) -> None:
        """Shut the server down (later requests get connection refused)."""
        self.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)

    def calls(self, method: str, pattern: str) -> int:
        """How many logged requests match ``method`` and the regex ``pattern``."""
        return sum(1 for m, p, _ in self.log if m == method and re.search(pattern, p))

    def files(self, repo_id: str, rev: str = "main") -> dict[str, bytes]:
        """The files of a branch (LFS files resolved to their content)."""
        repo = self.repos[repo_id]
        commit = self.commits[repo.refs[rev]]
        return {p: (self.lfs[o] if o else c) for p, (c, o) in commit.files.items()}

    def commit_count(self, repo_id: str, rev: str = "main") -> int:
        """Commits on a branch, the empty initial one included."""
        n, sha = 0, self.repos[repo_id].refs[rev]
        while sha:
            n += 1
            sha = self.commits[sha].parent or ""
        return n

    # -- helpers used by the handler -----------------------------------------------------
    def new_commit(self, parent: str | None, summary: str,
                   files: dict[str, tuple[bytes, str | None]]) -> str:
        sha = hashlib.sha1(f"commit-{next(self._ids)}".encode()).hexdigest()
        self.commits[sha] = _Commit(sha, parent, summary, files)
        return sha

    def resolve(self, repo: _Repo, rev: str) -> str | None:
        if rev in repo.refs:
            return repo.refs[rev]
        if rev.startswith("refs/heads/") and rev[11:] in repo.refs:
            return repo.refs[rev[11:]]
        return rev if rev in self.commits else None


def _git_blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hub: FakeHub

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    # -- plumbing ------------------------------------------------------------------------
    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None,
              raw: bytes | None = None, content_type: str = "application/json") -> None:
        data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.hub.log.append((self.command, self.path, status))

    def _error(self, status: int, message: str, code: str | None = None) -> None:
        headers = {"X-Error-Message": message}
        if code:
            headers["X-Error-Code"] = code
        self._send(status, {"error": message}, headers)

    def _authorized(self) -> bool:
        return self.headers.get("Authorization", "") == f"Bearer {self.hub.token}"

    def _dispatch(self) -> None:
        body = self._body() if self.command in ("POST", "PUT", "DELETE") else b""
        url = urlsplit(self.path)
        for f in self.hub.failures:
            if f.times > 0 and f.method == self.command and re.search(f.pattern, url.path):
                f.times -= 1
                if f.status == 0:
                    self.hub.log.append((self.command, self.path, 0))
                    self.hub.stopping.wait(30)
                    return
                self._send(f.status, {"error": f"injected {f.status}"},
                           {"X-Error-Message": f"injected {f.status}", **f.headers})
                return
        parts = [unquote(p) for p in url.path.split("/")[1:]]
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            with self.hub.lock:
                self._route(parts, query, body)
        except Exception as exc:  # a bug in the fake: answer 500 so the test sees it
            self._error(500, f"fakehub error: {type(exc).__name__}: {exc}")

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _dispatch  # noqa: N815

    # -- routes --------------------------------------------------------------------------
    def _route(self, p: list[str], q: dict[str, str], body: bytes) -> None:
        hub = self.hub
        cmd = self.command
        if p[:2] == ["api", "whoami-v2"]:
            if not self._authorized():
                return self._error(401, "Invalid credentials in Authorization header")
            return self._send(200, {"type": "user", "name": "tester", "orgs": []})
        if p[:2] == ["api", "validate-yaml"]:
            return self._validate_yaml(json.loads(body))
        if p[:2] == ["api", "repos"] and p[2:3] in (["create"], ["delete"]):
            if not self._authorized():
                return self._error(401, "Invalid credentials in Authorization header")
            data = json.loads(body or b"{}")
            name = data.get("name", "")
            repo_id = f"{data['organization']}/{name}" if data.get("organization") else name
            if "/" not in repo_id:
                repo_id = f"tester/{repo_id}"
            if p[2] == "create":
                if repo_id in hub.repos:
                    return self._error(409, "You already created this dataset repo")
                repo = _Repo(repo_id, bool(data.get("private"))
                             or data.get("visibility") == "private")
                repo.refs["main"] = hub.new_commit(None, "initial commit", {})
                hub.repos[repo_id] = repo
                return self._send(200, {"url": f"{hub.url}/datasets/{repo_id}",
                                        "name": repo_id})
            if repo_id not in hub.repos:
                return self._error(404, "Repository not found", "RepoNotFound")
            del hub.repos[repo_id]
            return self._send(200, {})
        if p[:2] == ["api", "datasets"] and len(p) >= 4:
            return self._repo_api(f"{p[2]}/{p[3]}", p[4:], q, body)
        if p[:1] == ["datasets"] and len(p) >= 3 and p[2].endswith(".git"):
            return self._lfs_batch(f"{p[1]}/{p[2][:-4]}", body)
        if p[:2] == ["_fakehub", "lfs"] and cmd == "PUT":
            data = body
            if hashlib.sha256(data).hexdigest() != p[2]:
                return self._error(400, "sha256 mismatch")
            hub.lfs[p[2]] = data
            return self._send(200, {})
        if p[:2] == ["_fakehub", "lfs-verify"]:
            oid = json.loads(body)["oid"]
            return self._send(200 if oid in hub.lfs else 404, {})
        if p[:1] == ["datasets"] and len(p) >= 6 and p[3] == "resolve":
            return self._resolve(f"{p[1]}/{p[2]}", p[4], "/".join(p[5:]))
        return self._error(404, f"no route {cmd} {'/'.join(p)}")

    def _validate_yaml(self, data: dict[str, Any]) -> None:
        text = data.get("content", "")
        m = re.match(r"^---\n(.*?)\n---\n", text, re.S)
        errors: list[dict[str, str]] = []
        if m:
            try:
                meta = yaml.safe_load(m.group(1)) or {}
            except yaml.YAMLError as exc:
                meta = None
                errors.append({"message": f"invalid YAML: {exc}"})
            if isinstance(meta, dict):
                for key in ("language", "task_categories", "tags", "size_categories"):
                    if key in meta and not isinstance(meta[key], (list, str)):
                        errors.append({"message": f"{key} must be a list or a string"})
                for c in meta.get("configs") or []:
                    if not isinstance(c, dict) or "config_name" not in c:
                        errors.append({"message": "each config needs config_name"})
        if errors:
            return self._send(400, {"errors": errors})
        return self._send(200, {"errors": [], "warnings": []})

    def _repo_or_404(self, repo_id: str) -> _Repo | None:
        repo = self.hub.repos.get(repo_id)
        if repo is None:
            self._error(404, "Repository not found", "RepoNotFound")
        return repo

    def _rev_or_404(self, repo: _Repo, rev: str) -> str | None:
        sha = self.hub.resolve(repo, rev)
        if sha is None:
            self._error(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        return sha

    def _repo_api(self, repo_id: str, rest: list[str], q: dict[str, str], body: bytes) -> None:
        hub = self.hub
        cmd = self.command
        if rest[:1] in (["xet-write-token"], ["xet-read-token"]):
            return self._error(501, "Xet is not available on this test server")
        repo = self._repo_or_404(repo_id)
        if repo is None:
            return None
        if repo.private and not self._authorized():
            return self._error(404, "Repository not found", "RepoNotFound")
        if not rest or rest[0] == "revision":
            rev = "/".join(rest[1:]) if rest else "main"
            sha = self._rev_or_404(repo, rev)
            if sha is None:
                return None
            return self._send(200, self._info(repo, sha))
        if rest[0] == "refs":
            branches = [{"name": n, "ref": f"refs/heads/{n}", "targetCommit": s}
                        for n, s in repo.refs.items() if not n.startswith("refs/")]
            prs = [{"name": n, "ref": n, "targetCommit": s}
                   for n, s in repo.refs.items() if n.startswith("refs/pr/")]
            return self._send(200, {"branches": branches, "tags": [], "converts": [],
                                    **({"pullRequests": prs} if q.get("include_prs") else {})})
        if rest[0] == "branch":
            if not self._authorized():
                return self._error(401, "Invalid credentials in Authorization header")
            name = "/".join(rest[1:])
            if cmd == "DELETE":
                repo.refs.pop(name, None)
                return self._send(200, {})
            if name in repo.refs:
                return self._error(409, f"Reference {name} already exists")
            start = json.loads(body or b"{}").get("startingPoint") or "main"
            sha = self._rev_or_404(repo, start)
            if sha is None:
                return None
            repo.refs[name] = sha
            return self._send(200, {})
        if rest[0] == "preupload":
            if not self._authorized():
                return self._error(401, "Invalid credentials in Authorization header")
            files = json.loads(body)["files"]
            out = []
            for f in files:
                sample = base64.b64decode(f.get("sample", ""))
                binary = b"\0" in sample or f["path"].endswith(".parquet")
                out.append({"path": f["path"], "uploadMode": "lfs" if binary else "regular",
                            "shouldIgnore": False, "oid": None})
            return self._send(200, {"files": out, "commitOid": repo.refs.get("main")})
        if rest[0] == "commit":
            return self._commit(repo, "/".join(rest[1:]), q, body)
        if rest[0] == "tree":
            return self._tree(repo, rest[1], "/".join(rest[2:]), q)
        if rest[0] == "paths-info":
            sha = self._rev_or_404(repo, "/".join(rest[1:]))
            if sha is None:
                return None
            form = parse_qs(body.decode())
            paths = form.get("paths", [])
            if not paths and body.startswith(b"{"):
                paths = json.loads(body).get("paths", [])
            entries = [e for e in self._entries(sha, "", recursive=True) if e["path"] in paths]
            return self._send(200, entries)
        if rest[0] == "commits":
            sha = self._rev_or_404(repo, "/".join(rest[1:]))
            out = []
            while sha:
                c = hub.commits[sha]
                out.append({"id": c.sha, "title": c.summary, "message": "", "authors": [],
                            "date": "2026-01-01T00:00:00.000Z"})
                sha = c.parent
            return self._send(200, out)
        return self._error(404, f"no route {cmd} {'/'.join(rest)}")

    def _info(self, repo: _Repo, sha: str) -> dict[str, Any]:
        files = self.hub.commits[sha].files
        card: dict[str, Any] | None = None
        if "README.md" in files:
            m = re.match(r"^---\n(.*?)\n---\n", files["README.md"][0].decode(), re.S)
            if m:
                card = yaml.safe_load(m.group(1))
        return {"id": repo.repo_id, "_id": repo.repo_id, "sha": sha, "private": repo.private,
                "author": repo.repo_id.split("/")[0], "disabled": False, "gated": False,
                "downloads": 0, "likes": 0, "tags": [], "cardData": card,
                "lastModified": "2026-01-01T00:00:00.000Z",
                "createdAt": "2026-01-01T00:00:00.000Z",
                "siblings": [{"rfilename": p} for p in sorted(files)]}

    def _commit(self, repo: _Repo, rev: str, q: dict[str, str], body: bytes) -> None:
        hub = self.hub
        if not self._authorized():
            return self._error(401, "Invalid credentials in Authorization header")
        lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
        header = next(x["value"] for x in lines if x["key"] == "header")
        head = self._rev_or_404(repo, rev)
        if head is None:
            return None
        parent = header.get("parentCommit")
        if parent and parent != head:
            return self._error(412, "A commit has happened since. Please refresh and try again.")
        files = dict(hub.commits[head].files)
        for x in lines:
            v = x["value"]
            if x["key"] == "file":
                files[v["path"]] = (base64.b64decode(v["content"]), None)
            elif x["key"] == "lfsFile":
                if v["oid"] not in hub.lfs:
                    return self._error(422, f"LFS object {v['oid']} was not uploaded")
                pointer = (f"version https://git-lfs.github.com/spec/v1\noid sha256:{v['oid']}\n"
                           f"size {v['size']}\n").encode()
                files[v["path"]] = (pointer, v["oid"])
            elif x["key"] == "deletedFile":
                files.pop(v["path"], None)
            elif x["key"] == "deletedFolder":
                prefix = v["path"].rstrip("/") + "/"
                files = {p: f for p, f in files.items() if not p.startswith(prefix)}
        sha = hub.new_commit(head, header.get("summary", ""), files)
        out: dict[str, Any] = {"commitOid": sha,
                               "commitUrl": f"{hub.url}/datasets/{repo.repo_id}/commit/{sha}"}
        if q.get("create_pr"):
            repo.prs += 1
            repo.refs[f"refs/pr/{repo.prs}"] = sha
            out["pullRequestUrl"] = f"{hub.url}/datasets/{repo.repo_id}/discussions/{repo.prs}"
        else:
            name = rev[11:] if rev.startswith("refs/heads/") else rev
            repo.refs[name if name in repo.refs else rev] = sha
        return self._send(200, out)

    def _entries(self, sha: str, base: str, *, recursive: bool) -> list[dict[str, Any]]:
        files = self.hub.commits[sha].files
        prefix = f"{base.rstrip('/')}/" if base else ""
        out: dict[str, dict[str, Any]] = {}
        for path, (content, oid) in sorted(files.items()):
            if not path.startswith(prefix):
                continue
            rest = path[len(prefix):]
            parts = rest.split("/")
            dirs = range(1, len(parts)) if recursive else range(1, min(2, len(parts)))
            for i in dirs:
                d = prefix + "/".join(parts[:i])
                out.setdefault(d, {"type": "directory", "oid": _git_blob_sha(d.encode()),
                                   "size": 0, "path": d})
            if recursive or len(parts) == 1:
                entry: dict[str, Any] = {"type": "file", "oid": _git_blob_sha(content),
                                         "size": len(self.hub.lfs[oid]) if oid else len(content),
                                         "path": path}
                if oid:
                    entry["lfs"] = {"oid": oid, "size": len(self.hub.lfs[oid]),
                                    "pointerSize": len(content)}
                out[path] = entry
        return list(out.values())

    def _tree(self, repo: _Repo, rev: str, path: str, q: dict[str, str]) -> None:
        sha = self._rev_or_404(repo, rev)
        if sha is None:
            return None
        files = self.hub.commits[sha].files
        if path and not any(p.startswith(path.rstrip("/") + "/") for p in files):
            return self._error(404, f"{path} does not exist", "EntryNotFound")
        recursive = q.get("recursive", "false").lower() in ("1", "true")
        return self._send(200, self._entries(sha, path, recursive=recursive))

    def _lfs_batch(self, repo_id: str, body: bytes) -> None:
        if not self._authorized():
            return self._error(401, "Invalid credentials in Authorization header")
        if self._repo_or_404(repo_id) is None:
            return None
        req = json.loads(body)
        objects = []
        for o in req["objects"]:
            item: dict[str, Any] = {"oid": o["oid"], "size": o["size"]}
            if o["oid"] not in self.hub.lfs:
                item["actions"] = {
                    "upload": {"href": f"{self.hub.url}/_fakehub/lfs/{o['oid']}"},
                    "verify": {"href": f"{self.hub.url}/_fakehub/lfs-verify"},
                }
            objects.append(item)
        return self._send(200, {"transfer": "basic", "objects": objects},
                          content_type="application/vnd.git-lfs+json")

    def _resolve(self, repo_id: str, rev: str, path: str) -> None:
        repo = self._repo_or_404(repo_id)
        if repo is None:
            return None
        sha = self._rev_or_404(repo, rev)
        if sha is None:
            return None
        files = self.hub.commits[sha].files
        if path not in files:
            return self._error(404, f"Entry not found: {path}", "EntryNotFound")
        content, oid = files[path]
        data = self.hub.lfs[oid] if oid else content
        etag = f'"{oid or _git_blob_sha(content)}"'
        headers = {"X-Repo-Commit": sha, "ETag": etag, "Accept-Ranges": "bytes"}
        if oid:
            headers |= {"X-Linked-Etag": etag, "X-Linked-Size": str(len(data))}
        rng = self.headers.get("Range")
        m = re.match(r"bytes=(\d*)-(\d*)", rng or "")
        if m and self.command == "GET":
            start = int(m.group(1) or 0)
            end = int(m.group(2)) if m.group(2) else len(data) - 1
            if start >= len(data) and data:
                return self._send(416, raw=b"", headers=headers)
            part = data[start:end + 1]
            headers["Content-Range"] = f"bytes {start}-{start + len(part) - 1}/{len(data)}"
            return self._send(206, raw=part, headers=headers,
                              content_type="application/octet-stream")
        return self._send(200, raw=data, headers=headers, content_type="application/octet-stream")


def serve() -> FakeHub:
    """Start a FakeHub on 127.0.0.1 (an ephemeral port) in a daemon thread."""
    hub = FakeHub()
    handler = type("Handler", (_Handler,), {"hub": hub})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    hub.url = f"http://127.0.0.1:{server.server_address[1]}"
    hub._server = server
    hub._thread = threading.Thread(target=server.serve_forever, name="fakehub", daemon=True)
    hub._thread.start()
    return hub


@contextlib.contextmanager
def silent_server(lifetime: float = 30.0) -> Iterator[str]:
    """A server on 127.0.0.1 that accepts every connection and never answers; yields its URL.

    It holds the connections open (reading nothing, writing nothing) until the block ends or
    ``lifetime`` seconds pass, then closes everything by itself.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.1)
    done = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        end = time.monotonic() + lifetime
        while not done.is_set() and time.monotonic() < end:
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            held.append(conn)
        for conn in held:
            conn.close()
        listener.close()

    thread = threading.Thread(target=accept, name="silent-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        done.set()
        thread.join(5)


def loopback_only(monkeypatch: Any) -> None:
    """Make any socket connection to a non-loopback address fail (tests never touch the net)."""
    real = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0]
            if host not in ("127.0.0.1", "::1", "localhost"):
                raise ConnectionRefusedError(f"tests may not connect to {host}")
        return real(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)


def fast_backoff(monkeypatch: Any) -> None:
    """Make huggingface_hub's own retry back-off (1-8 s per retry) instant in tests."""
    import types

    import huggingface_hub.utils._http as http

    fake_time = types.SimpleNamespace(**{k: getattr(http.time, k) for k in dir(http.time)
                                         if not k.startswith("__")})
    fake_time.sleep = lambda _s: None
    monkeypatch.setattr(http, "time", fake_time)


def point_clients_at(monkeypatch: Any, url: str, tmp_path: Any) -> None:
    """Send huggingface_hub and datasets to ``url``, caches in ``tmp_path``, Xet and telemetry off.

    Both libraries read HF_ENDPOINT at import time, so their constants are patched as well as
    the environment (which subprocesses started by the test inherit).
    """
    import datasets.config
    import huggingface_hub.constants as hc

    env = {"HF_ENDPOINT": url, "HF_HUB_DISABLE_XET": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
           "HF_HOME": str(tmp_path / "hf_home"), "HF_DATASETS_CACHE": str(tmp_path / "ds_cache"),
           "HF_HUB_DISABLE_PROGRESS_BARS": "1", "HF_HUB_OFFLINE": "0",
           "HF_DATASETS_OFFLINE": "0", "HF_HUB_DISABLE_IMPLICIT_TOKEN": "0", "HF_TOKEN": TOKEN}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr(hc, "ENDPOINT", url)
    monkeypatch.setattr(hc, "HUGGINGFACE_CO_URL_TEMPLATE",
                        url + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(hc, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setattr(hc, "HF_HUB_DISABLE_TELEMETRY", True)
    monkeypatch.setattr(hc, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hc, "HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(tmp_path / "hf_home" / "hub"))
    monkeypatch.setattr(hc, "HF_TOKEN_PATH", str(tmp_path / "hf_home" / "token"))
    monkeypatch.setattr(datasets.config, "HF_ENDPOINT", url)
    monkeypatch.setattr(datasets.config, "HUB_DATASETS_URL",
                        url + "/datasets/{repo_id}/resolve/{revision}/{path}")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False, raising=False)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", False, raising=False)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "ds_cache")


def running(monkeypatch: Any, tmp_path: Any) -> Iterator[FakeHub]:
    """A fixture body: a FakeHub with the clients pointed at it, stopped at the end."""
    loopback_only(monkeypatch)
    hub = serve()
    point_clients_at(monkeypatch, hub.url, tmp_path)
    fast_backoff(monkeypatch)
    try:
        yield hub
    finally:
        hub.stop()


__all__ = ["TOKEN", "FakeHub", "fast_backoff", "loopback_only", "point_clients_at", "running",
           "serve", "silent_server"]
