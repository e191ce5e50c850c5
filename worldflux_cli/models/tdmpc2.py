"""TD-MPC2 (Hansen, Su & Wang, ICLR 2024) in PyTorch, faithful to the paper and the official code.

An implicit, decoder-free world model: an encoder to a SimNorm latent, MLP dynamics, a two-hot
reward head, an ensemble of two-hot Q functions with an EMA target copy, and a tanh-Gaussian
policy prior, trained with the TD-MPC2 loss and planned with MPPI (tdmpc2_plan.py).

Tested number for number against the official code (benchmarks/PARITY.md); official checkpoints
come in and go out through worldflux_cli/interop. Computations follow the model's dtype.

Every MLP layer is Linear -> LayerNorm -> Mish (the latent outputs end in LayerNorm -> SimNorm
instead); reward and Q heads end in a plain Linear to ``num_bins`` logits, zero-initialised.
Components take the task embedding ``emb`` (``embed_task(task)``; None for a single task), which
is concatenated to their inputs as in the official code. Tensors are time-major: (T, B, ...).

Example::

    model = TDMPC2(TDMPC2Config.from_size("5m", obs_shape=(39,), action_dim=6))
    batch = model.random_batch(256, generator=torch.Generator().manual_seed(0))
    metrics = model.update(batch)  # one official iteration: world model, then policy, then EMA targets
    action = model.eval().plan(obs, eval_mode=True)
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from worldflux_cli.config.tdmpc2 import TDMPC2Config
from worldflux_cli.models.math import symexp, symlog
from worldflux_cli.models.noise import randn
from worldflux_cli.models.tdmpc2_plan import mppi_plan

#: Bounds of the policy prior's log standard deviation (official log_std_min / log_std_max).
LOG_STD_MIN, LOG_STD_MAX = -10.0, 2.0
#: Learning-rate scale of the encoder in the official optimizer (enc_lr_scale).
ENC_LR_SCALE = 0.3
#: 0.5 log(2 pi) rounded to float32, the constant of the official Gaussian log-probability (float64 parity).
_HALF_LOG_2PI = float(torch.tensor(0.5 * math.log(2 * math.pi), dtype=torch.float32))


# ---------------------------------------------------------------------------------------- math
def two_hot(x: Tensor, num_bins: int, vmin: float, vmax: float) -> Tensor:
    """Soft two-hot targets (..., num_bins) of scalars ``x`` (...), in ``x``'s dtype.

    The bins are evenly spaced in symlog space from ``vmin`` to ``vmax``; symlog(x) is clamped
    to that range and split between its two neighbouring bins in proportion to its distance.
    """
    bin_size = (vmax - vmin) / (num_bins - 1)
    pos = (symlog(x).clamp(vmin, vmax) - vmin) / bin_size
    low = pos.floor().clamp(max=num_bins - 2)
    high_weight = (pos - low).unsqueeze(-1)
    low = low.long().unsqueeze(-1)
    out = torch.zeros(*x.shape, num_bins, device=x.device, dtype=x.dtype)
    return out.scatter_(-1, low, 1 - high_weight).scatter_(-1, low + 1, high_weight)


def two_hot_inv(logits: Tensor, vmin: float, vmax: float) -> Tensor:
    """The scalar (...) that logits (..., num_bins) predict: symexp of the expected bin (logits' dtype)."""
    bins = torch.linspace(vmin, vmax, logits.shape[-1], device=logits.device, dtype=logits.dtype)
    return symexp((logits.softmax(-1) * bins).sum(-1))


def soft_ce(logits: Tensor, target: Tensor, vmin: float, vmax: float) -> Tensor:
    """Cross-entropy (...) of logits (..., num_bins) against two-hot targets of scalars (...)."""
    log_probs = logits.log_softmax(-1)
    return -(two_hot(target.to(logits.dtype), logits.shape[-1], vmin, vmax) * log_probs).sum(-1)


def percentile_range(x: Tensor, low: float = 5.0, high: float = 95.0) -> Tensor:
    """The ``high`` minus the ``low`` percentile of ``x`` (all elements), linearly interpolated (official)."""
    xs = x.flatten().sort().values
    n = xs.shape[0]
    out = []
    for p in (low, high):
        pos = p * (n - 1) / 100
        lo = math.floor(pos)
        hi = min(lo + 1, n - 1)
        out.append(xs[lo] * (1 - (pos - lo)) + xs[hi] * (pos - lo))
    return out[1] - out[0]


# -------------------------------------------------------------------------------------- layers
class SimNorm(nn.Module):
    """Simplicial normalisation: a softmax over each group of ``group`` consecutive features."""

    def __init__(self, group: int):
        super().__init__()
        self.group = group

    def forward(self, x: Tensor) -> Tensor:
        return x.unflatten(-1, (-1, self.group)).softmax(-1).flatten(-2)

    def extra_repr(self) -> str:
        return f"group={self.group}"


class NormedLinear(nn.Linear):
    """Linear -> LayerNorm -> activation (Mish, or SimNorm for a latent output)."""

    def __init__(self, in_features: int, out_features: int, act: nn.Module | None = None):
        super().__init__(in_features, out_features)
        self.ln = nn.LayerNorm(out_features)
        self.act = act if act is not None else nn.Mish()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.ln(super().forward(x)))


