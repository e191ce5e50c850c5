"""The two DreamerV3s a config can follow, and the value each takes where they differ (torch-free).

``variant`` of a DreamerV3Config picks one; every nullable DreamerV3 field that is null takes the
variant's value from ``VARIANTS`` (the one place these numbers live). A field set in the config wins
over its variant.

- ``official``: danijar/dreamerv3 at e3f0224 (configs.yaml ``defaults``, dreamerv3/agent.py,
  embodied/jax/): KL scales dyn 1.0 / rep 0.1; reward and value two-hot over 255 bins that are
  symexp-spaced in raw space; one LaProp optimizer for every module (learning rate 4e-5, eps 1e-20,
  beta 0.9 / 0.999) after adaptive gradient clipping at 0.3 (per tensor, relative to the parameter's
  norm) with a linear warm-up over the first 1,000 updates; the continue head learns
  ``(1 - terminal) * (1 - 1/333)``, so imagined returns use discount 1 and the continue probabilities
  carry it; no unimix on the discrete actor; a replay value loss (scale 0.3) on the replayed posterior
  states bootstrapped with the imagined returns; a replay context of one step (training sequences
  start from the latent state stored while acting).
- ``paper2023``: Hafner et al., "Mastering Diverse Domains through World Models" (arXiv 2301.04104v1):
  KL scales dyn 0.5 / rep 0.1; two-hot bins evenly spaced in symlog space (targets symlog-squashed);
  Adam for the world model (1e-4, eps 1e-8, global-norm clip 1000) and for actor and critic (3e-5,
  eps 1e-5, clip 100); continue targets in {0, 1} and discount 0.997 on the returns; 1% unimix on the
  discrete actor; no replay value loss; no replay context.

Both compute every loss from the same parameters and then step (the official order). What the two
share (free nats 1, unimix 1% on the latents, return normalisation by the 5th-95th percentile range,
slow critic with rate 0.02, actor entropy 3e-4, lambda 0.95, imagination horizon 15) are plain fields.
"""

from __future__ import annotations

from typing import Any

#: Loss terms of a DreamerV3 update (keys of ``loss_scales``); ``kl`` is split by ``kl_balance`` into the
#: dynamics (prior towards the posterior) and representation (posterior towards the prior) terms.
LOSS_KEYS = ("reconstruction", "reward", "continue", "kl", "policy", "value", "repval")
#: The three parts with their own learning rate (and, in paper2023, their own optimizer).
PARTS = ("world", "actor", "critic")
#: Official ``horizon`` (agent config): the continue target and the replay returns use 1 - 1/333.
OFFICIAL_HORIZON = 333

VARIANTS: dict[str, dict[str, Any]] = {
    "official": {
        "kl_balance": 1.0 / 1.1,  # dyn 1.0, rep 0.1 with loss_scales.kl = 1.1
        "loss_scales": {"reconstruction": 1.0, "reward": 1.0, "continue": 1.0, "kl": 1.1, "policy": 1.0,
                        "value": 1.0, "repval": 0.3},
        "discount": 1.0 - 1.0 / OFFICIAL_HORIZON,
        "continue_discount": True,
        "twohot_bins": "symexp",
        "actor_unimix": 0.0,
        "replay_context": 1,
        "optimizer": "laprop",
        "learning_rate": 4e-5,
        "actor_learning_rate": 4e-5,
        "critic_learning_rate": 4e-5,
        "grad_clip": {"world": 0.3, "actor": 0.3, "critic": 0.3},
        "optimizer_eps": {"world": 1e-20, "actor": 1e-20, "critic": 1e-20},
        "warmup_steps": 1000,
    },
    "paper2023": {
        "kl_balance": 5.0 / 6.0,  # dyn 0.5, rep 0.1 with loss_scales.kl = 0.6
        "loss_scales": {"reconstruction": 1.0, "reward": 1.0, "continue": 1.0, "kl": 0.6, "policy": 1.0,
                        "value": 1.0, "repval": 0.0},
        "discount": 0.997,
        "continue_discount": False,
        "twohot_bins": "symlog",
        "actor_unimix": 0.01,
        "replay_context": 0,
        "optimizer": "adam",
        "learning_rate": 1e-4,
        "actor_learning_rate": 3e-5,
        "critic_learning_rate": 3e-5,
        "grad_clip": {"world": 1000.0, "actor": 100.0, "critic": 100.0},
        "optimizer_eps": {"world": 1e-8, "actor": 1e-5, "critic": 1e-5},
        "warmup_steps": 0,
    },
}

#: The fields whose null means "the variant's value".
VARIANT_FIELDS = tuple(VARIANTS["official"])


def resolve(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` (a DreamerV3 config as a dict) with every variant field resolved.

    A null field takes the variant's value; ``loss_scales`` is completed key by key; ``grad_clip`` and
    ``optimizer_eps`` become dicts by part (world, actor, critic), a number given in the config applying
    to all three.
    """
    table = VARIANTS[values.get("variant") or "official"]
    out = dict(values)
    for name, default in table.items():
        given = values.get(name)
        if name == "loss_scales":
            out[name] = {**default, **(given or {})}
        elif name in ("grad_clip", "optimizer_eps"):
            out[name] = dict(default) if given is None else {part: float(given) for part in PARTS}
        elif given is None:
            out[name] = default
    return out


__all__ = ["LOSS_KEYS", "OFFICIAL_HORIZON", "PARTS", "VARIANTS", "VARIANT_FIELDS", "resolve"]
