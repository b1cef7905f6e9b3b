"""Write the JSON Schemas of the two contracts into ``src/pcapline/schemas/`` (shipped files).

    python tools/make_schemas.py          # rewrite both files
    python tools/make_schemas.py --check  # exit 1 when a shipped file differs (a test runs this)

The schemas are the machine-readable half of docs/contract.md: every object pcapline writes
is closed (``additionalProperties: false``), so a key the contract does not list fails
validation, and every vocabulary comes from ``pcapline.model`` (a new fate, event kind or skip
reason changes the schema, and the check above says so). ``pcapline schema NAME`` prints them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from pcapline.decode.icmp import KINDS as ICMP_KINDS  # noqa: E402
from pcapline.delays import DELAYS_DOC_KEYS  # noqa: E402
from pcapline.model import (  # noqa: E402
    CAVEATS,
    CLEAN_CAPTURE,
    SCAN_SCHEMA,
    SCHEMA,
    Cause,
    Confidence,
    EventKind,
    Fate,
    SkipReason,
    SlowTag,
    StallCause,
    TransferPace,
)
from pcapline.quality import SEEN_KEYS  # noqa: E402

OUT = ROOT / "src" / "pcapline" / "schemas"
DRAFT = "https://json-schema.org/draft/2020-12/schema"

INT = {"type": "integer", "minimum": 0}
COUNT1 = {"type": "integer", "minimum": 1}
FRAME = {"type": "integer", "minimum": 1}
NUM = {"type": "number"}  # a time (epoch seconds) or an offset/gap between two stamped times
#: A measure (duration, count of seconds): never negative. Offsets and gaps between stamped
#: times (retry ``times``, ``series``, gaps) are NUM: in a capture whose timestamps step back
#: (it warns) they are what the stamps say.
SECONDS = {"type": "number", "minimum": 0}
STR = {"type": "string"}
BOOL = {"type": "boolean"}
SIDE = {"enum": ["client", "server"]}
IDS = {"type": "array", "items": INT}


def null(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` or JSON null (a value the capture could not show)."""
    return {"anyOf": [schema, {"type": "null"}]}


def obj(props: dict[str, Any], *, optional: tuple[str, ...] = (), doc: str = "") -> dict[str, Any]:
    """A closed object: every key of ``props`` required except ``optional``, no other key."""
    out: dict[str, Any] = {"type": "object"}
    if doc:
        out["description"] = doc
    out["properties"] = props
    out["required"] = [k for k in props if k not in optional]
    out["additionalProperties"] = False
    return out


def array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


RETRY_SERIES = obj(
    {
        "times": array(NUM),
        "schedule": STR,
        "retries": INT,
        "gave_up": null(BOOL),
        "give_up_s": null(NUM),
    },
    doc="SYN or SYN+ACK transmissions: times from the first, the backoff's name, retries, "
    "whether the sender gave up (null: the capture ended before the next retry was due).",
)

