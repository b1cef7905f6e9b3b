"""The ``pcapline/1`` JSON contract, transcribed key by key from docs/contract.md.

``check_document(doc)`` fails with the JSON path of the first violation. It is written from
the design document, not from jsondoc.py, so a renderer change that breaks the contract fails.
"""

from __future__ import annotations

from typing import Any

from pcapline.model import CAUSES, CAVEATS, Confidence, EventKind, Fate, SkipReason

CAPTURE_KEYS = [
    "path",
    "format",
    "link_types",
    "frames",
    "tcp_frames",
    # issue 9 (compatible extension): ICMP errors quoting a TCP segment, analysed
    "icmp_frames",
    "first_time",
    "last_time",
    "skipped",
    "warnings",
    "quality",
]
QUALITY_KEYS = [
    "segments_not_captured",
    "acked_unseen",
    "lossy_connections",
    "first_missing_frames",
    "flag_filtered",
    "acks_filtered",
    "one_sided_connections",
    "mid_stream_connections",
    "acks_before_data",
    "clocks_apart_ms",
    "captured_twice",
    "two_point_connections",
    "snaplen",
    "frames_cut_by_snaplen",
    "interface_drops",
    "os_drops",
]
#: quality keys that are null when the file does not state them.
QUALITY_NULLABLE = {"snaplen", "interface_drops", "os_drops", "clocks_apart_ms"}
CONNECTION_KEYS = [
    "id",
    "client",
    "server",
    "client_guessed",
    "first_frame",
    "last_frame",
    "start",
    "end",
    "duration",
    "packets",
    "bytes_client",
    "bytes_server",
    "fate",
    "closer",
    "reset_by",
    "counts",
    "inferred",
    "explanation",
    "confidence",
    "caveats",
    # issue 9 (compatible extension): the cause behind the fate when the packets name one
    "cause",
    "events",
    # issue 10 (compatible extension): what the connection lost, and its slow tags
    "delays",
    "slow",
    # issue 12 (compatible extension): what the first payloads carried (TLS / HTTP)
    "app",
    # issue 9 (compatible extension): what the capture holds of the connection
    "seen",
    # compatible extension: the frames the verdict rests on
    "evidence_frames",
]
#: ``connections[].app`` (docs/contract.md, "app"), its ``tls`` and ``http`` objects.
APP_KEYS = ["protocol", "frame", "tls", "http"]
APP_TLS_KEYS = ["sni", "alpn", "client_version", "version", "alpn_selected"]
APP_HTTP_KEYS = ["method", "host", "path", "version", "status", "reason"]
#: ``connections[].seen`` keys (null when not known), each a bool.
SEEN_KEYS = ["client", "server", "syn", "synack", "end", "segments_missing"]
#: ``connections[].delays`` (README "JSON contract", ``delays``), in this order.
DELAY_KEYS = [
    "connect_s",
    "syn_retries",
    "syn_gaps_s",
    "synack_retries",
    "synack_gaps_s",
    "handshake_rtt_ms",
    "data_rtt_ms",
    "response_s",
    "responses",
    "response_max_s",
    "response_median_s",
    "response_max_turn",
    "response_max_at",
    "response_judged",
    "response_from",
    "longest_silence_s",
    "longest_silence_side",
    "rto_episodes",
    "rto_unrecovered",
    "rto_s",
    "fast_recovery_episodes",
    "fast_recovery_s",
    "zero_window_s",
    "window_full_s",
    "window_full_episodes",
    "nagle_s",
    "nagle_episodes",
    "app_pause_s",
    "app_pause_side",
    "idle_restarts",
    "idle_restart_s",
    "transfer_side",
    "transfer_bytes",
    "transfer_s",
    "transfer_rate_bps",
    "transfer_paced_by",
    "transfer_network_s",
    "transfer_receive_window_s",
    "transfer_loss_s",
    "transfer_sender_s",
    "transfer_rtt_min_ms",
    "transfer_rtt_loaded_ms",
    "transfer_queue_ms",
    "transfer_in_flight_bytes",
    "stalled_s",
    "biggest_stall",
    "stalls",
]
#: ``delays.transfer_paced_by`` (docs/contract.md "A connection's transfer").
TRANSFER_PACES = {"bottleneck", "round_trip", "network", "receive_window", "loss", "sender"}
#: The parts of a transfer's time (``transfer_<part>_s``), the first of equals first.
TRANSFER_PARTS = ["loss", "receive_window", "sender", "network"]
STALL_KEYS = ["cause", "side", "start", "seconds", "recovered", "frame"]
STALL_CAUSES = {"syn_retry", "synack_retry", "rto", "zero_window", "window_full", "nagle"}
SLOW_TAGS = [
    "syn_retry",
    "synack_retry",
    "rto_stall",
    "zero_window_stall",
    "slow_response",
    "slow_connect",
    "window_full_stall",
    "nagle_stall",
    "app_pause",
    "idle_restart",
]
#: Keys after kind/summary/connections of the slow findings (issue 10), in order.
SLOW_FINDING_KEYS = {
    "syn_retry_burst": [
        "server",
        "of_connections",
        "share",
        "window",
        "connect_p50_s",
        "connect_max_s",
        "syn_retries_max",
        "unanswered",
        "burst",
        "connection_count",
        "explanation",
    ],
    "rto_storm": [
        "server",
        "of_connections",
        "share",
        "window",
        "at",
        "on_first_data",
        "connection_count",
        "explanation",
    ],
    "nat_copies": ["copies", "translations", "clocks_apart_ms", "connection_count", "explanation"],
    "nat_remap": ["server", "remaps", "connection_count", "explanation"],
    "syns_not_forwarded": [
        "server",
        "forwarded",
        "translated_ports",
        "connection_count",
        "explanation",
    ],
    "port_scan": [
        "client",
        "server",
        "ports",
        "port_range",
        "refused",
        "unanswered",
        "connected",
        "probes_reset",
        "window",
        "connection_count",
        "explanation",
    ],
    "host_sweep": [
        "client",
        "port",
        "hosts",
        "refused",
        "unanswered",
        "connected",
        "probes_reset",
        "window",
        "connection_count",
        "explanation",
    ],
    "connect_checks": [
        "client",
        "server",
        "port",
        "checks",
        "period_s",
        "window",
        "connection_count",
        "explanation",
    ],
    "half_open_probes": [
        "client",
        "server",
        "port",
        "probes",
        "period_s",
        "window",
        "connection_count",
        "explanation",
    ],
    "intermittent_connect": [
        "server",
        "refused",
        "connected",
        "failure_runs",
        "window",
        "connection_count",
        "explanation",
    ],
    "path_reset": [
        "server",
        "rst_ttl",
        "server_ttls",
        "synacks",
        "server_ttl_stable",
        "connection_count",
        "explanation",
    ],
    "response_jump": [
        "server",
        "at",
        "median_before_s",
        "median_after_s",
        "turns_before",
        "turns_after",
        "connection_count",
        "explanation",
    ],
}
COUNT_KEYS = [
    "syn_retransmits",
    "synack_retransmits",
    "retransmits",
    "keepalive_probes",
    "zero_window_probes",
    "resets",
]
EVENT_KEYS = ["frame", "time", "from", "kind", "note"]
FILTER_KEYS = ["host", "port", "streams", "connections_in_capture"]


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _expect(cond: bool, where: str, what: str) -> None:
    assert cond, f"{where}: {what}"


