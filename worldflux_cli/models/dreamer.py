"""DreamerV3 (Hafner et al., 2023/2025) in PyTorch, faithful to the paper and the official JAX code.

World model: an encoder (CNN for (C, H, W) images, MLP for (D,) vectors) produces tokens; an
RSSM with a block-diagonal GRU core keeps a deterministic state ``deter`` and samples
``stoch_discrete`` categorical latents of ``stoch_classes`` classes (1% unimix, straight-through
gradients); a decoder reconstructs the observation from (deter, stoch); a reward head (two-hot
over symexp-spaced bins) and a continue head (Bernoulli) read the features ``[deter, stoch]``.
It is trained with reconstruction, reward, continue and free-nats KL losses with
dynamics/representation balance. Behaviour: an actor and a two-hot critic trained on
imagined rollouts with lambda-returns, percentile return normalisation and an EMA ("slow")
critic as the critic's regulariser.

Layers are Linear -> RMSNorm -> SiLU everywhere (as the official code); weights use the
fan-in truncated-normal initialiser; the reward and critic output layers start at zero.
CNN stages are stride-2 convolutions (the official ``strided`` variant: same parameters as
conv + 2x2 max-pool, a quarter of the FLOPs), the decoder mirrors them with stride-2
transposed convolutions; activations run channels-last. The image decoder projects deter
block-wise (official ``bspace``) with gcd(gru_blocks, last CNN channels) groups, i.e. the GRU's
blocks (8 = official when the channels allow). The actor is trained with REINFORCE for both
action types (as the current official code). Parameter counts equal the official code's for
the official sizes (params/dreamer.py mirrors this file; tests pin both).

The code here is plain PyTorch and is the model's definition. On the CPU a few pieces hand their work
to hand-written kernels that compute the same maths faster (models/kernels/: the convolutions, RMSNorm,
the posterior rollout, the image loss and the input copy), each behind a one-line dispatch;
``WORLDFLUX_KERNELS=plain`` turns them all off.

Batch convention (``random_batch`` makes one): ``obs`` (B, T, *obs_shape) float (images in
[0, 1]; uint8 images are accepted and divided by 255), ``action`` (B, T, action_dim) is the
action that *led to* ``obs[:, t]`` (one-hot for discrete actions, in [-1, 1] for continuous;
ignored where ``is_first``), ``reward`` (B, T) the reward received with ``obs[:, t]``,
``cont`` (B, T) 0 where ``obs[:, t]`` is terminal, else 1, ``is_first`` (B, T) bool, True
where an episode starts (the recurrent state is reset there).

Example::

    model = DreamerV3(DreamerV3Config.from_size("tiny"))
    batch = model.random_batch(16, 64, generator=torch.Generator().manual_seed(0))
    wm_loss, metrics, post = model.world_model_loss(batch)
    trajectory = model.imagine(post, model.config.imagination_horizon)
    actor_loss, critic_loss, ac_metrics = model.actor_critic_loss(trajectory)
    (wm_loss + actor_loss + critic_loss).backward(); ...; model.update_slow_critic()
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from worldflux_cli.config.dreamer import DreamerV3Config
from worldflux_cli.models.kernels import conv as conv_kernel
from worldflux_cli.models.kernels import image_input as image_input_kernel
from worldflux_cli.models.kernels import observe as observe_kernel
from worldflux_cli.models.layers import BlockLinear, RMSNorm, sigmoid_squared_error, trunc_normal_init_
from worldflux_cli.models.math import symexp, symlog, symlog_bins, twohot_decode, twohot_encode

#: Bounds of the continuous actor's standard deviation (official minstd / maxstd).
ACTOR_MIN_STD, ACTOR_MAX_STD = 0.1, 1.0
#: Range of the two-hot bins in symlog space (official symexp_twohot: linspace(-20, 20)).
BIN_LOW, BIN_HIGH = -20.0, 20.0
#: Weight of the critic's regulariser towards the slow critic (official slowreg).
SLOW_REG = 1.0
#: Percentiles of the return normaliser.
RETURN_PERCENTILES = (0.05, 0.95)
#: Output-layer init scales (official outscale): actor 0.01, reward/critic 0 (zeros).
ACTOR_OUT_SCALE, VALUE_OUT_SCALE = 0.01, 0.0
#: Layers of the prior ("img_out") network (official imglayers).
PRIOR_LAYERS = 2


# ------------------------------------------------------------------------------------- layers
class Linear(nn.Linear):
    """nn.Linear with the official fan-in truncated-normal init (scaled by ``scale``) and zero bias.

    ``fan_in`` overrides in_features for layers that are one slice of a wider official layer.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, scale: float = 1.0,
                 fan_in: int | None = None) -> None:
        object.__setattr__(self, "_init", (scale, fan_in or in_features))
        super().__init__(in_features, out_features, bias)

    def reset_parameters(self) -> None:
        scale, fan_in = self._init
        trunc_normal_init_(self.weight, fan_in, scale)
        if self.bias is not None:
            nn.init.zeros_(self.bias)


