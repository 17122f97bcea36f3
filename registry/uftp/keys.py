"""Ed25519 key helpers in the UFTP formats.

A private signing key is base64 of 64 bytes (32-byte seed + 32-byte public key), as
NaCl's crypto_sign expects; a public key is base64 of 32 bytes. The published DNS form
is `cs1.` + base64(signing public key [+ 32-byte encryption public key]).
"""

import base64
import binascii
import functools

from nacl.signing import SigningKey

from .errors import KeyFormatError

CS1_PREFIX = "cs1."
PRIVATE_KEY_BYTES = 64
PUBLIC_KEY_BYTES = 32


def _b64decode_strict(value: str | bytes, *, what: str) -> bytes:
    if not isinstance(value, str | bytes):
        raise KeyFormatError(f"{what} must be a base64 string")
    try:
        return base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyFormatError(f"{what} is not valid base64") from exc


def decode_private_key(private_key: str) -> bytes:
    """Return the 64 raw bytes of a base64 private key; check seed and public half agree."""
    if not isinstance(private_key, str | bytes):
        raise KeyFormatError("private key must be a base64 string")
    return _private_key_decoded(private_key)


@functools.lru_cache(maxsize=16)
def _private_key_decoded(private_key: str | bytes) -> bytes:
    """Remembered for the few keys a process uses (its own, a rotated one): every response is
    signed with it, and deriving the public half again cost a fiftieth of the worker's CPU.
    (A key that fails raises, and nothing is remembered.)"""
    raw = _b64decode_strict(private_key, what="private key")
    if len(raw) != PRIVATE_KEY_BYTES:
        raise KeyFormatError(f"private key must decode to {PRIVATE_KEY_BYTES} bytes, got {len(raw)}")
    if bytes(SigningKey(raw[:32]).verify_key) != raw[32:]:
        raise KeyFormatError("private key's public half does not match its seed")
    return raw


def decode_public_key(public_key: str) -> bytes:
    """Return the 32 raw bytes of a base64 public key (a `cs1.` string is accepted too)."""
    if isinstance(public_key, str) and public_key.strip().startswith(CS1_PREFIX):
        public_key = from_cs1(public_key)[0]
    raw = _b64decode_strict(public_key, what="public key")
    if len(raw) != PUBLIC_KEY_BYTES:
        raise KeyFormatError(f"public key must decode to {PUBLIC_KEY_BYTES} bytes, got {len(raw)}")
    return raw


def normalize_public_key(public_key: str) -> str:
    """Canonical base64 form of a public key given as base64 or as a `cs1.` string."""
    return base64.b64encode(decode_public_key(public_key)).decode("ascii")


def generate_keypair() -> tuple[str, str]:
    """A new (private key, public key) pair, both base64."""
    signing_key = SigningKey.generate()
    private = bytes(signing_key) + bytes(signing_key.verify_key)
    return (
        base64.b64encode(private).decode("ascii"),
        base64.b64encode(bytes(signing_key.verify_key)).decode("ascii"),
    )


def public_key_from_private(private_key: str) -> str:
    """The base64 public key belonging to a base64 private key."""
    return base64.b64encode(decode_private_key(private_key)[32:]).decode("ascii")


def to_cs1(signing_public_key: str, encryption_public_key: str | None = None) -> str:
    """The published `cs1.` form of a signing public key (and optional encryption key)."""
    raw = decode_public_key(signing_public_key)
    if encryption_public_key is not None:
        raw += decode_public_key(encryption_public_key)
    return CS1_PREFIX + base64.b64encode(raw).decode("ascii")


def from_cs1(value: str) -> tuple[str, str | None]:
    """Split a `cs1.` string into (signing public key, encryption public key or None)."""
    if not isinstance(value, str) or not value.strip().startswith(CS1_PREFIX):
        raise KeyFormatError("a published key must start with 'cs1.'")
    raw = _b64decode_strict(value.strip()[len(CS1_PREFIX) :], what="cs1 key")
    if len(raw) == PUBLIC_KEY_BYTES:
        return base64.b64encode(raw).decode("ascii"), None
    if len(raw) == 2 * PUBLIC_KEY_BYTES:
        return (
            base64.b64encode(raw[:32]).decode("ascii"),
            base64.b64encode(raw[32:]).decode("ascii"),
        )
    raise KeyFormatError(f"cs1 key must decode to 32 or 64 bytes, got {len(raw)}")
