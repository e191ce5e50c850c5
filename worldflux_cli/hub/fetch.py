"""Download a revision into the huggingface_hub cache and check every byte against the Hub's record.

huggingface_hub checks only the size of what it downloads. Here every file is hashed and compared with
the oid the Hub recorded for it: sha256 for LFS files (``lfs.sha256`` of ``model_info(files_metadata=
True)``), the git blob sha1 for regular files (``blob_id``). A file that does not match is deleted from
the cache (blob and snapshot pointer), so that a retry downloads it again instead of trusting it.

Offline (``HF_HUB_OFFLINE=1``, or the Hub unreachable) a revision pulled before is served from the cache:
its files are checked against the hashes the cache was keyed by when they were downloaded (the blob
names: the ``X-Linked-Etag`` sha256 of LFS files, the git sha1 ``ETag`` of regular ones).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from worldflux_cli.hub.errors import HubError, ModelRefused, hub_errors
from worldflux_cli.hub.folders import safe_relpath
from worldflux_cli.hub.refs import FULL_COMMIT, SCHEME, HubRef, parse_ref
from worldflux_cli.hub.weights import CONFIG_NAME, WEIGHTS_NAME, is_pickle_name

_SHA1 = re.compile(r"[0-9a-f]{40}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Expected:
    """What the Hub recorded for one file: ``algo`` is "sha256" (LFS) or "git-sha1" (regular)."""

    algo: str
    digest: str
    size: int | None = None


@dataclass
class Fetched:
    """A revision's files in the local cache, not yet trusted: check each with `verify` before use."""

    ref: HubRef
    revision: str
    commit: str
    expected: dict[str, Expected]
    local: dict[str, Path]  # path in repo -> file in the cache
    skipped: list[str] = field(default_factory=list)  # pickle-named files, never downloaded
    offline_reason: str | None = None

    @property
    def files(self) -> list[str]:
        return sorted(self.local)

    @property
    def label(self) -> str:
        return f"{self.ref.repo_id}@{self.revision}"

    def verify(self, name: str, path: Path | None = None) -> None:
        """ModelRefused (after deleting the cached copy) unless ``path`` (default: the cached file) has the
        recorded hash."""
        expected = self.expected[name]
        digest, size = hash_file(path or self.local[name], expected.algo)
        if digest != expected.digest or (expected.size is not None and size != expected.size):
            self.purge(name)
            raise ModelRefused(
                f"{name} of {self.label} does not match the Hub's record ({expected.algo} {digest[:12]}..., "
                f"expected {expected.digest[:12]}...): corrupted in transfer, in storage or in the cache",
                "nothing was written and the bad copy was deleted from the cache; retry, and if it fails "
                "again the file on the Hub is damaged: tell the repository's owner",
            )

    def read_verified(self, name: str) -> bytes:
        """The bytes of a (small) cached file, checked against the recorded hash."""
        data = self.local[name].read_bytes()
        expected = self.expected[name]
        if hash_bytes(data, expected.algo) != expected.digest:
            self.purge(name)
            raise ModelRefused(f"{name} of {self.label} does not match the Hub's record ({expected.algo})",
                               "the bad copy was deleted from the cache; retry")
        return data

    def purge(self, name: str | None = None) -> None:
        """Delete cached copies (blob and snapshot pointer) of ``name``, or of every fetched file."""
        for key in [name] if name else list(self.local):
            purge_cached(self.local[key])


# ------------------------------------------------------------------------------------------- hashing


def hash_file(path: Path, algo: str) -> tuple[str, int]:
    """(hex digest, size) of a file; ``algo`` "sha256" or "git-sha1" (sha1 of b"blob <size>\\0" + content)."""
    size = os.stat(path).st_size
    h = hashlib.sha256() if algo == "sha256" else hashlib.sha1(b"blob %d\0" % size)
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest(), size


def hash_bytes(data: bytes, algo: str) -> str:
    if algo == "sha256":
        return hashlib.sha256(data).hexdigest()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def purge_cached(path: Path) -> None:
    """Remove a snapshot file of the huggingface_hub cache and the blob it points to."""
    try:
        if path.is_symlink():
            blob = path.resolve()
            if blob.parent.name == "blobs" and blob.is_file():
                blob.unlink()
        path.unlink(missing_ok=True)
    except OSError:
        pass


# -------------------------------------------------------------------------------------------- planning


def plan(names: list[str], label: str, config_only: bool) -> tuple[list[str], list[str]]:
    """(files to fetch, pickle files skipped) out of a revision's file list; ModelRefused when it is no model."""
    for name in names:
        safe_relpath(name)  # a path that would escape the folder makes the whole repository suspect
    visible = [n for n in names if not any(part.startswith(".") for part in n.split("/"))]
    skipped = sorted(n for n in visible if is_pickle_name(n))
    if CONFIG_NAME not in visible:
        raise ModelRefused(f"{label} has no {CONFIG_NAME}: it is not a worldflux model",
                           "push one with `worldflux save CONFIG -o DIR` and `worldflux push DIR --repo ORG/NAME`")
    if config_only:
        return [CONFIG_NAME], []
    if WEIGHTS_NAME not in visible:
        if skipped:
            raise ModelRefused(
                f"{label} holds only pickle-format weights ({', '.join(skipped)}), no {WEIGHTS_NAME}",
                "worldflux loads safetensors only (a pickle can run code when loaded); ask the owner for "
                f"{WEIGHTS_NAME}, or pull the config alone with --config-only")
        raise ModelRefused(f"{label} has no {WEIGHTS_NAME}", "pull the config alone with --config-only")
    return sorted(n for n in visible if n not in skipped), skipped


