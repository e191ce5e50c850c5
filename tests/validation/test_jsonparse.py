"""Tests for worldflux_cli.validation.jsonparse (strict JSON with positions)."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from worldflux_cli.validation.jsonparse import (
    ERROR_CODES,
    FATAL_CODES,
    ParseError,
    Pos,
    parse,
)

# --------------------------------------------------------------------------
# helpers


def same(a, b) -> bool:
    """Type-strict structural equality (1 != 1.0, True != 1, key order matters)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


def strict_loads(text: str):
    """json.loads that rejects NaN/Infinity and duplicate keys."""

    def no_duplicates(pairs):
        keys = [k for k, _ in pairs]
        if len(set(keys)) != len(keys):
            raise ValueError("duplicate key")
        return dict(pairs)

    def no_constants(name):
        raise ValueError(f"constant {name}")

    return json.loads(text, object_pairs_hook=no_duplicates, parse_constant=no_constants)


def all_paths(value, path=()):
    yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield from all_paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from all_paths(v, (*path, i))


def get(value, path):
    for step in path:
        value = value[step]
    return value


def depth(value) -> int:
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    return 0


def has_inf(value) -> bool:
    if isinstance(value, float):
        return math.isinf(value)
    if isinstance(value, dict):
        return any(has_inf(v) for v in value.values())
    if isinstance(value, list):
        return any(has_inf(v) for v in value)
    return False


def char_at(result, pos: Pos) -> str:
    return result.lines[pos.line - 1][pos.column - 1]


def codes(result) -> list[str]:
    return [e.code for e in result.errors]


def only_error(result) -> ParseError:
    assert len(result.errors) == 1, result.errors
    return result.errors[0]


def check_invariants(result) -> None:
    """Invariants that must hold for any input."""
    assert isinstance(result.ok, bool)
    assert result.ok == (not result.errors)
    for err in result.errors:
        assert isinstance(err, ParseError)
        assert err.code in ERROR_CODES
        assert err.message and isinstance(err.message, str)
        assert isinstance(err.path, tuple)
        assert err.line >= 1 and err.column >= 1
        # every error points inside the document (or just past the end of a line)
        assert err.line <= len(result.lines)
        assert err.column <= len(result.lines[err.line - 1]) + 1
    fatal = [e for e in result.errors if e.code in FATAL_CODES]
    assert len(fatal) <= 1
    assert result.parsed == (not fatal)
    if not result.parsed:
        assert result.value is None
    for pos in [*result.positions.values(), *result.key_positions.values()]:
        assert 1 <= pos.line <= len(result.lines)
        assert 1 <= pos.column <= len(result.lines[pos.line - 1])


def check_positions_match_value(result) -> None:
    """For a successfully parsed document: positions cover exactly the value's paths
    and point at the first character of each value / key."""
    value = result.value
    paths = set(all_paths(value))
    assert set(result.positions) == paths
    key_paths = {p for p in paths if p and isinstance(get(value, p[:-1]), dict)}
    assert set(result.key_positions) == key_paths
    for path, pos in result.positions.items():
        v = get(value, path)
        c = char_at(result, pos)
        if isinstance(v, dict):
            assert c == "{"
        elif isinstance(v, list):
            assert c == "["
        elif isinstance(v, str):
            assert c == '"'
        elif v is None:
            assert c == "n"
        elif isinstance(v, bool):
            assert c == ("t" if v else "f")
        else:
            assert c in "-0123456789"
    for pos in result.key_positions.values():
        assert char_at(result, pos) == '"'


# --------------------------------------------------------------------------
# positions

DOC = (
    "{\n"
    '  "name": "wörld",\n'
    '  "ü": "日本😀", "obs_shape": [3, 64, 640],\n'
    '  "nested": {"a": [[1, 2], {"deep": [true, null]}]}\n'
    "}\n"
)

