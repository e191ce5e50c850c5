"""Stride-2 convolutions of the DreamerV3 CNN in faster CPU forms, with hand-written backwards.

Replaces the plain ``Conv.forward`` / ``ConvUp.forward`` of models/dreamer.py (nn.Conv2d's F.conv2d and
nn.ConvTranspose2d's F.conv_transpose2d, groups 1, dilation 1). ``conv2d`` and ``conv_transpose2d``
compute what those compute, through whichever form was measured fastest for the layer's shape:

- **GEMM form** (``_gemm_form``): where the small side of a wide layer (a convolution's output, a
  transposed convolution's input) is at most 4 x 4 pixels, the layer is one matrix product over the
  patches of its channels-last map (im2col / col2im) in each direction. oneDNN's direct kernels are at
  their slowest there (few pixels to block over, weights larger than the L2 cache); MKL's product is not.
- **phase form**: a transposed convolution with few output channels that doubles H and W runs as one
  stride-1 convolution over its four output phases (``PHASE_MAX_CHANNELS``).
- otherwise oneDNN's kernels (the plain ops), the transposed convolution's weight gradient taken from
  the matching convolution's (faster) kernel.

Used (``usable``) in mode ``auto`` for CPU inputs, without autocast, and not while torch.compile traces
(the compiler gets the plain ops). Measured on a 2-core AVX-512 machine, fp32, 2 threads: the figures
that set each form's bounds are quoted at the bounds below (2026-12-01). Re-measured through the model's
layers, forward + backward, interleaved with the plain twin (2026-12-02, benchmarks/RESULTS.md, "Kernels
behind one switch"): phase form, 48 -> 3 channels at 32 x 32 -> 64 x 64, 512 maps, 111 vs 126 ms
(1.14x); weight gradient through the convolution's kernel, 16 -> 8 channels, 1024 maps, 37 vs 46 ms
(1.24x); GEMM form at 1024 maps, transposed 384 -> 192 743 vs 766 ms (1.03x), but the 192 -> 384
convolution only broke even (834 vs 896 ms by medians, 0.98x by pairs, quartiles 0.83-1.12), so its
bounds deserve a new look.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from worldflux_cli.models.kernels import enabled
from worldflux_cli.models.kernels.column_sums import column_sums


def usable(x: Tensor) -> bool:
    """Whether ``Conv`` / ``ConvUp`` run these forms for input x: mode ``auto``, a CPU tensor, no autocast,
    not while torch.compile traces."""
    return (enabled() and x.device.type == "cpu" and not torch.is_autocast_enabled("cpu")
            and not torch.compiler.is_compiling())


# ------------------------------------------------------------------------------------ GEMM form
#: Where the GEMM form is used, from forward + backward timings on a 2-core AVX-512 machine (fp32,
#: 2 threads, channels-last, 16 to 1024 maps, 8 x 8 <-> 4 x 4): 10-25% faster than oneDNN for kernel-4
#: layers from 160 -> 320 channels up (192 -> 384: 468 vs 530 ms as a convolution, 435 vs 562 ms
#: transposed, 1024 maps) and kernel-5 layers from 256 -> 256; slower for 128 -> 256 and below, for
#: 16 x 16 -> 8 x 8 maps, and, as a convolution, for fewer than 256 maps. So: a small side of at most
#: GEMM_MAX_PIXELS pixels, cin * cout >= GEMM_MIN_CHANNELS, and for convolutions GEMM_MIN_ROWS output
#: pixels in all.
GEMM_MAX_PIXELS = 16
GEMM_MIN_CHANNELS = 160 * 320
GEMM_MIN_ROWS = 4096


def _conv_size(size: int, kernel: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // 2 + 1


def _gemm_form(x: Tensor, weight: Tensor, stride, padding, transposed: bool) -> bool:
    """Whether the stride-2 (transposed) convolution of the channels-last map x by weight takes the GEMM form."""
    k = weight.shape[-1]
    if (x.dim() != 4 or x.dtype not in (torch.float32, torch.float64) or tuple(stride) != (2, 2)
            or weight.shape[-2] != k or padding[0] != padding[1]
            or not x.is_contiguous(memory_format=torch.channels_last)
            or weight.shape[0] * weight.shape[1] < GEMM_MIN_CHANNELS):
        return False
    n, _, h, w = x.shape
    if transposed:
        return h * w <= GEMM_MAX_PIXELS
    pixels = _conv_size(h, k, padding[0]) * _conv_size(w, k, padding[0])
    return pixels <= GEMM_MAX_PIXELS and n * pixels >= GEMM_MIN_ROWS


def _im2col(xl: Tensor, k: int, p: int, ho: int, wo: int) -> Tensor:
    """Patches of xl (N, H, W, C) under a stride-2 window of kernel k and padding p: (N * ho * wo, k * k * C),
    columns in (ky, kx, c) order; row (n, i, j) reads pixels (2i - p + ky, 2j - p + kx), zeros outside."""
    n, h, w, c = xl.shape
    xp = F.pad(xl, (0, 0, p, max(0, 2 * (wo - 1) + k - p - w), p, max(0, 2 * (ho - 1) + k - p - h)))
    sn, sh, sw, sc = xp.stride()
    return xp.as_strided((n, ho, wo, k, k, c), (sn, 2 * sh, 2 * sw, sh, sw, sc)).reshape(n * ho * wo, k * k * c)


def _col2im(cols: Tensor, ho: int, wo: int, k: int, p: int, out: Tensor, bias: Tensor | None) -> Tensor:
    """Adjoint of ``_im2col``: out (N, H, W, C) set to zeros (or bias), then every entry of cols
    (N * ho * wo, k * k * C) added to the pixel ``_im2col`` reads it from."""
    n, h, w, c = out.shape
    out.zero_() if bias is None else out.copy_(bias)
    patches = cols.view(n, ho, wo, k, k, c)

    def inside(tap: int, count: int, size: int) -> tuple[int, int]:  # patch indices whose tap lands in the map
        return max(0, (p - tap + 1) // 2), min(count, (size - 1 + p - tap) // 2 + 1)

    for ky in range(k):
        i0, i1 = inside(ky, ho, h)
        for kx in range(k):
            j0, j1 = inside(kx, wo, w)
            if i1 > i0 and j1 > j0:
                out[:, 2 * i0 + ky - p:2 * i1 + ky - p - 1:2, 2 * j0 + kx - p:2 * j1 + kx - p - 1:2] += (
                    patches[:, i0:i1, j0:j1, ky, kx])
    return out


#: Largest patch matrix the GEMM form builds at once: the maps go through in blocks of images whose
#: patches fit (3 blocks of 342 for the 192 -> 384 layer at 1024 maps). That bounds the form's extra
#: memory; the products ran 1-2% slower than over all 1024 maps at once (192 MiB of patches).
GEMM_BLOCK_BYTES = 64 << 20


def _blocks(n: int, bytes_per_map: int, block_bytes: int = GEMM_BLOCK_BYTES) -> list[slice]:
    """Equal slices of n maps whose patch matrices take at most ``block_bytes`` each (one map at least)."""
    count = min(n, max(1, -(-n * bytes_per_map // block_bytes)))
    step = -(-n // count)
    return [slice(s, min(n, s + step)) for s in range(0, n, step)]


def _conv_matrix(weight: Tensor) -> Tensor:
    """A convolution's weight (cout, cin, k, k) as the matrix (k * k * cin, cout) that ``_im2col`` patches multiply."""
    cout, cin, k, _ = weight.shape
    return weight.permute(2, 3, 1, 0).reshape(k * k * cin, cout)


