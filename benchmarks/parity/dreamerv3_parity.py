"""DreamerV3 parity: worldflux against the official code (danijar/dreamerv3 e3f0224, JAX), number for number.

    python benchmarks/parity/dreamerv3_parity.py --official /path/to/dreamerv3
    python benchmarks/parity/dreamerv3_parity.py --official /path/to/dreamerv3 --write-golden tests/interop/golden

``--official``: a checkout of the official repository (the folder holding ``dreamerv3/`` and ``embodied/``),
fetched by the user, e.g. ``git clone https://github.com/danijar/dreamerv3 && git -C dreamerv3 checkout e3f0224``.
Run it with a Python that has the official requirements on the CPU (jax/jaxlib 0.4.33, ninjax, elements,
einops, chex, optax, portal, granular, scope, ruamel.yaml, numpy<2) and worldflux with torch. Nothing of the
official code is copied here: ``dreamerv3_official.py`` (beside this file) imports the checkout, builds the
official agent as ``dreamerv3/main.py`` does, replaces every parameter by random values, and saves the
official checkpoint with the official code (``elements.Checkpoint``). This script imports that checkpoint
through ``worldflux_cli.interop.dreamerv3.import_checkpoint`` (nothing else maps weights) and compares, with
the same injected noise on both sides:

* every component output on a fixed input (encoder tokens, the posterior over a sequence with resets, the
  prior, the imagination, the decoder, the reward / continue / policy / value / slow value heads), and three
  acting steps (the official ``Agent.policy`` against our ``policy``);
* every loss term of one update on a fixed batch, with the same latent and action samples;
* one full optimizer step: the gradients the official optimizer receives, the parameters and the whole
  optimizer state after one and after two updates; our LaProp fed the official gradients against the
  official optax chain; the official updates against the LaProp / clipping formula written out in float64;
* ``worldflux import`` then ``worldflux export --to dreamerv3`` (the CLI), loaded by the official loader.

Noise: the official samplers are replaced by ``dreamerv3_official.inject_noise`` (one numpy PCG64 stream,
drawn in the official call order under ``jax.disable_jit()``); its draws are replayed on our side through
``worldflux_cli.models.sampling`` (``categorical`` and ``normal_like``, the only places our model draws):
a categorical draw with uniforms ``u`` picks ``#{k : cumsum(p)[k] < u}``, a normal draw returns the same
standard normals. Each replayed draw checks that it is the same kind and size as the official one.

Runtime settings of the official code (no file of it is edited): CPU, ``jax.disable_jit()`` while noise is
injected, ``precompile``/``profiler``/``transfer_guard`` off (dreamerv3_official.agent_config), the tiny dims of
``dreamerv3_official.TINY``, ``agent.opt.warmup: 0`` (the official warm-up gives the first update the rate 0
exactly, so no parameter would move) and ``agent.dyn.rssm.free_nats: 0`` (at random weights both KL terms
are below the default 1 nat, so they would be clipped to exactly 1.0 and their gradients would be 0).
Both settings reach worldflux through the checkpoint's config.yaml, as any official run's would.

Subnormal numbers: XLA's CPU code flushes float32 subnormals to zero (FTZ/DAZ); PyTorch keeps them (IEEE). In
the official optimizer that matters for gradients below ~3e-18 (the far tails of the two-hot heads' softmax):
``nu = 0.001 g^2`` is flushed to 0 and ``g / (sqrt(nu) + 1e-20)`` becomes ``g * 1e20``, a step of up to a few
hundred times the learning rate where IEEE arithmetic takes about one. The updates are therefore compared twice:
our side under ``torch.set_flush_denormal(True)`` (the official CPU arithmetic) and with PyTorch's default.

The functions ``ours_*`` (torch only, no JAX) are the worldflux side; tests/interop/test_dreamerv3_interop.py
uses them on the golden files this script writes (``--write-golden``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from worldflux_cli.interop import dreamerv3 as interop  # noqa: E402
from worldflux_cli.interop.dreamerv3_keys import COUNTER_KEYS, MOMENT_PREFIXES, rules_for  # noqa: E402
from worldflux_cli.models import sampling  # noqa: E402

#: Targets of issue 12 (float32): every output and every loss term within 1e-5 of the official code.
OUTPUT_TARGET = 1e-5
LOSS_TARGET = 1e-5
#: What every parity run sets on the official side (see the module docstring).
PARITY_OVERRIDES = {"agent.opt.warmup": 0, "agent.dyn.rssm.free_nats": 0.0}
#: The configs compared (kinds of dreamerv3_official.build, tiny dims, 64x64 images): float32, replay context 0;
#: those of REPLAY_CONTEXT_KINDS also with replay context 1, those of BFLOAT16_KINDS also in bfloat16.
KINDS = ("vec-cont", "vec2-cont", "img-disc", "img-disc-strided")
REPLAY_CONTEXT_KINDS = ("vec-cont", "img-disc")
BFLOAT16_KINDS = ("vec-cont", "img-disc", "img-disc-strided")
#: Golden files: smaller dims (a few hundred KB in all; a third of each agent.pkl is the per-array pickle framing of
#: its ~270 arrays). 2 CNN stages on 16x16 images (final map 4x4), 15 and 16 two-hot bins (odd and even counts),
#: the official defaults elsewhere.
GOLDEN_DIMS = {
    "agent.dyn.rssm.deter": 16,
    "agent.dyn.rssm.hidden": 8,
    "agent.dyn.rssm.stoch": 4,
    "agent.dyn.rssm.classes": 4,
    "agent.dyn.rssm.blocks": 2,
    "agent.enc.simple.mults": (2, 3),
    "agent.dec.simple.mults": (2, 3),
    "agent.dec.simple.bspace": 2,
    r".*\.units": 8,
    r".*\.depth": 2,
}
GOLDEN_KINDS = {  # name: (kind, image size, bins)
    "dreamerv3_vec_cont": ("vec-cont", 64, 16),
    "dreamerv3_img_disc": ("img-disc", 16, 15),
    "dreamerv3_img_disc_strided": ("img-disc-strided", 16, 15),
}


# ============================================================================================ noise replay
class Replay:
    """The official draws (flat float64 values, the size and kind of each draw), handed out in order to our
    samplers. ``categorical(probs (N, K))``: N uniforms -> #{k : cumsum(p)[k] < u} (at most K - 1), p the row
    normalised in float64 (the official code samples from the float64 softmax of its float32 logits);
    ``normal_like(x)``: x.numel() standard normals as float32, in x's shape. ``near`` counts uniforms within 1e-6
    of a class boundary (where float32 rounding of the probabilities could pick another class)."""

    def __init__(self, values, sizes, kinds):
        self.values = np.asarray(values, np.float64)
        self.sizes = [int(s) for s in sizes]
        self.kinds = [str(k) for k in kinds]
        self.i = 0
        self.pos = 0
        self.near = 0

    @classmethod
    def of_stream(cls, stream):
        """From a dreamerv3_official.NoiseStream."""
        return cls(stream.flat(), [np.size(v) for v in stream.values], [s for s, _, _ in stream.log])

    def _next(self, kinds, size):
        if self.i >= len(self.sizes):
            raise AssertionError(f"draw {self.i}: worldflux draws more often than the official code "
                                 f"({len(self.sizes)} draws)")
        kind, n = self.kinds[self.i], self.sizes[self.i]
        if kind not in kinds or n != size:
            raise AssertionError(f"draw {self.i}: worldflux draws {kinds[0]} x {size}, the official code {kind} x {n}")
        out = self.values[self.pos:self.pos + n]
        self.i += 1
        self.pos += n
        return out

    def categorical(self, probs):
        n, k = probs.shape
        u = torch.from_numpy(self._next(("onehot", "categorical"), n).copy())
        p = probs.detach().to(torch.float64)
        cdf = (p / p.sum(-1, keepdim=True)).cumsum(-1)
        self.near += int(((cdf[:, :-1] - u[:, None]).abs() < 1e-6).sum())
        return (cdf < u[:, None]).sum(-1).clamp(max=k - 1).to(probs.device)

    def normal_like(self, x):
        e = self._next(("normal",), x.numel()).astype(np.float32).reshape(tuple(x.shape))
        return torch.from_numpy(e).to(device=x.device, dtype=x.dtype)

    def done(self):
        return self.i == len(self.sizes)


@contextlib.contextmanager
def replayed(replay):
    """Within: worldflux's samplers (models/sampling.py) draw from ``replay``."""
    saved = sampling.categorical, sampling.normal_like
    sampling.categorical, sampling.normal_like = replay.categorical, replay.normal_like
    try:
        yield replay
    finally:
        sampling.categorical, sampling.normal_like = saved


