"""loopback: both ends of a connection on one host, so no network carried its packets.

A packet between two addresses of one host never leaves it: Linux routes it through the
``local`` table to the loopback device (``ip route show table local``), whatever the address.
127.0.0.0/8 and ::1 are the host's own by definition (RFC 1122 3.2.1.3, RFC 4291 2.5.3), so a
connection between two of them is proven to be on one host; so is one whose two ends have the same address (a host drops a packet from its own
address arriving on another interface as a martian, so such an exchange never crossed a
wire). Sockets of other network namespaces on the same host talk over veth, which this
cannot tell from a wire: those are left out.

What it changes is who can have lost a packet: no router, NAT, firewall on the way or
lossy link did. A loopback device never drops for lack of a queue of its own, so a segment
the sender had to resend was dropped by the host: a full listen or accept queue, the
receiving socket's memory, the per-CPU input backlog (``net.core.netdev_max_backlog``), a
firewall rule on ``lo``, or conntrack (explain.py words it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Address prefix (as text) of the host's own IPv4 loopback, and IPv6's.
_LOOPBACK_PREFIX = "127."
_LOOPBACK_V6 = "::1"

#: Where a resend or a missing answer between two ends on one host came from, in words
#: (explain.py's per-connection note and the text summary): the host, not a path. The capture
#: on lo sees a packet before the receiving host's input backlog and socket, so a resend may
#: also follow an original held there past the sender's timer.
HOST_DROPS = (
    "no network carried these packets, so nothing on a path dropped or held them; the host "
    "did: a full listen or accept queue (nstat TcpExtListenOverflows TcpExtListenDrops, ss "
    "-lnt), socket memory (TcpExtTCPBacklogDrop TcpExtTCPRcvQDrop), the input backlog "
    "(net.core.netdev_max_backlog, /proc/net/softnet_stat) or a firewall or conntrack rule on lo"
)


def _is_loopback(ips: pd.Series) -> np.ndarray:
    text = ips.astype(str)
    out: np.ndarray = (text.str.startswith(_LOOPBACK_PREFIX) | (text == _LOOPBACK_V6)).to_numpy(
        dtype=bool
    )
    return out


def on_one_host(connections: pd.DataFrame, conn_ids: np.ndarray) -> np.ndarray:
    """Per connection (``conn_ids`` order): both ends are one host's (module docstring)."""
    if not len(conn_ids):
        return np.zeros(0, dtype=bool)
    client, server = connections["client_ip"], connections["server_ip"]
    same = (client.astype(str) == server.astype(str)).to_numpy(dtype=bool)
    per_row = (_is_loopback(client) & _is_loopback(server)) | same
    # Decided on the table's own rows, then looked up by id: reindexing the string columns
    # by ``conn_ids`` cost milliseconds on every capture, most of a small one's analysis.
    rows = pd.Index(connections["id"]).get_indexer(conn_ids)
    out: np.ndarray = np.where(rows >= 0, per_row[rows], False)
    return out


__all__ = ["HOST_DROPS", "on_one_host"]
