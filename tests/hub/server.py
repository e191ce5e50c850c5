"""A loopback Hugging Face Hub for tests, standard library only.

`FakeHub` implements the part of the Hub's HTTP protocol that the real ``huggingface_hub`` client (with Xet
disabled) uses when worldflux saves, pushes and pulls model repos, and when the hub tests check the result:

* create a model repo; read its info (with file hashes), its refs, its commits and its recursive file tree;
* commit regular and LFS files to a branch or as a pull request (preupload, LFS batch + upload + verify, commit);
* create branches and tags;
* resolve and download files (``HEAD`` / ``GET`` on ``resolve`` URLs).

Nothing else is served: other repo types, deletions, settings, gating, whoami, ... answer 404, and the options
of served routes that FakeHub does not implement (non-recursive or sub-folder trees, ``expand``, pull-request
listings, ``parentCommit``, delete operations) answer 501, so that a test using them fails instead of passing on
made-up data.

It runs two listeners on 127.0.0.1, each on its own port:

* the hub (``endpoint``): JSON API, git-style ``resolve`` URLs and the LFS batch API, with bearer-token auth;
* the storage (``storage_endpoint``), standing in for S3 / the CDN: it only serves URLs the hub signed (LFS upload
  targets, LFS download redirects) and, like S3, rejects a request that also carries an ``Authorization`` header.
  It is named ``localhost``, not ``127.0.0.1``: being another host, the client treats it like the real CDN (it
  does not follow the hub's 302 to it during the metadata HEAD call, and does not send its token there), also in
  the client versions that compare host names only, not ports (huggingface_hub 2.0).

State lives in memory: repos with a git-like history (each commit is a full snapshot of the files), refs kept by
full name (``refs/heads/main``, ``refs/tags/v1``, ``refs/pr/1``) and, per repo, the LFS objects by sha256.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fnmatch
import hashlib
import hmac
import json
import re
import secrets
import socket
import threading
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

# Files stored in LFS whatever their content. New repos get a .gitattributes listing them, as on the Hub.
LFS_PATTERNS = (
    "*.safetensors",
    "*.bin",
    "*.pt",
    "*.pth",
    "*.pkl",
    "*.pickle",
    "*.ckpt",
    "*.h5",
    "*.onnx",
    "*.npy",
    "*.npz",
    "*.msgpack",
    "*.gz",
    "*.zip",
    "*.tar",
)
LFS_SIZE_THRESHOLD = 1024 * 1024  # bigger files go to LFS whatever their name
MAX_REGULAR_FILE_SIZE = 10 * 1024 * 1024  # the Hub refuses bigger non-LFS files in a commit
BINARY_SNIFF_SIZE = 512  # preupload only sees this much of a file (its base64 "sample")
GITATTRIBUTES = "".join(f"{pattern} filter=lfs diff=lfs merge=lfs -text\n" for pattern in LFS_PATTERNS).encode()

_SHORT_COMMIT = re.compile(r"[0-9a-f]{7,40}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_REPO_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def git_blob_sha1(data: bytes) -> str:
    """The oid git gives a blob with this content (what the Hub reports for regular files)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def should_use_lfs(path: str, size: int, sample: bytes) -> bool:
    """The server-side LFS decision of preupload: by name pattern, by size, or binary content."""
    name = path.rsplit("/", 1)[-1]
    return (
        any(fnmatch.fnmatchcase(name, pattern) for pattern in LFS_PATTERNS)
        or size > LFS_SIZE_THRESHOLD
        or b"\0" in sample[:BINARY_SNIFF_SIZE]
    )


