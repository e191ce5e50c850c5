"""The kernel switch (models/kernels/__init__.py) and each kernel against its plain twin in the model code:
the same values and the same gradients (float64, at random non-initial weights), and used exactly where
the switch and its conditions say. The convolution forms are in test_kernels_conv.py."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from worldflux_cli.config.dreamer import DreamerV3Config  # noqa: E402
from worldflux_cli.models import build_model, kernels  # noqa: E402
from worldflux_cli.models.dreamer import RSSM  # noqa: E402
from worldflux_cli.models.kernels import conv as conv_kernel  # noqa: E402
from worldflux_cli.models.kernels import image_input, image_loss, observe, rms_norm  # noqa: E402
from worldflux_cli.models.kernels.column_sums import column_sums  # noqa: E402
from worldflux_cli.models.layers import RMSNorm, sigmoid_squared_error  # noqa: E402

#: The autograd nodes of the kernels in a DreamerV3 world-model loss (the GEMM-form convolutions only
#: appear at wide layers, see test_kernels_conv.py).
KERNEL_NODES = {"_RMSNormFnBackward", "_ObserveFnBackward", "_SigmoidSquaredErrorFnBackward",
                "_ConvTranspose2dFnBackward"}
VECTOR = dict(obs_shape=(7,), action_type="discrete", action_dim=3, deter_dim=32, hidden_dim=16, stoch_discrete=4,
              stoch_classes=5, gru_blocks=4, mlp_units=24, mlp_layers=2, reward_num_bins=21)


def randomise_(module: torch.nn.Module, seed: int) -> None:
    """Every parameter drawn at random: norm scales around 1, biases (zero at init) and the zero-initialised
    output layers non-zero, weights with fan-in scaled normals."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            r = torch.randn(p.shape, generator=gen, dtype=torch.float64).to(p.dtype)
            if p.dim() == 1:
                p.copy_(1 + 0.3 * r if "norm" in name else 0.5 * r)
            else:
                fan_in = p.shape[1] * (p.shape[2] * p.shape[3] if p.dim() == 4 else 1)
                p.copy_(r / fan_in ** 0.5)


def node_names(t: torch.Tensor) -> set[str]:
    """Names of all autograd nodes behind t."""
    names, seen, stack = set(), set(), [t.grad_fn]
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        names.add(fn.name())
        stack.extend(f for f, _ in fn.next_functions)
    return names


def _grads(y, inputs, g):
    return torch.autograd.grad(y, inputs, g)


# ------------------------------------------------------------------------------------------ switch
def test_mode_reads_the_variable_at_call_time(monkeypatch):
    monkeypatch.delenv(kernels.ENV_VAR, raising=False)
    assert kernels.mode() == "auto" and kernels.enabled()
    monkeypatch.setenv(kernels.ENV_VAR, "plain")
    assert kernels.mode() == "plain" and not kernels.enabled()
    monkeypatch.setenv(kernels.ENV_VAR, " Auto ")
    assert kernels.mode() == "auto"
    monkeypatch.setenv(kernels.ENV_VAR, "")
    assert kernels.mode() == "auto"


def test_invalid_modes_are_refused_naming_the_variable_and_the_values(monkeypatch):
    monkeypatch.setenv(kernels.ENV_VAR, "fast")
    with pytest.raises(ValueError, match=r"WORLDFLUX_KERNELS='fast'.*auto, plain"):
        kernels.mode()
    with pytest.raises(ValueError, match=r"WORLDFLUX_KERNELS"):
        RMSNorm(4)(torch.randn(2, 4))
    with pytest.raises(ValueError, match=r"'off'.*auto, plain"), kernels.use("off"):
        pass


def test_use_sets_the_mode_for_a_block_over_the_environment(monkeypatch):
    monkeypatch.setenv(kernels.ENV_VAR, "plain")
    with kernels.use("auto"):
        assert kernels.enabled()
        with kernels.use("plain"):
            assert not kernels.enabled()
        assert kernels.enabled()
    assert not kernels.enabled()
    with pytest.raises(RuntimeError), kernels.use("auto"):
        raise RuntimeError
    assert kernels.mode() == "plain"


