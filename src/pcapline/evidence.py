"""evidence: everything the classify rules and the explain stage look at for one connection.

``classify.py`` decides a fate from an ``Evidence``; ``explain.py`` words the decision from
the same record. Both import it from here, so neither imports the other.

Per connection it holds every detector's typed record (``detect.ConnDetections``), the counts,
the connection's time span, and the cross-connection facts worked out before deciding
(``stale_peer_rst``: a later connection on the same 4-tuple ended this one).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from pcapline.detect import ConnDetections
from pcapline.detect.artefacts import Artefacts
from pcapline.detect.close import Close
from pcapline.detect.handshake import Handshake
from pcapline.detect.idle import IdleGap
from pcapline.detect.keepalive import Keepalive
from pcapline.detect.path_mtu import PathMtuStall
from pcapline.detect.retransmit import Retransmissions
from pcapline.detect.silent_sender import SilentSender
from pcapline.detect.zero_window import ZeroWindow
from pcapline.icmp import IcmpError
from pcapline.model import Cause, Confidence, Counts, Decision
from pcapline.quality import CaptureQuality, Seen

if TYPE_CHECKING:
    from pcapline.causes.path_reset import PathRst
    from pcapline.listeners import ListenerRetries


@dataclass(frozen=True, slots=True)
class StalePeerReset:
    """A client RST that a later connection's stale-peer exchange drew, ending this connection.

    The new SYN met this connection still open on the server, which answered with a challenge
    ACK (RFC 5961) in this connection's sequence space; the client, which had forgotten this
    connection, reset it. Wireshark's tcp.stream rule groups that RST with the NEW connection,
    but its sequence number is this connection's next client sequence number, so on the server
    it is this connection that ends.
    """

    rst_frame: int  # the client's RST (grouped with ``newer_conn``)
    newer_conn: int  # the connection whose SYN drew the challenge ACK
    idle_s: float  # this connection's last segment -> the RST


@dataclass(frozen=True, slots=True)
class Evidence:
    """Everything the rules may look at for one connection."""

    conn: int
    counts: Counts
    handshake: Handshake
    retransmit: Retransmissions
    keepalive: Keepalive | None  # None: no keepalive probe in the connection
    zero_window: ZeroWindow | None  # None: no zero window in the connection
    close: Close
    artefacts: Artefacts
    path_mtu: PathMtuStall | None  # None: no full-size stall (detect/path_mtu.py)
    idle: IdleGap | None  # None: no unanswered segment after a long idle gap (detect/idle.py)
    #: None: no side fell silent with data unacknowledged (detect/silent_sender.py)
    silent_sender: SilentSender | None
    start_ns: int
    end_ns: int
    capture_end_ns: int
    #: A detector's screen selected this connection: something in it may be unusual. False only
    #: when the connection was visited anyway (``run_all(visit_all=True)``); explain then words
    #: it as the columnar fast path does ("nothing unusual").
    screened: bool = True
    stale_peer_rst: StalePeerReset | None = None  # set on the OLDER connection of the 4-tuple
    #: What the capture could see of it (quality.py): how sure a fate is.
    seen: Seen = field(default_factory=Seen)
    #: Another connection to the same listener (server address and port) had its SYN+ACK
    #: retransmitted: that listener keeps request sockets and retries (``listeners.retrying``).
    listener_retried_synack: bool = False
    #: Its listener stopped resending another SYN+ACK short of the limit it ran others to,
    #: with no ACK or RST captured: its handshakes complete out of the capture's sight
    #: (``listeners.ListenerRetries.acks_unseen``).
    listener_acks_unseen: bool = False
    #: ICMP errors quoting one of its segments (pcapline.icmp), in frame order.
    icmp: tuple[IcmpError, ...] = ()
    #: Both ends are one host's (loopback.on_one_host): no network carried its packets.
    one_host: bool = False
    #: The client's first bytes are an HTTP request and no HTTP response was captured
    #: (pcapline.app; set by ``explain.verdicts`` for a server's close after unanswered data).
    http_unanswered: bool = False
    #: ``Columnar.fin_unacked`` of this connection (set by explain.verdicts).
    fin_unacked: bool = False
    #: How long after its first FIN the capture must go on before the peer's missing FIN is
    #: the peer's (``classify.fin_answer_wait_ns``); 0: not measured (the floor applies).
    fin_answer_wait_ns: int = 0
    #: Its first RST from the server's side arrived with a higher TTL than the server's
    #: SYN+ACKs, same initial TTL (``causes.path_reset``): None when not, or no such RST.
    path_rst: PathRst | None = None

    @classmethod
    def of(
        cls,
        conn: int,
        counts: Counts,
        found: ConnDetections,
        *,
        start_ns: int,
        end_ns: int,
        capture_end_ns: int,
        screened: bool = True,
        stale_peer_rst: StalePeerReset | None = None,
        seen: Seen | None = None,
        listener_retried_synack: bool = False,
        listener_acks_unseen: bool = False,
        icmp: tuple[IcmpError, ...] = (),
        one_host: bool = False,
        fin_answer_wait_ns: int = 0,
        path_rst: PathRst | None = None,
    ) -> Evidence:
        """The evidence of one visited connection from its detectors' records."""
        return cls(
            conn=conn,
            counts=counts,
            handshake=found.handshake.inferred,
            retransmit=found.retransmit.inferred,
            keepalive=found.keepalive.inferred,
            zero_window=found.zero_window.inferred,
            close=found.close.inferred,
            artefacts=found.artefacts.inferred,
            path_mtu=found.path_mtu.inferred,
            idle=found.idle.inferred,
            silent_sender=found.silent_sender.inferred,
            start_ns=start_ns,
            end_ns=end_ns,
            capture_end_ns=capture_end_ns,
            screened=screened,
            stale_peer_rst=stale_peer_rst,
            seen=seen if seen is not None else Seen(),
            listener_retried_synack=listener_retried_synack,
            listener_acks_unseen=listener_acks_unseen,
            icmp=icmp,
            one_host=one_host,
            fin_answer_wait_ns=fin_answer_wait_ns,
            path_rst=path_rst,
        )


