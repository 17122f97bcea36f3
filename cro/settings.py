"""Settings of the CRO: one module, driven by environment variables (see README and .env.example).

Importing it only reads: the environment and, in DEBUG, the development secrets `bin/run` created
in var/ (`python -m cro.prepare`). It never writes a file or a folder.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from registry.uftp.vocabulary import AGR_CONFLICT_POLICIES, CRO_MODES

from .signing import load_development_secret, load_signing_key

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("CRO_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)

# What serving needs and the environment does not give. Commands that serve nothing (makemigrations,
# check, cro_keygen) run without them; the web server, the Celery worker and beat, and
# `manage.py check --deploy` refuse to start while one is missing (cro/configuration.py).
CRO_SETTINGS_MISSING: list[str] = []

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        CRO_SETTINGS_MISSING.append("SECRET_KEY must be set when DEBUG is off")
    else:
        # Development: the random secret `bin/run` generated once into the git-ignored var/ directory.
        try:
            SECRET_KEY = load_development_secret(var_dir=VAR_DIR)
        except ImproperlyConfigured as exc:
            CRO_SETTINGS_MISSING.append(str(exc))
elif not DEBUG and len(SECRET_KEY) < 32:
    raise ImproperlyConfigured("SECRET_KEY must be a real secret of at least 32 characters")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if not DEBUG else "*")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

# ------------------------------------------------------------------------------ the CRO
CRO_DOMAIN = os.environ.get("CRO_DOMAIN", "cro.localhost.test" if DEBUG else "")
if not CRO_DOMAIN:
    CRO_SETTINGS_MISSING.append("CRO_DOMAIN must be set when DEBUG is off")
try:
    CRO_SIGNING_KEY = load_signing_key(var_dir=VAR_DIR, debug=DEBUG)
except ImproperlyConfigured as exc:
    CRO_SIGNING_KEY = ""
    CRO_SETTINGS_MISSING.append(str(exc))
CRO_MODE = os.environ.get("CRO_MODE", "closed").strip().lower()
if CRO_MODE not in CRO_MODES:
    raise ImproperlyConfigured("CRO_MODE must be 'closed' or 'open'")
CRO_TIME_ZONE = os.environ.get("CRO_TIME_ZONE", "Europe/Amsterdam")
# The one zone every page shows times in (web pages, parsed messages, Django admin), labelled.
CRO_DISPLAY_TIME_ZONE = os.environ.get("CRO_DISPLAY_TIME_ZONE", CRO_TIME_ZONE)
# How a newer AGR claim on a represented connection is handled: reject | supersede.
CRO_AGR_CONFLICT_POLICY = os.environ.get("CRO_AGR_CONFLICT_POLICY", "reject").strip().lower()
if CRO_AGR_CONFLICT_POLICY not in AGR_CONFLICT_POLICIES:
    raise ImproperlyConfigured("CRO_AGR_CONFLICT_POLICY must be 'reject' or 'supersede'")
CRO_MAX_MESSAGE_BYTES = env_int("CRO_MAX_MESSAGE_BYTES", 10 * 1024 * 1024)
# Django must let the endpoint read a body of the allowed size.
DATA_UPLOAD_MAX_MEMORY_SIZE = max(CRO_MAX_MESSAGE_BYTES, 2_621_440)
# Requests per sender (domain, role) per minute; 0 switches the limit off.
CRO_RATE_LIMIT_PER_MINUTE = env_int("CRO_RATE_LIMIT_PER_MINUTE", 600)
# Requests per client address per minute, counted before the signature check (so forged
# envelopes never count against the sender they claim); 0 switches the limit off.
CRO_RATE_LIMIT_PER_ADDRESS_PER_MINUTE = env_int(
    "CRO_RATE_LIMIT_PER_ADDRESS_PER_MINUTE", CRO_RATE_LIMIT_PER_MINUTE
)
# Delivery of responses: retried with exponential backoff for this long, then failed.
CRO_DELIVERY_RETRY_SECONDS = env_int("CRO_DELIVERY_RETRY_SECONDS", 3600)
CRO_DELIVERY_BACKOFF_BASE_SECONDS = env_int("CRO_DELIVERY_BACKOFF_BASE_SECONDS", 10)
CRO_DELIVERY_BACKOFF_MAX_SECONDS = env_int("CRO_DELIVERY_BACKOFF_MAX_SECONDS", 600)
CRO_DELIVERY_TIMEOUT_SECONDS = env_int("CRO_DELIVERY_TIMEOUT_SECONDS", 30)
# Open mode: DNS answers are cached this long; a lookup gives up after the timeout.
CRO_DNS_CACHE_SECONDS = env_int("CRO_DNS_CACHE_SECONDS", 3600)
CRO_DNS_TIMEOUT_SECONDS = env_int("CRO_DNS_TIMEOUT_SECONDS", 5)
# Name servers for open-mode lookups ("host" or "host:port", comma-separated); empty: the system's.
CRO_DNS_NAMESERVERS = env_list("CRO_DNS_NAMESERVERS", "")
# The URL scheme of endpoints found in DNS (the spec says https; only the tests may change it).
CRO_DNS_ENDPOINT_SCHEME = os.environ.get("CRO_DNS_ENDPOINT_SCHEME", "https")
# Accept only DNSSEC-validated answers (the AD flag from the configured, trusted validating
# resolver), as the spec requires; on by default outside DEBUG.
CRO_DNS_REQUIRE_DNSSEC = env_bool("CRO_DNS_REQUIRE_DNSSEC", not DEBUG)
# Test-only, not read from the environment: tests/settings.py turns it on so open-mode tests may
# use http endpoints on loopback. Off, an endpoint from DNS is https on port 443 and its host must
# not resolve to a loopback, private or link-local address.
CRO_DNS_ALLOW_INTERNAL_ENDPOINTS = False
# Messages left in a non-final state longer than this are dispatched again by the sweep.
CRO_SWEEP_AFTER_SECONDS = env_int("CRO_SWEEP_AFTER_SECONDS", 60)
# Apply administrators' CSV imports in the web process instead of a worker (small setups).
CRO_CSV_IMPORT_INLINE = env_bool("CRO_CSV_IMPORT_INLINE", False)
# An update whose TimeStamp is further ahead of the CRO's clock is rejected ("Invalid TimeStamp"):
# one far-future TimeStamp would otherwise lock its entities for good (cro-rules §3 item 9).
CRO_MAX_TIMESTAMP_AHEAD_SECONDS = env_int("CRO_MAX_TIMESTAMP_AHEAD_SECONDS", 86400)
# A message whose processing failed this many times is marked failed and answered Rejected.
CRO_MAX_PROCESSING_ATTEMPTS = env_int("CRO_MAX_PROCESSING_ATTEMPTS", 5)
# How often (every 2 s) a message waits for an identical earlier one before it is failed too.
CRO_MAX_PENDING_RETRIES = env_int("CRO_MAX_PENDING_RETRIES", 900)
# A drain with nothing left to do waits this long for the next message before it ends
# (registry.dispatch): the next message is processed at once, without a Celery hand-over.
CRO_DRAIN_LINGER_SECONDS = env_int("CRO_DRAIN_LINGER_SECONDS", 5)
# The Celery worker's CPU priority below the web processes' (os.nice, cro/celery.py): on a host
# that runs both, a backlog is processed with the CPU that receipts leave over, so a burst is
# still answered 200 at once. 0 keeps the priority the worker was started with.
CRO_WORKER_NICE = env_int("CRO_WORKER_NICE", 10)
# Linux, opt-in: the worker runs under the SCHED_IDLE policy (cro/celery.py), so a web process
# (or the database) that wakes up takes its core at once and the worker processes with idle CPU
# only. Only on a host of its own: while anything else keeps every core busy (another service,
# a backup) the worker waits, and answers with it (README "Performance").
CRO_WORKER_SCHED_IDLE = env_bool("CRO_WORKER_SCHED_IDLE", False)
# A request body must arrive within this many seconds (cro/body_deadline.py): slow clients get 408.
CRO_BODY_READ_TIMEOUT_SECONDS = env_int("CRO_BODY_READ_TIMEOUT_SECONDS", 15)

# ------------------------------------------------------------------------------ monitoring
# /health/ready fails when the worker's or the beat's last heartbeat is older than these.
CRO_HEALTH_WORKER_MAX_AGE_SECONDS = env_int("CRO_HEALTH_WORKER_MAX_AGE_SECONDS", 60)
CRO_HEALTH_BEAT_MAX_AGE_SECONDS = env_int("CRO_HEALTH_BEAT_MAX_AGE_SECONDS", 120)
# How often a worker records its heartbeat (the beat does so at each sweep it schedules).
CRO_HEALTH_HEARTBEAT_SECONDS = env_int("CRO_HEALTH_HEARTBEAT_SECONDS", 10)
# The broker check gives up after this long: a dead broker answers 503 quickly.
CRO_HEALTH_BROKER_TIMEOUT_SECONDS = env_int("CRO_HEALTH_BROKER_TIMEOUT_SECONDS", 2)
# Refused requests are counted per (claimed sender, address, status, reason) and minute; past
# this many rows in one minute the rest are folded into one row per status (a flood stays small).
CRO_REFUSALS_MAX_ROWS_PER_MINUTE = env_int("CRO_REFUSALS_MAX_ROWS_PER_MINUTE", 200)
# Refusal counts older than this many days are deleted (0: kept).
CRO_REFUSALS_RETENTION_DAYS = env_int("CRO_REFUSALS_RETENTION_DAYS", 30)
# Empty: /metrics is open; set: it requires "Authorization: Bearer <token>".
CRO_METRICS_TOKEN = os.environ.get("CRO_METRICS_TOKEN", "")
# Every process (gunicorn workers, Celery pool processes) writes its metric samples here and
# /metrics adds them up; bin/run empties it at start. Set before prometheus_client is imported.
# (registry.metrics creates the folder: settings only read.)
# The default follows CRO_VAR_DIR also in child processes, which inherit the variable this sets:
# a process started with a var dir of its own (a second instance, a test's servers) must not
# add its samples to its parent's.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("CRO_PROMETHEUS_DIR_DEFAULT") == "1":
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(VAR_DIR / "prometheus")
    os.environ["CRO_PROMETHEUS_DIR_DEFAULT"] = "1"

# ------------------------------------------------------------------------------ Django
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_tables2",
    "axes",
    "registry",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "cro.csp.ContentSecurityPolicyMiddleware",
    "registry.web.display_time.DisplayTimeZoneMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "cro.urls"
WSGI_APPLICATION = "cro.wsgi.application"
ASGI_APPLICATION = "cro.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "registry.web.display_time.display_time_zone",
            ],
        },
    },
]

_DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'cro.sqlite3'}"
DATABASES = {
    "default": dj_database_url.parse(
        _DATABASE_URL,
        # Persistent connections save a connect per request and per task on a server database.
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0 if _DATABASE_URL.startswith("sqlite") else 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # psycopg prepares a statement bound on the server after this many executions on a connection
    # (Django turns it off by default, for poolers in transaction mode). Only the statements on the
    # path of every answer are bound on the server (registry.db.server_binding_cursor: the INSERT
    # of a received message, the drain's reads and writes, the DSOPortfolioQuery's answer); every
    # other query keeps Django's client-side binding, which never prepares. 0 turns it off (a
    # pooler in transaction mode older than PgBouncer 1.21).
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = (
        env_int("DATABASE_PREPARE_THRESHOLD", 5) or None
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the web server and the worker share the file.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# Date-time formats that name the zone ("2026-03-01 14:00:00 CET"): the Django admin's too.
FORMAT_MODULE_PATH = ["cro.formats"]

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = True

LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"

# Login throttling (django-axes): after this many failed logins for one username from one
# address, that combination is locked until the cool-off has passed or an administrator unlocks
# it (Django admin "Access attempts", or `manage.py axes_reset_username <name>` / `axes_reset`).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("CRO_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("CRO_LOGIN_COOLOFF_MINUTES", 30))
# Username and address together: one attacker cannot lock every user out from one address.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "web/login_locked.html"
# Behind proxies the client's address is in X-Forwarded-For: count this many trusted proxies
# (0: REMOTE_ADDR, the only address a client cannot forge).
CRO_TRUSTED_PROXY_COUNT = env_int("CRO_TRUSTED_PROXY_COUNT", 0)
AXES_CLIENT_IP_CALLABLE = "cro.client_ip.client_ip_address"

# Content-Security-Policy of every response (cro/csp.py): scripts and styles only from our own
# static files, nothing inline, no framing.
CRO_CONTENT_SECURITY_POLICY = os.environ.get(
    "CRO_CONTENT_SECURITY_POLICY",
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
)

# Cookies and transport security outside DEBUG.
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
    SECURE_CONTENT_TYPE_NOSNIFF = True
    X_FRAME_OPTIONS = "DENY"
    # Plain HTTP is redirected to HTTPS. Switch off only where something in front already
    # does it (a TLS-terminating proxy that redirects) or for local plain-HTTP test runs.
    SECURE_SSL_REDIRECT = env_bool("CRO_SECURE_SSL_REDIRECT", True)
    # A TLS-terminating proxy says "https" in X-Forwarded-Proto. Trust that header only behind
    # such a proxy (one that overwrites it): otherwise any client could claim https.
    if env_bool("CRO_BEHIND_TLS_PROXY", True):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # HSTS: browsers use only HTTPS for the domain this long (0 switches it off).
    SECURE_HSTS_SECONDS = env_int("CRO_SECURE_HSTS_SECONDS", env_int("SECURE_HSTS_SECONDS", 365 * 24 * 3600))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("CRO_SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("CRO_SECURE_HSTS_PRELOAD", True)

# Shared by every web process: the rate limiter and the open-mode DNS cache live here.
CACHE_URL = os.environ.get("CACHE_URL", "")
if CACHE_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

# ------------------------------------------------------------------------------ REST API
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "CRO API",
    "DESCRIPTION": "Registry, message log and participants of the Common Reference Operator.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # One name for the Shapeshifter versions, wherever a serializer offers them.
    "ENUM_NAME_OVERRIDES": {
        "ShapeshifterVersionEnum": "registry.api.serializers.SHAPESHIFTER_VERSION_CHOICES"
    },
    # Swagger UI and ReDoc from our own static files (drf-spectacular-sidecar): no CDN, so the
    # documentation works offline and the Content-Security-Policy stays 'self' only.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # No request to validator.swagger.io; the session cookie and CSRF token make "try it" work.
    "SWAGGER_UI_SETTINGS": {"validatorUrl": None, "deepLinking": True, "persistAuthorization": True},
}

# ------------------------------------------------------------------------------ Celery
# Default: a broker on the local filesystem, which needs no server but still hands tasks
# to a separate worker process (cro/celery.py creates its folders when the app is configured).
# Set CELERY_BROKER_URL=redis://... in production.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://localhost/")
if CELERY_BROKER_URL.startswith("filesystem://"):
    # The filesystem transport ignores the host, but kombu warns on every connection
    # ("No hostname was supplied") when the URL has none.
    if CELERY_BROKER_URL.rstrip("/") == "filesystem:":
        CELERY_BROKER_URL = "filesystem://localhost/"
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
else:
    # Redis: a task not acknowledged within this time is handed to another worker.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
# Acknowledge after the task ran, and give it back when the worker dies mid-task:
# tasks are idempotent, so a redelivery does nothing twice.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 600)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 540)
# Publishing must not hang a web request when the broker is down (the sweep catches up).
CELERY_BROKER_CONNECTION_TIMEOUT = 2
# Celery's Django fixup closes the database connections before and after every task unless this
# is set: it reopens them only after this many tasks (a safety net), and cro/celery.py applies
# Django's own rule (CONN_MAX_AGE, health checks) at each task's edges instead.
CELERY_DB_REUSE_MAX = 1000
CELERY_TASK_PUBLISH_RETRY = False
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    "sweep-stuck-messages": {
        "task": "registry.tasks.sweep_messages",
        "schedule": float(env_int("CRO_SWEEP_INTERVAL_SECONDS", 30)),
    },
}

# ------------------------------------------------------------------------------ Logging
# LOG_FORMAT=json: one JSON object per line (message id, conversation id, participant,
# outcome where known); text is the default.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "text").strip().lower()
if LOG_FORMAT not in {"text", "json"}:
    raise ImproperlyConfigured("LOG_FORMAT must be 'text' or 'json'")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {"()": "cro.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
