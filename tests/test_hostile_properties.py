"""Property tests: random bytes and random JSON documents never break a command; every hint is true."""

from __future__ import annotations

import json
import re

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from worldflux_cli.config import DreamerV3Config, TDMPC2Config
from worldflux_cli.config.check import check_values, errors_of
from worldflux_cli.validation.report import render_github, render_json, render_text
from worldflux_cli.validation.validate import validate_bytes

FIELDS = sorted(set(DreamerV3Config.field_names()) | set(TDMPC2Config.field_names()))
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12))
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                            st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                           max_leaves=12)
documents = st.fixed_dictionaries(
    {"model_type": st.sampled_from(["dreamer", "tdmpc2", "base", "dreamerv3", 3, None])},
    optional={name: json_values for name in FIELDS if name != "model_type"},
).flatmap(lambda d: st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=6), json_values, max_size=4)
          .map(lambda extra: {**d, **extra}))


def _no_crash_output(report) -> None:
    text = render_text([report], colour=True)
    assert "\x1b]" not in text
    json.loads(render_json([report]))
    render_github([report])


@SETTINGS
@given(st.binary(max_size=400))
def test_random_bytes_never_raise(data):
    _no_crash_output(validate_bytes(data, "random.json"))


@SETTINGS
@given(documents)
def test_random_documents_never_raise(doc):
    _no_crash_output(validate_bytes(json.dumps(doc).encode(), "doc.json"))


@SETTINGS
@given(documents)
def test_random_documents_through_the_commands(cli, tmp_path, doc):
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(doc))
    for argv in (["validate", str(path)], ["info", str(path)], ["diff", str(path), "tdmpc2:tiny"]):
        r = cli(*argv)
        assert r.exit_code in (0, 1, 2), (argv, r.output)
        assert "internal error" not in r.output and "Traceback" not in r.output


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from(FIELDS + ["loss_scales.kl", "loss_scales.x", "a.b.c", ""]),
                          st.text(max_size=10) | st.integers().map(str) | json_values.map(json.dumps)),
                min_size=1, max_size=3))
def test_random_set_never_crashes(cli, sets):
    argv = ["new", "-m", "dreamer", "-s", "tiny"]
    for key, value in sets:
        argv += ["--set", f"{key}={value}"]
    r = cli(*argv)
    assert r.exit_code in (0, 1, 2), r.output
    assert "internal error" not in r.output and "Traceback" not in r.output


# ------------------------------------------------------------------------------------------- every hint is true


def _only(problems, code):
    return [p for p in problems if p.code == code]


def _apply_and_check(cls, values, code, fixes):
    """Each fix (a dict of field values) applied to ``values`` must clear ``code`` and add no new problem.

    Problems ``values`` already had for another reason (a ``deter_dim`` that no ``decoder_blocks``
    divides, say) may stay: the hint promises to fix its own rule without breaking another.
    """
    assert fixes, "the hint suggests nothing"
    before = {(p.code, p.where) for p in errors_of(check_values(values, cls)) if p.code != code}
    for fix in fixes:
        fixed = {**values, **fix}
        problems = errors_of(check_values(fixed, cls))
        new = [(p.code, p.message) for p in problems if (p.code, p.where) not in before]
        assert not new, (values, fix, new)


def _numbers(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"-?\d+", text)]


@SETTINGS
@given(st.integers(1, 1 << 18), st.integers(1, 4096))
def test_wf210_hint_gives_valid_latent_dims(latent, group):
    assume(latent % group)
    values = {"model_type": "tdmpc2", "latent_dim": latent, "simnorm_dim": group}
    (problem,) = _only(check_values(values, TDMPC2Config), "WF210")
    sizes = _numbers(problem.hint.split(",")[0])
    _apply_and_check(TDMPC2Config, values, "WF210", [{"latent_dim": n} for n in sizes])


@SETTINGS
@given(st.integers(1, 1 << 18), st.integers(1, 1024))
def test_wf206_hint_gives_valid_gru_blocks(deter, blocks):
    assume(deter % blocks)
    values = {"model_type": "dreamer", "deter_dim": deter, "gru_blocks": blocks}
    (problem,) = _only(check_values(values, DreamerV3Config), "WF206")
    choices = _numbers(problem.hint)
    _apply_and_check(DreamerV3Config, values, "WF206", [{"gru_blocks": n} for n in choices])