def check_document(doc: dict[str, Any]) -> None:
    # ``filter`` (docs/contract.md) comes last, and only in a filtered report
    top = ["schema", "capture", "connections", "findings"]
    _expect(list(doc) in (top, [*top, "filter"]), "$", f"top keys {list(doc)}")
    if "filter" in doc:
        f = doc["filter"]
        _expect(list(f) == FILTER_KEYS, "$.filter", f"keys {list(f)}")
        _expect(_is_int(f["connections_in_capture"]), "$.filter", "connections_in_capture")
        _expect(
            f["connections_in_capture"] >= len(doc["connections"]), "$.filter", "fewer than shown"
        )
    _expect(doc["schema"] == "pcapline/1", "$.schema", repr(doc["schema"]))
    check_capture(doc["capture"])
    _expect(isinstance(doc["connections"], list), "$.connections", "not a list")
    ids = [c["id"] for c in doc["connections"]]
    _expect(
        ids == sorted(ids) and len(set(ids)) == len(ids),
        "$.connections",
        f"ids not unique ascending {ids[:10]}",
    )
    for i, conn in enumerate(doc["connections"]):
        check_connection(conn, f"$.connections[{i}]")
    _expect(isinstance(doc["findings"], list), "$.findings", "not a list")
    for i, finding in enumerate(doc["findings"]):
        where = f"$.findings[{i}]"
        _expect(isinstance(finding.get("kind"), str), where, "kind not str")
        _expect(isinstance(finding.get("summary"), str), where, "summary not str")
        _expect(isinstance(finding.get("connections"), list), where, "connections not list")
        _expect(all(_is_int(c) for c in finding["connections"]), where, "connection ids not int")
        if finding["kind"] == "nat_timestamp":
            _expect(isinstance(finding.get("ip"), str), where, "nat_timestamp without ip")
        if finding["kind"] in SLOW_FINDING_KEYS:
            want = SLOW_FINDING_KEYS[finding["kind"]]
            _expect(
                list(finding) == ["kind", "summary", "connections", *want],
                where,
                f"{finding['kind']} keys {list(finding)}",
            )


