"""Test data builders: one module per job, shared by every test folder.

- ``frames``: byte-exact link, IPv4/IPv6, TCP (with options) and UDP headers: one frame.
- ``capture_files``: pcap and pcapng containers (blocks one by one, for reader tests).
- ``conversation``: one TCP conversation written segment by segment (sequence numbers track
  themselves); becomes a segments table or a pcap.
- ``segments``: the segments table (pipeline dtypes, frame numbers) from any rows, and a
  minimal connections table.
- ``wire``: many short connections between named hosts, for the cross-connection finders.
- ``analysis``: a small hand-valued ``Analysis`` for renderer and filter tests.
- ``html_scenarios``: a realistic many-connection ``Analysis`` for the HTML report tests.
- ``captures``: named crafted captures: the plumbing capture the CLI tests use and the
  generators of tests/captures/*.pcap (regenerate: ``python -m builders.captures`` from tests/).

Import them as ``from builders.conversation import Conversation`` (pytest puts tests/ on the
path: ``pythonpath`` in pyproject.toml).
"""
