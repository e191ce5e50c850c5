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
                    repo_id: str | None = None, card_extra: str = "") -> list[str]:
    """Save a model and its config as a model folder that ``load_pretrained`` and ``worldflux push`` read.

    Writes ``directory``/config.json (every field, derived ones included), model.safetensors (the full
    ``state_dict``: every parameter, the EMA copies included, and the persistent buffers) and README.md
    (a model card: the key dimensions, the parameter count, usage). The model must be the one ``config``
    builds: tensor names, shapes and dtypes are checked before anything is written. The files are
    written beside the folder and moved in only when all three are complete, so the folder never holds
    a partial save. The same model gives the same bytes.

    Args:
        model: The PyTorch model, as ``build_model(config)`` returns it (trained or not), on a real
            device (not ``meta``).
        config: The config the model was built from (a DreamerV3Config or TDMPC2Config).
        directory: The folder to write; created with its parents when missing.
        force: Write into a non-empty folder, replacing config.json, model.safetensors and README.md
            (other files are left alone).
        repo_id: The Hub repository (``ORG/NAME``) the model card's usage section names; a
            placeholder when None.
        card_extra: Markdown appended to the model card (``worldflux train`` adds its training
            section: environment, steps, evaluation).

    Returns:
        The names of the files written (``["config.json", "model.safetensors", "README.md"]``).

    Raises:
        TypeError: ``config`` is not a config object.
        ModelRefused: The model's tensors are not those ``config`` builds (the ``details`` list
            every difference).
        HubError: ``directory`` is a file, or a non-empty folder and ``force`` is not set, or the
            model is on the meta device.

    Examples:
        ```python
        from worldflux_cli import DreamerV3Config
        from worldflux_cli.hub import load_pretrained, save_pretrained
        from worldflux_cli.models import build_model

        config = DreamerV3Config.from_size("tiny", device="cpu")
        model = build_model(config)
        save_pretrained(model, config, "dreamer-tiny")
        loaded, loaded_config = load_pretrained("dreamer-tiny")
        assert loaded_config == config
        ```
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
        (staging / CARD_NAME).write_text(render_card(config, repo_id) + card_extra, encoding="utf-8")
        install(staging, target, files)
    return files


def load_pretrained(dir_or_repo: str | Path, revision: str | None = None, *,
                    device: Any = None) -> tuple[Any, Any]:
    """Load a model and its config from a model folder or from the Hugging Face Hub.

    Everything is checked before a tensor is loaded: a Hub download against the Hub's recorded
    hashes, then the config's validity, then the weights' tensor names, shapes and dtypes against the
    model the config builds; no pickle is ever read. A download that fails a check is deleted from
    the cache. The model is built on ``device`` in the config's ``dtype`` and its weights loaded
    strictly (every tensor, nothing missing or extra).

    Args:
        dir_or_repo: A folder written by ``save_pretrained`` (or ``worldflux save`` / ``pull``), or
            a Hub repository: ``ORG/NAME``, ``ORG/NAME@REV`` or ``hf://ORG/NAME@REV``.
        revision: The branch, tag or commit of a Hub repository (or give ``@REV``); must be None
            for a local folder.
        device: Where to build the model: a ``torch.device`` or ``"cpu"``, ``"cuda"``,
            ``"cuda:N"``, ``"auto"`` (CUDA when available). Default: the config's ``device``.

    Returns:
        ``(model, config)``, the ``torch.nn.Module`` with the saved weights and its config.

    Raises:
        HubError: The folder or repository cannot be read, the Hub cannot be reached, ``revision``
            was given for a local folder, or ``device`` is ``"meta"`` (exit code 2 in the CLI).
        ModelRefused: A file fails a check (a pickle file, weights that do not fit the config, a
            download whose hash does not match the Hub's record).
        InvalidConfig: The config.json is invalid (``worldflux_cli.loading.InvalidConfig``, its
            ``details`` the validation report).
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
