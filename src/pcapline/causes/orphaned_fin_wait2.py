"""Orphaned FIN_WAIT2: the closer's socket was gone when the peer's late segment came.

Kernel rules (tcp_rcv_state_process, tcp_timewait_state_process, tcp_fin_time): a socket the
application close()d is an orphan; once its FIN is acknowledged it waits in FIN_WAIT2 for the
peer's FIN for net.ipv4.tcp_fin_timeout (default 60 s; TCP_LINGER2 per socket), then is freed.
Data reaching it, in FIN_WAIT2 or after it was freed, is answered with a RST (no ACK bit, seq =
the segment's ACK number, TcpExtTCPAbortOnData); the peer's FIN is acknowledged in FIN_WAIT2 and
answered with a RST only once the socket is gone. The peer, meanwhile, sat in CLOSE_WAIT: it had
acknowledged the FIN and its application neither closed nor wrote for a while.

Named when the closer's RST answers the peer's first data or FIN after the closer's FIN (and no
RST of the closer's came between), that segment acknowledged the FIN (the peer had it) and came
at least ``LATE_S`` after it; a bare FIN answered so proves the socket was gone.

Not when the closer is a client that had been waiting for an answer (``Close.waited`` ends at
its FIN: its request acknowledged, nothing sent back for a second or more): then the late data
is the answer the server still owed, not a CLOSE_WAIT application writing on a connection it
should have closed. The kernel sequence is the same (the orphan answers the data with RST), but
the client gave up waiting (``app_gave_up``).
"""

from __future__ import annotations

from pcapline.evidence import Evidence
from pcapline.model import Cause, Decision, Fate, Side

#: The peer's segment this long after the closer's FIN is late: not a request crossing the FIN
#: (``keepalive_race``), but an application that sat in CLOSE_WAIT.
LATE_S = 1.0


def gave_up_before_fin(e: Evidence) -> bool:
    """The closer is a client that closed after waiting for an answer it was owed: its FIN
    ends ``Close.waited`` (its last data acknowledged, the server silent a second or more),
    and its RST answers the server's first segment after that FIN."""
    w, r = e.close.waited, e.close.ending_reset
    return (
        w is not None
        and r is not None
        and r.side is Side.CLIENT
        and r.late_frame is not None
        and not w.by_rst
        and w.end_frame == e.close.client_fin_frame
    )


def recognise(e: Evidence, d: Decision) -> Cause | None:
    r = e.close.ending_reset
    if r is None or not r.stateless or r.late_frame is None or r.late_crossed_fin:
        return None
    if r.late_after_fin_s is None or r.late_after_fin_s < LATE_S:
        return None  # (tcp_fin_time never frees a FIN_WAIT2 socket sooner than 3.5 RTOs)
    if gave_up_before_fin(e):
        return None  # the late segment is the answer it still owed: app_gave_up
    if e.seen.mid_stream or e.seen.lossy:
        return None  # the request it may have been waiting on is not in the capture
    ended = d.fate is Fate.RESET and d.evidence_frames == (r.frame,)
    if r.late_is_fin and (ended or d.fate is Fate.CLOSED):
        return Cause.ORPHANED_FIN_WAIT2  # FIN_WAIT2 would have acknowledged the FIN
    return Cause.ORPHANED_FIN_WAIT2 if ended else None
