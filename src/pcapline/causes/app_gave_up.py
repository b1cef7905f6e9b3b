"""The application gave up waiting: the request was acknowledged, no answer came, the client
closed or aborted.

The server's kernel acknowledges a request as soon as it arrives (delayed ACK at most 40-200 ms):
that ACK says nothing about its application. When the server then sends nothing and the client
ends the connection itself, with a FIN (close()) or a RST (abortive close, SO_LINGER {1, 0}),
some seconds later, the client's application stopped waiting: a read or request timeout of
about that long. The silent side is the server's application (busy, blocked, deadlocked, or
waiting on something of its own), not the network: its kernel answered.

Named from ``Close.waited`` (detect/close.py) when the client's FIN or RST is what ended it,
and only when the capture could have held the answer: both directions captured, none of the
connection's segments missing at the capture point, no packets dropped. Also when the client
closed (FIN) after waiting and the connection then ended with its orphaned socket's RST to the
server's late answer (``orphaned_fin_wait2.gave_up_before_fin``): the answer came after the
client had stopped waiting.
"""

from __future__ import annotations

from pcapline.causes.orphaned_fin_wait2 import gave_up_before_fin
from pcapline.evidence import Evidence
from pcapline.model import Cause, Decision, Fate


def recognise(e: Evidence, d: Decision) -> Cause | None:
    w = e.close.waited
    if w is None:
        return None
    if w.end_frame not in d.evidence_frames and not gave_up_before_fin(e):
        return None
    if d.fate not in (Fate.RESET, Fate.CLOSED, Fate.HALF_CLOSED):
        return None
    r = e.close.ending_reset
    if w.by_rst and r is not None and r.stateless and not r.has_ack:
        # No ACK bit, seq = the ACK number of the segment it answers: the kernel's answer for
        # a socket it no longer has (tcp_v4_send_reset), not an application's abort (RST+ACK
        # at its own snd.nxt, tcp_send_active_reset). The socket was gone before the client
        # sent it: its own timer gave up (a zero-window stall's persist timer and
        # TCP_USER_TIMEOUT) or its host lost the connection.
        return None
    if e.seen.lossy or e.seen.one_direction or e.seen.dropped:
        return None  # the server's answer may be what the capture did not hold
    return Cause.APP_GAVE_UP
