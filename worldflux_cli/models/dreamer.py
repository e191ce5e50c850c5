"""DreamerV3 (Hafner et al., 2023/2025) in PyTorch: the official algorithm (danijar/dreamerv3), number for number.

World model: an encoder (CNN for (C, H, W) images, MLP for (D,) vectors) produces tokens; an
RSSM with a block-diagonal GRU core keeps a deterministic state ``deter`` and samples
``stoch_discrete`` categorical latents of ``stoch_classes`` classes (1% unimix, straight-through
gradients); a decoder reconstructs the observation from (deter, stoch); a reward head (two-hot) and
a continue head (Bernoulli) read the features ``[deter, stoch]``. It is trained with reconstruction,
reward, continue and free-nats KL losses with dynamics/representation scales. Behaviour: an actor
and a two-hot critic trained on imagined rollouts with lambda-returns, percentile return
normalisation and an EMA ("slow") critic as the critic's regulariser; in the official variant also
a replay value loss on the replayed posterior states. ``update(batch)`` is one official training
step of all of it (one loss, one backward, the optimizer, the slow critic).

Where the official code and the 2023 paper differ, the config's ``variant`` picks (see
worldflux_cli/config/dreamer_variants.py); ``config.resolved()`` gives the values used here.

Layers are Linear -> RMSNorm -> SiLU everywhere (as the official code); weights use the fan-in
truncated-normal initialiser with the official fans (a block-diagonal layer's fan-in is its whole
input width); the reward and critic output layers start at zero. The CNN (official default) is a
stride-1 convolution padded as JAX's SAME then 2x2 max-pooling per stage; the decoder upsamples by
nearest neighbour, then convolves. ``cnn_strided`` selects the official ``strided`` form: stride-2
convolutions (SAME: a 5x5 kernel pads 1 before and 2 after) and, in the decoder, fractionally
strided ones (the input spread to the odd pixels of a map twice as large, then a SAME convolution).
Activations run channels-last. The image decoder projects deter block-wise in ``decoder_blocks``
groups (official ``bspace``). The actor is trained with REINFORCE for both action types. Parameter
counts equal the official code's (params/dreamer.py mirrors this file; tests pin both).

The code here is plain PyTorch and is the model's definition. On the CPU a few pieces hand their work
to hand-written kernels that compute the same maths faster (models/kernels/: the convolutions, RMSNorm,
the posterior rollout, the image loss and the input copy), each behind a one-line dispatch;
``WORLDFLUX_KERNELS=plain`` turns them all off. Every random draw goes through models/sampling.py.

Batch convention (``random_batch`` makes one): ``obs`` (B, L, *obs_shape) float (images in [0, 1];
uint8 images are accepted and divided by 255), ``action`` (B, L, action_dim) is the action that *led
to* ``obs[:, t]`` (one-hot for discrete actions, in [-1, 1] for continuous; ignored where
``is_first``), ``reward`` (B, L) the reward received with ``obs[:, t]``, ``cont`` (B, L) 0 where
``obs[:, t]`` is terminal, else 1, ``is_first`` (B, L) bool, True where an episode starts (the
recurrent state is reset there), optional ``is_last`` (B, L) bool, True at an episode's last step
(terminal or cut off; the replay value loss does not bootstrap across it; default False). With a
replay context of K steps (``replay_context``, official 1) L = K + T: the first K steps only supply
the starting state, read from ``deter`` (B, L, D) and ``stoch`` (B, L, S*C), the posterior states
stored while acting (step K - 1's), and the losses are computed on the last T steps.

Example::

    model = DreamerV3(DreamerV3Config.from_size("tiny"))
    batch = model.random_batch(16, 64, generator=torch.Generator().manual_seed(0))
    metrics = model.update(batch)            # world model, actor, critic, slow critic: one step
    action, state = model.policy(obs, state)  # acting: the posterior filter and the actor
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from worldflux_cli.config.dreamer import DreamerV3Config
from worldflux_cli.models.dreamer_nets import (
    Actor,
    Conv,
    Head,
    ImageDecoder,
    ImageEncoder,
    ReturnNorm,
    VectorDecoder,
    VectorEncoder,
    at_least_float32,
    same_padding,
)
from worldflux_cli.models.dreamer_rssm import RSSM
from worldflux_cli.models.layers import sigmoid_squared_error
from worldflux_cli.models.math import symexp, symexp_bins, symlog, symlog_bins, twohot_decode, twohot_encode

#: Range of the two-hot bins in symlog space (official: linspace(-20, 0) halves, symexp'd for 'symexp').
BIN_LOW, BIN_HIGH = -20.0, 20.0
#: Weight of the critic's regulariser towards the slow critic (official slowreg).
SLOW_REG = 1.0
#: Output-layer init scale of the reward head and the critic (official outscale: zeros).
VALUE_OUT_SCALE = 0.0
#: Betas of the LaProp and Adam optimizers (official beta1 / beta2; the paper's Adam).
BETAS = (0.9, 0.999)


# ----------------------------------------------------------------------------------- the model
class DreamerV3(nn.Module):
    """DreamerV3 world model, actor and critic for ``config``. See the module docstring.

    Submodules: encoder, rssm, decoder, reward_head, continue_head, actor, critic, slow_critic
    (EMA copy of the critic, not trainable), return_norm (buffers only).
    """

    def __init__(self, config: DreamerV3Config) -> None:
        super().__init__()
        c = self.config = config
        self.settings: dict[str, Any] = c.resolved()
        self.image_obs = c.resolved_encoder() == "cnn"
        self.encoder = ImageEncoder(c) if self.image_obs else VectorEncoder(c)
        self.rssm = RSSM(c, self.encoder.out_dim)
        self.decoder = ImageDecoder(c) if c.resolved_decoder() == "cnn" else VectorDecoder(c)
        feat = c.deter_dim + c.stoch_dim
        self.reward_head = Head(feat, c.mlp_units, c.head_layers, c.reward_num_bins, scale=VALUE_OUT_SCALE)
        self.continue_head = Head(feat, c.mlp_units, c.head_layers, 1)
        self.actor = Actor(c, feat)
        self.critic = Head(feat, c.mlp_units, c.mlp_layers, c.reward_num_bins, scale=VALUE_OUT_SCALE)
        self.slow_critic = copy.deepcopy(self.critic).requires_grad_(False)
        self.return_norm = ReturnNorm(c.return_norm_decay)
        self._optims: dict[str, torch.optim.Optimizer] | None = None
        #: The posterior states (deter (B, T, D), stoch (B, T, Z), detached) of the last ``update``'s batch,
        #: for a replay that keeps them as the replay context (official replay.update).
        self.last_posterior: dict[str, Tensor] | None = None
        #: The sizes of the official vector observation keys this model's one vector concatenates (sorted key
        #: order), when there are several (set by interop.dreamerv3.import_checkpoint): the optimizer's clipping
        #: then measures the decoder's output rows of each key apart, as the official per-key heads.
        self.vector_obs_sizes: list[int] | None = None

    # ------------------------------------------------------------------ introspection
    _COMPONENTS = (("encoder", "encoder"), ("rssm", "rssm"), ("decoder", "decoder"), ("reward", "reward_head"),
                   ("continue", "continue_head"), ("actor", "actor"), ("critic", "critic"))

    def component_params(self) -> dict[str, int]:
        """Trainable parameters per component (encoder, rssm, decoder, reward, continue, actor, critic)."""
        return {name: sum(p.numel() for p in getattr(self, attr).parameters() if p.requires_grad)
                for name, attr in self._COMPONENTS}

    def frozen_params(self) -> dict[str, int]:
        """Parameters of the non-trainable EMA copies: {"slow_critic": n}."""
        return {"slow_critic": sum(p.numel() for p in self.slow_critic.parameters())}

    def world_model_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters trained by world_model_loss (encoder, rssm, decoder, reward, continue)."""
        for _, attr in self._COMPONENTS[:5]:
            yield from getattr(self, attr).parameters()

    @property
    def _ref(self) -> Tensor:
        return self.rssm.gru.weight

    # ------------------------------------------------------------------ data
    def random_batch(self, batch_size: int, seq_len: int, generator: torch.Generator | None = None,
                     device=None) -> dict[str, Tensor]:
        """A random batch in the model's batch convention (see the module docstring), float32.

        ``seq_len`` steps are trained on; with a replay context of K steps the batch holds K more in front,
        with random stored posterior states (``deter`` normal, ``stoch`` one-hot). Images are uniform in
        [0, 1], vectors standard normal; about 2% of steps are terminal (cont = 0) and the next step starts
        an episode. With a ``generator`` the batch is drawn on the generator's device and moved to
        ``device`` (default: the model's).
        """
        c = self.config
        device = torch.device(device) if device is not None else self._ref.device
        gen_device = generator.device if generator is not None else device
        k = int(self.settings["replay_context"])
        b, t = batch_size, seq_len + k
        kw = dict(generator=generator, device=gen_device)
        obs = torch.rand(b, t, *c.obs_shape, **kw) if self.image_obs else torch.randn(b, t, *c.obs_shape, **kw)
        if c.action_type == "discrete":
            idx = torch.randint(c.action_dim, (b, t), **kw)
            action = F.one_hot(idx, c.action_dim).float()
        else:
            action = torch.rand(b, t, c.action_dim, **kw) * 2 - 1
        reward = torch.randn(b, t, **kw)
        terminal = torch.rand(b, t, **kw) < 0.02
        is_first = torch.zeros(b, t, dtype=torch.bool, device=gen_device)
        is_first[:, 0] = True
        is_first[:, 1:] = terminal[:, :-1]
        batch = dict(obs=obs, action=action, reward=reward, cont=(~terminal).float(), is_first=is_first,
                     is_last=terminal.clone())
        if k:
            batch["deter"] = torch.randn(b, t, c.deter_dim, **kw)
            cls = torch.randint(c.stoch_classes, (b, t, c.stoch_discrete), **kw)
            batch["stoch"] = F.one_hot(cls, c.stoch_classes).float().flatten(-2)
        return {k_: v.to(device) for k_, v in batch.items()}

    # ------------------------------------------------------------------ two-hot heads
    def bins(self, device=None) -> Tensor:
        """The two-hot bins (reward_num_bins,), float32: raw-space symexp bins or symlog-space bins."""
        n = self.config.reward_num_bins
        if self.settings["twohot_bins"] == "symexp":
            return symexp_bins(n, BIN_LOW, device=device)
        return symlog_bins(n, BIN_LOW, BIN_HIGH, device=device)

    def _twohot_loss(self, logits: Tensor, target: Tensor) -> Tensor:
        """Cross-entropy of two-hot logits against raw scalar targets (symlog'd for symlog bins)."""
        dtype = at_least_float32(logits)
        target = target.to(dtype)
        if self.settings["twohot_bins"] == "symlog":
            target = symlog(target)
        code = twohot_encode(target, self.bins(logits.device).to(dtype))
        return -(code * torch.log_softmax(logits.to(dtype), -1)).sum(-1)

    def _twohot_mean(self, logits: Tensor) -> Tensor:
        mean = twohot_decode(logits, self.bins(logits.device), logits=True)
        return symexp(mean) if self.settings["twohot_bins"] == "symlog" else mean

    def _squash(self, x: Tensor) -> Tensor:
        return symlog(x) if self.config.use_symlog else x

    # ------------------------------------------------------------------ world model
    def _split_context(self, batch: dict[str, Tensor]) -> tuple[dict[str, Tensor], tuple[Tensor, Tensor] | None]:
        """The trained steps of ``batch`` and the starting state from its replay context (None without one)."""
        k = int(self.settings["replay_context"])
        if not k:
            return batch, None
        if "deter" not in batch or "stoch" not in batch:
            raise ValueError(f"replay_context = {k}: the batch needs the stored posterior states 'deter' and 'stoch' "
                             f"of its first {k} step(s) (random_batch makes them), or set replay_context 0")
        if batch["obs"].shape[1] <= k:
            raise ValueError(f"replay_context = {k}: a batch needs more than {k} steps, it has "
                             f"{batch['obs'].shape[1]}")
        start = (batch["deter"][:, k - 1], batch["stoch"][:, k - 1])
        return {name: v[:, k:] for name, v in batch.items() if name not in ("deter", "stoch")}, start

    def _world(self, batch: dict[str, Tensor]) -> dict[str, Any]:
        """The world model's forward on the trained steps: loss terms per (B, T) and the posterior (with grad)."""
        s, dtype = self.settings, self._ref.dtype
        batch, start = self._split_context(batch)
        obs = batch["obs"]
        obs = obs.to(dtype) / 255 if obs.dtype == torch.uint8 else obs.to(dtype)
        b, t = obs.shape[:2]
        tokens = self.encoder(obs.flatten(0, 1)).view(b, t, -1)
        deter, stoch, post_logits = self.rssm.observe(tokens, batch["action"].to(dtype), batch["is_first"], start)
        prior_logits = self.rssm.prior_logits_of(deter)
        feat = torch.cat([deter, stoch], -1)

        recon = self.decoder(deter.flatten(0, 1), stoch.flatten(0, 1))
        target = obs.flatten(0, 1).to(at_least_float32(obs))
        if self.image_obs:  # squared error of the sigmoid pixel means, summed per frame
            rec = sigmoid_squared_error(recon, target) / (b * t)
        else:
            rec = F.mse_loss(recon.to(target.dtype), self._squash(target), reduction="sum") / (b * t)
        rew = self._twohot_loss(self.reward_head(feat), batch["reward"])
        cont = batch["cont"].to(at_least_float32(feat))
        if s["continue_discount"]:
            cont = cont * s["discount"]
        con_logit = self.continue_head(feat).squeeze(-1)
        con = F.binary_cross_entropy_with_logits(con_logit.to(cont.dtype), cont, reduction="none")
        lp, lq = self.rssm.log_probs(post_logits), self.rssm.log_probs(prior_logits)
        p = lp.exp()
        dyn = (p.detach() * (lp.detach() - lq)).sum((-2, -1))
        rep = (p * (lp - lq.detach())).sum((-2, -1))
        terms = {"reconstruction": rec, "reward": rew.mean(), "continue": con.mean(),
                 "kl_dyn": dyn.clamp(min=self.config.kl_free).mean(),
                 "kl_rep": rep.clamp(min=self.config.kl_free).mean()}
        metrics = {"kl": dyn.detach().mean(), "post_entropy": -(p * lp).sum((-2, -1)).detach().mean(),
                   "prior_entropy": -(lq.exp() * lq).sum((-2, -1)).detach().mean()}
        return {"terms": terms, "metrics": metrics, "feat": feat, "deter": deter, "stoch": stoch, "batch": batch}

    def _scaled(self, terms: dict[str, Tensor]) -> Tensor:
        s = self.settings
        scales, balance = s["loss_scales"], s["kl_balance"]
        weights = {"reconstruction": scales["reconstruction"], "reward": scales["reward"],
                   "continue": scales["continue"], "kl_dyn": scales["kl"] * balance,
                   "kl_rep": scales["kl"] * (1 - balance), "policy": scales["policy"], "value": scales["value"],
                   "repval": scales["repval"]}
        return sum(weights[k] * v for k, v in terms.items())

    def world_model_loss(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor], dict[str, Tensor]]:
        """World-model loss on a batch -> (loss, metrics, post_state).

        loss = rec * reconstruction + rew * reward + con * continue
               + kl * balance * max(free, KL[sg(post) || prior])
               + kl * (1 - balance) * max(free, KL[post || sg(prior)]),
        each term a mean over (B, T); images use the sum of squared errors of the sigmoid pixel
        means, vectors of the (symlog) values; the continue target is (1 - terminal) * discount when
        ``continue_discount`` (official). post_state holds the detached posterior states (``deter``
        (B, T, D), ``stoch`` (B, T, S*K) one-hot), the starts of ``imagine``.
        """
        world = self._world(batch)
        loss = self._scaled(world["terms"])
        metrics = {**{k: v.detach() for k, v in world["terms"].items()}, **world["metrics"], "loss": loss.detach()}
        return loss, metrics, {"deter": world["deter"].detach(), "stoch": world["stoch"].detach()}

    # ------------------------------------------------------------------ behaviour
    @torch.no_grad()
    def imagine(self, start_state: dict[str, Tensor], horizon: int | None = None) -> dict[str, Tensor]:
        """Roll the actor out in the prior for ``horizon`` steps (default imagination_horizon)
        from every start state (any leading shape, flattened to N).

        Returns a trajectory of H+1 states: ``feat`` (N, H+1, D+Z), ``action`` (N, H+1, A)
        (action i is taken in state i), ``reward`` (N, H+1) and ``cont`` (N, H+1) predicted for
        each state (``cont`` is the continue head's probability, which carries the discount when
        ``continue_discount``). No gradients: the actor-critic loss recomputes what it trains.
        """
        horizon = self.config.imagination_horizon if horizon is None else horizon
        dtype = self._ref.dtype
        deter = start_state["deter"].reshape(-1, self.rssm.deter_dim).to(dtype)
        stoch = start_state["stoch"].reshape(-1, self.rssm.stoch_dim).to(dtype)
        feats, actions = [torch.cat([deter, stoch], -1)], []
        for _ in range(horizon):
            actions.append(self.actor.sample(feats[-1]))
            deter, stoch = self.rssm.img_step(deter, stoch, actions[-1])
            feats.append(torch.cat([deter, stoch], -1))
        actions.append(self.actor.sample(feats[-1]))
        feat = torch.stack(feats, 1)
        con_logit = self.continue_head(feat).squeeze(-1)
        return {
            "feat": feat,
            "action": torch.stack(actions, 1),
            "reward": self._twohot_mean(self.reward_head(feat)),
            "cont": torch.sigmoid(con_logit.to(at_least_float32(con_logit))),
        }

    def _return_discount(self) -> float:
        """The discount the returns apply to the continue probabilities: 1 when the continue head carries it."""
        return 1.0 if self.settings["continue_discount"] else float(self.settings["discount"])

    def lambda_return(self, reward: Tensor, cont: Tensor, value: Tensor) -> Tensor:
        """R_t = r_{t+1} + d * c_{t+1} * ((1 - lambda) v_{t+1} + lambda R_{t+1}), R_H = v_H, with d the
        returns' discount (1 when ``continue_discount``, else ``discount``).

        reward, cont, value (N, H+1) -> returns (N, H) for states 0..H-1.
        """
        lam, live = self.config.return_lambda, self._return_discount() * cont[:, 1:]
        interm = reward[:, 1:] + live * (1 - lam) * value[:, 1:]
        ret, out = value[:, -1], []
        for i in reversed(range(live.shape[1])):
            ret = interm[:, i] + live[:, i] * lam * ret
            out.append(ret)
        return torch.stack(out[::-1], 1)

    def _behaviour(self, trajectory: dict[str, Tensor]) -> dict[str, Any]:
        c = self.config
        feat, action = trajectory["feat"].detach(), trajectory["action"].detach()
        reward, cont = trajectory["reward"].float(), trajectory["cont"].float()
        logits = self.critic(feat)
        value = self._twohot_mean(logits.detach())
        with torch.no_grad():
            slow_value = self._twohot_mean(self.slow_critic(feat))
        ret = self.lambda_return(reward, cont, value)
        disc = self._return_discount()
        weight = (torch.cumprod(disc * cont, 1) / disc)[:, :-1]
        scale = self.return_norm(ret, update=self.training)
        adv = (ret - value[:, :-1]) / scale
        logp, ent = self.actor.log_prob_entropy(feat[:, :-1], action[:, :-1])
        actor_loss = (weight * -(logp * adv + c.actor_entropy * ent)).mean()
        value_logits = logits[:, :-1]
        critic_loss = (weight * (self._twohot_loss(value_logits, ret)
                                 + SLOW_REG * self._twohot_loss(value_logits, slow_value[:, :-1]))).mean()
        metrics = {"actor_entropy": ent.detach().mean(), "imag_return": ret.mean(), "imag_value": value.mean(),
                   "return_scale": scale.detach().clone(), "advantage": adv.mean(), "weight": weight.mean()}
        return {"policy": actor_loss, "value": critic_loss, "ret": ret, "metrics": metrics}

    def actor_critic_loss(self, trajectory: dict[str, Tensor]) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """Actor and critic losses on an imagined trajectory -> (actor_loss, critic_loss, metrics).

        Returns are lambda-returns bootstrapped with the critic; advantages are divided by the
        return scale max(1, EMA(P95) - EMA(P5)) (the EMAs update in training mode). The actor is
        trained with REINFORCE plus actor_entropy * entropy, the critic with two-hot
        cross-entropy towards the returns plus a regulariser towards the slow critic's values;
        both are weighted by the cumulative (discounted) continue probabilities.
        """
        out = self._behaviour(trajectory)
        metrics = {"actor_loss": out["policy"].detach(), "critic_loss": out["value"].detach(), **out["metrics"]}
        return out["policy"], out["value"], metrics

    def replay_value_loss(self, feat: Tensor, batch: dict[str, Tensor], boot: Tensor) -> Tensor:
        """The official replay value loss (``repval``) on the replayed posterior features ``feat`` (B, T, D+Z).

        Lambda-returns along the replayed sequence from its rewards, terminals (``cont``) and episode ends
        (``is_last``), bootstrapped at every step with ``boot`` (B, T), the imagined return from that step's
        state; discount ``discount``. The critic's two-hot loss towards them plus the regulariser towards
        the slow critic, weighted 0 at episode ends. ``feat`` keeps its gradient: the loss also trains the
        world model (official repval_grad).
        """
        c = self.config
        lam, disc = c.return_lambda, float(self.settings["discount"])
        dtype = boot.dtype
        last = batch.get("is_last")
        last = torch.zeros_like(boot) if last is None else last.to(dtype)
        live = batch["cont"].to(dtype)[:, 1:] * disc
        cont = (1 - last[:, 1:]) * lam
        rew = batch["reward"].to(dtype)
        interm = rew[:, 1:] + (1 - cont) * live * boot[:, 1:]
        ret, rets = boot[:, -1], []
        for i in reversed(range(live.shape[1])):
            ret = interm[:, i] + live[:, i] * cont[:, i] * ret
            rets.append(ret)
        ret = torch.stack(rets[::-1], 1).detach()
        logits = self.critic(feat)[:, :-1]
        with torch.no_grad():
            slow = self._twohot_mean(self.slow_critic(feat))[:, :-1]
        loss = self._twohot_loss(logits, ret) + SLOW_REG * self._twohot_loss(logits, slow)
        return ((1 - last[:, :-1]) * loss).mean()

    def loss_terms(self, batch: dict[str, Tensor]) -> tuple[dict[str, Tensor], dict[str, Tensor], dict[str, Tensor]]:
        """Every term of the official loss, unscaled -> (terms, metrics, posterior states).

        terms: reconstruction, reward, continue, kl_dyn, kl_rep (world model, on the batch), policy and value
        (actor and critic, on the imagination from every posterior state, run without gradient), and repval
        (the replay value loss) when its scale is not 0. The gradients of policy and value reach only the actor
        and the critic (the imagined features are detached); repval reaches the critic and the world model.
        """
        world = self._world(batch)
        deter, stoch = world["deter"].detach(), world["stoch"].detach()
        behaviour = self._behaviour(self.imagine({"deter": deter, "stoch": stoch}))
        terms = {**world["terms"], "policy": behaviour["policy"], "value": behaviour["value"]}
        if self.settings["loss_scales"]["repval"]:
            b, t = deter.shape[:2]
            boot = behaviour["ret"][:, 0].reshape(b, t).detach()
            terms["repval"] = self.replay_value_loss(world["feat"], world["batch"], boot)
        return terms, {**world["metrics"], **behaviour["metrics"]}, {"deter": deter, "stoch": stoch}

    def loss(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor], dict[str, Tensor]]:
        """The whole official loss of one update -> (total, metrics, posterior states).

        total is the sum of every term of ``loss_terms`` (each a mean) times its scale
        (``config.resolved()['loss_scales']``, the KL split by ``kl_balance``).
        """
        terms, metrics, post = self.loss_terms(batch)
        total = self._scaled(terms)
        return total, {**{k: v.detach() for k, v in terms.items()}, **metrics, "loss": total.detach()}, post

    # ------------------------------------------------------------------ optimizers and the update
    def _part_params(self) -> dict[str, list[nn.Parameter]]:
        return {"world": [p for p in self.world_model_parameters() if p.requires_grad],
                "actor": list(self.actor.parameters()), "critic": list(self.critic.parameters())}

    def configure_optimizers(self, learning_rate: float | None = None, actor_learning_rate: float | None = None,
                             critic_learning_rate: float | None = None) -> None:
        """Create the optimizers (``update`` calls this on first use; call it again after moving the model).

        official ('laprop'): one LaProp over all parts with a group per part (its learning rate, clip and
        eps), adaptive clipping, warm-up. paper2023 ('adam'): one Adam per part, clipped by global norm in
        ``update``. The arguments override the config's learning rates (a training run's own rates).
        """
        s = self.settings
        rates = {"world": learning_rate or s["learning_rate"], "actor": actor_learning_rate or s["actor_learning_rate"],
                 "critic": critic_learning_rate or s["critic_learning_rate"]}
        parts = self._part_params()
        if s["optimizer"] == "laprop":
            from worldflux_cli.models.optim import LaProp

            groups = [{"params": parts[k], "lr": rates[k], "clip": s["grad_clip"][k], "eps": s["optimizer_eps"][k],
                       "name": k} for k in parts]
            self._optims = {"laprop": LaProp(groups, betas=BETAS, warmup=int(s["warmup_steps"]),
                                             agc_units=self.official_tensors())}
        else:
            self._optims = {k: torch.optim.Adam(parts[k], lr=rates[k], betas=BETAS, eps=s["optimizer_eps"][k])
                            for k in parts}
            for k, opt in self._optims.items():
                for group in opt.param_groups:
                    group["base_lr"] = rates[k]

    def official_tensors(self) -> list[list[tuple[nn.Parameter, slice | None]]]:
        """The official tensors that this model keeps in another form, as pieces (parameter, rows) of its own
        parameters (rows: a slice of the first axis, None for the whole): the core's block hidden layer
        (``dyn/dynhid0/kernel``: hid_block, hid_state, hid_action), the posterior layer (``dyn/obs0/kernel``:
        post_deter, post_token), the continuous actor's ``mean`` and ``stddev`` layers (the rows of one output
        layer) and, when ``vector_obs_sizes`` is set (the sizes of several official vector observations, in their
        sorted order; interop.dreamerv3.import_checkpoint sets it), the vector decoder's per-key output layers.
        LaProp's adaptive clipping measures these units, as the official optimizer measures its tensors; every
        other parameter is one official tensor."""
        r = self.rssm
        units: list[list[tuple[nn.Parameter, slice | None]]] = [
            [(r.hid_block.weight, None), (r.hid_state.weight, None), (r.hid_action.weight, None)],
            [(r.post_deter.weight, None), (r.post_token.weight, None)],
        ]

        def rows_of(layer: nn.Linear, sizes: list[int]) -> None:
            start = 0
            for n in sizes:
                units.extend([[(layer.weight, slice(start, start + n))], [(layer.bias, slice(start, start + n))]])
                start += n

        if not self.actor.discrete:
            rows_of(self.actor.net.out, [self.config.action_dim] * 2)
        sizes = self.vector_obs_sizes
        if sizes and len(sizes) > 1 and isinstance(self.decoder, VectorDecoder):
            rows_of(self.decoder.net.out, list(sizes))
        return units

    def optimizer_state_dict(self) -> dict[str, dict]:
        """The optimizers' state, for checkpoints (not part of ``state_dict()``): by name ('laprop', or
        'world', 'actor', 'critic' for Adam)."""
        if self._optims is None:
            self.configure_optimizers()
        return {name: opt.state_dict() for name, opt in self._optims.items()}  # type: ignore[union-attr]

    def load_optimizer_state_dict(self, state: dict[str, dict]) -> None:
        """Restore what ``optimizer_state_dict`` returned (after ``configure_optimizers`` with the same rates)."""
        if self._optims is None:
            self.configure_optimizers()
        for name, opt in self._optims.items():  # type: ignore[union-attr]
            opt.load_state_dict(state[name])

    @property
    def optimizers(self) -> list[torch.optim.Optimizer]:
        """The optimizers ``update`` steps (created by ``configure_optimizers`` on first use)."""
        if self._optims is None:
            self.configure_optimizers()
        return list(self._optims.values())  # type: ignore[union-attr]

    def clip_gradients(self) -> dict[str, float]:
        """Before the optimizer step: each part's gradient norm, and with Adam the global-norm clip of each part
        (LaProp clips each tensor adaptively inside its step). Returns the norms before clipping."""
        s, parts = self.settings, self._part_params()
        norms = {}
        for k, params in parts.items():
            grads = [p.grad for p in params if p.grad is not None]
            norms[f"grad_norm_{k}"] = float(torch.linalg.vector_norm(torch.stack(
                [torch.linalg.vector_norm(g.float()) for g in grads]))) if grads else 0.0
            if s["optimizer"] == "adam" and s["grad_clip"][k] and grads:
                torch.nn.utils.clip_grad_norm_(params, s["grad_clip"][k])
        return norms

    def warm_up_learning_rates(self) -> None:
        """Before the optimizer step: Adam's learning rates at this update's point of the warm-up (LaProp warms
        up inside its step, so this changes nothing there)."""
        from worldflux_cli.models.optim import warmup_factor

        for opt in self.optimizers:
            if not isinstance(opt, torch.optim.Adam):
                continue
            done = [int(st["step"]) for st in opt.state.values() if "step" in st]
            factor = warmup_factor(max(done, default=0) + 1, int(self.settings["warmup_steps"]))
            for group in opt.param_groups:
                group["lr"] = group["base_lr"] * factor

    def optimizer_step(self) -> dict[str, float]:
        """Clip, step every optimizer and clear the gradients; the gradient norms before clipping."""
        norms = self.clip_gradients()
        self.warm_up_learning_rates()
        for opt in self.optimizers:
            opt.step()
            opt.zero_grad(set_to_none=True)
        return norms

    def update(self, batch: dict[str, Tensor], grad_hook: Callable[[list[nn.Parameter]], None] | None = None
               ) -> dict[str, float]:
        """One official DreamerV3 training step on ``batch`` (see ``loss``): metrics as floats.

        In training mode: ``loss`` (world model, imagination, actor, critic, replay value), one backward,
        the optimizer step(s) (``configure_optimizers``), then the slow critic's EMA step. The posterior
        states of the trained steps are left in ``last_posterior``. For bfloat16 compute (the official
        default on GPUs) call it under ``torch.autocast(device, dtype=torch.bfloat16)``: parameters and
        optimizer state stay in their dtype. ``grad_hook``, when given, is called with every trainable
        parameter after the backward and before clipping and the step (data-parallel training all-reduces
        the gradients there); None changes nothing.
        """
        if self._optims is None:
            self.configure_optimizers()
        was_training = self.training
        self.train()
        try:
            total, metrics, post = self.loss(batch)
            total.backward()
            if grad_hook is not None:
                grad_hook([p for params in self._part_params().values() for p in params])
            norms = self.optimizer_step()
            self.update_slow_critic()
        finally:
            self.train(was_training)
        self.last_posterior = post
        out = {k: float(v) for k, v in metrics.items()}
        out.update(norms)
        return out

    @torch.no_grad()
    def update_slow_critic(self) -> None:
        """slow <- decay * slow + (1 - decay) * critic (critic_ema_decay)."""
        w = 1.0 - self.config.critic_ema_decay
        for slow, fast in zip(self.slow_critic.parameters(), self.critic.parameters(), strict=True):
            slow.lerp_(fast.detach(), w)

    # ------------------------------------------------------------------ acting
    def initial_state(self, batch_size: int, device=None) -> dict[str, Tensor]:
        """The acting state before the first step: zeros (deter, stoch, previous action)."""
        device = self._ref.device if device is None else device
        dtype, c = self._ref.dtype, self.config
        return {"deter": torch.zeros(batch_size, c.deter_dim, device=device, dtype=dtype),
                "stoch": torch.zeros(batch_size, c.stoch_dim, device=device, dtype=dtype),
                "action": torch.zeros(batch_size, c.action_dim, device=device, dtype=dtype)}

    @torch.no_grad()
    def policy(self, obs: Tensor, state: dict[str, Tensor] | None, is_first: Tensor
               ) -> tuple[Tensor, dict[str, Tensor]]:
        """One acting step (official ``policy``): obs (N, *obs_shape), the previous state (or None at the very
        start), is_first (N,) -> (action (N, A), the new state).

        The posterior filter reads the observation with the previous action (reset where is_first), then
        the actor samples the action (one-hot for discrete actions; an unclipped normal sample for
        continuous ones: clip it to [-1, 1] for the environment). The state holds deter, stoch and the
        action, which the next step reads.
        """
        dtype = self._ref.dtype
        obs = obs.to(dtype) / 255 if obs.dtype == torch.uint8 else obs.to(dtype)
        if state is None:
            state = self.initial_state(obs.shape[0], obs.device)
        tokens = self.encoder(obs)
        deter, stoch = self.rssm.obs_step(state["deter"], state["stoch"], state["action"], tokens, is_first)
        action = self.actor.sample(torch.cat([deter, stoch], -1))
        return action, {"deter": deter, "stoch": stoch, "action": action}


__all__ = ["DreamerV3", "RSSM", "Actor", "Conv", "ImageEncoder", "ImageDecoder", "VectorEncoder", "VectorDecoder",
           "same_padding"]  # (the networks live in dreamer_nets.py and dreamer_rssm.py)
