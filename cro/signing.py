"""The CRO's signing key: read it at startup, derive its public key, create development secrets.

Reading (`load_signing_key`, `load_development_secret`) only reads: settings call them on import.
Creating the development key and secret is `ensure_development_secrets`, run by `bin/run` before
the processes start (`python -m cro.prepare`).
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from registry.uftp import keys

SIGNING_KEY_FILE_NAME = "cro-signing.key"
SECRET_KEY_FILE_NAME = "secret-key"  # noqa: S105 (a file name, not a secret)


def load_signing_key(*, var_dir: Path, debug: bool) -> str:
    """The base64 private key from CRO_SIGNING_KEY or CRO_SIGNING_KEY_FILE.

    With neither set: in production (DEBUG off) refuse to start; in development read the key
    `bin/run` generated into var/cro-signing.key (git-ignored).
    """
    value = os.environ.get("CRO_SIGNING_KEY", "").strip()
    key_file = os.environ.get("CRO_SIGNING_KEY_FILE", "").strip()
    source = "CRO_SIGNING_KEY"
    if not value and key_file:
        source = f"CRO_SIGNING_KEY_FILE ({key_file})"
    elif not value and debug and (var_dir / SIGNING_KEY_FILE_NAME).exists():
        key_file = str(var_dir / SIGNING_KEY_FILE_NAME)
        source = f"the development key {key_file}"
    if not value and key_file:
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
        raise ImproperlyConfigured(
            "no signing key: set CRO_SIGNING_KEY or CRO_SIGNING_KEY_FILE, or create a development "
            "key with: DEBUG=1 python -m cro.prepare (bin/run does)"
        )
    try:
        keys.decode_private_key(value)
    except keys.KeyFormatError as exc:
        raise ImproperlyConfigured(f"{source} is not a valid private key: {exc}") from exc
    return value


def load_development_secret(*, var_dir: Path) -> str:
    """Django's SECRET_KEY in development: the one `bin/run` generated into var/secret-key."""
    path = var_dir / SECRET_KEY_FILE_NAME
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise ImproperlyConfigured(
            f"SECRET_KEY is not set and {path} cannot be read ({exc.strerror}); set SECRET_KEY, or "
            "create a development secret with: DEBUG=1 python -m cro.prepare (bin/run does)"
        ) from exc


def cro_signing_key() -> str:
    """The configured private key; ImproperlyConfigured saying how to set it when there is none
    (the settings defer that error to what needs the key)."""
    from django.conf import settings

    if not settings.CRO_SIGNING_KEY:
        from cro.configuration import configuration_require

        configuration_require()
    return settings.CRO_SIGNING_KEY


def cro_public_key() -> str:
    """Base64 of the CRO's public key, derived from the configured private key."""
    return keys.public_key_from_private(cro_signing_key())


def ensure_development_secrets(*, var_dir: Path, signing_key: bool) -> str | None:
    """Create var/secret-key and (with `signing_key`) var/cro-signing.key unless they exist.

    Returns the public cs1. string of a signing key created now, None when nothing new was made.
    """
    _write_once(var_dir / SECRET_KEY_FILE_NAME, secrets.token_urlsafe(50))
    if not signing_key:
        return None
    private_key, public_key = keys.generate_keypair()
    if not _write_once(var_dir / SIGNING_KEY_FILE_NAME, private_key):
        return None
    return keys.to_cs1(public_key)


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