def check_capture(cap: dict[str, Any]) -> None:
    w = "$.capture"
    _expect(list(cap) == CAPTURE_KEYS, w, f"keys {list(cap)}")
    _expect(isinstance(cap["path"], str), w, "path")
    _expect(cap["format"] in ("pcap", "pcapng"), w, f"format {cap['format']!r}")
    _expect(
        isinstance(cap["link_types"], list) and all(isinstance(x, str) for x in cap["link_types"]),
        w,
        "link_types",
    )
    _expect(_is_int(cap["frames"]) and _is_int(cap["tcp_frames"]), w, "frames/tcp_frames")
    _expect(_is_int(cap["icmp_frames"]) and cap["icmp_frames"] >= 0, w, "icmp_frames")
    for key in ("first_time", "last_time"):
        _expect(cap[key] is None or isinstance(cap[key], float), w, f"{key} {cap[key]!r}")
    _expect(isinstance(cap["skipped"], dict), w, "skipped")
    reasons = {r.value for r in SkipReason}
    for reason, n in cap["skipped"].items():
        _expect(reason in reasons and _is_int(n) and n > 0, w, f"skipped {reason}={n!r}")
    # every frame is accounted for: a TCP segment, an ICMP error quoting one, or skipped
    _expect(
        cap["frames"] == cap["tcp_frames"] + cap["icmp_frames"] + sum(cap["skipped"].values()),
        w,
        "frames != tcp + icmp + skipped",
    )
    _expect(
        isinstance(cap["warnings"], list) and all(isinstance(x, str) for x in cap["warnings"]),
        w,
        "warnings",
    )
    quality = cap["quality"]
    _expect(isinstance(quality, dict) and list(quality) == QUALITY_KEYS, w, f"quality {quality!r}")
    for key in QUALITY_KEYS:
        if key in ("flag_filtered", "acks_filtered"):
            _expect(isinstance(quality[key], bool), w, f"quality.{key}")
        elif key == "first_missing_frames":
            frames = quality[key]
            _expect(
                isinstance(frames, list) and all(_is_int(f) and f >= 1 for f in frames),
                w,
                f"quality.{key}",
            )
            _expect(bool(frames) == (quality["lossy_connections"] > 0), w, f"quality.{key}")
        elif key in QUALITY_NULLABLE and quality[key] is None:
            pass
        elif key == "clocks_apart_ms":  # milliseconds, past one clock's 1 ms jitter
            value = quality[key]
            _expect(isinstance(value, int | float) and value > 1, w, f"quality.{key}")
        else:
            _expect(_is_int(quality[key]) and quality[key] >= 0, w, f"quality.{key}")


def check_endpoint(ep: Any, where: str) -> None:
    _expect(isinstance(ep, dict) and list(ep) == ["ip", "port"], where, f"endpoint {ep!r}")
    _expect(
        isinstance(ep["ip"], str) and _is_int(ep["port"]) and 0 <= ep["port"] <= 65535,
        where,
        repr(ep),
    )