EXPECTED_VALUE_POSITIONS = {
    (): (1, 1),
    ("name",): (2, 11),
    ("ü",): (3, 8),
    ("obs_shape",): (3, 28),
    ("obs_shape", 0): (3, 29),
    ("obs_shape", 1): (3, 32),
    ("obs_shape", 2): (3, 36),
    ("nested",): (4, 13),
    ("nested", "a"): (4, 19),
    ("nested", "a", 0): (4, 20),
    ("nested", "a", 0, 0): (4, 21),
    ("nested", "a", 0, 1): (4, 24),
    ("nested", "a", 1): (4, 28),
    ("nested", "a", 1, "deep"): (4, 37),
    ("nested", "a", 1, "deep", 0): (4, 38),
    ("nested", "a", 1, "deep", 1): (4, 44),
}

EXPECTED_KEY_POSITIONS = {
    ("name",): (2, 3),
    ("ü",): (3, 3),
    ("obs_shape",): (3, 15),
    ("nested",): (4, 3),
    ("nested", "a"): (4, 14),
    ("nested", "a", 1, "deep"): (4, 29),
}


@pytest.mark.parametrize("as_bytes", [False, True], ids=["str", "bytes"])
def test_positions_of_values_and_keys(as_bytes):
    result = parse(DOC.encode("utf-8") if as_bytes else DOC)
    assert result.ok and result.parsed
    assert result.value == {
        "name": "wörld",
        "ü": "日本😀",
        "obs_shape": [3, 64, 640],
        "nested": {"a": [[1, 2], {"deep": [True, None]}]},
    }
    # columns count characters, not UTF-8 bytes ('ü', '日本', '😀' precede obs_shape)
    assert result.positions == {p: Pos(*lc) for p, lc in EXPECTED_VALUE_POSITIONS.items()}
    assert result.key_positions == {p: Pos(*lc) for p, lc in EXPECTED_KEY_POSITIONS.items()}
    assert result.positions[("obs_shape", 2)] == Pos(line=3, column=36)
    assert result.lines == DOC.split("\n")
    check_positions_match_value(result)


def test_pos_is_frozen_and_has_str():
    pos = Pos(3, 36)
    with pytest.raises(AttributeError):
        pos.line = 4  # type: ignore[misc]
    assert str(pos) == "3:36"


def test_positions_with_crlf_and_bom():
    data = b'\xef\xbb\xbf{\r\n  "a": [1,\r\n 2]\r\n}'
    result = parse(data)
    assert result.ok
    assert result.value == {"a": [1, 2]}
    assert result.lines == ["{", '  "a": [1,', " 2]", "}"]
    assert result.positions[()] == Pos(1, 1)  # BOM stripped, not counted
    assert result.key_positions[("a",)] == Pos(2, 3)
    assert result.positions[("a", 1)] == Pos(3, 2)
    # a str with a BOM (file read without utf-8-sig) behaves the same
    assert parse(data.decode("utf-8")).positions == result.positions


def test_locate_falls_back_to_nearest_ancestor():
    result = parse('{\n  "model": {\n    "x": 1\n  }\n}')
    assert result.locate(("model", "missing", 3)) == Pos(2, 12)
    assert result.locate(("model", "x")) == Pos(3, 10)
    assert result.locate(("nope",)) == Pos(1, 1)
    assert parse("").locate(()) is None


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("[1]", [1]),
        ('"x"', "x"),
        ("null", None),
        ("  -0.5e+2 ", -50.0),
        ("true", True),
    ],
)
def test_non_object_top_level_is_not_an_error(text, value):
    result = parse(text)
    assert result.ok and result.parsed
    assert same(result.value, value)
    assert result.positions[()].line == 1


# --------------------------------------------------------------------------
# RFC 8259 details


def test_string_escapes_and_surrogates():
    text = r'["\"\\\/\b\f\n\r\t", "\u00e9\u65E5", "\ud83d\ude00", "\ud800", "x\udc00y", "\ud800\u0041", "é😀"]'
    result = parse(text)
    assert result.ok, result.errors
    assert result.value == ['"\\/\b\f\n\r\t', "é日", "😀", "\ud800", "x\udc00y", "\ud800A", "é😀"]
    assert same(result.value, json.loads(text))


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0),
        ("-0", 0),
        ("-0.0", -0.0),
        ("12", 12),
        ("1.25", 1.25),
        ("1e2", 100.0),
        ("1E+2", 100.0),
        ("2.5e-3", 0.0025),
        ("-123456789012345678901234567890", -123456789012345678901234567890),
        ("1e-400", 0.0),
    ],
)
def test_valid_numbers(text, value):
    result = parse(text)
    assert result.ok, result.errors
    assert same(result.value, value)


