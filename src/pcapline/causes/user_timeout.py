"""TCP_USER_TIMEOUT cut a retransmission backoff short.

Kernel rule (tcp_clamp_rto_to_user_timeout, retransmits_timed_out): with TCP_USER_TIMEOUT set,
the retransmission timer is clamped to the time the user timeout has left, so the last gap of the
backoff is shorter than doubling predicts, and the connection is aborted when it fires
(``RtoSeries.user_timeout_shape``). A give-up on the doubling grid is tcp_retries2 or a user
timeout alike (explain says both); only the shortened last gap names the user timeout.

A keepalive give-up is never named here: TCP_USER_TIMEOUT ends keepalive probing only at a probe
firing (tcp_keepalive_timer), on the idle + n x interval grid, exactly where a smaller
TCP_KEEPCNT would, so the wire cannot tell the two apart.
"""

from __future__ import annotations

from pcapline.evidence import Evidence
from pcapline.model import Cause, Decision, Fate


def recognise(e: Evidence, d: Decision) -> Cause | None:
    s = e.retransmit.last_series
    if d.fate is not Fate.RETRANSMIT_TIMEOUT or s is None or not s.user_timeout_shape:
        return None
    return Cause.USER_TIMEOUT
