"""Hub references: ``ORG/NAME[@REV]`` and ``hf://ORG/NAME[@REV]``, parsed and checked (no network)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from worldflux_cli.hub.errors import HubError

SCHEME = "hf://"
_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?")
_REVISION = re.compile(r"[A-Za-z0-9._/+-]{1,255}")
FULL_COMMIT = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class HubRef:
    repo_id: str
    revision: str | None = None

    @property
    def namespace(self) -> str:
        return self.repo_id.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.repo_id.split("/", 1)[1]

    def __str__(self) -> str:
        return self.repo_id + (f"@{self.revision}" if self.revision else "")


def check_repo_id(repo_id: str) -> str:
    """``repo_id`` if it is ORG/NAME as the Hub spells it; HubError otherwise."""
    parts = repo_id.split("/")
    bad = (len(parts) != 2 or not all(_NAME.fullmatch(p) for p in parts)
           or any("--" in p or ".." in p for p in parts) or parts[1].endswith(".git"))
    if bad:
        raise HubError(f"{repo_id!r} is not a Hub repository id",
                       "write ORG/NAME: letters, digits, '-', '_', '.'; e.g. alice/dreamer-tiny")
    return repo_id


def check_revision(revision: str) -> str:
    """``revision`` if it can be a branch, tag, ``refs/pr/N`` or commit id; HubError otherwise."""
    if (not _REVISION.fullmatch(revision) or ".." in revision or revision.startswith("/")
            or revision.endswith("/") or "//" in revision):
        raise HubError(f"{revision!r} is not a revision", "use a branch, a tag or a commit id, e.g. main, v1, 3f2a9c1")
    return revision


def parse_ref(text: str, revision: str | None = None) -> HubRef:
    """``ORG/NAME[@REV]`` or ``hf://ORG/NAME[@REV]``; ``revision`` (from --revision) must agree with @REV."""
    body = text[len(SCHEME):] if text.startswith(SCHEME) else text
    repo_id, at, rev = body.partition("@")
    if at and not rev:
        raise HubError(f"{text!r} ends with '@' but names no revision", "write ORG/NAME@REV, e.g. alice/m@v1")
    check_repo_id(repo_id)
    if rev and revision and rev != revision:
        raise HubError(f"two revisions given: @{rev} and --revision {revision}", "give the revision once")
    chosen = rev or revision
    return HubRef(repo_id, check_revision(chosen) if chosen else None)
