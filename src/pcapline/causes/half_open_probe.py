"""A half-open probe: the client's kernel answered the server's SYN+ACK with a RST.

Kernel rule: a connecting socket (SYN_SENT) that receives an acceptable SYN+ACK always
acknowledges it (``tcp_rcv_synsent_state_process`` -> ``tcp_finish_connect``, then the ACK).
Only a host with no socket for the 4-tuple answers it with a RST, and that RST carries no ACK
bit and takes the SYN+ACK's ACK number as its sequence number (``tcp_v4_send_reset`` /
``tcp_v6_send_reset``: ``Reset.stateless``). So the SYN did not come from a socket still
connecting when the answer came: it came from a raw socket (a SYN port scanner such as
``nmap -sS`` or masscan, or a load balancer's or monitor's half-open TCP check, which sends a
SYN, reads the SYN+ACK as "port open" and leaves the reset to its kernel), or from a client
that closed its socket before the SYN+ACK arrived (``close()`` of a SYN_SENT socket sends
nothing: ``__tcp_close`` -> ``tcp_close_state``). The server's side is healthy: it listens and
it answered.

Named when a ``reset`` ends in the client's stateless RST answering the first SYN+ACK (the
segment just before it), the client neither acknowledged it nor sent data, and none of the
other readings of that RST fits:

- a SYN sent again: a kernel socket was connecting and waited (a prober sends one);
- a SYN with the timestamps option: a kernel's ``connect()`` (Linux and macOS send it by
  default, nmap and masscan do not): a client that gave up, not a probe;
- a SYN+ACK that does not acknowledge the SYN exactly: a connecting socket resets an
  unacceptable SYN+ACK the same way and stays connecting (``reset_and_undo``);
- a SYN from the server too: a simultaneous open;
- client data before the RST (a socket was talking). Data after it, at the RST's sequence
  number, came from no kernel socket (its kernel had just said it had none): the same tool
  sending a probe of its own (zeek modbus-and-non-modbus-p502: data 15.6 s after the RST).
"""

from __future__ import annotations

from pcapline.detect.handshake import Handshake
from pcapline.evidence import Evidence
from pcapline.model import Cause, Decision, Fate, Side


def recognise(e: Evidence, d: Decision) -> Cause | None:
    r = e.close.ending_reset
    h = e.handshake
    if d.fate is not Fate.RESET or r is None or d.evidence_frames != (r.frame,):
        return None
    if r.side is not Side.CLIENT or r.state != "handshake" or not r.stateless:
        return None
    if h.synack_reset != r.frame or h.client_acked or _data_before(h, r.frame):
        return None
    if h.syn is None or h.syn.retries or h.synack is None:
        return None
    shape = h.synack_reset_shape
    if shape is None or shape.syn_to_synack_s is None or r.answers_frame != h.synack.frames[0]:
        return None
    if shape.syn_timestamps or not shape.acks_syn or shape.server_syn:
        return None
    return Cause.HALF_OPEN_PROBE


def _data_before(h: Handshake, rst_frame: int) -> bool:
    """The client sent data before its RST (a socket talking: no probe). Data only after it
    came from no kernel socket either (its kernel had just answered that it had none): the
    tool that sent the SYN, sending a probe of its own (masscan --banners)."""
    return h.client_sent_data and (h.client_data_frame is None or h.client_data_frame < rst_frame)


__all__ = ["recognise"]
