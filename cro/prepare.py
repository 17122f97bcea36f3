"""Prepare var/ before the CRO's processes start: `python -m cro.prepare` (bin/run runs it).

Settings only read; this creates what the embedded default reads: the var/ folder (SQLite
database, file cache) and, with DEBUG on, the development SECRET_KEY (var/secret-key) and signing
key (var/cro-signing.key) unless the environment gives them. Running it again changes nothing.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from cro.signing import SIGNING_KEY_FILE_NAME, ensure_development_secrets

BASE_DIR = Path(__file__).resolve().parent.parent


def main() -> int:
    var_dir = Path(os.environ.get("CRO_VAR_DIR", BASE_DIR / "var"))
    var_dir.mkdir(parents=True, exist_ok=True)
    debug = os.environ.get("DEBUG", "").strip().lower() in {"1", "true", "yes", "on"}
    if not debug:
        return 0
    needs_signing_key = not (
        os.environ.get("CRO_SIGNING_KEY", "").strip() or os.environ.get("CRO_SIGNING_KEY_FILE", "").strip()
    )
    published = ensure_development_secrets(var_dir=var_dir, signing_key=needs_signing_key)
    if published:
        print(
            f"Generated a development signing key in {var_dir / SIGNING_KEY_FILE_NAME}.\n"
            f"Publish the CRO's public key: {published}",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
