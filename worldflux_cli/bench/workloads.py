"""The measured workloads: one step of each, as a closure over a prepared model, batch and optimizer.

What one step includes (also written into every result as ``includes``):

- DreamerV3 ``train``: the world-model training step: world_model_loss forward over a
  (B, T) batch (encoder, RSSM posterior rollout, decoder, reward, continue, KL), backward,
  the model's own optimizer step on the world-model parameters (official: LaProp with adaptive
  clipping). No actor-critic.
- DreamerV3 ``agent``: the whole official update, ``model.update``: the world-model loss,
  imagination from every posterior state (B*T starts, imagination_horizon steps), actor, critic
  and replay value losses, one backward, the optimizer step, the slow-critic EMA update.
- DreamerV3 ``imagine``: one imagination rollout (no grad) of imagination_horizon steps from
  the B*T posterior states of one batch, with the reward and continue predictions.
- TD-MPC2 ``train``: the official update: model.loss (TD targets, latent rollout over the
  horizon, consistency/reward/value losses, policy loss) forward, one backward, clip
  (grad_clip), Adam step (official groups: encoder lr x 0.3, policy eps 1e-5),
  update_targets() (EMA of the target Qs).
- TD-MPC2 ``plan``: MPPI planning (iterations x num_samples sequences over the horizon)
  for a batch of B observations, no grad.

The random batch is made once, on the device, before timing: data loading is not measured.
With a low-precision --dtype the forward runs under torch.autocast (parameters and optimizer
state stay float32); float16 training uses a GradScaler.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from worldflux_cli.bench import BenchError

#: Workloads of each family, in run order; the first ones are the defaults.
FAMILY_WORKLOADS: dict[str, tuple[str, ...]] = {"dreamer": ("train", "imagine", "agent"),
                                                "tdmpc2": ("train", "plan")}
DEFAULT_WORKLOADS: dict[str, tuple[str, ...]] = {"dreamer": ("train", "imagine"), "tdmpc2": ("train", "plan")}
ALL_WORKLOADS = ("train", "imagine", "plan", "agent")
FAMILY_TITLE = {"dreamer": "DreamerV3", "tdmpc2": "TD-MPC2"}

#: Default batch per workload when --batch is not given (TD-MPC2 plans for one observation, as when acting;
#: DreamerV3 16 x 64 and TD-MPC2 256 are the papers' training batches), and DreamerV3's sequence length.
DEFAULT_BATCH = {("dreamer", "train"): 16, ("dreamer", "agent"): 16, ("dreamer", "imagine"): 16,
                 ("tdmpc2", "train"): 256, ("tdmpc2", "plan"): 1}
DEFAULT_SEQ = {"dreamer": 64}  # TD-MPC2: the config's horizon

INCLUDES = {
    ("dreamer", "train"): "world_model_loss forward over (B, T) + backward + the model's optimizer step (official "
                          "LaProp + adaptive clipping) on the world model only; no actor-critic",
    ("dreamer", "agent"): "model.update: world-model loss + imagination from B*T posterior states + actor, critic "
                          "and replay value losses + one backward + optimizer step + slow-critic EMA",
    ("dreamer", "imagine"): "imagination rollout (no grad) of imagination_horizon steps from the B*T posterior "
                            "states of one batch, with reward and continue predictions",
    ("tdmpc2", "train"): "model.loss terms in the official order (model.update): TD targets, latent rollout "
                         "over the horizon, consistency/reward/value losses + backward + clip + Adam step, then "
                         "the policy loss on the stepped Qs + backward + clip + Adam step, then update_targets",
    ("tdmpc2", "plan"): "MPPI planning (iterations x num_samples action sequences over the horizon) for B "
                        "observations, no grad",
}


def resolve_workloads(family: str, requested: list[str] | None, nproc: int = 1) -> list[str]:
    """The workloads to run, in order; BenchError for an unknown one or one of the other family."""
    if requested is None:
        return ["train"] if nproc > 1 else list(DEFAULT_WORKLOADS[family])
    names: list[str] = []
    for raw in requested:
        name = raw.strip().lower()
        if not name:
            continue
        if name not in ALL_WORKLOADS:
            from worldflux_cli.config.registry import suggest

            hint = suggest(name, list(ALL_WORKLOADS))
            raise BenchError(f"unknown workload {name!r}" + (f"; did you mean {hint!r}?" if hint else ""),
                             f"{FAMILY_TITLE[family]} workloads: {', '.join(FAMILY_WORKLOADS[family])}")
        if name not in FAMILY_WORKLOADS[family]:
            owner = "DreamerV3" if name in FAMILY_WORKLOADS["dreamer"] else "TD-MPC2"
            raise BenchError(f"workload {name!r} does not apply to {FAMILY_TITLE[family]} (it is {owner} only)",
                             f"{FAMILY_TITLE[family]} workloads: {', '.join(FAMILY_WORKLOADS[family])}")
        if name not in names:
            names.append(name)
    if not names:
        raise BenchError("--workloads names no workload",
                         f"{FAMILY_TITLE[family]} workloads: {', '.join(FAMILY_WORKLOADS[family])}")
    if nproc > 1 and names != ["train"]:
        raise BenchError("--nproc measures the train workload only", "use --workloads train (or leave it out)")
    return names


@dataclass
class Context:
    """What every workload needs: the model and the settings of this run."""

    model: nn.Module
    family: str
    device: torch.device
    dtype: torch.dtype  # compute dtype (autocast when not float32)
    batch: int
    seq: int  # DreamerV3: sequence length T; TD-MPC2: the horizon the model was built with
    compile: bool
    seed: int
    #: wraps the loss call for DDP: given (model, method name) returns a callable(batch)
    loss_wrapper: Callable[[nn.Module, str], Callable] | None = None

    def autocast(self):
        if self.dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def generator(self) -> torch.Generator:
        return torch.Generator(device=self.device).manual_seed(self.seed)


@dataclass
class Workload:
    """One prepared workload: ``step()`` runs one step; ``eager_step`` is the uncompiled step (FLOP counting)."""

    name: str
    includes: str
    step: Callable[[], object]
    eager_step: Callable[[], object]
    samples: int  # per step
    sample_unit: str
    env_steps: int | None  # per step, where natural
    env_step_unit: str | None
    teardown: Callable[[], None] = field(default=lambda: None)


def _compile(fn: Callable, ctx: Context) -> Callable:
    return torch.compile(fn) if ctx.compile else fn


def _adam(params, lr: float, eps: float = 1e-8, device: torch.device | None = None) -> torch.optim.Optimizer:
    """Adam with the fastest update kernel available for the device (fused; foreach as fallback)."""
    try:
        return torch.optim.Adam(params, lr=lr, eps=eps, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, lr=lr, eps=eps, foreach=True)


class _Trainer:
    """zero_grad -> autocast forward -> (scaled) backward -> unscale + clip -> step."""

    def __init__(self, ctx: Context, params: list[nn.Parameter], opt: torch.optim.Optimizer, clip: float):
        self.ctx, self.params, self.opt, self.clip = ctx, params, opt, clip
        self.scaler = torch.amp.GradScaler(ctx.device.type, enabled=ctx.dtype == torch.float16)

    def backward_step(self, loss: torch.Tensor) -> None:
        self.scaler.scale(loss).backward()
        if self.clip:
            self.scaler.unscale_(self.opt)
            torch.nn.utils.clip_grad_norm_(self.params, self.clip, foreach=True)
        self.scaler.step(self.opt)
        self.scaler.update()

    def zero_grad(self) -> None:
        self.opt.zero_grad(set_to_none=True)


def _loss_call(ctx: Context, method: str) -> Callable:
    """model.<method>, through the DDP wrapper when distributed."""
    if ctx.loss_wrapper is not None:
        return ctx.loss_wrapper(ctx.model, method)
    return getattr(ctx.model, method)


def _drop(ctx: Context, *objs) -> Callable[[], None]:
    def teardown() -> None:
        ctx.model.zero_grad(set_to_none=True)
        for o in objs:
            if isinstance(o, torch.optim.Optimizer):
                o.state.clear()
        if ctx.device.type == "cuda":
            torch.cuda.empty_cache()

    return teardown


# ----------------------------------------------------------------------------------- DreamerV3
def _dreamer_train(ctx: Context) -> Workload:
    """The world model's share of an update: its loss, backward, the model's own optimizer on its parameters."""
    model = ctx.model
    model.train()
    batch = model.random_batch(ctx.batch, ctx.seq, generator=ctx.generator(), device=ctx.device)
    model.configure_optimizers()
    scaler = torch.amp.GradScaler(ctx.device.type, enabled=ctx.dtype == torch.float16)
    eager = _loss_call(ctx, "world_model_loss")
    loss_fn = _compile(eager, ctx)

    def make(fn):
        def step():
            model.zero_grad(set_to_none=True)
            with ctx.autocast():
                loss, _, _ = fn(batch)
            scaler.scale(loss).backward()
            for opt in model.optimizers:
                scaler.unscale_(opt)
            model.clip_gradients()
            model.warm_up_learning_rates()
            for opt in model.optimizers:
                scaler.step(opt)
            scaler.update()
        return step

    def teardown() -> None:
        _drop(ctx)()
        model.configure_optimizers()  # drops the optimizer state

    n = ctx.batch * ctx.seq
    return Workload("train", INCLUDES["dreamer", "train"], make(loss_fn), make(eager), ctx.batch, "sequences",
                    n, "env-steps", teardown)


def _dreamer_agent(ctx: Context) -> Workload:
    """The whole official update (model.update): world model, imagination, actor, critic, replay value, slow critic."""
    model = ctx.model
    model.train()
    batch = model.random_batch(ctx.batch, ctx.seq, generator=ctx.generator(), device=ctx.device)
    model.configure_optimizers()
    eager = model.update
    update_fn = _compile(eager, ctx)

    def make(fn):
        def step():
            with ctx.autocast():
                return fn(batch)
        return step

    def teardown() -> None:
        _drop(ctx)()
        model.configure_optimizers()

    n = ctx.batch * ctx.seq
    return Workload("agent", INCLUDES["dreamer", "agent"], make(update_fn), make(eager), ctx.batch, "sequences", n,
                    "env-steps", teardown)


def _dreamer_imagine(ctx: Context) -> Workload:
    model, c = ctx.model, ctx.model.config
    model.eval()
    batch = model.random_batch(ctx.batch, ctx.seq, generator=ctx.generator(), device=ctx.device)
    with torch.no_grad(), ctx.autocast():
        _, _, post = model.world_model_loss(batch)
    eager = model.imagine
    fn = _compile(eager, ctx)

    def make(f):
        def step():
            with torch.no_grad(), ctx.autocast():
                return f(post, c.imagination_horizon)
        return step

    starts = ctx.batch * ctx.seq
    return Workload("imagine", INCLUDES["dreamer", "imagine"], make(fn), make(eager), starts, "start states",
                    starts * c.imagination_horizon, "imagined steps", _drop(ctx))


# ------------------------------------------------------------------------------------- TD-MPC2
def _tdmpc2_train(ctx: Context) -> Workload:
    """One official update (model.update): world-model step, then policy step, then EMA targets.

    Under DDP (ctx.loss_wrapper) the combined one-backward loss is timed instead, through the wrapper.
    """
    model, c = ctx.model, ctx.model.config
    model.train()
    batch = model.random_batch(ctx.batch, generator=ctx.generator(), device=ctx.device)
    if ctx.loss_wrapper is not None:
        params = [p for p in model.parameters() if p.requires_grad]
        groups = [{**g, "params": [p for p in g["params"] if p.requires_grad]} for g in model.optimizer_param_groups()]
        trainer = _Trainer(ctx, params, _adam([g for g in groups if g["params"]], c.learning_rate), c.grad_clip)
        eager = _loss_call(ctx, "loss")
        loss_fn = _compile(eager, ctx)

        def make(fn):
            def step():
                trainer.zero_grad()
                with ctx.autocast():
                    loss, _ = fn(batch)
                trainer.backward_step(loss)
                model.update_targets()
            return step

        return Workload("train", INCLUDES["tdmpc2", "train"], make(loss_fn), make(eager), ctx.batch, "samples",
                        ctx.batch * c.horizon, "transitions", _drop(ctx, trainer.opt))
    model.configure_optimizers()
    eager = model.update
    update_fn = _compile(eager, ctx)

    def make_update(fn):
        def step():
            with ctx.autocast():
                return fn(batch)
        return step

    def teardown() -> None:
        _drop(ctx)()
        model.configure_optimizers()  # drops the optimizer state

    return Workload("train", INCLUDES["tdmpc2", "train"], make_update(update_fn), make_update(eager), ctx.batch,
                    "samples", ctx.batch * c.horizon, "transitions", teardown)


def _tdmpc2_plan(ctx: Context) -> Workload:
    model = ctx.model
    model.eval()
    obs = model.random_batch(ctx.batch, generator=ctx.generator(), device=ctx.device)["obs"][0]
    gen = ctx.generator()
    eager = model.plan
    fn = _compile(eager, ctx)

    def make(f):
        def step():
            with torch.no_grad(), ctx.autocast():
                return f(obs, t0=True, eval_mode=False, generator=gen)
        return step

    return Workload("plan", INCLUDES["tdmpc2", "plan"], make(fn), make(eager), ctx.batch, "observations",
                    None, None, _drop(ctx))


BUILDERS: dict[tuple[str, str], Callable[[Context], Workload]] = {
    ("dreamer", "train"): _dreamer_train,
    ("dreamer", "agent"): _dreamer_agent,
    ("dreamer", "imagine"): _dreamer_imagine,
    ("tdmpc2", "train"): _tdmpc2_train,
    ("tdmpc2", "plan"): _tdmpc2_plan,
}


def prepare(ctx: Context, name: str) -> Workload:
    """Build the step closure of workload ``name`` for ``ctx.family``."""
    return BUILDERS[ctx.family, name](ctx)