# ============================================================================================ our side
def obs_keys(facts):
    return [k for k, _ in facts["obs_keys"]]


def ours_obs(model, facts, data):
    """Official observations (B, T, ...) -> ours: images (B, T, H, W, C) uint8 -> (B, T, C, H, W) uint8; vector keys
    concatenated in the official sorted order (the encoder's DictConcat)."""
    keys = obs_keys(facts)
    if model.image_obs:
        (key,) = keys
        return torch.from_numpy(np.ascontiguousarray(np.asarray(data[key]).transpose(0, 1, 4, 2, 3)))
    return torch.from_numpy(np.concatenate([np.asarray(data[k], np.float32) for k in sorted(keys)], -1))


def ours_action(model, facts, actions):
    """Official actions (B, T) int or (B, T, A) float -> ours (B, T, A) float (one-hot for discrete)."""
    a = np.asarray(actions)
    if model.config.action_type == "discrete":
        return F.one_hot(torch.from_numpy(a.astype(np.int64)), model.config.action_dim).float()
    return torch.from_numpy(a.astype(np.float32))


def prev(model, facts, actions):
    """Our action convention (the action that led to step t): [zeros, action[:, :-1]] (official prevact)."""
    a = ours_action(model, facts, actions)
    return torch.cat([torch.zeros_like(a[:, :1]), a[:, :-1]], 1)


def ours_batch(model, facts, data):
    """An official train batch (dict of numpy, keys of agent.spaces) as our batch (see models/dreamer.py)."""
    batch = {
        "obs": ours_obs(model, facts, data),
        "action": prev(model, facts, data[facts["action_key"]]),
        "reward": torch.from_numpy(np.asarray(data["reward"], np.float32)),
        "cont": torch.from_numpy(1.0 - np.asarray(data["is_terminal"], np.float32)),
        "is_first": torch.from_numpy(np.asarray(data["is_first"], bool)),
        "is_last": torch.from_numpy(np.asarray(data["is_last"], bool)),
    }
    if "dyn/deter" in data:  # replay context: the posterior states stored while acting
        deter, stoch = np.asarray(data["dyn/deter"], np.float32), np.asarray(data["dyn/stoch"], np.float32)
        batch["deter"] = torch.from_numpy(deter)
        batch["stoch"] = torch.from_numpy(stoch.reshape(*stoch.shape[:2], -1))
    return batch


def _heads(model, feat, prefix, akey, res):
    """Reward, continue, policy, value and slow value outputs on features (..., D+Z), official names."""
    logits = model.reward_head(feat)
    res[f"{prefix}rew/logits"], res[f"{prefix}rew/mean"] = logits, model._twohot_mean(logits)
    logit = model.continue_head(feat).squeeze(-1)
    res[f"{prefix}con/logit"], res[f"{prefix}con/prob"] = logit, torch.sigmoid(logit)
    if model.actor.discrete:  # the official Categorical keeps the raw logits (no unimix)
        res[f"{prefix}pol/{akey}/logits"] = model.actor.net(feat)
    else:
        res[f"{prefix}pol/{akey}/mean"], res[f"{prefix}pol/{akey}/std"] = model.actor(feat)
    for name, head in (("val", model.critic), ("slowval", model.slow_critic)):
        logits = head(feat)
        res[f"{prefix}{name}/logits"], res[f"{prefix}{name}/mean"] = logits, model._twohot_mean(logits)


