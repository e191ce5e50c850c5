"""The DreamerV3 recurrent state-space model (imports torch): block-diagonal GRU core, prior, posterior.

Its posterior rollout hands its work to a hand-written kernel on the CPU (models/kernels/observe.py, the same
values, draws and gradients); ``WORLDFLUX_KERNELS=plain`` runs the loop written here.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from worldflux_cli.config.dreamer import PRIOR_LAYERS, DreamerV3Config
from worldflux_cli.models import sampling
from worldflux_cli.models.dreamer_nets import Dense, Linear, at_least_float32, mlp
from worldflux_cli.models.kernels import observe as observe_kernel
from worldflux_cli.models.layers import BlockLinear, RMSNorm, trunc_normal_init_


def _one_hot_sample(probs: Tensor) -> Tensor:
    return sampling.one_hot_sample(probs)  # looked up at call time (a parity run may replace it)


class RSSM(nn.Module):
    """Recurrent state-space model with a block-diagonal GRU core (official DreamerV3 layout).

    Core (deter_{t-1}, stoch_{t-1}, action_t -> deter_t): three input layers ("dynin": deter,
    stoch and action each to hidden_dim, Norm + SiLU); a block-diagonal hidden layer where block
    i reads block i of deter and all three inputs (Norm + SiLU); a block-diagonal GRU layer with
    reset, candidate and update gates (update bias -1). Prior: PRIOR_LAYERS layers of hidden_dim on
    deter, then logits. Posterior: one layer on [deter, tokens], then logits. The official block
    hidden layer is stored as three slices (block part, state part, action part) with the same
    parameters and the official init (fan-in deter + 3 * hidden * blocks, its whole input), so that
    the action part is computed once for the whole sequence, outside the time loop.
    """

    def __init__(self, c: DreamerV3Config, token_dim: int) -> None:
        super().__init__()
        deter, hidden, g = c.deter_dim, c.hidden_dim, c.gru_blocks
        self.deter_dim, self.stoch_dim, self.blocks = deter, c.stoch_dim, g
        self.classes, self.unimix = c.stoch_classes, c.unimix
        self.in_deter = Dense(deter, hidden)
        self.in_stoch = Dense(c.stoch_dim, hidden)
        self.in_action = Dense(c.action_dim, hidden)
        fan = deter + 3 * hidden * g  # fan-in of the official block layer: every block reads deter/g + 3 hidden
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
        """Unimix class probabilities (..., S, K) in float32 (float64 for float64 logits) from flat logits."""
        p = torch.softmax(logits.to(at_least_float32(logits)).unflatten(-1, (-1, self.classes)), -1)
        return p * (1.0 - self.unimix) + self.unimix / self.classes if self.unimix else p

    def log_probs(self, logits: Tensor) -> Tensor:
        if self.unimix:
            return torch.log(self.probs(logits))
        return torch.log_softmax(logits.to(at_least_float32(logits)).unflatten(-1, (-1, self.classes)), -1)

    def sample(self, logits: Tensor) -> Tensor:
        """Straight-through one-hot sample, flat (..., S*K), in the logits' dtype."""
        probs = self.probs(logits)
        onehot = sampling.one_hot_sample(probs)
        return (onehot + (probs - probs.detach())).flatten(-2).to(logits.dtype)

    def prior_logits_of(self, deter: Tensor) -> Tensor:
        return self.prior_logits(self.prior(deter))

    # -- sequences
    def observe(self, tokens: Tensor, action: Tensor, is_first: Tensor, start: tuple[Tensor, Tensor] | None = None
                ) -> tuple[Tensor, Tensor, Tensor]:
        """Posterior rollout over a sequence. tokens (B, T, E), action (B, T, A), is_first (B, T), optional
        start (deter (B, D), stoch (B, Z)): the state before step 0 (zeros when None)
        -> deter (B, T, D), stoch (B, T, Z) (straight-through samples), post_logits (B, T, Z).

        Everything that does not depend on the recurrence (the action inputs, the tokens'
        share of the posterior layer) is computed for all steps at once; the recurrence is
        ``recurrence``.
        """
        keep = (~is_first.bool()).to(tokens.dtype).unsqueeze(-1)  # (B, T, 1)
        if start is not None:
            start = tuple(s.detach().to(tokens.dtype) for s in start)  # stored states: no gradient
        return self.recurrence(self.post_token(tokens), self.action_input(action * keep), keep, start)

    @torch.compiler.disable
    def recurrence(self, tok_in: Tensor, act_in: Tensor, keep: Tensor, start: tuple[Tensor, Tensor] | None = None
                   ) -> tuple[Tensor, Tensor, Tensor]:
        """The T recurrent steps of ``observe`` from their precomputed inputs (B, T, ...), keep (B, T, 1) and
        the starting state (or None: zeros).

        Where the kernel switch allows (CPU, gradients on, no autocast) the loop runs as one autograd
        function with a hand-written backward (models/kernels/observe.py): the same values, draws and
        gradients, far fewer recorded ops. torch.compile leaves this method out of its graph (it runs
        eagerly): traced, the loop would unroll into T copies of the step, and the first compiled step
        at T = 64 took over 10 minutes on a 2-core CPU.
        """
        if observe_kernel.usable(tok_in):
            return observe_kernel.observe(self, tok_in, act_in, keep, start, _one_hot_sample)
        b, t = tok_in.shape[:2]
        act_in, tok_in, keep = act_in.unbind(1), tok_in.unbind(1), keep.unbind(1)
        if start is None:
            deter, stoch = tok_in[0].new_zeros(b, self.deter_dim), tok_in[0].new_zeros(b, self.stoch_dim)
        else:
            deter, stoch = start
        deters, stochs, logits = [], [], []
        for i in range(t):
            if i or start is not None:
                deter, stoch = deter * keep[i], stoch * keep[i]
            deter = self.core(deter, stoch, act_in[i])
            logit = self.post_logits(self.post_norm(self.post_deter(deter) + tok_in[i]))
            stoch = self.sample(logit)
            deters.append(deter)
            stochs.append(stoch)
            logits.append(logit)
        return torch.stack(deters, 1), torch.stack(stochs, 1), torch.stack(logits, 1)

    def obs_step(self, deter: Tensor, stoch: Tensor, action: Tensor, tokens: Tensor, is_first: Tensor
                 ) -> tuple[Tensor, Tensor]:
        """One posterior step (acting): the state (N, D), (N, Z), the previous action (N, A), tokens (N, E) and
        is_first (N,) -> the new deter and a stoch sample. Resets where is_first."""
        keep = (~is_first.bool()).to(deter.dtype).unsqueeze(-1)
        deter = self.core(deter * keep, stoch * keep, self.action_input(action * keep))
        logit = self.post_logits(self.post_norm(self.post_deter(deter) + self.post_token(tokens)))
        return deter, self.sample(logit)

    def img_step(self, deter: Tensor, stoch: Tensor, action: Tensor) -> tuple[Tensor, Tensor]:
        """One prior step: (N, D), (N, Z), action (N, A) -> deter, stoch sampled from the prior."""
        deter = self.core(deter, stoch, self.action_input(action))
        return deter, self.sample(self.prior_logits_of(deter))



__all__ = ["RSSM"]