def mlp(in_dim: int, hidden: list[int], out_dim: int, out_act: nn.Module | None = None) -> nn.Sequential:
    """Normed hidden layers, then a plain Linear (or a NormedLinear with ``out_act``)."""
    dims = [in_dim, *hidden]
    layers: list[nn.Module] = [NormedLinear(i, o) for i, o in itertools.pairwise(dims)]
    layers.append(NormedLinear(dims[-1], out_dim, out_act) if out_act is not None else nn.Linear(dims[-1], out_dim))
    return nn.Sequential(*layers)


def _cat(x: Tensor, emb: Tensor | None) -> Tensor:
    """``x`` with the task embedding appended to its last axis (broadcast over leading axes)."""
    if emb is None:
        return x
    return torch.cat([x, emb.expand(*x.shape[:-1], emb.shape[-1]).to(x.dtype)], -1)


class QEnsemble(nn.Module):
    """``members`` MLPs of one shape with stacked weights, evaluated together with batched matmuls.

    Each member is Linear -> Dropout -> LayerNorm -> Mish, (num_hidden - 1) x (Linear -> LayerNorm
    -> Mish), Linear to ``out_dim``: the official Q function, with the same parameter count.
    ``forward(x)`` maps (..., in_dim) to (members, ..., out_dim); ``members`` selects a subset
    (an index tensor) and ``detach`` cuts the gradient to the weights (not to ``x``).
    """

    def __init__(self, members: int, in_dim: int, hidden_dim: int, num_hidden: int, out_dim: int,
                 dropout: float = 0.0):
        super().__init__()
        dims = [in_dim] + [hidden_dim] * num_hidden + [out_dim]
        self.weight = nn.ParameterList(nn.Parameter(torch.empty(members, i, o)) for i, o in itertools.pairwise(dims))
        self.bias = nn.ParameterList(nn.Parameter(torch.zeros(members, 1, o)) for o in dims[1:])
        self.ln_weight = nn.ParameterList(nn.Parameter(torch.ones(members, 1, o)) for o in dims[1:-1])
        self.ln_bias = nn.ParameterList(nn.Parameter(torch.zeros(members, 1, o)) for o in dims[1:-1])
        self.members, self.dropout = members, dropout
        for w in self.weight[:-1]:
            nn.init.trunc_normal_(w, std=0.02)
        nn.init.zeros_(self.weight[-1])  # the official code zero-initialises the Q heads' last layer

    def forward(self, x: Tensor, members: Tensor | None = None, detach: bool = False) -> Tensor:
        def take(p: Tensor) -> Tensor:
            p = p if members is None else p[members]
            return p.detach() if detach else p

        lead = x.shape[:-1]
        h = x.reshape(1, -1, x.shape[-1])
        last = len(self.weight) - 1
        for i in range(last + 1):
            w = take(self.weight[i])
            h = torch.baddbmm(take(self.bias[i]), h.expand(w.shape[0], -1, -1), w)
            if i < last:
                if i == 0 and self.dropout:
                    h = F.dropout(h, self.dropout, self.training)
                h = F.layer_norm(h, h.shape[-1:])
                h = F.mish(torch.addcmul(take(self.ln_bias[i]), h, take(self.ln_weight[i])))
        return h.view(h.shape[0], *lead, h.shape[-1])

    def extra_repr(self) -> str:
        dims = [self.weight[0].shape[1]] + [w.shape[2] for w in self.weight]
        return f"members={self.members}, dims={dims}, dropout={self.dropout}"


def encoder_hidden(config: TDMPC2Config) -> list[int]:
    """Hidden widths of the vector encoder: max(num_encoder_layers - 1, 1) x encoder_dim (official)."""
    return [config.encoder_dim] * max(config.num_encoder_layers - 1, 1)


