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
"""

from __future__ import annotations

from pcapline.evidence import Evidence
from pcapline.model import Cause, Decision, Fate

#: The peer's segment this long after the closer's FIN is late: not a request crossing the FIN
#: (``keepalive_race``), but an application that sat in CLOSE_WAIT.
LATE_S = 1.0


def recognise(e: Evidence, d: Decision) -> Cause | None:
    r = e.close.ending_reset
    if r is None or not r.stateless or r.late_frame is None or r.late_crossed_fin:
        return None
    if r.late_after_fin_s is None or r.late_after_fin_s < LATE_S:
        return None  # (tcp_fin_time never frees a FIN_WAIT2 socket sooner than 3.5 RTOs)
    ended = d.fate is Fate.RESET and d.evidence_frames == (r.frame,)
    if r.late_is_fin and (ended or d.fate is Fate.CLOSED):
        return Cause.ORPHANED_FIN_WAIT2  # FIN_WAIT2 would have acknowledged the FIN
    return Cause.ORPHANED_FIN_WAIT2 if ended else None
