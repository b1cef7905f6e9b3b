"""NAT remap: one TCP connection's byte stream carried on under another client address or port.

Kernel rule: a NAT (nftables/iptables ``masquerade``, ``snat``; Linux ``nf_nat_manip_pkt``)
rewrites addresses and ports, never sequence numbers. It keeps the mapping in its conntrack
entry; when the entry goes (``nf_conntrack_tcp_timeout_established`` ran out while the
connection sat idle, ``conntrack -F``, a failover to a box without the state), the next
segment of the connection is translated afresh: with ``nf_conntrack_tcp_loose=1`` (the
default) conntrack picks the flow up mid-stream and masquerade may give it another source port
(``random``/``fully-random``, or the old port taken meanwhile); with ``nf_conntrack_tcp_loose=0``
the segment is INVALID, gets no NAT and leaves with the client's own, untranslated address
unless a ``ct state invalid drop`` rule stops it. Either way the server receives the
connection's next segment on a 4-tuple it never saw: its stack answers with a RST (no socket:
``tcp_v4_send_reset``) while its socket for the old 4-tuple stays open, and the NAT turns that
RST back to the client, which reads "the server reset the connection".

Wire signature, in a capture taken behind the NAT (at the server, or on the NAT host): a stream
that starts without a handshake (no SYN, no SYN+ACK) whose first client segment's sequence
AND acknowledgement numbers continue an earlier connection's to the same server address and
port from another client address or port: seq - that connection's client ISN and ack - its
server ISN both within its payload bytes + ``SLACK_BYTES``. Two 32-bit numbers landing in such
windows by chance is about one in 2**30; a scanner's ACK probe carries arbitrary numbers. A
capture at the client shows one 4-tuple only and cannot show this (there the RST reads as a
server that lost the connection).
"""

from __future__ import annotations

import numpy as np

from pcapline.findings.base import Finder, FindingInput, make_finding
from pcapline.fmt import endpoint
from pcapline.model import Finding

KIND = "nat_remap"
#: Beyond the payload bytes the earlier connection carried in the capture: SYN and FIN (one
#: each) and up to a window of bytes sent but not captured.
SLACK_BYTES = 65_536 + 2
#: Remapped pairs listed in the finding's ``remaps``.
MAX_LISTED = 100
_MOD = 2**32

EXPLANATION = (
    "A NAT or stateful firewall on the path lost the connection's translation (its conntrack "
    "entry expired while the connection was idle, was flushed, or a failover moved the flow to "
    "a box without it) and sent the connection's next segment under another source address or "
    "port: a NAT rewrites addresses and ports, never sequence numbers, so the later stream "
    "carries the earlier one's bytes on without a handshake. The server had no socket for that "
    "4-tuple and answered with a RST (which the client reads as a reset by the server); its "
    "socket for the first 4-tuple was not what failed. "
    "Fix: keepalive or application heartbeats shorter than the NAT's idle timeout "
    "(TCP_KEEPIDLE, net.ipv4.tcp_keepalive_time); on a Linux NAT raise "
    "net.netfilter.nf_conntrack_tcp_timeout_established, and drop INVALID packets "
    "(ct state invalid drop) so that a segment that lost its mapping does not leave "
    "untranslated. Check: conntrack -L / conntrack -S on the NAT, its idle-timeout settings."
)

#: The connections-table columns ``find`` reads.
READS = {"id", "bytes_client", "bytes_server", "fate", "reset_by"}


