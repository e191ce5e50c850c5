"""Official TD-MPC2 checkpoints in and out, without the official code.

golden/tdmpc2_tiny_mt3.pt was written by the official code (nicklashansen/tdmpc2 e9f5932) on random weights
(benchmarks/parity/tdmpc2_parity.py --write-golden): 3 tasks with action sizes 4/2/3, 7 observation dims;
golden/tdmpc2_tiny_mt3_outputs.pt holds its outputs on a fixed input, golden/tdmpc2_tiny_mt3_plans.pt the
official planner's plans of one observation (a first plan, then two warm-started ones, eval_mode and not) in
float32 and float64. golden/tdmpc2_tiny_pixels.pt is a 64x64 pixel model (the official encoder) and
golden/tdmpc2_tiny_pixels_update.pt its parameters after one official update on a batch made from a seed.
The noise of the plans and the update is one seeded stream that stood in for every random draw of the
official code (the driver's Noise): _Stream below replays it into ours.
"""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path

import pytest
import torch

from worldflux_cli.interop.tdmpc2 import export_state_dict, import_checkpoint
from worldflux_cli.models import tdmpc2 as wf
from worldflux_cli.models import tdmpc2_plan as wf_plan

GOLDEN = Path(__file__).parent / "golden"
CKPT = GOLDEN / "tdmpc2_tiny_mt3.pt"


@pytest.fixture(scope="module")
def official():
    return torch.load(CKPT, map_location="cpu", weights_only=True)["model"]


@pytest.fixture(scope="module")
def imported():
    return import_checkpoint(CKPT, dropout=0.01)


def test_golden_outputs_without_the_official_code(imported, monkeypatch):
    model, config = imported
    assert (config.num_tasks, config.action_dim, config.obs_shape, config.task_action_dims) == (3, 4, (7,), (4, 2, 3))
    out = torch.load(GOLDEN / "tdmpc2_tiny_mt3_outputs.pt", weights_only=True)
    task, obs, action = out["task"], out["obs"], out["action"]
    model.eval()
    emb = model.embed_task(task)
    gen = torch.Generator().manual_seed(int(out["eps_seed"]))  # the noise the official policy drew
    monkeypatch.setattr(wf, "randn", lambda shape, g, d: torch.randn(tuple(shape), generator=gen,
                                                                     dtype=torch.float64))
    with torch.no_grad():
        z = model.encode(obs, emb)
        action_pi, info = model.policy(z, emb, mask=model.action_mask(task))
        got = {"z": z, "next": model.next(z, action, emb), "reward": model.reward(z, action, emb),
               "q_all": model.q_value(z, action, emb, "all"),
               "target_q_all": model.q_value(z, action, emb, "all", target=True),
               "pi_action": action_pi, "pi_mean": info["mean"], "pi_log_std": info["log_std"]}
    for key, value in got.items():
        assert value.shape == out[key].shape, key
        assert torch.allclose(value, out[key], atol=1e-6, rtol=0), (key, float((value - out[key]).abs().max()))
    assert (action_pi[task == 1, 2:] == 0).all()  # task 1 uses 2 of the 4 action dimensions


_RANDN, _RANDPERM, _RANDINT, _EXPONENTIAL = torch.randn, torch.randperm, torch.randint, torch.Tensor.exponential_


class _Stream:
    """The golden files' noise: one seeded stream for every draw, by call order (tdmpc2_parity.py's Noise)."""

    def __init__(self, seed: int):
        self.gen = torch.Generator().manual_seed(seed)

    def randn(self, shape, generator, device):  # our models.noise.randn (the official randn / randn_like)
        return _RANDN(tuple(shape), generator=self.gen, dtype=torch.float64)

    def randperm(self, n, *a, **k):
        return _RANDPERM(n, generator=self.gen)

    def randint(self, *args, size=None, dtype=None, **k):
        args = (*args, size) if size is not None else args
        return _RANDINT(*args, generator=self.gen).to(dtype or torch.int64)

    def exponential_(self, t):
        return t.copy_(_EXPONENTIAL(torch.empty(t.shape, dtype=torch.float64), generator=self.gen))


@pytest.fixture
def stream(monkeypatch):
    """stream(seed): every random draw of ours from then on comes from _Stream(seed)."""

    def install(seed: int) -> None:
        s = _Stream(seed)
        monkeypatch.setattr(wf, "randn", s.randn)
        monkeypatch.setattr(wf_plan, "randn", s.randn)
        monkeypatch.setattr(torch, "randperm", s.randperm)
        monkeypatch.setattr(torch, "randint", s.randint)
        monkeypatch.setattr(torch.Tensor, "exponential_", lambda t, *a, **k: s.exponential_(t))

    return install


@pytest.mark.parametrize(("dtype", "tol"), [(torch.float32, 1e-6), (torch.float64, 1e-10)])
def test_golden_plans_without_the_official_code(stream, dtype, tol):
    """MPPI of one observation against the official planner: action, mean and std after the iterations."""
    golden = torch.load(GOLDEN / "tdmpc2_tiny_mt3_plans.pt", weights_only=True)
    model, _ = import_checkpoint(CKPT, dtype=dtype, dropout=0.01, task_episode_lengths=(100, 500, 1000))
    name = str(dtype).removeprefix("torch.")
    task = golden["task"]
    assert task.tolist() == [1]  # 2 of the 4 action dimensions
    for i, (t0, eval_mode) in enumerate(zip(golden["t0"].tolist(), golden["eval_mode"].tolist(), strict=True)):
        stream(int(golden["noise_seed"]) + i)
        action = model.plan(golden["obs"].to(dtype), task=task, t0=t0, eval_mode=eval_mode)  # warm: plan_mean
        got = {"action": action[0], "mean": model.plan_mean[0], "std": model.plan_std[0]}
        for key, value in got.items():
            want = golden[f"{key}_{i}_{name}"]
            assert value.dtype == want.dtype == dtype and value.shape == want.shape, (i, key)
            assert torch.allclose(value, want, atol=tol, rtol=0), (i, key, float((value - want).abs().max()))
        assert (action[0, 2:] == 0).all()


def _pixel_batch(seed: int, size: int, action_dim: int) -> dict[str, torch.Tensor]:
    """The batch of the pixel golden update (tdmpc2_parity.py's batch_of: horizon 3, uint8 pixels)."""
    g = torch.Generator().manual_seed(seed)
    return {"obs": torch.randint(0, 256, (4, size, 3, 64, 64), generator=g, dtype=torch.uint8),
            "action": (torch.rand(3, size, action_dim, generator=g, dtype=torch.float64) * 2 - 1).float(),
            "reward": torch.randn(3, size, generator=g, dtype=torch.float64).float() * 3}


def test_golden_pixel_update_without_the_official_code(stream):
    """One update of a 64x64 pixel model (the official encoder, random shifts in every encoder call, the TD
    targets' included) against the official update: every parameter after it, the target Qs included."""
    golden = torch.load(GOLDEN / "tdmpc2_tiny_pixels_update.pt", weights_only=True)
    model, config = import_checkpoint(GOLDEN / "tdmpc2_tiny_pixels.pt", dropout=0.0,
                                      episode_length=int(golden["episode_length"]))
    assert config.obs_shape == (3, 64, 64) and model.encoder.proj is None and model.encoder.shift_pad == 3
    batch = _pixel_batch(int(golden["batch_seed"]), int(golden["batch_size"]), config.action_dim)
    assert float(batch["obs"].double().sum()) == float(golden["obs_sum"])  # the same batch as the official's
    stream(int(golden["noise_seed"]))
    metrics = model.update(batch)
    for key, want in golden["losses"].items():
        assert abs(metrics[key] - float(want)) < 1e-6, (key, metrics[key], float(want))
    after = export_state_dict(model)
    assert set(golden["after"]) <= set(after)
    for key, want in golden["after"].items():
        diff = float((after[key] - want).abs().max())
        # The last convolution's bias has an exact gradient of 0 (each SimNorm group of 8 lies inside one channel's
        # 4x4 map, and softmax ignores a constant added to a group): both sides step on ~1e-10 rounding noise,
        # which Adam's first step (g / (|g| + 1e-8)) scales up to 1e-5. Within the target (5e-5) all the same.
        assert diff <= (5e-5 if key == "_encoder.rgb.8.bias" else 1e-6), (key, diff)


def test_import_then_export_is_bit_for_bit(official, imported):
    model, _ = imported
    back = export_state_dict(model)
    assert set(back) == set(official)
    for key, t in official.items():
        if t.is_meta:
            assert back[key].is_meta and back[key].shape == t.shape, key
        else:
            assert back[key].dtype == t.dtype and torch.equal(back[key], t), key


def _old_layout(state: dict) -> dict:
    """The older flat-numbered Q layout that the official api_model_conversion converts."""
    names = ("weight", "bias", "ln.weight", "ln.bias")
    out = {}
    for key, value in state.items():
        m = re.match(r"^_(Qs\.params|target_Qs_params)\.(\d+)\.(.+)$", key)
        if m:
            prefix = "_Qs.params" if m.group(1) == "Qs.params" else "_target_Qs.params"
            out[f"{prefix}.{int(m.group(2)) * 4 + names.index(m.group(3))}"] = value
        elif not (key.startswith("_detach_Qs") or ".module." in key):
            out[key] = value
    return out


def test_older_layout_imports_to_the_same_model(official, imported, tmp_path):
    path = tmp_path / "old.pt"
    torch.save({"model": _old_layout(official)}, path)
    model, _ = import_checkpoint(path, dropout=0.01)
    for (key, a), b in zip(model.state_dict().items(), imported[0].state_dict().values(), strict=True):
        assert torch.equal(a, b), key


def test_cli_import_then_export(cli, tmp_path, official):
    out = tmp_path / "mt3"
    r = cli("import", str(CKPT), "-o", str(out), "--task", "mt3", "--episode-length", "1000")
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    from worldflux_cli.hub import load_pretrained

    model, config = load_pretrained(out)
    assert config.model_name == "mt3" and config.task_discounts() == (0.995,) * 3
    r = cli("export", str(out), "--to", "tdmpc2", "-o", str(tmp_path / "back.pt"))
    assert r.exit_code == 0, r.output
    back = torch.load(tmp_path / "back.pt", weights_only=True)["model"]
    assert all(torch.equal(back[k], t) for k, t in official.items() if not t.is_meta)
    r = cli("export", str(out), "--to", "tdmpc2", "-o", str(tmp_path / "back.pt"))
    assert r.exit_code == 2 and "--force" in r.stderr


def test_export_writes_like_every_other_output(cli, tmp_path):
    """The usual file mode, never over a device, a symbolic link replaced only with --force (and then itself)."""
    import os

    out = tmp_path / "m"
    assert cli("import", str(CKPT), "-o", str(out), "--task", "mt3").exit_code == 0
    old = os.umask(0o022)
    try:
        assert cli("export", str(out), "--to", "tdmpc2", "-o", str(tmp_path / "a.pt")).exit_code == 0
        assert (tmp_path / "a.pt").stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(old)
    r = cli("export", str(out), "--to", "tdmpc2", "-o", "/dev/null", "--force")
    assert r.exit_code == 2 and "character device" in r.stderr
    link, target = tmp_path / "link.pt", tmp_path / "target.pt"
    target.write_text("keep")
    link.symlink_to(target)
    assert cli("export", str(out), "--to", "tdmpc2", "-o", str(link)).exit_code == 2 and link.is_symlink()
    assert cli("export", str(out), "--to", "tdmpc2", "-o", str(link), "--force").exit_code == 0
    assert not link.is_symlink() and target.read_text() == "keep"


def _write(tmp_path: Path, state: dict) -> str:
    path = tmp_path / "c.pt"
    torch.save({"model": state}, path)
    return str(path)


@pytest.mark.parametrize(("change", "listed"), [
    (lambda s: s.update({"_extra.weight": torch.zeros(2)}), "_extra.weight: unknown key"),
    (lambda s: s.pop("_reward.1.ln.bias"), "_reward.1.ln.bias: missing"),
    (lambda s: s.update({"_pi.0.bias": torch.zeros(5)}), "_pi.0.bias: shape (5,)"),
    (lambda s: s.update({"log_std_min": torch.tensor(-5)}), "log_std_min"),
    (lambda s: s["_detach_Qs_params.1.weight"].add_(1), "differs from _Qs.params.1.weight"),
])
def test_every_key_is_accounted_for(cli, tmp_path, official, change, listed):
    state = {k: v.clone() for k, v in official.items()}
    change(state)
    r = cli("import", _write(tmp_path, state), "-o", str(tmp_path / "out"))
    assert r.exit_code == 1 and listed in r.stderr and "Traceback" not in r.output, r.output
    assert "hint:" in r.stderr and not (tmp_path / "out").exists()


def test_options_that_disagree_with_the_weights_are_refused(cli, tmp_path):
    r = cli("import", str(CKPT), "-o", str(tmp_path / "out"), "--action-dim", "5")
    assert r.exit_code == 1 and "action_dim: the file says 4, the option says 5" in r.stderr


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


@pytest.mark.parametrize(("content", "code", "says"), [
    (lambda p: p.write_bytes(pickle.dumps({"model": _Evil()}, protocol=2)), 1, "refused"),
    (lambda p: p.write_bytes(pickle.dumps(_Evil(), protocol=4)), 1, "refused"),
    (lambda p: p.write_text("not a checkpoint"), 2, "could not read"),
    (lambda p: p.write_bytes(CKPT.read_bytes()[:2000]), 2, "could not read"),
    (lambda p: torch.save({"model": {"encoder.conv.weight": torch.zeros(2)}}, p), 1, "not a TD-MPC2 checkpoint"),
    (lambda p: torch.save([1, 2], p), 1, "not a TD-MPC2 checkpoint"),
])
def test_bad_files_give_a_message_and_an_exit_code(cli, tmp_path, content, code, says, capfd):
    path = tmp_path / "bad.pt"
    content(path)
    r = cli("import", str(path), "-o", str(tmp_path / "out"))
    assert r.exit_code == code and says in r.stderr and "Traceback" not in r.output, r.output
    assert str(path) in r.stderr and "hint:" in r.stderr
    assert "pwned" not in capfd.readouterr().out


def test_missing_file_and_foreign_export(cli, tmp_path):
    r = cli("import", str(tmp_path / "none.pt"), "-o", str(tmp_path / "out"))
    assert r.exit_code == 2 and "no such file" in r.stderr
    r = cli("save", "dreamer:tiny", "-o", str(tmp_path / "d"))
    assert r.exit_code == 0, r.output
    r = cli("export", str(tmp_path / "d"), "--to", "tdmpc2", "-o", str(tmp_path / "d.pt"))
    assert r.exit_code == 1 and "not TD-MPC2" in r.stderr
