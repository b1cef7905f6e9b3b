"""icmp: ICMP errors quoting a TCP segment, matched to the connection they belong to.

An ICMP error (``decode/icmp.py``) quotes the IP header and the first bytes of the segment that
could not be delivered: its sender, receiver, ports and sequence number. The connection is the
one with that 4-tuple in that direction, the newest one whose segments came before the error
(Wireshark's tcp.stream rule, applied to the quote); the quoted segment is the latest segment
of that direction, sent at or before the error, with the quoted sequence number and, when the
quote's IPv4 IP ID is not 0 and a segment has it, that IP ID: resends share a sequence number,
not an IP ID (the ``quoted_frame``; None when the capture point did not hold it). An error whose 4-tuple matches
no connection stays in ``capture.icmp_frames`` and belongs to none.

Who sent the error matters for the explanation: the quoted segment's receiver itself (its
kernel answered: a port unreachable from the host, a host firewall) or another address (a
router or firewall on the path).

Runs after ``flows`` (it needs connection ids and directions) and before ``detect``: the
matched errors are events (``icmp_error``) and ``Evidence.icmp`` of their connection, which
the classify rules and the ``causes`` recognisers read.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pcapline.decode.icmp import REJECTS, TOO_BIG
from pcapline.model import EVENT_COLUMNS, SYN, EventKind, Side

#: Columns that name one direction of a 4-tuple, in the segments table and in the quote.
_KEY = ("ip_version", "src_hi", "src_lo", "dst_hi", "dst_lo", "sport", "dport")
_QUOTE = ("ip_version", "q_src_hi", "q_src_lo", "q_dst_hi", "q_dst_lo", "q_sport", "q_dport")

#: The error kinds in words (decode/icmp.py KINDS values).
KIND_WORDS: dict[str, str] = {
    "net_unreachable": "network unreachable",
    "host_unreachable": "host unreachable",
    "protocol_unreachable": "protocol unreachable",
    "port_unreachable": "port unreachable",
    "admin_prohibited": "administratively prohibited",
    "unreachable": "destination unreachable",
    "fragmentation_needed": "fragmentation needed",
    "packet_too_big": "packet too big",
    "time_exceeded": "time exceeded",
}


@dataclass(frozen=True, slots=True)
class IcmpError:
    """One ICMP error matched to a connection."""

    frame: int
    time_ns: int
    kind: str  # decode/icmp.py KINDS value
    sender: str  # the address that sent the error
    from_peer: bool  # sent by the quoted segment's receiver (the host), not a box on the path
    quoted_side: Side  # whose segment it quotes
    quoted_frame: int | None  # the captured segment it quotes (None: not captured)
    quoted_syn: bool  # the quoted segment is a SYN (known only when it was captured)
    quoted_len: int  # payload bytes of the quoted segment (0 when not captured)
    mtu: int  # fragmentation needed / packet too big: the MTU it names, else 0

    @property
    def rejects(self) -> bool:
        return self.kind in REJECTS

    @property
    def too_big(self) -> bool:
        return self.kind in TOO_BIG

    @property
    def words(self) -> str:
        return KIND_WORDS.get(self.kind, self.kind)

    def as_inferred(self) -> dict[str, object]:
        return {
            "frame": self.frame,
            "kind": self.kind,
            "from": self.sender,
            "from_peer": self.from_peer,
            "quoted_frame": self.quoted_frame,
            "mtu": self.mtu or None,
        }


@dataclass(frozen=True, slots=True)
class IcmpMatches:
    """The capture's ICMP errors by connection, and their events (``EVENT_COLUMNS``)."""

    by_conn: Mapping[int, tuple[IcmpError, ...]] = field(default_factory=dict)
    events: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=EVENT_COLUMNS))

    def of(self, conns: Collection[int]) -> IcmpMatches:
        """Only the errors of connections ``conns`` (a partition's, a redrawn 4-tuple's)."""
        events = self.events
        return IcmpMatches(
            {c: e for c, e in self.by_conn.items() if c in conns},
            events[events["conn"].isin(conns)].reset_index(drop=True),
        )


