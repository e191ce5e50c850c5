"""TD-MPC2 (Hansen, Su & Wang, ICLR 2024) in PyTorch, faithful to the paper and the official code.

An implicit, decoder-free world model: an encoder to a SimNorm latent, MLP dynamics, a two-hot
reward head, an ensemble of two-hot Q functions with an EMA target copy, and a tanh-Gaussian
policy prior, trained with the TD-MPC2 loss and planned with MPPI (tdmpc2_plan.py).

Every MLP layer is Linear -> LayerNorm -> Mish (the latent outputs end in LayerNorm -> SimNorm
instead); reward and Q heads end in a plain Linear to ``num_bins`` logits, zero-initialised.
Components take the task embedding ``emb`` (``embed_task(task)``; None for a single task), which
is concatenated to their inputs as in the official code. Tensors are time-major: (T, B, ...).

Example::

    model = TDMPC2(TDMPC2Config.from_size("5m", obs_shape=(39,), action_dim=6))
    batch = model.random_batch(256, generator=torch.Generator().manual_seed(0))
    loss, metrics = model.loss(batch)
    loss.backward(); optim.step(); model.update_targets()
    action = model.eval().plan(obs, eval_mode=True)
"""

from __future__ import annotations

import copy
import itertools
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from worldflux_cli.config.tdmpc2 import TDMPC2Config
from worldflux_cli.models.math import symexp, symlog

#: Bounds of the policy prior's log standard deviation (official log_std_min / log_std_max).
LOG_STD_MIN, LOG_STD_MAX = -10.0, 2.0
#: Learning-rate scale of the encoder in the official optimizer (enc_lr_scale).
ENC_LR_SCALE = 0.3
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


# ---------------------------------------------------------------------------------------- math
def two_hot(x: Tensor, num_bins: int, vmin: float, vmax: float) -> Tensor:
    """Soft two-hot targets (..., num_bins) of scalars ``x`` (...), in float32.

    The bins are evenly spaced in symlog space from ``vmin`` to ``vmax``; symlog(x) is clamped
    to that range and split between its two neighbouring bins in proportion to its distance.
    """
    pos = (symlog(x.float()).clamp(vmin, vmax) - vmin) * ((num_bins - 1) / (vmax - vmin))
    low = pos.floor().clamp(max=num_bins - 2)
    high_weight = (pos - low).unsqueeze(-1)
    low = low.long().unsqueeze(-1)
    out = torch.zeros(*x.shape, num_bins, device=x.device)
    return out.scatter_(-1, low, 1 - high_weight).scatter_(-1, low + 1, high_weight)


def two_hot_inv(logits: Tensor, vmin: float, vmax: float) -> Tensor:
    """The scalar (...) that logits (..., num_bins) predict: symexp of the expected bin, float32."""
    bins = torch.linspace(vmin, vmax, logits.shape[-1], device=logits.device)
    return symexp(logits.float().softmax(-1) @ bins)


def soft_ce(logits: Tensor, target: Tensor, vmin: float, vmax: float) -> Tensor:
    """Cross-entropy (...) of logits (..., num_bins) against two-hot targets of scalars (...)."""
    log_probs = logits.float().log_softmax(-1)
    return -(two_hot(target, logits.shape[-1], vmin, vmax) * log_probs).sum(-1)


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


class MLPEncoder(nn.Module):
    """Vector observations (+ task embedding) -> (num_layers - 1) normed layers -> SimNorm latent."""

    def __init__(self, in_dim: int, width: int, num_layers: int, latent_dim: int, simnorm_dim: int):
        super().__init__()
        self.net = mlp(in_dim, [width] * (num_layers - 1), latent_dim, SimNorm(simnorm_dim))

    def forward(self, obs: Tensor, emb: Tensor | None = None) -> Tensor:
        return self.net(_cat(obs.to(self.net[0].weight.dtype), emb))


