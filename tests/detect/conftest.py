"""Make the crafted-segment builder importable for the detector tests."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
