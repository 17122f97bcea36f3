"""The UFTP codec: XML, schema, signing and keys. Pure Python: no Django imports here."""

from .codec import (
    SignedEnvelope,
    build_signed_message,
    open_body,
    parse_any,
    parse_message,
    parse_signed_message,
    seal,
    serialize,
)
from .errors import (
    EnvelopeError,
    KeyFormatError,
    MalformedXMLError,
    SchemaError,
    SignatureError,
    UFTPError,
    UnsupportedMessageType,
    UnsupportedVersion,
    XMLSecurityError,
)
from .schema import validate
from .versions import SUPPORTED_VERSIONS, VersionProfile, profile_for, schema_major_for_path
from .xmlsafe import parse_xml

__all__ = [
    "SUPPORTED_VERSIONS",
    "EnvelopeError",
    "KeyFormatError",
    "MalformedXMLError",
    "SchemaError",
    "SignatureError",
    "SignedEnvelope",
    "UFTPError",
    "UnsupportedMessageType",
    "UnsupportedVersion",
    "VersionProfile",
    "XMLSecurityError",
    "build_signed_message",
    "open_body",
    "parse_any",
    "parse_message",
    "parse_signed_message",
    "parse_xml",
    "profile_for",
    "schema_major_for_path",
    "seal",
    "serialize",
    "validate",
]
