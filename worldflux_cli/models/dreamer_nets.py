"""The DreamerV3 networks (imports torch): layers, image and vector encoders and decoders, the actor, the
return normaliser. The RSSM is in dreamer_rssm.py, the model that puts them together in dreamer.py.

Layers are Linear -> RMSNorm -> SiLU everywhere (as the official code); weights use the fan-in
truncated-normal initialiser with the official fans. The CNN (official default) is a stride-1
convolution padded as JAX's SAME then 2x2 max-pooling per stage; the decoder upsamples by nearest
neighbour, then convolves. ``cnn_strided`` selects the official ``strided`` form: stride-2 convolutions
(SAME: a 5x5 kernel pads 1 before and 2 after) and, in the decoder, fractionally strided ones (the input
spread to the odd pixels of a map twice as large, then a SAME convolution). Activations run channels-last.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from worldflux_cli.config.dreamer import DreamerV3Config
from worldflux_cli.models import sampling
from worldflux_cli.models.kernels import conv as conv_kernel
from worldflux_cli.models.kernels import image_input as image_input_kernel
from worldflux_cli.models.kernels import upsample_conv as upsample_conv_kernel
from worldflux_cli.models.layers import BlockLinear, RMSNorm, trunc_normal_init_
from worldflux_cli.models.math import symlog

#: Bounds of the continuous actor's standard deviation (official minstd / maxstd).
ACTOR_MIN_STD, ACTOR_MAX_STD = 0.1, 1.0
#: Output-layer init scale of the actor (official outscale).
ACTOR_OUT_SCALE = 0.01
#: Percentiles of the return normaliser.
RETURN_PERCENTILES = (0.05, 0.95)


def at_least_float32(x: Tensor) -> torch.dtype:
    return torch.promote_types(x.dtype, torch.float32)



# ------------------------------------------------------------------------------------- layers
class Linear(nn.Linear):
    """nn.Linear with the official fan-in truncated-normal init (scaled by ``scale``) and zero bias.

    ``fan_in`` overrides in_features for layers that are one slice of a wider official layer.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, scale: float = 1.0,
                 fan_in: int | None = None) -> None:
        object.__setattr__(self, "_init", (scale, fan_in or in_features))
        super().__init__(in_features, out_features, bias)

    def reset_parameters(self) -> None:
        scale, fan_in = self._init
        trunc_normal_init_(self.weight, fan_in, scale)
        if self.bias is not None:
            nn.init.zeros_(self.bias)


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """JAX's SAME padding (before, after) of one axis: the output has ceil(size / stride) pixels."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class Conv(nn.Conv2d):
    """A k x k convolution of stride 1 or 2 padded as JAX's SAME, with the official init (fan-in k*k*cin).

    The weight is (cout, cin, k, k) (the official kernel (k, k, cin, cout) transposed). With
    ``transposed=True`` (stride 2 only) it is the official fractionally strided convolution: the input
    spread to the odd pixels of a map twice as large (zeros elsewhere), then a SAME stride-1 convolution
    with this weight; computed as the equivalent transposed convolution, without the zeros.
    """

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, transposed: bool = False,
                 scale: float = 1.0) -> None:
        object.__setattr__(self, "_init", scale)
        super().__init__(cin, cout, kernel, stride=stride, padding=0)
        self.transposed = transposed

    def reset_parameters(self) -> None:
        trunc_normal_init_(self.weight, self.in_channels * self.kernel_size[0] * self.kernel_size[1], self._init)
        nn.init.zeros_(self.bias)

    def forward(self, x: Tensor) -> Tensor:
        if self.transposed:
            return self._fractionally_strided(x)
        k, s = self.kernel_size[0], self.stride[0]
        (top, bottom), (left, right) = same_padding(x.shape[-2], k, s), same_padding(x.shape[-1], k, s)
        if top == bottom and left == right:
            padding = (top, left)
        else:
            x, padding = F.pad(x, (left, right, top, bottom)), (0, 0)
        if conv_kernel.usable(x):  # faster CPU forms of the same op (models/kernels/conv.py)
            return conv_kernel.conv2d(x, self.weight, self.bias, self.stride, padding)
        return F.conv2d(x, self.weight, self.bias, self.stride, padding)

    def _fractionally_strided(self, x: Tensor) -> Tensor:
        # y[o] = sum_k w[k] z[o + k - P] with z[2i + 1] = x[i] (P: SAME's padding before, stride 1) is the
        # transposed convolution of x with the flipped kernel, read from pixel K - 2 - P on.
        k = self.kernel_size[0]
        h, w = x.shape[-2:]
        weight = self.weight.flip(-1, -2).transpose(0, 1)
        shift = k - 2 - same_padding(2 * h, k, 1)[0]
        if shift < 0:  # a 1x1 kernel: pixel 0 reads only zeros (the bias alone)
            y = F.conv_transpose2d(x, weight, None, 2, 0)
            y = F.pad(y, (-shift, 0, -shift, 0))[..., :2 * h, :2 * w]
            return y + self.bias.view(-1, 1, 1).to(y.dtype)
        if conv_kernel.usable(x):
            y = conv_kernel.conv_transpose2d(x, weight, self.bias, (2, 2), (shift, shift), (0, 0))
        else:
            y = F.conv_transpose2d(x, weight, self.bias, 2, shift)
        return y if y.shape[-2:] == (2 * h, 2 * w) else y[..., :2 * h, :2 * w]


class Dense(nn.Module):
    """Linear -> RMSNorm -> SiLU: the official hidden layer."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.linear = Linear(in_dim, out_dim)
        self.norm = RMSNorm(out_dim, act=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(self.linear(x))


def mlp(in_dim: int, units: int, layers: int) -> nn.Sequential:
    return nn.Sequential(*(Dense(in_dim if i == 0 else units, units) for i in range(layers)))


class Head(nn.Module):
    """MLP of ``layers`` Dense layers and a linear output (init scaled by ``scale``)."""

    def __init__(self, in_dim: int, units: int, layers: int, out_dim: int, scale: float = 1.0) -> None:
        super().__init__()
        self.net = mlp(in_dim, units, layers)
        self.out = Linear(units, out_dim, scale=scale)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.net(x))


