"""Hostile input: no traceback, no exit 3, no crash, bounded time and memory, nothing clobbered, nothing leaked.

The corpus is generated here, at test time (nothing large is committed). Each case runs through every
command that takes that kind of input. Cases that could eat memory or time run in a subprocess under an
address-space cap and a timeout; the others run in-process through the CLI runner.
"""

from __future__ import annotations

import json
import os
import resource
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT

PY = sys.executable
#: Address-space cap of a subprocess that must not read or allocate without bound (torch imports fit).
CAP = 3 * 2**30


def _capped() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (CAP, CAP))


def run_capped(*args: str, stdin: bytes | None = None, timeout: float = 60, shell: str | None = None,
               cwd: Path | None = None) -> tuple[int, str, str, float]:
    """(exit code, stdout, stderr, seconds) of `worldflux ARGS` in a subprocess under CAP bytes of memory."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    env.pop("WORLDFLUX_DEBUG", None)
    argv = [PY, "-m", "worldflux_cli", *args]
    if shell is not None:  # e.g. closed standard streams: `... <&-`
        argv = ["bash", "-c", " ".join(f"'{a}'" for a in argv) + " " + shell]
    start = time.perf_counter()
    proc = subprocess.run(argv, input=stdin, capture_output=True, timeout=timeout, env=env, cwd=cwd,
                          preexec_fn=_capped)
    return (proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace"),
            time.perf_counter() - start)


def assert_clean(output: str) -> None:
    assert "Traceback" not in output and "internal error" not in output, output[-2000:]
    assert "\x1b" not in output, "raw ESC reached the terminal"


# --------------------------------------------------------------------------- unbounded input and closed streams


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
@pytest.mark.parametrize("command", ["validate", "info", "diff", "bench", "save"])
def test_devices_are_refused_at_once(command, device, tmp_path):
    args = {"validate": [device], "info": [device], "diff": [device, "tdmpc2:5m"],
            "bench": [device, "--device", "cpu"], "save": [device, "-o", str(tmp_path / "o")]}[command]
    code, out, err, seconds = run_capped(command, *args, timeout=60)
    assert code == 2 and "character device" in out + err and seconds < 30
    assert_clean(out + err)


def test_standard_input_over_the_cap_says_too_large():
    code, out, err, _ = run_capped("validate", "-", stdin=b" " * (16 * 2**20 + 10))
    assert code == 2 and "over 16,777,216 bytes" in out and "WF001" not in out


@pytest.mark.parametrize("command", [["validate", "-"], ["info", "-"], ["diff", "-", "tdmpc2:5m"]])
def test_closed_standard_input_is_a_plain_exit_2(command):
    code, out, err, _ = run_capped(*command, shell="<&-")
    assert code == 2 and "standard input is closed" in out + err
    assert_clean(out + err)


@pytest.mark.parametrize("command", [["presets"], ["validate", "x.json"], ["info", "tdmpc2:5m"]])
def test_closed_standard_output_is_a_plain_exit_2(command):
    code, out, err, _ = run_capped(*command, shell=">&-")
    assert code == 2 and "standard output is closed" in err
    assert_clean(err)


# --------------------------------------------------------------------------- linear time on files full of problems


def _many_unknown_keys(n: int) -> bytes:
    return json.dumps({"model_type": "tdmpc2", **{f"key_{i}": i for i in range(n)}}, indent=1).encode()


def _many_bad_items(n: int) -> bytes:
    return json.dumps({"model_type": "tdmpc2", "obs_shape": [-1] * n}).encode()


def _many_duplicates(n: int) -> bytes:
    return ('{"model_type": "tdmpc2", ' + ", ".join('"a": 1' for _ in range(n)) + "}").encode()


@pytest.mark.parametrize("make", [_many_unknown_keys, _many_bad_items, _many_duplicates],
                         ids=["100k unknown keys", "200k bad items", "100k duplicate keys"])
def test_a_file_full_of_problems_answers_fast_and_bounded(make, tmp_path):
    n = 200_000 if make is _many_bad_items else 100_000
    path = tmp_path / "bad.json"
    path.write_bytes(make(n))
    assert path.stat().st_size < 16 * 2**20
    code, out, err, seconds = run_capped("validate", str(path), timeout=60)
    assert code == 1 and seconds < 15, seconds  # ~1-2 s here; a generous bound for a loaded CI machine
    assert len(out) < 200_000
    if make is _many_bad_items:  # the length is one problem (with the real count), not one per extra item
        assert "obs_shape has 200,000 items" in out
    else:
        assert "more problem(s)" in out
    assert_clean(out + err)
    code, out, _, seconds = run_capped("validate", str(path), "--format", "json", timeout=60)
    data = json.loads(out)["files"][0]
    assert code == 1 and data["problem_count"] == len(data["problems"]) >= 1 and seconds < 30
    messages = [p["message"] for p in data["problems"]]
    if make is _many_unknown_keys:  # 1,000 listed one by one, and one problem that counts the rest
        assert len(messages) == 1001 and "99,000 more unknown keys (100,000 in all" in " ".join(messages)
    if make is _many_duplicates:
        assert len(messages) <= 1002 and "more problems of the file itself" in " ".join(messages)


@pytest.mark.parametrize("make", [
    lambda: '{"model_type": "tdmpc2", ' + ", ".join('"a": 1' for _ in range(2_000_000)) + "}",
    lambda: json.dumps({"model_type": "tdmpc2", **{f"k{i}": i for i in range(800_000)}}),
    lambda: json.dumps({"model_type": "tdmpc2", "x": [[]] * 3_600_000}),
], ids=["2M duplicate keys", "800k unknown keys", "3M nested lists"])
def test_a_file_just_under_16_mib_answers_in_seconds(make, tmp_path):
    path = tmp_path / "big.json"
    path.write_text(make())
    assert 12 * 2**20 < path.stat().st_size < 16 * 2**20
    code, out, err, seconds = run_capped("validate", str(path), timeout=120)
    assert code == 1 and seconds < 20, seconds  # about 1-4 s on an idle 2-core machine
    assert len(out) < 200_000
    assert_clean(out + err)


def test_every_problem_is_counted_and_listed_on_request(cli, tmp_path):
    path = tmp_path / "bad.json"
    path.write_bytes(_many_unknown_keys(120))
    r = cli("validate", str(path))
    assert r.exit_code == 1 and "... and 70 more problem(s)" in r.stdout and "120 error(s)" in r.stdout
    r = cli("validate", str(path), "--max-problems", "0")
    assert r.stdout.count("WF101") == 120
    r = cli("validate", str(path), "--format", "json", "--max-problems", "5")
    assert len(json.loads(r.stdout)["files"][0]["problems"]) == 5


# --------------------------------------------------------------------------- numbers: too long, too large, overflow

@pytest.mark.parametrize("text", [
    '{"model_type": "dreamer", "deter_dim": ' + "9" * 4400 + "}",  # over Python's int-to-str limit
    '{"model_type": "dreamer", "stoch_discrete": ' + "9" * 4000 + ', "stoch_classes": ' + "9" * 4000 + "}",
    '{"model_type": "tdmpc2", "latent_dim": ' + "9" * 4000 + ', "simnorm_dim": 7}',
    '{"model_type": "tdmpc2", "obs_shape": [3, 1000000000000000000000000000000, 1000000000000000000000]}',
    '{"model_type": "dreamer", "obs_shape": [4611686018427387904, 4611686018427387904, 4611686018427387904]}',
    '{"model_type": "tdmpc2", "obs_shape": [1' + "0" * 400 + "]}",
    '{"model_type": "tdmpc2", "obs_shape": [3, 65536, 65537]}',
    '{"model_type": "tdmpc2", "vmin": 1e308, "vmax": -1e308}',
    '{"model_type": "tdmpc2", "vmin": 1e999}',
], ids=["4400 digits", "huge product", "huge latent", "huge image", "int64 image", "huge vector", "past the cap",
        "float edge", "float overflow"])
def test_huge_numbers_are_validation_errors(text, cli, tmp_path):
    path = tmp_path / "c.json"
    path.write_text(text)
    for argv in (["validate", str(path)], ["validate", str(path), "-f", "json"],
                 ["validate", str(path), "-f", "github"], ["info", str(path)], ["diff", str(path), "dreamer:tiny"],
                 ["bench", str(path), "--device", "cpu"], ["save", str(path), "-o", str(tmp_path / "o")]):
        r = cli(*argv)
        assert r.exit_code == 1, (argv, r.output)
        assert_clean(r.output)


def test_at_every_field_maximum_the_counts_stay_exact_integers():
    """The schema's maxima keep every derived figure inside int64 and float: nothing can overflow."""
    import dataclasses

    from worldflux_cli.config import DreamerV3Config, TDMPC2Config
    from worldflux_cli.memory_estimate import model_info

    for cls in (DreamerV3Config, TDMPC2Config):
        big = {}
        for f in dataclasses.fields(cls):
            meta = f.metadata
            if meta["architecture"] and meta["maximum"] is not None and not meta["derived"]:
                big[f.name] = meta["maximum"]
        big.pop("simnorm_dim", None)
        big.pop("gru_blocks", None)
        big["obs_shape"] = [3, 1 << 16, 1 << 16] if cls is DreamerV3Config else [1 << 16]
        if cls is DreamerV3Config:
            big["cnn_kernels"], big["cnn_multipliers"] = [32] * 8, [64] * 8
        config = cls.from_dict(big)
        info = model_info(config, batch=1 << 20, seq=1 << 16)
        assert 0 < info["params"]["total"] < 2**63  # fits torch's int64 element counts
        for value in info["memory"].values():  # Python ints, exact; and finite as floats (the budget compares)
            if isinstance(value, int):
                assert value > 0 and float(value) < float("inf")


