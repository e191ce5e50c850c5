"""Strict JSON parser for config files that keeps source positions.

``parse(data)`` accepts exactly RFC 8259 JSON and never raises for bad input:
every problem is reported as a :class:`ParseError` on the returned
:class:`ParseResult`, together with the parsed value and the source position
of every value (``positions``) and of every object key (``key_positions``).

Conventions
-----------
* Positions are 1-based ``(line, column)``.  Columns count Unicode code
  points (characters), not bytes; a tab counts as one column.  Lines are
  separated by ``\\n``, ``\\r\\n`` or a lone ``\\r``; ``ParseResult.lines``
  is the decoded text split the same way (without the terminators).
* A leading UTF-8 byte order mark is accepted and stripped (for ``bytes`` and
  for ``str`` input); columns on line 1 are counted after it.
* Paths are tuples of object keys (``str``) and array indices (``int``); the
  root is ``()``.  ``positions[path]`` is where the value starts (its first
  character: ``{``, ``[``, ``"``, digit, ``-`` or literal);
  ``key_positions[path]`` is where the member's key string starts (its
  opening quote).  The root has no key position.

Error codes (``ParseError.code``)
---------------------------------
``"encoding"``       bytes are not valid UTF-8 (position of the first bad
                     byte).  Fatal.
``"empty"``          empty or whitespace-only document (reported at 1:1).
                     Fatal.
``"syntax"``         any other JSON syntax error, at the exact offending
                     character (end of input for truncated documents; the
                     opening quote for a string that runs to the end of input;
                     the line break for a string broken across lines).  Fatal:
                     parsing stops at the first syntax error.
``"duplicate-key"``  a key repeated in the same object; reported at the
                     repeated key.  Not fatal.  **The last occurrence wins**
                     (as with :func:`json.loads`): ``value``, ``positions``
                     and ``key_positions`` all describe the last occurrence;
                     the member keeps the dict slot of the first occurrence.
``"non-finite"``     ``NaN``, ``Infinity``, ``-Infinity`` or a number that
                     overflows to infinity (``1e999``, or an integer literal
                     too long for :class:`int` to convert).  Not fatal; the
                     value is stored as ``float('nan')``, ``float('inf')`` or
                     ``float('-inf')`` (what :func:`json.loads` gives for
                     the literals and for ``1e999``).
``"too-deep"``       containers nested deeper than ``max_depth``.  Reported
                     once per document (at the first too-deep container); the
                     content of every too-deep container is skipped without
                     validation (only strings and brackets are tracked) and
                     the container is replaced by ``None``.  Not fatal.
``"trailing"``       non-whitespace data after the top-level value.  The value
                     itself is kept.

``ParseResult.parsed`` is ``False`` when no value could be produced (fatal
error: "encoding", "empty", "syntax"); then ``value`` is ``None``.  ``ok`` is
``True`` only when there are no errors at all.  A non-object top-level value
is *not* an error here.

Messages are lower-case sentences without a trailing period, e.g.
``expected ',' or '}' after object member, found '"' (missing ','?)``.
"""

from __future__ import annotations

import json
import re
import sys
from bisect import bisect_right
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

__all__ = [
    "DUPLICATE_KEY",
    "EMPTY",
    "ENCODING",
    "ERROR_CODES",
    "FATAL_CODES",
    "NON_FINITE",
    "SYNTAX",
    "TOO_DEEP",
    "TRAILING",
    "ParseError",
    "ParseResult",
    "Pos",
    "parse",
]

ENCODING = "encoding"
SYNTAX = "syntax"
DUPLICATE_KEY = "duplicate-key"
NON_FINITE = "non-finite"
TOO_DEEP = "too-deep"
EMPTY = "empty"
TRAILING = "trailing"

ERROR_CODES = frozenset({ENCODING, SYNTAX, DUPLICATE_KEY, NON_FINITE, TOO_DEEP, EMPTY, TRAILING})
#: Codes after which no value is available (``ParseResult.parsed`` is False).
FATAL_CODES = frozenset({ENCODING, SYNTAX, EMPTY})

