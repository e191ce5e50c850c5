"""The TD-MPC2 training loop (one environment, state observations) and evaluation episodes.

Per agent step: a random action in [-1, 1] during the first ``prefill_steps``, then
``model.plan(obs, t0=<episode start>, eval_mode=False)`` warm-started from the previous step's plan; the
transition goes into the replay buffer; from ``prefill_steps`` on, ``train_ratio`` updates per step through
``model.update(batch)``. Every ``eval_interval`` steps, ``eval_episodes`` episodes with ``eval_mode=True`` (their
randomness forked off, so evaluating does not change training); every ``log_interval`` a metrics line;
every ``checkpoint_interval`` (and at the end, and on Ctrl-C) a checkpoint and the model folder.

Determinism: everything is seeded from ``training.seed``; episode ``i`` is reset with seed ``seed + i``; a
checkpoint stores every RNG state, the replay buffer and the actions of the episode in progress, which a
resumed run replays to reach the same environment state. On one CPU device a resumed run ends with the
same weights as an uninterrupted one.
"""

from __future__ import annotations

import json
import math
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from worldflux_cli.errors import WorldfluxError
from worldflux_cli.training.checkpoint import has_checkpoint, load_checkpoint, save_checkpoint
from worldflux_cli.training.replay import Replay

METRICS_NAME = "metrics.jsonl"
RUN_NAME = "run.json"
EVAL_SEED_OFFSET = 1_000_003  # evaluation episodes use seeds apart from the training episodes'


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


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _obs_tensor(obs: Any, device: torch.device) -> torch.Tensor:
    return torch.as_tensor(np.asarray(obs, np.float32), device=device).unsqueeze(0)


def run_episodes(model: Any, env: Any, episodes: int, seed: int) -> list[float]:
    """Returns of ``episodes`` episodes with ``plan(eval_mode=True)``; deterministic for a seed (env reset
    with ``seed + i``, the planner's noise seeded with ``seed``); the caller's RNG states are left as they were."""
    device = next(model.parameters()).device
    returns = []
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        for i in range(episodes):
            obs, total, done, t0 = env.reset(seed=seed + i), 0.0, False, True
            while not done:
                action = model.plan(_obs_tensor(obs, device), t0=t0, eval_mode=True)[0].cpu().numpy()
                obs, reward, terminated, truncated, _ = env.step(action)
                total, done, t0 = total + float(reward), terminated or truncated, False
            returns.append(total)
    return returns


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


