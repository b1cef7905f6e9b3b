"""HTTP/1.x request and status lines (RFC 9112 3 and 4), parsed by dpkt.

A client's first bytes on an HTTP/1.x connection are a request line and header fields:
method, target (the path, or an absolute URI through a proxy) and ``Host``; the server's
first bytes are a status line. Only the head is parsed (up to the empty line): the body
may be larger than the few segments pcapline reads, and is not needed. Anything that does
not parse is "no request", never an exception.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from types import ModuleType

from pcapline.app.text import printable

#: Enough of a head for the request line and the usual header fields.
HEAD_LIMIT = 16_384


def _dpkt() -> ModuleType:
    """dpkt with its HTTP parser, imported by the first head that looks like HTTP: the
    package imports every protocol it knows (40-100 ms at start-up), which a capture
    without HTTP or TLS (most large ones) never uses."""
    import dpkt.http

    module: ModuleType = dpkt
    return module


def _bad_input() -> tuple[type[Exception], ...]:
    """What a head dpkt cannot parse makes it raise (an ``except`` reads it only then)."""
    return (_dpkt().Error, ValueError, IndexError, TypeError, AttributeError, OverflowError)


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str  # the request target as sent
    host: str | None  # the Host header field, None when absent
    version: str  # "HTTP/1.1"


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    reason: str
    version: str


def looks_like_request(data: bytes) -> bool:
    """An upper-case token then a space (``GET /``): cheap, before dpkt decides."""
    space = data.find(b" ", 0, 20)
    return space > 2 and data[:space].isalpha() and data[:space].isupper()


def looks_like_response(data: bytes) -> bool:
    return data.startswith(b"HTTP/1.")


def request(data: bytes) -> Request | None:
    """The request at the start of a client's bytes, or None."""
    if not looks_like_request(data):
        return None
    line, fields = _start_line_and_fields(data)
    message = _dpkt().http.Request()
    try:
        message.unpack(line)
        headers = _dpkt().http.parse_headers(io.BytesIO(fields))
    except _bad_input():
        return None
    host = headers.get("host")
    if isinstance(host, list):  # a repeated field: the first one
        host = host[0]
    return Request(
        method=str(message.method),
        path=printable(str(message.uri).encode(), limit=1024),
        host=printable(str(host).encode(), limit=255) if host is not None else None,
        version=f"HTTP/{printable(str(message.version).encode(), limit=8)}",
    )


def response(data: bytes) -> Response | None:
    """The status line at the start of a server's bytes, or None."""
    if not looks_like_response(data):
        return None
    line, _fields = _start_line_and_fields(data)
    message = _dpkt().http.Response()
    try:
        message.unpack(line)
        status = int(message.status)
    except _bad_input():
        return None
    return Response(
        status=status,
        reason=printable(str(message.reason).encode(), limit=64),
        version=f"HTTP/{printable(str(message.version).encode(), limit=8)}",
    )


def _start_line_and_fields(data: bytes) -> tuple[bytes, bytes]:
    """The start line alone (dpkt then reads no field and no body: a body length field, even
    an absurd one, is never acted on) and the header fields up to the empty line."""
    head = _head(data)
    end = head.find(b"\r\n")
    if end < 0:
        return head, b""
    return head[: end + 2], head[end + 2 :]


def _head(data: bytes) -> bytes:
    """The message head (start line and fields, with the empty line), or all that was captured."""
    end = data.find(b"\r\n\r\n", 0, HEAD_LIMIT)
    return data[: end + 4] if end >= 0 else data[:HEAD_LIMIT]