# ---------------------------------------------------------------------------- encoders / decoders
def _cnn_depths(c: DreamerV3Config) -> list[int]:
    return [c.cnn_depth * m for m in c.cnn_multipliers]


class ImageEncoder(nn.Module):
    """CNN stages of cnn_depth * multiplier channels, each halving H and W, RMSNorm + SiLU, flattened (h, w, c).

    A stage is a stride-1 convolution then 2x2 max-pooling (official), or a stride-2 convolution
    (``cnn_strided``, the official 'strided' form).
    """

    def __init__(self, c: DreamerV3Config) -> None:
        super().__init__()
        channels, height, width = c.obs_shape
        depths, n = _cnn_depths(c), len(c.cnn_kernels)
        ins = [channels, *depths[:-1]]
        self.strided = c.cnn_strided
        stride = 2 if self.strided else 1
        self.convs = nn.ModuleList(Conv(i, o, k, stride) for i, o, k in zip(ins, depths, c.cnn_kernels, strict=True))
        self.norms = nn.ModuleList(RMSNorm(d, act=True) for d in depths)
        self.out_dim = depths[-1] * (height >> n) * (width >> n)

    def forward(self, obs: Tensor) -> Tensor:  # (N, C, H, W) in [0, 1] -> (N, out_dim)
        if image_input_kernel.usable(obs):  # the same in one pass (models/kernels/image_input.py)
            x = image_input_kernel.centred_channels_last(obs)
        else:
            x = (obs - 0.5).contiguous(memory_format=torch.channels_last)
        for conv, norm in zip(self.convs, self.norms, strict=True):
            x = conv(x)
            if not self.strided:
                x = F.max_pool2d(x, 2)
            x = norm.channels(x)
        return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)