def test_options_out_of_range_name_the_range(cli):
    for argv, name in ((["bench", "tdmpc2:tiny", "--threads", "100000"], "--threads"),
                       (["bench", "tdmpc2:tiny", "--seed", str(2**64)], "--seed"),
                       (["bench", "tdmpc2:tiny", "--batch", "0"], "--batch"),
                       (["bench", "tdmpc2:tiny", "--steps", str(10**12)], "--steps"),
                       (["save", "tdmpc2:tiny", "-o", "x", "--seed", "-1"], "--seed"),
                       (["info", "tdmpc2:tiny", "--batch", str(2**40)], "--batch")):
        r = cli(*argv)
        assert r.exit_code == 2 and name in r.output and "range" in r.output, (argv, r.output)


def test_a_model_over_the_memory_budget_is_refused_before_any_allocation(tmp_path):
    path = tmp_path / "huge.json"  # 228 billion parameters: the torch-free counter knows at once
    path.write_text(json.dumps({"model_type": "dreamer", "deter_dim": 262144, "hidden_dim": 65536,
                                "mlp_units": 65536, "obs_shape": [3, 64, 64]}))
    for args in (["bench", str(path), "--device", "cpu"], ["save", str(path), "-o", str(tmp_path / "o")]):
        code, out, err, seconds = run_capped(*args, timeout=120)
        assert code == 1 and "GiB (estimate)" in err and "--force-memory" in err, err
        assert seconds < 60
        assert_clean(out + err)
    assert not (tmp_path / "o").exists()