DEFAULT_MAX_DEPTH = 64

_UTF8_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class Pos:
    """A 1-based source position; ``column`` counts characters."""

    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class ParseError:
    """One problem found while parsing (see the module docstring for codes)."""

    code: str
    message: str
    line: int
    column: int
    path: tuple = ()

    @property
    def pos(self) -> Pos:
        return Pos(self.line, self.column)


@dataclass(slots=True)
class ParseResult:
    """Outcome of :func:`parse`."""

    value: Any
    errors: list[ParseError]
    positions: dict[tuple, Pos]
    key_positions: dict[tuple, Pos]
    lines: list[str]
    #: False when no value could be produced (a fatal error); value is None.
    parsed: bool
    #: Problems found but not listed in ``errors`` (the fast path lists at most MAX_LISTED duplicates).
    omitted: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors

    def locate(self, path: tuple) -> Pos | None:
        """Position of ``path`` or of its nearest recorded ancestor.

        Handy for pointing at a member that is missing: the position of the
        enclosing object is returned.  ``None`` only if nothing was recorded.
        """
        path = tuple(path)
        for end in range(len(path), -1, -1):
            pos = self.positions.get(path[:end])
            if pos is not None:
                return pos
        return None


# --------------------------------------------------------------------------
# Scanner pieces

_WS_CHARS = frozenset(" \t\n\r")
_WS = re.compile(r"[ \t\n\r]*").match
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?").match
_SIMPLE_STRING = re.compile(r'"([^"\\\x00-\x1f]*)"').match
_STRING_CHUNK = re.compile(r'([^"\\\x00-\x1f]*)(["\\\x00-\x1f])?').match
# whitespace, a simple (escape-free) key, whitespace, ':' and whitespace
_SIMPLE_KEY = re.compile(r'[ \t\n\r]*"([^"\\\x00-\x1f]*)"[ \t\n\r]*:[ \t\n\r]*').match
# an integer not followed by anything that scan_number has to look at
_SIMPLE_INT = re.compile(r"-?(?:0|[1-9][0-9]{0,15})(?![0-9.eE])").match
_HEX4 = re.compile(r"[0-9a-fA-F]{4}").match
_WORD = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*").match
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# Used to skip a too-deep container: strings, runs of openers, runs of closers.
_SKIP_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[{]+|[\]}]+', re.DOTALL)

_ESCAPES = {
    '"': '"',
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}

_LITERALS = {"true": True, "false": False, "null": None}
_NON_FINITE_LITERALS = {"NaN": float("nan"), "Infinity": float("inf")}
_LITERAL_HINTS = {
    "true": "true",
    "false": "false",
    "null": "null",
    "none": "null",
    "nil": "null",
    "undefined": "null",
}

_VALUE_START = frozenset('"{[-0123456789tfn')

_MAX_SHOWN = 40


def _shorten(s: str) -> str:
    return s if len(s) <= _MAX_SHOWN else s[: _MAX_SHOWN - 3] + "..."


def _quote_key(key: str) -> str:
    shown = _shorten(key)
    return '"' + "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in shown) + '"'


def _split_lines(text: str) -> tuple[list[str], list[int]]:
    """Lines (without terminators) and the offset where each line starts."""
    if "\r" in text:
        lines = _LINE_BREAK.split(text)
        starts = [0]
        starts.extend(m.end() for m in _LINE_BREAK.finditer(text))
    else:  # fast path: only '\n' line breaks
        lines = text.split("\n")
        starts = list(accumulate([len(line) + 1 for line in lines[:-1]], initial=0))
    return lines, starts


class _Fatal(Exception):
    """Internal: a fatal syntax error has been recorded; stop parsing."""


class _Frame:
    __slots__ = ("container", "firsts", "is_list", "key", "path")

    def __init__(self, container: Any, path: tuple, is_list: bool) -> None:
        self.container = container
        self.path = path
        self.is_list = is_list
        self.key: str | None = None
        # key -> Pos of its first occurrence, filled only when duplicated
        self.firsts: dict[str, Pos] | None = None


