"""Weights: safetensors headers (read without allocating), pickle detection, the check against a config.

`read_header` opens the file with the safetensors library (memory-mapped: it checks the header and the
layout and loads no tensor), so a push or pull can compare names, shapes and dtypes with the model a
config builds on the meta device. `write_safetensors` is safetensors.torch.save_file.
"""

from __future__ import annotations

import os
import pickletools
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from worldflux_cli.hub.errors import HubError, ModelRefused

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
CARD_NAME = "README.md"

#: Names that mean pickle (torch.save, joblib, ...): refused whatever their content.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".joblib", ".dill")



@dataclass(frozen=True)
class TensorInfo:
    dtype: str  # safetensors spelling: F32, BF16, I64, ...
    shape: tuple[int, ...]

    def __str__(self) -> str:
        return f"{self.dtype}[{', '.join(map(str, self.shape))}]"


@dataclass
class Header:
    tensors: dict[str, TensorInfo]
    metadata: dict[str, str]


# ------------------------------------------------------------------------------------------ reading


def read_header(path: Path, label: str | None = None) -> Header:
    """The tensors of a safetensors file (names, dtypes, shapes); ModelRefused when it is not a sound one."""
    from safetensors import SafetensorError, safe_open

    label = label or str(path)
    try:
        with safe_open(str(path), framework="pt") as fh:
            tensors = {}
            for name in fh.keys():  # noqa: SIM118 (safe_open is not a mapping)
                view = fh.get_slice(name)
                tensors[name] = TensorInfo(view.get_dtype(), tuple(view.get_shape()))
            metadata = fh.metadata() or {}
    except (SafetensorError, ValueError) as exc:
        raise ModelRefused(f"{label} is not a valid safetensors file ({exc})", _SAVE_HINT) from None
    return Header(tensors, dict(metadata))


_SAVE_HINT = "write the weights with `worldflux save` or worldflux_cli.hub.save_pretrained"


# ------------------------------------------------------------------------------------------- pickle


def is_pickle_name(path: str) -> bool:
    return path.lower().endswith(PICKLE_SUFFIXES)


def sniff_pickle(path: Path) -> bool:
    """True when the file is a pickle (any protocol) or a torch.save zip archive, whatever its name.

    Nothing is unpickled: protocol 2+ is known by its first two bytes, protocols 0/1 by disassembling the
    opcodes (pickletools.genops, which executes nothing) to a STOP at the very end of the file.
    """
    size = path.stat().st_size
    if size < 2:
        return False
    with open(path, "rb") as fh:
        head = fh.read(4)
        fh.seek(-1, os.SEEK_END)
        last = fh.read(1)
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as archive:
                return any(name.endswith(".pkl") for name in archive.namelist())
        except (zipfile.BadZipFile, OSError):
            return False
    if last != b"." or not (head[0] == 0x80 and 2 <= head[1] <= 5 or head[:1] in _FIRST_OPCODES):
        return False  # every pickle ends with STOP (".") and starts with PROTO or a plausible opcode
    if _is_safetensors(path):
        return False  # its 8-byte header length may look like a PROTO opcode (0x280 = 80 02 ...)
    if head[0] == 0x80:
        return True
    if size > 64 * 1024 * 1024:
        return True  # too big to disassemble; looks like a pickle at both ends: refuse it
    try:
        with open(path, "rb") as fh:
            end = 0
            for opcode, _, pos in pickletools.genops(fh):
                end = pos
                if opcode.name == "STOP":
                    return end == size - 1
    except Exception:
        return False
    return False


_FIRST_OPCODES = tuple(bytes([b]) for b in b"()]}cNIFLSVKJMGUTXd")


def _is_safetensors(path: Path) -> bool:
    try:
        read_header(path)
        return True
    except (ModelRefused, OSError):
        return False


def check_no_pickle(files: dict[str, Path]) -> None:
    """ModelRefused naming every pickle-format file (by name or by content) among ``files``."""
    found = [name for name, path in sorted(files.items()) if is_pickle_name(name) or sniff_pickle(path)]
    if found:
        raise ModelRefused(
            f"pickle-format file{'s' if len(found) > 1 else ''} refused: {', '.join(found)} "
            "(loading a pickle can run arbitrary code)",
            "keep weights in model.safetensors only (`worldflux save` writes it); delete the pickle files",
        )


# ------------------------------------------------------------------------------------ against a config


def expected_tensors(config: Any) -> dict[str, TensorInfo]:
    """Name -> dtype and shape of every tensor in the state_dict of the model ``config`` builds (meta device)."""
    from worldflux_cli.models import build_model

    model = build_model(config, device="meta", dtype=config.dtype)
    return {name: TensorInfo(torch_dtype_name(t.dtype), tuple(t.shape)) for name, t in model.state_dict().items()}


def torch_dtype_name(dtype: Any) -> str:
    import torch

    names = {
        torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
        torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
        torch.bool: "BOOL",
    }
    if dtype not in names:
        raise HubError(f"tensors of dtype {dtype} cannot be stored by worldflux", "use float32, float16 or bfloat16")
    return names[dtype]


def compare_tensors(actual: dict[str, TensorInfo], expected: dict[str, TensorInfo]) -> list[str]:
    """One line per difference: missing, unexpected, other shape, other dtype."""
    problems = []
    for name in sorted(expected.keys() - actual.keys()):
        problems.append(f"missing tensor {name} {expected[name]}")
    for name in sorted(actual.keys() - expected.keys()):
        problems.append(f"unexpected tensor {name} {actual[name]}")
    for name in sorted(actual.keys() & expected.keys()):
        a, e = actual[name], expected[name]
        if a.shape != e.shape:
            problems.append(f"tensor {name}: shape {list(a.shape)}, the config builds {list(e.shape)}")
        if a.dtype != e.dtype:
            problems.append(f"tensor {name}: dtype {a.dtype}, the config builds {e.dtype}")
    return problems


def check_weights(path: Path, config: Any, label: str) -> Header:
    """ModelRefused unless the file's tensor names, shapes and dtypes are those of the model ``config`` builds."""
    header = read_header(path, label)
    problems = compare_tensors(header.tensors, expected_tensors(config))
    if problems:
        shown = problems[:3] + ([f"and {len(problems) - 3} more"] if len(problems) > 3 else [])
        raise ModelRefused(
            f"{label} does not fit the config ({len(problems)} difference{'s' if len(problems) > 1 else ''}: "
            f"{'; '.join(shown)})",
            "save the model built from this exact config (`worldflux save config.json -o DIR`)",
            details=problems,
        )
    return header


# ------------------------------------------------------------------------------------------ writing


def write_safetensors(path: Path, tensors: dict[str, Any], metadata: dict[str, str] | None = None) -> int:
    """Write tensors as safetensors (deterministic layout); returns the file size."""
    from safetensors.torch import save_file

    from worldflux_cli.fileio import new_file_mode

    save_file({name: t.detach().contiguous() for name, t in tensors.items()}, str(path), metadata=metadata)
    os.chmod(path, new_file_mode())  # the library writes 0600; a saved file gets the usual mode, as its siblings
    return path.stat().st_size
