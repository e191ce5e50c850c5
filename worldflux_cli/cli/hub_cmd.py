"""`worldflux save`, `push`, `pull`: model folders and the Hugging Face Hub, checked both ways.

torch, safetensors and huggingface_hub are imported inside the commands, never at module level.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from worldflux_cli.cli.errors import guarded
from worldflux_cli.cli.options import ForceMemoryOpt, Format, FormatOpt, SeedOpt


def _note(text: str) -> None:
    print(f"worldflux: note: {text}", file=sys.stderr)


def _emit(format: Format, data: dict[str, Any], lines: list[str]) -> None:
    if format is Format.json:
        typer.echo(json.dumps(data, indent=2))
    else:
        for line in lines:
            typer.echo(line)


@guarded
def save(
    config: Annotated[str, typer.Argument(help="Config: a file, '-', a preset id (dreamer:tiny) or "
                                               "hf://ORG/NAME@REV.", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder to write (created; must be empty "
                                         "unless --force).", show_default=False)],
    seed: SeedOpt = 0,
    device: Annotated[str | None, typer.Option("--device", "-d", help="Where to initialise the weights: cpu, "
                                               "cuda, cuda:N or auto. Overrides the config's device (the same "
                                               "seed gives other weights on another device).",
                                               show_default="the config's device")] = None,
    force: Annotated[bool, typer.Option("--force", help="Write into a non-empty folder, replacing "
                                        "config.json, model.safetensors and README.md.")] = False,
    force_memory: ForceMemoryOpt = False,
    format: FormatOpt = Format.text,
) -> None:
    """Build the model a config describes and save it: config.json, model.safetensors, README.md.

    The config must be valid. The weights are initialised on the config's device (or --device) in its
    dtype. model.safetensors holds the full state_dict (every parameter, the EMA
    copies included, and the persistent buffers); README.md is a model card (YAML front matter with
    library_name: worldflux, the key dimensions, the parameter count, usage). The files appear together
    or not at all. The same config and seed give the same bytes.

    Exit code 0: saved; 1: the config is invalid; 2: could not run (unreadable config, folder not empty).

    Examples:

      worldflux save dreamer:tiny -o dreamer-tiny

      worldflux save config.json -o out --seed 1 --force

      worldflux save hf://alice/dreamer-tiny -o fresh   # same architecture, new weights
    """
    from worldflux_cli.loading import load_config

    loaded = load_config(config, consequence="nothing was saved")
    cfg, params = loaded.config, loaded.params

    import torch

    from worldflux_cli.hub.pretrained import save_pretrained
    from worldflux_cli.hub.weights import WEIGHTS_NAME
    from worldflux_cli.memory_estimate import weight_bytes
    from worldflux_cli.models import build_model, resolve_device
    from worldflux_cli.models.budget import check_budget

    where = resolve_device(cfg.device if device is None else device)
    check_budget(2 * weight_bytes(cfg), where, f"saving {loaded.label} ({params:,} parameters)",
                 "use a smaller preset", force=force_memory)
    torch.manual_seed(seed)
    model = build_model(cfg, device=where)
    files = save_pretrained(model, cfg, output, force=force)
    size = (output / WEIGHTS_NAME).stat().st_size
    tensors = len(model.state_dict())
    _emit(format, {"dir": str(output), "files": files, "model_type": cfg.model_type, "params": params,
                   "tensors": tensors, "seed": seed},
          [f"saved {loaded.label} to {output}/ ({cfg.model_type}, {params:,} trainable parameters, seed {seed})",
           *(f"  {name}" + (f"  {tensors} tensors, {size / 1e6:.2f} MB" if name == WEIGHTS_NAME else "")
             for name in files),
           f"next: worldflux push {output} --repo ORG/NAME"])


@guarded
def push(
    folder: Annotated[Path, typer.Argument(help="Model folder, as written by `worldflux save`.",
                                           show_default=False)],
    repo: Annotated[str, typer.Option("--repo", "-r", help="Hub repository, ORG/NAME (created when missing).",
                                      show_default=False)],
    revision: Annotated[str | None, typer.Option("--revision", help="Branch to commit to (created from "
                                                 "main when missing).", show_default="main")] = None,
    private: Annotated[bool, typer.Option("--private", help="Create the repository private.")] = False,
    message: Annotated[str | None, typer.Option("--message", "-m", help="Commit message.")] = None,
    tag: Annotated[str | None, typer.Option("--tag", help="Tag the new commit (an existing tag is never "
                                            "moved).")] = None,
    create_pr: Annotated[bool, typer.Option("--create-pr", help="Open a pull request instead of committing "
                                            "to the branch.")] = False,
    format: FormatOpt = Format.text,
) -> None:
    """Check a model folder, then upload it to the Hub in one commit.

    Before anything is sent: config.json must be valid; model.safetensors must hold exactly the tensor
    names, shapes and dtypes of the model the config builds (read from its header, nothing allocated);
    no file may be a pickle (.bin, .pt, .pth, .ckpt, .pkl, ... or pickle bytes under any name). Every
    non-hidden file of the folder is uploaded; a model card is added when README.md is missing. Prints the
    commit id and URL; --format json gives {"repo", "revision", "commit", "url", "files"}.

    The token comes from HF_TOKEN or the stored login (`hf auth login`) and is never printed.

    Exit code 0: done; 1: refused by a check (invalid config, weights that do not fit the config,
    a pickle file, a download that does not match the Hub's hash); 2: could not run (bad arguments,
    folder not empty, not logged in, bad token, no access, repository or revision not found,
    network down).

    Examples:

      worldflux push dreamer-tiny --repo alice/dreamer-tiny

      worldflux push out --repo worldflux/tdmpc2-5m --private --tag v1 -m "First release"

      worldflux push out --repo alice/dreamer-tiny --revision experiments --format json
    """
    from worldflux_cli.hub.push import push_folder

    result = push_folder(folder, repo, revision=revision, private=private, message=message, tag=tag,
                         create_pr=create_pr)
    for note in result.notes:
        _note(note)
    lines = [f"pushed {len(result.files)} files to {result.repo}, {result.revision}"
             + (" (new repository)" if result.created else ""),
             f"commit: {result.commit}", f"url: {result.url}"]
    if result.pr_url:
        lines.append(f"pull request: {result.pr_url}")
    if result.tag:
        lines.append(f"tag: {result.tag}")
    _emit(format, result.to_json(), lines)


@guarded
def pull(
    ref: Annotated[str, typer.Argument(help="ORG/NAME, ORG/NAME@REV or hf://ORG/NAME@REV; REV is a branch, "
                                            "tag or commit id.", show_default=False)],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Folder to write.",
                                                show_default="./NAME")] = None,
    revision: Annotated[str | None, typer.Option("--revision", help="Branch, tag or commit id (or @REV).",
                                                 show_default="main")] = None,
    config_only: Annotated[bool, typer.Option("--config-only", help="Pull config.json alone.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Write into a non-empty folder, replacing files of "
                                        "the same name.")] = False,
    format: FormatOpt = Format.text,
) -> None:
    """Download a model from the Hub, verified before a byte lands in the folder.

    Checked: the sha256 (LFS files) or git hash (others) of every file against the Hub's record, the
    config's validity, and the weights' tensor names, shapes and dtypes against the model the config
    builds. Pickle files are never downloaded; a repository with only pickle weights is refused. The files
    are staged beside the folder and moved in only when every check passed: on failure the folder is
    untouched and the bad cached copy is deleted, so a retry downloads it again. Offline
    (HF_HUB_OFFLINE=1 or no network), a revision pulled before comes from the cache, checked the same way.

    Exit code 0: done; 1: refused by a check (invalid config, weights that do not fit the config,
    a pickle file, a download that does not match the Hub's hash); 2: could not run (bad arguments,
    folder not empty, not logged in, bad token, no access, repository or revision not found,
    network down).

    Examples:

      worldflux pull alice/dreamer-tiny

      worldflux pull alice/dreamer-tiny@v1 -o dreamer-v1 && worldflux bench dreamer-v1/config.json

      worldflux pull hf://worldflux/tdmpc2-5m --revision 3f2a9c1 --config-only
    """
    from worldflux_cli.hub.pull import pull_model

    result = pull_model(ref, output, revision=revision, config_only=config_only, force=force)
    if result.offline_reason:
        _note(f"{result.offline_reason}: used the cached copy of {result.repo}@{result.revision} "
              f"(commit {result.commit[:7]}), checked against the hashes recorded when it was downloaded")
    checks = f"hashes of {len(result.files)} file(s), config valid ({result.model_type}"
    checks += f", {result.params:,} trainable parameters)" if result.params is not None else ")"
    if result.tensors is not None:
        checks += f", weights fit the config ({result.tensors} tensors)"
    lines = [f"pulled {result.repo}@{result.revision} (commit {result.commit[:7]}) into {result.directory}/",
             *(f"  {name}" for name in result.files), f"verified: {checks}"]
    if result.skipped:
        lines.append(f"skipped (pickle, never downloaded): {', '.join(result.skipped)}")
    lines.append(f"next: worldflux {'validate' if config_only else 'bench'} {result.directory / 'config.json'}")
    _emit(format, result.to_json(), lines)

