"""Hugging Face Hub: save, push and pull worldflux models, checked both ways.

    from worldflux_cli.hub import save_pretrained, load_pretrained, push_folder, pull_model

    save_pretrained(model, config, "out/")            # config.json + model.safetensors + README.md
    push_folder("out/", "alice/dreamer-tiny")          # checks, then one commit
    pull_model("alice/dreamer-tiny@v1", "dreamer-tiny/")  # downloads, verifies hashes, config, weights
    model, config = load_pretrained("alice/dreamer-tiny")

Importing this package imports neither torch nor huggingface_hub: the names above load on first use.
Errors are `HubError` (could not run) and `ModelRefused` (a check failed), with `.message` and `.hint`.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "save_pretrained": "worldflux_cli.hub.pretrained",
    "load_pretrained": "worldflux_cli.hub.pretrained",
    "push_folder": "worldflux_cli.hub.push",
    "pull_model": "worldflux_cli.hub.pull",
    "HubError": "worldflux_cli.hub.errors",
    "ModelRefused": "worldflux_cli.hub.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
