"""A scan probe: segments without SYN, ACK or RST, which only a port scanner sends.

Kernel rule (``facts.scan_probes, Facts.scan_probe``): every segment after a SYN carries ACK (RFC 9293
3.10.7.4); a FIN, NULL or Xmas probe (``nmap -sF``, ``-sN``, ``-sX``) carries none, and reads
the port from the answer: a host with no socket for it answers RST + ACK
(``tcp_v4_send_reset``), a listening socket drops it (``tcp_rcv_state_process``). Whatever
fate the segments give (a RST: ``reset``; a FIN unanswered: ``half_closed``), no connection
was open, none failed, and the capture did not begin inside one.
"""

from __future__ import annotations

from pcapline.evidence import Evidence
from pcapline.model import Cause, Decision


def recognise(e: Evidence, d: Decision) -> Cause | None:
    return Cause.SCAN_PROBE if e.handshake.probe is not None else None


__all__ = ["recognise"]
