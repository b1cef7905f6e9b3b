"""Every scenario, listed explicitly (no discovery by naming convention).

``net`` is the second octet of the scenario's 10.x addresses (unique, so scenarios can run
in parallel); ``seconds`` is the rough wall time, used to start the long ones first.
"""

from __future__ import annotations

from tools.samplegen.scenario import Scenario
from tools.samplegen.scenarios import (
    application,
    closing,
    derived,
    dying,
    endpoint_causes,
    linktypes,
    network,
    opening,
    slow,
    special,
    tunnels,
)

SCENARIOS: list[Scenario] = [
    # orderly and abortive ends
    Scenario("closed-client-first", 11, closing.closed_client_first, 2),
    Scenario("closed-server-first", 12, closing.closed_server_first, 2),
    Scenario("closed-simultaneous", 13, closing.closed_simultaneous, 3),
    Scenario("refused", 14, closing.refused, 1),
    Scenario("reset-linger0", 15, closing.reset_linger0, 2),
    Scenario("reset-unread", 16, closing.reset_unread, 2),
    Scenario("half-closed", 17, closing.half_closed, 3),
    Scenario("open-idle", 18, closing.open_idle, 3),
    Scenario("midstream", 19, closing.open_midstream, 3),
    Scenario("reset-after-fin", 20, closing.reset_after_fin, 2),
    Scenario("stale-peer", 26, closing.stale_peer_challenge_ack, 3),
    # failures while opening
    Scenario("connect-timeout-linear", 21, opening.connect_timeout_linear, 21),
    Scenario("connect-timeout-classic", 22, opening.connect_timeout_classic, 9),
    Scenario("connect-abandoned-by-app", 76, opening.connect_abandoned_by_the_application, 7),
    Scenario("handshake-timeout", 23, opening.handshake_timeout, 10),
    Scenario("listen-overflow-abort0", 24, opening.listen_overflow_noabort, 17),
    Scenario("listen-overflow-abort1", 25, opening.listen_overflow_abort, 10),
    Scenario("syn-flood-cookies", 27, opening.syn_flood_cookies, 11),
    # slow, not dead: connections that succeed after SYN retries or a late answer
    Scenario("slow-syn-retries", 28, slow.syn_retries_succeed, 8),
    Scenario("slow-accept-burst", 29, slow.accept_queue_burst, 6),
    Scenario("slow-accept-first-data", 82, slow.accept_queue_first_data, 6),
    Scenario("slow-rto-recover", 47, slow.rto_episodes_recover, 6),
    Scenario("slow-response-turns", 48, slow.response_turns, 4),
    Scenario("slow-rto-storm", 49, slow.rto_storm, 6),
    Scenario("slow-response-jump", 50, slow.response_jump, 5),
    Scenario("slow-response-http-keepalive", 121, slow.http_keepalive_turns, 4),
    Scenario("slow-response-unprompted", 122, slow.unprompted_peers, 9),
    Scenario("slow-window-full", 118, slow.window_full_paced_reader, 5),
    Scenario("slow-answers-lost", 72, slow.answers_lost_for_a_while, 8),
    Scenario("slow-queue-spurious", 73, slow.spurious_timeouts_behind_a_queue, 8),
    Scenario("slow-path-rtt", 74, slow.data_rtt_on_a_long_path, 10),
    Scenario("slow-nagle-delayed-ack", 77, slow.nagle_delayed_ack, 5),
    Scenario("slow-nagle-path", 78, slow.nagle_delayed_ack_on_a_path, 6),
    Scenario("slow-app-pause", 79, slow.app_pause_mid_answer, 6),
    # established, then the peer vanishes
    Scenario("keepalive-client-2-1-3", 31, dying.keepalive_client_2_1_3, 8),
    Scenario("keepalive-client-3-2-2", 32, dying.keepalive_client_3_2_2, 9),
    Scenario("keepalive-server-2-1-2", 33, dying.keepalive_server_2_1_2, 6),
    Scenario("keepalive-healthy", 34, dying.keepalive_healthy, 7),
    Scenario("keepalive-user-timeout", 30, dying.keepalive_user_timeout, 7),
    Scenario("retransmit-retries2", 35, dying.retransmit_retries2, 9),
    Scenario("retransmit-user-timeout", 36, dying.retransmit_user_timeout, 6),
    Scenario("retransmit-router", 37, dying.retransmit_router, 10),
    Scenario("zero-window-recovers", 38, dying.zero_window_recovers, 5),
    Scenario("persist-timeout", 39, dying.persist_timeout, 6),
    # causes from the network path: a router namespace between the two hosts
    Scenario("icmp-reject-v4", 62, network.icmp_reject_v4, 3),
    Scenario("icmp-reject-v6", 63, network.icmp_reject_v6, 3),
    Scenario("icmp-lb-dead-backend", 75, network.icmp_load_balancer_dead_backend, 6),
    Scenario("pmtu-black-hole", 64, network.pmtu_black_hole, 10),
    Scenario("pmtu-probing", 65, network.pmtu_probing_recovers, 6),
    Scenario("packet-too-big-v6", 66, network.packet_too_big_v6, 3),
    Scenario("idle-timeout-drop", 67, network.idle_timeout_drop, 17),
    Scenario("idle-timeout-rst-v6", 68, network.idle_timeout_rst_v6, 10),
    Scenario("injected-rst", 69, network.injected_rst, 3),
    Scenario("pmtu-black-hole-v6", 70, network.pmtu_black_hole_v6, 10),
    # port reuse, IPv6, lossy crowd
    Scenario("port-reuse", 41, special.port_reuse, 2),
    Scenario("ipv6-closed", 42, special.ipv6_closed, 2),
    Scenario("ipv6-refused", 43, special.ipv6_refused, 1),
    Scenario("lossy-mix", 44, special.lossy_mix, 12),
    Scenario("nat-three-clocks", 45, special.nat_three_clocks, 4),
    Scenario("copies-behind-a-queue", 46, special.copies_behind_a_queue, 3),
    Scenario("nat-gateway-any", 80, special.nat_gateway_captured_on_any, 5),
    Scenario("lb-one-backend-refuses", 81, network.load_balancer_one_backend_refuses, 5),
    Scenario("port-scan-refused", 83, network.port_scan_refused, 5),
    Scenario("half-open-probes", 84, network.half_open_probes, 5),
    Scenario("stealth-scan", 85, network.stealth_scan, 5),
    Scenario("nat-lookalike-firewall", 71, special.firewall_drops_one_hosts_syns, 15),
    # link types and file formats
    Scenario("linktype-sll2", 51, linktypes.sll2_any, 2),
    Scenario("linktype-sll1", 52, linktypes.sll1_any, 2),
    Scenario("format-nanosecond", 53, linktypes.nanosecond, 2),
    Scenario("format-snaplen96", 54, linktypes.snaplen96, 2),
    Scenario("linktype-loopback", 55, linktypes.loopback, 2),
    Scenario("tso-super-segments", 56, linktypes.tso_super_segments, 2),
    Scenario("vlan-8021q", 57, linktypes.vlan_8021q, 3),
    Scenario("vlan-qinq", 58, linktypes.vlan_qinq, 3),
    Scenario("raw-tun", 59, linktypes.raw_tun, 3),
    Scenario("pcapng-two-interfaces", 60, linktypes.pcapng_two_interfaces, 4),
    Scenario("derived-files", 61, derived.derived_files, 2),
    # tunnels, captured on the underlay (the inner connection is the one analysed)
    Scenario("tunnel-vxlan", 90, tunnels.vxlan, 3),
    Scenario("tunnel-vxlan6", 91, tunnels.vxlan_ipv6, 3),
    Scenario("tunnel-ipip", 92, tunnels.ipip, 3),
    Scenario("tunnel-6in4", 93, tunnels.sit, 3),
    Scenario("tunnel-4in6", 94, tunnels.four_in_six, 3),
    Scenario("tunnel-gre", 95, tunnels.gre, 3),
    Scenario("tunnel-gretap", 96, tunnels.gretap, 3),
    Scenario("tunnel-erspan2", 97, tunnels.erspan2, 3),
    Scenario("tunnel-erspan3", 98, tunnels.erspan3, 3),
    Scenario("tunnel-geneve", 99, tunnels.geneve, 3),
    Scenario("tunnel-gtpu", 100, tunnels.gtpu, 3),
    Scenario("tunnel-teredo", 101, tunnels.teredo, 3),
    # Nets 102-109 were renumbered when three branches had each taken 62-68: the captures in
    # sample_captures/ were made with net 62-68 (10.62.x ...); a regeneration moves them.
    # application context: real TLS (throw-away certificate) and HTTP/1.1
    Scenario("app-tls-http", 102, application.tls_and_http, 4),
    # endpoint causes (issue 9): why a host ended the connection
    Scenario("peer-lost-state", 103, endpoint_causes.peer_lost_state, 4),
    Scenario("orphaned-fin-wait2", 104, endpoint_causes.orphaned_fin_wait2, 7),
    Scenario("app-gave-up", 105, endpoint_causes.app_gave_up, 8),
    Scenario("keepalive-race", 106, endpoint_causes.keepalive_race, 4),
    Scenario("syn-cookies-forced", 107, endpoint_causes.syn_cookies_forced, 2),
    Scenario("syn-flood-cookies-client", 108, endpoint_causes.syn_flood_cookies_and_a_client, 12),
    Scenario("retransmit-uto-give-up", 109, endpoint_causes.retransmit_user_timeout_give_up, 11),
]