def _iso(moment: datetime) -> str:
    """The Hub's date format, `%Y-%m-%dT%H:%M:%S.%fZ` with milliseconds (what the client's parser expects)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class _Blob:
    """A file in a commit. LFS content is not here but in `_Repo.lfs_objects`, under `sha256`."""

    oid: str  # git blob sha1: of the content for a regular file, of the pointer file for an LFS file
    size: int  # size of the content
    content: bytes = b""  # regular files only
    sha256: str | None = None  # LFS files only
    pointer_size: int = 0  # LFS files only

    @classmethod
    def regular(cls, content: bytes) -> _Blob:
        return cls(oid=git_blob_sha1(content), size=len(content), content=content)

    @classmethod
    def lfs(cls, sha256: str, size: int) -> _Blob:
        pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()
        return cls(oid=git_blob_sha1(pointer), size=size, sha256=sha256, pointer_size=len(pointer))


@dataclass(frozen=True)
class _Commit:
    oid: str
    parent: str | None
    title: str
    message: str
    author: str
    date: datetime
    files: dict[str, _Blob]  # full snapshot: path -> blob


@dataclass
class _Repo:
    repo_id: str
    private: bool
    created_at: datetime
    commits: dict[str, _Commit] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)  # full ref name -> commit oid
    lfs_objects: dict[str, bytes] = field(default_factory=dict)  # sha256 -> content, committed or not

    def resolve(self, revision: str) -> _Commit | None:
        """A branch or tag name, a full ref name, or a full or unambiguous short (>= 7) commit id."""
        for ref in (f"refs/heads/{revision}", f"refs/tags/{revision}", revision):
            if ref in self.refs:
                return self.commits[self.refs[ref]]
        if _SHORT_COMMIT.fullmatch(revision):
            matches = [oid for oid in self.commits if oid.startswith(revision)]
            if len(matches) == 1:
                return self.commits[matches[0]]
        return None

    def refs_of_kind(self, kind: str) -> list[tuple[str, str, str]]:
        """(short name, full ref, commit oid) of the refs under refs/<kind>/, sorted by name."""
        prefix = f"refs/{kind}/"
        return sorted((ref[len(prefix) :], ref, oid) for ref, oid in self.refs.items() if ref.startswith(prefix))


class _HubError(Exception):
    """An error answer: the client reads `X-Error-Code` / `X-Error-Message` and the JSON `error`."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code
        self.headers = headers or {}
        self.extra = extra or {}

    def response(self) -> _Response:
        # Header values must be one latin-1 line; paths in messages may be anything.
        header_message = " ".join(self.message.split()).encode("ascii", "backslashreplace").decode()
        headers = {"X-Error-Message": header_message, **self.headers}
        if self.code:
            headers["X-Error-Code"] = self.code
        return _json({"error": self.message, **self.extra}, self.status, headers)


def _repo_not_found(user: str | None) -> _HubError:
    # Like the Hub: 401 when anonymous, 404 when authenticated, and a missing repo looks like a hidden one.
    return _HubError(401 if user is None else 404, "Repository not found", "RepoNotFound")


def _not_implemented(what: str) -> _HubError:
    """A Hub feature FakeHub leaves out: fail the test loudly rather than answer with made-up data."""
    return _HubError(501, f"FakeHub does not implement {what}")


@dataclass
class _Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> _Response:
    return _Response(status, json.dumps(data).encode(), {"Content-Type": "application/json", **(headers or {})})


def _content(data: bytes, headers: dict[str, str]) -> _Response:
    """A file's bytes. `Range` is ignored (as RFC 9110 allows): the client only sends it to resume a broken body."""
    return _Response(200, data, {"Content-Type": "application/octet-stream", **headers})


@dataclass
class _Request:
    method: str
    segments: list[str]  # the path split on "/" first, then each part unquoted (revisions arrive quoted)
    query: dict[str, list[str]]
    headers: Message
    body: bytes
    user: str | None = None

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def flag(self, name: str) -> bool:
        return (self.param(name) or "").lower() in ("1", "true")

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"{}")
        except ValueError:
            raise _HubError(400, "Request body is not valid JSON") from None