class ConvEncoder(nn.Module):
    """(C, H, W) pixels in [0, 255] -> CNN with total stride 8 -> Linear -> SimNorm latent.

    The official kernels (7, 5, 3, 3; strides 2, 2, 2, 1; ReLU), padded so that any H, W divisible
    by 8 fits, then a Linear from the flattened features (+ task embedding) to the latent. While
    training, observations get the official random-shift augmentation (pad = size // 21).
    """

    def __init__(self, obs_shape: tuple[int, ...], channels: int, latent_dim: int, simnorm_dim: int,
                 task_dim: int = 0):
        super().__init__()
        c, h, w = obs_shape
        self.convs = nn.Sequential(
            nn.Conv2d(c, channels, 7, stride=2, padding=3), nn.ReLU(),
            nn.Conv2d(channels, channels, 5, stride=2, padding=2), nn.ReLU(),
            nn.Conv2d(channels, channels, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(channels, channels, 3, stride=1, padding=1), nn.Flatten())
        self.proj = nn.Linear(channels * (h // 8) * (w // 8) + task_dim, latent_dim)
        self.simnorm = SimNorm(simnorm_dim)
        self.shift_pad = min(h, w) // 21

    def forward(self, obs: Tensor, emb: Tensor | None = None) -> Tensor:
        lead = obs.shape[:-3]
        x = obs.reshape(-1, *obs.shape[-3:]).to(self.proj.weight.dtype) / 255.0 - 0.5
        if self.training and self.shift_pad:
            x = random_shift(x, self.shift_pad)
        x = self.convs(x).view(*lead, -1)
        return self.simnorm(self.proj(_cat(x, emb)))


def random_shift(x: Tensor, pad: int) -> Tensor:
    """Shift each image by a random whole number of pixels in [-pad, pad] (replicate padding)."""
    n, _, h, w = x.shape
    x = F.pad(x, (pad,) * 4, mode="replicate")
    shift = torch.randint(0, 2 * pad + 1, (2, n, 1), device=x.device)
    rows = (shift[0] + torch.arange(h, device=x.device))[:, :, None]
    cols = (shift[1] + torch.arange(w, device=x.device))[:, None, :]
    return x.permute(0, 2, 3, 1)[torch.arange(n, device=x.device)[:, None, None], rows, cols].permute(0, 3, 1, 2)


def randn(shape: tuple[int, ...] | torch.Size, generator: torch.Generator | None, device: torch.device | str
          ) -> Tensor:
    """Standard normal float32 noise on ``device``, drawn from ``generator`` (on its own device) if given."""
    if generator is None:
        return torch.randn(shape, device=device)
    return torch.randn(shape, generator=generator, device=generator.device).to(device)


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
    num_tasks > 1, ``decoder`` when use_decoder. The buffer ``q_scale`` is the running Q scale
    of the policy loss.
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
            self.encoder = MLPEncoder(math.prod(c.obs_shape) + t, c.encoder_dim, c.num_encoder_layers, d,
                                      c.simnorm_dim)
        self.dynamics = mlp(d + t + a, [hd] * layers, d, SimNorm(c.simnorm_dim))
        self.reward_head = mlp(d + t + a, [hd] * layers, c.num_bins)
        self.pi = mlp(d + t, [hd] * layers, 2 * a)
        self.qs = QEnsemble(c.num_q_networks, d + t + a, hd, layers, c.num_bins, c.dropout)
        if c.use_decoder:
            self.decoder = mlp(d, [c.encoder_dim] * (c.num_encoder_layers - 1), math.prod(c.obs_shape))
        for module in (getattr(self, "task_emb", None), self.encoder, self.dynamics, self.reward_head, self.pi,
                       getattr(self, "decoder", None)):
            if module is not None:
                module.apply(_init_weights)
        nn.init.zeros_(self.reward_head[-1].weight)
        self.target_qs = copy.deepcopy(self.qs).requires_grad_(False).train(False)
        self.register_buffer("q_scale", torch.ones(()))
        self.plan_mean: Tensor | None = None  # MPPI mean of the last plan() call (B, horizon, A)

    # ------------------------------------------------------------------ bookkeeping
    def train(self, mode: bool = True) -> TDMPC2:
        super().train(mode)
        self.target_qs.train(False)  # as official: no dropout in the targets
        return self

    def _parts(self) -> dict[str, nn.Module]:
        parts = {"encoder": self.encoder, "dynamics": self.dynamics, "reward": self.reward_head,
                 "policy": self.pi, "q_ensemble": self.qs}
        if hasattr(self, "task_emb"):
            parts["task_embedding"] = self.task_emb
        if hasattr(self, "decoder"):
            parts["decoder"] = self.decoder
        return parts

    def component_params(self) -> dict[str, int]:
        """Trainable parameters per component (equals worldflux_cli.params.tdmpc2.count)."""
        return {name: sum(p.numel() for p in m.parameters() if p.requires_grad) for name, m in self._parts().items()}

    def frozen_params(self) -> dict[str, int]:
        """Parameters that are not trained by gradient: the EMA target Q ensemble."""
        return {"target_qs": sum(p.numel() for p in self.target_qs.parameters())}

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    def optimizer_param_groups(self, lr: float | None = None) -> list[dict]:
        """Adam parameter groups as in the official agent: encoder at lr x 0.3, policy with eps 1e-5."""
        lr = self.config.learning_rate if lr is None else lr
        parts = self._parts()
        rest = [p for name, m in parts.items() if name not in ("encoder", "policy") for p in m.parameters()]
        return [{"params": list(self.encoder.parameters()), "lr": lr * ENC_LR_SCALE},
                {"params": rest, "lr": lr},
                {"params": list(self.pi.parameters()), "lr": lr, "eps": 1e-5}]

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

    def encode(self, obs: Tensor, emb: Tensor | None = None) -> Tensor:
        return self.encoder(obs, emb)

    def next(self, z: Tensor, action: Tensor, emb: Tensor | None = None) -> Tensor:
        return self.dynamics(torch.cat([_cat(z, emb), action.to(z.dtype)], -1))

    def reward(self, z: Tensor, action: Tensor, emb: Tensor | None = None) -> Tensor:
        """Reward logits (..., num_bins); ``two_hot_inv`` gives the reward."""
        return self.reward_head(torch.cat([_cat(z, emb), action.to(z.dtype)], -1))

    def policy(self, z: Tensor, emb: Tensor | None = None, generator: torch.Generator | None = None
               ) -> tuple[Tensor, dict[str, Tensor]]:
        """A tanh-squashed Gaussian action sample (..., A) and its statistics (float32)."""
        mean, log_std = self.pi(_cat(z, emb)).float().chunk(2, -1)
        log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (torch.tanh(log_std) + 1)
        eps = randn(mean.shape, generator, mean.device)
        log_prob = (-0.5 * eps.pow(2) - log_std - _HALF_LOG_2PI).sum(-1)
        scaled_log_prob = log_prob * mean.shape[-1]
        action = torch.tanh(mean + eps * log_std.exp())
        log_prob = log_prob - torch.log(F.relu(1 - action.pow(2)) + 1e-6).sum(-1)
        info = {"mean": torch.tanh(mean), "log_std": log_std, "entropy": -log_prob,
                "scaled_entropy": -log_prob * (scaled_log_prob / (log_prob + 1e-8))}
        return action.to(z.dtype), info

    def q_value(self, z: Tensor, action: Tensor, emb: Tensor | None = None, kind: str = "avg",
                target: bool = False, detach: bool = False, generator: torch.Generator | None = None) -> Tensor:
        """Q logits of every member (E, ..., num_bins) for kind 'all'; else the min or the average
        of two random members' values (..., float32), as official."""
        net = self.target_qs if target else self.qs
        x = torch.cat([_cat(z, emb), action.to(z.dtype)], -1)
        if kind == "all":
            return net(x, detach=detach)
        src = generator.device if generator is not None else "cpu"
        pair = torch.randperm(self.config.num_q_networks, generator=generator, device=src)[:2].to(z.device)
        q = two_hot_inv(net(x, members=pair, detach=detach), self.config.vmin, self.config.vmax)
        return q.min(0).values if kind == "min" else q.mean(0)

    def estimate_value(self, z: Tensor, actions: Tensor, emb: Tensor | None = None,
                       generator: torch.Generator | None = None) -> Tensor:
        """Value (...) of action sequences (H, ..., A) from latents (..., D): discounted predicted
        rewards plus discount^H x Q(z_H, pi(z_H)) (average of two random Qs). MPPI maximises it."""
        c = self.config
        value, discount = 0.0, 1.0
        for action in actions:
            value = value + discount * two_hot_inv(self.reward(z, action, emb), c.vmin, c.vmax)
            z = self.next(z, action, emb)
            discount *= c.discount
        action, _ = self.policy(z, emb, generator)
        return value + discount * self.q_value(z, action, emb, kind="avg", generator=generator)

    def plan(self, obs: Tensor, task: Tensor | int | None = None, t0: bool = True, eval_mode: bool = False,
             prev_mean: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        """MPPI planning from observations (B, *obs_shape): actions (B, A) in [-1, 1].

        ``prev_mean`` (B, horizon, A) warm-starts the search when ``t0`` is False (default: the
        mean this model's last plan() call left in ``plan_mean``). Runs in eval mode, no grad.
        """
        from worldflux_cli.models.tdmpc2_plan import mppi_plan

        return mppi_plan(self, obs, task=task, t0=t0, eval_mode=eval_mode, prev_mean=prev_mean, generator=generator)

    # ------------------------------------------------------------------ training
    def _update_q_scale(self, q: Tensor) -> None:
        """Running scale of Q: EMA (tau) of its 5-95 percentile range, at least 1 (official)."""
        qs = q.detach().float().flatten()
        lo, hi = torch.quantile(qs, torch.tensor([0.05, 0.95], device=qs.device))
        new = self.q_scale.float().lerp((hi - lo).clamp(min=1.0), self.config.tau)
        self.q_scale.copy_(new)

    def loss(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """The TD-MPC2 loss of one batch: (total, metrics).

        ``batch``: obs (H+1, B, *obs_shape), action (H, B, A), reward (H, B), task (B,) when
        num_tasks > 1. total = consistency_coef x consistency + reward_coef x reward CE +
        value_coef x TD CE (+ decoder MSE) + policy loss; the policy loss only reaches ``pi``
        (latents, task embeddings and Q weights are detached there) and the others never reach
        ``pi``, so one backward gives both of the official updates' gradients. While training it also updates
        the running Q scale. Metrics are detached scalar tensors. Call update_targets() after
        the optimizer step.
        """
        c = self.config
        action = batch["action"]
        obs, reward = batch["obs"], batch["reward"].float()
        horizon = action.shape[0]
        emb = self.embed_task(batch.get("task"), action.device)
        rho = c.rho ** torch.arange(horizon + 1, device=action.device, dtype=torch.float32)

        with torch.no_grad():  # TD targets from the online encoder, the policy and the target Qs
            next_z = self.encode(obs[1:], emb)
            td_target = reward + c.discount * self.q_value(next_z, self.policy(next_z, emb)[0], emb, "min",
                                                           target=True)

        zs = [self.encode(obs[0], emb)]
        for t in range(horizon):
            zs.append(self.next(zs[-1], action[t], emb))
        z = torch.stack(zs)  # (H+1, B, D)

        consistency = ((z[1:] - next_z).float().pow(2).mean((1, 2)) * rho[:-1]).mean()
        reward_ce = (soft_ce(self.reward(z[:-1], action, emb), reward, c.vmin, c.vmax).mean(1) * rho[:-1]).mean()
        q_logits = self.q_value(z[:-1], action, emb, "all")
        value_ce = (soft_ce(q_logits, td_target, c.vmin, c.vmax).mean((0, 2)) * rho[:-1]).mean()
        world = c.consistency_coef * consistency + c.reward_coef * reward_ce + c.value_coef * value_ce
        metrics = {"consistency_loss": consistency, "reward_loss": reward_ce, "value_loss": value_ce}
        if hasattr(self, "decoder"):
            recon = (self.decoder(z).float() - self._obs_target(obs)).pow(2).mean((1, 2))
            metrics["decoder_loss"] = (recon * rho).mean()
            world = world + metrics["decoder_loss"]

        zd, embd = z.detach(), None if emb is None else emb.detach()
        pi_action, info = self.policy(zd, embd)
        q = self.q_value(zd, pi_action, embd, "avg", detach=True)
        if self.training:
            self._update_q_scale(q[0])
        pi_loss = (-(c.entropy_coef * info["scaled_entropy"] + q / self.q_scale.float()).mean(1) * rho).mean()

        total = world + pi_loss
        metrics.update(world_model_loss=world, pi_loss=pi_loss, pi_entropy=info["entropy"].mean(),
                       q_scale=self.q_scale.float(), loss=total)
        return total, {k: v.detach() for k, v in metrics.items()}

    def _obs_target(self, obs: Tensor) -> Tensor:
        """Decoder targets (T, B, prod(obs_shape)): vectors as given, pixels scaled to [-0.5, 0.5]."""
        x = obs.flatten(2).float()
        return x / 255.0 - 0.5 if len(self.config.obs_shape) == 3 else x

    def random_batch(self, batch_size: int, generator: torch.Generator | None = None,
                     device: torch.device | str | None = None) -> dict[str, Tensor]:
        """A random loss batch with horizon = config.horizon (deterministic given ``generator``).

        Vector observations are standard normal, images uint8 pixels; actions uniform in [-1, 1],
        rewards standard normal, tasks uniform ids. Floats in the model's dtype, on ``device``
        (default: the model's device).
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
        return {k: v.to(device) for k, v in batch.items()}


__all__ = ["TDMPC2", "QEnsemble", "SimNorm", "symexp", "symlog", "soft_ce", "two_hot", "two_hot_inv"]
