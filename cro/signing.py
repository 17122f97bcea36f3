"""Load the CRO's private signing key at startup (environment, file, or a generated dev key)."""

from __future__ import annotations

import os
import sys
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


def _development_key(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    private_key, public_key = keys.generate_keypair()
    # O_EXCL: two processes starting together must not both write a key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(private_key + "\n")
    print(
        f"Generated a development signing key in {path}.\n"
        f"Publish the CRO's public key: {keys.to_cs1(public_key)}",
        file=sys.stderr,
    )
    return private_key