class MLPEncoder(nn.Module):
    """Vector observations (+ task embedding) -> max(num_layers - 1, 1) normed layers -> SimNorm latent."""

    def __init__(self, in_dim: int, hidden: list[int], latent_dim: int, simnorm_dim: int):
        super().__init__()
        self.net = mlp(in_dim, hidden, latent_dim, SimNorm(simnorm_dim))

    def forward(self, obs: Tensor, emb: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        return self.net(_cat(obs.to(self.net[0].weight.dtype), emb))


#: (kernel, stride) of the official pixel encoder's convolutions.
CONV_LAYERS = ((7, 2), (5, 2), (3, 2), (3, 1))
#: The smallest image side the unpadded (official) convolutions take.
MIN_UNPADDED_SIDE = 39


def conv_geometry(obs_shape: tuple[int, ...], channels: int, latent_dim: int, task_dim: int
                  ) -> tuple[bool, tuple[int, int], bool]:
    """(padded, (h, w) after the convolutions, projected) of the pixel encoder (torch-free rule).

    Images with both sides >= 39 use the official unpadded convolutions (64x64 -> 4x4); smaller ones
    pad each convolution (k // 2) so that they still fit (total stride 8). The flattened features go
    straight to SimNorm when they number latent_dim and there is no task embedding (official: 32 x 4 x 4
    = 512); otherwise a Linear maps them (+ task embedding) to latent_dim.
    """
    _, h, w = obs_shape
    padded = min(h, w) < MIN_UNPADDED_SIDE
    for k, stride in CONV_LAYERS:
        pad = k // 2 if padded else 0
        h, w = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    return padded, (h, w), channels * h * w != latent_dim or task_dim > 0


#: When the pixel encoder shifts its images: "always" (every call, acting and TD targets included: the official
#: encoder, whose ShiftAug is its first layer and has no train/eval switch), "train" (in training mode only) or
#: "never". ``ConvEncoder.augment`` holds it (not saved: set it after building or loading a model).
SHIFT_MODES = ("always", "train", "never")


class ConvEncoder(nn.Module):
    """(C, H, W) pixels in [0, 255] -> the official CNN (kernels 7, 5, 3, 3; strides 2, 2, 2, 1; ReLU)
    -> SimNorm latent (see ``conv_geometry`` for the padding and the optional Linear). Observations get
    the official random-shift augmentation (pad = size // 21, 3 at 64x64) in every call, in eval mode too,
    as official; ``augment`` (SHIFT_MODES) can restrict it to training or turn it off."""

    def __init__(self, obs_shape: tuple[int, ...], channels: int, latent_dim: int, simnorm_dim: int,
                 task_dim: int = 0):
        super().__init__()
        padded, (h, w), projected = conv_geometry(obs_shape, channels, latent_dim, task_dim)
        layers: list[nn.Module] = []
        in_ch = obs_shape[0]
        for i, (k, stride) in enumerate(CONV_LAYERS):
            layers.append(nn.Conv2d(in_ch, channels, k, stride=stride, padding=k // 2 if padded else 0))
            layers.append(nn.ReLU() if i < len(CONV_LAYERS) - 1 else nn.Flatten())
            in_ch = channels
        self.convs = nn.Sequential(*layers)
        self.proj = nn.Linear(channels * h * w + task_dim, latent_dim) if projected else None
        self.simnorm = SimNorm(simnorm_dim)
        self.shift_pad = min(obs_shape[1:]) // 21
        self.augment = "always"

    def forward(self, obs: Tensor, emb: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        if self.augment not in SHIFT_MODES:
            raise ValueError(f"ConvEncoder.augment is {self.augment!r}; expected one of {SHIFT_MODES}")
        lead = obs.shape[:-3]
        dtype = self.convs[0].weight.dtype
        work = torch.float64 if dtype == torch.float64 else torch.float32  # the shift: float32 as official, or float64
        x = obs.reshape(-1, *obs.shape[-3:]).to(work)
        if self.shift_pad and (self.augment == "always" or (self.augment == "train" and self.training)):
            x = random_shift(x, self.shift_pad, generator)
        x = self.convs((x / 255.0 - 0.5).to(dtype)).view(*lead, -1)
        return self.simnorm(self.proj(_cat(x, emb)) if self.proj is not None else x)


def random_shift(x: Tensor, pad: int, generator: torch.Generator | None = None) -> Tensor:
    """Shift each image (N, C, H, W) by a random whole number of pixels in [-pad, pad] (replicate padding).

    As the official ShiftAug: the shifts are drawn as one randint(0, 2 pad + 1) pair per image, the column (x)
    shift first, then the row (y) shift, so that a generator in the same state gives the same shifts (time-major
    stacks of T x B images draw in the order of the official per-time-step calls); the shifted image is read by
    bilinear grid_sample at the shifted pixel centres of the padded image (align_corners=False, in x's dtype),
    whose grid, rounded, lands within ~1e-5 of a pixel of the integer positions in float32 (a blend of that
    size with the neighbours, up to 2e-3 on a 0..255 pixel): the official numbers, not an exact shift.
    Non-square images get one grid per axis (the official code takes square ones).
    """
    n, _, h, w = x.shape
    x = F.pad(x, (pad,) * 4, mode="replicate")
    src = generator.device if generator is not None else x.device
    shift = torch.randint(0, 2 * pad + 1, (n, 2), generator=generator, device=src).to(x.device, x.dtype)

    def centres(size: int) -> Tensor:  # the first ``size`` of the padded image's pixel centres in [-1, 1]
        eps = 1.0 / (size + 2 * pad)
        return torch.linspace(-1.0 + eps, 1.0 - eps, size + 2 * pad, device=x.device, dtype=x.dtype)[:size]

    grid = torch.stack(torch.broadcast_tensors(centres(w)[None, :], centres(h)[:, None]), -1)  # (h, w, (x, y))
    step = torch.tensor([2.0 / (w + 2 * pad), 2.0 / (h + 2 * pad)], device=x.device, dtype=x.dtype)
    grid = grid[None] + (shift * step)[:, None, None, :]
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _init_weights(m: nn.Module) -> None:
    """The official initialisation: truncated normal (std 0.02) Linear weights, zero biases."""
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        nn.init.zeros_(m.bias)
    elif isinstance(m, nn.Embedding):
        nn.init.uniform_(m.weight, -0.02, 0.02)


# ---------------------------------------------------------------------------------------- model
class TDMPC2(nn.Module):
    """TD-MPC2 world model, policy prior and Q ensemble (see the module docstring).

    Submodules: ``encoder``, ``dynamics``, ``reward_head``, ``pi``, ``qs`` (trainable),
    ``target_qs`` (EMA copy of ``qs``, frozen, always in eval mode), ``task_emb`` when
    num_tasks > 1, ``termination_head`` when episodic, ``decoder`` when use_decoder. The buffer
    ``q_scale`` is the running Q scale of the policy loss; ``action_masks`` (num_tasks, A) and
    ``discounts`` (num_tasks,) are derived from the config (not saved). ``update(batch)`` is one
    official training iteration, with the two Adam optimizers held by the model.
    """

    def __init__(self, config: TDMPC2Config):
        super().__init__()
        self.config = c = config
        a, d, hd, layers = c.action_dim, c.latent_dim, c.hidden_dim, c.num_hidden_layers
        t = c.task_dim if c.num_tasks > 1 else 0
        if c.num_tasks > 1:
            self.task_emb = nn.Embedding(c.num_tasks, c.task_dim, max_norm=1)
        if len(c.obs_shape) == 3:
            self.encoder: nn.Module = ConvEncoder(c.obs_shape, c.cnn_channels, d, c.simnorm_dim, t)
        else:
            self.encoder = MLPEncoder(math.prod(c.obs_shape) + t, encoder_hidden(c), d, c.simnorm_dim)
        self.dynamics = mlp(d + t + a, [hd] * layers, d, SimNorm(c.simnorm_dim))
        self.reward_head = mlp(d + t + a, [hd] * layers, c.num_bins)
        if c.episodic:
            self.termination_head = mlp(d + t, [hd] * layers, 1)
        self.pi = mlp(d + t, [hd] * layers, 2 * a)
        self.qs = QEnsemble(c.num_q_networks, d + t + a, hd, layers, c.num_bins, c.dropout)
        if c.use_decoder:
            self.decoder = mlp(d, encoder_hidden(c), math.prod(c.obs_shape))
        for module in self._parts().values():
            if module is not self.qs:
                module.apply(_init_weights)
        nn.init.zeros_(self.reward_head[-1].weight)
        self.target_qs = copy.deepcopy(self.qs).requires_grad_(False).train(False)
        self.register_buffer("q_scale", torch.ones(()))
        self.register_buffer("action_masks", _action_masks(c), persistent=False)
        lengths = c.task_episode_lengths
        if c.num_tasks > 1 and lengths is not None and len(lengths) != c.num_tasks:
            raise ValueError(f"task_episode_lengths has {len(lengths)} entries but num_tasks = {c.num_tasks}")
        # Built in float64 so that a float64 model holds the exact discounts (a float32 buffer converted to float64
        # would keep 0.99 rounded to float32, 1e-8 off the official float64 value); .to(dtype) rounds it once.
        self.register_buffer("discounts", torch.tensor(c.task_discounts(), dtype=torch.float64), persistent=False)
        self.plan_mean: Tensor | None = None  # MPPI mean of the last plan() call (B, horizon, A)
        self.plan_std: Tensor | None = None  # and its std (B, horizon, A), after the iterations
        self._optim: torch.optim.Optimizer | None = None
        self._pi_optim: torch.optim.Optimizer | None = None

    # ------------------------------------------------------------------ bookkeeping
    def train(self, mode: bool = True) -> TDMPC2:
        super().train(mode)
        self.target_qs.train(False)  # as official: no dropout in the targets
        return self

    def _parts(self) -> dict[str, nn.Module]:
        parts = {"encoder": self.encoder, "dynamics": self.dynamics, "reward": self.reward_head,
                 "policy": self.pi, "q_ensemble": self.qs}
        for name, attr in (("termination", "termination_head"), ("task_embedding", "task_emb"),
                           ("decoder", "decoder")):
            if hasattr(self, attr):
                parts[name] = getattr(self, attr)
        return parts

    def component_params(self) -> dict[str, int]:
        """Trainable parameters per component (equals worldflux_cli.params.tdmpc2.count)."""
        return {name: sum(p.numel() for p in m.parameters() if p.requires_grad) for name, m in self._parts().items()}

    def frozen_params(self) -> dict[str, int]:
        """Parameters that are not trained by gradient: the EMA target Q ensemble."""
        return {"target_qs": sum(p.numel() for p in self.target_qs.parameters())}

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    def world_model_parameters(self) -> list[nn.Parameter]:
        """Every trainable parameter but the policy's: what the world-model step clips and updates."""
        return [p for name, m in self._parts().items() if name != "policy" for p in m.parameters()
                if p.requires_grad]

    def optimizer_param_groups(self, lr: float | None = None) -> list[dict]:
        """Adam parameter groups as in the official agent: encoder at lr x 0.3, policy with eps 1e-5."""
        lr = self.config.learning_rate if lr is None else lr
        parts = self._parts()
        rest = [p for name, m in parts.items() if name not in ("encoder", "policy") for p in m.parameters()]
        return [{"params": list(self.encoder.parameters()), "lr": lr * ENC_LR_SCALE},
                {"params": rest, "lr": lr},
                {"params": list(self.pi.parameters()), "lr": lr, "eps": 1e-5}]

    def configure_optimizers(self, lr: float | None = None) -> None:
        """Create the two official Adam optimizers (world model; policy with eps 1e-5). ``update`` calls
        it on first use; call it again after moving the model to another device or dtype."""
        enc, rest, pi = self.optimizer_param_groups(lr)
        lr = rest["lr"]
        self._optim = torch.optim.Adam([enc, rest], lr=lr)
        self._pi_optim = torch.optim.Adam(pi["params"], lr=lr, eps=pi["eps"])

    def optimizer_state_dict(self) -> dict[str, dict]:
        """The optimizers' state, for checkpoints (not part of ``state_dict()``)."""
        if self._optim is None or self._pi_optim is None:
            self.configure_optimizers()
        return {"world_model": self._optim.state_dict(), "policy": self._pi_optim.state_dict()}  # type: ignore[union-attr]

    def load_optimizer_state_dict(self, state: dict[str, dict]) -> None:
        """Restore what ``optimizer_state_dict`` returned."""
        self.configure_optimizers()
        self._optim.load_state_dict(state["world_model"])  # type: ignore[union-attr]
        self._pi_optim.load_state_dict(state["policy"])  # type: ignore[union-attr]

    def update_targets(self) -> None:
        """EMA step of the target Qs towards the online Qs: target <- target + tau (online - target)."""
        with torch.no_grad():
            for target, online in zip(self.target_qs.parameters(), self.qs.parameters(), strict=True):
                target.lerp_(online, self.config.tau)

    # ------------------------------------------------------------------ components
    def embed_task(self, task: Tensor | int | None, device: torch.device | str | None = None) -> Tensor | None:
        """Task embedding (..., task_dim) of task ids (...); None for a single-task model."""
        if self.config.num_tasks == 1:
            return None
        if task is None:
            raise ValueError(f"this model has num_tasks = {self.config.num_tasks}: pass the task id(s)")
        return self.task_emb(torch.as_tensor(task, device=device or self.q_scale.device).long())

    def action_mask(self, task: Tensor | int | None) -> Tensor | None:
        """(..., A) masks of the action dimensions each task uses; None for a single-task model."""
        if self.config.num_tasks == 1 or task is None:
            return None
        return self.action_masks[torch.as_tensor(task, device=self.action_masks.device).long()]

    def discount(self, task: Tensor | int | None = None) -> Tensor:
        """The discount: a scalar tensor, or (...) per task id for a multitask model given ``task``."""
        dtype = self.q_scale.dtype  # the model's (the buffer is float64 until the model is converted)
        if self.config.num_tasks == 1 or task is None:
            return self.discounts[0].to(dtype)
        return self.discounts[torch.as_tensor(task, device=self.discounts.device).long()].to(dtype)

    def encode(self, obs: Tensor, emb: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        """Latents (..., D) of observations (..., *obs_shape); pixels get the random shift (``generator``: its
        draw; default torch's global generator), in eval mode too, as official (ConvEncoder.augment)."""
        return self.encoder(obs, emb, generator)

    def next(self, z: Tensor, action: Tensor, emb: Tensor | None = None) -> Tensor:
        return self.dynamics(torch.cat([_cat(z, emb), action.to(z.dtype)], -1))

    def reward(self, z: Tensor, action: Tensor, emb: Tensor | None = None) -> Tensor:
        """Reward logits (..., num_bins); ``two_hot_inv`` gives the reward."""
        return self.reward_head(torch.cat([_cat(z, emb), action.to(z.dtype)], -1))

    def termination(self, z: Tensor, emb: Tensor | None = None) -> Tensor:
        """Termination logits (...) of latents (..., D) (episodic models only); sigmoid > 0.5 = terminal."""
        return self.termination_head(_cat(z, emb)).squeeze(-1)

    def policy(self, z: Tensor, emb: Tensor | None = None, generator: torch.Generator | None = None,
               mask: Tensor | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        """A tanh-squashed Gaussian action sample (..., A) and its statistics, in z's dtype.

        ``mask`` (..., A): the task's action mask (multitask); masked dimensions get mean, log-std and
        noise 0 and the log-probability is scaled by the used dimensions, as official.
        """
        mean, log_std = self.pi(_cat(z, emb)).chunk(2, -1)
        log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (torch.tanh(log_std) + 1)
        eps = randn(mean.shape, generator, mean.device).to(mean.dtype)
        size: Tensor | int = mean.shape[-1]
        if mask is not None:
            mask = mask.to(mean.dtype)
            mean, log_std, eps = mean * mask, log_std * mask, eps * mask
            size = mask.sum(-1)
        log_prob = (-0.5 * eps.pow(2) - log_std - _HALF_LOG_2PI).sum(-1)
        scaled_log_prob = log_prob * size
        action = torch.tanh(mean + eps * log_std.exp())
        log_prob = log_prob - torch.log(F.relu(1 - action.pow(2)) + 1e-6).sum(-1)
        info = {"mean": torch.tanh(mean), "log_std": log_std, "entropy": -log_prob,
                "scaled_entropy": -log_prob * (scaled_log_prob / (log_prob + 1e-8))}
        return action, info

    def q_value(self, z: Tensor, action: Tensor, emb: Tensor | None = None, kind: str = "avg",
                target: bool = False, detach: bool = False, generator: torch.Generator | None = None) -> Tensor:
        """Q logits of every member (E, ..., num_bins) for kind 'all'; else the min or the average
        of two random members' values (...), as official."""
        net = self.target_qs if target else self.qs
        x = torch.cat([_cat(z, emb), action.to(z.dtype)], -1)
        if kind == "all":
            return net(x, detach=detach)
        src = generator.device if generator is not None else "cpu"
        pair = torch.randperm(self.config.num_q_networks, generator=generator, device=src)[:2].to(z.device)
        q = two_hot_inv(net(x, members=pair, detach=detach), self.config.vmin, self.config.vmax)
        return q.min(0).values if kind == "min" else q.sum(0) / 2

    def estimate_value(self, z: Tensor, actions: Tensor, emb: Tensor | None = None,
                       generator: torch.Generator | None = None, discount: Tensor | None = None,
                       mask: Tensor | None = None) -> Tensor:
        """Value (...) of action sequences (H, ..., A) from latents (..., D): discounted predicted
        rewards plus discount^H x Q(z_H, pi(z_H)) (average of two random Qs), stopping at predicted
        terminations (sigmoid > 0.5) when episodic, as official. ``discount`` broadcasts to (...)
        (default: the single task's); ``mask`` is the policy's action mask (multitask). MPPI maximises it."""
        c = self.config
        step = self.discount() if discount is None else discount
        value, weight = 0.0, torch.ones((), dtype=z.dtype, device=z.device)
        alive = torch.ones(z.shape[:-1], dtype=z.dtype, device=z.device)
        for action in actions:
            reward = two_hot_inv(self.reward(z, action, emb), c.vmin, c.vmax)
            z = self.next(z, action, emb)
            value = value + weight * alive * reward
            weight = weight * step
            if c.episodic:
                alive = alive * (torch.sigmoid(self.termination(z, emb)) <= 0.5).to(z.dtype)
        action, _ = self.policy(z, emb, generator, mask)
        return value + weight * alive * self.q_value(z, action, emb, kind="avg", generator=generator)

    def plan(self, obs: Tensor, task: Tensor | int | None = None, t0: bool = True, eval_mode: bool = False,
             prev_mean: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        """MPPI planning from observations (B, *obs_shape): actions (B, A) in [-1, 1].

        ``prev_mean`` (B, horizon, A) warm-starts the search when ``t0`` is False (default: the
        mean this model's last plan() call left in ``plan_mean``). Runs in eval mode, no grad; pixels are
        shifted as in every encoder call (official). Leaves the final mean and std in ``plan_mean`` and
        ``plan_std``. With one observation it draws what the official planner draws (same generator state:
        the same samples and final elite), so that its plans match the official ones (benchmarks/PARITY.md).
        """
        return mppi_plan(self, obs, task=task, t0=t0, eval_mode=eval_mode, prev_mean=prev_mean, generator=generator)

    # ------------------------------------------------------------------ training
    def _update_q_scale(self, q: Tensor) -> None:
        """Running scale of Q: EMA (tau) of its 5-95 percentile range, at least 1 (official)."""
        value = percentile_range(q.detach()).clamp(min=1.0).to(self.q_scale.dtype)
        self.q_scale.lerp_(value, self.config.tau)

    def _batch_parts(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor | None]:
        """(obs, action, reward, terminated, task) of a batch, floats in the model's dtype."""
        dtype = self.q_scale.dtype
        action = batch["action"].to(dtype)
        reward = batch["reward"].to(dtype)
        terminated = batch.get("terminated")
        terminated = torch.zeros_like(reward) if terminated is None else terminated.to(dtype).reshape(reward.shape)
        return batch["obs"], action, reward, terminated, batch.get("task")

    def world_model_loss(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """The world-model part of the TD-MPC2 loss: (loss, latents z (H+1, B, D), metrics).

        ``batch``: obs (H+1, B, *obs_shape), action (H, B, A), reward (H, B), optionally terminated
        (H, B; 0/1) and task (B,) when num_tasks > 1. loss = consistency_coef x consistency +
        reward_coef x reward CE + value_coef x TD CE (+ termination_coef x termination BCE when
        episodic; + decoder MSE). The TD targets (online encoder in the mode the model is in, policy,
        target Qs) carry no gradient.
        """
        c = self.config
        obs, action, reward, terminated, task = self._batch_parts(batch)
        horizon = action.shape[0]
        emb = self.embed_task(task, action.device)
        rho = c.rho ** torch.arange(horizon + 1, device=action.device, dtype=reward.dtype)
        with torch.no_grad():
            next_z = self.encode(obs[1:], emb)
            discount = self.discount(task)
            next_action = self.policy(next_z, emb, mask=self.action_mask(task))[0]
            td_target = reward + discount * (1 - terminated) * self.q_value(next_z, next_action, emb, "min",
                                                                           target=True)
        return self._world_loss(obs, action, reward, terminated, emb, next_z, td_target, rho)

    def _world_loss(self, obs, action, reward, terminated, emb, next_z, td_target, rho):
        c = self.config
        zs = [self.encode(obs[0], emb)]
        for t in range(action.shape[0]):
            zs.append(self.next(zs[-1], action[t], emb))
        z = torch.stack(zs)  # (H+1, B, D)
        consistency = ((z[1:] - next_z).pow(2).mean((1, 2)) * rho[:-1]).mean()
        reward_ce = (soft_ce(self.reward(z[:-1], action, emb), reward, c.vmin, c.vmax).mean(1) * rho[:-1]).mean()
        q_logits = self.q_value(z[:-1], action, emb, "all")
        value_ce = (soft_ce(q_logits, td_target, c.vmin, c.vmax).mean((0, 2)) * rho[:-1]).mean()
        world = c.consistency_coef * consistency + c.reward_coef * reward_ce + c.value_coef * value_ce
        metrics = {"consistency_loss": consistency, "reward_loss": reward_ce, "value_loss": value_ce}
        if c.episodic:
            metrics["termination_loss"] = F.binary_cross_entropy_with_logits(self.termination(z[1:], emb), terminated)
            world = world + c.termination_coef * metrics["termination_loss"]
        if hasattr(self, "decoder"):
            recon = (self.decoder(z) - self._obs_target(obs).to(z.dtype)).pow(2).mean((1, 2))
            metrics["decoder_loss"] = (recon * rho).mean()
            world = world + metrics["decoder_loss"]
        metrics["world_model_loss"] = world
        return world, z, metrics

    def policy_loss(self, z: Tensor, task: Tensor | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        """The policy loss over latents z (H+1, B, D) (detached here): (loss, metrics).

        Q weights are detached (the gradient reaches only ``pi``, and the task embedding, whose
        gradient is not cleared, as official); while training it first updates the running Q scale.
        """
        c = self.config
        z = z.detach()
        emb = self.embed_task(task, z.device)
        rho = c.rho ** torch.arange(z.shape[0], device=z.device, dtype=z.dtype)
        pi_action, info = self.policy(z, emb, mask=self.action_mask(task))
        q = self.q_value(z, pi_action, emb, "avg", detach=True)
        if self.training:
            self._update_q_scale(q[0])
        pi_loss = (-(c.entropy_coef * info["scaled_entropy"] + q / self.q_scale).mean(1) * rho).mean()
        return pi_loss, {"pi_loss": pi_loss, "pi_entropy": info["entropy"].mean(),
                         "pi_scaled_entropy": info["scaled_entropy"].mean(), "q_scale": self.q_scale.clone()}

    def loss(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """World-model loss + policy loss on the same (pre-step) weights, for one backward: (total, metrics).

        Not the official update order (``update`` is): kept for gradient checks and DDP benchmarking.
        The policy loss only reaches ``pi`` (and the task embedding); the world-model loss never reaches ``pi``.
        """
        world, z, metrics = self.world_model_loss(batch)
        pi_loss, pi_metrics = self.policy_loss(z, batch.get("task"))
        metrics.update(pi_metrics, loss=world + pi_loss)
        return world + pi_loss, {k: v.detach() for k, v in metrics.items()}

    def update(self, batch: dict[str, Tensor], grad_hook: Callable[[list[nn.Parameter]], None] | None = None
               ) -> dict[str, float]:
        """One official TD-MPC2 training iteration on ``batch`` (see ``world_model_loss``): metrics as floats.

        1. TD targets in eval mode (no grad); 2. world-model loss in train mode, backward, clip the
        world-model gradients to grad_clip, Adam step; 3. policy loss against the already-stepped Qs,
        backward, clip the policy's gradients, Adam step (eps 1e-5); 4. EMA of the target Qs. The task
        embedding keeps the policy's gradient until the next world-model step, as official.

        ``grad_hook``, when given, is called with each optimizer's parameters after its backward and before
        the clipping (data-parallel training all-reduces the gradients there); None changes nothing.
        """
        c = self.config
        if self._optim is None or self._pi_optim is None:
            self.configure_optimizers()
        was_training = self.training
        obs, action, reward, terminated, task = self._batch_parts(batch)
        rho = c.rho ** torch.arange(action.shape[0] + 1, device=action.device, dtype=reward.dtype)
        self.eval()
        with torch.no_grad():
            emb = self.embed_task(task, action.device)
            next_z = self.encode(obs[1:], emb)
            next_action = self.policy(next_z, emb, mask=self.action_mask(task))[0]
            td_target = reward + self.discount(task) * (1 - terminated) * self.q_value(
                next_z, next_action, emb, "min", target=True)
        self.train()
        try:
            emb = self.embed_task(task, action.device)
            world, z, metrics = self._world_loss(obs, action, reward, terminated, emb, next_z, td_target, rho)
            world.backward()
            if grad_hook is not None:
                grad_hook(self.world_model_parameters())
            metrics["grad_norm"] = _clip(self.world_model_parameters(), c.grad_clip)
            self._optim.step()
            self._optim.zero_grad(set_to_none=True)
            pi_loss, pi_metrics = self.policy_loss(z, task)
            pi_loss.backward()
            if grad_hook is not None:
                grad_hook(list(self.pi.parameters()))
            pi_metrics["pi_grad_norm"] = _clip(list(self.pi.parameters()), c.grad_clip)
            self._pi_optim.step()
            self._pi_optim.zero_grad(set_to_none=True)
            self.update_targets()
        finally:
            self.train(was_training)
        metrics.update(pi_metrics)
        return {k: float(v.detach()) if isinstance(v, Tensor) else float(v) for k, v in metrics.items()}

    def _obs_target(self, obs: Tensor) -> Tensor:
        """Decoder targets (T, B, prod(obs_shape)): vectors as given, pixels scaled to [-0.5, 0.5]."""
        x = obs.flatten(2).to(self.q_scale.dtype)
        return x / 255.0 - 0.5 if len(self.config.obs_shape) == 3 else x

    def random_batch(self, batch_size: int, generator: torch.Generator | None = None,
                     device: torch.device | str | None = None) -> dict[str, Tensor]:
        """A random loss batch with horizon = config.horizon (deterministic given ``generator``).

        Vector observations are standard normal, images uint8 pixels; actions uniform in [-1, 1],
        rewards standard normal, tasks uniform ids; episodic models also get ``terminated`` (about 1
        in 10 ones). Floats in the model's dtype, on ``device`` (default: the model's device).
        """
        c = self.config
        param = next(self.parameters())
        device = param.device if device is None else torch.device(device)
        src = generator.device if generator is not None else torch.device("cpu")
        h, b = c.horizon, batch_size
        if len(c.obs_shape) == 3:
            obs = torch.randint(0, 256, (h + 1, b, *c.obs_shape), generator=generator, device=src, dtype=torch.uint8)
        else:
            obs = torch.randn(h + 1, b, *c.obs_shape, generator=generator, device=src).to(param.dtype)
        batch = {"obs": obs,
                 "action": (torch.rand(h, b, c.action_dim, generator=generator, device=src) * 2 - 1).to(param.dtype),
                 "reward": torch.randn(h, b, generator=generator, device=src).to(param.dtype)}
        if c.num_tasks > 1:
            batch["task"] = torch.randint(0, c.num_tasks, (b,), generator=generator, device=src)
        if c.episodic:
            batch["terminated"] = (torch.rand(h, b, generator=generator, device=src) < 0.1).to(param.dtype)
        return {k: v.to(device) for k, v in batch.items()}


def _clip(params: list[nn.Parameter], max_norm: float) -> float:
    """Clip the gradients' total norm to ``max_norm`` (0: no clipping); the norm before clipping."""
    grads = [p for p in params if p.grad is not None]
    if not grads:
        return 0.0
    if not max_norm:
        return float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in grads])))
    return float(torch.nn.utils.clip_grad_norm_(grads, max_norm))


def _action_masks(c: TDMPC2Config) -> Tensor:
    """(num_tasks, action_dim) masks: ones over each task's first task_action_dims[i] dimensions."""
    dims = c.task_action_dims
    if dims is not None and len(dims) != c.num_tasks:
        raise ValueError(f"task_action_dims has {len(dims)} entries but num_tasks = {c.num_tasks}")
    if dims is not None and max(dims) > c.action_dim:
        raise ValueError(f"task_action_dims has {max(dims)} > action_dim = {c.action_dim}")
    masks = torch.zeros(c.num_tasks, c.action_dim)
    for i, n in enumerate(dims or [c.action_dim] * c.num_tasks):
        masks[i, :n] = 1.0
    return masks


__all__ = ["TDMPC2", "QEnsemble", "SimNorm", "symexp", "symlog", "soft_ce", "two_hot", "two_hot_inv"]
