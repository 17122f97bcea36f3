"""Hardened XML parsing for untrusted input.

UFTP needs no DTD, no entities and no external resources, so any of those is refused
outright rather than "safely" processed: that closes billion-laughs, external-entity
(XXE) and network/file access in one rule. Pure lxml, no Django.
"""

from lxml import etree

from .errors import MalformedXMLError, XMLSecurityError

DEFAULT_MAX_BYTES = 5_000_000

# libxml2 refuses a text node or attribute value longer than this unless XML_PARSE_HUGE
# (lxml's huge_tree) is set. A SignedMessage's Body attribute holds nearly the whole message,
# so a document limit above it needs huge_tree; the byte check before parsing is what bounds
# the document then, and DTDs and entities stay refused, so no expansion can outgrow it.
LIBXML2_MAX_TEXT_BYTES = 10_000_000

# Markup that only a DTD can introduce. Checked on the raw bytes first so such a document
# is never handed to libxml2 at all; checked again on the parsed tree for encodings
# (e.g. UTF-16) that hide the ASCII bytes.
_DTD_MARKERS = (b"<!DOCTYPE", b"<!ENTITY", b"<!ELEMENT", b"<!ATTLIST")


def _new_parser(*, huge_tree: bool) -> etree.XMLParser:
    # One parser per call: lxml parsers keep state and are not meant to be shared by threads.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=huge_tree,
        remove_blank_text=False,
        collect_ids=False,
    )


def parse_xml(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> etree._Element:
    """Parse untrusted XML bytes into the root element, refusing anything a DTD could do.

    Raises XMLSecurityError for an oversized document, a DOCTYPE/DTD or any entity
    declaration or reference; MalformedXMLError when the bytes are not well-formed XML.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError("parse_xml expects bytes")
    data = bytes(data)
    if len(data) > max_bytes:
        raise XMLSecurityError(f"XML document is {len(data)} bytes, more than the {max_bytes} allowed")
    for marker in _DTD_MARKERS:
        if marker in data:
            raise XMLSecurityError(
                f"XML document contains {marker.decode()}: DTDs and entity declarations "
                "are not allowed in UFTP messages"
            )
    if not data.strip():
        raise MalformedXMLError("XML document is empty")

    try:
        root = etree.fromstring(data, parser=_new_parser(huge_tree=max_bytes > LIBXML2_MAX_TEXT_BYTES))
    except etree.XMLSyntaxError as exc:
        reason = str(exc) or "not well-formed"
        if "Entity" in reason and "not defined" in reason:
            # `&name;` without a declaration: an entity reference, refused as such.
            raise XMLSecurityError(f"XML entity references are not allowed: {reason}") from exc
        raise MalformedXMLError(f"XML is not well-formed: {reason}") from exc
    except ValueError as exc:  # e.g. an encoding declaration lxml cannot honour
        raise MalformedXMLError(f"XML cannot be parsed: {exc}") from exc
    if root is None:
        raise MalformedXMLError("XML document has no root element")

    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise XMLSecurityError("XML document has a DOCTYPE: DTDs are not allowed in UFTP messages")
    for _entity in root.iter(etree.Entity):
        raise XMLSecurityError("XML entity references are not allowed in UFTP messages")
    return root
