"""A generated corpus of mutated configs and malformed text: never a traceback, an exit code
consistent with the report, and every problem located by a path or a line."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from worldflux_cli.config.presets import all_presets
from worldflux_cli.config.registry import FAMILIES
from worldflux_cli.validation.report import render_github, render_json, render_text
from worldflux_cli.validation.validate import validate_bytes

BASES = [p.config_values() for p in all_presets()]
FIELDS = sorted({k for cls in FAMILIES.values() for k in cls.field_names()} | {"horizn", "deter", "", "$schema"})

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**12),
                         st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12))
json_values = st.recursive(json_scalars, lambda kids: st.one_of(st.lists(kids, max_size=4),
                                                                 st.dictionaries(st.text(max_size=6), kids,
                                                                                 max_size=4)), max_leaves=8)


@st.composite
def mutated_config(draw):
    values = dict(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["set", "delete", "int"]))
        key = draw(st.sampled_from(FIELDS))
        if op == "delete":
            values.pop(key, None)
        elif op == "int":
            values[key] = draw(st.integers(-3, 5000))
        else:
            values[key] = draw(json_values)
    return json.dumps(values, indent=draw(st.sampled_from([None, 2])))


@st.composite
def malformed_text(draw):
    text = draw(mutated_config())
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["cut", "insert", "delete"]))
        if op == "cut":
            text = text[:i]
        elif op == "insert":
            text = text[:i] + draw(st.sampled_from(list('{}[],:"\\') + ["NaN", "Infinity", "1e999", "\x00", "é",
                                                                             "\ud800"])) + text[i:]
        else:
            text = text[:i] + text[i + 3:]
    return text


def _check(data: bytes) -> None:
    report = validate_bytes(data, "f.json")
    for p in report.problems:
        assert p.path.startswith("$") and p.line is not None and p.line >= 1 and p.column >= 1, p
        assert p.severity in ("error", "warning") and p.code.startswith("WF") and p.message
    # every renderer copes; json output is consistent with the verdict
    render_text([report], colour=True)
    render_github([report])
    out = json.loads(render_json([report]))["files"][0]
    assert out["valid"] == (not report.errors)
    if report.values is not None and not report.errors and report.model_type != "base":
        # a config the validator accepts really builds a config object
        FAMILIES[report.model_type].from_dict(report.values)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_config())
def test_mutated_configs(text):
    _check(text.encode())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(malformed_text())
def test_malformed_text(text):
    _check(text.encode("utf-8", "surrogatepass"))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes(data):
    _check(data)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=mutated_config())
def test_cli_exit_code_matches_report(text, tmp_path_factory):
    from typer.testing import CliRunner

    from worldflux_cli.cli.app import app

    path = tmp_path_factory.mktemp("r") / "c.json"
    path.write_text(text)
    result = CliRunner().invoke(app, ["validate", "-f", "json", str(path)], catch_exceptions=False)
    assert "Traceback" not in result.output
    valid = json.loads(result.stdout)["files"][0]["valid"]
    assert result.exit_code == (0 if valid else 1)