class ImageDecoder(nn.Module):
    """Official decoder: deter projected block-wise (``decoder_blocks`` groups) plus stoch through an MLP
    to the smallest feature map (RMSNorm + SiLU of the sum), then stages mirroring the encoder (nearest
    2x upsampling and a convolution, or the 'strided' fractionally strided convolution); outputs logits
    of the pixel means (sigmoid gives the image)."""

    def __init__(self, c: DreamerV3Config) -> None:
        super().__init__()
        channels, height, width = c.obs_shape
        depths, kernels, n = _cnn_depths(c), c.cnn_kernels, len(c.cnn_kernels)
        self.res = (height >> n, width >> n)
        last = depths[-1]
        units = self.res[0] * self.res[1] * last
        self.groups = c.decoder_blocks
        self.space_deter = BlockLinear(c.deter_dim, units, self.groups)
        self.space_stoch = Dense(c.stoch_dim, 2 * c.mlp_units)
        self.space_stoch_out = Linear(2 * c.mlp_units, units)
        self.space_norm = RMSNorm(last, act=True)
        self.strided = c.cnn_strided
        stride = 2 if self.strided else 1
        self.convs = nn.ModuleList(Conv(depths[i], depths[i - 1], kernels[i], stride, self.strided)
                                   for i in range(n - 1, 0, -1))
        self.norms = nn.ModuleList(RMSNorm(depths[i - 1], act=True) for i in range(n - 1, 0, -1))
        self.out = Conv(depths[0], channels, kernels[0], stride, self.strided)

    def _up(self, x: Tensor) -> Tensor:
        return x if self.strided else F.interpolate(x, scale_factor=2, mode="nearest")

    def _stage(self, conv: Conv, x: Tensor) -> Tensor:
        """One stage's convolution: ``conv(self._up(x))`` (the definition); in the official form, where it was
        measured faster, the same computed on the low-resolution map (models/kernels/upsample_conv.py)."""
        if not self.strided and upsample_conv_kernel.usable(x) and upsample_conv_kernel.faster(x, conv.weight):
            return upsample_conv_kernel.upsample_conv2d(x, conv.weight, conv.bias)
        return conv(self._up(x))

    def forward(self, deter: Tensor, stoch: Tensor) -> Tensor:  # (N, D), (N, Z) -> (N, C, H, W) logits
        n, (h, w), g = deter.shape[0], self.res, self.groups
        x0 = self.space_deter(deter).view(n, g, h, w, -1).permute(0, 2, 3, 1, 4).reshape(n, h, w, -1)
        x1 = self.space_stoch_out(self.space_stoch(stoch)).view(n, h, w, -1)
        x = self.space_norm(x0 + x1).permute(0, 3, 1, 2)  # channels-last NCHW
        for conv, norm in zip(self.convs, self.norms, strict=True):
            x = norm.channels(self._stage(conv, x))
        return self._stage(self.out, x)


class VectorEncoder(nn.Module):
    """Symlog (when use_symlog) then mlp_layers Dense layers of mlp_units."""

    def __init__(self, c: DreamerV3Config) -> None:
        super().__init__()
        self.symlog = c.use_symlog
        self.net = mlp(c.obs_shape[0], c.mlp_units, c.mlp_layers)
        self.out_dim = c.mlp_units

    def forward(self, obs: Tensor) -> Tensor:
        return self.net(symlog(obs) if self.symlog else obs)


class VectorDecoder(nn.Module):
    """mlp_layers Dense layers of mlp_units on [stoch, deter] (the official order) and a linear output
    (symlog space when use_symlog)."""

    def __init__(self, c: DreamerV3Config) -> None:
        super().__init__()
        self.net = Head(c.latent_dim, c.mlp_units, c.mlp_layers, c.obs_shape[0])

    def forward(self, deter: Tensor, stoch: Tensor) -> Tensor:
        return self.net(torch.cat([stoch, deter], -1))