def check_connection(conn: dict[str, Any], w: str) -> None:
    _expect(list(conn) == CONNECTION_KEYS, w, f"keys {list(conn)}")
    _expect(_is_int(conn["id"]) and conn["id"] >= 0, w, "id")
    check_endpoint(conn["client"], w + ".client")
    check_endpoint(conn["server"], w + ".server")
    _expect(isinstance(conn["client_guessed"], bool), w, "client_guessed")
    _expect(_is_int(conn["first_frame"]) and _is_int(conn["last_frame"]), w, "frames")
    _expect(1 <= conn["first_frame"] <= conn["last_frame"], w, "first_frame <= last_frame")
    for key in ("start", "end", "duration"):
        _expect(isinstance(conn[key], float), w, f"{key} not float: {conn[key]!r}")
    _expect(conn["start"] <= conn["end"], w, "start <= end")
    _expect(
        abs(conn["duration"] - (conn["end"] - conn["start"])) < 1e-6, w, "duration = end - start"
    )
    for key in ("packets", "bytes_client", "bytes_server"):
        _expect(_is_int(conn[key]) and conn[key] >= 0, w, key)
    _expect(conn["packets"] >= 1, w, "packets >= 1")
    _expect(conn["fate"] in {f.value for f in Fate}, w, f"fate {conn['fate']!r}")
    if conn["fate"] in ("closed", "half_closed"):
        _expect(conn["closer"] in ("client", "server", "both"), w, f"closer {conn['closer']!r}")
    else:
        _expect(conn["closer"] is None, w, f"closer must be null for {conn['fate']}")
    _expect(conn["reset_by"] in ("client", "server", None), w, f"reset_by {conn['reset_by']!r}")
    _expect(
        isinstance(conn["counts"], dict) and list(conn["counts"]) == COUNT_KEYS,
        w,
        f"counts {conn['counts']!r}",
    )
    _expect(all(_is_int(v) and v >= 0 for v in conn["counts"].values()), w, "counts values")
    _expect(isinstance(conn["inferred"], dict), w, "inferred")
    for key in ("keepalive", "keepalive_peer"):
        if key not in conn["inferred"]:
            continue
        ka = conn["inferred"][key]
        _expect(
            isinstance(ka, dict) and {"idle", "interval", "count", "by"} <= set(ka),
            w,
            f"{key} {ka!r}",
        )
        # a single probe shows the idle time but no interval: null, not a guess; the idle
        # time is null too when the prober received nothing before its first probe
        _expect(ka["idle"] is None or _is_num(ka["idle"]), w, f"{key} idle {ka!r}")
        _expect(ka["interval"] is None or _is_num(ka["interval"]), w, f"{key} interval {ka!r}")
        _expect(ka["count"] is None or _is_int(ka["count"]), w, f"{key} {ka!r}")
        _expect(ka["by"] in ("client", "server"), w, f"{key} by {ka!r}")
    if "keepalive_peer" in conn["inferred"]:
        ka, peer = conn["inferred"]["keepalive"], conn["inferred"]["keepalive_peer"]
        # each side's probes are its own: the two records never name the same sender
        _expect(peer["by"] != ka["by"] and peer["count"] is None, w, f"keepalive_peer {peer!r}")
    _check_path_keys(conn["inferred"], w)
    _expect(isinstance(conn["explanation"], str), w, "explanation")
    _expect(isinstance(conn["events"], list), w, "events")
    _expect(
        conn["confidence"] in {c.value for c in Confidence}, w, f"confidence {conn['confidence']!r}"
    )
    _expect(
        isinstance(conn["caveats"], list) and all(c in CAVEATS for c in conn["caveats"]),
        w,
        f"caveats {conn['caveats']!r}",
    )
    _expect(conn["cause"] is None or conn["cause"] in CAUSES, w, f"cause {conn['cause']!r}")
    # a proven fate needs no caveat; any other says why it is not proven
    _expect((conn["confidence"] == "proven") == (not conn["caveats"]), w, "caveats iff not proven")
    frames = [e["frame"] for e in conn["events"]]
    _expect(frames == sorted(frames), w, "events in frame order")
    kinds = {k.value for k in EventKind}
    for j, ev in enumerate(conn["events"]):
        we = f"{w}.events[{j}]"
        _expect(list(ev) == EVENT_KEYS, we, f"keys {list(ev)}")
        _expect(
            _is_int(ev["frame"]) and conn["first_frame"] <= ev["frame"] <= conn["last_frame"],
            we,
            "frame in range",
        )
        _expect(isinstance(ev["time"], float), we, "time")
        _expect(ev["from"] in ("client", "server"), we, f"from {ev['from']!r}")
        _expect(ev["kind"] in kinds, we, f"kind {ev['kind']!r}")
        _expect(isinstance(ev["note"], str), we, "note")
    check_delays(conn, w)
    check_app(conn, w)
    seen = conn["seen"]
    if seen is not None:
        _expect(isinstance(seen, dict) and list(seen) == SEEN_KEYS, w, f"seen {seen!r}")
        _expect(all(isinstance(v, bool) for v in seen.values()), w, "seen values are bools")
        _expect(seen["client"] or seen["server"], w, "seen: a connection has packets")
    frames = conn["evidence_frames"]
    _expect(
        isinstance(frames, list) and all(_is_int(f) and f >= 1 for f in frames),
        w,
        f"evidence_frames {frames!r}",
    )
    _expect(frames == sorted(set(frames)), w, "evidence_frames ascending, distinct")