@pytest.mark.parametrize(
    ("text", "column", "fragment"),
    [
        ("[01]", 2, "leading zeros"),
        ("[-01]", 2, "leading zeros"),
        ("[+1]", 2, "must not start with '+'"),
        ("[.5]", 2, "digit before the decimal point"),
        ("[1.]", 4, "expected a digit after the decimal point, found ']'"),
        ("[1.e5]", 4, "expected a digit after the decimal point, found 'e'"),
        ("[1e]", 4, "expected a digit in the exponent, found ']'"),
        ("[1e+]", 5, "expected a digit in the exponent, found ']'"),
        ("[-]", 3, "expected a digit after '-', found ']'"),
        ("[- 1]", 3, "expected a digit after '-'"),
        ("[0x10]", 3, "expected ',' or ']' after array element, found 'x'"),
        ("[1.5.2]", 5, "found '.'"),
    ],
)
def test_invalid_numbers(text, column, fragment):
    err = only_error(parse(text))
    assert err.code == "syntax"
    assert (err.line, err.column) == (1, column)
    assert fragment in err.message


# --------------------------------------------------------------------------
# error codes


def test_encoding_error_position_counts_characters():
    data = b'{\n  "a": "\xc3\xa9\xff"\n}'
    result = parse(data)
    err = only_error(result)
    assert err.code == "encoding"
    assert (err.line, err.column) == (2, 10)  # after '  "a": "é' (9 characters)
    assert "0xFF" in err.message
    assert not result.parsed and result.value is None
    # lines are still available (undecodable bytes replaced) for rendering
    assert result.lines[1] == '  "a": "é\ufffd"'
    # BOM is stripped before counting
    err = only_error(parse(b"\xef\xbb\xbf" + data))
    assert (err.code, err.line, err.column) == ("encoding", 2, 10)


def test_encoding_error_truncated_and_bad_continuation():
    err = only_error(parse(b'{"a": "\xe2\x82'))
    assert (err.code, err.line, err.column) == ("encoding", 1, 8)
    assert "truncated" in err.message
    err = only_error(parse(b'{"a":\n "\xe2\x82"}'))
    assert (err.code, err.line, err.column) == ("encoding", 2, 3)
    assert "0xE2" in err.message


def test_encoding_error_utf16():
    err = only_error(parse('{"a": 1}'.encode("utf-16")))
    assert err.code == "encoding"
    assert "UTF-16" in err.message
    assert (err.line, err.column) == (1, 1)


@pytest.mark.parametrize("data", ["", "   \n\t\r\n ", b"", b"\xef\xbb\xbf", "\ufeff", b" \n"])
def test_empty(data):
    result = parse(data)
    err = only_error(result)
    assert err.code == "empty"
    assert (err.line, err.column) == (1, 1)
    assert not result.parsed and result.value is None


