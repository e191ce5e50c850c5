"""Hand-written fast paths of the model code, and the one switch that turns them all off.

Each module here replaces one plain PyTorch computation of the models with a faster form of the same
maths (the same values up to float rounding, the same gradients, the same random draws). The plain
form stays in the model code, where it is the definition; the model calls the kernel only where the
kernel's ``usable(...)`` says so:

=================  =================================================  ==========================================
kernel             replaces (plain twin)                              used in ``auto`` mode
=================  =================================================  ==========================================
``rms_norm``       ``RMSNorm.forward`` (models/layers.py)             CPU tensors (any dtype, under autocast and
                                                                      torch.compile too)
``conv``           ``Conv`` / ``ConvUp`` (nn.Conv2d /                 CPU, no autocast, not while torch.compile
                   nn.ConvTranspose2d forward, models/dreamer.py)     traces; the form per layer shape
``observe``        the per-step loop of ``RSSM.recurrence``           CPU, gradients on, no autocast
                   (models/dreamer.py)
``image_loss``     ``sigmoid_squared_error`` (models/layers.py)       CPU, not while torch.compile traces
``image_input``    the centring copy of ``ImageEncoder.forward``      CPU images without gradients, not while
                                                                      torch.compile traces
``upsample_conv``  the official decoder's nearest 2x upsample +       CPU, no autocast, not while torch.compile
                   stride-1 convolution (``ImageDecoder``,            traces, gradients on; 5 x 5 kernels, >= 64
                   models/dreamer_nets.py)                            maps, the measured shapes (``faster``)
``column_sums``    ``m.sum(0)`` inside the kernels' backwards         (a helper of the kernels above)
=================  =================================================  ==========================================

Every kernel was measured faster on the CPU only (2-core AVX-512 machines; figures in each module's
docstring and in benchmarks/RESULTS.md; ``upsample_conv`` on a loaded machine, so its figures are
indicative). None has been timed on a GPU, so on CUDA (and any other device) ``auto`` runs the plain
code: PyTorch's own kernels, which torch.compile can fuse.

The switch is the environment variable ``WORLDFLUX_KERNELS``, read at every call (``mode()``):

- ``auto`` (default): each kernel where it was measured faster, as in the table;
- ``plain``: no kernel anywhere; the model is the plain PyTorch code.

``use("plain")`` sets the mode for a block of code (tests, A/B timings) without touching the
environment. This package is torch-free: the kernels live in its submodules, which the model modules
import; none of them imports a model module.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

#: The environment variable that selects the mode.
ENV_VAR = "WORLDFLUX_KERNELS"
#: The modes: ``auto`` (kernels where measured faster) and ``plain`` (none).
MODES = ("auto", "plain")

_forced: str | None = None  # set by use()


def _checked(value: str, source: str) -> str:
    mode_ = value.strip().lower()
    if mode_ not in MODES:
        raise ValueError(f"{source}={value!r} is not a kernel mode; use one of: {', '.join(MODES)}")
    return mode_


def mode() -> str:
    """The kernel mode in force: the innermost ``use(...)``, else ``WORLDFLUX_KERNELS`` (unset or empty: ``auto``).

    Raises ValueError naming the variable and the allowed values when it holds anything else.
    """
    if _forced is not None:
        return _forced
    value = os.environ.get(ENV_VAR, "")
    return _checked(value, ENV_VAR) if value.strip() else "auto"


def enabled() -> bool:
    """Whether kernels may run at all (mode ``auto``); each kernel's ``usable`` adds its own conditions."""
    return mode() == "auto"


@contextmanager
def use(mode_: str) -> Iterator[str]:
    """Run the block in kernel mode ``mode_`` (``auto`` or ``plain``), whatever the environment says."""
    global _forced
    new = _checked(mode_, "kernels.use(mode)")
    old, _forced = _forced, new
    try:
        yield new
    finally:
        _forced = old


__all__ = ["ENV_VAR", "MODES", "enabled", "mode", "use"]