def check_app(conn: dict[str, Any], w: str) -> None:
    """``app``: null, or the protocol's object filled and the other protocol's null."""
    app = conn["app"]
    if app is None:
        return
    wa = w + ".app"
    _expect(isinstance(app, dict) and list(app) == APP_KEYS, wa, f"keys {app!r}")
    _expect(app["protocol"] in ("tls", "http"), wa, f"protocol {app['protocol']!r}")
    _expect(
        _is_int(app["frame"]) and conn["first_frame"] <= app["frame"] <= conn["last_frame"],
        wa,
        "frame in range",
    )
    other = "http" if app["protocol"] == "tls" else "tls"
    _expect(app[other] is None, wa, f"{other} must be null for {app['protocol']}")
    detail = app[app["protocol"]]
    keys = APP_TLS_KEYS if app["protocol"] == "tls" else APP_HTTP_KEYS
    _expect(isinstance(detail, dict) and list(detail) == keys, wa, f"keys {detail!r}")
    for key, value in detail.items():
        if key == "alpn":
            ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        elif key == "status":
            ok = value is None or (_is_int(value) and 0 <= value <= 999)
        else:
            ok = value is None or isinstance(value, str)
        _expect(ok, wa, f"{key} {value!r}")


def check_response_judged(conn: dict[str, Any], d: dict[str, Any], wd: str) -> None:
    """``response_judged``: which turns ``slow_response`` judged. Null exactly when nothing
    was judged (the opening not captured, or no first turn and not every turn); ``every_turn``
    only on clear-text HTTP/1.x with a request and a status line captured, not 101, and a
    measured turn; ``slow_response`` only where something was judged."""
    judged = d["response_judged"]
    _expect(judged in ("every_turn", "first_turn", None), wd, f"response_judged {judged!r}")
    one_way = d["response_from"] in ("server_ack", "client_ack")
    if one_way:
        _expect(judged in ("first_turn", None), wd, "a one-direction capture judged every turn")
    elif d["connect_s"] is None:
        _expect(judged is None, wd, "response_judged without a captured opening")
    elif judged is None:
        _expect(d["response_s"] is None, wd, "a first turn with an opening, not judged")
    if judged == "first_turn":
        _expect(d["response_s"] is not None, wd, "first_turn judged without a first turn")
    if judged == "every_turn":
        http = (conn.get("app") or {}).get("http") or {}
        _expect(d["responses"] > 0, wd, "every_turn judged without a measured turn")
        _expect(
            (conn.get("app") or {}).get("protocol") == "http"
            and http.get("method") is not None
            and http.get("status") not in (None, 101),
            wd,
            "every_turn judged without an HTTP/1.x request and a non-101 status line",
        )
    if "slow_response" in conn["slow"]:
        _expect(judged is not None, wd, "slow_response without a judged turn")


