"""The report's charts, one module per figure, each a function of finished records.

- ``capture_timeline``: every connection as a bar over the capture, coloured by fate.
- ``time_sequence``: Stevens/tcptrace time-sequence graph of one connection.
- ``backoff``: the gaps between attempts of each retry series the detectors found.
- ``stall_strip``: under each capture-timeline bar, the time the connection lost, by cause.
- ``delay_distribution``: CDFs of connect and response times on a log axis.

They draw; they decide nothing about TCP (the detectors and classify did). Colours, marks and
the shared plotly layout come from ``render/palette.py``; ``render/html.py`` embeds the figures.
Times on every x axis are seconds relative to a stated origin (capture start or connection
start), as Wireshark shows them by default, in float64; only WebGL capture timelines send
float32 (WebGL draws in float32 anyway; the table keeps the exact times).
"""
