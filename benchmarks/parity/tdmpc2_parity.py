"""TD-MPC2 parity: worldflux against the official code (nicklashansen/tdmpc2), number for number.

    python benchmarks/parity/tdmpc2_parity.py --official /tmp/tdmpc2-official
    python benchmarks/parity/tdmpc2_parity.py --official /tmp/tdmpc2-official --write-golden tests/interop/golden

``--official``: a checkout of the official repository (the folder holding tdmpc2/), fetched by the user, e.g.
``git clone https://github.com/nicklashansen/tdmpc2 /tmp/tdmpc2-official``. Its Python needs tensordict
(0.15.3 works with torch 2.13). Nothing of the official code is copied here: this driver imports it, builds
its WorldModel with the same config on random weights (every tensor random, the zero-initialised heads too),
saves the official checkpoint, maps it through ``worldflux import`` (interop.tdmpc2.import_checkpoint) and
compares every component output, then the parameters after one full update on a fixed batch with the same
injected noise (torch.randn_like / torch.randperm patched on both sides), in float32 and float64.

Runtime patches of the official code (no file is edited): the agent is built without its CUDA-only
constructor (its own methods run on CPU), Adam without ``capturable``, the running scale's buffer in the
run's dtype, and torch's default dtype set to the run's while its update runs (its latent buffer is
``torch.empty`` in the default dtype). Q dropout is 0 in the update runs: vmap's per-member dropout masks
cannot be injected.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import types
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from worldflux_cli.interop.tdmpc2 import import_checkpoint  # noqa: E402
from worldflux_cli.models import tdmpc2 as wf  # noqa: E402

CONFIGS = {
    "single-task, episodic": dict(multitask=False, tasks=["t"], task_dim=0, action_dim=4, action_dims=[4],
                                  obs_dim=7, episodic=True, episode_lengths=[500]),
    "multitask (3 tasks, action masks 4/2/3)": dict(multitask=True, tasks=["a", "b", "c"], task_dim=6,
                                                     action_dim=4, action_dims=[4, 2, 3], obs_dim=7,
                                                     episodic=False, episode_lengths=[100, 500, 1000]),
}
DIMS = dict(latent_dim=32, mlp_dim=24, enc_dim=20, num_enc_layers=2, simnorm_dim=8, num_bins=21, num_q=3)


def official_cfg(spec: dict, dropout: float) -> types.SimpleNamespace:
    return types.SimpleNamespace(
        **DIMS, multitask=spec["multitask"], tasks=spec["tasks"], task_dim=spec["task_dim"],
        action_dim=spec["action_dim"], action_dims=spec["action_dims"], obs_shape={"state": (spec["obs_dim"],)},
        obs="state", episodic=spec["episodic"], dropout=dropout, log_std_min=-10, log_std_max=2, tau=0.01,
        num_channels=32, horizon=3, batch_size=16, rho=0.5, consistency_coef=20, reward_coef=0.1, value_coef=0.1,
        termination_coef=1, grad_clip_norm=20, entropy_coef=1e-4, vmin=-10, vmax=10, bin_size=20 / 20, lr=3e-4,
        enc_lr_scale=0.3, discount_denom=5, discount_min=0.95, discount_max=0.995)


_RANDPERM, _RANDN = torch.randperm, torch.randn


class Noise:
    """The same Gaussian noise and Q pairs for both sides, by call order."""

    def __init__(self, seed: int):
        self.gen = torch.Generator().manual_seed(seed)

    def randn_like(self, x, *a, **k):
        return torch.randn(x.shape, generator=self.gen, dtype=torch.float64).to(x.dtype)

    def randn(self, shape, generator, device):
        return torch.randn(tuple(shape), generator=self.gen, dtype=torch.float64)

    def randperm(self, n, *a, **k):
        return _RANDPERM(n, generator=self.gen)


@contextlib.contextmanager
def injected(noise: Noise):
    saved = torch.randn_like, torch.randperm, wf.randn
    torch.randn_like, torch.randperm, wf.randn = noise.randn_like, noise.randperm, noise.randn
    try:
        yield
    finally:
        torch.randn_like, torch.randperm, wf.randn = saved


@contextlib.contextmanager
def default_dtype(dtype: torch.dtype):
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(torch.float32)


def build_official(official: Path, spec: dict, dtype: torch.dtype, dropout: float):
    sys.path.insert(0, str(official / "tdmpc2"))
    from common.world_model import WorldModel  # the official code, imported from the user's checkout

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
    return agent


def ours_from(model_official, spec: dict, dtype: torch.dtype, dropout: float, tmp: Path):
    path = tmp / "official.pt"
    torch.save({"model": model_official.state_dict()}, path)
    given = {"dropout": dropout}
    if spec["multitask"]:
        given["task_episode_lengths"] = tuple(spec["episode_lengths"])
    else:
        given["episode_length"] = spec["episode_lengths"][0]
    given.update(horizon=3, vmin=-10.0, vmax=10.0)
    model, _ = import_checkpoint(path, dtype=dtype, **given)
    return model


def batch_of(spec: dict, dtype: torch.dtype, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    h, b = 3, 16
    out = {"obs": torch.randn(h + 1, b, spec["obs_dim"], generator=g, dtype=torch.float64).to(dtype),
           "action": (torch.rand(h, b, spec["action_dim"], generator=g, dtype=torch.float64) * 2 - 1).to(dtype),
           "reward": torch.randn(h, b, generator=g, dtype=torch.float64).to(dtype) * 3,
           "terminated": (torch.rand(h, b, generator=g) < 0.2).to(dtype) if spec["episodic"] else None,
           "task": torch.randint(0, len(spec["tasks"]), (b,), generator=g) if spec["multitask"] else None}
    return out


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
        z_off, z = off.encode(obs, task), ours.encode(obs, emb)
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


def compare_update(official: Path, spec, dtype, tmp) -> tuple[dict[str, float], dict[str, float]]:
    off = build_official(official, spec, dtype, dropout=0.0)
    ours = ours_from(off, spec, dtype, 0.0, tmp)
    agent = official_agent(official, off, spec, dtype)
    batch = batch_of(spec, dtype)
    terminated = batch["terminated"] if spec["episodic"] else torch.zeros_like(batch["reward"])
    kwargs = {"task": batch["task"]} if spec["multitask"] else {}
    with injected(Noise(7)), default_dtype(dtype):  # its latent buffer is torch.empty in the default dtype
        info_off = agent._update(batch["obs"], batch["action"], batch["reward"].unsqueeze(-1),
                                 terminated.unsqueeze(-1), **kwargs)
    ours_batch = {k: v for k, v in batch.items() if v is not None}
    with injected(Noise(7)):
        info = ours.update(ours_batch)
    from worldflux_cli.interop.tdmpc2 import export_state_dict

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


def write_golden(official: Path, target: Path) -> None:
    """A tiny official checkpoint on random weights plus its outputs on a fixed input (data, not code)."""
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
    print(f"wrote {target}/tdmpc2_tiny_mt3.pt and tdmpc2_tiny_mt3_outputs.pt")


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
    if args.write_golden:
        write_golden(args.official, args.write_golden)
    print("\nall within targets" if ok else "\nSOME FIGURES ABOVE THEIR TARGETS")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