@SETTINGS
@given(st.sampled_from(["dreamer", "tdmpc2"]), st.integers(1, 4096), st.integers(1, 4096))
def test_wf202_hint_gives_valid_image_sizes(family, h, w):
    cls = DreamerV3Config if family == "dreamer" else TDMPC2Config
    values = {"model_type": family, "obs_shape": [3, h, w]}
    problems = _only(check_values(values, cls), "WF202")
    assume(problems)
    for problem in problems:
        index = problem.where[1]
        sizes = _numbers(problem.hint.split(",")[0].replace("resize observations to", ""))
        fixes = []
        for n in sizes:
            shape = list(values["obs_shape"])
            shape[index] = n
            fixes.append({"obs_shape": shape})
        for fix in fixes:  # the other axis may be wrong too: check this one only
            assert not [p for p in _only(check_values({**values, **fix}, cls), "WF202") if p.where[1] == index]


@SETTINGS
@given(st.integers(1, 1 << 20), st.integers(1, 1 << 20), st.sampled_from(["num_elites", "num_pi_trajs"]))
def test_wf211_wf212_hints_give_valid_counts(samples, value, key):
    assume(value > samples)
    values = {"model_type": "tdmpc2", "num_samples": samples, key: value,
              **({"num_elites": 1} if key == "num_pi_trajs" else {"num_pi_trajs": 0})}
    (problem,) = [p for p in check_values(values, TDMPC2Config) if p.code in ("WF211", "WF212")]
    most = _numbers(problem.hint)[0]
    _apply_and_check(TDMPC2Config, values, problem.code, [{key: most}])


@SETTINGS
@given(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6))
def test_wf214_hint_gives_a_valid_range(vmin, vmax):
    assume(vmin >= vmax)
    values = {"model_type": "tdmpc2", "vmin": vmin, "vmax": vmax}
    (problem,) = _only(check_values(values, TDMPC2Config), "WF214")
    numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?", problem.hint)]
    fix = {"vmin": numbers[0], "vmax": numbers[1]} if "swap" in problem.hint else {"vmin": numbers[0]}
    _apply_and_check(TDMPC2Config, values, "WF214", [fix])


@SETTINGS
@given(st.floats(0.001, 100), st.floats(0.001, 100))
def test_wf215_hint_gives_a_valid_range(low, high):
    assume(low > high)
    values = {"model_type": "tdmpc2", "min_std": low, "max_std": high}
    (problem,) = _only(check_values(values, TDMPC2Config), "WF215")
    numbers = [float(n) for n in re.findall(r"\d+(?:\.\d+)?(?:e[-+]?\d+)?", problem.hint)]
    _apply_and_check(TDMPC2Config, values, "WF215", [{"min_std": numbers[0], "max_std": numbers[1]}])


@SETTINGS
@given(st.integers(1, 64), st.integers(2, 64), st.integers(1, 100_000))
def test_wf203_hint_gives_the_derived_value(disc, classes, given_stoch):
    assume(given_stoch != disc * classes)
    values = {"model_type": "dreamer", "stoch_discrete": disc, "stoch_classes": classes, "stoch_dim": given_stoch}
    (problem,) = _only(check_values(values, DreamerV3Config), "WF203")
    _apply_and_check(DreamerV3Config, values, "WF203", [{"stoch_dim": _numbers(problem.hint)[-1]}])


@SETTINGS
@given(st.sampled_from(["size12m", "size25m", "size50m"]), st.integers(1, 256))
def test_wf205_hint_gives_a_valid_name_or_values(name, multiple):
    from worldflux_cli.config.presets import get_preset

    preset = get_preset("dreamer", name)
    values = preset.config_values()
    deter = multiple * values["gru_blocks"]
    values["deter_dim"] = deter
    assume(deter != preset.dims.get("deter_dim"))
    (problem,) = _only(check_values(values, DreamerV3Config), "WF205")
    renamed = re.search(r'"model_name": "([^"]+)"', problem.hint).group(1)
    _apply_and_check(DreamerV3Config, values, "WF205",
                     [{"model_name": renamed}, {"deter_dim": preset.dims["deter_dim"]}])
