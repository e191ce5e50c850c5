"""Folders of example configs: valid/ must pass, invalid/ must fail with the codes in the file name,
warning/ must pass with the warning codes in the file name and fail under --strict."""

from __future__ import annotations

import json

import pytest

from tests.conftest import EXAMPLES
from worldflux_cli.validation.validate import validate_bytes


def _files(kind: str):
    return sorted((EXAMPLES / kind).glob("*.json"), key=lambda p: p.name)


def _expected_codes(path) -> set[str]:
    return set(path.name.split("-", 1)[0].split("+"))


@pytest.mark.parametrize("path", _files("valid"), ids=lambda p: p.name)
def test_valid_examples_pass(path, cli):
    report = validate_bytes(path.read_bytes(), str(path))
    assert report.problems == []
    result = cli("validate", str(path))
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("path", _files("invalid"), ids=lambda p: p.name)
def test_invalid_examples_fail_with_their_codes(path, cli):
    report = validate_bytes(path.read_bytes(), str(path))
    assert {p.code for p in report.errors} == _expected_codes(path)
    for problem in report.problems:
        assert problem.line >= 1 and problem.column >= 1, problem
        assert problem.message and problem.path.startswith("$")
    result = cli("validate", "--format", "json", str(path))
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["files"][0]["valid"] is False


@pytest.mark.parametrize("path", _files("warning"), ids=lambda p: p.name)
def test_warning_examples_pass_unless_strict(path, cli):
    report = validate_bytes(path.read_bytes(), str(path))
    assert not report.errors
    assert {p.code for p in report.warnings} == _expected_codes(path)
    assert cli("validate", str(path)).exit_code == 0
    assert cli("validate", "--strict", str(path)).exit_code == 1