class _Parser:
    def __init__(self, text: str, max_depth: int) -> None:
        self.text = text
        self.n = len(text)
        self.max_depth = max_depth
        self.lines, self.line_starts = _split_lines(text)
        self.errors: list[ParseError] = []
        self.positions: dict[tuple, Pos] = {}
        self.key_positions: dict[tuple, Pos] = {}
        self.too_deep_reported = False

    # -- helpers -----------------------------------------------------------

    def pos(self, offset: int) -> Pos:
        starts = self.line_starts
        line = bisect_right(starts, offset)
        return Pos(line, offset - starts[line - 1] + 1)

    def report(self, code: str, message: str, offset: int, path: tuple) -> None:
        p = self.pos(offset)
        self.errors.append(ParseError(code, message, p.line, p.column, path))

    def fatal(self, message: str, offset: int, path: tuple) -> _Fatal:
        self.report(SYNTAX, message, offset, path)
        return _Fatal()

    def describe(self, offset: int) -> str:
        if offset >= self.n:
            return "end of input"
        ch = self.text[offset]
        if ch == "'":
            return '"\'"'
        if ch.isprintable() and not ch.isspace():
            return f"'{ch}'"
        return f"U+{ord(ch):04X}"

    # -- document ----------------------------------------------------------

    def parse_document(self) -> tuple[Any, bool]:
        text = self.text
        start = _WS(text, 0).end()
        if start >= self.n:
            what = "document is empty" if self.n == 0 else "document contains only whitespace"
            self.report(EMPTY, what, 0, ())
            return None, False
        try:
            value, end = self.parse_value_tree(start)
        except _Fatal:
            return None, False
        end = _WS(text, end).end()
        if end < self.n:
            self.report(
                TRAILING,
                f"unexpected data after the top-level value, found {self.describe(end)}",
                end,
                (),
            )
        return value, True

    # -- values ------------------------------------------------------------

    def parse_value_tree(self, pos: int) -> tuple[Any, int]:
        """Parse one value starting at ``pos`` without recursion."""
        text = self.text
        n = self.n
        ws = _WS
        positions = self.positions
        key_positions = self.key_positions
        starts = self.line_starts
        bisect = bisect_right
        max_depth = self.max_depth
        simple_key = _SIMPLE_KEY
        ws_chars = _WS_CHARS
        simple_string = _SIMPLE_STRING
        simple_int = _SIMPLE_INT
        stack: list[_Frame] = []
        path: tuple = ()
        comma = -1  # offset of the ',' just consumed in an array, else -1

        while True:
            # ---- parse the value that starts at (or after whitespace at) pos
            try:
                ch = text[pos]
            except IndexError:
                ch = ""
            if ch in ws_chars:
                pos = ws(text, pos).end()
                ch = text[pos] if pos < n else ""
            if not ch:
                raise self.fatal("unexpected end of input, expected a value", pos, path)
            line = bisect(starts, pos)
            positions[path] = Pos(line, pos - starts[line - 1] + 1)
            if ch == '"':
                m = simple_string(text, pos)
                if m is not None:
                    value = m.group(1)
                    pos = m.end()
                else:
                    value, pos = self.scan_string(pos, path)
            elif ch == "{" or ch == "[":
                if len(stack) >= max_depth:
                    if not self.too_deep_reported:
                        self.too_deep_reported = True
                        self.report(
                            TOO_DEEP,
                            f"nesting is deeper than the maximum of {max_depth} levels",
                            pos,
                            path,
                        )
                    value = None
                    pos = self.skip_container(pos)
                else:
                    inner = ws(text, pos + 1).end()
                    if ch == "{":
                        if inner < n and text[inner] == "}":
                            value = {}
                            pos = inner + 1
                        else:
                            frame = _Frame({}, path, False)
                            stack.append(frame)
                            m = simple_key(text, inner)
                            if m is not None:
                                key = frame.key = m.group(1)
                                path = path + (key,)
                                line = bisect(starts, inner)
                                key_positions[path] = Pos(line, inner - starts[line - 1] + 1)
                                pos = m.end()
                            else:
                                pos = self.parse_key(frame, inner, -1)
                                path = path + (frame.key,)
                            comma = -1
                            continue
                    else:
                        if inner < n and text[inner] == "]":
                            value = []
                            pos = inner + 1
                        else:
                            stack.append(_Frame([], path, True))
                            path = path + (0,)
                            pos = inner
                            comma = -1
                            continue
            elif ch in "-0123456789":
                m = simple_int(text, pos)
                if m is not None:
                    value = int(m.group())
                    pos = m.end()
                else:
                    value, pos = self.scan_number(pos, path)
            else:
                value, pos = self.scan_literal(pos, path, comma)

            # ---- a value is complete: attach it to its container(s)
            while stack:
                frame = stack[-1]
                container = frame.container
                try:
                    c = text[pos]
                except IndexError:
                    c = ""
                if c in ws_chars:
                    pos = ws(text, pos).end()
                    c = text[pos] if pos < n else ""
                if frame.is_list:
                    container.append(value)
                    if c == ",":
                        comma = pos
                        pos += 1
                        path = frame.path + (len(container),)
                        break
                    if c == "]":
                        pos += 1
                        value = container
                        stack.pop()
                        continue
                    raise self.fatal(
                        "expected ',' or ']' after array element, found "
                        + self.describe(pos)
                        + self.missing_comma_hint(c),
                        pos,
                        frame.path,
                    )
                container[frame.key] = value
                if c == ",":
                    m = simple_key(text, pos + 1)
                    if m is not None and (key := m.group(1)) not in container:
                        # fast path for the common case; parse_key handles the rest
                        frame.key = key
                        path = frame.path + (key,)
                        kpos = m.start(1) - 1
                        line = bisect(starts, kpos)
                        key_positions[path] = Pos(line, kpos - starts[line - 1] + 1)
                        pos = m.end()
                    else:
                        pos = self.parse_key(frame, ws(text, pos + 1).end(), pos)
                        path = frame.path + (frame.key,)
                    comma = -1
                    break
                if c == "}":
                    pos += 1
                    value = container
                    stack.pop()
                    continue
                raise self.fatal(
                    "expected ',' or '}' after object member, found " + self.describe(pos) + self.missing_comma_hint(c),
                    pos,
                    frame.path,
                )
            else:
                return value, pos

    @staticmethod
    def missing_comma_hint(c: str) -> str:
        return " (missing ','?)" if c in _VALUE_START else ""

    def parse_key(self, frame: _Frame, pos: int, comma: int) -> int:
        """Parse ``"key" :`` at ``pos``; set ``frame.key``; return offset after ':'.

        ``comma`` is the offset of the preceding ',' (-1 for the first key).
        """
        text = self.text
        obj_path = frame.path
        if pos >= self.n or text[pos] != '"':
            c = text[pos] if pos < self.n else ""
            if c == "}" and comma >= 0:
                raise self.fatal("trailing comma is not allowed before '}'", comma, obj_path)
            if c == "'":
                raise self.fatal(
                    'object keys must be double-quoted strings, found "\'"',
                    pos,
                    obj_path,
                )
            expected = "string key" if comma >= 0 else "string key or '}'"
            found = self.describe(pos)
            if c and _WORD(text, pos):
                found = "unquoted " + repr(_shorten(_WORD(text, pos).group()))
                expected += " (object keys must be double-quoted)"
            raise self.fatal(f"expected {expected}, found {found}", pos, obj_path)
        key, end = self.scan_string(pos, obj_path)
        member = obj_path + (key,)
        key_pos = self.pos(pos)
        obj = frame.container
        if key in obj:
            if frame.firsts is None:
                frame.firsts = {}
            first = frame.firsts.setdefault(key, self.key_positions[member])
            self.errors.append(
                ParseError(
                    DUPLICATE_KEY,
                    f"duplicate key {_quote_key(key)} (first defined on line {first.line}, "
                    f"column {first.column}); the last one is used",
                    key_pos.line,
                    key_pos.column,
                    member,
                )
            )
            self.forget(member, obj[key])
        self.key_positions[member] = key_pos
        frame.key = key
        end = _WS(text, end).end()
        if end >= self.n or text[end] != ":":
            raise self.fatal(
                f"expected ':' after object key, found {self.describe(end)}",
                end,
                member,
            )
        return end + 1

    def forget(self, base: tuple, value: Any) -> None:
        """Drop recorded positions below ``base`` (a replaced duplicate)."""
        positions = self.positions
        key_positions = self.key_positions
        todo = [(base, value)]
        while todo:
            path, v = todo.pop()
            if isinstance(v, dict):
                items = v.items()
            elif isinstance(v, list):
                items = enumerate(v)
            else:
                continue
            for k, sub in items:
                sub_path = path + (k,)
                positions.pop(sub_path, None)
                key_positions.pop(sub_path, None)
                if isinstance(sub, (dict, list)):
                    todo.append((sub_path, sub))

    def skip_container(self, pos: int) -> int:
        """Skip the container opening at ``pos``; return the offset after it."""
        depth = 0
        for m in _SKIP_TOKEN.finditer(self.text, pos):
            tok = m.group()
            c = tok[0]
            if c == '"':
                continue
            if c == "[" or c == "{":
                depth += len(tok)
            else:
                if len(tok) >= depth:
                    return m.start() + depth
                depth -= len(tok)
        return self.n

    def scan_string(self, pos: int, path: tuple) -> tuple[str, int]:
        """Scan the string whose opening quote is at ``pos``."""
        text = self.text
        m = _SIMPLE_STRING(text, pos)
        if m is not None:
            return m.group(1), m.end()
        n = self.n
        chunks: list[str] = []
        i = pos + 1
        while True:
            m = _STRING_CHUNK(text, i)
            content, term = m.groups()
            if content:
                chunks.append(content)
            i = m.end()
            if term is None:
                raise self.fatal("unterminated string", pos, path)
            if term == '"':
                return "".join(chunks), i
            if term == "\\":
                if i >= n:
                    raise self.fatal("unterminated string", pos, path)
                esc = text[i]
                if esc == "u":
                    h = _HEX4(text, i + 1)
                    if h is None:
                        raise self.fatal(
                            "invalid \\u escape in string: expected 4 hexadecimal digits",
                            i - 1,
                            path,
                        )
                    uni = int(h.group(), 16)
                    i += 5
                    if 0xD800 <= uni <= 0xDBFF and text.startswith("\\u", i):
                        h2 = _HEX4(text, i + 2)
                        if h2 is not None:
                            low = int(h2.group(), 16)
                            if 0xDC00 <= low <= 0xDFFF:
                                uni = 0x10000 + ((uni - 0xD800) << 10 | (low - 0xDC00))
                                i += 6
                    chunks.append(chr(uni))
                else:
                    rep = _ESCAPES.get(esc)
                    if rep is None:
                        shown = self.describe(i)
                        raise self.fatal(
                            f"invalid escape sequence in string: '\\' followed by {shown}",
                            i - 1,
                            path,
                        )
                    chunks.append(rep)
                    i += 1
            else:  # unescaped control character at i - 1
                if term == "\n" or term == "\r":
                    msg = "unterminated string: line break inside string (write it as \\n)"
                else:
                    msg = f"invalid control character U+{ord(term):04X} in string (must be escaped)"
                raise self.fatal(msg, i - 1, path)

    def scan_number(self, pos: int, path: tuple) -> tuple[Any, int]:
        text = self.text
        m = _NUMBER(text, pos)
        if m is None:  # '-' not followed by a digit
            w = _WORD(text, pos + 1)
            if w is not None and w.group() == "Infinity":
                self.report(
                    NON_FINITE,
                    "'-Infinity' is not allowed in JSON (non-finite number)",
                    pos,
                    path,
                )
                return float("-inf"), w.end()
            raise self.fatal(
                f"expected a digit after '-', found {self.describe(pos + 1)}",
                pos + 1,
                path,
            )
        end = m.end()
        frac, exp = m.groups()
        if end < self.n:
            c = text[end]
            if "0" <= c <= "9":
                raise self.fatal("leading zeros are not allowed in numbers", pos, path)
            if c == "." and frac is None and exp is None:
                raise self.fatal(
                    "expected a digit after the decimal point, found " + self.describe(end + 1),
                    end + 1,
                    path,
                )
            if (c == "e" or c == "E") and exp is None:
                sign = 1 if end + 1 < self.n and text[end + 1] in "+-" else 0
                raise self.fatal(
                    "expected a digit in the exponent, found " + self.describe(end + 1 + sign),
                    end + 1 + sign,
                    path,
                )
        literal = m.group()
        if frac is None and exp is None:
            try:
                return int(literal), end
            except ValueError:  # more digits than int() may convert
                value = float(literal)
        else:
            value = float(literal)
        if value in (float("inf"), float("-inf")):
            self.report(
                NON_FINITE,
                f"number {_shorten(literal)} is too large (overflows to infinity)",
                pos,
                path,
            )
        return value, end

    def scan_literal(self, pos: int, path: tuple, comma: int) -> tuple[Any, int]:
        text = self.text
        w = _WORD(text, pos)
        if w is not None:
            word = w.group()
            if word in _LITERALS:
                return _LITERALS[word], w.end()
            if word in _NON_FINITE_LITERALS:
                self.report(
                    NON_FINITE,
                    f"'{word}' is not allowed in JSON (non-finite number)",
                    pos,
                    path,
                )
                return _NON_FINITE_LITERALS[word], w.end()
            hint = _LITERAL_HINTS.get(word.lower())
            if hint is not None:
                msg = f"invalid literal '{_shorten(word)}' (did you mean '{hint}'?)"
            else:
                msg = f"invalid value '{_shorten(word)}' (strings must be in double quotes)"
            raise self.fatal(msg, pos, path)
        ch = text[pos]
        if ch == "]" and comma >= 0:
            raise self.fatal("trailing comma is not allowed before ']'", comma, path[:-1])
        if ch == "'":
            msg = 'strings must be in double quotes, found "\'"'
        elif ch == "/":
            msg = "comments are not allowed in JSON"
        elif ch == "+":
            msg = "numbers must not start with '+'"
        elif ch == ".":
            msg = "numbers must have a digit before the decimal point"
        else:
            msg = f"expected a value, found {self.describe(pos)}"
        raise self.fatal(msg, pos, path)


