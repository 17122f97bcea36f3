"""Load the CRO's private signing key at startup (environment, file, or a generated dev key)."""

from __future__ import annotations

import os
import secrets
import sys
import tempfile
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from registry.uftp import keys


def load_signing_key(*, var_dir: Path, debug: bool) -> str:
    """The base64 private key from CRO_SIGNING_KEY or CRO_SIGNING_KEY_FILE.

    With neither set: in production (DEBUG off) refuse to start; in development generate one
    once into var/cro-signing.key (git-ignored) and print its public `cs1.` string.
    """
    value = os.environ.get("CRO_SIGNING_KEY", "").strip()
    key_file = os.environ.get("CRO_SIGNING_KEY_FILE", "").strip()
    source = "CRO_SIGNING_KEY"
    if not value and key_file:
        source = f"CRO_SIGNING_KEY_FILE ({key_file})"
        try:
            value = Path(key_file).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"cannot read {source}: {exc}") from exc
    if not value:
        if not debug:
            raise ImproperlyConfigured(
                "CRO_SIGNING_KEY or CRO_SIGNING_KEY_FILE must be set when DEBUG is off "
                "(generate one with: python manage.py cro_keygen)"
            )
        return _development_key(var_dir / "cro-signing.key")
    try:
        keys.decode_private_key(value)
    except keys.KeyFormatError as exc:
        raise ImproperlyConfigured(f"{source} is not a valid private key: {exc}") from exc
    return value


def _write_once(path: Path, value: str) -> bool:
    """Create `path` holding `value` unless it exists.

    Written to a private temporary file and hard-linked into place, so processes starting
    together never see a half-written file and only one value wins.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(value + "\n")
        os.link(temporary, path)
    except FileExistsError:
        return False
    finally:
        os.unlink(temporary)
    return True


def load_development_secret(*, var_dir: Path) -> str:
    """Django's SECRET_KEY in development: random, generated once into var/secret-key."""
    path = var_dir / "secret-key"
    _write_once(path, secrets.token_urlsafe(50))
    return path.read_text().strip()


def _development_key(path: Path) -> str:
    private_key, public_key = keys.generate_keypair()
    if not _write_once(path, private_key):
        return path.read_text().strip()
    print(
        f"Generated a development signing key in {path}.\n"
        f"Publish the CRO's public key: {keys.to_cs1(public_key)}",
        file=sys.stderr,
    )
    return private_key