INFERRED = obj(
    {
        "rtt_ms": SECONDS,
        "capture_start": {"const": True},
        "syn": RETRY_SERIES,
        "syn_forwarded_hops": INT,
        "synack": RETRY_SERIES,
        "rto": obj(
            {
                "series": array(NUM),
                "doubling": BOOL,
                "gave_up": null(BOOL),
                "user_timeout_shape": BOOL,
                "give_up_s": null(NUM),
            }
        ),
        "zero_window": obj({"stalled_s": SECONDS, "probes": INT, "recovered": BOOL}),
        "reset": obj(
            {
                "by": SIDE,
                "state": {
                    "enum": [
                        "handshake",
                        "established",
                        "after client FIN",
                        "after server FIN",
                        "after both FINs",
                    ]
                },
                "idle_s": null(SECONDS),
            }
        ),
        "spurious_rtos": COUNT1,
        "duplicates": COUNT1,
        "super_segments": COUNT1,
        "keepalive": obj(
            {"idle": null(SECONDS), "interval": null(SECONDS), "count": null(INT), "by": SIDE},
            doc="The settings of the side that sent the last probe (by), from its own probes. "
            "idle: null when the prober received nothing before its first probe in the "
            "capture; interval: null with one probe; count: null unless it gave up. by: "
            "always written since it was added (optional for documents written before).",
            optional=("by",),
        ),
        "keepalive_peer": obj(
            {
                "idle": null(SECONDS),
                "interval": null(SECONDS),
                "count": {"type": "null"},
                "by": SIDE,
            },
            doc="Present when both sides sent keepalive probes: the other side's own settings, "
            "from its own probes (each socket has its own keepalive timer); count always null.",
        ),
        "icmp": array(
            obj(
                {
                    "frame": INT,
                    "kind": {"enum": sorted(set(ICMP_KINDS.values()))},
                    "from": STR,
                    "from_peer": BOOL,
                    "quoted_frame": null(INT),
                    "mtu": null(INT),
                },
                doc="An ICMP error quoting one of the connection's segments (decode/icmp.py).",
            )
        ),
        "pmtu_stall": obj(
            {
                "side": SIDE,
                "full_size": INT,
                "largest_acked": INT,
                "unanswered": INT,
                "shrunk_to": null(INT),
                "recovered": BOOL,
                "stall_s": SECONDS,
            },
            doc="Full-size segments never acknowledged while smaller ones were (path MTU).",
        ),
        "idle_gap": obj(
            {
                "idle_s": SECONDS,
                "before_frame": INT,
                "after_frame": INT,
                "side": SIDE,
                "rst_frame": null(INT),
            },
            doc="The first segment after a long idle gap, never acknowledged.",
        ),
        "path_reset": obj(
            {
                "rst_ttl": INT,
                "server_ttl": INT,
                "server_ttls": array(INT),
                "stable": BOOL,
            },
            doc="Cause path_reset: the refusing RST's IP TTL / hop limit and the server's "
            "SYN+ACKs' (most common; lowest and highest), stable when 2+ to that port had one.",
        ),
        "silent_sender": obj(
            {
                "side": SIDE,
                "last_frame": INT,
                "ack_frame": INT,
                "unacked_bytes": INT,
                "fin_unacked": BOOL,
                "silent_s": SECONDS,
                "rto_s": SECONDS,
            },
            doc="A side whose last data was never acknowledged sent nothing more for three "
            "retransmission timeouts while the capture went on (detect/silent_sender.py).",
        ),
    },
    optional=(
        "rtt_ms",
        "capture_start",
        "syn",
        "syn_forwarded_hops",
        "synack",
        "rto",
        "spurious_rtos",
        "zero_window",
        "reset",
        "duplicates",
        "super_segments",
        "keepalive",
        "keepalive_peer",
        "icmp",
        "pmtu_stall",
        "idle_gap",
        "path_reset",
        "silent_sender",
    ),
    doc="Settings and facts inferred from the wire; only the keys that apply are present.",
)

STALL = obj(
    {
        "cause": {"enum": [c.value for c in StallCause]},
        "side": SIDE,
        "start": NUM,
        "seconds": SECONDS,
        "recovered": BOOL,
        "frame": FRAME,
    }
)

DELAYS = obj(
    {
        "connect_s": null(SECONDS),
        "syn_retries": INT,
        "syn_gaps_s": array(NUM),
        "synack_retries": INT,
        "synack_gaps_s": array(NUM),
        "handshake_rtt_ms": null(SECONDS),
        "data_rtt_ms": null(SECONDS),
        "response_s": null(SECONDS),
        "responses": INT,
        "response_max_s": null(SECONDS),
        "response_median_s": null(SECONDS),
        "response_max_turn": null(COUNT1),
        "response_max_at": null(NUM),
        "response_judged": null({"enum": ["every_turn", "first_turn"]}),
        "response_from": null({"enum": ["request", "server_ack", "client_ack"]}),
        "longest_silence_s": null(SECONDS),
        "longest_silence_side": null(SIDE),
        "rto_episodes": INT,
        "rto_unrecovered": INT,
        "rto_s": SECONDS,
        "fast_recovery_episodes": INT,
        "fast_recovery_s": SECONDS,
        "zero_window_s": SECONDS,
        "window_full_s": null(SECONDS),
        "window_full_episodes": INT,
        "nagle_s": null(SECONDS),
        "nagle_episodes": INT,
        "app_pause_s": null(SECONDS),
        "app_pause_side": null(SIDE),
        "idle_restarts": INT,
        "idle_restart_s": null(SECONDS),
        "transfer_side": null(SIDE),
        "transfer_bytes": null(INT),
        "transfer_s": null(SECONDS),
        "transfer_rate_bps": null(INT),
        "transfer_paced_by": null(
            {
                "enum": [
                    "bottleneck",
                    "round_trip",
                    "network",
                    "receive_window",
                    "loss",
                    "sender",
                ]
            }
        ),
        "transfer_network_s": null(SECONDS),
        "transfer_receive_window_s": null(SECONDS),
        "transfer_loss_s": null(SECONDS),
        "transfer_sender_s": null(SECONDS),
        "transfer_rtt_min_ms": null(SECONDS),
        "transfer_rtt_loaded_ms": null(SECONDS),
        "transfer_queue_ms": null(SECONDS),
        "transfer_in_flight_bytes": null(INT),
        "stalled_s": SECONDS,
        "biggest_stall": null(STALL),
        "stalls": array(STALL),
    }
)
assert tuple(DELAYS["properties"]) == DELAYS_DOC_KEYS, "delays keys changed in delays.py"