def check_delays(conn: dict[str, Any], w: str) -> None:
    """``delays`` (null when not measured) and ``slow`` (tags in vocabulary order)."""
    slow = conn["slow"]
    _expect(isinstance(slow, list) and all(t in SLOW_TAGS for t in slow), w, f"slow {slow!r}")
    _expect(slow == sorted(slow, key=SLOW_TAGS.index), w, f"slow not in tag order {slow!r}")
    d = conn["delays"]
    if d is None:
        _expect(not slow, w, "slow tags without delays")
        return
    wd = w + ".delays"
    _expect(isinstance(d, dict) and list(d) == DELAY_KEYS, wd, f"keys {list(d)}")
    for key in (
        "connect_s",
        "handshake_rtt_ms",
        "data_rtt_ms",
        "response_s",
        "response_max_s",
        "response_median_s",
        "longest_silence_s",
    ):
        _expect(d[key] is None or (_is_num(d[key]) and d[key] >= 0), wd, f"{key} {d[key]!r}")
    for key in ("rto_s", "fast_recovery_s", "zero_window_s", "stalled_s"):
        _expect(_is_num(d[key]) and d[key] >= 0, wd, f"{key} {d[key]!r}")
    for key in ("syn_retries", "synack_retries", "responses", "rto_episodes", "rto_unrecovered"):
        _expect(_is_int(d[key]) and d[key] >= 0, wd, f"{key} {d[key]!r}")
    _expect(_is_int(d["fast_recovery_episodes"]), wd, "fast_recovery_episodes")
    _expect(len(d["syn_gaps_s"]) == d["syn_retries"], wd, "one SYN gap per retry")
    _expect(d["rto_unrecovered"] <= d["rto_episodes"], wd, "rto_unrecovered <= rto_episodes")
    measured = d["responses"] > 0
    _expect(
        (d["response_max_s"] is not None) == measured == (d["response_median_s"] is not None),
        wd,
        "response_max_s and response_median_s set exactly when a turn was measured",
    )
    # response_s is the first turn's: also null when that turn crosses a timestamp step back
    # (unknown), while later turns are still measured and counted
    _expect(d["response_s"] is None or measured, wd, "response_s without a measured turn")
    _expect(
        (d["response_max_turn"] is not None) == measured == (d["response_max_at"] is not None),
        wd,
        "response_max_turn and response_max_at set exactly when a turn was measured",
    )
    if measured:
        _expect(
            _is_int(d["response_max_turn"]) and 1 <= d["response_max_turn"] <= d["responses"],
            wd,
            "response_max_turn is one of the measured turns",
        )
        _expect(isinstance(d["response_max_at"], float), wd, "response_max_at epoch seconds")
        _expect(d["response_median_s"] <= d["response_max_s"], wd, "median <= max")
        _expect(
            d["response_s"] is None or d["response_s"] <= d["response_max_s"],
            wd,
            "first response <= max",
        )
    _expect(d["longest_silence_side"] in ("client", "server", None), wd, "longest_silence_side")
    # response_from: what the turns were timed from; null exactly when no turn was timed, and
    # a one-direction form only where the handshake was not captured both ways
    form = d["response_from"]
    _expect(form in ("request", "server_ack", "client_ack", None), wd, f"response_from {form!r}")
    timed = measured or d["response_s"] is not None
    _expect((form is not None) == timed, wd, "response_from set exactly when a turn was timed")
    if form in ("server_ack", "client_ack"):
        _expect(d["connect_s"] is None, wd, "a one-direction form with the handshake captured")
    check_response_judged(conn, d, wd)
    _expect(isinstance(d["stalls"], list), wd, "stalls")
    for j, stall in enumerate(d["stalls"]):
        ws = f"{wd}.stalls[{j}]"
        _expect(isinstance(stall, dict) and list(stall) == STALL_KEYS, ws, f"keys {stall!r}")
        _expect(stall["cause"] in STALL_CAUSES, ws, f"cause {stall['cause']!r}")
        _expect(stall["side"] in ("client", "server"), ws, "side")
        _expect(isinstance(stall["start"], float) and _is_num(stall["seconds"]), ws, "times")
        _expect(isinstance(stall["recovered"], bool) and _is_int(stall["frame"]), ws, "types")
    # the union of the stalls: no more than their sum, no less than the biggest
    total = sum(s["seconds"] for s in d["stalls"])
    _expect(d["stalled_s"] <= total + 1e-6, wd, "stalled_s <= sum of stalls")
    if d["stalls"]:
        _expect(d["biggest_stall"] in d["stalls"], wd, "biggest_stall is one of stalls")
        _expect(d["stalled_s"] + 1e-6 >= d["biggest_stall"]["seconds"], wd, "stalled_s >= biggest")
    else:
        _expect(d["biggest_stall"] is None and d["stalled_s"] == 0, wd, "no stall, none biggest")
    if "syn_retry" in slow:
        _expect(d["syn_retries"] > 0, wd, "syn_retry tag without a SYN retry")
    if "rto_stall" in slow:
        _expect(d["rto_episodes"] > 0, wd, "rto_stall tag without an RTO episode")
    # window_full_s: null when the capture cannot tell (window scale unknown), then no episode
    full_n = _waits(d, wd, "window_full_s", "window_full_episodes", "window_full")
    # nagle_s: the same shape (null: no handshake round trip to tell a delayed ACK by)
    _waits(d, wd, "nagle_s", "nagle_episodes", "nagle")
    if "nagle_stall" in slow:
        nagle_s = d["nagle_s"]
        _expect(nagle_s is not None and nagle_s >= 0.2, wd, "nagle_stall tag under 0.2 s")
    if "window_full_stall" in slow:
        _expect(full_n > 0, wd, "window_full_stall tag without a window-full episode")
    # app_pause_s: null (no handshake round trip) or >= 0; a side exactly when it is > 0
    pause, paused = d["app_pause_s"], d["app_pause_side"]
    _expect(pause is None or (_is_num(pause) and pause >= 0), wd, "app_pause_s")
    _expect((paused is not None) == bool(pause), wd, "app_pause_side exactly with a pause")
    _expect(paused in (None, "client", "server"), wd, "app_pause_side")
    # idle_restart_s: null (no round trip to read, or a LAN's) or >= 0, with a count
    restarts, restart_s = d["idle_restarts"], d["idle_restart_s"]
    _expect(isinstance(restarts, int) and restarts >= 0, wd, "idle_restarts")
    _expect(restart_s is None or (_is_num(restart_s) and restart_s >= 0), wd, "idle_restart_s")
    _expect(restart_s is not None or restarts == 0, wd, "idle_restarts without a round trip")
    _expect(bool(restarts) or not restart_s, wd, "idle_restart_s without a restart")
    if "idle_restart" in slow:
        _expect(restart_s is not None and restart_s >= 0.2, wd, "idle_restart tag under 0.2 s")
    if "app_pause" in slow:
        # the judged pause is a server's mid-answer; the longest (app_pause_s) may be either
        # side's, and is at least as long
        _expect(pause is not None and pause >= 1.0, wd, "app_pause tag under a 1 s pause")
    check_transfer(d, wd)


