"""Application context: what each connection carried, from its first payload bytes.

A stage beside flows (it needs the capture's bytes, which are released before detection):
``recognise(segments, capture)`` reads each connection's first few payload segments per side
(``payloads.first_payloads``, chosen columnar) and parses them with dpkt:

* TLS (``tls.py``): the client's ClientHello (server name, ALPN offered, highest version
  offered) and the server's ServerHello (version and ALPN chosen);
* HTTP/1.x (``http.py``): the client's request line and ``Host``, the server's status line;
  and which later segments, after a gap of 1 ms or more, begin a response with a status line
  (``payloads.status_line_frames``, 12 bytes each: ``App.status_frames``, for ``app_pause``).

What is recognised is only what the bytes show: a connection whose first payloads were not
captured, or that speaks another protocol, has no ``App`` (JSON ``app: null``). Ports are
never used to guess: TLS on port 8443 or HTTP on 3128 is recognised, and port 443 carrying
anything else is not called TLS. Nothing here decides anything about TCP; where the handshake
was not captured, the side that sent the request or ClientHello is what ``flows`` then takes
for the client (``recognise_sides``, ``flows.with_app_roles``).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from pcapline.app import http, tls
from pcapline.app.payloads import FirstBytes, FrameBytes, first_payloads, status_line_frames

if TYPE_CHECKING:
    import pandas as pd

    from pcapline.read.capture import Capture

Protocol = Literal["tls", "http"]
PROTOCOLS: tuple[Protocol, ...] = ("tls", "http")

__all__ = [
    "APP_KEYS",
    "HTTP_KEYS",
    "PROTOCOLS",
    "TLS_KEYS",
    "App",
    "FrameBytes",
    "Protocol",
    "Recognised",
    "app_docs",
    "matches",
    "recognise",
    "recognise_sides",
]

#: Keys of the JSON ``app`` object and of its ``tls`` and ``http`` objects, in order (the CSV
#: flattens them as ``app_<key>``, ``app_tls_<key>``, ``app_http_<key>``).
APP_KEYS: tuple[str, ...] = ("protocol", "frame", "tls", "http")
TLS_KEYS: tuple[str, ...] = ("sni", "alpn", "client_version", "version", "alpn_selected")
HTTP_KEYS: tuple[str, ...] = ("method", "host", "path", "version", "status", "reason")


@dataclass(frozen=True, slots=True)
class App:
    """What one connection's first payloads show (``connections[].app`` in JSON)."""

    protocol: Protocol
    frame: int  # the first frame of the bytes it was recognised from (client side if any)
    client_hello: tls.ClientHello | None = None
    server_hello: tls.ServerHello | None = None
    request: http.Request | None = None
    response: http.Response | None = None
    #: HTTP/1.x: the frames of later segments that begin a response with a status line
    #: (``payloads.status_line_frames``); not in JSON.
    status_frames: tuple[int, ...] = field(default=(), compare=False, repr=False)

    def as_dict(self) -> dict[str, Any]:
        """The JSON ``app`` object (docs/contract.md, "app"): both sub-objects,
        the one of the other protocol null, a field null when its message was not captured."""
        ch, sh, rq, rs = self.client_hello, self.server_hello, self.request, self.response
        return {
            "protocol": self.protocol,
            "frame": self.frame,
            "tls": None
            if self.protocol != "tls"
            else {
                "sni": ch.sni if ch else None,
                "alpn": list(ch.alpn) if ch else [],
                "client_version": ch.version if ch else None,
                "version": sh.version if sh else None,
                "alpn_selected": sh.alpn if sh else None,
            },
            "http": None
            if self.protocol != "http"
            else {
                "method": rq.method if rq else None,
                "host": rq.host if rq else None,
                "path": rq.path if rq else None,
                "version": rq.version if rq else (rs.version if rs else None),
                "status": rs.status if rs else None,
                "reason": rs.reason if rs else None,
            },
        }


def recognise(segments: pd.DataFrame, source: Capture | FrameBytes) -> dict[int, App]:
    """{conn id: App} for the connections whose first payloads are TLS or HTTP/1.x.

    ``segments``: the segments table with flows (``conn``, ``from_client``, ``payload_at``);
    ``source``: the capture those rows were decoded from (its bytes still held), or where
    their frames' bytes are and how to read them (``payloads.FrameBytes``).
    """
    return recognise_sides(segments, source).apps


@dataclass(frozen=True, slots=True)
class Recognised:
    """``recognise_sides``: the apps, and which side of each connection spoke as the client."""

    apps: dict[int, App]
    #: Connections whose client's message (request line, ClientHello) or server's (status
    #: line, ServerHello) came from the side ``flows`` took for the other one.
    other_way: frozenset[int]


def recognise_sides(segments: pd.DataFrame, source: Capture | FrameBytes) -> Recognised:
    """``recognise``, and the connections whose messages were found the other way round
    (``flows.with_app_roles`` turns a port guess by them: the bytes name the client)."""
    first = first_payloads(segments, source)
    conns = sorted({conn for conn, _ in first})
    found: dict[int, App] = {}
    other_way: set[int] = set()
    for conn in conns:
        client, server = first.get((conn, True)), first.get((conn, False))
        app = _one(client, server)
        if app is None:
            # A capture that began mid-connection has its client guessed by port (flows.py):
            # when that guess was wrong, the request sits on the "server" side.
            app = _one(server, client)
            if app is not None:
                other_way.add(conn)
        if app is not None:
            found[conn] = app
    spoken = np.asarray(sorted(c for c, a in found.items() if a.protocol == "http"), np.int64)
    if len(spoken):
        for conn, frames in status_line_frames(segments, source, spoken).items():
            found[conn] = replace(found[conn], status_frames=frames)
    return Recognised(found, frozenset(other_way))


def _one(client: FirstBytes | None, server: FirstBytes | None) -> App | None:
    """One connection: TLS if either hello starts a side, else HTTP if either message does."""
    c = client.data if client else b""
    s = server.data if server else b""
    frames = [b.frame for b in (client, server) if b is not None]
    if tls.starts_with(c, tls.CLIENT_HELLO) or tls.starts_with(s, tls.SERVER_HELLO):
        hello = tls.client_hello(c)
        answer = tls.server_hello(s)
        frame = client.frame if client and tls.starts_with(c, tls.CLIENT_HELLO) else frames[-1]
        return App("tls", frame, client_hello=hello, server_hello=answer)
    asked = http.request(c)
    answered = http.response(s)
    if asked is None and answered is None:
        return None
    frame = client.frame if client and asked is not None else frames[-1]
    return App("http", frame, request=asked, response=answered)


def app_docs(found: Mapping[int, App], ids: Iterable[int]) -> list[dict[str, Any] | None]:
    """The connections table's ``app`` column: the JSON object per id, None when unknown."""
    return [found[i].as_dict() if i in found else None for i in ids]


def matches(
    doc: Mapping[str, Any] | None, *, protocol: str | None = None, sni: str | None = None
) -> bool:
    """Does one ``app`` object pass ``--app PROTOCOL`` and ``--sni PATTERN``?

    ``sni`` is a shell-style pattern (``*.example.com``), matched without regard to case
    (DNS names are case-insensitive, RFC 4343) against the ClientHello's server name.
    """
    if protocol is not None and (doc is None or doc.get("protocol") != protocol):
        return False
    if sni is not None:
        name = ((doc or {}).get("tls") or {}).get("sni")
        if name is None or not fnmatch.fnmatchcase(str(name).lower(), sni.lower()):
            return False
    return True