def test_the_budget_compares_with_the_free_memory(cli, tmp_path, monkeypatch):
    import worldflux_cli.models.budget as budget

    monkeypatch.setattr(budget, "free_bytes", lambda device: 2**20)  # a machine with 1 MiB free
    r = cli("bench", "tdmpc2:tiny", "--device", "cpu", "--steps", "1", "--warmup", "0", "-w", "train")
    assert r.exit_code == 1 and "1.0 MiB free" in r.stderr and "lower --batch" in r.stderr
    r = cli("bench", "tdmpc2:tiny", "--device", "cpu", "--steps", "1", "--warmup", "0", "-w", "train",
            "--batch", "2", "--force-memory")
    assert r.exit_code == 0, r.output
    monkeypatch.setattr(budget, "free_bytes", lambda device: 2**40)
    r = cli("save", "tdmpc2:tiny", "-o", str(tmp_path / "o"))
    assert r.exit_code == 0


# --------------------------------------------------------------------------- strings: surrogates, control characters

NASTY_STRINGS = ["\ud800", "a\udfffb", "\x1b]0;pwned\x07", "\x1b[31mred", "\u202eevil", "line\nbreak", "\x9b2J",
                 "nul\x00"]


@pytest.mark.parametrize("nasty", NASTY_STRINGS, ids=[ascii(s) for s in NASTY_STRINGS])
@pytest.mark.parametrize("fmt", ["text", "json", "github"])
def test_strings_from_a_config_are_never_echoed_raw(nasty, fmt, cli, tmp_path):
    doc = {"model_type": "tdmpc2", "model_name": nasty, nasty: 1, "action_type": nasty}
    path = tmp_path / "c.json"
    path.write_text(json.dumps(doc), encoding="utf-8")  # json.dumps escapes: the file itself is valid JSON
    raw = tmp_path / "raw.json"  # and one with the characters raw inside strings where JSON allows it
    raw.write_bytes(('{"model_type": "tdmpc2", "model_name": "' + nasty.replace("\n", "").replace("\x00", "")
                     .replace("\x07", "").replace("\x1b", "") + '"}').encode("utf-8", "surrogatepass"))
    for target in (path, raw):
        r = cli("validate", str(target), "--format", fmt)
        assert r.exit_code in ((1, 2) if target is path else (0, 1, 2)), r.output
        assert_clean(r.output)
        for bad in ("\x07", "\x9b", "\u202e", "\x00"):
            assert bad not in r.output
        if fmt == "json" and target is path:
            data = json.loads(r.stdout)
            assert any(p["path"] == "$.model_name" for p in data["files"][0]["problems"])


