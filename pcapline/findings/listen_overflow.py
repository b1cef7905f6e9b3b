from pcapline.findings.base import Finder, FindingInput
from pcapline.model import Finding

def find(data: FindingInput) -> list[Finding]:
    return []

FINDER = Finder("listen_overflow", find)
