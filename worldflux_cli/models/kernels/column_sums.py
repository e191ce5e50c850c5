"""Column sums of a 2-D tensor through a matrix-vector product: the bias and norm-weight gradients of the kernels.

Replaces ``m.sum(0)``. Used by the backwards of the other kernels (rms_norm, conv, observe), so only
where they run: on the CPU, where MKL's matrix-vector product is 2-4x faster than PyTorch's column
reduction for float32 with 16 or more columns. Narrower contiguous tensors are first folded into rows
of 48 or more columns (k rows side by side) and the k partial sums added: the 3-column bias gradient
of the decoder's last layer, 18 -> 3 ms for 1024 maps of 64 x 64 pixels. Other dtypes and devices get
``m.sum(0)`` (float32 for half types).
"""

from __future__ import annotations

import torch
from torch import Tensor


def column_sums(m: Tensor) -> Tensor:
    """m.sum(0) of a 2-D tensor (float32 for half types), as a matrix-vector product where that is faster."""
    if m.dtype in (torch.float16, torch.bfloat16):
        return m.sum(0, dtype=torch.float32)
    if m.dtype != torch.float32 or m.device.type != "cpu":
        return m.sum(0)
    rows, cols = m.shape
    if cols < 16:
        fold = -(-48 // cols)
        if not m.is_contiguous() or rows % fold or rows < 16 * fold:
            return m.sum(0)
        return torch.mv(m.view(rows // fold, fold * cols).t(), m.new_ones(rows // fold)).view(fold, cols).sum(0)
    return torch.mv(m.t(), m.new_ones(rows))