def _transposed_matrix(weight: Tensor) -> Tensor:
    """A transposed convolution's weight (cin, cout, k, k) as the matrix (cin, k * k * cout) whose products
    ``_col2im`` scatters."""
    cin, cout, k, _ = weight.shape
    return weight.permute(0, 2, 3, 1).reshape(cin, k * k * cout)


def _accumulate(total: Tensor | None, a: Tensor, b: Tensor) -> Tensor:
    """total + a @ b (a @ b when total is None)."""
    return torch.mm(a, b) if total is None else total.addmm_(a, b)


class _GemmConv2dFn(torch.autograd.Function):
    """Stride-2 convolution as patches @ weight matrix; backward: dy^T @ patches and col2im(dy @ weight^T).
    Block by block (``block_bytes``); the patches are rebuilt in the backward, not kept."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, padding: int, block_bytes: int) -> Tensor:
        n, _, h, w = x.shape
        cout, cin, k, _ = weight.shape
        ho, wo = _conv_size(h, k, padding), _conv_size(w, k, padding)
        xl, wm = x.permute(0, 2, 3, 1), _conv_matrix(weight)
        y = x.new_empty(n, ho, wo, cout)
        for sl in _blocks(n, ho * wo * k * k * cin * x.element_size(), block_bytes):
            cols, yb = _im2col(xl[sl], k, padding, ho, wo), y[sl].view(-1, cout)
            torch.mm(cols, wm, out=yb) if bias is None else torch.addmm(bias.to(x.dtype), cols, wm, out=yb)
        ctx.save_for_backward(x, weight)
        ctx.padding, ctx.block_bytes = padding, block_bytes
        return y.permute(0, 3, 1, 2)

    @staticmethod
    def backward(ctx, dy: Tensor):
        x, weight = ctx.saved_tensors
        n, _, h, w = x.shape
        cout, cin, k, _ = weight.shape
        p, (ho, wo) = ctx.padding, dy.shape[2:]
        xl, gl = x.permute(0, 2, 3, 1), dy.permute(0, 2, 3, 1).contiguous()
        wm = _conv_matrix(weight)
        dx = x.new_empty(n, h, w, cin) if ctx.needs_input_grad[0] else None
        dwm = None
        for sl in _blocks(n, ho * wo * k * k * cin * x.element_size(), ctx.block_bytes):
            g = gl[sl].view(-1, cout)
            if dx is not None:
                _col2im(g @ wm.t(), ho, wo, k, p, dx[sl], None)
            if ctx.needs_input_grad[1]:
                dwm = _accumulate(dwm, g.t(), _im2col(xl[sl], k, p, ho, wo))
        dw = None if dwm is None else dwm.view(cout, k, k, cin).permute(0, 3, 1, 2).contiguous()
        db = column_sums(gl.view(-1, cout)) if ctx.needs_input_grad[2] else None
        return (None if dx is None else dx.permute(0, 3, 1, 2)), dw, db, None, None


class _GemmConvTranspose2dFn(torch.autograd.Function):
    """Stride-2 transposed convolution as col2im(x @ weight matrix); backward: patches(dy) @ weight^T and
    x^T @ patches(dy). Block by block (``block_bytes``)."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, padding: int, output_padding: int,
                block_bytes: int) -> Tensor:
        n, cin, h, w = x.shape
        _, cout, k, _ = weight.shape
        ho, wo = 2 * (h - 1) - 2 * padding + k + output_padding, 2 * (w - 1) - 2 * padding + k + output_padding
        xl, wm = x.permute(0, 2, 3, 1), _transposed_matrix(weight)
        y = x.new_empty(n, ho, wo, cout)
        for sl in _blocks(n, h * w * k * k * cout * x.element_size(), block_bytes):
            _col2im(xl[sl].reshape(-1, cin) @ wm, h, w, k, padding, y[sl], None if bias is None else bias.to(x.dtype))
        ctx.save_for_backward(x, weight)
        ctx.padding, ctx.block_bytes = padding, block_bytes
        return y.permute(0, 3, 1, 2)

    @staticmethod
    def backward(ctx, dy: Tensor):
        x, weight = ctx.saved_tensors
        n, cin, h, w = x.shape
        _, cout, k, _ = weight.shape
        xl, dl = x.permute(0, 2, 3, 1), dy.permute(0, 2, 3, 1)
        wm = _transposed_matrix(weight)
        dx = x.new_empty(n, h, w, cin) if ctx.needs_input_grad[0] else None
        dwm = None
        for sl in _blocks(n, h * w * k * k * cout * x.element_size(), ctx.block_bytes):
            cols = _im2col(dl[sl], k, ctx.padding, h, w)
            if dx is not None:
                torch.mm(cols, wm.t(), out=dx[sl].view(-1, cin))
            if ctx.needs_input_grad[1]:
                dwm = _accumulate(dwm, xl[sl].reshape(-1, cin).t(), cols)
        dw = None if dwm is None else dwm.view(cin, k, k, cout).permute(0, 3, 1, 2).contiguous()
        db = column_sums(dl.reshape(-1, cout)) if ctx.needs_input_grad[2] else None
        return (None if dx is None else dx.permute(0, 3, 1, 2)), dw, db, None, None, None


