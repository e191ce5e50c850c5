"""TD-MPC2 parity: worldflux against the official code (nicklashansen/tdmpc2), number for number.

    python benchmarks/parity/tdmpc2_parity.py --official /tmp/tdmpc2-official
    python benchmarks/parity/tdmpc2_parity.py --official /tmp/tdmpc2-official --write-golden tests/interop/golden

``--official``: a checkout of the official repository (the folder holding tdmpc2/), fetched by the user, e.g.
``git clone https://github.com/nicklashansen/tdmpc2 /tmp/tdmpc2-official``. Its Python needs tensordict
(0.15.3 works with torch 2.13). Nothing of the official code is copied here: this driver imports it, builds
its WorldModel with the same config on random weights (every tensor random, the zero-initialised heads too),
saves the official checkpoint, maps it through ``worldflux import`` (interop.tdmpc2.import_checkpoint) and
compares every component output, then the parameters after one full update on a fixed batch with the same
injected noise, then MPPI plans of one observation (a first plan, then two warm-started ones, eval_mode and not),
in float32 and float64, for a single task (episodic), three tasks with action masks, and 64x64 pixels.

The injected noise: one seeded stream, consumed in call order by both sides, stands in for every random draw
of either: torch.randn_like (official policy), torch.randn (official planner samples), torch.randperm (the two
random Qs), torch.randint (the pixels' random shift), Tensor.exponential_ (the final elite draw, Gumbel-max),
and our models.noise.randn. Each side draws the same values in the same order, so the comparison is of the
computations, not of the generators.

Runtime patches of the official code (no file is edited): the agent is built without its CUDA-only
constructor (its own methods run on CPU), Adam without ``capturable``, the running scale's buffer in the
run's dtype, torch's default dtype set to the run's while its update and planner run (its latent buffer and
planner tensors are ``torch.empty``/``zeros`` in the default dtype), and the default dict of the official
``layers.enc(cfg, out={})`` emptied before each build (it keeps the encoders of the models built before in
the same process). Q dropout is 0 in the update runs: vmap's per-member dropout masks cannot be injected.
In float64 runs its hard-coded float32 is made float64 while it runs (Tensor.float and ``dtype=torch.float32``
in torch.zeros / torch.full give the default dtype): the random shift's first line, ``x.float()``, would
cast the images to float32, which the float64 convolutions refuse, and the planner's float32 termination
flags would round the discount to float32 (1e-9 on the plan; it shows in float64 only). The planner's
std after the iterations is a local of the official ``_plan`` (not returned): both planners are traced
(sys.settrace) to read their locals; nothing in them is changed.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import sys
import tempfile
import types
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from worldflux_cli.interop.tdmpc2 import export_state_dict, import_checkpoint  # noqa: E402
from worldflux_cli.models import tdmpc2 as wf  # noqa: E402
from worldflux_cli.models import tdmpc2_plan as wf_plan  # noqa: E402

CONFIGS = {
    "single-task, episodic": dict(multitask=False, tasks=["t"], task_dim=0, action_dim=4, action_dims=[4],
                                  obs_dim=7, episodic=True, episode_lengths=[500]),
    "multitask (3 tasks, action masks 4/2/3)": dict(multitask=True, tasks=["a", "b", "c"], task_dim=6,
                                                     action_dim=4, action_dims=[4, 2, 3], obs_dim=7,
                                                     episodic=False, episode_lengths=[100, 500, 1000]),
    # The official pixel encoder: 64x64 RGB, unpadded convolutions straight to SimNorm (num_channels x 4 x 4 =
    # latent_dim), the random shift (pad 3) in every encoder call.
    "pixels 64x64 (single task)": dict(multitask=False, tasks=["t"], task_dim=0, action_dim=4, action_dims=[4],
                                       pixels=(3, 64, 64), episodic=False, episode_lengths=[1000],
                                       dims=dict(latent_dim=64, num_channels=4)),
}
DIMS = dict(latent_dim=32, mlp_dim=24, enc_dim=20, num_enc_layers=2, simnorm_dim=8, num_bins=21, num_q=3,
            num_channels=32)
#: The official planner's defaults (config.yaml), which are also ours.
PLANNER = dict(iterations=6, num_samples=512, num_elites=64, num_pi_trajs=24, temperature=0.5, min_std=0.05,
               max_std=2.0)
HORIZON, BATCH = 3, 16


def official_cfg(spec: dict, dropout: float) -> types.SimpleNamespace:
    pixels = spec.get("pixels")
    obs_shape = {"rgb": pixels} if pixels else {"state": (spec["obs_dim"],)}
    dims = {**DIMS, **spec.get("dims", {})}
    return types.SimpleNamespace(
        **dims, **PLANNER, multitask=spec["multitask"], tasks=spec["tasks"],
        task_dim=spec["task_dim"], action_dim=spec["action_dim"], action_dims=spec["action_dims"],
        obs_shape=obs_shape, obs="rgb" if pixels else "state", episodic=spec["episodic"], dropout=dropout,
        log_std_min=-10, log_std_max=2, tau=0.01, horizon=HORIZON, batch_size=spec.get("batch", BATCH), rho=0.5,
        consistency_coef=20, reward_coef=0.1, value_coef=0.1, termination_coef=1, grad_clip_norm=20,
        entropy_coef=1e-4, vmin=-10, vmax=10, bin_size=20 / (dims["num_bins"] - 1), lr=3e-4, enc_lr_scale=0.3,
        discount_denom=5, discount_min=0.95, discount_max=0.995, mpc=True, compile=False)


_RANDPERM, _RANDN, _RANDINT = torch.randperm, torch.randn, torch.randint
_EXPONENTIAL = torch.Tensor.exponential_


class Noise:
    """One seeded stream for every random draw of both sides, by call order (see the module docstring)."""

    def __init__(self, seed: int):
        self.gen = torch.Generator().manual_seed(seed)

    def randn_like(self, x, *a, **k):
        return _RANDN(x.shape, generator=self.gen, dtype=torch.float64).to(x.dtype)

    def torch_randn(self, *size, dtype=None, **k):  # the official planner's torch.randn(*size)
        size = tuple(size[0]) if len(size) == 1 and not isinstance(size[0], int) else size
        return _RANDN(size, generator=self.gen, dtype=torch.float64).to(dtype or torch.get_default_dtype())

    def randn(self, shape, generator, device):  # our models.noise.randn
        return _RANDN(tuple(shape), generator=self.gen, dtype=torch.float64)

    def randperm(self, n, *a, **k):
        return _RANDPERM(n, generator=self.gen)

    def randint(self, *args, size=None, dtype=None, **k):  # both sides' random shift
        args = (*args, size) if size is not None else args
        return _RANDINT(*args, generator=self.gen).to(dtype or torch.int64)

    def exponential_(self, t, *a, **k):  # both sides' Gumbel-max draw of the final elite
        return t.copy_(_EXPONENTIAL(torch.empty(t.shape, dtype=torch.float64), generator=self.gen))


@contextlib.contextmanager
def injected(noise: Noise):
    names = ("randn_like", "randn", "randperm", "randint")
    saved = [getattr(torch, n) for n in names], torch.Tensor.exponential_, wf.randn, wf_plan.randn
    for n, fn in zip(names, (noise.randn_like, noise.torch_randn, noise.randperm, noise.randint), strict=True):
        setattr(torch, n, fn)
    torch.Tensor.exponential_ = lambda t, *a, **k: noise.exponential_(t)  # a function, to bind as a method
    wf.randn = wf_plan.randn = noise.randn
    try:
        yield
    finally:
        for n, fn in zip(names, saved[0], strict=True):
            setattr(torch, n, fn)
        torch.Tensor.exponential_, wf.randn, wf_plan.randn = saved[1], saved[2], saved[3]


_ZEROS, _FULL = torch.zeros, torch.full


def _run_dtype(fn):
    def call(*args, dtype=None, **kwargs):
        return fn(*args, dtype=torch.get_default_dtype() if dtype == torch.float32 else dtype, **kwargs)
    return call


@contextlib.contextmanager
def official_run(dtype: torch.dtype):
    """torch's default dtype set to the run's while official code runs (its buffers are torch.empty/zeros in the
    default dtype); in float64 its hard-coded float32 made the run's dtype (see the module docstring):
    ``Tensor.float()`` (the random shift's first line, the planner's termination flags) and ``dtype=torch.float32``
    in torch.zeros / torch.full (the planner's termination and its initial std)."""
    saved = torch.Tensor.float, torch.zeros, torch.full
    torch.set_default_dtype(dtype)
    if dtype == torch.float64:
        torch.Tensor.float = lambda t, *a, **k: t.to(torch.get_default_dtype())
        torch.zeros, torch.full = _run_dtype(_ZEROS), _run_dtype(_FULL)
    try:
        yield
    finally:
        torch.Tensor.float, torch.zeros, torch.full = saved
        torch.set_default_dtype(torch.float32)


class Locals:
    """The locals of one function while it runs (sys.settrace), last value of each name that passes ``keep``."""

    def __init__(self, fn, keep: dict):
        self.code, self.keep, self.last = inspect.unwrap(fn).__code__, keep, {}

    def _local(self, frame, event, arg):
        for name, ok in self.keep.items():
            value = frame.f_locals.get(name)
            if isinstance(value, torch.Tensor) and ok(value):
                self.last[name] = value.clone()
        return self._local

    def _global(self, frame, event, arg):
        return self._local if frame.f_code is self.code else None

    def __enter__(self):
        self.saved = sys.gettrace()
        sys.settrace(self._global)
        return self

    def __exit__(self, *exc):
        sys.settrace(self.saved)


def build_official(official: Path, spec: dict, dtype: torch.dtype, dropout: float):
    sys.path.insert(0, str(official / "tdmpc2"))
    from common import layers
    from common.world_model import WorldModel  # the official code, imported from the user's checkout

    layers.enc.__defaults__[0].clear()  # enc(cfg, out={}): its dict default keeps the encoders of earlier builds
    torch.manual_seed(0)
    torch.set_default_dtype(dtype)
    try:
        model = WorldModel(official_cfg(spec, dropout))
    finally:
        torch.set_default_dtype(torch.float32)
    with torch.no_grad():  # every tensor random, the zero-initialised heads too; targets apart from online
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
        for key, t in model._target_Qs_params.items(include_nested=True, leaves_only=True):
            t.copy_(model._Qs.params[key] + torch.randn_like(t) * 0.05)
    return model


def official_agent(official: Path, model, spec: dict, dtype: torch.dtype):
    """The official agent's methods over our CPU objects (its constructor is CUDA-only)."""
    from common.scale import RunningScale
    from tdmpc2 import TDMPC2 as Agent

    cfg = model.cfg
    agent = Agent.__new__(Agent)
    torch.nn.Module.__init__(agent)
    agent.cfg, agent.device, agent.model = cfg, torch.device("cpu"), model
    agent.optim = torch.optim.Adam([
        {"params": model._encoder.parameters(), "lr": cfg.lr * cfg.enc_lr_scale},
        {"params": model._dynamics.parameters()}, {"params": model._reward.parameters()},
        {"params": model._termination.parameters() if cfg.episodic else []},
        {"params": model._Qs.parameters()},
        {"params": model._task_emb.parameters() if cfg.multitask else []}], lr=cfg.lr)
    agent.pi_optim = torch.optim.Adam(model._pi.parameters(), lr=cfg.lr, eps=1e-5)
    scale = RunningScale.__new__(RunningScale)
    torch.nn.Module.__init__(scale)
    scale.cfg, scale.value = cfg, torch.ones(1, dtype=dtype)
    scale._percentiles = torch.tensor([5, 95], dtype=torch.float32)
    agent.scale = scale
    lengths = spec["episode_lengths"]
    agent.discount = (torch.tensor([agent._get_discount(n) for n in lengths], dtype=dtype) if cfg.multitask
                      else agent._get_discount(lengths[0]))
    assert cfg.action_dim < 20  # the constructor's +2 iterations rule does not apply (ours is tested apart)
    agent._prev_mean = torch.zeros(cfg.horizon, cfg.action_dim, dtype=dtype)
    return agent


def ours_from(model_official, spec: dict, dtype: torch.dtype, dropout: float, tmp: Path):
    path = tmp / "official.pt"
    torch.save({"model": model_official.state_dict()}, path)
    given = {"dropout": dropout, "horizon": HORIZON, "vmin": -10.0, "vmax": 10.0, **PLANNER, "momentum": 0.0}
    if spec.get("pixels"):
        given["obs_shape"] = spec["pixels"]
    if spec["multitask"]:
        given["task_episode_lengths"] = tuple(spec["episode_lengths"])
    else:
        given["episode_length"] = spec["episode_lengths"][0]
    model, _ = import_checkpoint(path, dtype=dtype, **given)
    return model


def batch_of(spec: dict, dtype: torch.dtype, seed: int = 1):
    """A fixed batch; pixels as uint8 for ours (our replay's) and as floats 0..255 for the official (its env's)."""
    g = torch.Generator().manual_seed(seed)
    h, b = HORIZON, spec.get("batch", BATCH)
    if spec.get("pixels"):
        obs = torch.randint(0, 256, (h + 1, b, *spec["pixels"]), generator=g, dtype=torch.uint8)
    else:
        obs = torch.randn(h + 1, b, spec["obs_dim"], generator=g, dtype=torch.float64).to(dtype)
    out = {"obs": obs,
           "action": (torch.rand(h, b, spec["action_dim"], generator=g, dtype=torch.float64) * 2 - 1).to(dtype),
           "reward": torch.randn(h, b, generator=g, dtype=torch.float64).to(dtype) * 3,
           "terminated": (torch.rand(h, b, generator=g) < 0.2).to(dtype) if spec["episodic"] else None,
           "task": torch.randint(0, len(spec["tasks"]), (b,), generator=g) if spec["multitask"] else None}
    return out


def official_obs(obs: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return obs.to(dtype) if obs.dtype == torch.uint8 else obs


def max_diff(a, b) -> float:
    return float((a.double() - b.double()).abs().max())


def compare_outputs(off, ours, spec, dtype) -> dict[str, float]:
    batch = batch_of(spec, dtype)
    task = batch["task"]
    obs, action = batch["obs"][0], batch["action"][0]
    emb = ours.embed_task(task)
    mask = ours.action_mask(task)
    off.eval(), ours.eval()
    out = {}
    with torch.no_grad():
        with injected(Noise(4)), official_run(dtype):  # the pixels' random shift (every call, as official)
            z_off = off.encode(official_obs(obs, dtype), task)
        with injected(Noise(4)):
            z = ours.encode(obs, emb)
        out["encoder"] = max_diff(z_off, z)
        out["dynamics"] = max_diff(off.next(z_off, action, task), ours.next(z, action, emb))
        out["reward logits"] = max_diff(off.reward(z_off, action, task), ours.reward(z, action, emb))
        if spec["episodic"]:
            out["termination"] = max_diff(off.termination(z_off, task).squeeze(-1),
                                          torch.sigmoid(ours.termination(z, emb)))
        with injected(Noise(5)):
            a_off, i_off = off.pi(z_off, task)
        with injected(Noise(5)):
            a, info = ours.policy(z, emb, mask=mask)
        out["policy action"] = max_diff(a_off, a)
        for key in ("mean", "log_std"):
            out[f"policy {key}"] = max_diff(i_off[key], info[key])
        for key in ("entropy", "scaled_entropy"):
            out[f"policy {key}"] = max_diff(i_off[key].squeeze(-1), info[key])
        out["Q logits (all)"] = max_diff(off.Q(z_off, action, task, "all"), ours.q_value(z, action, emb, "all"))
        out["target Q logits"] = max_diff(off.Q(z_off, action, task, "all", target=True),
                                          ours.q_value(z, action, emb, "all", target=True))
        with injected(Noise(6)):
            q_off = off.Q(z_off, action, task, "avg")
        with injected(Noise(6)):
            q = ours.q_value(z, action, emb, "avg")
        out["Q avg of two"] = max_diff(q_off.squeeze(-1), q)
    return out


def official_update(agent, batch, spec, dtype, seed: int) -> dict:
    terminated = batch["terminated"] if spec["episodic"] else torch.zeros_like(batch["reward"])
    kwargs = {"task": batch["task"]} if spec["multitask"] else {}
    with injected(Noise(seed)), official_run(dtype):  # its latent buffer is torch.empty in the default dtype
        return agent._update(official_obs(batch["obs"], dtype), batch["action"], batch["reward"].unsqueeze(-1),
                             terminated.unsqueeze(-1), **kwargs)


def compare_update(official: Path, spec, dtype, tmp) -> tuple[dict[str, float], dict[str, float]]:
    off = build_official(official, spec, dtype, dropout=0.0)
    ours = ours_from(off, spec, dtype, 0.0, tmp)
    agent = official_agent(official, off, spec, dtype)
    batch = batch_of(spec, dtype)
    info_off = official_update(agent, batch, spec, dtype, seed=7)
    with injected(Noise(7)):
        info = ours.update({k: v for k, v in batch.items() if v is not None})
    mine = export_state_dict(ours)
    params = {}
    for key, t in off.state_dict().items():
        if t.is_meta or not t.is_floating_point():
            continue
        params[key] = max_diff(t, mine[key])
    losses = {k: abs(float(info_off[k]) - info[k]) for k in
              ("consistency_loss", "reward_loss", "value_loss", "pi_loss", "grad_norm", "pi_grad_norm")}
    if spec["episodic"]:
        losses["termination_loss"] = abs(float(info_off["termination_loss"]) - info["termination_loss"])
    losses["q_scale"] = abs(float(agent.scale.value) - float(ours.q_scale))
    return params, losses


#: The plans compared, in order on one model: (name, t0, eval_mode). The later ones warm-start from the mean
#: the one before left (official: agent._prev_mean; ours: model.plan_mean).
PLANS = (("first (t0)", True, False), ("warm start, eval_mode", False, True), ("warm start", False, False))


def _plan_locals(fn, dims: int) -> Locals:
    return Locals(fn, {"std": lambda t: t.dim() == dims, "score": lambda t: True})


def official_plans(agent, obs: torch.Tensor, task, dtype, seed: int = 20) -> list[dict[str, torch.Tensor]]:
    """The official agent's plans (PLANS) of one observation (1, ...): action, mean, std, final elite weights."""
    out = []
    for i, (_, t0, eval_mode) in enumerate(PLANS):
        with injected(Noise(seed + i)), official_run(dtype), _plan_locals(type(agent)._plan, 2) as seen:
            action = agent._plan(official_obs(obs, dtype), t0=t0, eval_mode=eval_mode, task=task)
        out.append({"action": action, "mean": agent._prev_mean.clone(), "std": seen.last["std"],
                    "score": seen.last["score"].squeeze(-1)})
    return out


def our_plans(ours, obs: torch.Tensor, task, seed: int = 20) -> list[dict[str, torch.Tensor]]:
    out = []
    for i, (_, t0, eval_mode) in enumerate(PLANS):
        with injected(Noise(seed + i)), _plan_locals(wf_plan._plan, 3) as seen:
            action = ours.plan(obs, task=task, t0=t0, eval_mode=eval_mode)
        out.append({"action": action[0], "mean": ours.plan_mean[0], "std": seen.last["std"][0],
                    "score": seen.last["score"][0]})
    return out


def compare_plan(official: Path, spec, dtype, tmp) -> dict[str, float]:
    off = build_official(official, spec, dtype, dropout=0.01)  # eval mode: no dropout
    ours = ours_from(off, spec, dtype, 0.01, tmp)
    agent = official_agent(official, off, spec, dtype)
    off.eval()
    batch = batch_of(spec, dtype)
    obs = batch["obs"][0][:1]  # one observation, as the official agent plans
    task = batch["task"][:1] if spec["multitask"] else None  # official act(): torch.tensor([task])
    plans_off, plans = official_plans(agent, obs, task, dtype), our_plans(ours, obs, task)
    out = {}
    for (name, _, _), p_off, p in zip(PLANS, plans_off, plans, strict=True):
        for key in ("action", "mean", "std", "score"):
            out[f"{name}: {key}"] = max_diff(p_off[key], p[key])
    return out


def compare_plan_seeded(official: Path, spec, tmp) -> dict[str, float]:
    """A first plan (float32) with no injected noise: torch.manual_seed(11) before each side. Ours draws what the
    official planner draws from torch's generator (shapes, order, the shift's randint and the elite's exponential_)."""
    off = build_official(official, spec, torch.float32, dropout=0.01)
    ours = ours_from(off, spec, torch.float32, 0.01, tmp)
    agent = official_agent(official, off, spec, torch.float32)
    off.eval()
    batch = batch_of(spec, torch.float32)
    obs, task = batch["obs"][0][:1], batch["task"][:1] if spec["multitask"] else None
    torch.manual_seed(11)
    action_off = agent._plan(official_obs(obs, torch.float32), t0=True, eval_mode=False, task=task)
    torch.manual_seed(11)
    action = ours.plan(obs, task=task, t0=True, eval_mode=False)
    return {"first (t0), seeded: action": max_diff(action_off, action[0]),
            "first (t0), seeded: mean": max_diff(agent._prev_mean, ours.plan_mean[0])}


def official_refuses_pixels_multitask(official: Path) -> str:
    """What the official WorldModel does with pixels and several tasks (its encode cats the task embedding to the
    observation's last axis): the error it raises, or '' if it encodes."""
    spec = dict(CONFIGS["pixels 64x64 (single task)"], multitask=True, tasks=["a", "b"], task_dim=6,
                action_dims=[4, 4], episode_lengths=[1000, 1000])
    off = build_official(official, spec, torch.float32, dropout=0.0)
    try:
        off.encode(torch.zeros(2, 3, 64, 64), torch.tensor([0, 1]))
    except Exception as exc:  # noqa: BLE001 - the official code's own error, reported
        return f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    return ""


def write_golden(official: Path, target: Path) -> None:
    """Tiny official checkpoints on random weights plus what the official code computes with them (data, not code):
    the mt3 model's outputs on a fixed input and its plans of one observation; a pixel model's update."""
    spec = CONFIGS["multitask (3 tasks, action masks 4/2/3)"]
    off = build_official(official, spec, torch.float32, dropout=0.01)
    target.mkdir(parents=True, exist_ok=True)
    torch.save({"model": off.state_dict()}, target / "tdmpc2_tiny_mt3.pt")
    batch = batch_of(spec, torch.float32)
    task, obs, action = batch["task"], batch["obs"][0], batch["action"][0]
    off.eval()
    with torch.no_grad():
        z = off.encode(obs, task)
        with injected(Noise(5)):
            a, info = off.pi(z, task)
        outputs = {"obs": obs, "action": action, "task": task, "eps_seed": torch.tensor(5), "z": z,
                   "next": off.next(z, action, task), "reward": off.reward(z, action, task),
                   "q_all": off.Q(z, action, task, "all"), "target_q_all": off.Q(z, action, task, "all", target=True),
                   "pi_action": a, "pi_mean": info["mean"], "pi_log_std": info["log_std"]}
    torch.save(outputs, target / "tdmpc2_tiny_mt3_outputs.pt")
    # Its plans of one observation of task 1 (2 of the 4 action dimensions), in float32 and, with the same
    # weights in a float64 official model, in float64.
    i = int((task == 1).nonzero()[0])
    plans = {"obs": obs[i:i + 1], "task": task[i:i + 1], "noise_seed": torch.tensor(GOLDEN_PLAN_SEED),
             "t0": torch.tensor([t0 for _, t0, _ in PLANS]), "eval_mode": torch.tensor([e for _, _, e in PLANS])}
    for dtype in (torch.float32, torch.float64):
        model = build_official(official, spec, dtype, dropout=0.01)
        model.load_state_dict(off.state_dict())
        model.eval()
        agent = official_agent(official, model, spec, dtype)
        for j, p in enumerate(official_plans(agent, obs[i:i + 1].to(dtype), task[i:i + 1], dtype,
                                             seed=GOLDEN_PLAN_SEED)):
            plans.update({f"{key}_{j}_{str(dtype)[6:]}": p[key] for key in ("action", "mean", "std")})
    torch.save(plans, target / "tdmpc2_tiny_mt3_plans.pt")
    # A pixel model small enough to keep: 2 channels (latent 32), mlp 8, 11 bins, 2 Qs; batch 4.
    spec = dict(CONFIGS["pixels 64x64 (single task)"], dims=GOLDEN_PIXEL_DIMS, batch=GOLDEN_BATCH)
    off = build_official(official, spec, torch.float32, dropout=0.0)
    torch.save({"model": off.state_dict()}, target / "tdmpc2_tiny_pixels.pt")
    agent = official_agent(official, off, spec, torch.float32)
    batch = batch_of(spec, torch.float32, seed=GOLDEN_BATCH_SEED)
    info = official_update(agent, batch, spec, torch.float32, seed=GOLDEN_UPDATE_SEED)
    after = {k: v for k, v in off.state_dict().items() if not v.is_meta and v.is_floating_point()
             and not k.startswith("_detach_Qs_params.")}
    torch.save({"batch_seed": torch.tensor(GOLDEN_BATCH_SEED), "batch_size": torch.tensor(GOLDEN_BATCH),
                "obs_sum": batch["obs"].double().sum(), "noise_seed": torch.tensor(GOLDEN_UPDATE_SEED),
                "episode_length": torch.tensor(spec["episode_lengths"][0]),
                "losses": {k: info[k] for k in ("consistency_loss", "reward_loss", "value_loss", "pi_loss")},
                "after": after}, target / "tdmpc2_tiny_pixels_update.pt")
    print(f"wrote {target}/tdmpc2_tiny_mt3.pt, tdmpc2_tiny_mt3_outputs.pt, tdmpc2_tiny_mt3_plans.pt, "
          "tdmpc2_tiny_pixels.pt and tdmpc2_tiny_pixels_update.pt")


GOLDEN_PLAN_SEED, GOLDEN_BATCH_SEED, GOLDEN_UPDATE_SEED, GOLDEN_BATCH = 30, 2, 8, 4
GOLDEN_PIXEL_DIMS = dict(latent_dim=32, num_channels=2, mlp_dim=8, num_bins=11, num_q=2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--official", type=Path, required=True, help="checkout of nicklashansen/tdmpc2")
    parser.add_argument("--write-golden", type=Path, help="also write the golden files to this folder")
    args = parser.parse_args()
    if not (args.official / "tdmpc2" / "common" / "world_model.py").is_file():
        sys.exit(f"error: {args.official} is not a checkout of nicklashansen/tdmpc2 (no tdmpc2/common/world_model.py)")
    torch.set_num_threads(1)
    targets = {torch.float32: (1e-6, 5e-5), torch.float64: (1e-10, 1e-9)}
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for name, spec in CONFIGS.items():
            for dtype, (out_tol, param_tol) in targets.items():
                off = build_official(args.official, spec, dtype, dropout=0.01)
                ours = ours_from(off, spec, dtype, 0.01, Path(tmp))
                outputs = compare_outputs(off, ours, spec, dtype)
                params, losses = compare_update(args.official, spec, dtype, Path(tmp))
                plans = compare_plan(args.official, spec, dtype, Path(tmp))
                if dtype == torch.float32:  # float64: the official randn draws float64 normals, ours float32 ones
                    plans.update(compare_plan_seeded(args.official, spec, Path(tmp)))
                print(f"\n== {name}, {str(dtype).removeprefix('torch.')}")
                for key, value in outputs.items():
                    ok &= value <= out_tol
                    print(f"  output  {key:<22} max |diff| {value:.3e}  (target {out_tol:g})")
                worst = max(params.values())
                ok &= worst <= param_tol
                print(f"  after one update: {len(params)} parameter tensors, max |diff| {worst:.3e} "
                      f"(target {param_tol:g}); worst: {max(params, key=params.get)}")
                for key, value in losses.items():
                    print(f"  update  {key:<22} |diff| {value:.3e}")
                for key, value in plans.items():
                    ok &= value <= out_tol
                    print(f"  plan    {key:<33} max |diff| {value:.3e}  (target {out_tol:g})")
    refused = official_refuses_pixels_multitask(args.official)
    print(f"\npixels + multitask in the official WorldModel.encode: {refused or 'encodes (unexpected)'}")
    if args.write_golden:
        write_golden(args.official, args.write_golden)
    print("\nall within targets" if ok else "\nSOME FIGURES ABOVE THEIR TARGETS")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