@dataclass(frozen=True, slots=True)
class Columnar:
    """Per connection (``Classified.conn_ids`` order), computed columnar for every connection:
    what explain reads for the connections classify's fast path decided."""

    rtt_ms: np.ndarray  # handshake RTT (detect.handshake.handshake_rtt_ms), NaN if not measurable
    #: The two halves of that round trip at the capture point, in ns: SYN -> SYN+ACK and
    #: SYN+ACK -> ACK (``detect.handshake.handshake_loops``; the delays stage reads them).
    loops: tuple[np.ndarray, np.ndarray]
    # Capture artefacts, counted as detect/artefacts.py counts them:
    capture_start: np.ndarray  # bool: no SYN seen (the capture began inside the connection)
    duplicates: np.ndarray  # int: packets captured twice (facts.is_dup)
    super_segments: np.ndarray  # int: segments larger than the MSS (facts.super_segment)
    #: bool: one side sent a FIN and the other's segments never acknowledged it
    #: (``classify.fin_unacknowledged``): that the peer got it, so its CLOSE_WAIT, is not shown.
    fin_unacked: np.ndarray | None = None


@dataclass(frozen=True, slots=True)
class Classified:
    """classify's output for one capture, explain's input: every connection's decision, as
    columns (``conn_ids`` order; most connections are decided columnar by the fast path).

    ``evidence`` and ``decisions`` hold the connections decided through the rules (explain
    words those from their evidence); the others explain words from ``columnar``.
    """

    conn_ids: np.ndarray  # int64, ascending (facts.conn_ids)
    fate: np.ndarray  # object: Fate
    closer: np.ndarray  # object: Side or None
    reset_by: np.ndarray  # object: Side or None
    evidence_frames: list[tuple[int, ...]]
    counts: Mapping[str, np.ndarray]  # Counts field -> int64 per connection (a stale-peer RST
    # counts in the connection it ended, not where tcp.stream grouped it)
    evidence: Mapping[int, Evidence]  # conn id -> evidence, rules-decided connections only
    decisions: Mapping[int, Decision]  # conn id -> decision, the same connections
    columnar: Columnar
    #: What the capture point missed (quality.py); ``confidence``/``caveats`` per connection
    #: (``conn_ids`` order), decided with the fate.
    quality: CaptureQuality | None = None
    confidence: list[Confidence] | None = None
    caveats: list[tuple[str, ...]] | None = None
    cause: list[Cause | None] | None = None  # model.Cause per connection (None: none named)
    #: Per listener, what these connections' SYN+ACK retries show (``listeners.by_listener``).
    listeners: Mapping[str, ListenerRetries] = field(default_factory=dict)


__all__ = ["Classified", "Columnar", "Evidence", "StalePeerReset"]