# --------------------------------------------------------------------------
# Entry point


def _looks_utf16_without_bom(data: bytes) -> bool:
    """ASCII text in UTF-16 has a NUL in every other byte: JSON starts with '{', '[', a quote or space."""
    head = data[:64]
    if len(head) < 4 or len(head) % 2:
        head = head[: len(head) - len(head) % 2]
    if len(head) < 4:
        return False
    even, odd = head[0::2], head[1::2]
    return (odd.count(0) == len(odd) and 0 not in even[:1]) or (even.count(0) == len(even) and 0 not in odd[:1])


def _decode(data: bytes) -> tuple[str | None, ParseError | None, str]:
    """Decode UTF-8 (BOM stripped).  Returns (text, error, text_for_lines)."""
    data = data.removeprefix(_UTF8_BOM)
    if _looks_utf16_without_bom(data):
        order = "little" if data[1:2] == b"\0" else "big"
        return (
            None,
            ParseError(ENCODING, f"file looks UTF-16 encoded ({order}-endian, no byte order mark); config "
                       "files must be UTF-8", 1, 1, ()),
            data.decode(f"utf-16-{order[0]}e", errors="replace"),
        )
    try:
        return data.decode("utf-8"), None, ""
    except UnicodeDecodeError as exc:
        start = exc.start
        why = exc.reason
    shown = data.decode("utf-8", errors="replace")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return (
            None,
            ParseError(
                ENCODING,
                "file looks UTF-16 encoded (byte order mark); config files must be UTF-8",
                1,
                1,
                (),
            ),
            shown,
        )
    prefix = data[:start].decode("utf-8")
    starts = _split_lines(prefix)[1]
    line = len(starts)
    column = len(prefix) - starts[-1] + 1
    bad = data[start]
    if why == "unexpected end of data":
        reason = f"truncated multi-byte sequence (byte 0x{bad:02X}) at end of file"
    elif why == "invalid continuation byte":
        reason = f"incomplete multi-byte sequence starting with byte 0x{bad:02X}"
    else:
        reason = f"byte 0x{bad:02X} cannot start a character"
    return (
        None,
        ParseError(
            ENCODING,
            f"file is not valid UTF-8: {reason}",
            line,
            column,
            (),
        ),
        shown,
    )