def check_transfer(d: dict[str, Any], wd: str) -> None:
    """The ``transfer_`` keys: all null without a transfer; with one, its bytes (256 KiB at
    least), time and rate agree, the known parts add up to its time, and the pace is the
    largest part (or a known part over half of it, where some are not known)."""
    keys = [k for k in DELAY_KEYS if k.startswith("transfer_")]
    if d["transfer_side"] is None:
        _expect(all(d[k] is None for k in keys), wd, "transfer_ keys without a transfer")
        return
    _expect(d["transfer_side"] in ("client", "server"), wd, "transfer_side")
    size, seconds, rate = d["transfer_bytes"], d["transfer_s"], d["transfer_rate_bps"]
    _expect(_is_int(size) and size >= 256 * 1024, wd, f"transfer_bytes {size!r}")
    _expect(_is_num(seconds) and seconds >= 0, wd, f"transfer_s {seconds!r}")
    if seconds > 0:
        _expect(abs(rate - size * 8 / seconds) <= 1e-5 * rate + 1, wd, "transfer_rate_bps")
    else:
        _expect(rate is None, wd, "transfer_rate_bps without a time")
    parts = {p: d[f"transfer_{p}_s"] for p in TRANSFER_PARTS}
    for part, value in parts.items():
        _expect(value is None or (_is_num(value) and value >= 0), wd, f"transfer_{part}_s")
    pace = d["transfer_paced_by"]
    _expect(pace is None or pace in TRANSFER_PACES, wd, f"transfer_paced_by {pace!r}")
    _expect(parts["loss"] is not None, wd, "transfer_loss_s is always known")
    _expect(
        (parts["receive_window"] is None) == (parts["network"] is None),
        wd,
        "the network part is known exactly where the window part is",
    )
    if all(v is not None for v in parts.values()):
        _expect(abs(sum(parts.values()) - seconds) < 1e-5 * 4, wd, "transfer parts add up")
    known = {p: v for p, v in parts.items() if v is not None}
    largest = max(known, key=lambda p: known[p]) if known else None
    if pace in ("bottleneck", "round_trip", "network") and parts["network"] is not None:
        _expect(largest == "network", wd, "a network pace without the network part largest")
    elif pace is not None and pace in ("round_trip", "network"):
        _expect(False, wd, f"{pace} with the network part not known")
    elif pace == "bottleneck":  # a standing queue: no known part holds over half
        _expect(all(2 * v <= seconds + 1e-6 for v in known.values()), wd, "bottleneck")
    elif pace == "loss" and largest == "network":  # no queue, the losses' window cuts
        queue, least = d["transfer_queue_ms"], d["transfer_rtt_min_ms"] or 0.0
        _expect(parts["loss"] >= 0.1 * seconds - 1e-6, wd, "loss pace under a tenth")
        _expect(queue is None or queue < max(5.0, 0.3 * least), wd, "loss pace with a queue")
    elif pace is not None:
        _expect(known.get(pace) is not None, wd, f"paced by {pace}, a part not known")
        _expect(known[pace] >= max(known.values()) - 1e-6, wd, f"paced by {pace}, not the largest")
    for key in ("transfer_rtt_min_ms", "transfer_rtt_loaded_ms", "transfer_queue_ms"):
        _expect(d[key] is None or (_is_num(d[key]) and d[key] >= 0), wd, key)
    flight = d["transfer_in_flight_bytes"]
    _expect(flight is None or (_is_int(flight) and flight >= 0), wd, "transfer_in_flight_bytes")
    _expect(flight is None or parts["sender"] is not None, wd, "a flight where the pipe is unseen")
    if pace == "bottleneck":
        queue, least = d["transfer_queue_ms"], d["transfer_rtt_min_ms"]
        _expect(queue is not None and queue >= 5.0, wd, "a bottleneck without a queue")
        _expect(least is None or queue >= 0.3 * least - 1e-3, wd, "a bottleneck's queue")