def find(data: FindingInput) -> list[Finding]:
    conns = data.connections
    hs = data.handshakes
    if conns.empty or not set(conns.columns) >= READS or "first_client_seq" not in hs.conn_facts:
        return []
    facts = hs.conn_facts
    n = len(hs.connections)
    # Mid-stream starts: no SYN from the client, no SYN+ACK, a client segment to place.
    later = np.flatnonzero(
        (facts["syns"] == 0) & ~facts["synack_sent"] & (facts["first_client_seq"] >= 0)
    )
    if not len(later):
        return []
    # Connections whose handshake was seen: the client's and the server's ISN (the first SYN's
    # and the first SYN+ACK's of each).
    client_isn = np.full(n, -1, dtype=np.int64)
    server_isn = np.full(n, -1, dtype=np.int64)
    client_isn[hs.syn_row[::-1]] = hs.syn_isn[::-1]
    server_isn[hs.synack_row[::-1]] = hs.synack_isn[::-1]
    known = np.flatnonzero((client_isn >= 0) & (server_isn >= 0))
    if not len(known):
        return []
    table = hs.connections
    ids = table["id"].to_numpy(np.int64)
    server_ip = table["server_ip"].astype(str).to_numpy()
    server_port = table["server_port"].to_numpy(np.int64)
    client_ip = table["client_ip"].astype(str).to_numpy()
    client_port = table["client_port"].to_numpy(np.int64)
    start = table["start_ns"].to_numpy(np.int64)
    by_id = conns.set_index("id")
    sent_c = by_id["bytes_client"].reindex(ids).fillna(0).to_numpy(np.int64)
    sent_s = by_id["bytes_server"].reindex(ids).fillna(0).to_numpy(np.int64)
    fate = by_id["fate"].reindex(ids).astype(object).to_numpy()
    reset_by = by_id["reset_by"].reindex(ids).astype(object).to_numpy()
    remaps: list[tuple[int, int]] = []
    for k in later.tolist():
        same = known[
            (server_ip[known] == server_ip[k])
            & (server_port[known] == server_port[k])
            & (start[known] < start[k])
            & ((client_ip[known] != client_ip[k]) | (client_port[known] != client_port[k]))
        ]
        if not len(same):
            continue
        seq_off = (int(facts["first_client_seq"][k]) - client_isn[same]) % _MOD
        ack_off = (int(facts["first_client_ack"][k]) - server_isn[same]) % _MOD
        fits = (
            (seq_off >= 1)
            & (seq_off <= sent_c[same] + SLACK_BYTES)
            & (ack_off >= 1)
            & (ack_off <= sent_s[same] + SLACK_BYTES)
        )
        match = same[fits]
        if len(match):
            remaps.append((int(match[-1]), k))  # the latest such connection
    if not remaps:
        return []
    by_server: dict[str, list[tuple[int, int]]] = {}
    for a, b in remaps:
        by_server.setdefault(endpoint(server_ip[b], int(server_port[b])), []).append((a, b))
    found: list[Finding] = []
    for server, pairs in sorted(by_server.items()):
        listed = [
            {
                "original": int(ids[a]),
                "remapped": int(ids[b]),
                "client_before": endpoint(client_ip[a], int(client_port[a])),
                "client_after": endpoint(client_ip[b], int(client_port[b])),
                "reset_by_server": bool(fate[b] == "reset" and reset_by[b] == "server"),
            }
            for a, b in pairs[:MAX_LISTED]
        ]
        first = listed[0]
        more = f" (and {len(pairs) - 1} more)" if len(pairs) > 1 else ""
        answered = (
            "; the server answered it with a RST (no socket for that 4-tuple), while nothing "
            "in the capture closed the first"
            if first["reset_by_server"]
            else ""
        )
        summary = (
            f"connection {first['remapped']} carries connection {first['original']}'s byte "
            f"stream on without a handshake, from {first['client_after']} instead of "
            f"{first['client_before']}{more}: a NAT on the path lost the translation "
            "(conntrack entry expired while idle, flushed, or failed over) and translated the "
            f"connection anew{answered}"
        )
        linked = sorted({i for a, b in pairs for i in (int(ids[a]), int(ids[b]))})
        found.append(make_finding(KIND, summary, linked, EXPLANATION, server=server, remaps=listed))
    return found


FINDER = Finder(KIND, find)
