"""Formatting shared by the renderers and the findings: endpoints, times, durations, sizes.

One spelling per value, so the terminal table, the HTML report and a finding's summary name
a connection's ends and its times the same way. Each function is the single place its format
is written; outputs are part of the golden text, so a change here is a visible change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any


def endpoint(ip: object, port: object) -> str:
    """``10.0.0.1:80`` / ``[2001:db8::1]:80`` (RFC 3986 brackets an IPv6 literal before a port)."""
    text = str(ip)
    number = int(port)  # type: ignore[call-overload]  # ports arrive as numpy or pandas ints
    return f"[{text}]:{number}" if ":" in text else f"{text}:{number}"


def utc(ns: int) -> str:
    """Epoch nanoseconds as a UTC wall-clock time with microseconds (no zone suffix)."""
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def duration(seconds: float) -> str:
    """Compact, for table cells: ``0s``, ``42us``, ``1.5ms``, ``2.25s``, ``3m07s``, ``1h02m05s``."""
    if seconds < 0:
        return "-" + duration(-seconds)
    if seconds == 0:
        return "0s"
    if seconds < 0.001:
        return f"{seconds * 1e6:.0f}us"
    if seconds < 1:
        return f"{seconds * 1000:.1f}ms"
    if seconds < 60:
        return f"{seconds:.2f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s"


def span(seconds: float) -> str:
    """A capture's or connection's length in prose: ``12.345 s``, ``2.5 min``, ``1.2 h``."""
    if seconds < 120:
        return f"{seconds:.3f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def seconds(value: float | None) -> str:
    """A measured time in an explanation: ``420 us``, ``40 ms``, ``1.23 s``, ``15 s``; ``?``
    when unknown. Below a millisecond in microseconds (the table's ``us``), never ``0 ms``
    for a time that is not 0; a value that rounds up to the next unit is said in it
    (0.9996 s is ``1 s``, not ``1000 ms``)."""
    if value is None:
        return "?"
    if value == 0:
        return "0 s"
    if value < 0.0000005:
        return "under 1 us"
    if value >= 10:
        return f"{value:.0f} s"
    if value >= 0.9995:
        return f"{value:.3g} s"
    if value >= 0.0009995:
        return f"{value * 1000:.0f} ms"
    return f"{value * 1e6:.0f} us"


def gap(seconds: float) -> str:
    """A retry gap to three significant digits: ``200 ms``, ``1.6 s`` (timer values, not spans)."""
    return f"{seconds * 1000:.3g} ms" if seconds < 0.1 else f"{seconds:.3g} s"


def byte_count(n: int) -> str:
    """Payload bytes, decimal units (as ``ss`` and Wireshark's statistics print them)."""
    if n < 1000:
        return f"{n}B"
    value = float(n)
    for unit in ("kB", "MB", "GB"):
        value /= 1000
        if value < 1000 or unit == "GB":
            break
    return f"{value:.1f}{unit}"


def bit_rate(bps: float) -> str:
    """A transfer rate, decimal units as iperf and ``ss -i`` print them: ``850 kbit/s``,
    ``11.5 Mbit/s``, ``1.20 Gbit/s``."""
    for unit, scale in (("Gbit/s", 1e9), ("Mbit/s", 1e6), ("kbit/s", 1e3)):
        if bps >= scale:
            return f"{bps / scale:.3g} {unit}"
    return f"{bps:.0f} bit/s"


def round_trip(ms: float) -> str:
    """A round trip in an explanation, three digits, below a millisecond too: ``0.036 ms``,
    ``12.5 ms``, ``1540 ms``."""
    return f"{ms:.2g} ms" if ms < 0.1 else f"{ms:.3g} ms" if ms < 1000 else f"{ms:.0f} ms"


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """A count and its noun, in the singular for one: "1 ACK", "1,024 gaps"."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def frames_words(frames: Sequence[int]) -> str:
    """Frame numbers as words: "frame 4", "frames 4, 9"."""
    return ("frame " if len(frames) == 1 else "frames ") + ", ".join(str(f) for f in frames)


def missing_kinds(acked_unseen: int, gaps: int, gap_words: str) -> str:
    """What shows segments missing at the capture point, its non-zero counts only: "3 ACKs
    of bytes never captured, 1 gap never filled" (``gap_words``: the singular of a gap)."""
    noun, _, rest = gap_words.partition(" ")
    parts = [f"{counted(acked_unseen, 'ACK')} of bytes never captured"] * (acked_unseen > 0)
    parts += [f"{counted(gaps, noun)} {rest}".rstrip()] * (gaps > 0)
    return ", ".join(parts)


def capture_quality(quality: Mapping[str, Any]) -> str:
    """``capture.quality`` in one line (``""`` when the capture point missed nothing known):
    what the capture could not see, said before any verdict."""
    parts = []
    lossy = int(quality.get("lossy_connections", 0))
    if lossy:
        frames = frames_words(quality.get("first_missing_frames", []))
        kinds = missing_kinds(
            int(quality.get("acked_unseen", 0)),
            int(quality.get("segments_not_captured", 0)),
            "gap never filled",
        )
        parts.append(
            f"segments missing at the capture point in {counted(lossy, 'connection')} "
            f"({kinds}; first at {frames})"
        )
    if quality.get("flag_filtered"):
        parts.append("only SYN/FIN/RST segments (flag-filtered?)")
    if quality.get("acks_filtered"):
        parts.append("no bare ACK (filtered to data?)")
    one = int(quality.get("one_sided_connections", 0))
    if one:
        parts.append(f"{counted(one, 'connection')} captured in one direction")
    mid = int(quality.get("mid_stream_connections", 0))
    if mid:
        # A capture filtered to payload drops SYNs too: their absence proves no early start.
        parts.append(
            f"{mid:,} without a captured SYN (already open, or the filter dropped it)"
            if quality.get("acks_filtered")
            else f"{mid:,} already open when the capture began"
        )
    drops = [
        f"{int(quality[key]):,} by {what}"
        for key, what in (("interface_drops", "the interface"), ("os_drops", "the OS/buffer"))
        if quality.get(key)
    ]
    if drops:
        parts.append(f"packets dropped at the capture point ({', '.join(drops)})")
    cut = int(quality.get("frames_cut_by_snaplen", 0))
    if cut:
        snaplen = quality.get("snaplen")
        limit = f" ({snaplen}-byte snaplen)" if snaplen else ""
        parts.append(
            f"{counted(cut, 'frame')} cut short{limit}: payload beyond it is not in the file"
        )
    return "; ".join(parts)


def app_label(app: Mapping[str, Any] | None) -> str:
    """A connection's ``app`` object in a few words: ``tls example.com``, ``tls`` (no server
    name sent), ``http GET /index.html 200``, ``http 404`` (only the answer captured); "" for
    none. The values were made printable when parsed (app/text.py)."""
    if not app:
        return ""
    protocol = str(app.get("protocol") or "")
    detail = app.get(protocol)
    if not isinstance(detail, Mapping):
        return protocol
    if protocol == "tls":
        words = [detail.get("sni")]
    else:
        words = [detail.get("method"), detail.get("path"), detail.get("status")]
    return " ".join([protocol, *(str(w) for w in words if w is not None)])


#: Characters a terminal acts on instead of showing: C0 controls (ESC starts escape sequences;
#: ``ESC ]`` an OSC string that swallows what follows), DEL and the C1 controls (0x9b is CSI,
#: 0x9d OSC on terminals that take 8-bit controls), and the Unicode bidi controls that reorder
#: what follows (``report\u202egpj.exe`` shows as ``reportexe.jpg``).
_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_UNPRINTABLE = {
    **{c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))},
    **{ord(c): f"\\u{ord(c):04x}" for c in _BIDI},
}


def printable(text: object) -> str:
    """``text`` safe to print on a terminal: every control and bidi character written as its
    escape (``\\x1b``, ``\\u202e``), everything else unchanged. For any string that came from
    outside pcapline (a file name, a capture's own strings) on its way to text output."""
    return str(text).translate(_UNPRINTABLE)


def utf8_text(text: str) -> str:
    """``text`` as UTF-8 can encode it: the bytes of a file name that is not UTF-8 (a Latin-1
    name from a Windows share; Python keeps such bytes as lone surrogates, PEP 383) written
    as ``\\xNN``, as ``ls -b`` shows them. Any other text is returned as it is. For file names
    and the messages that quote them, on their way into a document: a JSON, HTML or CSV file
    is UTF-8, and one such name would otherwise fail the whole write."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return text


#: A cell starting with one of these is a formula to a spreadsheet (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_text(value: object) -> object:
    """A text CSV cell neutralised against formula injection: prefixed with ``'`` when it
    starts like a formula. Only text cells go through here; numbers (``-1``, ``-0.5``) are
    written as numbers and stay numbers."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value