def test_nasty_strings_through_the_other_commands(cli, tmp_path):
    for nasty in NASTY_STRINGS:
        path = tmp_path / "c.json"
        path.write_text(json.dumps({"model_type": "tdmpc2", "model_name": nasty}))
        for argv in (["info", str(path)], ["diff", str(path), "tdmpc2:5m"], ["bench", str(path)],
                     ["new", "-m", "tdmpc2", "-s", "tiny", "--set", f"model_name={nasty}"],
                     ["new", "-m", nasty, "-s", "tiny"], ["info", nasty], ["validate", nasty]):
            r = cli(*argv)
            assert r.exit_code in (1, 2), (argv, r.output)
            assert_clean(r.output)


# --------------------------------------------------------------------------- --set, encodings, messages


@pytest.mark.parametrize("sets", [
    ["loss_scales=3", "loss_scales.kl=1"],
    ["loss_scales=null", "loss_scales.kl=1"],
    ["loss_scales=[1,2]", "loss_scales.kl=1"],
    ["loss_scales.kl.x=1"],
    ["obs_shape.x=1"],
    ["deter_dim=" + "9" * 5000],
    ["deter_dim=1e999"],
    ["obs_shape=[1,[2]]"],
    ["=1"], ["."], ["loss_scales.=1"],
])
def test_set_into_anything_is_a_plain_error(sets, cli):
    argv = ["new", "-m", "dreamer", "-s", "tiny"]
    for item in sets:
        argv += ["--set", item]
    r = cli(*argv)
    assert r.exit_code in (1, 2), r.output
    assert_clean(r.output)
    assert "worldflux presets" not in r.output  # the hint fits the error: it is not about presets


