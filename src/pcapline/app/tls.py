"""TLS hellos (RFC 8446 4.1.2/4.1.3, RFC 5246 7.4.1): SNI, ALPN and versions, parsed by dpkt.

The first bytes a TLS client sends are a handshake record (content type 22) holding a
ClientHello; the server answers with a ServerHello. Both are plaintext in every TLS version,
so the capture shows the server name the client asked for (``server_name``, RFC 6066 3), the
application protocols it offered (ALPN, RFC 7301), and, from the ServerHello, the version
and protocol the server chose (TLS 1.3 hides its version in ``supported_versions``: the
legacy field says 1.2, RFC 8446 4.2.1).

A ClientHello can be larger than one segment (many cipher suites, post-quantum key shares:
1.7 kB and more) and, rarely, larger than one record: the records' handshake fragments are
joined before dpkt parses the message. Input is whatever the capture holds: anything that
does not parse is "no hello", never an exception.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING

from pcapline.app.text import printable

if TYPE_CHECKING:
    import dpkt

HANDSHAKE = 22  # TLS record content type
CLIENT_HELLO, SERVER_HELLO = 1, 2  # handshake message types

EXT_SERVER_NAME = 0
EXT_ALPN = 16
EXT_SUPPORTED_VERSIONS = 43

#: Record and hello version numbers as Wireshark names them.
VERSION_NAMES: dict[int, str] = {
    0x0300: "SSL 3.0",
    0x0301: "TLS 1.0",
    0x0302: "TLS 1.1",
    0x0303: "TLS 1.2",
    0x0304: "TLS 1.3",
}


def _dpkt() -> ModuleType:
    """dpkt with its TLS parser, imported by the first bytes that look like a handshake
    record: the package imports every protocol it knows (40-100 ms at start-up), which a
    capture without TLS or HTTP (most large ones) never uses."""
    import dpkt.ssl

    module: ModuleType = dpkt
    return module


def _bad_input() -> tuple[type[Exception], ...]:
    """What a malformed hello can make dpkt or struct raise (dpkt checks little itself; an
    ``except`` reads it only then)."""
    parser = _dpkt()
    return (parser.Error, parser.ssl.SSL3Exception, struct.error, ValueError, IndexError, TypeError)


@dataclass(frozen=True, slots=True)
class ClientHello:
    sni: str | None  # server_name (host_name entry), None when the client sent none
    alpn: tuple[str, ...]  # application protocols offered, in the client's order
    version: str | None  # highest version offered (supported_versions, else the legacy field)


@dataclass(frozen=True, slots=True)
class ServerHello:
    version: str | None  # the version the server chose
    alpn: str | None  # the application protocol it chose, None when it chose none


def looks_like_handshake(data: bytes) -> bool:
    """A TLS handshake record header: type 22, major version 3 (SSL 3.0 to TLS 1.3)."""
    return len(data) >= 3 and data[0] == HANDSHAKE and data[1] == 3 and data[2] <= 4


def handshake_message(data: bytes, kind: int) -> bytes | None:
    """The first handshake message of ``data`` (one side's first bytes), when it is of type
    ``kind`` and complete: its body, joined across records. None otherwise."""
    fragments = bytearray()
    at = 0
    while looks_like_handshake(data[at:]):
        try:
            record = _dpkt().ssl.TLSRecord(data[at:])
        except _bad_input():  # the record continues past the bytes captured
            break
        fragments += record.data
        at += 5 + len(record.data)
        if len(fragments) >= 4 and len(fragments) >= 4 + _length(fragments):
            break
    if len(fragments) < 4 or fragments[0] != kind or len(fragments) < 4 + _length(fragments):
        return None
    return bytes(fragments[4 : 4 + _length(fragments)])


def starts_with(data: bytes, kind: int) -> bool:
    """A handshake record whose first message is of type ``kind`` (complete or not)."""
    return looks_like_handshake(data) and len(data) >= 6 and data[5] == kind


def client_hello(data: bytes) -> ClientHello | None:
    """The ClientHello at the start of a client's bytes, or None."""
    body = handshake_message(data, CLIENT_HELLO)
    if body is None:
        return None
    try:
        hello = _dpkt().ssl.TLSClientHello(body)
        extensions = dict(_extensions(hello))
        sni = _server_name(extensions.get(EXT_SERVER_NAME))
        alpn = _alpn(extensions.get(EXT_ALPN))
        offered = _versions(extensions.get(EXT_SUPPORTED_VERSIONS), list_length=1)
    except _bad_input():
        return None
    highest = max(offered) if offered else int(hello.version)
    return ClientHello(sni=sni, alpn=alpn, version=version_name(highest))


def server_hello(data: bytes) -> ServerHello | None:
    """The ServerHello at the start of a server's bytes, or None."""
    body = handshake_message(data, SERVER_HELLO)
    if body is None:
        return None
    try:
        hello = _dpkt().ssl.TLSServerHello(body)
        extensions = dict(_extensions(hello))
        chosen = _selected_version(extensions.get(EXT_SUPPORTED_VERSIONS))
        alpn = _alpn(extensions.get(EXT_ALPN))
    except _bad_input():
        return None
    return ServerHello(
        version=version_name(chosen if chosen is not None else int(hello.version)),
        alpn=alpn[0] if alpn else None,
    )


def version_name(value: int) -> str | None:
    """Wireshark's name of a version number; TLS 1.3 drafts (0x7fNN) as ``TLS 1.3 (draft N)``;
    None for a GREASE placeholder, ``0xNNNN`` for anything else."""
    if value in VERSION_NAMES:
        return VERSION_NAMES[value]
    if value >> 8 == 0x7F:
        return f"TLS 1.3 (draft {value & 0xFF})"
    return None if _grease(value) else f"0x{value:04x}"


def _length(fragments: bytearray) -> int:
    return int.from_bytes(fragments[1:4], "big")


def _extensions(hello: dpkt.Packet) -> list[tuple[int, bytes]]:
    return list(getattr(hello, "extensions", []) or [])


def _grease(value: int) -> bool:
    """RFC 8701 GREASE values (0x0a0a, 0x1a1a, ... 0xfafa): placeholders, never a version."""
    return (value & 0x0F0F) == 0x0A0A and (value >> 8) == (value & 0xFF)


def _server_name(ext: bytes | None) -> str | None:
    """RFC 6066 3: a list (2-byte length) of (type, 2-byte length, name); type 0 = host_name."""
    if ext is None or len(ext) < 2:
        return None
    end = min(len(ext), 2 + int.from_bytes(ext[0:2], "big"))
    at = 2
    while at + 3 <= end:
        kind, size = ext[at], int.from_bytes(ext[at + 1 : at + 3], "big")
        name = ext[at + 3 : at + 3 + size]
        if kind == 0 and len(name) == size:
            return printable(name, limit=255)
        at += 3 + size
    return None


def _alpn(ext: bytes | None) -> tuple[str, ...]:
    """RFC 7301 3.1: a list (2-byte length) of 1-byte-length protocol names."""
    if ext is None or len(ext) < 2:
        return ()
    end = min(len(ext), 2 + int.from_bytes(ext[0:2], "big"))
    names: list[str] = []
    at = 2
    while at < end and len(names) < 16:
        size = ext[at]
        name = ext[at + 1 : at + 1 + size]
        if len(name) != size:
            break
        names.append(printable(name, limit=64))
        at += 1 + size
    return tuple(names)


def _versions(ext: bytes | None, *, list_length: int) -> list[int]:
    """supported_versions in a ClientHello: a 1-byte-length list of 2-byte versions."""
    if ext is None or len(ext) < list_length:
        return []
    size = int.from_bytes(ext[:list_length], "big")
    raw = ext[list_length : list_length + size]
    values = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw) - 1, 2)]
    return [v for v in values if not _grease(v)]


def _selected_version(ext: bytes | None) -> int | None:
    """supported_versions in a ServerHello: the one 2-byte version chosen."""
    if ext is None or len(ext) != 2:
        return None
    return int.from_bytes(ext, "big")
