"""Where a config's bytes come from: a file, stdin ('-'), a preset id ('dreamer:size50m') or the Hub (hf://)."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from worldflux_cli.config.presets import parse_preset_id
from worldflux_cli.errors import WorldfluxError
from worldflux_cli.fileio import read_bounded, read_stream_bounded

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
        try:
            data = read_stream_bounded(getattr(sys.stdin, "buffer", None), MAX_CONFIG_BYTES, "standard input")
        except WorldfluxError as exc:
            raise SourceError(exc.message, exc.hint) from None
        return Source("<stdin>", data)
    if ref.startswith("hf://"):
        return _read_hub(ref)
    path = Path(ref)
    try:
        exists = path.exists()
    except (ValueError, UnicodeError):  # a NUL byte, or a character no file name can hold
        raise SourceError(f"{ref!r} is not a file name", "check the path") from None
    if allow_presets and not exists:
        try:
            preset = parse_preset_id(ref)
        except ValueError as exc:  # unknown preset or family (both are WorldfluxErrors too)
            raise SourceError(getattr(exc, "message", str(exc)), "list presets with `worldflux presets`") from None
        if preset is not None:
            return Source(preset.id, json.dumps(preset.config_values()).encode())
    try:
        if path.is_dir():
            raise SourceError(f"{ref} is a folder, not a config file", f"did you mean {ref}/config.json?")
        return Source(ref, read_bounded(path, MAX_CONFIG_BYTES, "config file"))
    except WorldfluxError as exc:  # too large, or a device / fifo / socket
        raise SourceError(exc.message, exc.hint) from None
    except (ValueError, UnicodeError):  # a NUL byte, or a character no file name can hold
        raise SourceError(f"{ref!r} is not a file name", "check the path") from None
    except FileNotFoundError:
        hint = "check the path" + ("; preset ids look like dreamer:size50m" if allow_presets else "")
        raise SourceError(f"no such file: {ref}", hint) from None
    except PermissionError:
        raise SourceError(f"permission denied: {ref}", "check the file's permissions") from None
    except OSError as exc:
        raise SourceError(f"cannot read {ref}: {exc.strerror or exc}", "check the path") from None


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