APP = obj(
    {
        "protocol": {"enum": ["tls", "http"]},
        "frame": FRAME,
        "tls": null(
            obj(
                {
                    "sni": null(STR),
                    "alpn": array(STR),
                    "client_version": null(STR),
                    "version": null(STR),
                    "alpn_selected": null(STR),
                }
            )
        ),
        "http": null(
            obj(
                {
                    "method": null(STR),
                    "host": null(STR),
                    "path": null(STR),
                    "version": null(STR),
                    "status": null({"type": "integer", "minimum": 0, "maximum": 999}),
                    "reason": null(STR),
                }
            )
        ),
    },
    doc="What the first payloads carried (TLS hello or HTTP/1.x message); the object of the "
    "other protocol is null, a field is null when its message was not captured.",
)

SEEN = obj(
    {key: BOOL for key in SEEN_KEYS},
    doc="What the capture holds of the connection (quality.SEEN_KEYS).",
)

EVENT = obj(
    {
        "frame": FRAME,
        "time": NUM,
        "from": SIDE,
        "kind": {"enum": [k.value for k in EventKind]},
        "note": STR,
    }
)

CONNECTION = obj(
    {
        "id": INT,
        "client": obj({"ip": STR, "port": {"type": "integer", "minimum": 0, "maximum": 65535}}),
        "server": obj({"ip": STR, "port": {"type": "integer", "minimum": 0, "maximum": 65535}}),
        "client_guessed": BOOL,
        "first_frame": FRAME,
        "last_frame": FRAME,
        "start": NUM,
        "end": NUM,
        "duration": SECONDS,
        "packets": COUNT1,
        "bytes_client": INT,
        "bytes_server": INT,
        "fate": {"enum": [f.value for f in Fate]},
        "closer": null({"enum": ["client", "server", "both"]}),
        "reset_by": null(SIDE),
        "counts": obj(
            {
                "syn_retransmits": INT,
                "synack_retransmits": INT,
                "retransmits": INT,
                "keepalive_probes": INT,
                "zero_window_probes": INT,
                "resets": INT,
            }
        ),
        "inferred": INFERRED,
        "explanation": STR,
        "confidence": {"enum": [c.value for c in Confidence]},
        "caveats": array({"enum": list(CAVEATS)}),
        "cause": null({"enum": [c.value for c in Cause]}),
        "events": array(EVENT),
        "delays": null(DELAYS),
        "slow": array({"enum": [t.value for t in SlowTag]}),
        "app": null(APP),
        "seen": null(SEEN),
        "evidence_frames": array(FRAME),
    }
)

QUALITY = obj(
    {
        "segments_not_captured": INT,
        "acked_unseen": INT,
        "lossy_connections": INT,
        "first_missing_frames": array(FRAME),
        "flag_filtered": BOOL,
        "acks_filtered": BOOL,
        "one_sided_connections": INT,
        "mid_stream_connections": INT,
        "acks_before_data": INT,
        "clocks_apart_ms": null(NUM),
        "captured_twice": INT,
        "two_point_connections": INT,
        "snaplen": null(COUNT1),
        "frames_cut_by_snaplen": INT,
        "interface_drops": null(INT),
        "os_drops": null(INT),
    }
)
assert list(QUALITY["properties"]) == list(CLEAN_CAPTURE), "quality keys changed in model.py"