@torch.no_grad()
def ours_outputs(model, facts, inputs, replay):
    """Our component outputs on the inputs of dreamerv3_official.example_inputs, in the official names and layouts
    (dreamerv3_official.outputs), drawing from ``replay`` in the official order: the posterior t = 0..T-1, then
    the imagination from (start_deter, start_stoch) for H steps ([action, prior] per step), then the last action."""
    c = model.config
    akey = facts["action_key"]
    dtype = model._ref.dtype
    res = {}
    with replayed(replay):
        obs = ours_obs(model, facts, inputs)
        b, t = obs.shape[:2]
        x = obs.to(dtype) / 255 if obs.dtype == torch.uint8 else obs.to(dtype)
        tokens = model.encoder(x.flatten(0, 1)).view(b, t, -1)
        res["enc/tokens"] = tokens
        action = prev(model, facts, inputs[akey]).to(dtype)
        is_first = torch.from_numpy(np.asarray(inputs["is_first"], bool))
        deter, stoch, logit = model.rssm.observe(tokens, action, is_first)
        S, K = c.stoch_discrete, c.stoch_classes
        res["post/deter"], res["post/stoch"] = deter, stoch.view(b, t, S, K)
        res["post/logit"] = logit.view(b, t, S, K)
        res["prior/logit"] = model.rssm.prior_logits_of(deter).view(b, t, S, K)
        recon = model.decoder(deter.flatten(0, 1), stoch.flatten(0, 1))
        if model.image_obs:
            res[f"dec/{obs_keys(facts)[0]}/mean"] = torch.sigmoid(recon).permute(0, 2, 3, 1).reshape(
                b, t, *recon.shape[2:], recon.shape[1])
        else:
            sizes = [int(np.prod(s)) for _, s in sorted(facts["obs_keys"])]
            for (k, _), part in zip(sorted(facts["obs_keys"]), recon.split(sizes, -1), strict=True):
                res[f"dec/{k}/mean"] = part.reshape(b, t, -1)
        feat = torch.cat([deter, stoch], -1)
        res["feat"] = feat
        _heads(model, feat, "", akey, res)
        H = int(inputs["H"])
        start_deter = torch.from_numpy(np.asarray(inputs["start_deter"], np.float32))
        start_stoch = torch.from_numpy(np.asarray(inputs["start_stoch"], np.float32)).flatten(1)
        traj = model.imagine({"deter": start_deter, "stoch": start_stoch}, horizon=H)
        D = c.deter_dim
        f = traj["feat"]
        n = f.shape[0]
        res["imag/deter"], res["imag/stoch"] = f[:, 1:, :D], f[:, 1:, D:].reshape(n, H, S, K)
        res["imag/logit"] = model.rssm.prior_logits_of(f[:, 1:, :D]).view(n, H, S, K)
        acts = traj["action"]
        if model.actor.discrete:
            acts = acts.argmax(-1).to(torch.int32)
        res[f"imag/action/{akey}"], res[f"imag/lastact/{akey}"] = acts[:, :H], acts[:, H]
        _heads(model, f, "imag/", akey, res)
    return {k: v.detach().float().numpy() if v.is_floating_point() else v.numpy() for k, v in res.items()}


@torch.no_grad()
def ours_policy(model, facts, steps, replays):
    """Acting (our ``policy``) over ``steps`` (a list of official observation dicts (B, ...), is_first included),
    each step drawing from its replay (the official Agent.policy draws: the posterior, then the action).
    Returns per step {'deter', 'stoch' (B, S, K), 'action'} in the official layouts."""
    c = model.config
    state, out = None, []
    for obs, replay in zip(steps, replays, strict=True):
        with replayed(replay):
            x = ours_obs(model, facts, {k: np.asarray(v)[:, None] for k, v in obs.items()})[:, 0]
            action, state = model.policy(x, state, torch.from_numpy(np.asarray(obs["is_first"], bool)))
        a = action.argmax(-1).to(torch.int32).numpy() if model.actor.discrete else action.float().numpy()
        out.append({"deter": state["deter"].float().numpy(),
                    "stoch": state["stoch"].float().numpy().reshape(-1, c.stoch_discrete, c.stoch_classes),
                    "action": a})
    return out


#: Our loss term -> the official losses key (the reconstruction term: the observation keys, summed).
LOSS_NAMES = {"reward": "rew", "continue": "con", "kl_dyn": "dyn", "kl_rep": "rep", "policy": "policy",
              "value": "value", "repval": "repval"}


def official_loss_means(losses, facts):
    """Official ``losses/<key>`` arrays -> our terms (means; the reconstruction summed over observation keys)."""
    out = {ours: float(np.mean(losses[f"losses/{key}"])) for ours, key in LOSS_NAMES.items()
           if f"losses/{key}" in losses}
    out["reconstruction"] = sum(float(np.mean(losses[f"losses/{k}"])) for k in obs_keys(facts))
    out["loss"] = float(losses["loss"])
    return out


def ours_loss_terms(model, facts, batch, replay):
    """Our loss terms of one update on ``batch`` (our layout), in training mode (the return normaliser updates):
    {term: float} with 'loss' the scaled total, plus 'retnorm/lo', 'retnorm/hi' after, and the posterior."""
    model.train()
    with replayed(replay):
        terms, metrics, post = model.loss_terms(batch)
        total = model._scaled(terms)
    out = {k: float(v.detach()) for k, v in terms.items()}
    out["loss"] = float(total.detach())
    out["retnorm/lo"], out["retnorm/hi"] = float(model.return_norm.low), float(model.return_norm.high)
    return out, post


def params_by_name(model):
    return dict(model.named_parameters())


def ours_gradients(model, facts):
    """The gradients now in our parameters' .grad, as the official tree (dreamerv3_keys re-layouts)."""
    named = params_by_name(model)
    out = {}
    for rule in rules_for(model.config, [(k, tuple(s)) for k, s in facts["obs_keys"]], facts["action_key"]):
        if rule.official[0].startswith(("slowval/", "retnorm/")):
            continue
        grads = [named[n].grad if named[n].grad is not None else torch.zeros_like(named[n]) for n in rule.ours]
        for key, arr in zip(rule.official, rule.to_official([g.detach().float().numpy() for g in grads]), strict=True):
            out[key] = np.asarray(arr, np.float32)
    return out


def ours_state(model, facts):
    """Our whole state as the official tree: the weights, slow value, return normaliser, and our LaProp's moments
    and counters (export_params with the live optimizer state)."""
    named = params_by_name(model)
    moments = {"nu": {}, "mu": {}}
    steps = 0
    if model._optims is not None:
        (opt,) = model._optims.values()
        for name, p in named.items():
            st = opt.state.get(p)
            if st:
                moments["nu"][name], moments["mu"][name] = st["nu"].clone(), st["mu"].clone()
                steps = max(steps, int(st["step"]))
    counters = {k: steps for k in COUNTER_KEYS}
    return interop.export_params(model, facts, {"moments": moments, "counters": counters})