@pytest.mark.parametrize("how", ["env", "use"])
def test_plain_mode_runs_no_kernel_and_auto_runs_them_all(monkeypatch, how):
    """The whole world-model loss of an image model (the strided CNN form, whose decoder has the transposed
    convolutions): in auto every kernel is in the graph, in plain none."""
    torch.manual_seed(0)
    model = build_model(DreamerV3Config.from_size("tiny", cnn_strided=True))
    batch = model.random_batch(2, 3, generator=torch.Generator().manual_seed(0))
    names = {}
    for mode in ("auto", "plain"):
        if how == "env":
            monkeypatch.setenv(kernels.ENV_VAR, mode)
            names[mode] = node_names(model.world_model_loss(batch)[0])
        else:
            with kernels.use(mode):
                names[mode] = node_names(model.world_model_loss(batch)[0])
    assert names["auto"] >= KERNEL_NODES
    assert not {n for n in names["plain"] if n.startswith("_")}, names["plain"]


def test_where_each_kernel_is_used():
    """auto: CPU only (none was measured faster elsewhere); conv, image input and loss step aside where stated."""
    cpu = torch.randn(2, 3, 4, 4)
    meta = torch.empty(2, 3, 4, 4, device="meta")
    for usable in (rms_norm.usable, conv_kernel.usable, image_loss.usable, image_input.usable, observe.usable):
        assert usable(cpu) and not usable(meta)
        with kernels.use("plain"):
            assert not usable(cpu)
    with torch.no_grad():
        assert not observe.usable(cpu) and rms_norm.usable(cpu)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not observe.usable(cpu) and not conv_kernel.usable(cpu)
        assert rms_norm.usable(cpu) and image_loss.usable(cpu)
    assert not image_input.usable(cpu.requires_grad_())


# ------------------------------------------------------------------------------------------ RMSNorm
@pytest.mark.parametrize("act", [False, True])
@pytest.mark.parametrize("rows,dim,chunk", [(24, 8, rms_norm.RMS_CHUNK), (40, 8, 32), (10, 6, 32), (3, 48, 32),
                                            (37, 6, 12)])
def test_rms_norm_kernel_is_the_plain_rmsnorm(act, rows, dim, chunk):
    """One block; chunks of packed 8-channel rows (8 per row); chunks of unpacked rows (6 does not divide 64);
    one row per chunk (48 channels > a 32-element chunk); float64 values, both gradients, gradcheck."""
    gen = torch.Generator().manual_seed(rows * dim)
    x = torch.randn(rows, dim, generator=gen, dtype=torch.float64, requires_grad=True)
    norm = RMSNorm(dim, act=act).double()
    with torch.no_grad():
        norm.weight.copy_(torch.rand(dim, generator=gen, dtype=torch.float64) + 0.5)
    if chunk < rows * dim:
        assert len(rms_norm._row_chunks(rows, dim, chunk)) > 1
    assert rms_norm._lanes(x.detach()) == (8 if (dim, rows % 8) == (8, 0) else 1)
    y = rms_norm.rms_norm(x, norm.weight, norm.eps, act, chunk)
    assert y.grad_fn.name() == "_RMSNormFnBackward"
    with kernels.use("plain"):
        ref = norm(x)
    assert torch.allclose(y, ref, rtol=1e-12, atol=1e-12)
    g = torch.randn(y.shape, generator=gen, dtype=torch.float64)
    for a, b in zip(_grads(y, (x, norm.weight), g), _grads(ref, (x, norm.weight), g), strict=True):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-10)
    assert torch.autograd.gradcheck(lambda a, w: rms_norm.rms_norm(a, w, 1e-4, act, chunk), (x, norm.weight))


