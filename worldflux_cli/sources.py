"""Where a config's bytes come from: a file, stdin ('-'), a preset id ('dreamer:size50m') or the Hub (hf://)."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from worldflux_cli.config.presets import parse_preset_id
from worldflux_cli.errors import WorldfluxError

MAX_CONFIG_BYTES = 16 * 1024 * 1024


@dataclass
class Source:
    label: str
    data: bytes


class SourceError(WorldfluxError):
    """The reference could not be read at all (exit code 2)."""


def read_source(ref: str, *, allow_presets: bool = True) -> Source:
    """The bytes of a config reference; SourceError when it cannot be read."""
    if ref == "-":
        return Source("<stdin>", sys.stdin.buffer.read(MAX_CONFIG_BYTES + 1))
    if ref.startswith("hf://"):
        return _read_hub(ref)
    path = Path(ref)
    if allow_presets and not path.exists():
        try:
            preset = parse_preset_id(ref)
        except ValueError as exc:  # unknown preset or family (both are WorldfluxErrors too)
            raise SourceError(getattr(exc, "message", str(exc)), "list presets with `worldflux presets`") from None
        if preset is not None:
            return Source(preset.id, json.dumps(preset.config_values()).encode())
    try:
        if path.is_dir():
            raise SourceError(f"{ref} is a folder, not a config file", f"did you mean {ref}/config.json?")
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise SourceError(f"{ref} is {size:,} bytes; a config is a few KB", "is this the right file?")
        return Source(ref, path.read_bytes())
    except FileNotFoundError:
        hint = "check the path" + ("; preset ids look like dreamer:size50m" if allow_presets else "")
        raise SourceError(f"no such file: {ref}", hint) from None
    except PermissionError:
        raise SourceError(f"permission denied: {ref}", "check the file's permissions") from None
    except OSError as exc:
        raise SourceError(f"cannot read {ref}: {exc.strerror}", "") from None


def _read_hub(ref: str) -> Source:
    """config.json of ``hf://ORG/NAME[@REV]``, checked against the Hub's recorded hash (needs huggingface_hub)."""
    try:
        import huggingface_hub  # noqa: F401
    except ImportError:
        raise SourceError("reading hf:// references needs huggingface_hub", "pip install huggingface_hub") from None
    from worldflux_cli.hub.fetch import read_hub_config

    try:
        label, data = read_hub_config(ref)
    except WorldfluxError as exc:  # a Hub failure or a hash mismatch: the reference could not be read
        raise SourceError(exc.message, exc.hint) from None
    return Source(label, data)