def gemm_conv2d(x: Tensor, weight: Tensor, bias: Tensor | None, padding: int,
                block_bytes: int = GEMM_BLOCK_BYTES) -> Tensor:
    """F.conv2d(x, weight, bias, 2, padding) of a channels-last x in the GEMM form, whatever the shape (tests
    call it directly; ``conv2d`` takes it only where ``_gemm_form`` says), patches in blocks of ``block_bytes``."""
    return _GemmConv2dFn.apply(x, weight, bias, padding, block_bytes)


def gemm_conv_transpose2d(x: Tensor, weight: Tensor, bias: Tensor | None, padding: int, output_padding: int,
                          block_bytes: int = GEMM_BLOCK_BYTES) -> Tensor:
    """F.conv_transpose2d(x, weight, bias, 2, padding, output_padding) of a channels-last x in the GEMM form,
    whatever the shape (see ``gemm_conv2d``)."""
    return _GemmConvTranspose2dFn.apply(x, weight, bias, padding, output_padding, block_bytes)


# ----------------------------------------------------------------------------------- phase form
#: Below this many output channels a CPU transposed convolution that doubles H and W runs as one
#: stride-1 convolution over its four output phases (``_phase_conv_transpose2d``). Measured on a 2-core
#: AVX-512 machine for 1024 maps: 1.5-2x faster than oneDNN's transposed kernel for 3 or 8 output
#: channels, slower from 16 up, where the phase form's 2.25x multiply-adds (kernel 4) dominate.
PHASE_MAX_CHANNELS = 16