def _waits(d: dict[str, Any], wd: str, seconds_key: str, count_key: str, cause: str) -> int:
    """A measure of waits and its count: null (the capture cannot tell) or >= 0 seconds, the
    sum of its stalls of ``cause``, one stall per episode; no episodes where null. Returns
    the count."""
    seconds, count = d[seconds_key], d[count_key]
    _expect(
        seconds is None or (_is_num(seconds) and seconds >= 0), wd, f"{seconds_key} {seconds!r}"
    )
    _expect(_is_int(count) and count >= 0, wd, f"{count_key} {count!r}")
    stalls = [s for s in d["stalls"] if s["cause"] == cause]
    _expect(len(stalls) == count, wd, f"one {cause} stall per episode")
    _expect(seconds is not None or count == 0, wd, f"{cause} episodes where it cannot tell")
    if seconds is not None:
        total = sum(s["seconds"] for s in stalls)
        _expect(abs(total - seconds) < 1e-5 * (1 + count), wd, f"{seconds_key} = its stalls")
    return int(count)


#: issue 9, causes from the network path (docs/contract.md, "ICMP errors, path MTU and idle gaps").
ICMP_ERROR_KEYS = ["frame", "kind", "from", "from_peer", "quoted_frame", "mtu"]
PMTU_STALL_KEYS = [
    "side",
    "full_size",
    "largest_acked",
    "unanswered",
    "shrunk_to",
    "recovered",
    "stall_s",
]
IDLE_GAP_KEYS = ["idle_s", "before_frame", "after_frame", "side", "rst_frame"]


def _check_path_keys(inferred: dict[str, Any], w: str) -> None:
    for error in inferred.get("icmp", []):
        _expect(isinstance(error, dict) and list(error) == ICMP_ERROR_KEYS, w, f"icmp {error!r}")
        _expect(_is_int(error["frame"]) and isinstance(error["from"], str), w, "icmp frame/from")
        _expect(error["quoted_frame"] is None or _is_int(error["quoted_frame"]), w, "icmp quote")
        _expect(error["mtu"] is None or _is_int(error["mtu"]), w, "icmp mtu")
    if "pmtu_stall" in inferred:
        stall = inferred["pmtu_stall"]
        _expect(list(stall) == PMTU_STALL_KEYS, w, f"pmtu_stall {stall!r}")
        _expect(stall["side"] in {"client", "server"}, w, "pmtu_stall side")
        _expect(stall["full_size"] > stall["largest_acked"] > 0, w, "pmtu_stall sizes")
        _expect(isinstance(stall["recovered"], bool) and _is_num(stall["stall_s"]), w, "pmtu")
    if "idle_gap" in inferred:
        gap = inferred["idle_gap"]
        _expect(list(gap) == IDLE_GAP_KEYS, w, f"idle_gap {gap!r}")
        _expect(_is_num(gap["idle_s"]) and gap["side"] in {"client", "server"}, w, "idle_gap")
        _expect(gap["rst_frame"] is None or _is_int(gap["rst_frame"]), w, "idle_gap rst_frame")
