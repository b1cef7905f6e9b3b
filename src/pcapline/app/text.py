"""Bytes from a capture as text that is safe to show: every non-printable character escaped."""

from __future__ import annotations


def printable(raw: bytes, *, limit: int) -> str:
    """``raw`` decoded as UTF-8, cut to ``limit`` characters (with "…").

    Undecodable bytes become ``\\xNN``; control and format characters (terminal escapes,
    the bidi overrides U+202A-U+202E and U+2066-U+2069, which make ``report\\u202egpj.exe``
    read as ``reportexe.jpg``) become ``\\xNN`` / ``\\uNNNN``: ``str.isprintable`` is false
    for every category C character and every separator but the space.
    """
    text = raw.decode("utf-8", "backslashreplace")
    out = "".join(c if c.isprintable() else _escaped(c) for c in text)
    return out if len(out) <= limit else out[: limit - 1] + "…"


def _escaped(c: str) -> str:
    code = ord(c)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
