"""The training loop, shared by every model family, and the model folder it writes.

Per iteration, the run's ``num_envs`` environments step in lock-step: the agent (``agent.py``: the family's
part) chooses N actions at once, random in [-1, 1] during the first ``prefill_steps``, then from the model
(TD-MPC2: MPPI warm-started per environment); each transition goes into that environment's ring of the replay
buffer; steps count over all environments (and all ranks). From ``prefill_steps`` on, ``train_ratio`` updates
per agent step through ``agent.update`` (the model's ``update``). Every ``eval_interval`` steps,
``eval_episodes`` episodes of the agent's evaluation policy (their randomness forked off, so evaluating does
not change training); every ``log_interval`` a metrics line (``logs.py``); every ``checkpoint_interval`` (and at
the end, and on Ctrl-C) a checkpoint and the model folder. An interval is reached when the step count passes
a multiple of it (with N environments the count moves N at a time).

Determinism: everything is seeded from ``training.seed``; episode ``e`` is reset with seed ``seed + e``
(episodes numbered over the environments in the order they start); a checkpoint stores every RNG state,
the replay buffer, the agent's state and the actions of each environment's episode in progress, which a
resumed run replays to reach the same environment states. On one CPU device a resumed run ends with the
same weights as an uninterrupted one.

Data-parallel (``ranks``, see ``distributed.py``): every rank builds the same model, acts in its own
environments (seeds offset by rank), samples its own batches and runs the same number of updates, whose
gradients are averaged across ranks between backward and the optimizer step; the model's buffers follow
rank 0's after each update, as DistributedDataParallel's do. The replay ratio (samples per agent step) is a
single process's: each rank makes ``train_ratio`` updates per step of its own environments. Rank 0 evaluates
and writes the metrics, the model folder and its checkpoint; every rank writes its own RNG, environments and
replay buffer beside it.
"""

from __future__ import annotations

import json
import random
import signal
import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from worldflux_cli.errors import WorldfluxError
from worldflux_cli.training.agent import agent_class
from worldflux_cli.training.checkpoint import has_checkpoint, load_checkpoint, save_checkpoint
from worldflux_cli.training.env_group import EnvGroup
from worldflux_cli.training.evaluate import env_seed, run_episodes
from worldflux_cli.training.logs import RunLog, metrics_line, progress_line
from worldflux_cli.training.replay import Replay

RUN_NAME = "run.json"
EVAL_SEED_OFFSET = 1_000_003  # evaluation episodes use seeds apart from the training episodes'
RANK_SEED_OFFSET = 10_000_019  # rank r's environments and sampling are seeded seed + r x this


class Interrupted(WorldfluxError):
    """Ctrl-C during training: a checkpoint was written; exit code 130."""

    exit_code = 130


