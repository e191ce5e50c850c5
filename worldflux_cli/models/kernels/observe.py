"""The DreamerV3 posterior rollout as one autograd function with a hand-written backward.

Replaces the plain per-step loop of ``RSSM.recurrence`` (models/dreamer.py): for each of the T steps,
``deter = core(deter, stoch, act_in)``, ``logits = post_logits(post_norm(post_deter(deter) + tok_in))``,
``stoch = sample(logits)``, on small (B, D) tensors. Through autograd that is ~230 recorded ops per
step, each with its node, saved tensors and dispatch cost, which dominate the rollout at small and
medium sizes. Here the forward runs without recording and keeps what the backward needs, and the
backward walks the steps in reverse with the chain rule written out (about half the ops). The weight
gradients of the step's linear layers are computed once for the whole sequence: the (input,
output-gradient) pairs of every step are concatenated and multiplied once, instead of one product
and one accumulation per step.

Used (``usable``) in mode ``auto`` on the CPU with gradients on and no autocast; otherwise the loop runs
through the modules. torch.compile never traces it (``RSSM.recurrence`` is compiler-disabled). Measured
on a 2-core AVX-512 machine, fp32, 2 threads, B = 16, T = 64, rollout forward + backward interleaved
with the plain loop (2026-12-02): 76 vs 109 ms at tiny dims (1.43x), 587 vs 751 ms at size12m-like
dims (deter 2048, 1.31x); benchmarks/RESULTS.md, "Kernels behind one switch".

The parameters come from the RSSM module itself (``named_parameters``): the forward reads the ones
the step uses by their module names, the backward returns a gradient for each of those and None for
the rest (the prior's, and the action and token layers', whose shares are computed outside the
loop). The maths of the step is the one of ``RSSM.core`` and the posterior written out;
tests/models/test_kernels.py runs both at random weights in float64 and compares the outputs and every
parameter and input gradient, so a change to the step in dreamer.py that is not made here fails it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from worldflux_cli.models.kernels import enabled
from worldflux_cli.models.kernels.column_sums import column_sums
from worldflux_cli.models.kernels.rms_norm import rms_norm_rows, rms_norm_rows_backward


def usable(ref: Tensor) -> bool:
    """Whether ``RSSM.recurrence`` runs this kernel: mode ``auto``, CPU, gradients on, no autocast."""
    return (enabled() and ref.device.type == "cpu" and torch.is_grad_enabled()
            and not torch.is_autocast_enabled(ref.device.type))


def observe(rssm: nn.Module, tok_in: Tensor, act_in: Tensor, keep: Tensor, start: tuple[Tensor, Tensor] | None,
            sample: Callable[[Tensor], Tensor]) -> tuple[Tensor, Tensor, Tensor]:
    """``RSSM.recurrence(tok_in, act_in, keep, start)`` of the RSSM module ``rssm``: deter (B, T, D), stoch
    (B, T, S*K) (the straight-through samples' values), post_logits (B, T, S*K).

    ``tok_in`` (B, T, H): the tokens' share of the posterior layer (post_token(tokens), bias included);
    ``act_in`` (B, T, D): the action's share of the core's hidden layer (RSSM.action_input); ``keep``
    (B, T, 1): 0 where an episode starts (the state entering that step is reset to zero); ``start``: the
    state (deter (B, D), stoch (B, Z)) entering step 0, no gradient (None: zeros); ``sample``: the draw of a
    one-hot sample from class probabilities (..., K), the model's (models/sampling.py).
    """
    names, params = zip(*rssm.named_parameters(), strict=True)
    meta = (names, rssm.hid_norm.eps, rssm.blocks, rssm.classes, rssm.unimix, sample)
    d0, s0 = (None, None) if start is None else (start[0].detach(), start[1].detach())
    return _ObserveFn.apply(tok_in, act_in, keep, d0, s0, meta, *params)


def _block_product(x: Tensor, weight: Tensor) -> Tensor:
    """x (N, in) times the block-diagonal weight (g, in/g, out/g) -> (N, out), as BlockLinear computes it."""
    g, k, o = weight.shape
    return torch.bmm(x.reshape(-1, g, k).transpose(0, 1), weight).transpose(0, 1).reshape(x.shape[0], g * o)


def _transposed_blocks(weight: Tensor) -> Tensor:
    """The transposes (g, out/g, in/g) of a block-diagonal weight's blocks, contiguous (faster products)."""
    return weight.transpose(1, 2).contiguous()


def _block_wgrad(x: Tensor, dy: Tensor, g: int) -> Tensor:
    """Gradient of a block-diagonal weight (g, in/g, out/g) from inputs x (M, in) and output gradients dy (M, out)."""
    m = x.shape[0]
    return torch.bmm(x.view(m, g, -1).permute(1, 2, 0), dy.view(m, g, -1).transpose(0, 1))


def _norm_silu_backward(dy: Tensor, x: Tensor, r: Tensor, weight: Tensor) -> tuple[Tensor, Tensor]:
    return rms_norm_rows_backward(x, dy, r, weight, None, x.shape[-1], True, True, None)


class _ObserveFn(torch.autograd.Function):
    """(tok_in, act_in, keep, meta, *rssm parameters) -> deter, stoch, post_logits; see ``observe``."""

    @staticmethod
    def forward(ctx, tok_in: Tensor, act_in: Tensor, keep: Tensor, start_d: Tensor | None, start_s: Tensor | None,
                meta: tuple, *params: Tensor):
        names, eps, blocks, classes, unimix, sample = meta
        w = dict(zip(names, params, strict=True))
        w_in_d, b_in_d, n_in_d = w["in_deter.linear.weight"], w["in_deter.linear.bias"], w["in_deter.norm.weight"]
        w_in_s, b_in_s, n_in_s = w["in_stoch.linear.weight"], w["in_stoch.linear.bias"], w["in_stoch.norm.weight"]
        w_hb, w_hs, n_h = w["hid_block.weight"], w["hid_state.weight"], w["hid_norm.weight"]
        w_gru, b_gru = w["gru.weight"], w["gru.bias"]
        w_pd, n_p = w["post_deter.weight"], w["post_norm.weight"]
        w_pl, b_pl = w["post_logits.weight"], w["post_logits.bias"]
        b, t = tok_in.shape[:2]
        d_dim, z_dim = w_hb.shape[0] * w_hb.shape[1], w_pl.shape[0]
        # (in, out) copies of the dense weights: a product with a few rows is 1.3-3x faster (MKL) with the
        # weight in this layout than through the transposed view of nn.Linear's (out, in) weight
        w_in_d_t, w_in_s_t, w_hs_t, w_pd_t, w_pl_t = (m.t().contiguous() for m in (w_in_d, w_in_s, w_hs, w_pd, w_pl))
        started = start_d is not None
        deter = start_d.to(tok_in.dtype) if started else tok_in.new_zeros(b, d_dim)
        stoch = start_s.to(tok_in.dtype) if started else tok_in.new_zeros(b, z_dim)
        deters, stochs, logits, saved = [], [], [], []
        for i in range(t):
            if i or started:  # the state entering step i, reset where an episode starts
                deter, stoch = deter * keep[:, i], stoch * keep[:, i]
            d0, s0 = deter, stoch
            # core: the two input layers, the block hidden layer, the block GRU
            a1 = torch.addmm(b_in_d, d0, w_in_d_t)
            n1, r1 = rms_norm_rows(a1, n_in_d, eps, True)
            a2 = torch.addmm(b_in_s, s0, w_in_s_t)
            n2, r2 = rms_norm_rows(a2, n_in_s, eps, True)
            x = torch.cat([n1, n2], -1)
            hpre = torch.addmm(_block_product(d0, w_hb), x, w_hs_t).add_(act_in[:, i])
            h, rh = rms_norm_rows(hpre, n_h, eps, True)
            gates = _block_product(h, w_gru).add_(b_gru).view(b, blocks, 3, -1)
            sr = torch.sigmoid(gates[:, :, 0])
            cand = gates[:, :, 1]
            cand_t = torch.tanh(sr * cand)
            upd = torch.sigmoid(gates[:, :, 2] - 1.0)
            deter = torch.lerp(d0.view(b, blocks, -1), cand_t, upd).view(b, -1)
            # posterior layer, unimix probabilities, one-hot sample
            ppre = torch.addmm(tok_in[:, i], deter, w_pd_t)
            pn, rp = rms_norm_rows(ppre, n_p, eps, True)
            logit = torch.addmm(b_pl, pn, w_pl_t)
            sm = torch.softmax(logit.to(torch.promote_types(logit.dtype, torch.float32)).unflatten(-1, (-1, classes)),
                               -1)
            probs = sm * (1.0 - unimix) + unimix / classes if unimix else sm
            onehot = sample(probs)
            stoch = onehot.flatten(-2).to(logit.dtype)  # the straight-through sample's value
            saved.append((d0, s0 if i or started else None, a1, r1, a2, r2, x, hpre, rh, h, sr, cand, cand_t, upd,
                          deter, ppre, rp, pn, sm))
            deters.append(deter)
            stochs.append(stoch)
            logits.append(logit)
        ctx.meta, ctx.shapes, ctx.started = meta, (b, t, d_dim, z_dim), started
        ctx.dtypes = [p.dtype for p in params]
        weights = (w_in_d, n_in_d, w_in_s, n_in_s, w_hb, w_hs, n_h, w_gru, w_pd, n_p, w_pl)
        ctx.save_for_backward(keep, *weights, *(v for step in saved for v in step))  # (s0 None at a zero step 0)
        return torch.stack(deters, 1), torch.stack(stochs, 1), torch.stack(logits, 1)

    @staticmethod
    def backward(ctx, g_deters: Tensor, g_stochs: Tensor, g_logits: Tensor):  # (zeros for unused outputs)
        keep, *rest = ctx.saved_tensors
        (w_in_d, n_in_d, w_in_s, n_in_s, w_hb, w_hs, n_h, w_gru, w_pd, n_p, w_pl), flat = rest[:11], rest[11:]
        names, _eps, blocks, classes, unimix, _sample = ctx.meta
        b, t, d_dim, z_dim = ctx.shapes
        per_step = len(flat) // t
        saved = [flat[i * per_step:(i + 1) * per_step] for i in range(t)]
        del rest, flat  # each step's tensors are dropped once used
        w_gru_t, w_hb_t = _transposed_blocks(w_gru), _transposed_blocks(w_hb)
        carry_d, carry_s = w_pd.new_zeros(b, d_dim), w_pd.new_zeros(b, z_dim)  # gradients reaching step i's state
        g_tok, g_act = [None] * t, [None] * t
        # (input, output-gradient) pairs per linear layer; norm-weight gradients summed per step
        pairs = {k: ([], []) for k in ("in_d", "in_s", "hb", "hs", "gru", "pd", "pl")}
        norm_grads: dict[str, Tensor | None] = {k: None for k in ("in_d", "in_s", "h", "p")}

        def add(key: str, v: Tensor) -> None:
            norm_grads[key] = v if norm_grads[key] is None else norm_grads[key].add_(v)

        for i in reversed(range(t)):
            (d0, s0, a1, r1, a2, r2, x, hpre, rh, h, sr, cand, cand_t, upd, deter, ppre, rp, pn, sm) = saved[i]
            saved[i] = ()
            gd = g_deters[:, i] + carry_d
            gs = g_stochs[:, i] + carry_s
            # straight-through sample -> unimix -> softmax
            g_sm = gs.to(sm.dtype).unflatten(-1, (-1, classes))
            if unimix:
                g_sm = g_sm * (1.0 - unimix)
            g_logit = torch.ops.aten._softmax_backward_data(g_sm, sm, -1, sm.dtype).flatten(-2).to(gs.dtype)
            g_logit = g_logit + g_logits[:, i]
            # posterior layer
            pairs["pl"][0].append(pn)
            pairs["pl"][1].append(g_logit)
            g_ppre, dw = _norm_silu_backward(g_logit @ w_pl, ppre, rp, n_p)
            add("p", dw)
            g_tok[i] = g_ppre
            pairs["pd"][0].append(deter)
            pairs["pd"][1].append(g_ppre)
            gd = torch.addmm(gd, g_ppre, w_pd).view(b, blocks, -1)
            # GRU: deter = d0 + upd * (cand_t - d0), cand_t = tanh(sigmoid(reset) * cand), upd = sigmoid(update - 1)
            d0b = d0.view(b, blocks, -1)
            g_upd = gd * (cand_t - d0b)
            g_in = (gd * upd).mul_(1.0 - cand_t.square())
            g_gates = torch.stack([g_in * cand * sr * (1.0 - sr), g_in * sr, g_upd.mul_(upd * (1.0 - upd))], 2)
            g_gates = g_gates.view(b, -1)
            g_d0 = (gd * (1.0 - upd)).view(b, -1)
            pairs["gru"][0].append(h)
            pairs["gru"][1].append(g_gates)
            g_hpre, dw = _norm_silu_backward(_block_product(g_gates, w_gru_t), hpre, rh, n_h)
            add("h", dw)
            g_act[i] = g_hpre
            # hidden layer: block part of d0, dense part of the two input layers, the action part
            pairs["hb"][0].append(d0)
            pairs["hb"][1].append(g_hpre)
            pairs["hs"][0].append(x)
            pairs["hs"][1].append(g_hpre)
            g_d0 = g_d0.add_(_block_product(g_hpre, w_hb_t))
            g_x = g_hpre @ w_hs
            h_dim = a1.shape[-1]
            g_a1, dw = _norm_silu_backward(g_x[:, :h_dim], a1, r1, n_in_d)
            add("in_d", dw)
            g_a2, dw = _norm_silu_backward(g_x[:, h_dim:], a2, r2, n_in_s)
            add("in_s", dw)
            if i or ctx.started:  # the input layers read step i's state (zeros at step 0 without a start)
                pairs["in_d"][0].append(d0)
                pairs["in_d"][1].append(g_a1)
                pairs["in_s"][0].append(s0)
                pairs["in_s"][1].append(g_a2)
            else:
                pairs["in_d"][1].append(g_a1)
                pairs["in_s"][1].append(g_a2)
            if i:  # no gradient flows into the state before step 0 (zeros, or a stored start)
                g_d0 = g_d0.addmm_(g_a1, w_in_d)
                carry_d = g_d0 * keep[:, i]
                carry_s = (g_a2 @ w_in_s) * keep[:, i]

        def dense(key: str, weight: Tensor) -> Tensor:  # (out, in); without a start, step 0 has no input pair
            xs, dys = pairs[key]
            return torch.cat(dys[:len(xs)]).t() @ torch.cat(xs) if xs else torch.zeros_like(weight)

        def block(key: str) -> Tensor:
            xs, dys = pairs[key]
            return _block_wgrad(torch.cat(xs), torch.cat(dys), blocks)

        def bias(key: str) -> Tensor:
            return column_sums(torch.cat(pairs[key][1]))

        make = {"in_deter.linear.weight": lambda: dense("in_d", w_in_d), "in_deter.linear.bias": lambda: bias("in_d"),
                "in_deter.norm.weight": lambda: norm_grads["in_d"],
                "in_stoch.linear.weight": lambda: dense("in_s", w_in_s), "in_stoch.linear.bias": lambda: bias("in_s"),
                "in_stoch.norm.weight": lambda: norm_grads["in_s"],
                "hid_block.weight": lambda: block("hb"), "hid_state.weight": lambda: dense("hs", w_hs),
                "hid_norm.weight": lambda: norm_grads["h"], "gru.weight": lambda: block("gru"),
                "gru.bias": lambda: bias("gru"), "post_deter.weight": lambda: dense("pd", w_pd),
                "post_norm.weight": lambda: norm_grads["p"], "post_logits.weight": lambda: dense("pl", w_pl),
                "post_logits.bias": lambda: bias("pl")}
        need = ctx.needs_input_grad
        grads = [make[name]().to(dtype) if need[6 + j] and name in make else None
                 for j, (name, dtype) in enumerate(zip(names, ctx.dtypes, strict=True))]
        g_tok_t = torch.stack(g_tok, 1) if need[0] else None
        g_act_t = torch.stack(g_act, 1) if need[1] else None
        return (g_tok_t, g_act_t, None, None, None, None, *grads)
