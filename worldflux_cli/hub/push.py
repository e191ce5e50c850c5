"""Push a model folder to the Hub: every check runs locally first, then one commit uploads the folder."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from worldflux_cli.hub.errors import LOGIN_HINT, HubError, ModelRefused, hub_errors
from worldflux_cli.hub.refs import check_repo_id, check_revision
from worldflux_cli.hub.weights import CARD_NAME, CONFIG_NAME, WEIGHTS_NAME


@dataclass
class PushResult:
    repo: str
    revision: str
    commit: str
    url: str
    files: list[str]
    pr_url: str | None = None
    tag: str | None = None
    created: bool = False
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"repo": self.repo, "revision": self.revision, "commit": self.commit,
                                "url": self.url, "files": self.files}
        if self.pr_url:
            data["pr_url"] = self.pr_url
        if self.tag:
            data["tag"] = self.tag
        return data


def folder_files(folder: Path) -> tuple[list[str], list[str]]:
    """(repository paths a push uploads, notes): every regular file under ``folder`` but hidden ones.

    Nothing outside ``folder`` is ever read: a symbolic link that resolves outside it is refused with its
    name, and so is anything that is not a regular file (a fifo, a socket, a device). A link to a file
    inside the folder is not uploaded a second time: its target is (a note says so).
    """
    root = folder.resolve()
    found, notes, outside, odd = [], [], [], []
    for top, dirs, names in os.walk(folder):
        for name in sorted(dirs):
            path = Path(top) / name
            if path.is_symlink() and not name.startswith("."):
                if not _inside(path.resolve(), root):
                    outside.append(path.relative_to(folder).as_posix() + "/")
                else:
                    notes.append(f"{path.relative_to(folder).as_posix()}/ is a link to a folder inside {folder}; "
                                 "its files are uploaded once, under their own path")
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not (Path(top) / d).is_symlink())
        for name in names:
            if name.startswith("."):
                continue
            path = Path(top) / name
            rel = path.relative_to(folder).as_posix()
            if path.is_symlink():
                target = path.resolve()
                if not _inside(target, root):
                    outside.append(rel)
                elif target.is_file():
                    notes.append(f"{rel} is a link to {target.relative_to(root).as_posix()} inside {folder}; "
                                 "that file is uploaded once, under its own name")
                else:
                    odd.append(rel)
                continue
            if not stat.S_ISREG(path.lstat().st_mode):
                odd.append(rel)
                continue
            found.append(rel)
    if outside:
        raise ModelRefused(f"{folder} holds symbolic links that point outside it: {', '.join(sorted(outside))}",
                           "nothing was uploaded; copy the files into the folder, or remove the links")
    if odd:
        raise ModelRefused(f"{folder} holds entries that are not regular files: {', '.join(sorted(odd))}",
                           "nothing was uploaded; remove them (fifos, sockets, devices, broken links)")
    return sorted(found), notes


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def check_push_folder(folder: Path) -> tuple[Any, list[str], list[str]]:
    """(config, files, notes) of a folder that may be pushed; HubError / ModelRefused otherwise. No network."""
    from worldflux_cli.hub.model_checks import check_folder

    if not folder.is_dir():
        raise HubError(f"{folder} is not a folder" if folder.exists() else f"no such folder: {folder}",
                       "write one with `worldflux save CONFIG -o DIR`")
    files, notes = folder_files(folder)
    for required in (CONFIG_NAME, WEIGHTS_NAME):
        if required not in files:
            raise HubError(f"{folder} has no {required}", "write the folder with `worldflux save CONFIG -o DIR`")
    checked = check_folder(folder, files, str(folder))
    return checked.config, files, notes


def push_folder(folder: str | Path, repo_id: str, *, revision: str | None = None, private: bool = False,
                message: str | None = None, tag: str | None = None, create_pr: bool = False,
                progress: bool | None = None) -> PushResult:
    """Check ``folder`` (config valid, weights fit the config, no pickle) and upload it in one commit.

    Creates the repository when missing (private if ``private``), the branch ``revision`` from main when
    missing; tags the commit with ``tag``. Nothing is uploaded when a check fails. A folder without
    README.md gets a generated model card in the commit (the folder itself is not changed). Transfer
    progress bars show when ``progress`` (default: on a terminal).
    """
    folder = Path(folder)
    check_repo_id(repo_id)
    if revision is not None:
        check_revision(revision)
    if tag is not None:
        check_revision(tag)
    config, files, notes = check_push_folder(folder)

    from huggingface_hub import CommitOperationAdd, HfApi, constants
    from huggingface_hub.errors import RepositoryNotFoundError

    from worldflux_cli.hub.errors import current_token

    if constants.HF_HUB_OFFLINE:
        raise HubError("cannot push: HF_HUB_OFFLINE=1 is set", "unset HF_HUB_OFFLINE")
    if current_token() is None:
        raise HubError(f"not logged in: pushing to {repo_id} needs a Hub token with write access",
                       LOGIN_HINT)
    api = HfApi()
    branch = revision or "main"
    from worldflux_cli.hub.progress import progress_bars

    with hub_errors(repo_id, branch, writing=True), progress_bars(progress):
        created = False
        try:
            info = api.model_info(repo_id)
            if private and not info.private:
                notes.append(f"{repo_id} already exists and is public; --private applies to new repositories "
                             f"(make it private with `hf repos settings {repo_id} --private`)")
        except RepositoryNotFoundError:
            api.create_repo(repo_id, private=private or None, exist_ok=True)
            created = True
        if tag is not None or branch != "main":
            refs = api.list_repo_refs(repo_id)
            if tag is not None and any(t.name == tag for t in refs.tags):
                raise HubError(f"tag {tag!r} already exists in {repo_id}",
                               "tags are not moved: choose another --tag")
            if branch != "main" and not create_pr and all(b.name != branch for b in refs.branches):
                api.create_branch(repo_id, branch=branch, exist_ok=True)
                notes.append(f"created branch {branch} from main")
        operations = [CommitOperationAdd(name, str(folder.joinpath(*name.split("/")))) for name in files]
        if CARD_NAME not in files:
            from worldflux_cli.hub.card import render_card

            operations.append(CommitOperationAdd(CARD_NAME, render_card(config, repo_id).encode()))
            files = sorted([*files, CARD_NAME])
            notes.append(f"{folder} has no {CARD_NAME}: a generated model card is pushed with it")
        summary = message or f"Upload {config.model_name} ({config.family_title}) with worldflux"
        commit = api.create_commit(repo_id, operations, commit_message=summary, revision=branch,
                                   create_pr=create_pr or None)
        if tag is not None:
            api.create_tag(repo_id, tag=tag, revision=commit.oid)
    pushed_to = (commit.pr_revision or branch) if create_pr else branch
    return PushResult(repo_id, pushed_to, commit.oid, commit.commit_url, files,
                      pr_url=commit.pr_url, tag=tag, created=created, notes=notes)