SYNTAX_CASES = [
    # (document, line, column, message fragment, path)
    ('{\n  "a": 1\n  "b": 2\n}', 3, 3, "expected ',' or '}' after object member, found '\"' (missing ','?)", ()),
    ('{"a": [1, 2\n  3]}', 2, 3, "expected ',' or ']' after array element, found '3'", ("a",)),
    ('{"a": [1, 2', 1, 12, "expected ',' or ']' after array element, found end of input", ("a",)),
    ('{\n  "a": "abc\n', 2, 12, "unterminated string: line break inside string", ("a",)),
    ('{"a": "abc', 1, 7, "unterminated string", ("a",)),
    ('{"ab', 1, 2, "unterminated string", ()),
    ('{"a": "x\ty"}', 1, 9, "invalid control character U+0009 in string", ("a",)),
    ('{"a": "\\x"}', 1, 8, "invalid escape sequence in string: '\\' followed by 'x'", ("a",)),
    ('{"a": "\\u12g4"}', 1, 8, "invalid \\u escape", ("a",)),
    ('{"a": }', 1, 7, "expected a value, found '}'", ("a",)),
    ('{"a": 1,}', 1, 8, "trailing comma is not allowed before '}'", ()),
    ('{"a": [1, 2,\n]}', 1, 12, "trailing comma is not allowed before ']'", ("a",)),
    ('{"a" 1}', 1, 6, "expected ':' after object key, found '1'", ("a",)),
    ("{'a': 1}", 1, 2, "object keys must be double-quoted", ()),
    ("{a: 1}", 1, 2, "found unquoted 'a'", ()),
    ('{"a": 1, 2: 3}', 1, 10, "expected string key, found '2'", ()),
    ("{\"a\": 'x'}", 1, 7, "strings must be in double quotes", ("a",)),
    ('{"a": True}', 1, 7, "invalid literal 'True' (did you mean 'true'?)", ("a",)),
    ('{"a": None}', 1, 7, "did you mean 'null'?", ("a",)),
    ('{"a": cuda}', 1, 7, "invalid value 'cuda' (strings must be in double quotes)", ("a",)),
    ('{"a": tru}', 1, 7, "invalid value 'tru'", ("a",)),
    ('// comment\n{"a": 1}', 1, 1, "comments are not allowed", ()),
    ('{"a": 1 /* c */}', 1, 9, "found '/'", ()),
    ("[1, 2", 1, 6, "found end of input", ()),
    ("[", 1, 2, "unexpected end of input, expected a value", (0,)),
    ('{"a":', 1, 6, "unexpected end of input, expected a value", ("a",)),
    ("{", 1, 2, "expected string key or '}', found end of input", ()),
    ('{"x": [1, {"y": [true false]}]}', 1, 23, "found 'f' (missing ','?)", ("x", 1, "y")),
    ("[1]]", None, None, None, None),  # trailing, see below
]


@pytest.mark.parametrize(("text", "line", "column", "fragment", "path"), [c for c in SYNTAX_CASES if c[1]])
def test_syntax_errors(text, line, column, fragment, path):
    for data in (text, text.encode("utf-8")):
        result = parse(data)
        err = only_error(result)
        assert err.code == "syntax"
        assert (err.line, err.column) == (line, column), err.message
        assert fragment in err.message
        assert err.path == path
        assert not result.parsed and result.value is None
        assert not err.message.endswith(".")
        check_invariants(result)


def test_duplicate_keys_nested_last_wins_and_parsing_continues():
    text = (
        "{\n"
        '  "a": {"x": 1, "y": 2,\n'
        '        "x": 3},\n'
        '  "b": [{"k": 1}, {"k": 2, "k": {"z": 1}}],\n'
        '  "a": {"q": true},\n'
        '  "c": NaN\n'
        "}"
    )
    result = parse(text)
    assert result.parsed and not result.ok
    assert codes(result) == ["duplicate-key", "duplicate-key", "duplicate-key", "non-finite"]
    dup_x, dup_k, dup_a, nan = result.errors
    assert (dup_x.line, dup_x.column, dup_x.path) == (3, 9, ("a", "x"))
    assert '"x"' in dup_x.message and "line 2" in dup_x.message
    assert (dup_k.line, dup_k.column, dup_k.path) == (4, 28, ("b", 1, "k"))
    assert '"k"' in dup_k.message and "line 4, column 20" in dup_k.message
    assert (dup_a.line, dup_a.column, dup_a.path) == (5, 3, ("a",))
    assert '"a"' in dup_a.message and "line 2" in dup_a.message
    assert (nan.line, nan.column, nan.path) == (6, 8, ("c",))
    # last occurrence wins (like json.loads); the first occurrence's slot is kept
    value = result.value
    assert list(value) == ["a", "b", "c"]
    assert value["a"] == {"q": True}
    assert value["b"] == [{"k": 1}, {"k": {"z": 1}}]
    assert math.isnan(value["c"])
    # positions describe the winning occurrence; stale sub-paths are gone
    assert result.key_positions[("a",)] == Pos(5, 3)
    assert result.positions[("a",)] == Pos(5, 8)
    assert result.positions[("a", "q")] == Pos(5, 14)
    assert ("a", "x") not in result.positions and ("a", "y") not in result.key_positions
    assert result.positions[("b", 1, "k")] == Pos(4, 33)
    assert result.positions[("b", 1, "k", "z")] == Pos(4, 39)
    assert result.key_positions[("b", 1, "k")] == Pos(4, 28)
    paths = set(all_paths(value))
    assert set(result.positions) == paths


