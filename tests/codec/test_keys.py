"""Key helpers: generate, derive, cs1 round trip, and their errors."""

from __future__ import annotations

import base64

import pytest
from nacl.signing import SigningKey

from registry.uftp import keys
from registry.uftp.errors import KeyFormatError


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def test_generate_keypair_formats():
    private, public = keys.generate_keypair()
    assert len(base64.b64decode(private)) == 64
    assert len(base64.b64decode(public)) == 32
    assert keys.decode_private_key(private)[32:] == keys.decode_public_key(public)
    assert keys.generate_keypair() != (private, public)


def test_public_key_from_private_derives_the_pair():
    private, public = keys.generate_keypair()
    assert keys.public_key_from_private(private) == public


def test_keys_match_nacl():
    seed = bytes(range(32))
    signing_key = SigningKey(seed)
    private = b64(seed + bytes(signing_key.verify_key))
    assert keys.public_key_from_private(private) == b64(bytes(signing_key.verify_key))


def test_cs1_round_trip_signing_key_only():
    _, public = keys.generate_keypair()
    published = keys.to_cs1(public)
    assert published.startswith("cs1.")
    assert keys.from_cs1(published) == (public, None)
    assert keys.normalize_public_key(published) == public
    assert keys.decode_public_key(published) == base64.b64decode(public)


def test_cs1_round_trip_with_encryption_key():
    _, signing = keys.generate_keypair()
    _, encryption = keys.generate_keypair()
    published = keys.to_cs1(signing, encryption)
    assert len(base64.b64decode(published[4:])) == 64
    assert keys.from_cs1(published) == (signing, encryption)
    assert keys.normalize_public_key(published) == signing


def test_normalize_strips_whitespace():
    _, public = keys.generate_keypair()
    assert keys.normalize_public_key(f"  {public}\n") == public


@pytest.mark.parametrize(
    "value",
    ["", "%%%", b64(b"\x00" * 31), b64(b"\x00" * 33), b64(b"\x00" * 64), 42, None],
)
def test_bad_public_keys(value):
    with pytest.raises(KeyFormatError):
        keys.decode_public_key(value)


@pytest.mark.parametrize("value", ["", "%%%", b64(b"\x00" * 32), b64(b"\x00" * 63), b64(b"\x00" * 64), None])
def test_bad_private_keys(value):
    with pytest.raises(KeyFormatError):
        keys.decode_private_key(value)


def test_private_key_with_foreign_public_half_is_refused():
    private_a, _ = keys.generate_keypair()
    _, public_b = keys.generate_keypair()
    mixed = b64(keys.decode_private_key(private_a)[:32] + base64.b64decode(public_b))
    with pytest.raises(KeyFormatError, match="does not match"):
        keys.decode_private_key(mixed)


@pytest.mark.parametrize(
    "value", ["AAAA", "cs2." + b64(b"\x00" * 32), "cs1.%%%", "cs1." + b64(b"\x00" * 48), None]
)
def test_bad_cs1_strings(value):
    with pytest.raises(KeyFormatError):
        keys.from_cs1(value)