def parse(data: bytes | str, *, max_depth: int = DEFAULT_MAX_DEPTH) -> ParseResult:
    """Parse a JSON document strictly, recording source positions.

    ``data`` may be ``bytes`` (must be UTF-8, optional BOM) or ``str``.
    Never raises for bad input; see the module docstring for the error codes.
    ``max_depth`` is the maximum number of nested containers (the top-level
    object counts as 1; ``0`` rejects every container).
    """
    if max_depth < 0:
        raise ValueError("max_depth must be >= 0")
    if isinstance(data, (bytes, bytearray, memoryview)):
        text, error, shown = _decode(bytes(data))
        if error is not None:
            return ParseResult(
                value=None,
                errors=[error],
                positions={},
                key_positions={},
                lines=_split_lines(shown)[0],
                parsed=False,
            )
    elif isinstance(data, str):
        text = data.removeprefix("\ufeff")
    else:
        raise TypeError(f"parse() needs bytes or str, not {type(data).__name__}")

    if len(text) >= FAST_MIN_CHARS:
        fast = _fast_parse(text, max_depth)
        if fast is not None:
            return fast
    parser = _Parser(text, max_depth)
    value, parsed = parser.parse_document()
    return ParseResult(
        value=value,
        errors=parser.errors,
        positions=parser.positions,
        key_positions=parser.key_positions,
        lines=parser.lines,
        parsed=parsed,
    )


