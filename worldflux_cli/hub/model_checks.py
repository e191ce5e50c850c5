"""The checks a model folder must pass before it is pushed, after it is pulled, and before it is loaded."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from worldflux_cli.hub.errors import ModelRefused
from worldflux_cli.hub.weights import CONFIG_NAME, WEIGHTS_NAME, Header, check_no_pickle, check_weights, read_header
from worldflux_cli.loading import config_from_bytes


@dataclass
class CheckedModel:
    """A folder that passed: its config and, unless config-only, the weights' header."""

    config: Any  # WorldModelConfig
    params: int | None  # trainable parameters (torch-free count)
    header: Header | None = None


def check_folder(folder: Path, files: list[str], label: str, *, weights: bool = True) -> CheckedModel:
    """Every check on the ``files`` (repository paths) of ``folder``; ``label`` names the folder in messages.

    In order: no pickle (by name or content), a valid config (InvalidConfig otherwise), and the weights'
    tensor names, shapes and dtypes equal to those of the model the config builds (meta device, nothing
    allocated); any other .safetensors file must at least be a sound safetensors file.
    """
    paths = {name: folder.joinpath(*name.split("/")) for name in files}
    check_no_pickle(paths)
    if CONFIG_NAME not in paths:
        raise ModelRefused(f"{label} has no {CONFIG_NAME}", "write one with `worldflux new` or `worldflux save`")
    loaded = config_from_bytes(paths[CONFIG_NAME].read_bytes(), f"{label}/{CONFIG_NAME}",
                               consequence="the folder was refused")
    config, params = loaded.config, loaded.params
    header = None
    if weights:
        if WEIGHTS_NAME not in paths:
            raise ModelRefused(f"{label} has no {WEIGHTS_NAME}", "write it with `worldflux save CONFIG -o DIR`")
        header = check_weights(paths[WEIGHTS_NAME], config, f"{label}/{WEIGHTS_NAME}")
    for name, path in paths.items():
        if name != WEIGHTS_NAME and name.endswith(".safetensors"):
            read_header(path, f"{label}/{name}")
    return CheckedModel(config, params, header)