class Conv(nn.Conv2d):
    """Stride-2 convolution that halves H and W exactly (any kernel size), official init."""

    def __init__(self, cin: int, cout: int, kernel: int) -> None:
        super().__init__(cin, cout, kernel, stride=2, padding=(kernel - 1) // 2)

    def reset_parameters(self) -> None:
        trunc_normal_init_(self.weight, self.in_channels * self.kernel_size[0] * self.kernel_size[1])
        nn.init.zeros_(self.bias)

    def forward(self, x: Tensor) -> Tensor:
        if conv_kernel.usable(x):  # faster CPU forms of the same op (models/kernels/conv.py)
            return conv_kernel.conv2d(x, self.weight, self.bias, self.stride, self.padding)
        return super().forward(x)


class ConvUp(nn.ConvTranspose2d):
    """Stride-2 transposed convolution that doubles H and W exactly (any kernel size), official init."""

    def __init__(self, cin: int, cout: int, kernel: int) -> None:
        pad = (kernel - 1) // 2
        super().__init__(cin, cout, kernel, stride=2, padding=pad, output_padding=2 + 2 * pad - kernel)

    def reset_parameters(self) -> None:
        trunc_normal_init_(self.weight, self.in_channels * self.kernel_size[0] * self.kernel_size[1])
        nn.init.zeros_(self.bias)

    def forward(self, x: Tensor) -> Tensor:
        if conv_kernel.usable(x):  # faster CPU forms of the same op (models/kernels/conv.py)
            return conv_kernel.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                                self.output_padding)
        return super().forward(x)