def _directories(files: dict[str, _Blob]) -> set[str]:
    return {str(parent) for path in files for parent in PurePosixPath(path).parents if str(parent) != "."}


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    return handler.rfile.read(int(handler.headers.get("Content-Length") or 0))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the client pools its connections
    server: _Server

    def _handle(self) -> None:
        self.server.hub._serve(self, storage=self.server.storage)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _handle

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: requests are recorded in `FakeHub.request_log` instead."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, hub: FakeHub, storage: bool) -> None:
        self.hub, self.storage = hub, storage
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close(self) -> None:
        """Stop listening and cut the open keep-alive connections, so that clients find nobody there."""
        self.shutdown()
        self.server_close()
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class FakeHub:
    """In-memory Hugging Face Hub on 127.0.0.1, started on construction.

    Args:
        tokens: valid bearer tokens -> user name.
        orgs: organization name -> members; members may write in the organization's namespace.

    Attributes:
        endpoint: the hub's base URL (for HF_ENDPOINT); `storage_endpoint`: the storage's.
        tokens, orgs: as given, changeable at any time; `reset()` restores them.
        request_log: (method, path) of every request received, path without query and still quoted; storage
            requests have paths starting with /lfs-upload/ (LFS uploads) or /lfs-object/ (LFS downloads).
    """

    def __init__(self, tokens: dict[str, str] | None = None, orgs: dict[str, set[str]] | None = None) -> None:
        self._defaults = (dict(tokens or {}), {org: set(members) for org, members in (orgs or {}).items()})
        self._lock = threading.RLock()
        self._secret = secrets.token_bytes(32)  # signs the storage URLs
        self._sequence = 0  # makes every commit id unique
        self._servers: tuple[_Server, _Server] | None = None
        self._ports = (0, 0)
        self.request_log: list[tuple[str, str]] = []
        self.reset()  # also starts the listeners

    # ----------------------------------------------------------------------------------------------- lifecycle

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._ports[0]}"

    @property
    def storage_endpoint(self) -> str:
        return f"http://localhost:{self._ports[1]}"  # another host name than the hub's, as for the real CDN

    def _start(self) -> None:
        # Port 0 the first time; the same ports again when coming back online.
        servers = (_Server(self._ports[0], self, storage=False), _Server(self._ports[1], self, storage=True))
        for server in servers:
            threading.Thread(target=server.serve_forever, args=(0.05,), name="fake-hub", daemon=True).start()
        self._ports = (servers[0].server_address[1], servers[1].server_address[1])
        self._servers = servers

    def set_offline(self, offline: bool) -> None:
        """Take both listeners down (connections are then refused, as with no network) or bring them back."""
        if offline and self._servers is not None:
            for server in self._servers:
                server.close()
            self._servers = None
        elif not offline and self._servers is None:
            self._start()

    def stop(self) -> None:
        self.set_offline(True)

    def __enter__(self) -> FakeHub:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget all repos and logged requests, restore the constructor's tokens and orgs, go online."""
        with self._lock:
            self.tokens: dict[str, str] = dict(self._defaults[0])
            self.orgs: dict[str, set[str]] = {org: set(members) for org, members in self._defaults[1].items()}
            self._repos: dict[str, _Repo] = {}
            self.request_log.clear()
        self.set_offline(False)

    # ---------------------------------------------------------------------------------------------- test hooks

    def put_files(
        self, repo_id: str, files: dict[str, bytes], *, message: str = "Upload files", private: bool = False
    ) -> str:
        """Commit `files` to main without the client (creating the model repo, owned by its namespace, if needed).

        `private` only applies when the repo is created. The LFS decision is the one preupload makes. Returns the
        new commit id.
        """
        with self._lock:
            namespace = repo_id.split("/")[0]
            repo = self._repos.get(repo_id) or self._create_repo(repo_id, private, namespace)
            parent = repo.refs["refs/heads/main"]
            snapshot = dict(repo.commits[parent].files)
            for path, data in files.items():
                if data and should_use_lfs(path, len(data), data):
                    sha256 = hashlib.sha256(data).hexdigest()
                    repo.lfs_objects[sha256] = data
                    snapshot[path] = _Blob.lfs(sha256, len(data))
                else:
                    snapshot[path] = _Blob.regular(data)
            commit = self._new_commit(repo, parent, snapshot, message, "", namespace)
            repo.refs["refs/heads/main"] = commit.oid
            return commit.oid

    def corrupt_lfs(self, repo_id: str, path: str, revision: str = "main") -> None:
        """Replace the stored bytes of an LFS file by different bytes of the same size (flipping every bit).

        The client only checks the size of what it downloads, so the download succeeds with wrong content.
        """
        with self._lock:
            repo = self._repos[repo_id]
            commit = repo.resolve(revision)
            if commit is None:
                raise KeyError(f"no revision {revision!r} in {repo_id}")
            sha256 = commit.files[path].sha256
            if sha256 is None:
                raise ValueError(f"{path} is not stored in LFS")
            repo.lfs_objects[sha256] = bytes(byte ^ 0xFF for byte in repo.lfs_objects[sha256])

    # ------------------------------------------------------------------------------------------------ plumbing

    def _serve(self, handler: BaseHTTPRequestHandler, *, storage: bool) -> None:
        url = urlsplit(handler.path)
        self.request_log.append((handler.command, url.path))
        try:
            request = _Request(
                method=handler.command,
                # Split before unquoting: a quoted revision such as refs%2Fpr%2F1 stays one segment.
                segments=[unquote(part) for part in url.path.split("/")[1:]],
                query=parse_qs(url.query),
                headers=handler.headers,
                body=_read_body(handler),
            )
            with self._lock:
                response = self._route_storage(request) if storage else self._route_hub(request)
        except _HubError as error:
            response = error.response()
        except Exception:
            traceback.print_exc()
            response = _json({"error": "internal error in FakeHub"}, 500, {"X-Error-Message": "FakeHub crashed"})
            handler.close_connection = True  # the request body may not have been read in full
        try:
            handler.send_response(response.status)
            for name, value in response.headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(response.body)))  # a HEAD tells the GET's length
            handler.end_headers()
            if handler.command != "HEAD":
                handler.wfile.write(response.body)
        except OSError:  # the client went away
            handler.close_connection = True

    def _authenticate(self, request: _Request) -> str | None:
        header = request.headers.get("authorization")
        if header is None:
            return None
        scheme, _, token = header.partition(" ")
        user = self.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if user is None:
            # The Hub answers this on every route, public repos included; the client keeps it a plain 401.
            raise _HubError(401, "Invalid credentials in Authorization header")
        return user

    def _can_write(self, user: str | None, namespace: str) -> bool:
        return user is not None and (user == namespace or user in self.orgs.get(namespace, ()))

    def _repo(self, request: _Request, repo_id: str, *, write: bool = False) -> _Repo:
        repo = self._repos.get(repo_id)
        allowed = self._can_write(request.user, repo_id.split("/")[0])
        if repo is None or (repo.private and not allowed):
            raise _repo_not_found(request.user)
        if write and not allowed:
            if request.user is None:
                raise _HubError(401, "You must be authenticated to write to this repository")
            raise _HubError(403, f"You don't have the rights to write to {repo_id}")
        return repo

    def _commit_for(self, repo: _Repo, revision: str) -> _Commit:
        commit = repo.resolve(revision)
        if commit is None:
            raise _HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return commit

    def _repo_url(self, repo: _Repo) -> str:
        return f"{self.endpoint}/{repo.repo_id}"

    def _sign(self, *parts: str) -> str:
        return hmac.new(self._secret, "\n".join(parts).encode(), hashlib.sha256).hexdigest()

    def _storage_url(self, kind: str, repo: _Repo, oid: str, **params: str) -> str:
        """A URL on the storage that carries its own credential (the client sends it no token)."""
        signature = self._sign(kind, repo.repo_id, oid, *params.values())
        query = urlencode({**params, "sig": signature})
        return f"{self.storage_endpoint}/{kind}/{repo.repo_id}/{oid}?{query}"

    def _create_repo(self, repo_id: str, private: bool, author: str) -> _Repo:
        repo = _Repo(repo_id=repo_id, private=private, created_at=datetime.now(timezone.utc))
        files = {".gitattributes": _Blob.regular(GITATTRIBUTES)}
        initial = self._new_commit(repo, None, files, "initial commit", "", author)
        repo.refs["refs/heads/main"] = initial.oid
        self._repos[repo_id] = repo
        return repo

    def _new_commit(
        self, repo: _Repo, parent: str | None, files: dict[str, _Blob], title: str, message: str, author: str
    ) -> _Commit:
        self._sequence += 1
        date = datetime.now(timezone.utc)
        tree = sorted((path, blob.oid) for path, blob in files.items())
        identity = [repo.repo_id, parent, title, message, author, date.isoformat(), self._sequence]
        oid = hashlib.sha1(json.dumps([*identity, tree]).encode()).hexdigest()
        commit = _Commit(oid=oid, parent=parent, title=title, message=message, author=author, date=date, files=files)
        repo.commits[oid] = commit
        return commit

    # ----------------------------------------------------------------------------------------------- routing

    def _route_storage(self, request: _Request) -> _Response:
        if request.headers.get("authorization"):
            raise _HubError(400, "Only one auth mechanism allowed: the URL is signed, do not send a token")
        parts = request.segments
        if len(parts) != 4 or parts[0] not in ("lfs-upload", "lfs-object"):
            raise _HubError(404, "NoSuchKey")
        kind, repo_id, oid = parts[0], f"{parts[1]}/{parts[2]}", parts[3]
        size = request.param("size")
        expected = self._sign(kind, repo_id, oid, *([size] if kind == "lfs-upload" else []))
        if not hmac.compare_digest(request.param("sig") or "", expected):
            raise _HubError(403, "SignatureDoesNotMatch")
        repo = self._repos.get(repo_id)
        if repo is None:
            raise _HubError(404, "NoSuchKey")
        if kind == "lfs-upload" and request.method == "PUT":
            # Check what arrived against what the batch call announced, as the Hub's storage does.
            if len(request.body) != int(size or -1):
                raise _HubError(400, f"Size mismatch: announced {size}, received {len(request.body)}")
            if hashlib.sha256(request.body).hexdigest() != oid:
                raise _HubError(400, "sha256 of the uploaded content does not match the object id")
            repo.lfs_objects[oid] = request.body
            return _Response(200, headers={"ETag": f'"{hashlib.md5(request.body).hexdigest()}"'})
        # HEAD too: some client versions (2.0) follow the hub's 302 to the storage during the metadata call.
        if kind == "lfs-object" and request.method in ("GET", "HEAD") and oid in repo.lfs_objects:
            return _content(repo.lfs_objects[oid], {"ETag": f'"{oid}"'})
        raise _HubError(404, "NoSuchKey")

    def _route_hub(self, request: _Request) -> _Response:
        request.user = self._authenticate(request)
        parts = request.segments
        if parts[:1] == ["api"]:
            return self._route_api(request, parts[1:])
        # Git-style URLs of model repos: ns/name/resolve/... and ns/name.git/info/lfs/objects/...
        if len(parts) >= 3:
            namespace, name, action, rest = parts[0], parts[1], parts[2], parts[3:]
            if action == "resolve" and request.method in ("GET", "HEAD"):
                return self._resolve_file(request, f"{namespace}/{name}", rest)
            if name.endswith(".git") and [action, *rest[:2]] == ["info", "lfs", "objects"] and request.method == "POST":
                repo = self._repo(request, f"{namespace}/{name[:-4]}", write=True)
                if rest[2:] == ["batch"]:
                    return self._lfs_batch(request, repo)
                if rest[2:] == ["verify"]:
                    return self._lfs_verify(request, repo)
        raise _HubError(404, "Not Found")

    # (method, action after /api/models/{ns}/{name}) -> (handler name, needs write access)
    _REPO_ROUTES = {
        ("GET", None): ("_api_info", False),
        ("GET", "revision"): ("_api_info", False),
        ("GET", "tree"): ("_api_tree", False),
        ("GET", "refs"): ("_api_refs", False),
        ("GET", "commits"): ("_api_commits", False),
        ("POST", "tag"): ("_api_create_tag", True),
        ("POST", "branch"): ("_api_create_branch", True),
        ("POST", "preupload"): ("_api_preupload", True),
        ("POST", "commit"): ("_api_commit", True),
    }

    def _route_api(self, request: _Request, parts: list[str]) -> _Response:
        method = request.method
        if parts == ["repos", "create"] and method == "POST":
            return self._api_create_repo(request)
        if parts == ["validate-yaml"] and method == "POST":
            # Called by create_commit when a README.md is added. Always JSON (the client parses it before checking
            # the status). No YAML parser in the standard library, so every README's metadata is accepted.
            return _json({"errors": [], "warnings": []})
        if len(parts) >= 3 and parts[0] == "models":
            route = self._REPO_ROUTES.get((method, parts[3] if len(parts) > 3 else None))
            if route is not None:
                handler_name, write = route
                repo = self._repo(request, f"{parts[1]}/{parts[2]}", write=write)
                return getattr(self, handler_name)(request, repo, parts[4:])
        raise _HubError(404, "Not Found")

    # -------------------------------------------------------------------------------------------------- repos

    def _api_create_repo(self, request: _Request) -> _Response:
        if request.user is None:
            raise _HubError(401, "You must be authenticated to create a repository")
        body = request.json()
        if body.get("type", "model") != "model":
            raise _not_implemented(f"{body['type']} repositories")
        name = body.get("name")
        namespace = body.get("organization") or request.user
        if not isinstance(name, str) or not _REPO_NAME.fullmatch(name):
            raise _HubError(400, f"Invalid repo name: {name!r}")
        if not self._can_write(request.user, namespace):
            raise _HubError(403, f'You don\'t have the rights to create a model under the namespace "{namespace}"')
        repo_id = f"{namespace}/{name}"
        existing = self._repos.get(repo_id)
        if existing is not None:
            # create_repo(exist_ok=True) reads "url" from this 409's body.
            raise _HubError(409, "You already created this model repo", extra={"url": self._repo_url(existing)})
        private = body.get("visibility", "public") == "private" or bool(body.get("private"))
        repo = self._create_repo(repo_id, private, request.user)
        return _json({"url": self._repo_url(repo), "name": repo_id, "id": repo_id})

    # -------------------------------------------------------------------------------------------------- reads

    def _api_info(self, request: _Request, repo: _Repo, rest: list[str]) -> _Response:
        commit = self._commit_for(repo, "/".join(rest) or "main")
        with_blobs = request.flag("blobs")  # files_metadata=True
        siblings = []
        for path, blob in sorted(commit.files.items()):
            sibling: dict[str, Any] = {"rfilename": path}
            if with_blobs:
                sibling.update(size=blob.size, blobId=blob.oid)
                if blob.sha256:
                    sibling["lfs"] = {"sha256": blob.sha256, "size": blob.size, "pointerSize": blob.pointer_size}
            siblings.append(sibling)
        return _json(
            {
                "_id": hashlib.sha1(repo.repo_id.encode()).hexdigest()[:24],
                "id": repo.repo_id,
                "author": repo.repo_id.split("/")[0],
                "sha": commit.oid,
                "private": repo.private,
                "gated": False,
                "disabled": False,
                "lastModified": _iso(commit.date),
                "createdAt": _iso(repo.created_at),
                "tags": [],
                "downloads": 0,
                "likes": 0,
                "siblings": siblings,
                "usedStorage": sum(len(data) for data in repo.lfs_objects.values()),
            }
        )

    def _api_tree(self, request: _Request, repo: _Repo, rest: list[str]) -> _Response:
        """The whole tree, recursively (list_repo_files, snapshot_download): files, then the folders above them."""
        if len(rest) != 1:
            raise _not_implemented("tree listings of a sub-folder") if rest else _HubError(404, "Missing revision")
        if not request.flag("recursive") or request.flag("expand"):
            raise _not_implemented("tree listings that are not recursive, or expanded")
        commit = self._commit_for(repo, rest[0])
        entries: list[dict[str, Any]] = []
        for path in sorted(_directories(commit.files)):  # folders first, as on the Hub
            covered = sorted((name, blob.oid) for name, blob in commit.files.items() if name.startswith(f"{path}/"))
            oid = hashlib.sha1(json.dumps(covered).encode()).hexdigest()  # changes with the folder's content
            entries.append({"type": "directory", "path": path, "oid": oid})
        for path, blob in sorted(commit.files.items()):
            entry: dict[str, Any] = {"type": "file", "path": path, "size": blob.size, "oid": blob.oid}
            if blob.sha256:
                entry["lfs"] = {"oid": blob.sha256, "size": blob.size, "pointerSize": blob.pointer_size}
            entries.append(entry)
        return _json(entries)

    def _api_refs(self, request: _Request, repo: _Repo, rest: list[str]) -> _Response:
        if request.flag("include_prs"):
            raise _not_implemented("pull-request listings")

        def refs(kind: str) -> list[dict[str, str]]:
            return [{"name": name, "ref": ref, "targetCommit": oid} for name, ref, oid in repo.refs_of_kind(kind)]

        # "converts" is required by the client, even empty.
        return _json({"branches": refs("heads"), "converts": [], "tags": refs("tags")})

    def _api_commits(self, request: _Request, repo: _Repo, rest: list[str]) -> _Response:
        if request.query.get("expand[]"):
            raise _not_implemented("expanded commit listings")
        commit: _Commit | None = self._commit_for(repo, rest[0] if rest else "main")
        items = []
        while commit is not None:
            items.append(
                {
                    "id": commit.oid,
                    "title": commit.title,
                    "message": commit.message,
                    "date": _iso(commit.date),
                    "authors": [{"user": commit.author}],
                }
            )
            commit = repo.commits[commit.parent] if commit.parent else None
        return _json(items)

    def _resolve_file(self, request: _Request, repo_id: str, rest: list[str]) -> _Response:
        repo = self._repo(request, repo_id)
        if not rest:
            raise _HubError(404, "Missing revision", "RevisionNotFound")
        commit = self._commit_for(repo, rest[0])
        blob = commit.files.get("/".join(rest[1:]))
        headers = {"X-Repo-Commit": commit.oid}
        if blob is None:
            # X-Repo-Commit lets the client cache the miss under .no_exist/<commit>/.
            raise _HubError(404, "Entry not found", "EntryNotFound", headers)
        if blob.sha256 is None:
            return _content(blob.content, {**headers, "ETag": f'"{blob.oid}"'})
        # LFS: a 302 to the storage. The client keys its cache on X-Linked-Etag and checks the downloaded size
        # against X-Linked-Size.
        headers.update(
            {
                "ETag": f'"{blob.sha256}"',
                "X-Linked-Etag": f'"{blob.sha256}"',
                "X-Linked-Size": str(blob.size),
                "Location": self._storage_url("lfs-object", repo, blob.sha256),
            }
        )
        return _Response(302, headers=headers)

    # ------------------------------------------------------------------------------------------------- writes

    def _api_create_tag(self, request: _Request, repo: _Repo, rest: list[str]) -> _Response:
        commit = self._commit_for(repo, rest[0] if rest else "main")
        tag = request.json().get("tag")
        if not isinstance(tag, str) or not tag:
            raise _HubError(400, "Missing tag name")
        if f"refs/tags/{tag}" in repo.refs:
            raise _HubError(409, f"Tag reference refs/tags/{tag} already exists")
        repo.refs[f"refs/tags/{tag}"] = commit.oid
        return _json({})

    def _api_create_branch(self, request: _Request, repo: _Repo, rest: list[str]) -> _Response:
        ref = f"refs/heads/{'/'.join(rest)}"
        start = self._commit_for(repo, request.json().get("startingPoint") or "main")
        if ref in repo.refs:
            raise _HubError(409, f"Reference {ref} already exists")
        repo.refs[ref] = start.oid
        return _json({})

    def _api_preupload(self, request: _Request, repo: _Repo, rest: list[str]) -> _Response:
        commit = self._commit_for(repo, rest[0] if rest else "main")
        answers = []
        for item in request.json().get("files", []):
            path, size = item.get("path"), item.get("size")
            try:
                sample = base64.b64decode(item.get("sample", ""), validate=True)
            except binascii.Error:
                sample = None
            if not isinstance(path, str) or not isinstance(size, int) or sample is None:
                raise _HubError(400, f"Invalid preupload entry for {path!r}")
            answer = {"path": path, "uploadMode": "lfs" if should_use_lfs(path, size, sample) else "regular"}
            answer["shouldIgnore"] = False  # .gitignore rules are not implemented
            remote = commit.files.get(path)
            if remote is not None:
                # sha256 for LFS files, git sha1 otherwise: the client drops the file if it equals its own.
                answer["oid"] = remote.sha256 or remote.oid
            answers.append(answer)
        return _json({"files": answers, "commitOid": commit.oid})

    def _lfs_batch(self, request: _Request, repo: _Repo) -> _Response:
        body = request.json()
        if body.get("operation") != "upload":
            raise _not_implemented("LFS batch operations other than upload")
        objects = []
        for item in body.get("objects", []):
            oid, size = item.get("oid"), item.get("size")
            answer: dict[str, Any] = {"oid": oid, "size": size}
            if not (isinstance(oid, str) and _SHA256.fullmatch(oid) and isinstance(size, int) and size >= 0):
                answer["error"] = {"code": 422, "message": "Invalid object id or size"}
            elif oid in repo.lfs_objects:
                if len(repo.lfs_objects[oid]) != size:
                    answer["error"] = {"code": 422, "message": "Size does not match the stored object"}
                # else: no "actions", the client skips the upload
            else:
                answer["actions"] = {
                    "upload": {"href": self._storage_url("lfs-upload", repo, oid, size=str(size))},
                    "verify": {"href": f"{self._repo_url(repo)}.git/info/lfs/objects/verify"},
                }
            objects.append(answer)
        headers = {"Content-Type": "application/vnd.git-lfs+json"}
        return _Response(200, json.dumps({"transfer": "basic", "objects": objects}).encode(), headers)

    def _lfs_verify(self, request: _Request, repo: _Repo) -> _Response:
        body = request.json()
        data = repo.lfs_objects.get(body.get("oid"))
        if data is None or len(data) != body.get("size"):
            raise _HubError(404, "Object not found or of another size")
        return _json({})

    def _api_commit(self, request: _Request, repo: _Repo, rest: list[str]) -> _Response:
        revision = rest[0] if rest else "main"
        create_pr = request.flag("create_pr")
        try:
            lines = [json.loads(line) for line in request.body.splitlines() if line.strip()]
        except ValueError:
            raise _HubError(400, "Commit body is not valid ndjson") from None
        if not lines or lines[0].get("key") != "header":
            raise _HubError(400, "The first ndjson line must be the header")
        header = lines[0]["value"]
        if header.get("parentCommit"):
            raise _not_implemented("parentCommit (the 412 for a stale parent)")
        if create_pr:
            base = self._commit_for(repo, revision)
            ref = f"refs/pr/{len(repo.refs_of_kind('pr')) + 1}"
        else:
            ref = revision if revision.startswith("refs/heads/") else f"refs/heads/{revision}"
            if ref not in repo.refs:
                self._commit_for(repo, revision)  # RevisionNotFound if it names nothing at all
                raise _HubError(400, f"Invalid rev id: {revision}: commits go to a branch")
            base = repo.commits[repo.refs[ref]]
        files = dict(base.files)
        for line in lines[1:]:
            self._apply_operation(repo, files, line.get("key"), line.get("value") or {})
        commit = self._new_commit(
            repo, base.oid, files, header.get("summary") or "", header.get("description") or "", request.user or ""
        )
        repo.refs[ref] = commit.oid
        answer = {"commitUrl": f"{self._repo_url(repo)}/commit/{commit.oid}", "commitOid": commit.oid}
        if create_pr:
            # The client wants .../discussions/N; the PR's head is then refs/pr/N.
            answer["pullRequestUrl"] = f"{self._repo_url(repo)}/discussions/{ref.rsplit('/', 1)[1]}"
        return _json(answer)

    def _apply_operation(self, repo: _Repo, files: dict[str, _Blob], key: Any, value: dict[str, Any]) -> None:
        path = value.get("path")
        if key not in ("file", "lfsFile"):
            raise _not_implemented(f"the commit operation {key!r}")
        if not isinstance(path, str) or not path or path.startswith("/") or ".." in path.split("/"):
            raise _HubError(400, f"Invalid path in commit: {path!r}")
        if key == "file":
            if value.get("encoding") != "base64":
                raise _HubError(400, "Regular files must be base64-encoded")
            content = base64.b64decode(value.get("content", ""))
            if len(content) > MAX_REGULAR_FILE_SIZE:
                raise _HubError(400, f"{path} is too big for a regular file: it must be stored with LFS")
            if b"\0" in content[:BINARY_SNIFF_SIZE]:
                raise _HubError(400, f"Your push was rejected because {path} is a binary file: use LFS")
            files[path] = _Blob.regular(content)
        else:
            oid = value.get("oid")
            data = repo.lfs_objects.get(oid)
            if data is None:
                raise _HubError(400, f"LFS object {oid} of {path} was never uploaded")
            if value.get("size") not in (None, len(data)):  # copies carry no size
                raise _HubError(400, f"Size of {path} does not match its LFS object")
            files[path] = _Blob.lfs(oid, len(data))