@dataclass
class TrainResult:
    output: Path
    step: int
    episodes: int
    last_return: float | None
    last_eval: float | None
    resumed_from: int | None = None
    notes: list[str] = field(default_factory=list)
    weights_sha256: str | None = None  # of the final weights, in a data-parallel run (every rank's must agree)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class _StopFlag:
    """Ctrl-C sets the flag; the loop checks it between steps (never in the middle of an update). A second
    Ctrl-C stops at once (no checkpoint; exit 130)."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> _StopFlag:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:  # a second Ctrl-C: stop now, without a checkpoint
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def train(run: Any, output: Path, *, resume: bool = False, total_steps: int | None = None, save_replay: bool = True,
          log: Callable[[str], None] | None = None, on_step: Callable[[int], None] | None = None,
          ranks: Any | None = None, tensorboard: bool = True) -> TrainResult:
    """Train ``run`` (a RunConfig whose family has an agent) into the model folder ``output``; see the module
    docstring.

    ``total_steps`` overrides the run's; ``log`` receives each progress line; ``on_step(step)`` is called after
    every iteration (tests use it); ``ranks`` (distributed.Ranks) makes this one rank of a data-parallel run;
    ``tensorboard`` False writes no event files. Raises Interrupted (exit 130) after writing a checkpoint on
    Ctrl-C.
    """
    from worldflux_cli.envs import make_env
    from worldflux_cli.models import build_model

    t = run.resolved_training()
    total = int(total_steps or t["total_steps"])
    seed, prefill, batch_size = int(t["seed"]), int(t["prefill_steps"]), int(t["batch_size"])
    n, world, rank = int(t["num_envs"]), ranks.world if ranks else 1, ranks.rank if ranks else 0
    lead, config = rank == 0, run.model
    seed_everything(seed)
    model = build_model(config, device=ranks.device if ranks else t["device"])
    agent = agent_class(config.family)(model, run, n)
    agent.configure_optimizers(t)
    if ranks:
        ranks.broadcast(model)  # one start on every rank
    if rank:
        seed_everything(env_seed(seed, rank * RANK_SEED_OFFSET))
    replay = Replay(agent.layout, t["replay_size"], n)
    agent.attach(replay)
    rng = np.random.default_rng(seed if rank == 0 else [seed, rank])
    envs = EnvGroup(run.env, n, env_seed(seed, rank * RANK_SEED_OFFSET))
    eval_env = make_env(run.env) if lead else None
    c: dict[str, Any] = {"step": 0, "episode": 0, "next_episode": n, "env_episodes": list(range(n)),
                         "env_returns": [0.0] * n, "last_return": None, "last_eval": None, "last_eval_step": None,
                         "updates": 0, "credit": 0.0, "rng": None, "losses": {}, "nproc": world}
    result = TrainResult(output, 0, 0, None, None)
    failure: WorldfluxError | None = None
    try:
        first = _start(run, output, resume, save_replay, model, agent, replay, envs, rng, c, result, rank, world)
    except WorldfluxError as exc:  # every rank learns of it before any rank waits on the others
        failure = exc
    if ranks and not ranks.all(failure is None):
        raise failure or WorldfluxError("another rank could not start (its error is reported first)", "")
    if failure is not None:
        raise failure
    obs = np.stack(first)
    starts = np.array([not envs.actions[i] for i in range(n)])

    def checkpoint() -> None:
        c["rng"] = rng.bit_generator.state
        c["env_episodes"], c["env_returns"] = list(envs.episode), list(envs.returns)
        extra = {f"agent/{k}": v for k, v in agent.state().items()}
        for i in range(n):
            extra[f"episode_actions/{i}"] = torch.from_numpy(np.stack(envs.actions[i]) if envs.actions[i] else
                                                             np.zeros((0, config.action_dim), np.float32))
        save_checkpoint(output, model, c, extra, replay if save_replay else None, rank)
        if lead:
            save_model_folder(output, model, run, c, total)
        if ranks:
            ranks.barrier()

    eval_every, log_every = int(t["eval_interval"]), int(t["log_interval"])
    ckpt_every, eval_episodes = int(t["checkpoint_interval"]), int(t["eval_episodes"])
    ratio, repeat = float(t["train_ratio"]), run.env.resolved_action_repeat
    reduce_grads = ranks.reduce_grads if ranks else None
    started, steps_at_start = time.perf_counter(), c["step"]

    def evaluate(step: int) -> None:
        returns = run_episodes(agent.evaluator(model), eval_env, eval_episodes,
                               env_seed(seed, EVAL_SEED_OFFSET + step), next(model.parameters()).device)
        c["last_eval"], c["last_eval_step"] = float(np.mean(returns)), step

    logs = RunLog(output, result.resumed_from, tensorboard) if lead else nullcontext()
    try:
        with _StopFlag() as stop:
            while c["step"] < total:
                before = c["step"]
                actions = agent.act(obs, starts, before < prefill, rng)
                starts = np.zeros(n, bool)
                for i in range(n):
                    next_obs, reward, terminated, truncated = envs.step(i, actions[i])
                    replay.add(i, envs.episode[i], **agent.entry(next_obs, actions[i], reward, terminated, truncated))
                    if terminated or truncated:
                        c["last_return"] = envs.returns[i]
                        c["episode"] += 1
                        next_obs = envs.reset(i, c["next_episode"])
                        c["next_episode"] += 1
                        replay.add(i, envs.episode[i], **agent.first_entry(next_obs))
                        starts[i] = True
                    obs[i] = next_obs
                c["step"] = step = before + n * world
                if step > prefill:
                    c["credit"] += ratio * (step - max(before, prefill)) / world
                    while c["credit"] >= 1.0:
                        c["credit"] -= 1.0
                        sample = replay.sample(batch_size, agent.sample_length, rng, agent.one_episode)
                        if (sample is None) if ranks is None else not ranks.all(sample is not None):
                            c["credit"] = 0.0
                            break
                        c["losses"] = agent.update(sample, reduce_grads)
                        c["updates"] += 1
                        if ranks:
                            ranks.sync_buffers(model)
                if lead and eval_episodes and _passed(before, step, eval_every):
                    evaluate(step)
                if lead and (_passed(before, step, log_every) or step >= total):
                    fps = (step - steps_at_start) / max(time.perf_counter() - started, 1e-9)
                    line = metrics_line(c, fps, repeat)
                    logs.write(line)
                    if log is not None:
                        log(progress_line(line, total, agent.progress_losses))
                if on_step is not None:
                    on_step(step)
                if stop.requested if ranks is None else ranks.any(stop.requested):
                    checkpoint()
                    raise Interrupted(f"interrupted at step {step}: checkpoint written to {output}/checkpoints/",
                                      f"continue with `worldflux train RUN --resume --output {output}`")
                if _passed(before, step, ckpt_every) and step < total:
                    checkpoint()
            if lead and eval_episodes and c["last_eval_step"] != c["step"]:
                evaluate(c["step"])
            checkpoint()
    finally:
        if lead:
            logs.close()
        envs.close()
        if eval_env is not None:
            eval_env.close()
    result.step, result.episodes = c["step"], c["episode"]
    result.last_return, result.last_eval = c["last_return"], c["last_eval"]
    if ranks:
        result.weights_sha256 = weights_digest(model)
    return result


def weights_digest(model: Any) -> str:
    """sha256 of every tensor of the model's state_dict, in order (equal weights, equal digests)."""
    import hashlib

    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _start(run: Any, output: Path, resume: bool, save_replay: bool, model: Any, agent: Any, replay: Replay,
           envs: EnvGroup, rng: np.random.Generator, c: dict[str, Any], result: TrainResult, rank: int,
           world: int) -> list[np.ndarray]:
    """Each environment's first observation: fresh episodes, or (``resume``) the checkpoint's state restored."""
    n = len(envs)
    if not resume:
        first = [envs.reset(i, i) for i in range(n)]
        for i in range(n):
            replay.add(i, i, **agent.first_entry(first[i]))
        return first
    _check_same_model(output, run.model)
    counters, extra = load_checkpoint(output, model, replay if save_replay else None, rank)
    if counters.get("nproc", 1) != world:
        raise WorldfluxError(f"--resume: {output} was trained on {counters.get('nproc', 1)} process(es), not "
                             f"{world}", f"resume with --nproc {counters.get('nproc', 1)}")
    c.update({k: v for k, v in counters.items() if k in c})
    rng.bit_generator.state = counters["rng"]
    agent.load_state({k[len("agent/"):]: v for k, v in extra.items() if k.startswith("agent/")})
    result.resumed_from = c["step"]
    if counters["replay_restored"]:
        return [envs.restore(i, c["env_episodes"][i], extra[f"episode_actions/{i}"].numpy(), c["env_returns"][i])
                for i in range(n)]
    result.notes.append("the checkpoint holds no replay buffer: training goes on from an empty one")
    first = []
    for i in range(n):  # a new episode everywhere: the ones in progress have no stored steps
        first.append(envs.reset(i, c["next_episode"]))
        c["next_episode"] += 1
        replay.add(i, envs.episode[i], **agent.first_entry(first[i]))
    return first