def test_duplicate_key_repeated_three_times_names_first_line():
    result = parse('{"m": 1,\n "m": 2,\n "m": 3}')
    assert codes(result) == ["duplicate-key", "duplicate-key"]
    assert [(e.line, e.column) for e in result.errors] == [(2, 2), (3, 2)]
    assert all("first defined on line 1" in e.message for e in result.errors)
    assert result.value == {"m": 3}
    assert result.positions[("m",)] == Pos(3, 7)


def test_duplicate_key_with_escapes_is_detected():
    result = parse('{"é": 1, "\\u00e9": 2}')
    err = only_error(result)
    assert err.code == "duplicate-key" and err.column == 10
    assert result.value == {"é": 2}


def test_duplicate_keys_in_different_objects_are_fine():
    assert parse('{"a": {"x": 1}, "b": {"x": 2}, "c": [{"x": 1}, {"x": 2}]}').ok


def test_non_finite_values_are_reported_and_kept():
    text = '{\n "a": NaN,\n "b": [Infinity, -Infinity],\n "c": 1e999, "d": -1E400, "e": 1}'
    result = parse(text)
    assert result.parsed
    assert codes(result) == ["non-finite"] * 5
    assert [(e.line, e.column, e.path) for e in result.errors] == [
        (2, 7, ("a",)),
        (3, 8, ("b", 0)),
        (3, 18, ("b", 1)),
        (4, 7, ("c",)),
        (4, 19, ("d",)),
    ]
    assert "'NaN'" in result.errors[0].message
    assert "1e999" in result.errors[3].message
    v = result.value
    assert math.isnan(v["a"])
    assert v["b"] == [math.inf, -math.inf]
    assert v["c"] == math.inf and v["d"] == -math.inf
    assert v["e"] == 1  # parsing went on


def test_huge_integer_literal_is_non_finite():
    result = parse("[" + "9" * 5000 + ", -" + "1" * 5000 + "]")
    assert codes(result) == ["non-finite", "non-finite"]
    assert result.value == [math.inf, -math.inf]


def test_too_deep_100000_unclosed_does_not_recurse():
    result = parse("[" * 100_000)
    assert codes(result) == ["too-deep", "syntax"]
    too_deep = result.errors[0]
    assert (too_deep.line, too_deep.column) == (1, 65)
    assert "64" in too_deep.message
    assert result.errors[1].column == 100_001  # end of input
    assert not result.parsed


def test_too_deep_100000_balanced_reports_once():
    text = '{"a": ' + "[" * 100_000 + "]" * 100_000 + ', "b": {"c": 1}}'
    result = parse(text)
    err = only_error(result)
    assert err.code == "too-deep"
    assert (err.line, err.column) == (1, 7 + 63)
    assert len(err.path) == 64
    assert result.parsed
    # the too-deep container is replaced by None and parsing goes on
    inner = result.value["a"]
    for _ in range(62):
        inner = inner[0]
    assert inner == [None]
    assert result.value["b"] == {"c": 1}
    assert result.positions[("b", "c")] == Pos(1, len(text) - 2)


def test_too_deep_with_max_depth_and_reported_once():
    text = '{"a": {"b": [1, {"x": "]"}], "c": {"d": {}}}, "e": 1}'
    result = parse(text, max_depth=2)
    err = only_error(result)  # ("a","b") and ("a","c") are both too deep: reported once
    assert err.code == "too-deep"
    assert (err.line, err.column, err.path) == (1, 13, ("a", "b"))
    assert result.value == {"a": {"b": None, "c": None}, "e": 1}
    assert result.positions[("a", "b")] == Pos(1, 13)
    assert ("a", "b", 0) not in result.positions
    assert codes(parse(text, max_depth=3)) == ["too-deep"]
    assert parse(text, max_depth=4).ok
    assert codes(parse("[]", max_depth=0)) == ["too-deep"]
    assert parse("1", max_depth=0).ok


