"""Writing a folder all at once: stage beside the target, check, then move in.

A reader of DIR sees either what was there before or the complete new set of files: the files are
written into a private staging folder in DIR's parent (same file system, so the final moves are renames)
and moved only after every check passed. On any error the staging folder is removed and DIR is untouched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from worldflux_cli.hub.errors import HubError, ModelRefused


def safe_relpath(path: str) -> PurePosixPath:
    """A repository path as a relative path that stays inside its folder; ModelRefused otherwise."""
    parts = path.split("/")
    if (not path or path.startswith("/") or "\\" in path or "\0" in path
            or any(p in ("", ".", "..") for p in parts) or ":" in parts[0]):
        raise ModelRefused(f"the repository holds a file with an unsafe path: {path!r}",
                           "refusing to write outside the target folder; ask the owner to rename it")
    return PurePosixPath(*parts)


def check_target(target: Path, force: bool) -> None:
    """HubError when ``target`` cannot receive files: a file, or a non-empty folder without ``force``."""
    if target.exists() and not target.is_dir():
        raise HubError(f"{target} exists and is not a folder", "choose another -o folder")
    if target.is_dir() and any(target.iterdir()) and not force:
        raise HubError(f"{target} is not empty", "use --force to replace the files it shares with this model, "
                       "or choose another -o folder")


@contextlib.contextmanager
def staging_for(target: Path) -> Iterator[Path]:
    """A fresh private folder beside ``target`` (created with its parents); removed on exit.

    When the parent is not writable but ``target`` exists, the folder is made inside ``target`` instead.
    """
    absolute = target.absolute()
    parent = absolute.parent
    parent.mkdir(parents=True, exist_ok=True)
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{absolute.name}.worldflux-", dir=parent))
    except PermissionError:
        if not target.is_dir():
            raise
        staging = Path(tempfile.mkdtemp(prefix=".worldflux-staging-", dir=absolute))
    mask = os.umask(0)
    os.umask(mask)
    staging.chmod(0o777 & ~mask)  # mkdtemp makes it 0700; the folder it becomes should look like any other
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def install(staging: Path, target: Path, files: list[str]) -> None:
    """Move the staged ``files`` into ``target``: one rename of the folder when ``target`` is new or empty,
    else one rename per file (replacing files of the same name). Only paths inside ``target`` are written."""
    inside = staging.absolute().parent == target.absolute()
    if not target.exists():
        os.rename(staging, target)
        return
    if not inside and not any(target.iterdir()):
        try:
            target.rmdir()
            os.rename(staging, target)
            return
        except OSError:
            target.mkdir(exist_ok=True)
    moves = []
    for name in files:  # check every destination before moving anything
        rel = safe_relpath(name)
        dest = target.joinpath(*rel.parts)
        for depth in range(1, len(rel.parts)):
            if target.joinpath(*rel.parts[:depth]).is_symlink():
                raise ModelRefused(f"{dest} would be written through a symbolic link, maybe outside {target}",
                                   "remove the link or choose another -o folder")
        if dest.is_dir() and not dest.is_symlink():
            raise HubError(f"{dest} is a folder; cannot replace it with a file", "choose another -o folder")
        moves.append((staging.joinpath(*rel.parts), dest))
    for src, dest in moves:
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dest)
