"""Paired CPU timing of the whole training loop: ``worldflux train`` (TD-MPC2) beside the official TD-MPC2
online trainer (nicklashansen/tdmpc2 ``tdmpc2/trainer/online_trainer.py``), env-steps per second.

Our code only; the official code is imported from a checkout the user fetched (``--peer PATH``) with the
runtime adaptations of tdmpc2_peer.py (config without hydra; CUDA-only calls mapped to the CPU; Adam with
capturable=False). Their loop runs as it is: their DMControl env and wrappers (action repeat 2, 500-step
time limit, TensorWrapper), MPPI acting (``agent.act``), their torchrl replay buffer (``common/buffer.py``,
CPU storage), one ``agent.update(buffer)`` per env step after the seed steps.

**Equal configuration** (both sides): dmc cartpole-balance, state observations (5), action repeat 2,
episodes of 500 agent steps (discount 0.99); official model size 5 (latent 512, mlp 512, enc 256 x 2,
5 Qs, 4.96M parameters); batch 256, horizon 3; planning 6 iterations x 512 samples, 64 elites, 24 policy
trajectories; 1 update per agent step; 1000 random seed steps; fp32, eager; no evaluation, logging or
checkpoints during the timed chunks.

**Runtime changes to their loop, besides those of tdmpc2_peer.py:**
- ``cfg.seed_steps`` (1000 here; the official value for 500-step episodes is 2500) is an int whose
  ``==`` is never true, so the one-off burst of ``seed_steps`` updates at the end of the seed phase
  ("Pretraining agent on seed data") becomes one update: the chunks time the steady state, which is all
  this benchmark compares (ours has no burst), and the burst would cost 1000 updates of untimed time.
- ``eval_episodes`` 0 (their step-0 evaluation runs no episode); the logger is a stub (wandb/csv off).
- ``agent.act``, ``agent.update``, ``env.step`` and ``buffer.add`` are wrapped with timers (pairing.Gate)
  on the instances; the gate that ends a chunk is called after ``env.step``.

Ours: ``worldflux_cli.training.loop.train`` on the same run (``tdmpc2-size5.json`` + the planning fields),
its agent's ``act``/``update``, ``Replay.sample``/``add`` and ``EnvGroup.step`` wrapped with timers; the
gate is its ``on_step`` hook.

Each side is a child process; the parent (pairing.orchestrate) lets each run untimed to the first boundary
(seed steps + warm-up), then alternates timed chunks of ``--chunk`` env steps for ``--rounds`` rounds.

    python benchmarks/paired/loop_tdmpc2.py --peer /path/to/tdmpc2 --deps /path/to/deps --rounds 4 --chunk 20
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pairing  # noqa: E402

TASK = "cartpole-balance"
PLANNING = dict(iterations=6, num_samples=512, num_elites=64, num_pi_trajs=24, horizon=3, momentum=0.0,
                min_std=0.05, max_std=2.0, temperature=0.5)


class NoBurst(int):
    """seed_steps whose ``==`` is never true: their loop's one-off pre-training burst becomes one update."""

    def __eq__(self, other):
        return False

    __hash__ = int.__hash__


def run_dict(args) -> dict:
    model = json.loads((pairing.ROOT / "benchmarks" / "paired" / "tdmpc2-size5.json").read_text())
    model.update(obs_shape=[5], action_dim=1, action_type="continuous", episode_length=500, **PLANNING)
    model["model_name"] = "loop-official-size5"
    total = args.prefill + args.warmup + args.chunk * args.rounds + 10
    return {"run": 1, "env": {"id": f"dmc:{TASK}", "obs": "state", "action_repeat": 2, "episode_length": 500},
            "model": model,
            "training": {"total_steps": total, "prefill_steps": args.prefill, "batch_size": 256, "train_ratio": 1.0,
                         "eval_interval": total, "eval_episodes": 0, "checkpoint_interval": 0, "log_interval": total,
                         "seed": 1, "device": "cpu", "precision": "float32", "num_envs": 1, "replay_size": 1_000_000}}


def ours(args, gate: pairing.Gate) -> None:
    from worldflux_cli.config.run import RunConfig
    from worldflux_cli.training import loop
    from worldflux_cli.training.tdmpc2_agent import TDMPC2Agent

    pairing.time_our_loop(gate, TDMPC2Agent)
    run = RunConfig.from_dict(run_dict(args))
    gate.ready()
    with tempfile.TemporaryDirectory() as out:
        loop.train(run, Path(out), on_step=gate.at, tensorboard=False)


def theirs(args, gate: pairing.Gate) -> None:
    import tdmpc2_peer

    tdmpc2_peer.add_paths(Path(args.peer), args.deps)
    import warnings

    warnings.filterwarnings("ignore")
    import common.buffer as buffer_mod  # their modules
    import common.scale as scale
    import common.seed as seed_mod
    import tdmpc2 as official
    from envs import make_env
    from trainer.online_trainer import OnlineTrainer

    tdmpc2_peer.patch_modules(official, scale, buffer_mod, seed_mod)
    cfg = tdmpc2_peer.make_cfg(Path(args.peer), model_size=5, obs_dim=5, action_dim=1, episode_length=500,
                               task=TASK, batch_size=256, eval_episodes=0, save_video=False, enable_wandb=False,
                               save_csv=False, seed=1, **{k: v for k, v in PLANNING.items() if k != "momentum"})
    seed_mod.set_seed(cfg.seed)
    env = make_env(cfg)  # sets obs_shape, action_dim, episode_length, seed_steps as their train.py does
    cfg.seed_steps = NoBurst(args.prefill)
    agent = official.TDMPC2(cfg)
    buf = buffer_mod.Buffer(cfg)

    class Logger:  # wandb / csv / video off
        def log(self, *a, **k):
            pass

        def finish(self, *a, **k):
            pass

    cfg.steps = args.prefill + args.warmup + args.chunk * args.rounds + 10
    trainer = OnlineTrainer(cfg=cfg, env=env, agent=agent, buffer=buf, logger=Logger())
    agent.act = gate.timed("act", agent.act)
    agent.update = gate.timed("update", agent.update)
    buf.add = gate.timed("replay_add", buf.add)
    step_env = gate.timed("env", env.step)
    count = [0]

    def env_step(action):
        out = step_env(action)
        count[0] += 1
        gate.at(count[0])
        return out

    env.step = env_step
    gate.ready()
    trainer.train()


def child(args) -> None:
    pairing.set_threads()
    gate = pairing.Gate(args.prefill + args.warmup, args.chunk, args.rounds)
    with contextlib.suppress(pairing.Stop):
        (ours if args.side == "ours" else theirs)(args, gate)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--peer", required=True, help="path to a checkout of nicklashansen/tdmpc2")
    ap.add_argument("--deps", type=Path, default=None, help="folder holding tensordict and torchrl (pip --target)")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--chunk", type=int, default=20, help="env steps per timed chunk")
    ap.add_argument("--prefill", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=10, help="untimed steps after the seed steps")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--side", choices=("ours", "theirs"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    pairing.ensure_environment()
    if args.side:
        child(args)
        return
    base = [sys.executable, str(Path(__file__).resolve()), *sys.argv[1:]]
    env = pairing.environment_block()
    sides = {"ours": ([*base, "--side", "ours"], {}), "theirs": ([*base, "--side", "theirs"], {})}
    records = pairing.orchestrate(sides, args.rounds, Path(tempfile.gettempdir()) / "loop_tdmpc2_logs")
    pairing.finish_loop("loop-tdmpc2-size5", env, records, args)


if __name__ == "__main__":
    main()
