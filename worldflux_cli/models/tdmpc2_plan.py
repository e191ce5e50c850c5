"""MPPI planning for TD-MPC2, batched over observations (the official planner plans one at a time).

Per observation: ``num_pi_trajs`` action sequences come from rolling out the policy prior in
the latent dynamics; the other ``num_samples - num_pi_trajs`` are drawn from a Gaussian
(mean, std) over the horizon, clamped to [-1, 1]. Each of ``iterations`` rounds scores all
sequences with ``model.estimate_value``, keeps the ``num_elites`` best, weights them by
softmax(temperature x value) and refits the Gaussian: mean <- momentum x mean + (1 - momentum) x
elite mean, std <- elite std clamped to [min_std, max_std]. The action is the first step of an
elite drawn by its weight, plus std noise unless ``eval_mode``.

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
    ``embed_task``, ``encode``, ``policy``, ``next``, ``estimate_value`` and ``plan_mean``. It takes the
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
    z = model.encode(obs, emb)  # (B, D)
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
        score = torch.softmax(c.temperature * elite_value, dim=1)  # exp(T (v - max)) / sum, as official
        elite_mean = torch.einsum("bk,hbka->bha", score, elites)
        elite_std = torch.einsum("bk,hbka->bha", score, (elites - elite_mean.transpose(0, 1).unsqueeze(2)) ** 2).sqrt()
        mean = c.momentum * mean + (1 - c.momentum) * elite_mean
        std = elite_std.clamp(c.min_std, c.max_std)
        if mask is not None:
            mean, std = mean * mask, std * mask

    if generator is None:
        pick = torch.multinomial(score, 1)
    else:
        pick = torch.multinomial(score.to(generator.device), 1, generator=generator).to(dev)
    action = elites[0].gather(1, pick[:, :, None].expand(b, 1, a_dim)).squeeze(1)  # (B, A)
    if not eval_mode:
        action = action + std[:, 0] * randn((b, a_dim), generator, dev).to(dtype)
    model.plan_mean = mean
    return action.clamp(-1, 1)
