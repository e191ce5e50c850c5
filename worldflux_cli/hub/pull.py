"""Pull a model from the Hub into a folder, verified before a byte lands there.

1. The target is checked first (a non-empty folder needs ``force``), before any download.
2. The revision's files are downloaded into the huggingface_hub cache (`fetch`); pickle-named files are
   never downloaded, and a repository holding only pickle weights is refused.
3. The files are copied into a private staging folder beside the target and each copy is hashed against
   the Hub's record (sha256 for LFS files, git sha1 for the others). A mismatch deletes the cached copy.
4. The staged folder is checked like a push: no pickle by content, a valid config, weights whose tensor
   names, shapes and dtypes are those of the model the config builds.
5. Only then are the files moved into the target (one rename when it is new or empty). On any failure the
   staging folder is removed and the target is untouched.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from worldflux_cli.errors import InvalidInput


@dataclass
class PullResult:
    repo: str
    revision: str
    commit: str
    directory: Path
    files: list[str]
    model_type: str
    params: int | None
    tensors: int | None
    skipped: list[str] = field(default_factory=list)
    offline_reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"repo": self.repo, "revision": self.revision, "commit": self.commit, "dir": str(self.directory),
                "files": self.files, "skipped": self.skipped, "model_type": self.model_type,
                "params": self.params, "tensors": self.tensors, "offline": self.offline_reason is not None}


def pull_model(ref: str, directory: str | Path | None = None, *, revision: str | None = None,
               config_only: bool = False, force: bool = False, progress: bool | None = None) -> PullResult:
    """Download ``ORG/NAME[@REV]`` into ``directory`` (default: ./NAME), verified; see the module doc.

    Transfer progress bars show when ``progress`` (default: on a terminal).
    """
    from worldflux_cli.hub.fetch import fetch
    from worldflux_cli.hub.folders import check_target, install, staging_for
    from worldflux_cli.hub.model_checks import check_folder
    from worldflux_cli.hub.refs import parse_ref

    hub_ref = parse_ref(ref, revision)
    target = Path(directory) if directory is not None else Path(hub_ref.name)
    check_target(target, force)
    from worldflux_cli.hub.progress import progress_bars

    with progress_bars(progress):
        fetched = fetch(hub_ref, config_only=config_only)
    with staging_for(target) as staging:
        for name in fetched.files:
            dest = staging.joinpath(*name.split("/"))
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(fetched.local[name], dest)
            fetched.verify(name, dest)
        try:
            checked = check_folder(staging, fetched.files, fetched.label, weights=not config_only)
        except InvalidInput:  # invalid config or weights: do not keep the cached copy
            fetched.purge()
            raise
        install(staging, target, fetched.files)
    return PullResult(hub_ref.repo_id, fetched.revision, fetched.commit, target, fetched.files,
                      checked.config.model_type, checked.params,
                      len(checked.header.tensors) if checked.header else None, fetched.skipped,
                      fetched.offline_reason)
