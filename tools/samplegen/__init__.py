"""Sample capture generator: real Linux TCP in network namespaces -> sample_captures/.

Run as root from the repository root::

    sudo python -m tools.samplegen                 # every scenario
    sudo python -m tools.samplegen --only keepalive-client-idle2-intvl1-cnt3
    python -m tools.samplegen --list

Each scenario builds namespaces (``pls-*``), runs real sockets, drops packets with nftables,
captures with tcpdump/dumpcap, and writes ``<capture>`` plus ``<stem>.expected.json`` whose
fates and counts come from how the scenario was built, never from reading the capture.
"""
