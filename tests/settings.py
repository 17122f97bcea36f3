"""Settings for the test suite: production settings with test defaults for what must be set.

Values go into os.environ (not only into this module) so that the processes the end-to-end
tests start (web server, Celery worker) run with the very same configuration.
"""

import os

from registry.uftp.keys import generate_keypair

os.environ.setdefault("SECRET_KEY", "test-secret-key-for-the-test-suite-only-0123456789")
os.environ.setdefault("CRO_DOMAIN", "cro.example.com")
os.environ.setdefault("ALLOWED_HOSTS", "*")
os.environ.setdefault("CRO_VAR_DIR", "/tmp/cro-test-var")
# Each pytest-xdist worker (gw0, gw1, ...) gets a var dir of its own: caches, broker folders and the
# SQLite test database are never shared between parallel workers.
if os.environ.get("PYTEST_XDIST_WORKER") and not os.environ.get("CRO_TEST_VAR_DIR_SET"):
    os.environ["CRO_VAR_DIR"] = f"{os.environ['CRO_VAR_DIR']}-{os.environ['PYTEST_XDIST_WORKER']}"
    os.environ["CRO_TEST_VAR_DIR_SET"] = "1"  # child processes inherit it as it is
# Settings only read: the SQLite test database's folder must exist before Django opens it
# (a fresh machine has no /tmp/cro-test-var-gw0 yet).
os.makedirs(os.environ["CRO_VAR_DIR"], exist_ok=True)
# Tests that exercise the limit lower it themselves.
os.environ.setdefault("CRO_RATE_LIMIT_PER_MINUTE", "100000")
# The tests (and the processes the e2e tests start) speak plain HTTP: no redirect to HTTPS.
os.environ.setdefault("CRO_SECURE_SSL_REDIRECT", "0")
# Open-mode tests run their own DNS server, which validates nothing; tests that check the
# DNSSEC rule turn it on.
os.environ.setdefault("CRO_DNS_REQUIRE_DNSSEC", "0")
if not os.environ.get("CRO_SIGNING_KEY") and not os.environ.get("CRO_SIGNING_KEY_FILE"):
    os.environ["CRO_SIGNING_KEY"] = generate_keypair()[0]

from cro.settings import *  # noqa: E402,F403

# Open-mode tests post to http endpoints on loopback; the tests of that rule turn this off.
CRO_DNS_ALLOW_INTERNAL_ENDPOINTS = True

if not CACHE_URL:  # noqa: F405
    # In-process tests get a private cache; processes started by the e2e tests share Redis.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Tests speak plain HTTP to the test client.
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A test database in a file, not in memory: the live server of the browser tests then reads
    # through connections of its own (WAL, busy timeout) instead of sharing the test thread's one
    # connection, where a request reading while the test writes fails with "table is locked".
    # pytest-django appends the xdist worker's name to it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}  # noqa: F405

# The static files are found once per process instead of once per test client (tests/static_files.py).
MIDDLEWARE = [  # noqa: F405
    "tests.static_files.WhiteNoiseScanOnceMiddleware"
    if name == "whitenoise.middleware.WhiteNoiseMiddleware"
    else name
    for name in MIDDLEWARE  # noqa: F405
]
