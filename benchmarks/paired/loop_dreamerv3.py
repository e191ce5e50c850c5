"""Paired CPU timing of the whole training loop: ``worldflux train`` (DreamerV3) beside the official
DreamerV3 training loop (danijar/dreamerv3 ``embodied/run/train.py``, JAX on the CPU), env-steps per second.

Our code only; the official code is imported from a checkout the user fetched (``--peer PATH``, e.g. at
e3f0224) by a child process that runs in a Python environment with its requirements (``--peer-python``:
jax/jaxlib 0.4.33, ninjax, elements, ...; ``--peer-deps`` adds a folder made with ``pip install --no-deps
--target`` for what that environment lacks, here dm_control 1.0.50 / mujoco 3.17.0). Their loop runs as
``dreamerv3/main.py`` starts it for ``script: train``: ``embodied.run.train(make_agent, make_replay,
make_env, make_stream, make_logger, args)`` with their functions: their DMC env and wrappers (which render
a 64 x 64 frame into ``log/image`` every step even for state observations), the ``embodied.Driver`` over
the envs in this process (``run.debug: True``, their default), their jitted policy and train step, their
replay and streams, and the train ratio through ``elements.when.Ratio``.

**Equal configuration** (both sides): dmc cartpole-balance, state observations, action repeat 1, episodes
of 1000 steps (the official ``dmc_proprio`` settings); our ``tiny`` preset's dims on both sides (deter 64,
4 GRU blocks, hidden 32, 4 x 4 latents, MLP units 32, 3 MLP layers, 1-layer reward/continue heads: the
official ``size1m`` at 1 update per env step took 30-90 s per update on each side on the shared machine,
minutes per chunk); batch
16 x 64 with a replay context of 1; train ratio 1024 replayed steps per env step = 1 update per env step
(ours ``train_ratio`` 1.0); ``--envs`` environments (official default 16) acting in lock-step; LaProp,
official variant; fp32 (``jax.compute_dtype: float32``; ours ``precision: float32``); replay capacity
1e6 steps. The official loop acts with its policy from the start and trains once its replay holds
batch_size x batch_length = 1024 sequences of 65 steps (1024 + 64 x envs steps: 2048 with 16 envs); ours
takes that many random prefill steps (``--prefill``), so both start updating at the same step.

**Runtime changes to their loop:** the config overrides above plus ``jax.platform: cpu``,
``jax.prealloc: False``, ``logger.outputs: [jsonl]``, ``run.usage.nvsmi: False`` and log/report/save
intervals of 1e9 s (their first call of each clock still logs, reports and saves once, in the untimed
part); ``agent.policy``, ``agent.train`` and each env's ``step`` are wrapped with timers (pairing.Gate), and
``embodied.Driver._step`` calls the gate after each step of all envs. XLA runs on the 2 cores
(``--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads=2``).

Ours: ``worldflux_cli.training.loop.train`` on the same run, its agent's ``act``/``update``,
``Replay.sample``/``add`` and ``EnvGroup.step`` wrapped with timers; the gate is its ``on_step`` hook.

    python benchmarks/paired/loop_dreamerv3.py --peer /path/to/dreamerv3 --peer-python /path/to/venv/bin/python \\
        --peer-deps /path/to/deps --envs 16 --rounds 3 --chunk 16
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pairing  # noqa: E402

XLA_FLAGS = "--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads=2"
#: Our "tiny" preset's dims (the learning runs'), set the same on both sides.
DIMS = dict(deter=64, hidden=32, stoch=4, classes=4, blocks=4, units=32)
MODEL = dict(model_type="dreamer", model_name="loop-tiny", obs_shape=[5], action_dim=1, action_type="continuous",
             deter_dim=DIMS["deter"], hidden_dim=DIMS["hidden"], stoch_discrete=DIMS["stoch"],
             stoch_classes=DIMS["classes"], gru_blocks=DIMS["blocks"], mlp_units=DIMS["units"], mlp_layers=3,
             head_layers=1, reward_num_bins=255)


def total_steps(args) -> int:
    return args.prefill + args.warmup + args.chunk * args.rounds + 2 * args.envs


def ours(args, gate: pairing.Gate) -> None:
    from worldflux_cli.config.run import RunConfig
    from worldflux_cli.training import loop
    from worldflux_cli.training.dreamer_agent import DreamerV3Agent

    pairing.time_our_loop(gate, DreamerV3Agent)
    total = total_steps(args)
    run = RunConfig.from_dict({
        "run": 1, "env": {"id": "dmc:cartpole-balance", "obs": "state", "action_repeat": 1, "episode_length": 1000},
        "model": MODEL,
        "training": {"total_steps": total, "prefill_steps": args.prefill, "batch_size": 16, "sequence_length": 64,
                     "train_ratio": 1.0, "eval_interval": total, "eval_episodes": 0, "checkpoint_interval": 0,
                     "log_interval": total, "seed": 1, "device": "cpu", "precision": "float32",
                     "num_envs": args.envs, "replay_size": 1_000_000}})
    gate.ready()
    with tempfile.TemporaryDirectory() as out:
        loop.train(run, Path(out), on_step=gate.at, tensorboard=False)


def theirs(args, gate: pairing.Gate) -> None:
    from functools import partial as bind

    peer = Path(args.peer)
    sys.path[:0] = [str(peer), str(peer / "dreamerv3")]
    import elements
    import embodied
    import ruamel.yaml as yaml
    from dreamerv3 import main as official

    configs = yaml.YAML(typ="safe").load((peer / "dreamerv3" / "configs.yaml").read_text())
    config = elements.Config(configs["defaults"]).update(configs["dmc_proprio"])
    logdir = tempfile.mkdtemp(prefix="dv3-loop-")
    config = config.update({
        "task": "dmc_cartpole_balance", "logdir": logdir, "seed": 1, "jax.platform": "cpu",
        "jax.compute_dtype": "float32", "jax.prealloc": False, "logger.outputs": ["jsonl"],
        "run.usage.nvsmi": False, "run.envs": args.envs, "run.steps": total_steps(args) + 64,
        "run.log_every": 1e9, "run.report_every": 1e9, "run.save_every": 1e9, "replay.size": 1e6,
        "agent.dyn.rssm.deter": DIMS["deter"], "agent.dyn.rssm.hidden": DIMS["hidden"],
        "agent.dyn.rssm.stoch": DIMS["stoch"], "agent.dyn.rssm.classes": DIMS["classes"],
        "agent.dyn.rssm.blocks": DIMS["blocks"]}).update({r".*\.units": DIMS["units"]})
    args_ = elements.Config(**config.run, replica=config.replica, replicas=config.replicas, logdir=config.logdir,
                            batch_size=config.batch_size, batch_length=config.batch_length,
                            report_length=config.report_length, consec_train=config.consec_train,
                            consec_report=config.consec_report, replay_context=config.replay_context)

    def make_agent():
        agent = official.make_agent(config)
        agent.policy = gate.timed("act", agent.policy)
        agent.train = gate.timed("update", agent.train)
        return agent

    def make_env(index, **kw):
        env = official.make_env(config, index, **kw)
        env.step = gate.timed("env", env.step)
        return env

    original = embodied.Driver._step
    count = [0]

    def _step(self, policy, step, episode):
        out = original(self, policy, step, episode)
        count[0] += self.length
        gate.at(count[0])
        return out

    embodied.Driver._step = _step
    gate.ready()
    embodied.run.train(make_agent, bind(official.make_replay, config, "replay"), make_env,
                       bind(official.make_stream, config), bind(official.make_logger, config), args_)


def child(args) -> None:
    if args.side == "ours":
        pairing.set_threads()
    gate = pairing.Gate(args.prefill + args.warmup, args.chunk, args.rounds)
    with contextlib.suppress(pairing.Stop):
        (ours if args.side == "ours" else theirs)(args, gate)
    os._exit(0)  # their env/portal threads must not keep the process alive


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--peer", required=True, help="path to a checkout of danijar/dreamerv3")
    ap.add_argument("--peer-python", default=sys.executable, help="python of an environment with its requirements")
    ap.add_argument("--peer-deps", type=Path, default=None, help="extra folder for the peer's sys.path (dm_control)")
    ap.add_argument("--envs", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--chunk", type=int, default=16, help="env steps per timed chunk (a multiple of --envs)")
    ap.add_argument("--prefill", type=int, default=None, help="default 1024 + 64 x envs (see above)")
    ap.add_argument("--warmup", type=int, default=32, help="untimed env steps after the prefill")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--side", choices=("ours", "theirs"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.prefill = 1024 + 64 * args.envs if args.prefill is None else args.prefill
    pairing.ensure_environment()
    if args.side:
        child(args)
        return
    script = str(Path(__file__).resolve())
    rest = [a for a in sys.argv[1:]]
    peer_env = {"XLA_FLAGS": XLA_FLAGS, "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl"),
                "PYTHONPATH": os.pathsep.join(str(p) for p in (pairing.ROOT, args.peer_deps) if p)}
    env = pairing.environment_block()
    records = pairing.orchestrate({"ours": ([sys.executable, script, *rest, "--side", "ours"],
                                            {"MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}),
                                   "theirs": ([args.peer_python, script, *rest, "--side", "theirs"], peer_env)},
                                  args.rounds, Path(tempfile.gettempdir()) / "loop_dreamerv3_logs")
    pairing.finish_loop(f"loop-dreamerv3-tiny-envs{args.envs}", env, records, args)


if __name__ == "__main__":
    main()