def test_max_depth_default_is_64():
    assert parse("[" * 64 + "]" * 64).ok
    assert codes(parse("[" * 65 + "]" * 65)) == ["too-deep"]


def test_trailing_data():
    result = parse('{"a": 1}\n  {"b": 2}')
    err = only_error(result)
    assert (err.code, err.line, err.column, err.path) == ("trailing", 2, 3, ())
    assert result.parsed and result.value == {"a": 1}
    err = only_error(parse("[1]]"))
    assert (err.code, err.column) == ("trailing", 4)
    assert only_error(parse("{} x")).code == "trailing"
    assert parse('{"a": 1}  \n\n').ok


def test_non_text_input_is_a_type_error():
    with pytest.raises(TypeError):
        parse(123)  # type: ignore[arg-type]


# --------------------------------------------------------------------------
# properties

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=6) | st.dictionaries(st.text(), children, max_size=6),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    value=json_values,
    indent=st.none() | st.integers(0, 4) | st.just("\t"),
    ensure_ascii=st.booleans(),
    sort_keys=st.booleans(),
    as_bytes=st.booleans(),
)
def test_roundtrip_matches_json_loads(value, indent, ensure_ascii, sort_keys, as_bytes):
    text = json.dumps(value, indent=indent, ensure_ascii=ensure_ascii, sort_keys=sort_keys)
    result = parse(text.encode("utf-8") if as_bytes else text)
    assert result.ok, result.errors
    assert result.parsed
    assert same(result.value, json.loads(text))
    check_invariants(result)
    check_positions_match_value(result)


JSONISH = [*"{}[],:\"\\ \n\r\t0123456789.eE+-/'", "true", "null", "NaN", "-Infinity", "\\u", "\\ud800"]
JSONISH += [
    "\\ude00",
    "\ud800",
    "\udc00",
    "\x00",
    "\x1f",
    "é",
    "😀",
    "\ufeff",
    "1e999",
    '"k": ',
    '"k":1,',
    "[[[",
    "]]]",
]


@st.composite
def mutated_json(draw):
    text = json.dumps(draw(json_values), indent=draw(st.sampled_from([None, 1, 2])))
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["insert", "delete", "replace"]))
        piece = draw(st.sampled_from(JSONISH))
        if op == "insert":
            text = text[:i] + piece + text[i:]
        elif op == "delete":
            text = text[:i] + text[i + draw(st.integers(1, 3)) :]
        else:
            text = text[:i] + piece + text[i + 1 :]
    return text


def check_against_json_loads(result, text: str) -> None:
    check_invariants(result)
    reference = text.removeprefix("\ufeff")
    try:
        expected = strict_loads(reference)
    except (ValueError, RecursionError):
        # json.loads rejects it, so we must too
        assert not result.ok
        return
    if result.ok:
        assert same(result.value, expected)
        check_positions_match_value(result)
    else:
        # json.loads accepts it: only our extra strictness may reject it
        assert depth(expected) > 64 or has_inf(expected), result.errors


@settings(max_examples=500, deadline=None)
@given(st.text() | st.lists(st.sampled_from(JSONISH), max_size=40).map("".join) | mutated_json())
def test_fuzz_text_never_raises(text):
    result = parse(text)
    check_against_json_loads(result, text)


@settings(max_examples=300, deadline=None)
@given(st.binary() | mutated_json().map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_fuzz_bytes_never_raises(data):
    result = parse(data)
    try:
        text = data.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    except UnicodeDecodeError:
        assert codes(result) == ["encoding"]
        check_invariants(result)
        return
    check_against_json_loads(result, text)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 3000), st.sampled_from(["[", "{", '{"a":', "[{"]), st.booleans())
def test_fuzz_deep_nesting_never_raises(n, opener, close):
    text = opener * n
    if close:
        text += "]" * n
    result = parse(text)
    check_invariants(result)
    assert not result.errors or result.errors[0].code in {"too-deep", "syntax"}