class Dense(nn.Module):
    """Linear -> RMSNorm -> SiLU: the official hidden layer."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.linear = Linear(in_dim, out_dim)
        self.norm = RMSNorm(out_dim, act=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(self.linear(x))


def mlp(in_dim: int, units: int, layers: int) -> nn.Sequential:
    return nn.Sequential(*(Dense(in_dim if i == 0 else units, units) for i in range(layers)))


class Head(nn.Module):
    """MLP of ``layers`` Dense layers and a linear output (init scaled by ``scale``)."""

    def __init__(self, in_dim: int, units: int, layers: int, out_dim: int, scale: float = 1.0) -> None:
        super().__init__()
        self.net = mlp(in_dim, units, layers)
        self.out = Linear(units, out_dim, scale=scale)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.net(x))


# ---------------------------------------------------------------------------- encoders / decoders
def _cnn_depths(c: DreamerV3Config) -> list[int]:
    return [c.cnn_depth * m for m in c.cnn_multipliers]


class ImageEncoder(nn.Module):
    """Stride-2 conv stages (cnn_depth * multiplier channels, RMSNorm + SiLU), flattened."""

    def __init__(self, c: DreamerV3Config) -> None:
        super().__init__()
        channels, height, width = c.obs_shape
        depths, n = _cnn_depths(c), len(c.cnn_kernels)
        ins = [channels, *depths[:-1]]
        self.convs = nn.ModuleList(Conv(i, o, k) for i, o, k in zip(ins, depths, c.cnn_kernels, strict=True))
        self.norms = nn.ModuleList(RMSNorm(d, act=True) for d in depths)
        self.out_dim = depths[-1] * (height >> n) * (width >> n)

    def forward(self, obs: Tensor) -> Tensor:  # (N, C, H, W) in [0, 1] -> (N, out_dim)
        if image_input_kernel.usable(obs):  # the same in one pass (models/kernels/image_input.py)
            x = image_input_kernel.centred_channels_last(obs)
        else:
            x = (obs - 0.5).contiguous(memory_format=torch.channels_last)
        for conv, norm in zip(self.convs, self.norms, strict=True):
            x = norm.channels(conv(x))
        return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)


class ImageDecoder(nn.Module):
    """Official decoder: deter projected block-wise and stoch through an MLP to the smallest
    feature map, then stride-2 transposed conv stages mirroring the encoder; outputs logits of
    the pixel means (sigmoid gives the image)."""

    def __init__(self, c: DreamerV3Config) -> None:
        super().__init__()
        channels, height, width = c.obs_shape
        depths, kernels, n = _cnn_depths(c), c.cnn_kernels, len(c.cnn_kernels)
        self.res = (height >> n, width >> n)
        last = depths[-1]
        units = self.res[0] * self.res[1] * last
        self.groups = math.gcd(c.gru_blocks, last)  # deter's GRU blocks -> channel groups
        self.space_deter = BlockLinear(c.deter_dim, units, self.groups)
        self.space_deter_norm = RMSNorm(last)
        self.space_stoch = Dense(c.stoch_dim, 2 * c.mlp_units)
        self.space_stoch_out = Linear(2 * c.mlp_units, units)
        self.space_norm = RMSNorm(last, act=True)
        self.convs = nn.ModuleList(ConvUp(depths[i], depths[i - 1], kernels[i]) for i in range(n - 1, 0, -1))
        self.norms = nn.ModuleList(RMSNorm(depths[i - 1], act=True) for i in range(n - 1, 0, -1))
        self.out = ConvUp(depths[0], channels, kernels[0])

    def forward(self, deter: Tensor, stoch: Tensor) -> Tensor:  # (N, D), (N, Z) -> (N, C, H, W) logits
        n, (h, w), g = deter.shape[0], self.res, self.groups
        x0 = self.space_deter(deter).view(n, g, h, w, -1).permute(0, 2, 3, 1, 4).reshape(n, h, w, -1)
        x1 = self.space_stoch_out(self.space_stoch(stoch)).view(n, h, w, -1)
        x = self.space_norm(self.space_deter_norm(x0) + x1).permute(0, 3, 1, 2)  # channels-last NCHW
        for conv, norm in zip(self.convs, self.norms, strict=True):
            x = norm.channels(conv(x))
        return self.out(x)


class VectorEncoder(nn.Module):
    """Symlog (when use_symlog) then mlp_layers Dense layers of mlp_units."""

    def __init__(self, c: DreamerV3Config) -> None:
        super().__init__()
        self.symlog = c.use_symlog
        self.net = mlp(c.obs_shape[0], c.mlp_units, c.mlp_layers)
        self.out_dim = c.mlp_units

    def forward(self, obs: Tensor) -> Tensor:
        return self.net(symlog(obs) if self.symlog else obs)


class VectorDecoder(nn.Module):
    """mlp_layers Dense layers of mlp_units and a linear output (symlog space when use_symlog)."""

    def __init__(self, c: DreamerV3Config) -> None:
        super().__init__()
        self.net = Head(c.latent_dim, c.mlp_units, c.mlp_layers, c.obs_shape[0])

    def forward(self, deter: Tensor, stoch: Tensor) -> Tensor:
        return self.net(torch.cat([deter, stoch], -1))


# ------------------------------------------------------------------------------------------ RSSM
class RSSM(nn.Module):
    """Recurrent state-space model with a block-diagonal GRU core (official DreamerV3 layout).

    Core (deter_{t-1}, stoch_{t-1}, action_t -> deter_t): three input layers ("img_in": deter,
    stoch and action each to hidden_dim, Norm + SiLU); a block-diagonal hidden layer where block
    i reads block i of deter and all three inputs (Norm + SiLU); a block-diagonal GRU layer with
    reset, candidate and update gates (update bias -1). Prior ("img_out"): PRIOR_LAYERS layers
    of hidden_dim on deter, then logits. Posterior ("obs_out"): one layer on [deter, tokens],
    then logits. The official dense input of the hidden layer is stored as three slices
    (block part, state part, action part) with the same parameters, so that the action part
    is computed once for the whole sequence, outside the time loop.
    """

    def __init__(self, c: DreamerV3Config, token_dim: int) -> None:
        super().__init__()
        deter, hidden, g = c.deter_dim, c.hidden_dim, c.gru_blocks
        self.deter_dim, self.stoch_dim, self.blocks = deter, c.stoch_dim, g
        self.classes, self.unimix = c.stoch_classes, c.unimix
        self.in_deter = Dense(deter, hidden)
        self.in_stoch = Dense(c.stoch_dim, hidden)
        self.in_action = Dense(c.action_dim, hidden)
        fan = deter // g + 3 * hidden  # fan-in of the official block layer
        self.hid_block = BlockLinear(deter, deter, g, bias=False)
        trunc_normal_init_(self.hid_block.weight, fan)
        self.hid_state = Linear(2 * hidden, deter, bias=False, fan_in=fan)
        self.hid_action = Linear(hidden, deter, fan_in=fan)
        self.hid_norm = RMSNorm(deter, act=True)
        self.gru = BlockLinear(deter, 3 * deter, g)
        self.prior = mlp(deter, hidden, PRIOR_LAYERS)
        self.prior_logits = Linear(hidden, c.stoch_dim)
        self.post_deter = Linear(deter, hidden, bias=False, fan_in=deter + token_dim)
        self.post_token = Linear(token_dim, hidden, fan_in=deter + token_dim)
        self.post_norm = RMSNorm(hidden, act=True)
        self.post_logits = Linear(hidden, c.stoch_dim)

    # -- pieces
    def action_input(self, action: Tensor) -> Tensor:
        """The action's share of the core's hidden layer (any leading shape)."""
        action = action / action.detach().abs().clamp(min=1.0)
        return self.hid_action(self.in_action(action))

    def core(self, deter: Tensor, stoch: Tensor, action_in: Tensor) -> Tensor:
        """One block-GRU step: (N, D), (N, Z), action_input (N, D) -> deter (N, D)."""
        x = torch.cat([self.in_deter(deter), self.in_stoch(stoch)], -1)
        h = self.hid_norm(self.hid_block(deter) + self.hid_state(x) + action_in)
        n, g = deter.shape[0], self.blocks
        reset, cand, update = self.gru(h).view(n, g, 3, -1).unbind(2)
        cand = torch.tanh(torch.sigmoid(reset) * cand).to(deter.dtype)  # (casts matter under autocast)
        update = torch.sigmoid(update - 1.0).to(deter.dtype)
        return torch.lerp(deter.view(n, g, -1), cand, update).view(n, -1)

    def probs(self, logits: Tensor) -> Tensor:
        """Unimix class probabilities (..., S, K) in float32 from flat logits (..., S*K)."""
        p = torch.softmax(logits.float().unflatten(-1, (-1, self.classes)), -1)
        return p * (1.0 - self.unimix) + self.unimix / self.classes if self.unimix else p

    def log_probs(self, logits: Tensor) -> Tensor:
        if self.unimix:
            return torch.log(self.probs(logits))
        return torch.log_softmax(logits.float().unflatten(-1, (-1, self.classes)), -1)

    def sample(self, logits: Tensor) -> Tensor:
        """Straight-through one-hot sample, flat (..., S*K), in the logits' dtype."""
        probs = self.probs(logits)
        idx = torch.multinomial(probs.reshape(-1, self.classes), 1)
        onehot = torch.zeros_like(probs).scatter_(-1, idx.view(*probs.shape[:-1], 1), 1.0)
        return (onehot + (probs - probs.detach())).flatten(-2).to(logits.dtype)

    def prior_logits_of(self, deter: Tensor) -> Tensor:
        return self.prior_logits(self.prior(deter))

    # -- sequences
    def observe(self, tokens: Tensor, action: Tensor, is_first: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Posterior rollout over a sequence. tokens (B, T, E), action (B, T, A), is_first (B, T)
        -> deter (B, T, D), stoch (B, T, Z) (straight-through samples), post_logits (B, T, Z).

        Everything that does not depend on the recurrence (the action inputs, the tokens'
        share of the posterior layer) is computed for all steps at once; the recurrence is
        ``recurrence``.
        """
        keep = (~is_first.bool()).to(tokens.dtype).unsqueeze(-1)  # (B, T, 1)
        return self.recurrence(self.post_token(tokens), self.action_input(action * keep), keep)

    @torch.compiler.disable
    def recurrence(self, tok_in: Tensor, act_in: Tensor, keep: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The T recurrent steps of ``observe`` from their precomputed inputs (B, T, ...) and keep (B, T, 1).

        Where the kernel switch allows (CPU, gradients on, no autocast) the loop runs as one autograd
        function with a hand-written backward (models/kernels/observe.py): the same values, draws and
        gradients, far fewer recorded ops. torch.compile leaves this method out of its graph (it runs
        eagerly): traced, the loop would unroll into T copies of the step, and the first compiled step
        at T = 64 took over 10 minutes on a 2-core CPU.
        """
        if observe_kernel.usable(tok_in):
            return observe_kernel.observe(self, tok_in, act_in, keep)
        b, t = tok_in.shape[:2]
        act_in, tok_in, keep = act_in.unbind(1), tok_in.unbind(1), keep.unbind(1)
        deter = tok_in[0].new_zeros(b, self.deter_dim)
        stoch = tok_in[0].new_zeros(b, self.stoch_dim)
        deters, stochs, logits = [], [], []
        for i in range(t):
            if i:
                deter, stoch = deter * keep[i], stoch * keep[i]
            deter = self.core(deter, stoch, act_in[i])
            logit = self.post_logits(self.post_norm(self.post_deter(deter) + tok_in[i]))
            stoch = self.sample(logit)
            deters.append(deter)
            stochs.append(stoch)
            logits.append(logit)
        return torch.stack(deters, 1), torch.stack(stochs, 1), torch.stack(logits, 1)

    def img_step(self, deter: Tensor, stoch: Tensor, action: Tensor) -> tuple[Tensor, Tensor]:
        """One prior step: (N, D), (N, Z), action (N, A) -> deter, stoch sampled from the prior."""
        deter = self.core(deter, stoch, self.action_input(action))
        return deter, self.sample(self.prior_logits_of(deter))


# ------------------------------------------------------------------------------ actor / critic
class Actor(nn.Module):
    """Policy on features: categorical with unimix (discrete) or bounded normal (continuous).

    Bounded normal (official): mean = tanh(m), std = (max - min) * sigmoid(s + 2) + min.
    """

    def __init__(self, c: DreamerV3Config, feat_dim: int) -> None:
        super().__init__()
        self.discrete = c.action_type == "discrete"
        self.action_dim, self.unimix = c.action_dim, c.unimix
        out = c.action_dim if self.discrete else 2 * c.action_dim
        self.net = Head(feat_dim, c.mlp_units, c.mlp_layers, out, scale=ACTOR_OUT_SCALE)

    def forward(self, feat: Tensor) -> tuple[Tensor, Tensor]:
        """Discrete: (probs, log_probs); continuous: (mean, std). float32."""
        out = self.net(feat).float()
        if self.discrete:
            if not self.unimix:
                logp = torch.log_softmax(out, -1)
                return logp.exp(), logp
            probs = torch.softmax(out, -1) * (1.0 - self.unimix) + self.unimix / self.action_dim
            return probs, probs.log()
        mean, std = out.chunk(2, -1)
        return torch.tanh(mean), (ACTOR_MAX_STD - ACTOR_MIN_STD) * torch.sigmoid(std + 2.0) + ACTOR_MIN_STD

    def sample(self, feat: Tensor) -> Tensor:
        """Actions (..., A): one-hot for discrete, normal samples for continuous."""
        a, b = self(feat)
        if self.discrete:
            idx = torch.multinomial(a.reshape(-1, self.action_dim), 1).view(*a.shape[:-1], 1)
            return torch.zeros_like(a).scatter_(-1, idx, 1.0).to(feat.dtype)
        return (a + b * torch.randn_like(a)).to(feat.dtype)

    def log_prob_entropy(self, feat: Tensor, action: Tensor) -> tuple[Tensor, Tensor]:
        """Log-probability of ``action`` and entropy, each (...), float32."""
        a, b = self(feat)
        action = action.float()
        if self.discrete:
            return (action * b).sum(-1), -(a * b).sum(-1)
        logp = -0.5 * ((action - a) / b).square() - b.log() - 0.5 * math.log(2 * math.pi)
        ent = 0.5 + 0.5 * math.log(2 * math.pi) + b.log()
        return logp.sum(-1), ent.sum(-1)


class ReturnNorm(nn.Module):
    """EMA of the 5th and 95th return percentiles; scale = max(1, high - low). Kept in float32."""

    def __init__(self, decay: float) -> None:
        super().__init__()
        self.decay = decay
        self.register_buffer("low", torch.zeros((), dtype=torch.float32))
        self.register_buffer("high", torch.zeros((), dtype=torch.float32))

    def forward(self, ret: Tensor, update: bool = True) -> Tensor:
        if update:
            q = torch.tensor(RETURN_PERCENTILES, device=ret.device, dtype=torch.float32)
            low, high = torch.quantile(ret.detach().float().flatten(), q)
            self.low.lerp_(low, 1.0 - self.decay)
            self.high.lerp_(high, 1.0 - self.decay)
        return torch.clamp(self.high - self.low, min=1.0)

    def _apply(self, fn, recurse=True):
        super()._apply(fn, recurse)
        for name, buf in self._buffers.items():
            if buf is not None and buf.is_floating_point() and buf.dtype != torch.float32:
                self._buffers[name] = buf.float()
        return self


# ----------------------------------------------------------------------------------- the model
class DreamerV3(nn.Module):
    """DreamerV3 world model, actor and critic for ``config``. See the module docstring.

    Submodules: encoder, rssm, decoder, reward_head, continue_head, actor, critic, slow_critic
    (EMA copy of the critic, not trainable), return_norm (buffers only).
    """

    def __init__(self, config: DreamerV3Config) -> None:
        super().__init__()
        c = self.config = config
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

        Images are uniform in [0, 1], vectors standard normal; about 2% of steps are terminal
        (cont = 0) and the next step starts an episode. With a ``generator`` the batch is
        drawn on the generator's device and moved to ``device`` (default: the model's).
        """
        c = self.config
        device = torch.device(device) if device is not None else self._ref.device
        gen_device = generator.device if generator is not None else device
        b, t = batch_size, seq_len
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
        batch = dict(obs=obs, action=action, reward=reward, cont=(~terminal).float(), is_first=is_first)
        return {k: v.to(device) for k, v in batch.items()}

    def _bins(self, device) -> Tensor:
        return symlog_bins(self.config.reward_num_bins, BIN_LOW, BIN_HIGH, device=device)

    def _squash(self, x: Tensor) -> Tensor:
        return symlog(x) if self.config.use_symlog else x

    def _unsquash(self, x: Tensor) -> Tensor:
        return symexp(x) if self.config.use_symlog else x

    def _twohot_loss(self, logits: Tensor, target: Tensor) -> Tensor:
        """Cross-entropy of two-hot logits against raw scalar targets (squashed here)."""
        code = twohot_encode(self._squash(target.float()), self._bins(logits.device))
        return -(code * torch.log_softmax(logits.float(), -1)).sum(-1)

    def _twohot_mean(self, logits: Tensor) -> Tensor:
        return self._unsquash(twohot_decode(logits, self._bins(logits.device), logits=True))

    # ------------------------------------------------------------------ world model
    def world_model_loss(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor], dict[str, Tensor]]:
        """World-model loss on a batch -> (loss, metrics, post_state).

        loss = rec * reconstruction + rew * reward + con * continue
               + kl * balance * max(free, KL[sg(post) || prior])
               + kl * (1 - balance) * max(free, KL[post || sg(prior)]),
        each term a mean over (B, T); images use the sum of squared errors of the sigmoid pixel
        means, vectors of the (symlog) values. post_state holds the detached posterior states
        (``deter`` (B, T, D), ``stoch`` (B, T, S*K) one-hot), the starts of ``imagine``.
        """
        c, dtype = self.config, self._ref.dtype
        obs = batch["obs"]
        obs = obs.to(dtype) / 255 if obs.dtype == torch.uint8 else obs.to(dtype)
        b, t = obs.shape[:2]
        tokens = self.encoder(obs.flatten(0, 1)).view(b, t, -1)
        deter, stoch, post_logits = self.rssm.observe(tokens, batch["action"].to(dtype), batch["is_first"])
        prior_logits = self.rssm.prior_logits_of(deter)
        feat = torch.cat([deter, stoch], -1)

        recon = self.decoder(deter.flatten(0, 1), stoch.flatten(0, 1))
        target = obs.flatten(0, 1).float()
        if self.image_obs:  # squared error of the sigmoid pixel means
            rec = sigmoid_squared_error(recon, target) / (b * t)  # mean over (B, T) of the per-frame sums
        else:
            rec = F.mse_loss(recon.float(), self._squash(target), reduction="sum") / (b * t)
        rew = self._twohot_loss(self.reward_head(feat), batch["reward"])
        con = F.binary_cross_entropy_with_logits(self.continue_head(feat).squeeze(-1).float(),
                                                 batch["cont"].float(), reduction="none")
        lp, lq = self.rssm.log_probs(post_logits), self.rssm.log_probs(prior_logits)
        p = lp.exp()
        dyn = (p.detach() * (lp.detach() - lq)).sum((-2, -1))
        rep = (p * (lp - lq.detach())).sum((-2, -1))
        scales = c.loss_scales
        terms = {
            "reconstruction": rec,
            "reward": rew.mean(),
            "continue": con.mean(),
            "kl_dyn": dyn.clamp(min=c.kl_free).mean(),
            "kl_rep": rep.clamp(min=c.kl_free).mean(),
        }
        loss = (scales["reconstruction"] * terms["reconstruction"] + scales["reward"] * terms["reward"]
                + scales["continue"] * terms["continue"] + scales["kl"] * c.kl_balance * terms["kl_dyn"]
                + scales["kl"] * (1 - c.kl_balance) * terms["kl_rep"])
        metrics = {k: v.detach() for k, v in terms.items()}
        metrics["kl"] = dyn.detach().mean()
        metrics["post_entropy"] = -(p * lp).sum((-2, -1)).detach().mean()
        metrics["loss"] = loss.detach()
        return loss, metrics, {"deter": deter.detach(), "stoch": stoch.detach()}

    # ------------------------------------------------------------------ behaviour
    @torch.no_grad()
    def imagine(self, start_state: dict[str, Tensor], horizon: int | None = None) -> dict[str, Tensor]:
        """Roll the actor out in the prior for ``horizon`` steps (default imagination_horizon)
        from every start state (any leading shape, flattened to N).

        Returns a trajectory of H+1 states: ``feat`` (N, H+1, D+Z), ``action`` (N, H+1, A)
        (action i is taken in state i), ``reward`` (N, H+1) and ``cont`` (N, H+1) predicted for
        each state. No gradients: the actor-critic loss recomputes what it trains.
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
        return {
            "feat": feat,
            "action": torch.stack(actions, 1),
            "reward": self._twohot_mean(self.reward_head(feat)),
            "cont": torch.sigmoid(self.continue_head(feat).squeeze(-1).float()),
        }

    def lambda_return(self, reward: Tensor, cont: Tensor, value: Tensor) -> Tensor:
        """R_t = r_{t+1} + discount * c_{t+1} * ((1 - lambda) v_{t+1} + lambda R_{t+1}), R_H = v_H.

        reward, cont, value (N, H+1) -> returns (N, H) for states 0..H-1.
        """
        lam, live = self.config.return_lambda, self.config.discount * cont[:, 1:]
        interm = reward[:, 1:] + live * (1 - lam) * value[:, 1:]
        ret, out = value[:, -1], []
        for i in reversed(range(live.shape[1])):
            ret = interm[:, i] + live[:, i] * lam * ret
            out.append(ret)
        return torch.stack(out[::-1], 1)

    def actor_critic_loss(self, trajectory: dict[str, Tensor]) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """Actor and critic losses on an imagined trajectory -> (actor_loss, critic_loss, metrics).

        Returns are lambda-returns bootstrapped with the critic; advantages are divided by the
        return scale max(1, EMA(P95) - EMA(P5)) (the EMAs update in training mode). The actor is
        trained with REINFORCE plus actor_entropy * entropy, the critic with two-hot
        cross-entropy towards the returns plus a regulariser towards the slow critic's values;
        both are weighted by the cumulative discounted continue probabilities.
        """
        c = self.config
        feat, action = trajectory["feat"].detach(), trajectory["action"].detach()
        reward, cont = trajectory["reward"].float(), trajectory["cont"].float()
        logits = self.critic(feat)
        value = self._twohot_mean(logits.detach())
        with torch.no_grad():
            slow_value = self._twohot_mean(self.slow_critic(feat))
        ret = self.lambda_return(reward, cont, value)
        weight = (torch.cumprod(c.discount * cont, 1) / c.discount)[:, :-1]
        scale = self.return_norm(ret, update=self.training)
        adv = (ret - value[:, :-1]) / scale
        logp, ent = self.actor.log_prob_entropy(feat[:, :-1], action[:, :-1])
        actor_loss = (weight * -(logp * adv + c.actor_entropy * ent)).mean()
        value_logits = logits[:, :-1]
        critic_loss = (weight * (self._twohot_loss(value_logits, ret)
                                 + SLOW_REG * self._twohot_loss(value_logits, slow_value[:, :-1]))).mean()
        metrics = {
            "actor_loss": actor_loss.detach(),
            "critic_loss": critic_loss.detach(),
            "actor_entropy": ent.detach().mean(),
            "return": ret.mean(),
            "value": value.mean(),
            "return_scale": scale.detach().clone(),
            "advantage": adv.mean(),
        }
        return actor_loss, critic_loss, metrics

    @torch.no_grad()
    def update_slow_critic(self) -> None:
        """slow <- decay * slow + (1 - decay) * critic (critic_ema_decay)."""
        w = 1.0 - self.config.critic_ema_decay
        for slow, fast in zip(self.slow_critic.parameters(), self.critic.parameters(), strict=True):
            slow.lerp_(fast.detach(), w)


__all__ = ["DreamerV3", "RSSM", "Actor", "ImageEncoder", "ImageDecoder", "VectorEncoder", "VectorDecoder"]
