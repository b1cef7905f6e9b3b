"""Renderers: each reads a finished ``Analysis`` and never decides anything about TCP.

- ``terminal.py``  rich summary and connection table (``--format text``)
- ``jsondoc.py``   the ``pcapline/1`` JSON document (``--format json``)
- ``tables.py``    CSV and Parquet, one row per connection (``--format csv|parquet``)
- ``html.py``      one self-contained HTML report (``--format html``, ``pcapline report``)
"""