# ------------------------------------------------------------------------------ actor / critic
class Actor(nn.Module):
    """Policy on features: categorical, with ``actor_unimix`` (discrete), or bounded normal (continuous).

    Bounded normal (official): mean = tanh(m), std = (max - min) * sigmoid(s + 2) + min. The output
    layer holds the official 'mean' rows first, then the 'stddev' rows.
    """

    def __init__(self, c: DreamerV3Config, feat_dim: int) -> None:
        super().__init__()
        self.discrete = c.action_type == "discrete"
        self.action_dim, self.unimix = c.action_dim, float(c.resolved()["actor_unimix"])
        out = c.action_dim if self.discrete else 2 * c.action_dim
        self.net = Head(feat_dim, c.mlp_units, c.mlp_layers, out, scale=ACTOR_OUT_SCALE)

    def forward(self, feat: Tensor) -> tuple[Tensor, Tensor]:
        """Discrete: (probs, log_probs); continuous: (mean, std). At least float32."""
        out = self.net(feat)
        out = out.to(at_least_float32(out))
        if self.discrete:
            if not self.unimix:
                logp = torch.log_softmax(out, -1)
                return logp.exp(), logp
            probs = torch.softmax(out, -1) * (1.0 - self.unimix) + self.unimix / self.action_dim
            return probs, probs.log()
        mean, std = out.chunk(2, -1)
        return torch.tanh(mean), (ACTOR_MAX_STD - ACTOR_MIN_STD) * torch.sigmoid(std + 2.0) + ACTOR_MIN_STD

    def sample(self, feat: Tensor) -> Tensor:
        """Actions (..., A): one-hot for discrete, normal samples for continuous."""
        a, b = self(feat)
        if self.discrete:
            return sampling.one_hot_sample(a).to(feat.dtype)
        return (a + b * sampling.normal_like(a)).to(feat.dtype)

    def log_prob_entropy(self, feat: Tensor, action: Tensor) -> tuple[Tensor, Tensor]:
        """Log-probability of ``action`` and entropy, each (...), at least float32."""
        a, b = self(feat)
        action = action.to(a.dtype)
        if self.discrete:
            return (action * b).sum(-1), -(a * b).sum(-1)
        logp = -0.5 * ((action - a) / b).square() - b.log() - 0.5 * math.log(2 * math.pi)
        ent = 0.5 + 0.5 * math.log(2 * math.pi) + b.log()
        return logp.sum(-1), ent.sum(-1)


class ReturnNorm(nn.Module):
    """EMA of the 5th and 95th return percentiles; scale = max(1, high - low). Kept in float32."""

    def __init__(self, decay: float) -> None:
        super().__init__()
        self.decay = decay
        self.register_buffer("low", torch.zeros((), dtype=torch.float32))
        self.register_buffer("high", torch.zeros((), dtype=torch.float32))

    def forward(self, ret: Tensor, update: bool = True) -> Tensor:
        if update:
            x = ret.detach().to(at_least_float32(ret)).flatten()
            low, high = torch.quantile(x, torch.tensor(RETURN_PERCENTILES, device=x.device, dtype=x.dtype))
            self.low.lerp_(low, 1.0 - self.decay)
            self.high.lerp_(high, 1.0 - self.decay)
        return torch.clamp(self.high - self.low, min=1.0)

    def _apply(self, fn, recurse=True):
        super()._apply(fn, recurse)
        for name, buf in self._buffers.items():
            if buf is not None and buf.is_floating_point() and buf.dtype not in (torch.float32, torch.float64):
                self._buffers[name] = buf.float()
        return self



__all__ = ["Actor", "Conv", "Dense", "Head", "ImageDecoder", "ImageEncoder", "Linear", "ReturnNorm", "VectorDecoder",
           "VectorEncoder", "mlp", "same_padding"]