def test_small_messages_are_right(cli, tmp_path):
    r = cli("new", "-m", "dreamer", "-s", "tiny", "--set", "deter_dim=x")
    assert "expected an integer" in r.stderr
    utf16 = tmp_path / "u16.json"
    utf16.write_bytes('{"model_type": "tdmpc2"}'.encode("utf-16-le"))
    r = cli("validate", str(utf16))
    assert r.exit_code == 1 and "WF002" in r.stdout and "UTF-16" in r.stdout and "U+0000" not in r.stdout


# --------------------------------------------------------------------------- wrong hints


def test_hints_that_used_to_be_wrong(cli, tmp_path):
    cases = [({"model_type": "dreamer", "deter_dim": -8}, "gru_blocks in {}"),
             ({"model_type": "tdmpc2", "latent_dim": -100}, "latent_dim -"),
             ({"model_type": "tdmpc2", "latent_dim": 4, "simnorm_dim": 8}, "8 or 8")]
    for doc, wrong in cases:
        path = tmp_path / "c.json"
        path.write_text(json.dumps(doc))
        r = cli("validate", str(path))
        assert r.exit_code == 1 and wrong not in r.stdout, r.stdout
    r = cli("validate", str(path))
    assert "use latent_dim 8," in r.stdout


# --------------------------------------------------------------------------- writes: devices, links, modes


def test_outputs_never_replace_a_device_fifo_or_socket(cli, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for target in ("/dev/full", "/dev/null", str(fifo), str(tmp_path)):
        for argv in (["new", "-m", "tdmpc2", "-s", "tiny", "-o", target, "--force"],
                     ["bench", "tdmpc2:tiny", "--steps", "1", "--warmup", "0", "-w", "plan", "-o", target,
                      "--force"]):
            r = cli(*argv)
            assert r.exit_code == 2, (argv, r.output)
            assert_clean(r.output)
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode) and stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_a_symbolic_link_is_replaced_only_with_force_and_then_the_link_itself(cli, tmp_path):
    target = tmp_path / "elsewhere.json"
    dangling, live = tmp_path / "dangling.json", tmp_path / "live.json"
    dangling.symlink_to(tmp_path / "missing.json")
    target.write_text("keep me")
    live.symlink_to(target)
    for link in (dangling, live):
        r = cli("new", "-m", "tdmpc2", "-s", "tiny", "-o", str(link))
        assert r.exit_code == 2 and "symbolic link" in r.stderr and link.is_symlink()
        r = cli("new", "-m", "tdmpc2", "-s", "tiny", "-o", str(link), "--force")
        assert r.exit_code == 0 and not link.is_symlink() and json.loads(link.read_text())["model_type"] == "tdmpc2"
    assert target.read_text() == "keep me" and not (tmp_path / "missing.json").exists()


def test_written_files_get_the_usual_mode(cli, tmp_path):
    old = os.umask(0o022)
    try:
        assert cli("save", "tdmpc2:tiny", "-o", str(tmp_path / "out")).exit_code == 0
        modes = {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "out").iterdir()}
        assert modes == {"config.json": 0o644, "model.safetensors": 0o644, "README.md": 0o644}
        assert cli("new", "-m", "tdmpc2", "-s", "tiny", "-o", str(tmp_path / "c.json")).exit_code == 0
        assert (tmp_path / "c.json").stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(old)


def test_a_failed_write_names_the_users_path_not_the_temp_file(cli, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("running as a user that can write anywhere")
        r = cli("new", "-m", "tdmpc2", "-s", "tiny", "-o", str(ro / "c.json"))
        assert r.exit_code == 2 and str(ro / "c.json") in r.stderr and ".tmp" not in r.stderr
    finally:
        ro.chmod(0o700)


def test_write_atomic_error_names_the_path(tmp_path, monkeypatch):
    from worldflux_cli.fileio import write_atomic

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    target = tmp_path / "c.json"
    with pytest.raises(OSError) as info:
        write_atomic(target, "x" * 100_000)
    assert info.value.filename == str(target) and sorted(os.listdir(tmp_path)) == []
