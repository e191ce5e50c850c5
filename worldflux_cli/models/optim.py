"""The official DreamerV3 optimizer (imports torch): adaptive gradient clipping, then LaProp, with warm-up.

One update of a tensor ``p`` with gradient ``g`` at update number ``t`` (1, 2, ...), as the official
chain ``clip_by_agc(clip) -> scale_by_rms(beta2, eps) -> scale_by_momentum(beta1) -> learning rate``
(danijar/dreamerv3 embodied/jax/opt.py, agent.py ``_make_opt``)::

    g   <- g / max(1, |g| / (clip * max(pmin, |p|)))      adaptive clipping, per tensor (skipped if clip = 0)
    nu  <- beta2 * nu + (1 - beta2) * g^2
    u   <- g / (sqrt(nu / (1 - beta2^t)) + eps)            LaProp: normalise first ...
    mu  <- beta1 * mu + (1 - beta1) * u                    ... then take momentum
    p   <- p - lr * min(1, (t - 1) / warmup) * mu / (1 - beta1^t)

The learning rate rises linearly from 0 over ``warmup`` updates (the first update has rate 0, as
optax's schedule reads its count before incrementing it). ``|.|`` is the L2 norm of the whole tensor.
State (``step``, ``nu``, ``mu``) is float32 whatever the parameter's dtype; every group may set its own
``lr``, ``clip`` and ``eps``.

The clipping is the only step that is not elementwise: it measures whole tensors. Where a model keeps one
official tensor as several of its own (DreamerV3's core hidden layer as three, the posterior layer as two)
or several official tensors as one (the continuous actor's mean and stddev layers), ``agc_units`` names the
official tensors as lists of pieces ``(parameter, rows)`` (``rows`` a slice of the first axis, or None for
the whole parameter): the norms are then taken over each unit, exactly as the official optimizer takes them.
A parameter in no unit is a unit of its own.
"""

from __future__ import annotations

import torch
from torch import Tensor

#: Smallest parameter norm the adaptive clipping measures against (official pmin).
AGC_PMIN = 1e-3


def warmup_factor(step: int, warmup: int) -> float:
    """The learning rate's multiplier at update ``step`` (1-based): min(1, (step - 1) / warmup), 1 without warm-up."""
    return 1.0 if warmup <= 0 else min(1.0, (step - 1) / warmup)


def agc_factor(grad_norm: Tensor, param_norm: Tensor, clip: float, pmin: float = AGC_PMIN) -> Tensor:
    """The factor 1 / max(1, |g| / (clip * max(pmin, |p|))) from the two norms."""
    return 1.0 / torch.clamp(grad_norm / (clip * torch.clamp(param_norm, min=pmin)), min=1.0)


def agc_scale(grad: Tensor, param: Tensor, clip: float, pmin: float = AGC_PMIN) -> Tensor:
    """The factor that adaptive clipping multiplies ``grad`` by (``agc_factor`` of the two whole tensors)."""
    return agc_factor(torch.linalg.vector_norm(grad.float()), torch.linalg.vector_norm(param.float()), clip, pmin)