_PHASE_INDEX: dict[tuple, tuple[Tensor, int]] = {}


def _phase_index(cin: int, cout: int, kernel: int, padding: int, device: torch.device) -> tuple[Tensor, int]:
    """Index into ``[weight.flatten(), 0]`` that turns a transposed-conv weight (cin, cout, k, k) into the weight
    (4 * cout, cin, 2r + 1, 2r + 1) of the stride-1 convolution whose output channel (2 qy + qx) * cout + c
    is channel c of the output pixels (2i + qy, 2j + qx); and the window radius r (its padding).

    Output pixel 2m + q of the transposed convolution sums input pixels m + d through kernel tap
    k = q + padding - 2d; taps a phase does not use read the appended zero.
    """
    key = (cin, cout, kernel, padding, str(device))
    if key not in _PHASE_INDEX:
        taps = [(q, (q + padding - k) // 2, k) for q in (0, 1) for k in range(kernel) if (q + padding - k) % 2 == 0]
        r = max(abs(d) for _, d, _ in taps)
        idx = torch.full((2, 2, cout, cin, 2 * r + 1, 2 * r + 1), cin * cout * kernel * kernel, dtype=torch.long)
        ci = torch.arange(cin)
        for c in range(cout):
            for qy, dy, ky in taps:
                for qx, dx, kx in taps:
                    idx[qy, qx, c, :, dy + r, dx + r] = ((ci * cout + c) * kernel + ky) * kernel + kx
        _PHASE_INDEX[key] = (idx.view(4 * cout, cin, 2 * r + 1, 2 * r + 1).to(device), r)
    return _PHASE_INDEX[key]


def _phase_form(x: Tensor, weight: Tensor, stride, padding, output_padding) -> bool:
    """Whether conv_transpose2d(x, weight, ...) doubles H and W exactly with few output channels on the CPU."""
    k = weight.shape[-1]
    return (x.device.type == "cpu" and x.dim() == 4 and weight.shape[1] < PHASE_MAX_CHANNELS
            and weight.shape[-2] == k and tuple(stride) == (2, 2) and padding[0] == padding[1]
            and output_padding[0] == output_padding[1] and k + output_padding[0] - 2 * padding[0] == 2)


def _phase_conv_transpose2d(x: Tensor, weight: Tensor, bias: Tensor | None, padding: int) -> Tensor:
    """F.conv_transpose2d(x, weight, bias, 2, padding, output_padding) for a kernel that doubles H and W, computed
    as a stride-1 convolution over the four output phases, then interleaved into x's memory format."""
    n, _, h, w = x.shape
    cin, cout, kernel = weight.shape[0], weight.shape[1], weight.shape[-1]
    idx, r = _phase_index(cin, cout, kernel, padding, weight.device)
    flat = torch.cat([weight.reshape(-1), weight.new_zeros(1)])
    z = F.conv2d(x, flat[idx], None if bias is None else bias.repeat(4), 1, r).unflatten(1, (2, 2, cout))
    if x.is_contiguous(memory_format=torch.channels_last):  # z: (N, qy, qx, C, H, W) -> (N, H, qy, W, qx, C)
        return z.permute(0, 4, 1, 5, 2, 3).reshape(n, 2 * h, 2 * w, cout).permute(0, 3, 1, 2)
    return z.permute(0, 3, 4, 1, 5, 2).reshape(n, cout, 2 * h, 2 * w)


def _conv_transpose2d_forward(x: Tensor, weight: Tensor, bias: Tensor | None, stride, padding,
                              output_padding) -> Tensor:
    if _phase_form(x, weight, stride, padding, output_padding):
        return _phase_conv_transpose2d(x, weight, bias, padding[0])
    return F.conv_transpose2d(x, weight, bias, stride, padding, output_padding)


class _ConvTranspose2dFn(torch.autograd.Function):
    """conv_transpose2d whose weight gradient is computed as the weight gradient of the matching
    stride-s convolution (input = grad of the output, grad = input): the same sums, exactly, but
    oneDNN's kernel for that is 1.3-2x faster on CPU than its transposed-weight-gradient kernel.
    With few output channels the forward runs in phase form (PHASE_MAX_CHANNELS)."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, stride: list[int], padding: list[int],
                output_padding: list[int]) -> Tensor:
        ctx.save_for_backward(x, weight)
        ctx.conv = (stride, padding, output_padding)
        return _conv_transpose2d_forward(x, weight, bias, stride, padding, output_padding)

    @staticmethod
    def backward(ctx, dy: Tensor):
        x, weight = ctx.saved_tensors
        stride, padding, output_padding = ctx.conv
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        dy = dy.contiguous(memory_format=torch.channels_last if x.is_contiguous(memory_format=torch.channels_last)
                           else torch.contiguous_format)
        backward = torch.ops.aten.convolution_backward
        dx = dw = db = None
        if need_x:
            dx = backward(dy, x, weight, None, stride, padding, [1, 1], True, output_padding, 1,
                          [True, False, False])[0]
        if need_w:  # y = convT(x, W)  <=>  x = conv(y, W)-shaped pairing: dW = wgrad of conv(input=dy, grad=x)
            dw = backward(x, dy, weight, None, stride, padding, [1, 1], False, [0, 0], 1, [False, True, False])[1]
        if need_b:
            db = (column_sums(dy.permute(0, 2, 3, 1).reshape(-1, dy.shape[1])).to(dy.dtype)
                  if dy.is_contiguous(memory_format=torch.channels_last) else dy.sum((0, 2, 3)))
        return dx, dw, db, None, None, None


# ---------------------------------------------------------------------------------- entry points
def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None, stride, padding) -> Tensor:
    """F.conv2d (groups 1, dilation 1), in the GEMM form where that is faster (``_gemm_form``), else F.conv2d."""
    if not _gemm_form(x, weight, stride, padding, transposed=False):
        return F.conv2d(x, weight, bias, stride, padding)
    return gemm_conv2d(x, weight, bias, padding[0])


def conv_transpose2d(x: Tensor, weight: Tensor, bias: Tensor | None, stride, padding, output_padding) -> Tensor:
    """F.conv_transpose2d (groups 1, dilation 1) in the fastest CPU form for its shape (see the module's
    docstring)."""
    if _gemm_form(x, weight, stride, padding, transposed=True) and output_padding[0] == output_padding[1]:
        return gemm_conv_transpose2d(x, weight, bias, padding[0], output_padding[0])
    if not torch.is_grad_enabled():
        return _conv_transpose2d_forward(x, weight, bias, stride, padding, output_padding)
    return _ConvTranspose2dFn.apply(x, weight, bias, list(stride), list(padding), list(output_padding))
