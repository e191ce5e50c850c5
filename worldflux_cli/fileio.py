"""Reading and writing files safely: bounded reads of regular files, atomic writes to safe targets.

- ``read_bounded``: reads at most ``limit`` bytes whatever size the file reports (a device, a pipe or
  /proc file can report 0 or lie), and refuses what is not a regular file.
- ``check_output`` / ``write_atomic``: an output goes to a new path or replaces a regular file, never a
  device, fifo, socket or folder; a symbolic link only with ``force``, and then the link itself is
  replaced, not what it points to. The file appears whole or not at all, with the mode a new file gets
  under the process's umask (or the mode of the file it replaces).
- ``atomic_path``: the same for a file another library writes (a video encoder): it writes to a temp path
  beside the target, renamed into place when it is done, removed when it fails.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from worldflux_cli.errors import WorldfluxError


class TooLarge(WorldfluxError):
    """An input over the byte limit (exit code 2)."""


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a pipe (fifo)"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def read_bounded(path: str | Path, limit: int, what: str = "file") -> bytes:
    """The bytes of the regular file ``path``; TooLarge past ``limit`` bytes, WorldfluxError when ``path`` is
    not a regular file; OSError (FileNotFoundError, PermissionError, ...) as raised by the system."""
    with open(path, "rb") as fh:
        mode = os.fstat(fh.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise WorldfluxError(f"{path} is {_kind(mode)}, not a {what}", f"give the path of a {what}")
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"{path} is over {limit:,} bytes; a {what} is a few KB", "is this the right file?")
    return data


def read_stream_bounded(stream, limit: int, label: str) -> bytes:
    """At most ``limit`` bytes of a binary stream (standard input); TooLarge past it, WorldfluxError when closed."""
    if stream is None or getattr(stream, "closed", False):
        raise WorldfluxError(f"{label} is closed", "give a file, or pipe a config into the command")
    try:
        data = stream.read(limit + 1)
    except (OSError, ValueError) as exc:  # EBADF: closed at the OS level
        raise WorldfluxError(f"cannot read {label}: {getattr(exc, 'strerror', None) or exc}",
                             "give a file, or pipe a config into the command") from None
    if len(data) > limit:
        raise TooLarge(f"{label} is over {limit:,} bytes; a config is a few KB", "is this the right input?")
    return data


def check_output(path: Path, force: bool) -> None:
    """WorldfluxError unless ``path`` may receive an output file (see the module doc); call before work."""
    path = Path(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise WorldfluxError(f"cannot write {path}: {exc.strerror}", "choose another output path") from None
    if st is not None:
        if stat.S_ISLNK(st.st_mode):
            if not force:
                raise WorldfluxError(f"{path} is a symbolic link; not replacing it",
                                     "pass --force to replace the link itself (not what it points to)")
        elif not stat.S_ISREG(st.st_mode):
            raise WorldfluxError(f"{path} is {_kind(st.st_mode)}; outputs are written to regular files only",
                                 "choose another output path")
        elif not force:
            raise WorldfluxError(f"{path} exists; not overwriting it", "pass --force to replace it, or choose "
                                 "another output path")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise WorldfluxError(f"folder {parent} does not exist", "create it first, or choose another output path")


def write_atomic(path: Path, text: str | bytes) -> None:
    """Write ``text`` to ``path`` through a temp file in the same folder and a rename.

    A reader sees either the old file or the whole new one, never half of it; on any error the temp file
    is removed, the old file is untouched, and the OSError names ``path`` (not the temp file). A
    symbolic link at ``path`` is replaced by the file; a non-regular file there is refused (check_output).
    """
    path = Path(path)
    mode = _output_mode(path)
    data = text.encode("utf-8") if isinstance(text, str) else text
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
        os.fchmod(fd, mode)  # mkstemp makes 0600; a written file gets the usual mode
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        raise type(exc)(exc.errno, exc.strerror or str(exc), str(path)) from None
    except BaseException:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        raise


def _output_mode(path: Path) -> int:
    """The mode a file written to ``path`` gets: the existing regular file's, else the usual one (umask); a
    device, fifo, socket or folder there is refused (a symbolic link is replaced by the file)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    if st is not None and not stat.S_ISREG(st.st_mode) and not stat.S_ISLNK(st.st_mode):
        raise WorldfluxError(f"{path} is {_kind(st.st_mode)}; outputs are written to regular files only",
                             "choose another output path")
    return st.st_mode & 0o7777 if st is not None and stat.S_ISREG(st.st_mode) else new_file_mode()


@contextlib.contextmanager
def atomic_path(path: Path, suffix: str = ".tmp") -> Iterator[Path]:
    """A temp path (ending in ``suffix``, for writers that pick their format by it) in ``path``'s folder, to
    write to inside the ``with`` block; when the block ends, the file gets the mode ``write_atomic`` gives and
    replaces ``path`` (whole, or not at all: on any error the temp file is removed and ``path`` is untouched)."""
    path = Path(path)
    mode = _output_mode(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent or ".")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, mode)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def new_file_mode() -> int:
    """The mode a new regular file gets under the process's umask (0o644 under the usual 022)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask
