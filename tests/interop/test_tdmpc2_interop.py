"""Official TD-MPC2 checkpoints in and out, without the official code.

golden/tdmpc2_tiny_mt3.pt was written by the official code (nicklashansen/tdmpc2 e9f5932) on random weights
(benchmarks/parity/tdmpc2_parity.py --write-golden): 3 tasks with action sizes 4/2/3, 7 observation dims;
golden/tdmpc2_tiny_mt3_outputs.pt holds its outputs on a fixed input.
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
