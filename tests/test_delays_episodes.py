"""delays._Resent: what the retransmission episodes read at each event, found for every
connection of a capture at once, equals the rule read event by event (the frame's row, the
first peer ACK after it acknowledging past its first byte, the peer's last ACK before it,
whether the capture holds any of the peer's packets),
and what it finds for one connection alone, on every sample capture with retransmissions
(real kernels, both directions, one-sided captures): no connection's rows leak into another's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from builders.conversation import CLIENT, SERVER, Conversation, pcap_bytes
from builders.pipeline import flowed_segments

import pcapline
from pcapline.delays import Stall, _answered_after, _episodes, _Resent, _Rows
from pcapline.detect import DetectResult, run_all
from pcapline.facts import first_at_least
from pcapline.model import Event, EventKind, Side, StallCause

SAMPLES = Path(__file__).resolve().parents[1] / "sample_captures"
_RESENT = (EventKind.RETRANSMIT, EventKind.FAST_RETRANSMIT)


def _detected(path: Path, keep: str = "both") -> DetectResult | None:
    """``keep``: "both" directions, or the "client"'s or the "server"'s alone (a one-sided
    tap: the other side's packets dropped after flows numbered the connections)."""
    flowed = flowed_segments(path)
    if flowed is None:
        return None
    segs, end = flowed
    if keep != "both":
        segs = segs[segs["from_client"] == (keep == "client")].reset_index(drop=True)
    return run_all(segs, capture_end_ns=end, visit_all=True)


def _one_by_one(view: _Rows, event: Event) -> tuple[int, bool, bool, int, bool, int, int, int]:
    """The rule for one event, read literally (the per-event searches ``_Resent`` replaced)."""
    i = int(view.frame.searchsorted(event.frame))
    client = bool(view.from_client[i])
    peer = np.flatnonzero((view.from_client != client) & view.ack)
    highest = np.maximum.accumulate(view.rel_ack[peer]) if len(peer) else peer
    j = max(
        int(peer.searchsorted(i, side="right")),
        int(highest.searchsorted(int(view.rel_seq[i]), side="right")),
    )
    ack_row = int(peer[j]) if j < len(peer) else None
    before = peer[: int(peer.searchsorted(i))]
    spoke = int(before[-1]) if len(before) else i
    # The sender's first data above the resent bytes, before the resend (its own row: none).
    mine = (view.from_client[:i] == client) & (view.seg_len[:i] > 0) & ~view.is_dup[:i]
    above = np.flatnonzero(mine & (view.rel_seq[:i] > view.rel_seq[i]))
    hole = int(above[0]) if len(above) else i
    time_ns = view.time_ns
    return (
        i,
        client,
        bool(view.from_client.all()) if client else not view.from_client.any(),
        int(time_ns[i]),
        ack_row is not None,
        int(time_ns[ack_row if ack_row is not None else i]),
        int(time_ns[spoke]),
        int(time_ns[hole]),
    )


def _found(resent: _Resent, conn: int) -> list[tuple[int, bool, bool, int, bool, int, int, int]]:
    lo, hi = resent.events[conn]
    columns = (
        resent.rows,
        resent.client,
        resent.peer_unseen,
        resent.time_ns,
        resent.acked,
        resent.ack_ns,
        resent.peer_spoke_ns,
        resent.hole_ns,
    )
    return list(zip(*(c[lo:hi] for c in columns), strict=True))


def _resent_checked(path: Path, keep: str = "both") -> int:
    """Retransmissions of one capture whose look-ups were compared (0: none to compare)."""
    found = _detected(path, keep)
    if found is None:
        return 0
    facts = found.facts
    together = _Resent.of(facts, found.events)
    position = {conn: i for i, conn in enumerate(facts.conn_ids.tolist())}
    checked = 0
    for conn, (lo, hi) in together.events.items():
        resent = found.detections[conn].retransmit.events
        events = [e for e in resent if e.kind in _RESENT]
        assert events and together.kind[lo:hi] == [e.kind.value for e in events]
        gaps = [np.nan if e.value is None else e.value for e in events]
        np.testing.assert_array_equal(together.gap[lo:hi], gaps)
        view = _Rows.of(facts, position[conn])
        expected = [_one_by_one(view, e) for e in events]
        assert _found(together, conn) == expected, (path.name, conn)
        alone = _Resent.of(facts, found.events[found.events["conn"] == conn])
        assert _found(alone, conn) == expected, (path.name, conn)
        checked += len(events)
    return checked


def test_resent_equals_the_rule_event_by_event() -> None:
    # Every sample capture; most hold no retransmission, so they are walked in one test
    # that must have compared enough of them rather than one skipped test each.
    checked = {path.name: _resent_checked(path) for path in sorted(SAMPLES.glob("*.pcap"))}
    with_resends = [name for name, n in checked.items() if n]
    assert len(with_resends) >= 15, with_resends
    assert sum(checked.values()) >= 100


def test_resent_equals_the_rule_on_client_side_captures() -> None:
    # The server's packets dropped: each resend says its connection holds none of the
    # peer's. (The samples' servers resend no data on a timer or fast: a server-side
    # capture leaves nothing to compare.)
    checked = {p.name: _resent_checked(p, "client") for p in sorted(SAMPLES.glob("*.pcap"))}
    assert sum(n > 0 for n in checked.values()) >= 10, checked


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("seed", range(5))
def test_first_at_least_equals_a_search_in_each_run(seed: int, side: str) -> None:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(0, 6, size=30)  # some runs empty
    starts = np.concatenate([[0], np.cumsum(sizes)])
    values = np.concatenate([np.sort(rng.integers(0, 9, size=k)) for k in sizes])
    run = rng.integers(0, len(sizes), size=200)
    x = rng.integers(-1, 10, size=200)
    lo, hi = starts[run], starts[run + 1]
    expected = [
        int(a + values[a:b].searchsorted(v, side=side))
        for a, b, v in zip(lo.tolist(), hi.tolist(), x.tolist(), strict=True)
    ]
    # delays asks both: the first row at a frame (left) and the first ACK above a seq (right).
    target = x if side == "left" else x + 1
    assert first_at_least(values, lo, hi, target).tolist() == expected


def _episodes_of_kind(view: _Rows, resent: _Resent, kind: EventKind) -> list[Stall]:
    """The episodes of one kind, a walk of its own, the capture's sides asked of ``view``:
    what ``_episodes`` did once per kind before it walked both at once."""
    lo, hi = resent.events.get(view.conn, (0, 0))
    alone = {True: bool(view.from_client.all()), False: not view.from_client.any()}
    episodes: list[list] = []  # [client, start_ns, end_ns, recovered, row]
    latest_of: dict[bool, list] = {}

    def mine(k: int, client: bool) -> bool:
        return bool(view.from_client[k] == client and view.is_retrans[k])

    for n in range(lo, hi):
        if resent.kind[n] != kind.value:
            continue
        i, client = resent.rows[n], resent.client[n]
        if alone[client]:  # the peer unseen: over when the sender's ACK number rose
            answered = _answered_after(view, i)
            if answered is None:
                continue
            ended, end_ns = True, int(view.time_ns[answered])
            if view.rel_ack[answered] > view.rel_ack[i]:  # the peer's data came: to the last resend
                resends = [k for k in range(i, answered) if mine(k, client)]
                end_ns = int(view.time_ns[resends[-1]])
        else:
            ended, end_ns = resent.acked[n], resent.ack_ns[n]
        latest = latest_of.get(client)
        gap = resent.gap[n]
        # A loss recovery copy whose first copy was never captured: from where its hole
        # opened, and one recovery with the episode that hole opened in.
        unseen_first = kind is EventKind.FAST_RETRANSMIT and gap != gap
        same_burst = unseen_first and latest is not None and resent.hole_ns[n] <= latest[2]
        if latest is not None and (not latest[3] or resent.time_ns[n] <= latest[2] or same_burst):
            latest[2], latest[3] = max(latest[2], end_ns), ended
            continue
        if gap == gap:
            start_ns = resent.time_ns[n] - round(gap * 1e9)
        else:
            start_ns = resent.hole_ns[n] if unseen_first else resent.peer_spoke_ns[n]
        if latest is not None:  # over before this copy: the new one starts after it
            start_ns = max(start_ns, latest[2])
        latest = latest_of[client] = [client, start_ns, end_ns, ended, i]
        episodes.append(latest)
    out = []
    for client, start_ns, end_ns, recovered, row in episodes:
        first = min(int(view.time_ns.searchsorted(start_ns)), row)
        side = Side.CLIENT if client else Side.SERVER
        out.append(Stall(StallCause.RTO, side, start_ns, end_ns, recovered, int(view.frame[first])))
    return out


def _timer_took_over(rto: list[Stall], fast: list[Stall]) -> bool:
    """A loss recovery episode of a side that overlaps a timeout episode of that side (its
    copies did not repair the loss, the RTO fired)."""
    return any(
        f.side == r.side and f.start_ns < r.end_ns and (not f.recovered or f.end_ns > r.start_ns)
        for r in rto
        for f in fast
    )


@pytest.mark.parametrize("keep", ["both", "client"])
def test_episodes_of_both_kinds_equal_a_walk_per_kind(keep: str) -> None:
    """One walk for both kinds finds what a walk per kind finds, but where the RTO fired
    during a loss recovery episode: that is one outage, the timeout's (``_absorb``)."""
    compared = absorbed = 0
    for path in sorted(SAMPLES.glob("*.pcap")):
        found = _detected(path, keep)
        if found is None:
            continue
        facts = found.facts
        resent = _Resent.of(facts, found.events)
        for conn in resent.events:
            view = _Rows.of(facts, int(np.searchsorted(facts.conn_ids, conn)))
            want = tuple(
                _episodes_of_kind(view, resent, kind)
                for kind in (EventKind.RETRANSMIT, EventKind.FAST_RETRANSMIT)
            )
            got = _episodes(view, resent)
            if _timer_took_over(*want):
                absorbed += 1
                assert not _timer_took_over(*got), (path.name, conn)
                assert len(got[1]) < len(want[1]), (path.name, conn)
                continue
            assert got == want, (path.name, conn)
            compared += sum(map(len, want))
    assert compared >= (50 if keep == "both" else 10)
    assert absorbed >= (5 if keep == "both" else 1)


def test_a_one_sided_outage_is_one_episode_until_the_senders_ack_rose() -> None:
    """The client's side alone of a request lost for 3.3 s (a loss probe, then four RTOs):
    one episode from the request's first send to the last resend before the client's own ACK
    number rose (the server answered; that resend got through), as with both sides captured. Each copy made an episode of its own
    (ended at the copy), and the probe a fast recovery episode beside them."""
    found = {}
    for keep in ("both", "client"):
        detected = _detected(SAMPLES / "slow-answers-lost-3s-at-client.pcap", keep)
        assert detected is not None
        resent = _Resent.of(detected.facts, detected.events)
        found[keep] = _episodes(_Rows.of(detected.facts, 0), resent)
    rto, fast = found["client"]
    assert fast == [] and len(rto) == 1 and rto[0].recovered
    (seen,), _ = found["both"]
    # The client's ACK number rose with the server's answer: the episode ends at the last
    # resend before it (the one that got through), 28 us before the server's ACK of it.
    assert (rto[0].start_ns, rto[0].frame) == (seen.start_ns, seen.frame)
    assert seen.end_ns - rto[0].end_ns == 28_000
    assert round((rto[0].end_ns - rto[0].start_ns) / 1e9, 2) == 3.34


def test_a_one_way_senders_outage_ends_when_its_new_data_goes_out(tmp_path: Path) -> None:
    """Only the sender's side of a bulk send: its ACK number never moves (the peer sends no
    data), so it cannot end an episode; its new data after the RTO can (Linux sends nothing
    new before the resent data's ACK). One recovered episode, first send to new data; none
    was counted while episodes waited for the ACK number, two (each ending at a copy)
    before that."""
    c = Conversation().syn(0.0).synack(0.0005, captured=False).ack(CLIENT, 0.001)
    for k in range(5):
        c.data(CLIENT, 0.01 + 0.001 * k, 1000).ack(SERVER, 0.011 + 0.001 * k, captured=False)
    seq = c.nxt(CLIENT)
    c.data(CLIENT, 0.02, 1000)  # lost
    c.data(CLIENT, 0.22, 1000, seq=seq).data(CLIENT, 0.62, 1000, seq=seq)  # RTO 200, 400 ms
    c.ack(SERVER, 0.621, captured=False)
    for k in range(3):
        c.data(CLIENT, 0.622 + 0.001 * k, 1000).ack(SERVER, 0.6225 + 0.001 * k, captured=False)
    path = tmp_path / "one-way.pcap"
    path.write_bytes(pcap_bytes(c))
    (stall,) = pcapline.analyze(str(path)).delays.get(0).stalls
    assert stall.recovered and stall.frame == 8
    assert round((stall.end_ns - stall.start_ns) / 1e9, 3) == 0.602


def test_a_burst_lost_before_a_receivers_capture_is_one_recovery(tmp_path: Path) -> None:
    """Real kernel (tbf 2 mbit with a 12 kB queue, CUBIC, 40 ms path): the server's kernel
    counted 4 SACK recoveries (nstat TcpExtTCPSackRecovery) and the server's capture 4
    episodes, 0.73 s; the client's capture read 8 episodes of 0.044 s in all. There the
    lost copies were never captured, so each episode began at the client's dupACK just before
    the resend and ended at its ACK of the resent copy a few ms later, and each resent hole
    of one burst made an episode of its own. An episode now begins where the hole opened
    (the server's first data above the lost bytes went by) and a hole that opened before the
    episode ended is the same recovery."""
    c = Conversation(server=("10.0.0.2", 9000))
    c.syn(0.0, sack_perm=True).synack(0.02, sack_perm=True).ack(CLIENT, 0.04)
    c.data(CLIENT, 0.05, 10)
    mss, first = 1000, c.server_isn + 1
    for k in range(10):  # the server's flight; segments 2 and 4 lost before the client
        c.data(SERVER, 0.10 + k * 0.002, mss, captured=k not in (2, 4))
        if k not in (2, 4):  # the client's ACKs, SACKing what came above the hole
            sack = (first + 3 * mss, first + (k + 1) * mss) if k > 2 else None
            c.ack(CLIENT, 0.1001 + k * 0.002, ack=first + mss * min(k + 1, 2), sack_edges=sack)
    c.data(SERVER, 0.15, mss, seq=first + 2 * mss)  # fast retransmit of 2 (3 dupACKs)
    c.ack(CLIENT, 0.1501, ack=first + 4 * mss, sack_edges=(first + 5 * mss, first + 10 * mss))
    c.data(SERVER, 0.16, mss, seq=first + 4 * mss)  # and of 4 (after SACK)
    c.ack(CLIENT, 0.1601, ack=first + 10 * mss)
    c.fin(SERVER, 0.2).fin(CLIENT, 0.21).ack(SERVER, 0.25)
    path = tmp_path / "receiver.pcap"
    path.write_bytes(pcap_bytes(c))
    a = pcapline.analyze(path)
    d = a.delays[int(a.connections.iloc[0].id)]
    # one recovery (before: 2, 0.042 s from the dupACK before each resend), from segment 3
    # (the first above the lost 2, at 0.106 s) to the ACK of the last hole
    assert d.fast_recovery_episodes == 1
    assert abs(d.fast_recovery_s - (0.1601 - 0.106)) < 1e-6


def test_a_payload_filtered_capture_bounds_recovery_by_the_resends(tmp_path: Path) -> None:
    """A capture filtered to payload (no bare segment: 'tcp.len > 0'), as the corpus's tls2:
    the server's tail loss probe 30 ms after its last segment, the client's ACK of it seen
    only on the client's next request 400 ms later (its bare ACK filtered out). Fast recovery
    read 0.43 s, to that request; what the capture shows is the original to the probe."""
    c = Conversation()
    for k in range(12):  # request / answer turns, every segment carrying data
        c.data(CLIENT, 0.1 * k, 50).data(SERVER, 0.1 * k + 0.01, 500)
    seq = c.nxt(SERVER)
    c.data(SERVER, 1.3, 500)
    c.data(SERVER, 1.33, 500, seq=seq)  # the tail loss probe
    c.data(CLIENT, 1.73, 50)  # acknowledges both, on data: the bare ACK before it filtered
    for k in range(10):
        c.data(SERVER, 1.74 + 0.1 * k, 500).data(CLIENT, 1.79 + 0.1 * k, 50)
    path = tmp_path / "payload-only.pcap"
    path.write_bytes(pcap_bytes(c))
    a = pcapline.analyze(str(path))
    assert a.connections.iloc[0].caveats == ["acks_filtered"]
    d = a.delays[int(a.connections.iloc[0].id)]
    assert d.fast_recovery_episodes == 1
    assert abs(d.fast_recovery_s - 0.03) < 1e-6
