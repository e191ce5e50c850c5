"""Read a PyTorch checkpoint without running code from it: ``torch.load(weights_only=True)`` only."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from worldflux_cli.errors import EXIT_FAILED, EXIT_INVALID, WorldfluxError


class CheckpointError(WorldfluxError):
    """A checkpoint that could not be read (exit 2) or that was refused (exit 1)."""


def load_checkpoint(path: str | Path) -> Any:
    """The object saved in ``path``, read with ``torch.load(map_location="cpu", weights_only=True)``.

    Raises CheckpointError: exit 2 when the file is missing, not a file or not a PyTorch checkpoint;
    exit 1 when it holds pickled code or objects other than tensors and plain containers (refused).
    """
    import pickle

    import torch

    p = Path(path)
    if not p.exists():
        raise CheckpointError(f"{path}: no such file", "give the path of a .pt checkpoint", exit_code=EXIT_FAILED)
    if not p.is_file():
        raise CheckpointError(f"{path}: not a regular file", "give the path of a .pt checkpoint",
                              exit_code=EXIT_FAILED)
    import warnings

    with p.open("rb") as f:
        magic = f.read(2)
    looks_like_pickle = magic[:1] == b"\x80" or magic == b"PK"  # a pickle's PROTO opcode, or torch's zip format
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = "not a PyTorch checkpoint" if not looks_like_pickle else type(exc).__name__
        if looks_like_pickle and "Weights only load failed" in str(exc):
            raise CheckpointError(f"{path}: refused: the checkpoint holds pickled objects other than tensors "
                                  "(code could run when loading it)",
                                  "worldflux reads weights only; re-save the file as {'model': state_dict}",
                                  exit_code=EXIT_INVALID) from None
        raise CheckpointError(f"{path}: could not read the checkpoint ({first[:200]})",
                              "is it a PyTorch .pt file, complete and uncorrupted?", exit_code=EXIT_FAILED) from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile, KeyError, AttributeError,
            TypeError, IndexError, UnicodeDecodeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CheckpointError(f"{path}: could not read the checkpoint ({first[:200]})",
                              "is it a PyTorch .pt file, complete and uncorrupted?", exit_code=EXIT_FAILED) from None
