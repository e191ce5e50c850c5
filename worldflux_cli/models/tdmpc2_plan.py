"""MPPI planning for TD-MPC2, batched over observations (the official planner plans one at a time).

Per observation: ``num_pi_trajs`` action sequences come from rolling out the policy prior in
the latent dynamics; the other ``num_samples - num_pi_trajs`` are drawn from a Gaussian
(mean, std) over the horizon, clamped to [-1, 1]. Each of ``iterations`` rounds scores all
sequences with ``model.estimate_value``, keeps the ``num_elites`` best, weights them by
exp(temperature x (value - max value)), normalised, and refits the Gaussian: mean <- momentum x mean +
(1 - momentum) x elite mean, std <- elite std clamped to [min_std, max_std], the elite mean and std
divided by (sum of weights + 1e-9) as official. The action is the first step of an elite drawn by its
weight with the Gumbel-max trick (argmax of log weight - log E, E ~ Exp(1): the official
gumbel_softmax_sample, so that one observation draws what the official planner draws), plus std noise
unless ``eval_mode``. The observation is encoded as the model encodes (pixels: the random shift, as official).

As official: ``iterations`` + 2 rounds when action_dim >= 20 (``config.planning_iterations``); no momentum
by default; in multitask models each task's action mask zeroes the unused dimensions of the samples,
the mean and the std, and each task's discount weighs its rewards. Computations follow z's dtype.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from worldflux_cli.models.noise import randn


@torch.no_grad()
def mppi_plan(model: nn.Module, obs: Tensor, task: Tensor | int | None = None, t0: bool = True,
              eval_mode: bool = False, prev_mean: Tensor | None = None,
              generator: torch.Generator | None = None) -> Tensor:
    """Actions (B, A) in [-1, 1] for observations (B, *obs_shape); see the module docstring.

    ``model`` is a TDMPC2 (models/tdmpc2.py, whose ``plan`` calls this); the planner uses its ``config``,
    ``embed_task``, ``encode``, ``policy``, ``next``, ``estimate_value`` and ``plan_mean``, and leaves the mean
    and std after the iterations (B, horizon, A) in ``model.plan_mean`` and ``model.plan_std``. It takes the
    model as an argument and does not import its module, so that the two modules import in one direction.
    """
    was_training = model.training
    model.eval()
    try:
        return _plan(model, obs, task, t0, eval_mode, prev_mean, generator)
    finally:
        model.train(was_training)


def _plan(model: nn.Module, obs: Tensor, task: Tensor | int | None, t0: bool, eval_mode: bool,
          prev_mean: Tensor | None, generator: torch.Generator | None) -> Tensor:
    c = model.config
    horizon, n, n_pi, a_dim = c.horizon, c.num_samples, min(c.num_pi_trajs, c.num_samples), c.action_dim
    n_elite = min(c.num_elites, n)
    emb = model.embed_task(task, obs.device)
    z = model.encode(obs, emb, generator)  # (B, D); pixels: the random shift, in eval mode too (official)
    b, dev, dtype = z.shape[0], z.device, z.dtype
    mask = model.action_mask(task)  # None, (A,) or (B, A)
    discount = model.discount(task)  # () or (B,)
    if discount.dim() == 1:
        discount = discount.unsqueeze(1)  # (B, 1): broadcast over the samples
    if emb is not None and emb.dim() == 2:
        emb = emb.unsqueeze(1)  # (B, 1, task_dim): broadcast over the samples
    if mask is not None:
        mask = mask.reshape(-1, 1, a_dim).to(dtype)  # (B or 1, 1, A)

    pi_actions = []  # policy-prior trajectories, fixed across iterations (official)
    if n_pi:
        zp = z.unsqueeze(1).expand(b, n_pi, z.shape[-1])
        for t in range(horizon):
            action, _ = model.policy(zp, emb, generator, mask)
            pi_actions.append(action)
            if t < horizon - 1:
                zp = model.next(zp, action, emb)
    pi_actions_t = torch.stack(pi_actions) if n_pi else torch.empty(horizon, b, 0, a_dim, device=dev, dtype=dtype)

    mean = torch.zeros(b, horizon, a_dim, device=dev, dtype=dtype)
    std = torch.full((b, horizon, a_dim), c.max_std, device=dev, dtype=dtype)
    if prev_mean is None and model.plan_mean is not None and model.plan_mean.shape == mean.shape:
        prev_mean = model.plan_mean
    if not t0 and prev_mean is not None:
        mean[:, :-1] = prev_mean[:, 1:].to(dev, dtype)

    zs = z.unsqueeze(1).expand(b, n, z.shape[-1])
    for _ in range(c.planning_iterations):
        noise = randn((horizon, b, n - n_pi, a_dim), generator, dev).to(dtype)
        sampled = (mean.transpose(0, 1).unsqueeze(2) + std.transpose(0, 1).unsqueeze(2) * noise).clamp(-1, 1)
        actions = torch.cat([pi_actions_t, sampled], 2)  # (H, B, N, A)
        if mask is not None:
            actions = actions * mask
        value = model.estimate_value(zs, actions, emb, generator, discount=discount, mask=mask).nan_to_num(0)
        elite_value, elite_idx = torch.topk(value, n_elite, dim=1)
        elites = actions.gather(2, elite_idx[None, :, :, None].expand(horizon, b, n_elite, a_dim))
        score = torch.exp(c.temperature * (elite_value - elite_value.max(1, keepdim=True).values))
        score = score / score.sum(1, keepdim=True)  # (B, K)
        weight = score[None, :, :, None]  # (1, B, K, 1): sums over the elites as the official planner sums
        total = score.sum(1)[:, None, None] + 1e-9  # (B, 1, 1): the official divisor (1 + 1e-9 in float64)
        elite_mean = (weight * elites).sum(2).transpose(0, 1) / total  # (B, H, A)
        elite_std = ((weight * (elites - elite_mean.transpose(0, 1).unsqueeze(2)) ** 2).sum(2).transpose(0, 1)
                     / total).sqrt()
        mean = c.momentum * mean + (1 - c.momentum) * elite_mean
        std = elite_std.clamp(c.min_std, c.max_std)
        if mask is not None:
            mean, std = mean * mask, std * mask

    pick = gumbel_max(score, generator)  # (B,)
    action = elites[0, torch.arange(b, device=dev), pick]  # (B, A)
    if not eval_mode:
        action = action + std[:, 0] * randn((b, a_dim), generator, dev).to(dtype)
    model.plan_mean, model.plan_std = mean, std
    return action.clamp(-1, 1)


def gumbel_max(p: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Indices (B,) drawn from the categorical distributions p (B, K) by the Gumbel-max trick, as the official
    ``gumbel_softmax_sample`` draws them (temperature 1): argmax over K of softmax(log p - log E), E ~ Exp(1)
    drawn with ``exponential_`` (so one row consumes a generator as the official K draws do)."""
    if generator is None:
        e = torch.empty(p.shape, device=p.device, dtype=p.dtype).exponential_()
    else:
        e = torch.empty(p.shape, device=generator.device, dtype=p.dtype).exponential_(generator=generator).to(p.device)
    return (p.log() - e.log()).softmax(-1).argmax(-1)
