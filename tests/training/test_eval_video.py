"""`worldflux eval --video`: the episodes recorded to .mp4 or .gif, written whole or not at all."""

from __future__ import annotations

import json

import pytest

ENV = "dmc:cartpole-balance?episode_length=10"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A TD-MPC2 model folder (random weights) that fits dmc:cartpole-balance."""
    from typer.testing import CliRunner

    from worldflux_cli.cli.app import app

    root = tmp_path_factory.mktemp("video")
    runner = CliRunner()
    r = runner.invoke(app, ["new", "--model", "tdmpc2", "--size", "tiny", "--obs-shape", "5", "--action-dim", "1",
                            "--set", "horizon=3", "--set", "num_samples=32", "--set", "num_elites=4",
                            "--set", "num_pi_trajs=2", "--set", "iterations=1", "--set", "device=cpu",
                            "-o", str(root / "cfg.json")])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["save", str(root / "cfg.json"), "-o", str(root / "model")])
    assert r.exit_code == 0, r.output
    return root / "model"


def _leftovers(path):
    return sorted(p.name for p in path.parent.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
def test_the_video_holds_every_frame_of_every_episode_and_leaves_the_returns_alone(cli, folder, tmp_path, suffix):
    import imageio.v3 as iio

    video = tmp_path / f"episodes{suffix}"
    args = ("eval", str(folder), "--env", ENV, "--episodes", "2", "--seed", "1", "--format", "json")
    r = cli(*args, "--video", str(video), "--video-size", "48")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["video"]["frames"] == 2 * (10 + 1)  # each episode's first observation and its 10 steps
    assert data["video"]["fps"] == pytest.approx(50.0)  # cartpole's 0.01 s control step x action repeat 2
    frames = iio.imread(video)
    assert frames.shape == (22, 48, 48, 3) and frames.std() > 0
    assert data["returns"] == json.loads(cli(*args).stdout)["returns"]
    assert _leftovers(video) == []


def test_a_failure_while_recording_leaves_no_file(cli, folder, tmp_path, monkeypatch):
    from worldflux_cli.envs.dmc_env import DMCEnv
    from worldflux_cli.envs.errors import EnvError

    calls = []

    def failing(self, size=256):
        calls.append(size)
        if len(calls) > 5:
            raise EnvError("rendering pixels failed (MUJOCO_GL=egl): GLError", "set MUJOCO_GL=osmesa")
        return DMCEnv._render(self, size)

    monkeypatch.setattr(DMCEnv, "render", failing)
    video = tmp_path / "out.mp4"
    r = cli("eval", str(folder), "--env", ENV, "--episodes", "1", "--video", str(video))
    assert r.exit_code == 2 and "rendering pixels failed" in r.stderr and "Traceback" not in r.output
    assert not video.exists() and _leftovers(video) == []


@pytest.mark.parametrize("case", ["suffix", "library", "exists"])
def test_bad_video_requests_exit_2_with_a_message(cli, folder, tmp_path, monkeypatch, case):
    import importlib.util

    import worldflux_cli.training.video as video_module

    video, extra, says = tmp_path / "out.mp4", [], ""
    if case == "suffix":
        video, says = tmp_path / "out.avi", "written as .mp4 or .gif"
    elif case == "library":
        real = importlib.util.find_spec
        monkeypatch.setattr(video_module.importlib.util, "find_spec",
                            lambda name, *a: None if name == "imageio_ffmpeg" else real(name, *a))
        says = "needs imageio-ffmpeg, which is not installed"
    else:
        video.write_text("keep me")
        says = "exists"
    r = cli("eval", str(folder), "--env", ENV, "--episodes", "1", "--video", str(video), *extra)
    assert r.exit_code == 2, r.output
    assert says in r.stderr and "Traceback" not in r.output
    if case == "library":
        assert 'pip install "worldflux[envs]"' in r.stderr and not video.exists()
    if case == "exists":
        assert video.read_text() == "keep me"