def ours_update(model, facts, batch, replay):
    """One ``model.update(batch)`` drawing from ``replay``; returns (gradients as the official tree, metrics).
    The gradients are read between the backward and the optimizer step."""
    grads = {}
    orig = model.optimizer_step

    def step():
        grads.update(ours_gradients(model, facts))
        return orig()

    model.optimizer_step = step
    try:
        with replayed(replay):
            metrics = model.update(batch)
    finally:
        del model.optimizer_step
    return grads, metrics


# ============================================================================================ comparison
def maxdiff(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise AssertionError(f"shapes differ: {a.shape} vs {b.shape}")
    return float(np.max(np.abs(a - b))) if a.size else 0.0


def table_rows(official, ours, names=None):
    """[(name, max abs diff, max abs official value)] for each name in both dicts."""
    names = names or [k for k in official if k in ours]
    return [(k, maxdiff(official[k], ours[k]), float(np.max(np.abs(np.asarray(official[k], np.float64))))
             if np.size(official[k]) else 0.0) for k in names]


def group_max(rows, groups):
    """Max difference per group of output names (groups: {label: predicate(name)})."""
    out = {}
    for label, pred in groups.items():
        vals = [d for k, d, _ in rows if pred(k)]
        if vals:
            out[label] = max(vals)
    return out


OUTPUT_GROUPS = {
    "encoder tokens": lambda k: k == "enc/tokens",
    "posterior deter": lambda k: k == "post/deter",
    "posterior stoch (samples)": lambda k: k == "post/stoch",
    "posterior logits": lambda k: k == "post/logit",
    "prior logits": lambda k: k == "prior/logit",
    "decoder mean": lambda k: k.startswith("dec/"),
    "reward logits / mean": lambda k: k.startswith(("rew/", "imag/rew/")),
    "continue logit / prob": lambda k: k.startswith(("con/", "imag/con/")),
    "policy outputs": lambda k: k.startswith(("pol/", "imag/pol/")),
    "value logits / mean": lambda k: k.startswith(("val/", "imag/val/")),
    "slow value logits / mean": lambda k: k.startswith(("slowval/", "imag/slowval/")),
    "imagined deter": lambda k: k == "imag/deter",
    "imagined stoch (samples)": lambda k: k == "imag/stoch",
    "imagined prior logits": lambda k: k == "imag/logit",
    "imagined actions": lambda k: k.startswith(("imag/action/", "imag/lastact/")),
}


# ============================================================================================ the optimizer
#: The smallest normal float32. XLA on the CPU flushes subnormal float32 results (and inputs) to zero.
TINY32 = float(np.finfo(np.float32).tiny)


def laprop_formula(before, grads, t, lr, clip=0.3, eps=1e-20, beta1=0.9, beta2=0.999, pmin=1e-3, ftz=True):
    """The official update of every tensor (agc -> scale_by_rms -> scale_by_momentum -> -lr), written out in
    float64 from the official state before the update (params, nu, mu) and the gradients it received; with
    ``ftz`` every intermediate below the smallest normal float32 is flushed to zero, as XLA's CPU float32
    arithmetic does. Returns ({key: update}, {key: agc factor})."""
    fl = (lambda x: np.where(np.abs(x) < TINY32, 0.0, x)) if ftz else (lambda x: x)
    updates, factors = {}, {}
    for k, g in grads.items():
        g = np.asarray(g, np.float64)
        p = np.asarray(before[k], np.float64)
        factor = 1.0 / max(1.0, np.linalg.norm(g.ravel()) / (clip * max(pmin, np.linalg.norm(p.ravel())))) if clip \
            else 1.0
        g = fl(g * factor)
        nu = fl(fl(beta2 * np.asarray(before[MOMENT_PREFIXES["nu"] + k], np.float64)) + fl((1 - beta2) * fl(g * g)))
        u = fl(g / (np.sqrt(fl(nu / (1 - beta2 ** t))) + eps))
        mu = fl(fl(beta1 * np.asarray(before[MOMENT_PREFIXES["mu"] + k], np.float64)) + fl((1 - beta1) * u))
        updates[k] = fl(-lr * fl(mu / (1 - beta1 ** t)))
        factors[k] = factor
    return updates, factors


@contextlib.contextmanager
def flushing_subnormals(on=True):
    """Within (this thread): float32 subnormals flushed to zero on the CPU (torch.set_flush_denormal), as XLA's
    CPU arithmetic flushes them; ``on=False``: IEEE subnormals (PyTorch's default)."""
    torch.set_flush_denormal(bool(on))
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


def laprop_on_official(before, grads, t, lr, clip=0.3, eps=1e-20):
    """Our LaProp (models/optim.py) stepped once on the official tensors: params and moments from the official
    state before update ``t``, .grad the gradients the official optimizer received. Returns the state after, as
    the official tree (params and moments)."""
    from worldflux_cli.models.optim import LaProp

    ps = {k: torch.nn.Parameter(torch.from_numpy(np.array(before[k], np.float32))) for k in grads}
    opt = LaProp([{"params": list(ps.values()), "lr": lr, "clip": clip, "eps": eps}], warmup=0)
    for k, p in ps.items():
        p.grad = torch.from_numpy(np.array(grads[k], np.float32))
        if t > 1:
            opt.state[p] = {"step": torch.tensor(float(t - 1)),
                            "nu": torch.from_numpy(np.array(before[MOMENT_PREFIXES["nu"] + k], np.float32)),
                            "mu": torch.from_numpy(np.array(before[MOMENT_PREFIXES["mu"] + k], np.float32))}
    opt.step()
    out = {}
    for k, p in ps.items():
        out[k] = p.detach().numpy()
        out[MOMENT_PREFIXES["nu"] + k] = opt.state[p]["nu"].numpy()
        out[MOMENT_PREFIXES["mu"] + k] = opt.state[p]["mu"].numpy()
    return out


# ============================================================================================ the official side
def load_dv3(official):
    """dreamerv3_official (beside this file) with the official checkout at ``official`` imported."""
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    import dreamerv3_official as dv3

    dv3.load_official(official)
    return dv3


def cli(*args):
    """Run the worldflux CLI in-process -> (exit code, output)."""
    from typer.testing import CliRunner

    from worldflux_cli.cli.app import app

    res = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    return res.exit_code, res.output


def _module(key):
    if key.startswith("opt/state/1/1/"):
        return "optimizer nu"
    if key.startswith("opt/state/2/1/"):
        return "optimizer mu"
    if key.startswith("opt/") or key.endswith("_count/value"):
        return "counters"
    return key.split("/")[0]


def above(official, ours, keys, threshold=1e-7):
    """(elements of ``keys`` whose |official - ours| > threshold, all elements, [(key, count)] of those above)."""
    where, n, total = [], 0, 0
    for k in keys:
        c = int((np.abs(np.asarray(official[k], np.float64) - np.asarray(ours[k], np.float64)) > threshold).sum())
        total += int(np.size(official[k]))
        if c:
            where.append((k, c))
            n += c
    return n, total, where


def by_module(official, ours, keys=None):
    """{module: (max abs diff, max |official|)} over the official keys (all must be in ours)."""
    out = {}
    for k in keys or official:
        d = maxdiff(official[k], ours[k])
        m = float(np.max(np.abs(np.asarray(official[k], np.float64)))) if np.size(official[k]) else 0.0
        mod = _module(k)
        old = out.get(mod, (0.0, 0.0))
        out[mod] = (max(old[0], d), max(old[1], m))
    return out


def state_of(tr):
    return {k[len("params/"):]: v for k, v in tr.items() if k.startswith("params/")}


def run_kind(dv3, kind, work, compute_dtype="float32", replay_context=0, update=True, export=True, log=print,
             reference=None):
    """Build the official agent for ``kind`` (random weights), save it, import it, compare. Returns the results.
    ``reference``: a dict shared between runs (a float32 run leaves the official outputs and losses there, a
    bfloat16 run of the same kind, whose random weights are the same, compares against them)."""
    reference = {} if reference is None else reference
    t0 = time.time()
    res = {"kind": kind, "compute_dtype": compute_dtype, "replay_context": replay_context}
    obj = dv3.build(kind, compute_dtype, replay_context=replay_context, **PARITY_OVERRIDES)
    run = Path(work) / f"{kind}-{compute_dtype}-rc{replay_context}"
    dv3.save_checkpoint(obj, run)
    initial = dv3.params(obj)
    model, config, extra = interop.import_checkpoint(run)
    facts = extra["facts"]
    s = config.resolved()
    assert (s["warmup_steps"], config.kl_free, s["replay_context"]) == (0, 0.0, replay_context), (s, config.kl_free)
    res["config"] = {"obs_shape": list(config.obs_shape), "action": f"{config.action_dim} {config.action_type}",
                     "cnn_strided": config.cnn_strided, "params": sum(model.component_params().values())}
    autocast = (torch.autocast("cpu", dtype=torch.bfloat16) if compute_dtype == "bfloat16"
                else contextlib.nullcontext())

    # ---- component outputs
    if not replay_context:
        inputs = dv3.example_inputs(obj)
        off, stream = dv3.outputs(obj, inputs, noise_seed=1)
        rep = Replay.of_stream(stream)
        with autocast:
            ours = ours_outputs(model, facts, inputs, rep)
        assert rep.done(), "worldflux drew fewer times than the official code"
        res["outputs"] = table_rows(off, ours)
        res["outputs_near_ties"] = rep.near
        if compute_dtype == "float32":
            model64, _, _ = interop.import_checkpoint(run, dtype=torch.float64)
            res["outputs_ours64"] = table_rows(off, ours_outputs(model64, facts, inputs, Replay.of_stream(stream)))
            from worldflux_cli.models import kernels

            with kernels.use("plain"):  # the model code as written, no CPU kernels
                res["outputs_plain"] = table_rows(off, ours_outputs(model, facts, inputs, Replay.of_stream(stream)))
            reference[kind] = {"outputs": off}
        elif kind in reference:  # how far the official bfloat16 is from the official float32, for scale
            res["outputs_official_bf16_vs_f32"] = table_rows(reference[kind]["outputs"], off)
            res["outputs_ours_bf16_vs_official_f32"] = table_rows(reference[kind]["outputs"], ours)
        # acting: three policy steps (episode starts at step 0, and for row 1 again at step 2)
        steps = []
        for t in range(3):
            obs = {k: np.asarray(inputs[k])[:, t] for k in obj.obs_space}
            obs["is_first"] = np.array([t == 0, t in (0, 2)])
            steps.append(obs)
        carry, off_pol, streams = None, [], []
        for t, obs in enumerate(steps):
            carry, act, _, st = dv3.policy_step(obj, obs, carry, noise_seed=10 + t)
            dyn = carry[1]
            off_pol.append({"deter": np.asarray(dyn["deter"], np.float32),
                            "stoch": np.asarray(dyn["stoch"], np.float32),
                            "action": np.asarray(act[facts["action_key"]])})
            streams.append(st)
        with autocast:
            mine = ours_policy(model, facts, steps, [Replay.of_stream(st) for st in streams])
        res["policy"] = {k: max(maxdiff(o[k], m[k]) for o, m in zip(off_pol, mine, strict=True))
                         for k in ("deter", "stoch", "action")}
        log(f"  outputs: {time.time() - t0:.0f}s")

    # ---- loss terms of one update
    batch = dv3.example_batch(obj)
    lt, lstream = dv3.loss_terms(obj, batch, noise_seed=2)
    offl = official_loss_means(lt, facts)
    offl["retnorm/lo"], offl["retnorm/hi"] = float(lt["state/retnorm/lo/value"]), float(lt["state/retnorm/hi/value"])
    rep = Replay.of_stream(lstream)
    with autocast:
        ours_l, post = ours_loss_terms(model, facts, ours_batch(model, facts, batch), rep)
    assert rep.done()
    res["losses"] = {k: (offl[k], ours_l[k]) for k in offl}
    if compute_dtype == "float32":
        model64, _, _ = interop.import_checkpoint(run, dtype=torch.float64)
        ours64, _ = ours_loss_terms(model64, facts, ours_batch(model64, facts, batch), Replay.of_stream(lstream))
        res["losses64"] = {k: ours64[k] for k in offl}
        from worldflux_cli.models import kernels

        with kernels.use("plain"):
            fresh = interop.import_checkpoint(run)[0]
            plain, _ = ours_loss_terms(fresh, facts, ours_batch(fresh, facts, batch), Replay.of_stream(lstream))
        res["losses_plain"] = {k: plain[k] for k in offl}
        reference.setdefault(kind, {})["losses" + str(replay_context)] = offl
    elif ("losses" + str(replay_context)) in reference.get(kind, {}):
        res["losses_official_f32"] = reference[kind]["losses" + str(replay_context)]
    res["posterior"] = {  # the posterior states of the trained steps (what the replay stores back)
        "deter": maxdiff(lt["repfeat/deter"], post["deter"].float().numpy()),
        "stoch": maxdiff(lt["repfeat/stoch"], post["stoch"].float().numpy().reshape(lt["repfeat/stoch"].shape)),
    }
    log(f"  losses: {time.time() - t0:.0f}s")

    # ---- two full updates
    if update and compute_dtype == "float32":
        # fresh models (the loss terms above moved the return normaliser): one computing with float32 subnormals
        # flushed to zero as XLA on the CPU does, one with IEEE subnormals (PyTorch's default)
        models = {ftz: interop.import_checkpoint(run)[0] for ftz in (True, False)}
        ob = ours_batch(model, facts, batch)
        lr = float(config.resolved()["learning_rate"])
        before = initial
        res["updates"] = []
        for t in (1, 2):
            tr, st = dv3.train_step(obj, batch, noise_seed=2 + t)
            off_grads = {k[len("grads/"):]: v for k, v in tr.items() if k.startswith("grads/")}
            off_upd = {k[len("updates/"):]: v for k, v in tr.items() if k.startswith("updates/")}
            after = state_of(tr)
            mine, grads, metrics = {}, {}, {}
            for ftz, m in models.items():
                rep = Replay.of_stream(st)
                with flushing_subnormals(ftz):
                    grads[ftz], metrics[ftz] = ours_update(m, facts, ob, rep)
                assert rep.done()
                mine[ftz] = ours_state(m, facts)
                assert set(mine[ftz]) == set(after), sorted(set(mine[ftz]) ^ set(after))
            formula, factors = laprop_formula(before, off_grads, t, lr)
            formula_ieee, _ = laprop_formula(before, off_grads, t, lr, ftz=False)
            with flushing_subnormals():
                iso = laprop_on_official(before, off_grads, t, lr)
            iso_ieee = laprop_on_official(before, off_grads, t, lr)
            u = {"t": t,
                 "grads": by_module(off_grads, grads[True]),
                 "grad_rel": max(maxdiff(off_grads[k], grads[True][k]) / max(1e-30, float(np.linalg.norm(off_grads[k])))
                                 for k in off_grads),
                 "state": by_module(after, mine[True]),
                 "above": above(after, mine[True], [k for k in off_grads]),
                 "state_ieee": by_module(after, mine[False]),
                 "counters_equal": all(int(after[k]) == int(mine[True][k]) for k in COUNTER_KEYS),
                 "formula_vs_official_updates": max(maxdiff(off_upd[k], formula[k]) for k in off_upd),
                 "formula_ieee_vs_official_updates": max(maxdiff(off_upd[k], formula_ieee[k]) for k in off_upd),
                 "update_max": max(float(np.max(np.abs(v))) for v in off_upd.values()),
                 "laprop_on_official_grads": by_module({k: after[k] for k in iso}, iso),
                 "laprop_on_official_grads_ieee": by_module({k: after[k] for k in iso_ieee}, iso_ieee),
                 "agc_clipped": sorted(k for k, f in factors.items() if f < 1.0),
                 "agc_tensors": len(factors),
                 "loss": (float(tr["metrics/opt/loss"]), metrics[True]["loss"])}
            res["updates"].append(u)
            before = after
            log(f"  update {t}: {time.time() - t0:.0f}s")

    # ---- worldflux import / export through the CLI, read back by the official loader
    if export and compute_dtype == "float32":
        folder, back = Path(work) / f"{run.name}-wf", Path(work) / f"{run.name}-back"
        code_i, out_i = cli("import", run, "-o", folder)
        code_e, out_e = cli("export", folder, "--to", "dreamerv3", "-o", back)
        assert code_i == 0 and code_e == 0, (out_i, out_e)
        obj2 = dv3.build(kind, compute_dtype, seed=7, replay_context=replay_context, **PARITY_OVERRIDES)
        assert any(not np.array_equal(v, initial[k]) for k, v in dv3.params(obj2).items())
        dv3.load_checkpoint(obj2, back / "ckpt")
        loaded = dv3.params(obj2)
        res["export"] = {"keys": len(initial), "equal": sum(np.array_equal(loaded[k], initial[k])
                                                            and loaded[k].dtype == initial[k].dtype for k in initial)}
        log(f"  export: {time.time() - t0:.0f}s")
    res["seconds"] = time.time() - t0
    return res


# ============================================================================================ golden files
def write_golden(dv3, folder, log=print):
    """For each GOLDEN_KINDS entry: <folder>/<name>/ the official run folder (config.yaml, ckpt/latest,
    ckpt/<stamp>/{agent,step,replay}.pkl, done) of random weights at GOLDEN_DIMS, and <folder>/<name>.npz: the
    inputs ('in/*'), the noise of the outputs ('noise/values|sizes|kinds'), the official outputs ('out/*'), the
    train batch ('batch/*'), its noise ('loss_noise/*'), the official loss terms ('loss/losses/*', 'loss/loss',
    'loss/state/*') -- plain arrays (no pickles)."""
    import shutil

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, (kind, size, bins) in GOLDEN_KINDS.items():
        over = {**PARITY_OVERRIDES, "tiny": False, **GOLDEN_DIMS, "agent.rewhead.bins": bins, "agent.value.bins": bins}
        if kind.startswith("vec"):
            over = {k: v for k, v in over.items() if ".mults" not in k and "bspace" not in k}
        obj = dv3.build(kind, "float32", img_size=size, **over)
        run = folder / name
        shutil.rmtree(run, ignore_errors=True)
        dv3.save_checkpoint(obj, run)
        shutil.rmtree(run / "replay", ignore_errors=True)  # empty (nothing was added to the replay)
        inputs = dv3.example_inputs(obj)
        out, stream = dv3.outputs(obj, inputs, noise_seed=1)
        batch = dv3.example_batch(obj)
        lt, lstream = dv3.loss_terms(obj, batch, noise_seed=2)
        arrays = {f"in/{k}": np.asarray(v) for k, v in inputs.items()}
        arrays.update({f"batch/{k}": np.asarray(v) for k, v in batch.items() if k != "stepid"})
        for prefix, s in (("noise", stream), ("loss_noise", lstream)):
            arrays[f"{prefix}/values"] = s.flat()
            arrays[f"{prefix}/sizes"] = np.array([np.size(v) for v in s.values], np.int64)
            arrays[f"{prefix}/kinds"] = np.array([k for k, _, _ in s.log])
        arrays.update({f"out/{k}": np.asarray(v) for k, v in out.items()})
        arrays["loss/loss"] = np.asarray(lt["loss"])
        arrays.update({f"loss/{k}": np.asarray(v) for k, v in lt.items() if k.startswith(("losses/", "state/"))})
        arrays.update({f"loss/{k}": np.asarray(v) for k, v in lt.items() if k.startswith("repfeat/")
                       and not k.endswith("logit")})
        np.savez_compressed(folder / f"{name}.npz", **arrays)
        size_pkl = sum(f.stat().st_size for f in run.rglob("*") if f.is_file())
        log(f"{name}: {run} ({size_pkl:,} B), {name}.npz ({(folder / f'{name}.npz').stat().st_size:,} B)")


# ============================================================================================ the report
def fmt(x):
    return "—" if x is None else "0" if x == 0 else f"{x:.1e}"


def _col(r):
    name = {"vec-cont": "vector, continuous", "vec2-cont": "two vector keys, continuous", "img-disc": "image, discrete",
            "img-disc-strided": "image strided, discrete"}
    return name[r["kind"]] + (", replay context 1" if r["replay_context"] else "")


TRAINED_MODULES = ("dyn", "enc", "dec", "rew", "con", "pol", "val")


def _params_max(state, modules=TRAINED_MODULES):
    """The largest difference over the given modules."""
    return max(v[0] for m, v in state.items() if m in modules)


def markdown(results):
    """The tables of PARITY.md (max abs differences against the official code)."""
    f32 = [r for r in results if r["compute_dtype"] == "float32"]
    out = []
    outs = [r for r in f32 if "outputs" in r]
    if outs:
        out.append("| output (max abs diff) | " + " | ".join(_col(r) for r in outs) + " |")
        out.append("|---|" + "---|" * len(outs))
        groups = [group_max(r["outputs"], OUTPUT_GROUPS) for r in outs]
        for label in OUTPUT_GROUPS:
            out.append(f"| {label} | " + " | ".join(fmt(g[label]) if label in g else "—" for g in groups) + " |")
        for k in ("deter", "stoch", "action"):
            out.append(f"| acting, 3 policy steps: {k} | " + " | ".join(fmt(r["policy"][k]) for r in outs) + " |")
        out.append("| all outputs, kernels off (`WORLDFLUX_KERNELS=plain`) | "
                   + " | ".join(fmt(max(d for _, d, _ in r["outputs_plain"])) for r in outs) + " |")
        out.append("| all outputs, ours in float64 | "
                   + " | ".join(fmt(max(d for _, d, _ in r["outputs_ours64"])) for r in outs) + " |")
        out.append("")
    out.append("| loss term: official, abs diff (relative) | " + " | ".join(_col(r) for r in f32) + " |")
    out.append("|---|" + "---|" * len(f32))
    for k in f32[0]["losses"]:
        cells = []
        for r in f32:
            o, m = r["losses"][k]
            cells.append(f"{o:.6g}: {fmt(abs(o - m))} ({fmt(abs(o - m) / max(1e-30, abs(o)))})")
        out.append(f"| {k} | " + " | ".join(cells) + " |")
    out.append("| (ours in float64: largest abs diff of any term) | "
               + " | ".join(fmt(max(abs(r["losses64"][k] - r["losses"][k][0]) for k in r["losses"])) for r in f32)
               + " |")
    out.append("| (kernels off: largest abs diff of any term) | "
               + " | ".join(fmt(max(abs(r["losses_plain"][k] - r["losses"][k][0]) for k in r["losses"])) for r in f32)
               + " |")
    out.append("")
    ups = [r for r in f32 if r.get("updates")]
    if ups:
        out.append("| one full update (max abs diff) | " + " | ".join(_col(r) for r in ups) + " |")
        out.append("|---|" + "---|" * len(ups))
        rows = [
            ("gradients, update 1 / 2", lambda u: fmt(max(v[0] for v in u["grads"].values()))),
            ("gradients relative to each tensor's norm", lambda u: fmt(u["grad_rel"])),
            ("trained parameters after the update (ours FTZ)", lambda u: fmt(_params_max(u["state"]))),
            ("trained parameters differing by more than 1e-7 (ours FTZ)",
             lambda u: f"{u['above'][0]} of {u['above'][1]:,}" + (" (" + ", ".join(
                 f"{k} {c}" for k, c in u["above"][2]) + ")" if u["above"][0] else "")),
            ("trained parameters after the update (ours IEEE)", lambda u: fmt(_params_max(u["state_ieee"]))),
            ("slow value after (ours FTZ)", lambda u: fmt(u["state"]["slowval"][0])),
            ("return normaliser lo/hi after", lambda u: fmt(u["state"]["retnorm"][0])),
            ("LaProp moments nu, mu after (ours FTZ)", lambda u: f"{fmt(u['state']['optimizer nu'][0])}, "
                                                                f"{fmt(u['state']['optimizer mu'][0])}"),
            ("counters (5 official step counts)", lambda u: "equal" if u["counters_equal"] else "DIFFER"),
            ("our LaProp on the official gradients: parameters (FTZ)",
             lambda u: fmt(_params_max(u["laprop_on_official_grads"]))),
            ("our LaProp on the official gradients: parameters (IEEE)",
             lambda u: fmt(_params_max(u["laprop_on_official_grads_ieee"]))),
            ("official updates vs the formula in float64 (FTZ)", lambda u: fmt(u["formula_vs_official_updates"])),
            ("official updates vs the formula in float64 (IEEE)",
             lambda u: fmt(u["formula_ieee_vs_official_updates"])),
            ("largest official update (lr 4e-5)", lambda u: f"{u['update_max']:.2g}"),
            ("tensors clipped by AGC", lambda u: f"{len(u['agc_clipped'])} of {u['agc_tensors']}"),
        ]
        for label, f in rows:
            out.append(f"| {label} | " + " | ".join(" / ".join(f(u) for u in r["updates"]) for r in ups) + " |")
        out.append("")
    exp = [r for r in f32 if "export" in r]
    if exp:
        out.append("`worldflux import` then `worldflux export --to dreamerv3`, read by the official loader: "
                   + "; ".join(f"{_col(r)} {r['export']['equal']} of {r['export']['keys']} arrays equal"
                               for r in exp) + ".")
        out.append("")
    bf = [r for r in results if r["compute_dtype"] == "bfloat16"]
    if bf:
        out.append("| bfloat16 (informative; max abs diff) | " + " | ".join(_col(r) for r in bf) + " |")
        out.append("|---|" + "---|" * len(bf))
        for label in OUTPUT_GROUPS:
            cells = []
            for r in bf:
                a = group_max(r["outputs"], OUTPUT_GROUPS).get(label)
                b = group_max(r.get("outputs_official_bf16_vs_f32", []), OUTPUT_GROUPS).get(label)
                cells.append(f"{fmt(a)} [{fmt(b)}]" if a is not None and b is not None else "—")
            out.append(f"| {label} | " + " | ".join(cells) + " |")
        out.append("| acting: deter / action | " + " | ".join(
            f"{fmt(r['policy']['deter'])} / {fmt(r['policy']['action'])}" for r in bf) + " |")
        for k in bf[0]["losses"]:
            cells = []
            for r in bf:
                o, m = r["losses"][k]
                ref = r.get("losses_official_f32", {}).get(k)
                cells.append(f"{fmt(abs(o - m))} [{fmt(abs(o - ref))}]" if ref is not None else fmt(abs(o - m)))
            out.append(f"| loss {k} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def report(results, log=print):
    for r in results:
        log(f"\n## {r['kind']}, compute {r['compute_dtype']}, replay_context {r['replay_context']}: {r['config']}")
        if "outputs" in r:
            log(f"outputs (max abs diff), near ties {r['outputs_near_ties']}:")
            for k, d, m in r["outputs"]:
                log(f"  {k:30s} {fmt(d):>8s}  (|x| up to {m:.3g})")
            log(f"acting (3 policy steps): {r['policy']}")
        log("loss terms (official, ours, |diff|, relative):")
        for k, (o, m) in r["losses"].items():
            log(f"  {k:16s} {o:14.7f} {m:14.7f}  {abs(o - m):.1e}  {abs(o - m) / max(1e-30, abs(o)):.1e}")
        log(f"posterior states of the trained steps: {r['posterior']}")
        for u in r.get("updates", []):
            log(f"update {u['t']}: loss {u['loss'][0]:.7f} / {u['loss'][1]:.7f}; AGC clipped {len(u['agc_clipped'])}"
                f" of {u['agc_tensors']} tensors; official updates up to {u['update_max']:.2e}; counters equal "
                f"{u['counters_equal']}")
            log(f"  official updates vs the float64 formula: {fmt(u['formula_vs_official_updates'])} with FTZ, "
                f"{fmt(u['formula_ieee_vs_official_updates'])} with IEEE subnormals")
            row = lambda d: ", ".join(f"{m} {fmt(x[0])}" for m, x in d.items())  # noqa: E731
            log("  gradients (ours FTZ):       " + row(u["grads"])
                + f"; relative to the tensor's norm {fmt(u['grad_rel'])}")
            log("  state after (ours FTZ):     " + row(u["state"]))
            log("  state after (ours IEEE):    " + row(u["state_ieee"]))
            log("  LaProp on official g, FTZ:  " + row(u["laprop_on_official_grads"]))
            log("  LaProp on official g, IEEE: " + row(u["laprop_on_official_grads_ieee"]))
        if "export" in r:
            log(f"export -> official loader: {r['export']['equal']} of {r['export']['keys']} arrays equal bit for bit")
    log("\n" + markdown(results))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--official", required=True, help="checkout of danijar/dreamerv3 (holds dreamerv3/, embodied/)")
    p.add_argument("--write-golden", metavar="DIR", help="write the golden checkpoints and npz files into DIR")
    p.add_argument("--kinds", nargs="*", default=list(KINDS), help=f"configs to compare (default: {' '.join(KINDS)})")
    p.add_argument("--no-bfloat16", action="store_true", help="skip the (informative) bfloat16 runs")
    p.add_argument("--no-replay-context", action="store_true", help="skip the replay_context 1 runs")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    p.add_argument("--from-json", metavar="FILE", help="only print the report of a --json file")
    args = p.parse_args(argv)
    if args.from_json:
        results = json.loads(Path(args.from_json).read_text())
        report(results)
        return verdict(results)
    torch.set_num_threads(1)
    dv3 = load_dv3(args.official)
    if args.write_golden:
        write_golden(dv3, args.write_golden)
        return
    results, reference = [], {}
    with tempfile.TemporaryDirectory() as work:
        plan = [(k, "float32", 0) for k in args.kinds]
        if not args.no_replay_context:
            plan += [(k, "float32", 1) for k in args.kinds if k in REPLAY_CONTEXT_KINDS]
        if not args.no_bfloat16:
            plan += [(k, "bfloat16", 0) for k in args.kinds if k in BFLOAT16_KINDS]
        for kind, dtype, rc in plan:
            print(f"{kind} {dtype} replay_context {rc} ...", flush=True)
            results.append(run_kind(dv3, kind, work, dtype, rc, export=not rc, reference=reference))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    report(results)
    return verdict(results)


def verdict(results):
    """Print whether every float32 figure is within the targets; 0 if so, else 1."""
    bad = [(r["kind"], r["compute_dtype"], r["replay_context"], k, d) for r in results
           if r["compute_dtype"] == "float32" for k, d, _ in r.get("outputs", []) if d > OUTPUT_TARGET]
    bad += [(r["kind"], r["compute_dtype"], r["replay_context"], k, abs(o - m)) for r in results
            if r["compute_dtype"] == "float32" for k, (o, m) in r["losses"].items()
            if abs(o - m) > max(LOSS_TARGET, 1e-6 * abs(o))]
    print("\nfloat32 within the targets (outputs 1e-5; losses 1e-5 or 1e-6 relative): "
          + ("yes" if not bad else f"NO: {bad}"))
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
