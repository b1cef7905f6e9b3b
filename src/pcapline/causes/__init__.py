"""causes: why a connection met its fate, when the packets name more than the fate.

``classify.RULES`` decides the fate (reset, retransmit_timeout, ...). Once it has, the
recognisers here, in order, may name the cause behind it (``model.Cause``): a RST injected by a
middlebox, a peer that lost its state, a path-MTU black hole... The first that matches names
it; none matching leaves ``cause`` null. One module per cause, each a function
``(Evidence, Decision) -> Cause | None`` that reads the detectors' typed records and never
changes the fate (a cause that changes the fate, such as an ICMP reject making a connect
``refused``, is a rule in ``classify.RULES``; its module here still names the cause).

A recogniser is as cautious as a rule: it names a cause only from packets that show it, and the
decision's confidence and caveats still say how sure the fate is.
"""

from __future__ import annotations

from collections.abc import Callable

from pcapline.causes import (
    app_gave_up,
    half_open_probe,
    keepalive_race,
    orphaned_fin_wait2,
    peer_lost_state,
    scan_probe,
    syn_cookies,
    user_timeout,
)
from pcapline.evidence import Evidence
from pcapline.model import Cause, Decision

Recogniser = Callable[[Evidence, Decision], Cause | None]

from pcapline.causes import (  # noqa: E402  (the modules import Recogniser's types)
    icmp_packet_too_big,
    icmp_reject,
    injected_rst,
    middlebox_idle_timeout,
    path_reset,
    pmtu_black_hole,
)

#: The recognisers, in order: the first that names a cause decides it.
CAUSE_RULES: tuple[tuple[str, Recogniser], ...] = (
    # Causes from the network path: what the path said (ICMP) before what it did silently;
    # an idle-timeout RST is also injected, and the idle timeout is the more specific cause.
    ("icmp_reject", icmp_reject.recognise),
    ("icmp_packet_too_big", icmp_packet_too_big.recognise),
    ("pmtu_black_hole", pmtu_black_hole.recognise),
    ("middlebox_idle_timeout", middlebox_idle_timeout.recognise),
    # A refusal's RST from closer than the server's SYN+ACKs (capture-wide TTLs).
    ("path_reset", path_reset.recognise),
    ("injected_rst", injected_rst.recognise),
    # endpoint causes (causes-host)
    # A scanner's probes, and the client's kernel answering a SYN+ACK it had no socket for:
    # no application was involved on either side.
    ("scan_probe", scan_probe.recognise),
    ("half_open_probe", half_open_probe.recognise),
    # A closed socket's answer to data after its FIN (orphaned, race) before a host with no
    # socket at all: both are stateless RSTs, the FIN tells them apart. The waiting client
    # ended it itself; the retransmission give-up is the sender's own timer.
    ("orphaned_fin_wait2", orphaned_fin_wait2.recognise),
    ("keepalive_race", keepalive_race.recognise),
    ("peer_lost_state", peer_lost_state.recognise),
    ("app_gave_up", app_gave_up.recognise),
    ("user_timeout", user_timeout.recognise),
    ("syn_cookies", syn_cookies.recognise),
)


def name_cause(e: Evidence, d: Decision) -> Cause | None:
    for _name, recognise in CAUSE_RULES:
        cause = recognise(e, d)
        if cause is not None:
            return cause
    return None


__all__ = ["CAUSE_RULES", "Recogniser", "name_cause"]
