"""MPPI planning for TD-MPC2, batched over observations (the official planner plans one at a time).

Per observation: ``num_pi_trajs`` action sequences come from rolling out the policy prior in
the latent dynamics; the other ``num_samples - num_pi_trajs`` are drawn from a Gaussian
(mean, std) over the horizon, clamped to [-1, 1]. Each of ``iterations`` rounds scores all
sequences with ``model.estimate_value``, keeps the ``num_elites`` best, weights them by
softmax(temperature x value) and refits the Gaussian: mean <- momentum x mean + (1 - momentum) x
elite mean, std <- elite std clamped to [min_std, max_std]. The action is the first step of an
elite drawn by its weight, plus std noise unless ``eval_mode``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from worldflux_cli.models.tdmpc2 import TDMPC2, randn


@torch.no_grad()
def mppi_plan(model: TDMPC2, obs: Tensor, task: Tensor | int | None = None, t0: bool = True,
              eval_mode: bool = False, prev_mean: Tensor | None = None,
              generator: torch.Generator | None = None) -> Tensor:
    """Actions (B, A) in [-1, 1] for observations (B, *obs_shape); see the module docstring."""
    was_training = model.training
    model.eval()
    try:
        return _plan(model, obs, task, t0, eval_mode, prev_mean, generator)
    finally:
        model.train(was_training)


def _plan(model: TDMPC2, obs: Tensor, task: Tensor | int | None, t0: bool, eval_mode: bool,
          prev_mean: Tensor | None, generator: torch.Generator | None) -> Tensor:
    c = model.config
    horizon, n, n_pi, a_dim = c.horizon, c.num_samples, min(c.num_pi_trajs, c.num_samples), c.action_dim
    n_elite = min(c.num_elites, n)
    emb = model.embed_task(task, obs.device)
    z = model.encode(obs, emb)  # (B, D)
    b, dev = z.shape[0], z.device
    if emb is not None and emb.dim() == 2:
        emb = emb.unsqueeze(1)  # (B, 1, task_dim): broadcast over the samples

    pi_actions = []  # policy-prior trajectories, fixed across iterations (official)
    if n_pi:
        zp = z.unsqueeze(1).expand(b, n_pi, z.shape[-1])
        for t in range(horizon):
            action, _ = model.policy(zp, emb, generator)
            pi_actions.append(action.float())
            if t < horizon - 1:
                zp = model.next(zp, action, emb)
    pi_actions_t = torch.stack(pi_actions) if n_pi else torch.empty(horizon, b, 0, a_dim, device=dev)

    mean = torch.zeros(b, horizon, a_dim, device=dev)
    std = torch.full((b, horizon, a_dim), c.max_std, device=dev)
    if prev_mean is None and model.plan_mean is not None and model.plan_mean.shape == mean.shape:
        prev_mean = model.plan_mean
    if not t0 and prev_mean is not None:
        mean[:, :-1] = prev_mean[:, 1:].to(dev, torch.float32)

    zs = z.unsqueeze(1).expand(b, n, z.shape[-1])
    for _ in range(c.iterations):
        noise = randn((horizon, b, n - n_pi, a_dim), generator, dev)
        sampled = (mean.transpose(0, 1).unsqueeze(2) + std.transpose(0, 1).unsqueeze(2) * noise).clamp(-1, 1)
        actions = torch.cat([pi_actions_t, sampled], 2)  # (H, B, N, A)
        value = model.estimate_value(zs, actions.to(z.dtype), emb, generator).float().nan_to_num(0)  # (B, N)
        elite_value, elite_idx = torch.topk(value, n_elite, dim=1)
        elites = actions.gather(2, elite_idx[None, :, :, None].expand(horizon, b, n_elite, a_dim))
        score = torch.softmax(c.temperature * elite_value, dim=1)  # exp(T (v - max)) / sum, as official
        elite_mean = torch.einsum("bk,hbka->bha", score, elites)
        elite_std = torch.einsum("bk,hbka->bha", score, (elites - elite_mean.transpose(0, 1).unsqueeze(2)) ** 2).sqrt()
        mean = c.momentum * mean + (1 - c.momentum) * elite_mean
        std = elite_std.clamp(c.min_std, c.max_std)

    if generator is None:
        pick = torch.multinomial(score, 1)
    else:
        pick = torch.multinomial(score.to(generator.device), 1, generator=generator).to(dev)
    action = elites[0].gather(1, pick[:, :, None].expand(b, 1, a_dim)).squeeze(1)  # (B, A)
    if not eval_mode:
        action = action + std[:, 0] * randn((b, a_dim), generator, dev)
    model.plan_mean = mean
    return action.clamp(-1, 1).to(z.dtype)
