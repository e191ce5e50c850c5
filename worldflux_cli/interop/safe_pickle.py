"""Read and write the numpy pickles of official DreamerV3 checkpoints without running code from them.

``load_pickle`` unpickles with a ``pickle.Unpickler`` whose ``find_class`` allows only what such a file
needs to rebuild numeric numpy arrays and plain containers: ``numpy.core.multiarray._reconstruct`` (and
its numpy 2 name ``numpy._core.multiarray._reconstruct``), ``numpy.ndarray``, ``numpy.dtype`` (numeric,
boolean kinds only: an object dtype could hold anything) and ``numpy.core.multiarray.scalar``; dicts,
lists, tuples, strings, numbers, booleans and None need no class. Anything else is refused with its
module and class name, before it is imported. The file is read with a size cap and as a regular file only.

``dump_pickle`` writes the same form the official code writes (protocol 4; arrays under the numpy 1.x
names, which numpy 2 also reads), so the official loader reads what ``worldflux export`` writes.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

from worldflux_cli.errors import EXIT_FAILED, EXIT_INVALID
from worldflux_cli.interop.safe_load import CheckpointError

#: The largest pickle read (official agent.pkl at size400m with its optimizer state: about 4.5 GB).
MAX_PICKLE_BYTES = 16 << 30
_RECONSTRUCT = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct")}
_SCALAR = {("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar")}
#: dtype kinds an array may have: bool, signed / unsigned integers, floats.
_KINDS = set("biuf")


class _Refused(Exception):
    pass


def _safe_dtype(*args: Any) -> Any:
    import numpy as np

    dtype = np.dtype(*args)
    if dtype.kind not in _KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise _Refused(f"numpy dtype {dtype.str!r} (only numeric arrays are read)")
    return dtype


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        import numpy as np

        if (module, name) in _RECONSTRUCT:
            try:  # numpy 2's name (numpy 1.26 has it too); numpy 2 warns on numpy.core
                from numpy._core.multiarray import _reconstruct
            except ImportError:  # older numpy
                from numpy.core.multiarray import _reconstruct
            return _reconstruct
        if (module, name) in _SCALAR:
            return _scalar
        if module == "numpy" and name == "ndarray":
            return np.ndarray
        if module == "numpy" and name == "dtype":
            return _safe_dtype
        raise _Refused(f"{module}.{name}")


def _scalar(dtype: Any, data: bytes | None = None) -> Any:
    import numpy as np

    if not isinstance(dtype, np.dtype) or dtype.kind not in _KINDS:
        raise _Refused(f"numpy scalar of dtype {dtype!r}")
    return np.frombuffer(data or b"", dtype=dtype)[0] if data else dtype.type()


def load_pickle(path: str | Path) -> Any:
    """The object pickled in ``path``, rebuilt from numeric numpy arrays and plain containers only.

    Raises CheckpointError: exit 2 when the file is missing, not a regular file, too large or not a pickle;
    exit 1 when it refers to any other class (its name is given) or holds a non-numeric array.
    """
    from worldflux_cli.fileio import read_bounded

    p = Path(path)
    if not p.exists():
        raise CheckpointError(f"{path}: no such file", "give an official DreamerV3 checkpoint folder",
                              exit_code=EXIT_FAILED)
    try:
        data = read_bounded(p, MAX_PICKLE_BYTES, "checkpoint file")
    except OSError as exc:
        raise CheckpointError(f"{path}: could not read it ({exc.strerror or exc})", "check the path and its "
                              "permissions", exit_code=EXIT_FAILED) from None
    try:
        return _Unpickler(io.BytesIO(data)).load()
    except _Refused as exc:
        raise CheckpointError(f"{path}: refused: the pickle refers to {exc} (code could run when loading it)",
                              "worldflux reads official DreamerV3 checkpoints of numeric numpy arrays only",
                              exit_code=EXIT_INVALID) from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            UnicodeDecodeError, OverflowError, MemoryError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CheckpointError(f"{path}: not a readable pickle ({first[:200]})",
                              "is it an official DreamerV3 checkpoint file, complete and uncorrupted?",
                              exit_code=EXIT_FAILED) from None


def dump_pickle(obj: Any) -> bytes:
    """``obj`` pickled (protocol 4) in the official files' form: numeric numpy arrays, dicts, lists, tuples,
    strings, ints, floats, booleans, None. Arrays are written as numpy 1.x pickles them
    (``numpy.core.multiarray._reconstruct``, which numpy 2 reads too), so the official loader takes the file."""
    out = io.BytesIO()
    out.write(b"\x80\x04")  # PROTO 4
    _write(obj, out)
    out.write(b".")  # STOP
    return out.getvalue()


def _write(obj: Any, out: io.BytesIO) -> None:
    import struct

    import numpy as np

    if obj is None:
        out.write(b"N")
    elif obj is True or obj is False:
        out.write(b"\x88" if obj else b"\x89")
    elif isinstance(obj, int):
        if -(1 << 31) <= obj < (1 << 31):
            out.write(b"J" + struct.pack("<i", obj))
        else:
            raw = obj.to_bytes((obj.bit_length() + 8) // 8, "little", signed=True)
            out.write(b"\x8a" + bytes([len(raw)]) + raw)
    elif isinstance(obj, float):
        out.write(b"G" + struct.pack(">d", obj))
    elif isinstance(obj, str):
        raw = obj.encode("utf-8")
        out.write(b"X" + struct.pack("<I", len(raw)) + raw)
    elif isinstance(obj, bytes):
        out.write(b"B" + struct.pack("<I", len(obj)) + obj)
    elif isinstance(obj, dict):
        out.write(b"}")
        if obj:
            out.write(b"(")
            for key, value in obj.items():
                _write(key, out)
                _write(value, out)
            out.write(b"u")  # SETITEMS
    elif isinstance(obj, list):
        out.write(b"](")
        for value in obj:
            _write(value, out)
        out.write(b"e")  # APPENDS
    elif isinstance(obj, tuple):
        out.write(b"(")
        for value in obj:
            _write(value, out)
        out.write(b"t")  # TUPLE
    elif isinstance(obj, np.ndarray):
        if obj.dtype.kind not in _KINDS or obj.dtype.fields is not None:
            raise TypeError(f"only numeric arrays are written, not {obj.dtype}")
        arr = obj if obj.flags.c_contiguous else obj.copy(order="C")  # (ascontiguousarray makes 0-d 1-d)
        out.write(b"cnumpy.core.multiarray\n_reconstruct\n" b"cnumpy\nndarray\n")
        _write((0,), out)
        _write(b"b", out)
        out.write(b"\x87R")  # TUPLE3, REDUCE: _reconstruct(ndarray, (0,), b'b')
        out.write(b"(")  # the state: (1, shape, dtype, is_fortran, raw bytes)
        _write(1, out)
        _write(tuple(int(n) for n in arr.shape), out)
        out.write(b"cnumpy\ndtype\n")
        _write((arr.dtype.str[1:], False, True), out)
        out.write(b"R")  # REDUCE: dtype('f4', False, True)
        _write((3, arr.dtype.str[0], None, None, None, -1, -1, 0), out)
        out.write(b"b")  # BUILD the dtype
        _write(False, out)
        _write(arr.tobytes(), out)
        out.write(b"tb")  # TUPLE, BUILD the array
    elif isinstance(obj, np.generic):
        _write(np.asarray(obj), out)
    else:
        raise TypeError(f"cannot write a {type(obj).__name__} into an official checkpoint")


__all__ = ["MAX_PICKLE_BYTES", "dump_pickle", "load_pickle"]
