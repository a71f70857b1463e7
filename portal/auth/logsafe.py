"""Text from outside (a request, a broker's answer) made safe for one log line: short, and every character
that is not printable ASCII escaped, so no CR, LF or other control character can start a forged line."""
from __future__ import annotations

LIMIT = 64


def _char(c: str) -> str:
    if c == "\\":
        return "\\\\"
    if " " <= c <= "~":
        return c
    return c.encode("unicode_escape", "backslashreplace").decode("ascii")


def escaped(value: object, limit: int = LIMIT) -> str:
    """`value` as printable ASCII (backslash escapes for the rest), cut after `limit` characters of the original
    with the number left out: 'abc\\r\\nINFO fake...(+120)'."""
    text = value if isinstance(value, str) else str(value)
    out = "".join(_char(c) for c in text[:limit])
    rest = len(text) - limit
    return out + (f"...(+{rest})" if rest > 0 else "")


def one_line(text: str, limit: int = 200) -> str:
    """`text` itself when it is printable ASCII and at most `limit` characters, else escaped."""
    if len(text) <= limit and all(" " <= c <= "~" for c in text):
        return text
    return escaped(text, limit)
