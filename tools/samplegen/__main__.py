"""CLI: ``python -m tools.samplegen [--only NAME ...] [--jobs N] [--out DIR] [--list]``."""

from tools.samplegen.generate import main

main()