class LaProp(torch.optim.Optimizer):
    """LaProp with per-tensor adaptive gradient clipping and a linear warm-up (see the module docstring).

    Args:
        params: Parameters or param groups (a group may set ``lr``, ``clip``, ``eps``).
        lr: Learning rate after warm-up.
        betas: (beta1, beta2): momentum and second-moment decay (official 0.9, 0.999).
        eps: Added to the root of the second moment (official 1e-20).
        clip: Adaptive clipping threshold (official 0.3; 0 disables).
        warmup: Updates over which the rate rises from 0 (official 1000; 0: none).
        agc_units: The tensors the clipping measures, where they are not the parameters: lists of pieces
            ``(parameter, rows)`` (see the module docstring). Every piece of a unit must be in groups with
            the same ``clip``.
    """

    def __init__(self, params, lr: float = 4e-5, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-20,
                 clip: float = 0.3, warmup: int = 1000, agc_units: list[list[tuple[Tensor, slice | None]]] | None = None
                 ) -> None:
        if lr < 0 or eps < 0 or clip < 0 or warmup < 0 or not all(0 <= b < 1 for b in betas):
            raise ValueError(f"invalid LaProp settings: lr={lr}, betas={betas}, eps={eps}, clip={clip}, "
                             f"warmup={warmup}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, clip=clip, warmup=int(warmup)))
        self.agc_units = [list(unit) for unit in agc_units or []]
        clips = {id(p): group["clip"] for group in self.param_groups for p in group["params"]}
        seen: set[tuple[int, int | None, int | None]] = set()
        for unit in self.agc_units:
            if not unit or any(id(p) not in clips for p, _ in unit):
                raise ValueError("agc_units: every piece must be a parameter of this optimizer")
            if len({clips[id(p)] for p, _ in unit}) > 1:
                raise ValueError("agc_units: the pieces of one unit are in groups with different clip values")
            for p, rows in unit:
                key = (id(p), None if rows is None else rows.start, None if rows is None else rows.stop)
                if key in seen:
                    raise ValueError("agc_units: a piece is in two units")
                seen.add(key)

    @torch.no_grad()
    def _clip_factors(self, grads: dict[int, Tensor]) -> dict[int, list[tuple[slice | None, Tensor]]]:
        """For each parameter (by id) with a gradient: [(rows, factor)] of its units (rows None: the whole)."""
        params = {id(p): p for group in self.param_groups for p in group["params"]}
        clips = {id(p): group["clip"] for group in self.param_groups for p in group["params"]}
        out: dict[int, list[tuple[slice | None, Tensor]]] = {}
        covered = set()
        units = [u for u in self.agc_units if all(id(p) in grads for p, _ in u)]
        for unit in units:
            covered.update(id(p) for p, _ in unit)
        units += [[(params[i], None)] for i in grads if i not in covered]
        for unit in units:
            clip = clips[id(unit[0][0])]
            if not clip:
                continue
            if len(unit) == 1 and unit[0][1] is None:  # a whole parameter: its own norms
                factor = agc_scale(grads[id(unit[0][0])], unit[0][0], clip)
            else:  # the norm of the official tensor the pieces make up
                gsq = sum(torch.linalg.vector_norm(grads[id(p)] if rows is None else grads[id(p)][rows]).square()
                          for p, rows in unit)
                psq = sum(torch.linalg.vector_norm((p if rows is None else p[rows]).float()).square()
                          for p, rows in unit)
                factor = agc_factor(gsq.sqrt(), psq.sqrt(), clip)
            for p, rows in unit:
                out.setdefault(id(p), []).append((rows, factor))
        return out

    @torch.no_grad()
    def step(self, closure=None):  # noqa: D102 (torch.optim.Optimizer.step)
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        grads = {id(p): p.grad.float() for group in self.param_groups for p in group["params"] if p.grad is not None}
        factors = self._clip_factors(grads)
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = torch.zeros((), dtype=torch.float32)
                    state["nu"] = torch.zeros_like(p, dtype=torch.float32, memory_format=torch.preserve_format)
                    state["mu"] = torch.zeros_like(p, dtype=torch.float32, memory_format=torch.preserve_format)
                g, owned = grads[id(p)], False  # (g may be p.grad itself: scaled rows go into a copy)
                for rows, factor in factors.get(id(p), []):
                    if rows is None:
                        g, owned = g * factor, True
                    else:
                        if not owned:
                            g, owned = g.clone(), True
                        g[rows] *= factor
                state["step"] += 1
                t = int(state["step"].item())
                nu, mu = state["nu"], state["mu"]
                nu.mul_(beta2).addcmul_(g, g, value=1.0 - beta2)
                u = g / ((nu / (1.0 - beta2 ** t)).sqrt_().add_(group["eps"]))
                mu.mul_(beta1).add_(u, alpha=1.0 - beta1)
                rate = group["lr"] * warmup_factor(t, group["warmup"])
                if rate:
                    p.add_((mu / (1.0 - beta1 ** t)).to(p.dtype), alpha=-rate)
        return loss


__all__ = ["AGC_PMIN", "LaProp", "agc_scale", "warmup_factor"]