# ------------------------------------------------------------------------------------- the fast path
#
# A large document (a config is a few KB; a megabyte is a hostile or broken file) is parsed at C speed:
# the top-level object member by member, each value by the standard library's decoder. Positions are
# recorded for the top-level keys and values only (a problem deeper inside points at its top-level
# value). Anything the fast path cannot vouch for, such as a syntax error, NaN or Infinity, a number too
# large for a float, a duplicate key below the top level, nesting past ``max_depth``, or a top level that
# is not an object, sends the document to the full parser above, which reports it with its position.

#: Documents of at least this many characters try the fast path first.
FAST_MIN_CHARS = 1 << 20
#: Duplicate top-level keys listed one by one by the fast path; the rest are counted in ``omitted``.
MAX_LISTED = 1000

_FAST_KEY = re.compile(r'"((?:[^"\\\x00-\x1f]|\\.)*)"[ \t\n\r]*:[ \t\n\r]*')
_FAST_WS = re.compile(r"[ \t\n\r]*")


class _NotFast(Exception):
    """Internal: the fast path cannot vouch for this document; use the full parser."""


def _refuse_constant(_name: str) -> Any:
    raise _NotFast


def _pairs_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise _NotFast
    return out


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _NotFast
    return value


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float,
                            object_pairs_hook=_pairs_without_duplicates)
