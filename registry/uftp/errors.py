"""Every error the UFTP codec raises. One hierarchy, so callers map them to HTTP answers."""


class UFTPError(Exception):
    """Base class of every codec error; `str(error)` is a clear, human-readable reason."""


class KeyFormatError(UFTPError):
    """A key or a `cs1.` string is not valid base64 of the right length."""


class XMLSecurityError(UFTPError):
    """The XML holds a DTD, an entity declaration or reference, or is too large."""


class MalformedXMLError(UFTPError):
    """The XML is not well-formed."""


class EnvelopeError(UFTPError):
    """The outer document is not a valid SignedMessage (shape, attributes, base64 Body)."""


class SignatureError(UFTPError):
    """The Body does not verify with any of the sender's public keys, or is truncated."""


class SchemaError(UFTPError):
    """The inner message is not valid against the schema of its version."""


class UnsupportedMessageType(UFTPError):
    """The inner message is well-formed but not a message type a CRO receives."""


class UnsupportedVersion(UFTPError):
    """No schema or version profile exists for the requested major version."""
