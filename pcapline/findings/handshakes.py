"""Per-SYN and per-connection handshake facts the cross-connection finders share.

Computed once per capture, vectorised over the whole segments table, so each finder only
groups and thresholds. Nothing here decides anything; it describes what the wire shows:

- ``syns``: one row per client SYN (SYN without ACK/RST, sent by the client), with whether
  *this* SYN was answered: a SYN+ACK from the server in the same connection after it and
  before the client's next SYN. A retransmitted SYN carries the same ISN and a fresh TSval
  (Linux), so each SYN is judged on its own, as the server's ``tcp_conn_request()`` does.
- ``conns``: one row per connection: the group keys (server ip:port, client ip), whether the
  client ever completed the handshake (a non-SYN ACK from the client), whether a RST was
  seen, who sent the first FIN, and the last client TSval with its time (what a Linux
  server keeps as ``ts_recent`` / ``ts_recent_stamp``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pcapline.model import ACK, FIN, RST, SYN

NO_TIME = np.iinfo(np.int64).max


@dataclass(frozen=True, slots=True)
class Handshakes:
    syns: pd.DataFrame  # conn, frame, time_ns, has_ts, ts_val, answered + group keys
    conns: pd.DataFrame  # id + group keys + facts below, one row per connection
    synack_ns: pd.DataFrame  # server_ip, server_port, time_ns of every server SYN+ACK


GROUP_KEYS: tuple[str, ...] = ("server_ip", "server_port", "client_ip")


def summarize(segments: pd.DataFrame, connections: pd.DataFrame) -> Handshakes:
    keys = connections[["id", *GROUP_KEYS, "client_port", "start_ns", "end_ns"]]
    seg = segments[["conn", "frame", "time_ns", "flags", "from_client", "has_ts", "ts_val"]]
    flags = seg["flags"].to_numpy().astype(np.int64)
    from_client = seg["from_client"].to_numpy(dtype=bool)
    syn_bits = flags & (SYN | ACK | RST)
    is_syn = from_client & (syn_bits == SYN)
    is_synack = ~from_client & ((flags & (SYN | ACK)) == (SYN | ACK)) & ((flags & RST) == 0)
    is_client_ack = from_client & ((flags & ACK) != 0) & ((flags & (SYN | RST)) == 0)

    syns = seg.loc[is_syn, ["conn", "frame", "time_ns", "has_ts", "ts_val"]]
    syns = syns.sort_values(["conn", "time_ns", "frame"], kind="stable").reset_index(drop=True)
    synacks = seg.loc[is_synack, ["conn", "time_ns"]]
    syns["answered"] = _answered(syns, synacks)
    syns = syns.merge(keys[["id", *GROUP_KEYS]], left_on="conn", right_on="id", how="left")
    syns = syns.drop(columns="id")

    per_conn = pd.DataFrame({"conn": seg["conn"].to_numpy()})
    per_conn["client_acked"] = is_client_ack
    per_conn["rst"] = (flags & RST) != 0
    facts = per_conn.groupby("conn", sort=True).agg(client_acked=("client_acked", "any"), rst=("rst", "any"))

    fins = seg.loc[(flags & FIN) != 0, ["conn", "from_client"]]
    first_fin = fins.groupby("conn", sort=True)["from_client"].first()
    facts["server_closed_first"] = (~first_fin.astype(bool)).reindex(facts.index, fill_value=False)

    client_ts = seg.loc[from_client & seg["has_ts"].to_numpy(dtype=bool), ["conn", "time_ns", "ts_val"]]
    last_ts = client_ts.groupby("conn", sort=True).last()
    facts["last_client_ts"] = last_ts["ts_val"].reindex(facts.index).fillna(0).astype(np.int64)
    facts["last_client_ts_ns"] = last_ts["time_ns"].astype("Int64").reindex(facts.index).fillna(NO_TIME).astype(np.int64)
    facts["has_client_ts"] = facts.index.isin(last_ts.index)
    facts["syns"] = syns.groupby("conn")["frame"].size().reindex(facts.index, fill_value=0)

    conns = keys.merge(facts, left_on="id", right_index=True, how="left")
    for column in ("client_acked", "rst", "server_closed_first", "has_client_ts"):
        conns[column] = conns[column].fillna(False).astype(bool)
    conns["syns"] = conns["syns"].fillna(0).astype(np.int64)

    synack_ns = seg.loc[is_synack, ["conn", "time_ns"]].merge(
        keys[["id", "server_ip", "server_port"]], left_on="conn", right_on="id"
    )[["server_ip", "server_port", "time_ns"]]
    return Handshakes(syns=syns, conns=conns, synack_ns=synack_ns)


def _answered(syns: pd.DataFrame, synacks: pd.DataFrame) -> np.ndarray:
    """True for each SYN followed by a server SYN+ACK before the client's next SYN."""
    if syns.empty:
        return np.zeros(0, dtype=bool)
    conn = syns["conn"].to_numpy()
    time_ns = syns["time_ns"].to_numpy()
    next_syn = np.full(len(syns), NO_TIME, dtype=np.int64)  # (int64 max does not survive float NaN)
    same_conn = conn[1:] == conn[:-1]
    next_syn[:-1][same_conn] = time_ns[1:][same_conn]
    left = pd.DataFrame(
        {"conn": conn, "time_ns": time_ns, "row": np.arange(len(syns))}
    ).sort_values("time_ns", kind="stable")
    right = synacks.sort_values("time_ns", kind="stable")
    right = right.assign(synack_ns=right["time_ns"].astype("Int64"))  # exact ns, NA when unmatched
    matched = pd.merge_asof(left, right, on="time_ns", by="conn", direction="forward")
    reply = np.full(len(syns), NO_TIME, dtype=np.int64)
    reply[matched["row"].to_numpy()] = matched["synack_ns"].fillna(NO_TIME).astype(np.int64).to_numpy()
    return reply < next_syn
