"""What may reach a terminal: every string that came from a user's input is made visible first.

A config can hold anything: an OSC sequence that retitles the terminal, a raw ESC in a key, a
right-to-left override that reorders what is shown, a lone UTF-16 surrogate that cannot be encoded
at all. ``visible`` turns each such character into an escape a reader can see (``\\x1b``, ``\\u202e``,
``\\ud800``); everything else passes unchanged.
"""

from __future__ import annotations

import re

#: C0/C1 controls, DEL, line/paragraph separators, bidirectional controls, lone surrogates.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str) -> str:
    """``text`` with every unsafe character as a visible escape."""
    return _UNSAFE.sub(_escape, text)