# ---------------------------------------------------------------------------------------------- fetch


def fetch(ref: HubRef, *, config_only: bool = False) -> Fetched:
    """Download (or find in the cache) the files of ``ref`` that worldflux uses; nothing is verified yet."""
    from huggingface_hub import HfApi, constants

    revision = ref.revision or "main"
    if constants.HF_HUB_OFFLINE:
        return _from_cache(ref, revision, config_only, "HF_HUB_OFFLINE=1", None)
    try:
        with hub_errors(ref.repo_id, revision):
            info = HfApi().model_info(ref.repo_id, revision=revision, files_metadata=True)
    except HubError as exc:
        cause = exc.__cause__
        if cause is not None and _unreachable(cause):
            return _from_cache(ref, revision, config_only, "the Hub is unreachable", cause)
        raise
    label = f"{ref.repo_id}@{revision}"
    expected = {}
    for sibling in info.siblings or []:
        if sibling.lfs is not None:
            expected[sibling.rfilename] = Expected("sha256", sibling.lfs.sha256, sibling.lfs.size)
        elif sibling.blob_id:
            expected[sibling.rfilename] = Expected("git-sha1", sibling.blob_id, sibling.size)
    wanted, skipped = plan([s.rfilename for s in info.siblings or []], label, config_only)
    missing = [n for n in wanted if n not in expected]
    if missing:
        raise ModelRefused(f"the Hub reported no hash for {', '.join(missing)} of {label}",
                           "cannot verify the download; retry later")
    local = {}
    for name in wanted:
        local[name] = _download(ref.repo_id, name, revision)
        commit = local[name].parents[len(name.split("/")) - 1].name
        if commit != info.sha:
            raise HubError(f"{label} moved while downloading (from {info.sha[:7]} to {commit[:7]})",
                           "run the command again")
    return Fetched(ref, revision, info.sha, expected, local, skipped)


def _download(repo_id: str, name: str, revision: str) -> Path:
    from huggingface_hub import hf_hub_download

    with hub_errors(repo_id, revision):
        return Path(hf_hub_download(repo_id, name, revision=revision))


def _unreachable(exc: BaseException) -> bool:
    from huggingface_hub.errors import OfflineModeIsEnabled

    from worldflux_cli.hub.errors import _is_network_error

    return isinstance(exc, OfflineModeIsEnabled) or _is_network_error(exc)


def _from_cache(ref: HubRef, revision: str, config_only: bool, reason: str, cause: BaseException | None) -> Fetched:
    from huggingface_hub import constants

    label = f"{ref.repo_id}@{revision}"
    storage = Path(constants.HF_HUB_CACHE) / ("models--" + ref.repo_id.replace("/", "--"))
    commit = _cached_commit(storage, revision)
    snapshot = storage / "snapshots" / commit if commit else None
    if snapshot is None or not snapshot.is_dir():
        if cause is not None:
            from worldflux_cli.hub.errors import _first_line, endpoint

            raise HubError(f"cannot reach the Hub at {endpoint()} ({_first_line(str(cause)) or type(cause).__name__})"
                           f" and {label} is not in the local cache",
                           "check your network connection, proxy or HF_ENDPOINT, then retry") from cause
        raise HubError(f"HF_HUB_OFFLINE=1 is set and {label} is not in the local cache",
                       "unset HF_HUB_OFFLINE to download it; offline, only revisions pulled before are available")
    names = sorted(p.relative_to(snapshot).as_posix() for p in snapshot.rglob("*") if p.is_file())
    wanted, skipped = plan(names, f"{label} (cached)", config_only)
    expected = {}
    for name in wanted:
        path = snapshot / name
        blob = Path(os.readlink(path)).name if path.is_symlink() else ""
        if _SHA256.fullmatch(blob):
            expected[name] = Expected("sha256", blob)
        elif _SHA1.fullmatch(blob):
            expected[name] = Expected("git-sha1", blob)
        else:
            raise HubError(f"cannot check the cached copy of {name} of {label} offline (no hash on record)",
                           "connect to the Hub and pull again")
    return Fetched(ref, revision, commit or "", expected, {n: snapshot / n for n in wanted}, skipped,
                   offline_reason=reason)


def _cached_commit(storage: Path, revision: str) -> str | None:
    """The commit a branch, tag or (short) commit id points to in the cache, or None."""
    if FULL_COMMIT.fullmatch(revision):
        return revision
    ref_file = storage / "refs" / revision
    if ref_file.is_file():
        return ref_file.read_text().strip() or None
    if re.fullmatch(r"[0-9a-f]{7,39}", revision) and (storage / "snapshots").is_dir():
        matches = [p.name for p in (storage / "snapshots").iterdir() if p.name.startswith(revision)]
        if len(matches) == 1:
            return matches[0]
    return None


def read_hub_config(ref: str) -> tuple[str, bytes]:
    """(label, bytes) of the config.json of ``hf://ORG/NAME[@REV]``, checked against the Hub's recorded hash.

    Raises HubError when the reference is malformed, the repository or revision is not found, there is no
    access, or the network is down with nothing cached; ModelRefused when the bytes do not match the hash.
    """
    from worldflux_cli.hub.progress import progress_bars

    hub_ref = parse_ref(ref)
    with progress_bars(False):  # a few KB: no bar
        fetched = fetch(hub_ref, config_only=True)
    return f"{SCHEME}{hub_ref}", fetched.read_verified(CONFIG_NAME)
