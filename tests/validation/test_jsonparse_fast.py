"""The fast path for large documents gives what the full parser gives, or steps aside for it."""

from __future__ import annotations

import pytest

from worldflux_cli.validation import jsonparse as J

PAD = " " * J.FAST_MIN_CHARS  # makes a document large enough for the fast path


def _full(text: str) -> J.ParseResult:
    parser = J._Parser(text, J.DEFAULT_MAX_DEPTH)
    value, parsed = parser.parse_document()
    return J.ParseResult(value, parser.errors, parser.positions, parser.key_positions, parser.lines, parsed)


def _errors(result: J.ParseResult) -> list[tuple]:
    return [(e.code, e.message, e.line, e.column, e.path) for e in result.errors]


@pytest.mark.parametrize("doc", [
    '{"model_type": "tdmpc2", "a\\u00e9": [1, 2.5, {"x": null}], "b": "s\\"t", "a\\u00e9": 3}',
    '{\n  "a": 1,\n  "b": [1, 2],\n  "a": {"z": [true, false]},\n\t"c": -0.5e3\n}',
    '{}', '{"x": "\\ud800"}', '{"k": ' + "[" * 40 + "]" * 40 + "}",  # near the bound it may step aside
])
def test_the_fast_path_equals_the_full_parser(doc):
    text = doc + PAD
    fast, full = J._fast_parse(text, J.DEFAULT_MAX_DEPTH), _full(text)
    assert fast is not None
    assert fast.value == full.value and list(fast.value) == list(full.value)  # the last duplicate wins, in place
    assert _errors(fast) == _errors(full)
    for path, pos in fast.positions.items():  # top-level positions only, each equal to the full parser's
        assert full.positions[path] == pos, path
    for path, pos in fast.key_positions.items():
        assert full.key_positions[path] == pos, path
    assert J.parse(text).value == full.value


@pytest.mark.parametrize("doc", [
    '{"k": 1e999}', '{"k": NaN}', '{"k": -Infinity}', '{"k": {"d": 1, "d": 2}}', '[1]', '"x"', '{"k": 1,}',
    '{"k": 1} x', '{"k": 01}', '{"k": "\x01"}', '{"k": ' + "[" * 64 + "]" * 64 + "}", '{"k": ' + "9" * 5000 + "}",
])
def test_what_the_fast_path_cannot_vouch_for_goes_to_the_full_parser(doc):
    text = doc + PAD
    assert J._fast_parse(text, J.DEFAULT_MAX_DEPTH) is None
    assert _errors(J.parse(text)) == _errors(_full(text))


def test_many_duplicates_are_listed_up_to_a_bound_and_counted():
    text = '{"model_type": "tdmpc2", ' + ", ".join('"a": 1' for _ in range(1500)) + "}" + PAD
    result = J.parse(text)
    assert len(result.errors) == J.MAX_LISTED and result.omitted == 1499 - J.MAX_LISTED
    assert all(e.code == J.DUPLICATE_KEY for e in result.errors)
    import sys

    assert sys.getrecursionlimit() >= 1000  # the bound on nesting is put back
