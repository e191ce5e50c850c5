"""Where the data folders (presets/, schemas/) live: in the wheel or in a source checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """The folder ``name`` (``presets`` or ``schemas``).

    An installed wheel carries it as worldflux_cli/_data/<name>; a source checkout (and an
    editable install) has it at the repository root, beside the package.
    """
    packaged = _PACKAGE / "_data" / name
    if packaged.is_dir():
        return packaged
    return _PACKAGE.parent / name