def test_rms_norm_kernel_takes_its_chunked_packed_path_at_its_own_bounds():
    """Over RMS_CHUNK elements, 8 channels: the path the CNN's feature maps take, through the module in both modes."""
    gen = torch.Generator().manual_seed(0)
    rows = rms_norm.RMS_CHUNK // 8 + 64
    x = torch.randn(rows, 8, generator=gen, dtype=torch.float64, requires_grad=True)
    norm = RMSNorm(8, act=True).double()
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5, generator=gen)
    assert len(rms_norm._row_chunks(rows // 8, 64, rms_norm.RMS_CHUNK)) == 2
    y = norm(x)
    with kernels.use("plain"):
        ref = norm(x)
    assert y.grad_fn.name() == "_RMSNormFnBackward" and ref.grad_fn.name() != y.grad_fn.name()
    assert torch.allclose(y, ref, rtol=1e-12, atol=1e-12)
    g = torch.randn(y.shape, generator=gen, dtype=torch.float64)
    for a, b in zip(_grads(y, (x, norm.weight), g), _grads(ref, (x, norm.weight), g), strict=True):
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-9)


def test_rms_norm_kernel_under_autocast_keeps_the_input_dtype():
    norm = RMSNorm(16, act=True)
    x = torch.randn(8, 16).bfloat16().requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = norm(x)
        with kernels.use("plain"):
            ref = norm(x)
    assert y.dtype == ref.dtype == torch.bfloat16
    assert torch.allclose(y.float(), ref.float(), rtol=2e-2, atol=1e-2)  # (1-2 bf16 ulps)
    y.float().sum().backward()
    assert norm.weight.grad.dtype == torch.float32


def test_column_sums():
    m = torch.randn(1000, 40)
    assert torch.allclose(column_sums(m), m.sum(0), atol=1e-3)
    assert torch.allclose(column_sums(m[:, :5]), m[:, :5].sum(0), atol=1e-4)
    for cols in (1, 3, 8, 15):  # narrow contiguous columns are folded into wider rows first
        narrow = torch.randn(4800, cols)
        assert torch.allclose(column_sums(narrow), narrow.double().sum(0).float(), atol=1e-3)
    odd = torch.randn(1001, 3)  # rows that do not fold evenly take the plain sum
    assert torch.equal(column_sums(odd), odd.sum(0))
    assert column_sums(m.bfloat16()).dtype == torch.float32
    wide = torch.randn(300, 20, dtype=torch.float64)
    assert torch.equal(column_sums(wide), wide.sum(0))


# ------------------------------------------------------------------------------- image input and loss
def test_image_loss_kernel_is_the_plain_loss():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 3, 8, 8, generator=gen, dtype=torch.float64).contiguous(
        memory_format=torch.channels_last).requires_grad_()
    target = torch.rand(4, 3, 8, 8, generator=gen, dtype=torch.float64)
    got = image_loss.sigmoid_squared_error(logits, target)
    with kernels.use("plain"):
        ref = sigmoid_squared_error(logits, target)
    assert got.grad_fn.name() == "_SigmoidSquaredErrorFnBackward" and ref.grad_fn.name() != got.grad_fn.name()
    assert torch.allclose(got, ref, rtol=1e-12)
    assert torch.allclose(torch.autograd.grad(got, logits)[0], torch.autograd.grad(ref, logits)[0], rtol=1e-10)
    assert torch.autograd.gradcheck(lambda a: image_loss.sigmoid_squared_error(a, target), (logits,))


def test_image_input_kernel_is_the_plain_centring_copy():
    obs = torch.rand(3, 3, 8, 8)
    x = image_input.centred_channels_last(obs)
    assert x.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(x, (obs - 0.5).contiguous(memory_format=torch.channels_last))


# ------------------------------------------------------------------------------------ posterior rollout
def _rollout(model, tokens, action, is_first, mode, start=None):
    """deter, stoch, logits of the posterior rollout in ``mode``, and the gradients of a loss that reads all
    three w.r.t. the tokens, the actions and every RSSM parameter (None where no gradient reaches)."""
    leaves = [tokens, action, *model.rssm.parameters()]
    with kernels.use(mode):
        torch.manual_seed(1)  # the same draws
        outs = model.rssm.observe(tokens, action, is_first, start)
    deter, stoch, logits = outs
    loss = deter.sin().sum() + (stoch * torch.arange(stoch.shape[-1])).sum() + logits.cos().sum()
    return outs, torch.autograd.grad(loss, leaves, allow_unused=True)


def _rollout_setup(overrides, seq, seed=0, start=False):
    """A float64 model at random weights, tokens, actions and is_first of ``seq`` steps; with ``start`` also a
    random starting state (a stored replay context): deter normal, stoch a one-hot sample, no reset at step 0."""
    torch.manual_seed(seed)
    model = build_model(DreamerV3Config(**{**VECTOR, "replay_context": 0, **overrides})).double()
    randomise_(model.rssm, seed)
    gen = torch.Generator().manual_seed(seed)
    tokens = torch.randn(3, seq, model.encoder.out_dim, generator=gen, dtype=torch.float64, requires_grad=True)
    batch = model.random_batch(3, seq, generator=gen)
    action = batch["action"].double().requires_grad_()
    if seq > 4:
        batch["is_first"][1, 4] = True  # a reset inside the sequence
    begin = None
    if start:
        batch["is_first"][0, 0] = False  # rows 0 and 2 go on from the stored state, row 1 starts an episode
        batch["is_first"][2, 0] = False
        stoch = torch.nn.functional.one_hot(torch.randint(model.config.stoch_classes, (3, model.config.stoch_discrete),
                                                          generator=gen), model.config.stoch_classes)
        begin = (torch.randn(3, model.config.deter_dim, generator=gen, dtype=torch.float64),
                 stoch.flatten(1).double())
    return model, tokens, action, batch["is_first"], begin


