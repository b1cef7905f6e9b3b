"""Real TLS and HTTP/1.1 between two namespaces: what pcapline's application context reads.

The server is Python's ``ssl`` (OpenSSL) and ``http.server``, the client ``ssl`` and
``http.client``; the TLS certificate is a throw-away one made at generation time (the
``cryptography`` package), valid for the server names the clients ask for, and the clients
verify it. So the SNI, ALPN, versions, Host, path and status in ``app`` are known from how
the scenario was built, and the bytes on the wire come from OpenSSL and the kernel.
"""

from __future__ import annotations

import datetime
import shutil
import tempfile
from pathlib import Path

from tools.samplegen import steps as st
from tools.samplegen.expected import ETHERNET, Conn, Expected, clean
from tools.samplegen.scenario import Ctx, run_pair

TLS_PORT, HTTP_PORT = 443, 80
#: The client's MSS for the split-hello connection: OpenSSL's ClientHello (~250-520 B with
#: TLS 1.3 key shares) then needs 2-3 segments (the kernel's floor is TCP_MIN_MSS, 88 B).
SPLIT_MSS = 200


def _throwaway_certificate(folder: Path, names: list[str]) -> tuple[Path, Path]:
    """A self-signed certificate for ``names`` and its key, written to ``folder``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


#: (client port, kind, server name / Host, path, what the client offers, expected app object)
TLS13, TLS12, SPLIT, PLAIN, MISSING = 43001, 43002, 43003, 43004, 43005


def tls_and_http(ctx: Ctx, net: int) -> list[Expected]:
    """Five sequential connections, captured at the client, each closed by the client first:

    43001 TLS 1.3, SNI www.example.test, ALPN h2,http/1.1 offered; GET /index.html -> 200
    43002 TLS 1.2 (client capped), SNI api.example.test, ALPN http/1.1; GET /v1/items -> 200
    43003 TLS 1.3 with the client's MSS at 200 B: the ClientHello spans 2-3 segments;
          SNI split.example.test; GET / -> 200
    43004 plain HTTP/1.1, Host plain.example.test, GET /hello.txt -> 200
    43005 plain HTTP/1.1, Host plain.example.test, GET /missing -> 404

    The server chooses http/1.1 by ALPN: visible in a TLS 1.2 ServerHello, encrypted
    (EncryptedExtensions) in TLS 1.3, so ``alpn_selected`` is null there.
    """
    name = "app-tls-http.pcap"
    server_ip = f"10.{net}.0.2"
    folder = Path(tempfile.mkdtemp(prefix="pcapline-cert-"))
    names = ["www.example.test", "api.example.test", "split.example.test"]
    try:
        cert, key = _throwaway_certificate(folder, names)
        tls_server = [
            {"op": "tls_accept", "cert": str(cert), "key": str(key), "alpn": ["http/1.1"]},
        ]
        server: list[st.Step] = [
            *st.listen(TLS_PORT),
            {"op": "socket", "sock": "h", "family": 4, "opts": [st.reuse()]},
            {"op": "bind", "sock": "h", "port": HTTP_PORT},
            {"op": "listen", "sock": "h", "backlog": 16},
        ]
        client: list[st.Step] = []
        plan = [
            (TLS13, "www.example.test", "/index.html", {"alpn": ["h2", "http/1.1"]}, []),
            (
                TLS12,
                "api.example.test",
                "/v1/items",
                {"alpn": ["http/1.1"], "max_version": "1.2"},
                [],
            ),
            (
                SPLIT,
                "split.example.test",
                "/",
                {"alpn": ["h2", "http/1.1"]},
                [st.opt("TCP_MAXSEG", SPLIT_MSS)],
            ),
        ]
        for k, (port, host, path, offer, opts) in enumerate(plan):
            sock, csock = f"c{k}", f"s{k}"
            server += [
                st.accept(sock),
                {**tls_server[0], "sock": sock},
                {"op": "http_serve", "sock": sock},
                {"op": "tls_close", "sock": sock},
                st.recv_eof(sock),
                st.close(sock),
            ]
            client += [
                *st.connect(server_ip, port, sock=csock, port=TLS_PORT, opts=opts),
                {"op": "tls_connect", "sock": csock, "sni": host, "ca": str(cert), **offer},
                {"op": "http_request", "sock": csock, "host": host, "path": path},
                {"op": "tls_close", "sock": csock},
                st.close(csock),
                st.sleep(0.3),
            ]
        for k, (port, path) in enumerate(((PLAIN, "/hello.txt"), (MISSING, "/missing"))):
            sock, csock = f"h{k}", f"p{k}"
            server += [
                {"op": "accept", "sock": "h", "as": sock, "opts": []},
                {"op": "http_serve", "sock": sock, "statuses": {"/missing": 404}},
                st.close(sock),
            ]
            client += [
                *st.connect(server_ip, port, sock=csock, port=HTTP_PORT),
                {"op": "http_request", "sock": csock, "host": "plain.example.test", "path": path},
                st.close(csock),
                st.sleep(0.3),
            ]
        run_pair(ctx, net, name, client, server)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    def tls(sni: str, alpn: list[str], client: str, version: str, chosen: str | None) -> dict:
        return {
            "protocol": "tls",
            "tls": {
                "sni": sni,
                "alpn": alpn,
                "client_version": client,
                "version": version,
                "alpn_selected": chosen,
            },
            "http": None,
        }

    def http(path: str, status: int, reason: str) -> dict:
        return {
            "protocol": "http",
            "tls": None,
            "http": {
                "method": "GET",
                "host": "plain.example.test",
                "path": path,
                "version": "HTTP/1.1",
                "status": status,
                "reason": reason,
            },
        }

    def closed(port: int, app: dict, note: str) -> Conn:
        return Conn(
            {"client_port": port}, "closed", closer="client", counts=clean(), app=app, note=note
        )

    conns = [
        closed(
            TLS13,
            tls("www.example.test", ["h2", "http/1.1"], "TLS 1.3", "TLS 1.3", None),
            "TLS 1.3: the chosen ALPN travels encrypted (EncryptedExtensions)",
        ),
        closed(
            TLS12,
            tls("api.example.test", ["http/1.1"], "TLS 1.2", "TLS 1.2", "http/1.1"),
            "client capped at TLS 1.2: no supported_versions; ALPN chosen in the ServerHello",
        ),
        closed(
            SPLIT,
            tls("split.example.test", ["h2", "http/1.1"], "TLS 1.3", "TLS 1.3", None),
            f"client MSS {SPLIT_MSS} B: the ClientHello spans several segments",
        ),
        closed(PLAIN, http("/hello.txt", 200, "OK"), "plain HTTP/1.1 GET, 200"),
        closed(MISSING, http("/missing", 404, "Not Found"), "plain HTTP/1.1 GET, 404"),
    ]
    return [
        Expected(
            name,
            "three TLS connections to port 443 (TLS 1.3, TLS 1.2, TLS 1.3 with the ClientHello "
            "split by a 200 B MSS) and two plain HTTP/1.1 connections to port 80 (200, 404); "
            "each carries one GET and is closed by the client",
            "client",
            {
                "server": "python ssl (OpenSSL) + http.server, throw-away certificate for "
                + ", ".join(names)
                + "; ALPN http/1.1",
                "client": "python ssl + http.client, verifying that certificate; one GET each",
            },
            conns,
            capture_format=ETHERNET,
        )
    ]
