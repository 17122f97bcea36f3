"""Validation against the CRO's own XSD of a major version (registry/uftp/schemas/).

Schemas are compiled once per process from the package files; nothing is fetched.
"""

from __future__ import annotations

import threading
from pathlib import Path

from lxml import etree

from .errors import SchemaError
from .versions import schema_set_for_major

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
SCHEMA_FILE_NAME = "cro-messages.xsd"
# How many of lxml's error lines go into a SchemaError message.
MAX_ERROR_LINES = 3

_compiled: dict[int, etree.XMLSchema] = {}
# An XMLSchema object keeps its error log on itself, so validations take turns.
_lock = threading.Lock()


def schema_path(*, major: int) -> Path:
    return SCHEMA_DIR / schema_set_for_major(major) / SCHEMA_FILE_NAME


def _compile(major: int) -> etree.XMLSchema:
    # Our own, trusted file; still parsed without network access.
    parser = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)
    document = etree.parse(str(schema_path(major=major)), parser)
    return etree.XMLSchema(document)


def _schema(major: int) -> etree.XMLSchema:
    schema = _compiled.get(major)
    if schema is None:
        schema = _compiled.setdefault(major, _compile(major))
    return schema


def validate(element: etree._Element, *, major: int) -> None:
    """Raise SchemaError (with lxml's first error lines) unless `element` is valid."""
    with _lock:
        schema = _schema(major)
        if schema.validate(element):
            return
        errors = [f"line {error.line}: {error.message}" for error in schema.error_log]
    shown = errors[:MAX_ERROR_LINES] or ["document is not valid"]
    more = f" (and {len(errors) - len(shown)} more)" if len(errors) > len(shown) else ""
    raise SchemaError(f"not valid against the Shapeshifter {major}.x schema: " + "; ".join(shown) + more)


def is_valid(element: etree._Element, *, major: int) -> bool:
    try:
        validate(element, major=major)
    except SchemaError:
        return False
    return True
