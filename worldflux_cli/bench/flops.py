"""FLOPs of one step, counted by torch.utils.flop_counter.FlopCounterMode.

FlopCounterMode counts the matrix products and convolutions (forward and backward) that it
has formulas for (mm, bmm, addmm, baddbmm, convolution, attention, ...); elementwise work,
norms, softmax and the optimizer update count zero. So achieved TFLOP/s is the rate of
useful matmul/conv work, the usual basis of model-FLOP utilisation. Counted on the eager
step (never the compiled one) so --compile does not change the count.
"""

from __future__ import annotations

from collections.abc import Callable

from torch.utils.flop_counter import FlopCounterMode


def count_flops(step: Callable[[], object]) -> int:
    """Total FLOPs FlopCounterMode sees while ``step()`` runs once."""
    with FlopCounterMode(display=False) as counter:
        step()
    return int(counter.get_total_flops())
