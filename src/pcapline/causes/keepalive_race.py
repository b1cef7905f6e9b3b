"""The keep-alive race: one side closes an idle connection while the other sends a request.

HTTP/1.1 keep-alive, database and RPC pools reuse an idle connection; the server closes it after
its own idle timeout. When the client's next request leaves before the server's FIN arrived (or
before its application noticed it), the request reaches a closed socket, and the kernel answers
data after close() with a RST (tcp_rcv_state_process, TcpExtTCPAbortOnData; no ACK bit, seq =
the request's ACK number). The client sees ECONNRESET on a request the server never read.

Named when the connection was idle at least ``IDLE_S`` before the closer's FIN and the peer's
data that drew the RST crossed the FIN: it does not acknowledge the FIN, so it left before the
FIN arrived. Data that acknowledges the FIN may still be a request written before the
application noticed the end of the stream, but just as well the peer's answer to the close (a
goodbye message, a TLS close_notify: a real-kernel server that writes on EOF looks the same,
``reset-goodbye-after-close.pcap``): the capture cannot tell, so no cause is named. Nor when the
peer's own FIN followed its data at once (``Reset.late_then_fin``): a client that raced sends
a request and waits for the answer; a peer that writes and closes was closing too.
"""

from __future__ import annotations

from pcapline.evidence import Evidence
from pcapline.model import Cause, Decision, Fate

#: A connection quiet this long before a FIN was idle: its closer ended an idle connection
#: (an idle timeout), not a finished exchange.
IDLE_S = 1.0


def recognise(e: Evidence, d: Decision) -> Cause | None:
    r = e.close.ending_reset
    if d.fate is not Fate.RESET or r is None or d.evidence_frames != (r.frame,):
        return None
    if not r.stateless or r.late_frame is None or r.late_is_fin or r.data_after_close is None:
        return None
    if r.late_then_fin:
        return None  # it answered the close with last words, it did not race it
    if r.idle_before_fin_s is None or r.idle_before_fin_s < IDLE_S:
        return None
    return Cause.KEEPALIVE_RACE if r.late_crossed_fin else None