def _rollout_gap(model, tokens, action, is_first, start=None) -> tuple[float, float]:
    """Largest differences between the kernel and the plain loop: of the outputs, of the gradients (relative)."""
    (fast_out, fast), (plain_out, plain) = (_rollout(model, tokens, action, is_first, m, start)
                                            for m in ("auto", "plain"))
    assert fast_out[0].grad_fn.name() == "_ObserveFnBackward" and plain_out[0].grad_fn.name() != "_ObserveFnBackward"
    out_gap = max((a - b).abs().max().item() for a, b in zip(fast_out, plain_out, strict=True))
    names = ["tokens", "action", *(n for n, _ in model.rssm.named_parameters())]
    for name, a, b in zip(names, fast, plain, strict=True):
        assert (a is None) == (b is None), name
    grad_gap = max(((a - b).abs().max() / (b.abs().max() + 1e-30)).item()
                   for a, b in zip(fast, plain, strict=True) if b is not None)
    return out_gap, grad_gap


@pytest.mark.parametrize("overrides,seq,start", [({}, 7, False), ({"unimix": 0.0}, 7, False),
                                                ({"gru_blocks": 2, "stoch_discrete": 3}, 7, False), ({}, 1, False),
                                                ({}, 7, True), ({}, 1, True)])
def test_observe_kernel_gives_the_values_draws_and_gradients_of_the_plain_loop(overrides, seq, start):
    """Every RSSM parameter at random (biases and zero-initialised layers too), float64: the kernel's outputs
    and its gradients w.r.t. the tokens, the actions and every RSSM parameter are the plain loop's, from a zero
    state or from a stored starting state (the replay context)."""
    model, tokens, action, is_first, begin = _rollout_setup(overrides, seq, start=start)
    _, plain = _rollout(model, tokens, action, is_first, "plain", begin)
    reached = {n for (n, _), g in zip(model.rssm.named_parameters(), plain[2:], strict=True)
               if g is not None and g.abs().sum() > 0}
    step = {n for n, _ in model.rssm.named_parameters() if not n.startswith(("prior", "prior_logits"))}
    if seq > 1 or start:  # (one step from zeros: the input layers' weights get no gradient)
        assert step <= reached  # every parameter but the prior's takes part: none is left out of the comparison
    out_gap, grad_gap = _rollout_gap(model, tokens, action, is_first, begin)
    assert out_gap < 1e-12 and grad_gap < 1e-10, (out_gap, grad_gap)


@pytest.mark.parametrize("start", [False, True])
def test_the_rollout_comparison_fails_when_the_plain_step_changes(monkeypatch, start):
    """The guard of the test above: a change to RSSM.core that the kernel does not make is caught."""
    model, tokens, action, is_first, begin = _rollout_setup({}, 5, start=start)
    core = RSSM.core
    monkeypatch.setattr(RSSM, "core", lambda self, d, s, a: core(self, d, s, a) * 1.001)
    out_gap, grad_gap = _rollout_gap(model, tokens, action, is_first, begin)
    assert out_gap > 1e-4 and grad_gap > 1e-4


def test_a_stored_start_changes_the_rollout_unless_the_episode_starts():
    """The starting state is read where step 0 goes on (is_first False) and reset to zeros where it starts."""
    model, tokens, action, is_first, begin = _rollout_setup({}, 4, start=True)
    with torch.no_grad():
        torch.manual_seed(1)
        from_start = model.rssm.observe(tokens, action, is_first, begin)[0]
        torch.manual_seed(1)
        from_zero = model.rssm.observe(tokens, action, is_first, None)[0]
    assert not torch.allclose(from_start[0], from_zero[0]) and not torch.allclose(from_start[2], from_zero[2])
    assert torch.equal(from_start[1], from_zero[1])  # row 1 starts an episode at step 0


