"""`worldflux validate`: formats, exit codes, positions, stdin, strictness."""

from __future__ import annotations

import json

from tests.conftest import EXAMPLES

MANY = EXAMPLES / "invalid" / "WF101+WF102+WF104+WF210-many.json"
VALID = EXAMPLES / "valid" / "tdmpc2-vector.json"


def test_text_report_shows_every_problem_with_line_caret_and_hint(cli):
    result = cli("validate", str(MANY))
    assert result.exit_code == 1
    out = result.stdout
    assert f"{MANY}:4:3: error WF101 unknown key 'horizn'" in out
    assert "hint: did you mean 'horizon'?" in out
    assert '    4 |   "horizn": 5,' in out
    assert "\n" + " " * 10 + "^\n" in out  # caret under column 3 of line 4 (the gutter is 8 wide)
    assert "WF102" in out and "WF104" in out and "WF210" in out
    assert "4 error(s), 0 warning(s)" in out
    # problems are listed in file order
    order = [out.index(f"error {code}") for code in ("WF210", "WF101", "WF102", "WF104")]
    assert order == sorted(order)


def test_json_contract(cli):
    result = cli("validate", "--format", "json", str(VALID), str(MANY))
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    good, bad = data["files"]
    assert good == {"path": str(VALID), "valid": True, "model_type": "tdmpc2", "params": good["params"],
                    "problems": [], "problem_count": 0}
    assert bad["problem_count"] == len(bad["problems"]) > 0
    assert isinstance(good["params"], int) and good["params"] > 0
    assert bad["valid"] is False and bad["model_type"] == "tdmpc2"
    for p in bad["problems"]:
        assert set(p) == {"code", "severity", "path", "line", "column", "message", "hint"}
        assert p["severity"] in ("error", "warning")
    by_code = {p["code"]: p for p in bad["problems"]}
    assert by_code["WF102"]["path"] == "$.num_q_networks" and by_code["WF102"]["line"] == 5
    assert by_code["WF104"]["hint"] == "did you mean 'float16'?"


def test_nested_path_and_position(cli, tmp_path):
    f = tmp_path / "c.json"
    f.write_text('{\n  "model_type": "dreamer",\n  "obs_shape": [3, 64, "6é4"]\n}\n', encoding="utf-8")
    data = json.loads(cli("validate", "-f", "json", str(f)).stdout)
    (problem,) = data["files"][0]["problems"]
    assert (problem["path"], problem["line"], problem["column"]) == ("$.obs_shape[2]", 3, 24)


def test_github_annotations(cli):
    result = cli("validate", "--format", "github", str(MANY))
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 4 and all(line.startswith("::error file=") for line in lines)
    assert any(",line=4,col=3,title=WF101 at $.horizn::unknown key 'horizn'" in line for line in lines)


def test_stdin_and_exit_codes(cli):
    assert cli("validate", "-", input=VALID.read_text()).exit_code == 0
    bad = cli("validate", "-", input='{"model_type": "dreamer", "deter_dim": -1}')
    assert bad.exit_code == 1 and "<stdin>:1:40: error WF103" in bad.stdout


def test_missing_file_is_exit_2_but_other_files_are_still_checked(cli, tmp_path):
    result = cli("validate", "-f", "json", str(tmp_path / "nope.json"), str(VALID))
    assert result.exit_code == 2
    data = json.loads(result.stdout)
    assert data["files"][0]["problems"][0]["code"] == "WF008"
    assert data["files"][1]["valid"] is True


def test_folder_instead_of_file(cli, tmp_path):
    result = cli("validate", str(tmp_path))
    assert result.exit_code == 2 and "is a folder" in result.stdout


def test_strict_fails_on_warnings(cli, tmp_path):
    f = tmp_path / "w.json"
    f.write_text('{"model_type": "base", "obs_shape": [64, 64, 3]}')
    assert cli("validate", str(f)).exit_code == 0
    strict = cli("validate", "--strict", "-f", "json", str(f))
    assert strict.exit_code == 1 and json.loads(strict.stdout)["files"][0]["valid"] is False


def test_usage_errors_exit_2(cli):
    assert cli("validate").exit_code == 2
    assert cli("validate", "--format", "xml", str(VALID)).exit_code == 2


def test_colour_only_when_asked(cli, monkeypatch):
    from worldflux_cli.validation.report import use_colour

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert "\x1b[" in cli("validate", str(MANY)).stdout
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" not in cli("validate", str(MANY)).stdout
    monkeypatch.delenv("FORCE_COLOR")
    monkeypatch.delenv("NO_COLOR")

    class Tty:
        def isatty(self):
            return True

    assert use_colour(Tty()) is True


def test_valid_file_reports_parameter_count(cli):
    out = cli("validate", str(VALID)).stdout
    assert out.startswith(f"ok {VALID} (tdmpc2, ") and "trainable parameters" in out
