"""Hub failures as one line and the next step.

Library code raises `HubError` (could not run: exit code 2) or `ModelRefused` (the files fail a
check: exit code 1), both `worldflux_cli.errors.WorldfluxError`. Exceptions of huggingface_hub and its
HTTP client never leave this package raw: every call into it runs inside `hub_errors(repo_id, revision)`,
which describes them with the repository in the message. Tokens never appear: every message goes
through `redact`.

Imports nothing heavy at module level: huggingface_hub is looked up in sys.modules, so translating an
exception never imports it.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from worldflux_cli.errors import EXIT_FAILED, EXIT_INVALID, WorldfluxError

LOGIN_HINT = "log in with `hf auth login` or set HF_TOKEN"


class HubError(WorldfluxError):
    """A Hub operation could not run (exit code 2); `message` is one line, `hint` the next step."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, hint: str = "", details: Sequence[str] = ()):
        super().__init__(redact(message), redact(hint), details=details)


class ModelRefused(HubError):
    """The files fail a check (weights, pickle, hash; exit code 1); `details` lists every problem."""

    exit_code = EXIT_INVALID


# ---------------------------------------------------------------------------------------------- tokens

_TOKEN_PATTERN = re.compile(r"\bhf_[A-Za-z0-9_\-]{6,}")


def current_token() -> str | None:
    """The token huggingface_hub would send (HF_TOKEN, then the stored login), or None. Never print it."""
    from huggingface_hub import get_token

    return get_token()


def token_source() -> str:
    """Where the token comes from, in words (never the token itself)."""
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        if os.environ.get(name):
            return f"the {name} environment variable"
    return "the stored login (`hf auth login`)"


def redact(text: str) -> str:
    """`text` without anything that looks like a Hub token, or the configured token itself."""
    secrets = []
    hf = sys.modules.get("huggingface_hub")
    if hf is not None:
        try:
            token = hf.get_token()
        except Exception:  # a broken token file must not hide the real error
            token = None
        if token and len(token) >= 4:
            secrets.append(token)
    for secret in secrets:
        text = text.replace(secret, "***")
    return _TOKEN_PATTERN.sub("hf_***", text)


def endpoint() -> str:
    constants = sys.modules.get("huggingface_hub.constants")
    return getattr(constants, "ENDPOINT", None) or os.environ.get("HF_ENDPOINT") or "https://huggingface.co"


# ----------------------------------------------------------------------------------------- description


def _first_line(text: str) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0] if lines else ""


def _is_network_error(exc: BaseException) -> bool:
    for name in ("httpx2", "httpx"):  # huggingface_hub 2.x talks through httpx2, 1.x through httpx
        client = sys.modules.get(name)
        if client is not None and isinstance(exc, getattr(client, "TransportError", ())):
            return True
    hf_errors = sys.modules.get("huggingface_hub.errors")
    if hf_errors is not None and isinstance(exc, hf_errors.OfflineModeIsEnabled):
        return False  # described on its own
    return isinstance(exc, (ConnectionError, TimeoutError))


def describe(exc: BaseException, repo_id: str | None = None, revision: str | None = None, *,
             writing: bool = False) -> tuple[str, str] | None:
    """(one-line message, hint) for a huggingface_hub or network exception; None for anything else."""
    repo = repo_id or "the repository"
    at = f"{repo}@{revision}" if repo_id and revision else repo
    errors = sys.modules.get("huggingface_hub.errors")
    if errors is not None:
        if isinstance(exc, errors.OfflineModeIsEnabled):
            if writing:
                return "cannot talk to the Hub: HF_HUB_OFFLINE=1 is set", "unset HF_HUB_OFFLINE to push"
            return (f"HF_HUB_OFFLINE=1 is set and {at} is not in the local cache",
                    "unset HF_HUB_OFFLINE to download it; offline, only revisions pulled before are available")
        if isinstance(exc, errors.GatedRepoError):
            return (f"{repo} is gated and your account has no access to it",
                    f"request access at {endpoint()}/{repo_id or ''}, then retry logged in ({LOGIN_HINT})")
        if isinstance(exc, errors.RepositoryNotFoundError):
            if _has_token():
                return (f"repository {repo} not found, or the token from {token_source()} has no access to it",
                        "check the name (ORG/NAME); for a private repo use a token of an account that can see it")
            return (f"repository {repo} not found, or it is private and no Hub token is set",
                    f"check the name (ORG/NAME); for a private repo, {LOGIN_HINT}")
        if isinstance(exc, errors.RevisionNotFoundError):
            return (f"{repo} has no revision {revision!r}" if revision else f"{repo}: revision not found",
                    f"check the branch, tag or commit id; list tags with `hf repos tag list {repo_id or 'ORG/NAME'}`")
        if isinstance(exc, errors.DisabledRepoError):
            return f"{repo} has been disabled on the Hub", "nothing can be read from or written to it"
        if isinstance(exc, errors.LocalEntryNotFoundError):
            return (f"cannot reach the Hub at {endpoint()} and {at} is not in the local cache",
                    "check your network connection, proxy or HF_ENDPOINT; a revision pulled before also works "
                    "offline")
        if isinstance(exc, errors.EntryNotFoundError):
            return f"{at}: file not found", "list the repository's files on its Hub page"
        if isinstance(exc, errors.HfHubHTTPError):
            return _describe_http(exc, repo, writing)
    if _is_network_error(exc):
        return (f"cannot reach the Hub at {endpoint()}: {_first_line(str(exc)) or type(exc).__name__}",
                "check your network connection, proxy or HF_ENDPOINT, then retry")
    if isinstance(exc, ValueError) and "Invalid metadata in README.md" in str(exc):
        return "the Hub refused the metadata (YAML front matter) of README.md", "fix or delete README.md"
    return None


def _has_token() -> bool:
    try:
        return current_token() is not None
    except Exception:
        return False


def _describe_http(exc: Any, repo: str, writing: bool) -> tuple[str, str]:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    server = _first_line(getattr(exc, "server_message", None) or "")
    said = f": {server}" if server else ""
    if status == 401:
        if _has_token() or "invalid credentials" in server.lower():
            return (f"the Hub rejected the token from {token_source()} (invalid or expired)",
                    f"create a token at {endpoint()}/settings/tokens, then `hf auth login` or set HF_TOKEN")
        return (f"not logged in: {'writing to' if writing else 'reading'} {repo} needs a Hub token",
                f"{LOGIN_HINT} (a token with write access to push)")
    if status == 403:
        if writing:
            return (f"the token from {token_source()} may not write to {repo}{said}",
                    "push under your own namespace, or use a token with write access to this one "
                    "(fine-grained tokens need the repo write permission)")
        return f"access to {repo} denied{said}", "ask the owner for access, or use another token"
    if status == 429:
        return "the Hub is rate-limiting requests (429)", "wait a minute, then retry"
    if status is not None and status >= 500:
        return f"the Hub failed ({status}){said}", "retry in a while"
    return f"the Hub answered {status}{said}" if status else f"Hub request failed{said}", ""


@contextmanager
def hub_errors(repo_id: str | None = None, revision: str | None = None, *, writing: bool = False) -> Iterator[None]:
    """Turn huggingface_hub / network exceptions raised inside into HubError naming the repository."""
    try:
        yield
    except HubError:
        raise
    except Exception as exc:
        described = describe(exc, repo_id, revision, writing=writing)
        if described is None:
            raise
        raise HubError(*described) from exc