def test_world_model_loss_is_the_same_in_both_modes_float64():
    """A whole image world-model loss at random weights (encoder, decoder with the phase form and the
    transposed-conv weight gradient, RMSNorm, rollout, image loss): loss and every gradient, float64."""
    torch.manual_seed(0)
    model = build_model(DreamerV3Config.from_size("tiny")).double()
    randomise_(model, 0)
    batch = {k: v.double() if v.is_floating_point() else v
             for k, v in model.random_batch(2, 3, generator=torch.Generator().manual_seed(0)).items()}
    batch["is_first"][0, 1] = False  # row 0 goes on from its stored state (the replay context)
    params = list(model.world_model_parameters())

    def run(mode):
        with kernels.use(mode):
            torch.manual_seed(1)
            loss = model.world_model_loss(batch)[0]
        return loss, torch.autograd.grad(loss, params, allow_unused=True)

    (fast_loss, fast), (plain_loss, plain) = run("auto"), run("plain")
    assert torch.allclose(fast_loss, plain_loss, rtol=1e-12)
    names = [n for n, p in model.named_parameters() if any(p is q for q in params)]
    for name, a, b in zip(names, fast, plain, strict=True):
        assert (a is None) == (b is None), name
        assert a is None or torch.allclose(a, b, rtol=1e-9, atol=1e-9 * b.abs().max().item()), name


def test_world_model_gradients_agree_in_float32():
    """The float32 training step users run: gradients of both modes within float32 rounding. (In the strided CNN
    form: the default form's 2x2 max-pooling sends each window's gradient to its largest value, and float32
    rounding differences between the modes pick another one in near-tied windows, so its gradients differ by
    more than rounding by design; the float64 comparisons above hold both forms to the same function.)"""
    torch.manual_seed(0)
    model = build_model(DreamerV3Config.from_size("tiny", cnn_strided=True))
    batch = model.random_batch(4, 9, generator=torch.Generator().manual_seed(2))
    params = list(model.world_model_parameters())

    def grads(mode):
        with kernels.use(mode):
            torch.manual_seed(3)
            return torch.autograd.grad(model.world_model_loss(batch)[0], params, allow_unused=True)

    for a, b in zip(grads("auto"), grads("plain"), strict=True):
        assert (a is None) == (b is None)
        assert a is None or (a - b).norm() <= 1e-4 * b.norm() + 1e-6


def test_rollout_without_gradients_or_under_autocast_runs_the_loop():
    model = build_model(DreamerV3Config(**VECTOR))
    tokens = torch.randn(2, 3, model.encoder.out_dim)
    batch = model.random_batch(2, 3, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert model.rssm.observe(tokens, batch["action"], batch["is_first"])[0].grad_fn is None
    with torch.autocast("cpu", dtype=torch.bfloat16):
        deter = model.rssm.observe(tokens, batch["action"], batch["is_first"])[0]
    assert deter.grad_fn.name() != "_ObserveFnBackward"


def test_bench_records_the_kernel_mode(monkeypatch):
    """`worldflux bench` writes the mode into its environment block (and its text report); results written
    before the key existed still pass the contract (--compare reads them)."""
    import json
    from pathlib import Path

    from worldflux_cli.bench.results import check_contract, render_text
    from worldflux_cli.bench.runner import environment

    assert environment(torch.device("cpu"), "float32", False, 1)["kernels"] == "auto"
    monkeypatch.setenv(kernels.ENV_VAR, "plain")
    env = environment(torch.device("cpu"), "float32", False, 1)
    assert env["kernels"] == "plain"
    result = {"config": {"label": "x", "model_type": "dreamer", "model_name": "tiny"}, "environment": env,
              "settings": {"batch": 1, "seq": 2, "steps": 1, "warmup": 0, "seed": 0},
              "params": {"trainable": 1, "frozen": 0, "matches": None, "analytic_trainable": None}, "workloads": {}}
    assert ", kernels plain" in render_text(result).splitlines()[2]
    older = json.loads((Path(__file__).parents[2] / "benchmarks/paired/results/dreamer-tiny.r0.json").read_text())
    assert "kernels" not in older["environment"] and check_contract(older) == []
    older["environment"]["kernels"] = 1
    assert check_contract(older) == ["$.environment.kernels: int where ['str'] expected"]


def test_image_loss_kernel_sums_a_large_float32_batch_accurately():
    """The loss value, not only its gradient: over 1.5M float32 pixels it agrees with the float64 sum to 1e-6
    relative (one float32 accumulation over the whole batch read it low by ~1e-4 here, ~1e-3 at 12M)."""
    gen = torch.Generator().manual_seed(3)
    logits = torch.randn(128, 3, 64, 64, generator=gen).contiguous(memory_format=torch.channels_last)
    target = torch.rand(128, 3, 64, 64, generator=gen)
    exact = (torch.sigmoid(logits.double()) - target.double()).square().sum()
    got = image_loss.sigmoid_squared_error(logits, target)
    assert got.dtype == torch.float32
    assert abs(got.double() - exact) / exact < 1e-6