def _truncate_metrics(path: Path, step: int) -> None:
    """Keep the metrics lines up to ``step`` (a resumed run writes the later ones again)."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            if json.loads(line).get("step", 0) <= step:
                kept.append(line)
        except ValueError:
            continue
    from worldflux_cli.fileio import write_atomic

    write_atomic(path, "".join(line + "\n" for line in kept))


def train(run: Any, output: Path, *, resume: bool = False, total_steps: int | None = None, save_replay: bool = True,
          log: Callable[[str], None] | None = None, on_step: Callable[[int], None] | None = None) -> TrainResult:
    """Train ``run`` (a TD-MPC2 RunConfig) into the model folder ``output``; see the module docstring.

    ``total_steps`` overrides the run's; ``log`` receives each progress line; ``on_step(step)`` is called after
    every step (tests use it). Raises Interrupted (exit 130) after writing a checkpoint on Ctrl-C.
    """
    from worldflux_cli.envs import make_env
    from worldflux_cli.models import build_model

    t = run.resolved_training()
    total = int(total_steps or t["total_steps"])
    seed, prefill, batch_size = int(t["seed"]), int(t["prefill_steps"]), int(t["batch_size"])
    config = run.model
    seed_everything(seed)
    model = build_model(config, device=t["device"])
    model.configure_optimizers(t["learning_rate"])
    device = next(model.parameters()).device
    env, eval_env = make_env(run.env), make_env(run.env)
    replay = Replay(t["replay_size"], tuple(config.obs_shape), config.action_dim, config.horizon)
    rng = np.random.default_rng(seed)
    c: dict[str, Any] = {"step": 0, "episode": 0, "episode_return": 0.0, "last_return": None, "last_eval": None,
                         "last_eval_step": None, "updates": 0, "credit": 0.0, "rng": None, "losses": {}}
    episode_actions: list[np.ndarray] = []
    plan_mean: torch.Tensor | None = None
    result = TrainResult(output, 0, 0, None, None)
    metrics_path = output / METRICS_NAME
    if resume:
        saved_config = output / "config.json"
        if saved_config.is_file() and json.loads(saved_config.read_text(encoding="utf-8")) != config.to_dict():
            raise WorldfluxError(f"--resume: the run's model is not the one {output} was trained with",
                                 "resume with the run file that started the run (its copy is "
                                 f"{output / RUN_NAME}), or train into a new --output folder")
        counters, extra = load_checkpoint(output, model, replay if save_replay else None)
        c.update({k: v for k, v in counters.items() if k in c})
        rng.bit_generator.state = counters["rng"]
        result.resumed_from = c["step"]
        if not counters["replay_restored"]:
            result.notes.append("the checkpoint holds no replay buffer: training goes on from an empty one")
            c["episode"] += 1  # a new episode: the one in progress has no stored steps
            c["episode_return"] = 0.0
        else:
            episode_actions = [a.numpy() for a in extra.get("extra/episode_actions", torch.zeros(0, 1))]
        plan_mean = extra["extra/plan_mean"].to(device) if "extra/plan_mean" in extra else None
        obs = env.reset(seed=seed + c["episode"])
        for action in episode_actions:  # the environments are deterministic: replaying reaches the same state
            obs = env.step(action)[0]
        if not counters["replay_restored"]:
            replay.start_episode(obs, c["episode"])
        _truncate_metrics(metrics_path, c["step"])
    else:
        obs = env.reset(seed=seed)
        replay.start_episode(obs, 0)

    def checkpoint() -> None:
        c["rng"] = rng.bit_generator.state
        extra = {"extra/episode_actions": torch.from_numpy(np.stack(episode_actions)) if episode_actions
                 else torch.zeros(0, config.action_dim)}
        if plan_mean is not None:
            extra["extra/plan_mean"] = plan_mean
        save_checkpoint(output, model, c, extra, replay if save_replay else None)
        save_model_folder(output, model, run, c, total)

    eval_every, log_every = int(t["eval_interval"]), int(t["log_interval"])
    ckpt_every, eval_episodes = int(t["checkpoint_interval"]), int(t["eval_episodes"])
    started, steps_at_start = time.perf_counter(), c["step"]
    with _StopFlag() as stop, open(metrics_path, "a", encoding="utf-8") as metrics:
        while c["step"] < total:
            if c["step"] < prefill:
                action = rng.uniform(-1.0, 1.0, config.action_dim).astype(np.float32)
            else:
                first = not episode_actions or plan_mean is None
                action = model.plan(_obs_tensor(obs, device), t0=first, eval_mode=False,
                                    prev_mean=None if first else plan_mean)[0].cpu().numpy().astype(np.float32)
                plan_mean = model.plan_mean
            obs, reward, terminated, truncated, _ = env.step(action)
            replay.add(obs, action, float(reward), bool(terminated))
            episode_actions.append(action)
            c["episode_return"] += float(reward)
            c["step"] += 1
            step = c["step"]
            if terminated or truncated:
                c["last_return"], c["episode_return"] = c["episode_return"], 0.0
                c["episode"] += 1
                episode_actions, plan_mean = [], None
                obs = env.reset(seed=seed + c["episode"])
                replay.start_episode(obs, c["episode"])
            if step > prefill:
                c["credit"] += float(t["train_ratio"])
                while c["credit"] >= 1.0:
                    c["credit"] -= 1.0
                    sample = replay.sample(batch_size, rng)
                    if sample is None:
                        c["credit"] = 0.0
                        break
                    batch = {k: torch.from_numpy(v).to(device) for k, v in sample.items()}
                    if not config.episodic:
                        batch.pop("terminated")
                    c["losses"] = model.update(batch)
                    c["updates"] += 1
            if eval_episodes and step % eval_every == 0:
                returns = run_episodes(model, eval_env, eval_episodes, seed + EVAL_SEED_OFFSET + step)
                c["last_eval"], c["last_eval_step"] = float(np.mean(returns)), step
            if step % log_every == 0 or step == total:
                fps = (step - steps_at_start) / max(time.perf_counter() - started, 1e-9)
                line = {"step": step, "episode": c["episode"], "updates": c["updates"], "fps": round(fps, 2),
                        "episode_return": c["last_return"], "eval_return": c["last_eval"],
                        "eval_step": c["last_eval_step"],
                        "losses": {k: (v if math.isfinite(v) else None) for k, v in c["losses"].items()}}
                metrics.write(json.dumps(line) + "\n")
                metrics.flush()
                if log is not None:
                    log(_progress_line(line, total))
            if on_step is not None:
                on_step(step)
            if stop.requested:
                checkpoint()
                raise Interrupted(f"interrupted at step {step}: checkpoint written to {output}/checkpoints/",
                                  f"continue with `worldflux train RUN --resume --output {output}`")
            if ckpt_every and step % ckpt_every == 0 and step < total:
                checkpoint()
        if eval_episodes and c["last_eval_step"] != c["step"]:
            returns = run_episodes(model, eval_env, eval_episodes, seed + EVAL_SEED_OFFSET + c["step"])
            c["last_eval"], c["last_eval_step"] = float(np.mean(returns)), c["step"]
        checkpoint()
    env.close()
    eval_env.close()
    result.step, result.episodes = c["step"], c["episode"]
    result.last_return, result.last_eval = c["last_return"], c["last_eval"]
    return result


def _progress_line(line: dict[str, Any], total: int) -> str:
    parts = [f"step {line['step']}/{total}", f"{line['fps']:.1f} steps/s", f"updates {line['updates']}"]
    if line["episode_return"] is not None:
        parts.append(f"return {line['episode_return']:.2f}")
    if line["eval_return"] is not None:
        parts.append(f"eval {line['eval_return']:.2f}")
    loss = line["losses"].get("loss")
    if loss is not None:
        parts.append(f"loss {loss:.4f}")
    return "  ".join(parts)


def save_model_folder(output: Path, model: Any, run: Any, c: dict[str, Any], total: int) -> None:
    """config.json + model.safetensors + README.md (with a training section) + run.json, in ``output``."""
    from worldflux_cli.fileio import write_atomic
    from worldflux_cli.hub.pretrained import save_pretrained
    from worldflux_cli.training.card import training_section

    save_pretrained(model, run.model, output, force=True, card_extra=training_section(run, c, total))
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
