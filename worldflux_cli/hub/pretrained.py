"""save_pretrained / load_pretrained: a model folder is config.json + model.safetensors + README.md.

model.safetensors holds the model's full ``state_dict()``: every parameter, including the EMA copies
that gradients do not train (DreamerV3's slow critic, TD-MPC2's target Q ensemble), and every persistent
buffer, so that a loaded model is exactly the saved one and training can resume from it. Its header
metadata records ``format: pt``, ``library: worldflux`` and the ``model_type``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from worldflux_cli.errors import InvalidInput
from worldflux_cli.hub.errors import HubError, ModelRefused
from worldflux_cli.hub.weights import CARD_NAME, CONFIG_NAME, WEIGHTS_NAME


def config_text(config: Any) -> str:
    """The config.json text of ``config`` (every field, derived ones included; no local $schema path)."""
    return json.dumps(config.to_dict(), indent=2) + "\n"


def weights_metadata(config: Any) -> dict[str, str]:
    """The safetensors metadata: one key, because the library stores metadata in a hash map whose order
    varies between processes, and a save must be byte-identical for the same config and seed. The
    config.json beside the weights says everything else."""
    return {"format": "pt"}


def save_pretrained(model: Any, config: Any, directory: str | Path, *, force: bool = False,
                    repo_id: str | None = None) -> list[str]:
    """Write ``directory``/config.json, model.safetensors (the full state_dict) and README.md (model card).

    The model must be the one ``config`` builds (tensor names, shapes and dtypes are checked first).
    Refuses a non-empty ``directory`` unless ``force`` (then the three files are replaced). The files are
    written beside the directory and moved in only when all are complete. Returns the file names.
    """
    from worldflux_cli.config import WorldModelConfig
    from worldflux_cli.hub.card import render_card
    from worldflux_cli.hub.folders import check_target, install, staging_for
    from worldflux_cli.hub.weights import (
        TensorInfo,
        compare_tensors,
        expected_tensors,
        torch_dtype_name,
        write_safetensors,
    )

    if not isinstance(config, WorldModelConfig):
        raise TypeError(f"config must be a WorldModelConfig, not {type(config).__name__}")
    target = Path(directory)
    check_target(target, force)
    state = model.state_dict()
    actual = {name: TensorInfo(torch_dtype_name(t.dtype), tuple(t.shape)) for name, t in state.items()}
    problems = compare_tensors(actual, expected_tensors(config))
    if problems:
        raise ModelRefused(f"the model is not the one its config builds ({len(problems)} difference(s): "
                           f"{'; '.join(problems[:3])})", "pass the config the model was built from",
                           details=problems)
    if any(t.device.type == "meta" for t in state.values()):
        raise HubError("the model is on the meta device: it has no weights to save",
                       "build it on a real device (build_model(config, device='cpu'))")
    files = [CONFIG_NAME, WEIGHTS_NAME, CARD_NAME]
    with staging_for(target) as staging:
        (staging / CONFIG_NAME).write_text(config_text(config), encoding="utf-8")
        write_safetensors(staging / WEIGHTS_NAME, state, weights_metadata(config))
        (staging / CARD_NAME).write_text(render_card(config, repo_id), encoding="utf-8")
        install(staging, target, files)
    return files


def load_pretrained(dir_or_repo: str | Path, revision: str | None = None, *,
                    device: Any = None) -> tuple[Any, Any]:
    """(model, config) from a saved folder, or from the Hub (``ORG/NAME[@REV]`` or ``hf://ORG/NAME[@REV]``).

    Everything is checked before a tensor is loaded: a Hub download against the Hub's recorded hashes,
    then the config's validity and the weights' names, shapes and dtypes against the model it builds; no
    pickle is ever read. The model is built on ``device`` (default: the config's ``device``, 'auto' meaning
    CUDA when available) in the config's ``dtype``. Raises HubError / ModelRefused (worldflux_cli.hub.errors)
    or InvalidConfig (worldflux_cli.loading), each with a message and a hint.
    """
    from worldflux_cli.hub.model_checks import check_folder

    text = str(dir_or_repo)
    local = Path(dir_or_repo)
    if not text.startswith("hf://") and local.is_dir():
        if revision is not None:
            raise HubError(f"revision={revision!r} given for the local folder {local}", "drop revision=")
        files = [p.relative_to(local).as_posix() for p in local.rglob("*")
                 if p.is_file() and not any(part.startswith(".") for part in p.relative_to(local).parts)]
        checked = check_folder(local, files, str(local))
        weights = local / WEIGHTS_NAME
    else:
        from worldflux_cli.hub.fetch import fetch
        from worldflux_cli.hub.refs import parse_ref

        try:
            ref = parse_ref(text, revision)
        except HubError:
            raise HubError(f"{text} is neither a model folder nor a Hub repository (ORG/NAME[@REV])",
                           "check the path or the repository id") from None
        fetched = fetch(ref)
        for name in fetched.files:
            fetched.verify(name)
        snapshot = fetched.local[CONFIG_NAME].parent
        try:
            checked = check_folder(snapshot, fetched.files, fetched.label)
        except InvalidInput:  # invalid config or weights: do not keep the cached copy
            fetched.purge()
            raise
        weights = fetched.local[WEIGHTS_NAME]
    return _load(checked.config, weights, device), checked.config


def _load(config: Any, weights: Path, device: Any) -> Any:
    from safetensors.torch import load_file

    from worldflux_cli.models import build_model, resolve_device

    where = resolve_device(config.device if device is None else device)
    if where.type == "meta":
        raise HubError("the meta device holds no weights: there is nothing to load onto it",
                       "load onto cpu or cuda, or build an empty model with build_model(config, device='meta')")
    model = build_model(config, device=where)
    model.load_state_dict(load_file(str(weights), device=str(where)), strict=True)
    return model
