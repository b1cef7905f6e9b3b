"""The JSON Schemas of pcapline's two JSON contracts, shipped with the package.

``pcapline/1`` (``analyze --format json``, ``Analysis.to_json``) and ``pcapline-scan/1``
(``scan --format json``). docs/contract.md is the prose; these files are its machine-readable
half, closed objects (``additionalProperties: false``) with the vocabularies of
``pcapline.model``. They are written by ``tools/make_schemas.py``; ``pcapline schema NAME``
prints one.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from pcapline.model import SCAN_SCHEMA, SCHEMA

#: Contract name -> file in this package.
FILES: dict[str, str] = {
    SCHEMA: "pcapline-1.schema.json",
    SCAN_SCHEMA: "pcapline-scan-1.schema.json",
}


def schema_text(name: str = SCHEMA) -> str:
    """The schema of contract ``name`` as shipped (KeyError for an unknown name)."""
    return resources.files(__name__).joinpath(FILES[name]).read_text(encoding="utf-8")


def load(name: str = SCHEMA) -> dict[str, Any]:
    """The schema of contract ``name`` as a dict (for ``jsonschema`` or any validator)."""
    value: dict[str, Any] = json.loads(schema_text(name))
    return value


__all__ = ["FILES", "load", "schema_text"]