def _passed(before: int, step: int, every: int) -> bool:
    """Whether the step count passed a multiple of ``every`` going from ``before`` to ``step`` (0: never)."""
    return bool(every) and before // every < step // every


def _check_same_model(output: Path, config: Any) -> None:
    saved_config = output / "config.json"
    if saved_config.is_file() and json.loads(saved_config.read_text(encoding="utf-8")) != config.to_dict():
        raise WorldfluxError(f"--resume: the run's model is not the one {output} was trained with",
                             "resume with the run file that started the run (its copy is "
                             f"{output / RUN_NAME}), or train into a new --output folder")


def save_model_folder(output: Path, model: Any, run: Any, c: dict[str, Any], total: int) -> None:
    """config.json + model.safetensors + README.md (with a training section and the return curve) + run.json +
    return_curve.svg, in ``output``."""
    from worldflux_cli.fileio import write_atomic
    from worldflux_cli.hub.pretrained import save_pretrained
    from worldflux_cli.training.card import training_section
    from worldflux_cli.training.curve import CURVE_NAME, curve_points, curve_svg
    from worldflux_cli.training.logs import METRICS_NAME

    evals, episodes = curve_points(output / METRICS_NAME)
    if c.get("last_eval_step") is not None and (not evals or evals[-1][0] < c["last_eval_step"]):
        evals.append((int(c["last_eval_step"]), float(c["last_eval"])))  # an evaluation after the last log line
    write_atomic(output / CURVE_NAME, curve_svg(evals, episodes, run.env.id))
    save_pretrained(model, run.model, output, force=True,
                    card_extra=training_section(run, c, total, evals, CURVE_NAME))
    write_atomic(output / RUN_NAME, json.dumps(run.to_dict(), indent=2) + "\n")


def check_output(output: Path, resume: bool) -> None:
    """A new run needs an empty or missing folder; ``--resume`` needs a checkpoint there."""
    if resume:
        if not has_checkpoint(output):
            raise WorldfluxError(f"--resume: {output} holds no checkpoint (checkpoints/checkpoint.safetensors)",
                                 "train without --resume, or name the run's folder with --output")
        return
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise WorldfluxError(f"{output} is not empty: it would mix two runs",
                             "continue that run with --resume, or choose another --output")