def match(icmp: pd.DataFrame, segments: pd.DataFrame) -> IcmpMatches:
    """Match each ICMP error (decode/icmp.py table) to its connection in ``segments`` (with
    flow columns)."""
    if not len(icmp) or not len(segments):
        return IcmpMatches()
    # The quote's 4-tuple in the segments table's column names (the error's own sender, in
    # src_hi/src_lo of ``icmp``, is read from ``icmp`` itself below).
    quotes = icmp.assign(**{k: icmp[q] for k, q in zip(_KEY, _QUOTE, strict=True)})
    seg = segments[
        [*_KEY, "frame", "time_ns", "seq", "seg_len", "flags", "conn", "from_client", "ip_id"]
    ]
    joined = quotes[["frame", "time_ns", "q_seq", *_KEY]].merge(
        seg, on=list(_KEY), suffixes=("", "_seg")
    )
    joined = joined[joined["time_ns_seg"] <= joined["time_ns"]]
    joined = joined.sort_values(["frame", "time_ns_seg", "frame_seg"], kind="stable")
    col = {name: joined[name].to_numpy() for name in joined.columns}
    found: dict[int, list[IcmpError]] = {}
    rows: list[dict[str, object]] = []
    errors = {name: icmp[name].tolist() for name in icmp.columns}
    for k, frame in enumerate(errors["frame"]):
        cands = np.flatnonzero(col["frame"] == frame)
        if not len(cands):
            continue
        conn = int(col["conn"][cands[-1]])  # the newest connection of the 4-tuple before it
        mine = cands[col["conn"][cands] == conn]
        quoted = mine[col["seq"][mine] == errors["q_seq"][k]]
        # Resends of one segment share its sequence number; an IPv4 sender numbering its
        # packets gives each its own IP ID, which the quote keeps: that names the one.
        same_id = quoted[col["ip_id"][quoted] == errors["q_ip_id"][k]]
        if errors["q_ip_id"][k] and len(same_id):
            quoted = same_id
        q = int(quoted[-1]) if len(quoted) else None
        version = int(errors["ip_version"][k])
        sender = _address(version, int(errors["src_hi"][k]), int(errors["src_lo"][k]))
        peer = _address(version, int(errors["q_dst_hi"][k]), int(errors["q_dst_lo"][k]))
        e = IcmpError(
            frame=int(frame),
            time_ns=int(errors["time_ns"][k]),
            kind=str(errors["kind"][k]),
            sender=sender,
            from_peer=sender == peer,
            quoted_side=Side.CLIENT if bool(col["from_client"][mine[-1]]) else Side.SERVER,
            quoted_frame=None if q is None else int(col["frame_seg"][q]),
            quoted_syn=q is not None and bool(int(col["flags"][q]) & SYN),
            quoted_len=0 if q is None else int(col["seg_len"][q]),
            mtu=int(errors["mtu"][k]),
        )
        found.setdefault(conn, []).append(e)
        rows.append(_event_row(conn, e))
    events = pd.DataFrame(rows, columns=list(EVENT_COLUMNS))
    return IcmpMatches({c: tuple(v) for c, v in found.items()}, events)


def with_errors(connections: pd.DataFrame, matches: IcmpMatches) -> pd.DataFrame:
    """The connections table with each connection's span (``last_frame``, ``end_ns``) reaching
    its last ICMP error: the error is part of its story (and its events lie in its span)."""
    if not matches.by_conn:
        return connections
    out = connections.copy()
    for conn, errors in matches.by_conn.items():
        row = out.index[out["id"] == conn]
        last = errors[-1]
        out.loc[row, "last_frame"] = np.maximum(out.loc[row, "last_frame"], last.frame)
        out.loc[row, "end_ns"] = np.maximum(out.loc[row, "end_ns"], last.time_ns)
    return out


def _event_row(conn: int, e: IcmpError) -> dict[str, object]:
    """The ``icmp_error`` event: sent toward the quoted segment's sender, so its side is the
    other one (the direction of the peer's packets), whoever on that path sent it."""
    toward = Side.SERVER if e.quoted_side is Side.CLIENT else Side.CLIENT
    who = "the peer" if e.from_peer else "a router/firewall"
    quoted = f"frame {e.quoted_frame}" if e.quoted_frame is not None else "a segment not captured"
    mtu = f", MTU {e.mtu}" if e.mtu else ""
    return {
        "conn": conn,
        "frame": e.frame,
        "time_ns": e.time_ns,
        "side": toward.value,
        "kind": EventKind.ICMP_ERROR.value,
        "note": f"ICMP {e.words}{mtu} from {e.sender} ({who}), quoting {quoted}",
        "value": float(e.mtu) if e.mtu else np.nan,
    }


def _address(version: int, hi: int, lo: int) -> str:
    if version == 4:
        return str(ipaddress.IPv4Address(lo & 0xFFFFFFFF))
    return str(ipaddress.IPv6Address((hi << 64) | lo))


__all__ = ["KIND_WORDS", "IcmpError", "IcmpMatches", "match", "with_errors"]