CAPTURE = obj(
    {
        "path": STR,
        "format": {"enum": ["pcap", "pcapng"]},
        "link_types": array(STR),
        "frames": INT,
        "tcp_frames": INT,
        "icmp_frames": INT,
        "first_time": null(NUM),
        "last_time": null(NUM),
        "skipped": {
            "type": "object",
            "propertyNames": {"enum": [r.value for r in SkipReason]},
            "additionalProperties": COUNT1,
        },
        "warnings": array(STR),
        "quality": QUALITY,
    }
)

FILTER = obj(
    {
        "host": null(STR),
        "port": null({"type": "integer", "minimum": 0, "maximum": 65535}),
        "streams": IDS,
        "connections_in_capture": INT,
    },
    doc="Present only when the report was filtered (--host/--port/--stream, Analysis.select): "
    "what the filter was and how many connections the whole capture holds.",
)

BURST = obj({"connections": INT, "window_s": INT, "start": NUM})
WINDOW = obj({"start": NUM, "end": NUM})
SHARE = {"type": "number", "minimum": 0, "maximum": 1}


def finding(kind: str, details: dict[str, Any], *, capture: bool) -> dict[str, Any]:
    """One finding kind: the common keys, the kind's own details, then the common tail."""
    props: dict[str, Any] = {"capture": STR} if capture else {}
    props |= {"kind": {"const": kind}, "summary": STR, "connections": IDS}
    props |= details
    props |= {"connection_count": INT, "connections_truncated": {"const": True}, "explanation": STR}
    return obj(props, optional=("connections_truncated",))


def findings(*, capture: bool) -> dict[str, Any]:
    kinds = {
        "nat_copies": {
            "copies": array(array(INT)),
            "translations": array(obj({"change": STR, "copies": INT})),
            "clocks_apart_ms": null(NUM),
        },
        "nat_remap": {
            "server": STR,
            "remaps": array(
                obj(
                    {
                        "original": INT,
                        "remapped": INT,
                        "client_before": STR,
                        "client_after": STR,
                        "reset_by_server": BOOL,
                    }
                )
            ),
        },
        "syns_not_forwarded": {
            "server": STR,
            "forwarded": INT,
            "translated_ports": array(INT),
        },
        "nat_timestamp": {
            "ip": STR,
            "server": STR,
            "clocks": array(
                obj(
                    {
                        "rate_hz": INT,
                        "confirmed": BOOL,
                        "first_tsval": INT,
                        "first_frame": FRAME,
                        "connections": IDS,
                    }
                )
            ),
            "dropped_syns": INT,
            "answered": IDS,
        },
        "listen_overflow": {
            "server": STR,
            "of_connections": INT,
            "signatures": obj(
                {"listen_overflow_fate": INT, "synack_after_ack": INT, "rst_to_final_ack": INT}
            ),
            "burst": BURST,
        },
        "syn_flood": {"server": STR, "sources": INT, "synack_sent": INT, "burst": BURST},
        "time_wait_churn": {
            "client_ip": STR,
            "server": STR,
            "rate_per_s": null(SECONDS),
            "median_duration_s": SECONDS,
            "peak_per_60s": INT,
            "reused_within_time_wait": INT,
            "distinct_client_ports": INT,
            "port_range_used": SECONDS,
        },
        "syn_retry_burst": {
            "server": STR,
            "of_connections": INT,
            "share": SHARE,
            "window": WINDOW,
            "connect_p50_s": SECONDS,
            "connect_max_s": SECONDS,
            "syn_retries_max": INT,
            "unanswered": INT,
            "burst": BURST,
        },
        "intermittent_connect": {
            "server": STR,
            "refused": INT,
            "connected": INT,
            "failure_runs": INT,
            "window": WINDOW,
        },
        "path_reset": {
            "server": STR,
            "rst_ttl": INT,
            "server_ttls": array(INT),
            "synacks": INT,
            "server_ttl_stable": BOOL,
        },
        "port_scan": {
            "client": STR,
            "server": STR,
            "ports": INT,
            "port_range": {"type": "array", "items": INT, "minItems": 2, "maxItems": 2},
            "refused": INT,
            "unanswered": INT,
            "connected": INT,
            "probes_reset": INT,
            "window": WINDOW,
        },
        "host_sweep": {
            "client": STR,
            "port": INT,
            "hosts": INT,
            "refused": INT,
            "unanswered": INT,
            "connected": INT,
            "probes_reset": INT,
            "window": WINDOW,
        },
        "connect_checks": {
            "client": STR,
            "server": STR,
            "port": INT,
            "checks": {"type": "integer", "minimum": 3},  # findings.connect_checks.MIN_CHECKS
            "period_s": null(SECONDS),
            "window": WINDOW,
        },
        "half_open_probes": {
            "client": STR,
            "server": STR,
            "port": INT,
            "probes": {"type": "integer", "minimum": 3},  # findings.half_open_probes.MIN_PROBES
            "period_s": null(SECONDS),
            "window": WINDOW,
        },
        "rto_storm": {
            "server": STR,
            "of_connections": INT,
            "share": SHARE,
            "window": WINDOW,
            "at": NUM,
            "on_first_data": INT,
        },
        "response_jump": {
            "server": STR,
            "at": NUM,
            "median_before_s": SECONDS,
            "median_after_s": SECONDS,
            "turns_before": INT,
            "turns_after": INT,
        },
    }
    return array({"oneOf": [finding(k, d, capture=capture) for k, d in kinds.items()]})


