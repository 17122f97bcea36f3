"""The official Shapeshifter XSDs, loaded for tests only: they are a test oracle, never a
project file. Set UFTP_SPEC_DIR to the spec checkout (default /work/shared/uftp-spec)."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest
from lxml import etree

SPEC_DIR = Path(os.environ.get("UFTP_SPEC_DIR", "/work/shared/uftp-spec"))
OFFICIAL_VERSIONS = ("3.0.0", "3.1.0")
# The spec's head, which names no version string; the CRO speaks it as 4.0.0.
HEAD_XSD = "latest"

requires_official_xsd = pytest.mark.skipif(
    not all((SPEC_DIR / "xsd" / v / "UFTP-cro.xsd").is_file() for v in (*OFFICIAL_VERSIONS, HEAD_XSD)),
    reason=f"official UFTP XSDs not found under {SPEC_DIR} (set UFTP_SPEC_DIR)",
)


@functools.cache
def official_schema(version: str) -> etree.XMLSchema:
    path = SPEC_DIR / "xsd" / version / "UFTP-cro.xsd"
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    return etree.XMLSchema(etree.parse(str(path), parser))


def official_verdict(xml: bytes | etree._Element, *, version: str) -> tuple[bool, str]:
    """(valid?, first error) of a document against the official UFTP-cro.xsd of `version`
    (a version directory under xsd/: 3.0.0, 3.1.0 or latest)."""
    element = etree.fromstring(xml) if isinstance(xml, bytes) else xml
    schema = official_schema(version)
    valid = schema.validate(element)
    return valid, "" if valid else str(schema.error_log.last_error)