#: On CPython 3.11 and older the C decoder counts its nesting against the recursion limit, so lowering the
#: limit around it bounds the depth for free (later versions count C recursion apart: values are walked).
#: The frames counted are a lower bound of the recursion depth (C calls below count too), so the bound
#: errs only one way: a value nested near max_depth may go to the full parser, never past it unseen.
_DEPTH_BY_RECURSION_LIMIT = sys.implementation.name == "cpython" and sys.version_info < (3, 12)


def _vouch(value: Any, max_depth: int) -> None:
    """_NotFast when ``value`` nests deeper than ``max_depth`` containers."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            raise _NotFast
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if type(child) in (dict, list))


def _frame_depth() -> int:
    depth, frame = 0, sys._getframe()
    while frame is not None:
        depth, frame = depth + 1, frame.f_back
    return depth


class _Offsets(dict):
    """Positions computed on demand from character offsets: a large document reports a few problems, so
    building a Pos for each of its members would cost more than the parse."""

    def __init__(self, starts: list[int]):
        super().__init__()
        self._starts = starts

    def _pos(self, offset: int) -> Pos:
        line = bisect_right(self._starts, offset)
        return Pos(line, offset - self._starts[line - 1] + 1)

    def __getitem__(self, key: tuple) -> Pos:
        return self._pos(dict.__getitem__(self, key))

    def get(self, key: tuple, default: Any = None) -> Any:
        offset = dict.get(self, key)
        return default if offset is None else self._pos(offset)

    def items(self):  # type: ignore[override]
        return ((k, self._pos(v)) for k, v in dict.items(self))

    def values(self):  # type: ignore[override]
        return (self._pos(v) for v in dict.values(self))


def _fast_parse(text: str, max_depth: int) -> ParseResult | None:
    """The ParseResult of a large document whose top level is an object, or None (use the full parser)."""
    lines, starts = _split_lines(text)
    pos = _FAST_WS.match(text, 0).end()
    if text[pos:pos + 1] != "{" or max_depth < 1:
        return None
    obj: dict[str, Any] = {}
    positions, key_positions = _Offsets(starts), _Offsets(starts)
    dict.__setitem__(positions, (), pos)
    errors: list[ParseError] = []
    omitted = 0
    key_match, ws_match, decode = _FAST_KEY.match, _FAST_WS.match, _DECODER.raw_decode
    if max_depth > 200:  # the recursion-limit bound needs a small depth; a large one is the full parser's job
        return None
    limit = sys.getrecursionlimit()
    if _DEPTH_BY_RECURSION_LIMIT:  # the decoder may then nest max_depth - 1 containers in a value (calibrated)
        sys.setrecursionlimit(_frame_depth() + max_depth)
    pos = ws_match(text, pos + 1).end()
    try:
        if text[pos:pos + 1] == "}":
            pos += 1
        else:
            while True:
                m = key_match(text, pos)
                if m is None:
                    return None
                raw = m.group(1)
                key = json.loads(f'"{raw}"') if "\\" in raw else raw
                value, end = decode(text, m.end())
                if not _DEPTH_BY_RECURSION_LIMIT and type(value) in (dict, list):
                    _vouch(value, max_depth - 1)
                member = (key,)
                if key in obj:
                    if len(errors) < MAX_LISTED:
                        first, here = key_positions[member], key_positions._pos(m.start())
                        errors.append(ParseError(DUPLICATE_KEY, f"duplicate key {_quote_key(key)} (first defined on "
                                                 f"line {first.line}, column {first.column}); the last one is used",
                                                 here.line, here.column, member))
                    else:
                        omitted += 1
                obj[key] = value  # a duplicate: the last one is used (in the first one's place, as the full parser)
                dict.__setitem__(key_positions, member, m.start())
                dict.__setitem__(positions, member, m.end())
                pos = ws_match(text, end).end()
                sep = text[pos:pos + 1]
                if sep == "}":
                    pos += 1
                    break
                if sep != ",":
                    return None
                pos = ws_match(text, pos + 1).end()
    except (_NotFast, ValueError, RecursionError, IndexError):  # JSONDecodeError is a ValueError
        return None
    finally:
        sys.setrecursionlimit(limit)
    if ws_match(text, pos).end() != len(text):
        return None
    return ParseResult(value=obj, errors=errors, positions=positions, key_positions=key_positions, lines=lines,
                       parsed=True, omitted=omitted)