def pcapline1() -> dict[str, Any]:
    doc = obj(
        {
            "schema": {"const": SCHEMA},
            "capture": CAPTURE,
            "connections": array(CONNECTION),
            "findings": findings(capture=False),
            "filter": FILTER,
        },
        optional=("filter",),
    )
    return {
        "$schema": DRAFT,
        "$id": "https://pcapline.invalid/schemas/pcapline-1.schema.json",
        "title": "pcapline/1: one capture's TCP connections, how each ended and why",
        "description": "docs/contract.md is the prose contract; this schema is its "
        "machine-readable half (pcapline schema pcapline/1).",
        **{k: v for k, v in doc.items() if k != "description"},
    }


#: ``{fate: n}``: connections per fate, only fates that occur (scan ``fates``, ``probes``).
FATE_COUNTS = {
    "type": "object",
    "propertyNames": {"enum": [f.value for f in Fate]},
    "additionalProperties": COUNT1,
}

SCAN_CAPTURE = obj(
    {
        "path": STR,
        "frames": INT,
        "connections": INT,
        "fates": FATE_COUNTS,
        "findings": findings(capture=False),
        "error": null(STR),
        "slow_connections": INT,
        "slow": {
            "type": "object",
            "propertyNames": {"enum": [t.value for t in SlowTag]},
            "additionalProperties": COUNT1,
        },
        "warnings": array(STR),
        "quality": null(QUALITY),
        "link_types": array(STR),
        "tcp_frames": INT,
        "skipped": CAPTURE["properties"]["skipped"],
        "nat_copies": INT,
        "transfers": {
            "type": "object",
            "propertyNames": {"enum": [p.value for p in TransferPace] + ["not_known"]},
            "additionalProperties": COUNT1,
        },
        "probes": FATE_COUNTS,
    }
)


def scan1() -> dict[str, Any]:
    doc = obj(
        {
            "schema": {"const": SCAN_SCHEMA},
            "captures": array(SCAN_CAPTURE),
            "findings": findings(capture=True),
        }
    )
    return {
        "$schema": DRAFT,
        "$id": "https://pcapline.invalid/schemas/pcapline-scan-1.schema.json",
        "title": "pcapline-scan/1: a batch scan, one summary per capture",
        "description": "docs/contract.md is the prose contract; this schema is its "
        "machine-readable half (pcapline schema pcapline-scan/1).",
        **{k: v for k, v in doc.items() if k != "description"},
    }


FILES = {"pcapline-1.schema.json": pcapline1, "pcapline-scan-1.schema.json": scan1}


def render(make: Any) -> str:
    return json.dumps(make(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for name, make in FILES.items():
        path = OUT / name
        text = render(make)
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print(f"stale: {', '.join(stale)} (run python tools/make_schemas.py)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
