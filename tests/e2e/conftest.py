"""Process harness of the end-to-end tests: gunicorn, a Celery worker and real peers.

Runs on PostgreSQL and Redis only. Tests use `transactional_db` (data must be committed for
the other processes to see it); the processes run against the test database that
pytest-django created, and a redis-server of their own (one per pytest-xdist worker, so that
parallel workers, and other test runs on the machine, never share a broker or a cache).
Processes are session-scoped, participants are created per test (the tables are flushed
after each test). On a failure, what the processes logged during the test is attached to
the report.
"""

import os
import shutil
import time
import urllib.parse
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core.management.color import no_style
from django.db import OperationalError, connection, transaction

from .peers import Peer
from .processes import CeleryWorker, CroWeb, Proc, RedisServer

E2E_DIR = Path(__file__).resolve().parent
CRO_DOMAIN = "cro.example.com"

# Every process started by the harness, for the failure report.
LIVE_PROCS: list[Proc] = []


def _unavailable() -> str | None:
    if connection.vendor != "postgresql":
        return "end-to-end tests need PostgreSQL (set DATABASE_URL=postgres://...)"
    if not shutil.which("redis-server"):
        return "end-to-end tests need redis-server on the PATH"
    return None


def pytest_collection_modifyitems(config, items):
    ours = [item for item in items if E2E_DIR in Path(str(item.path)).resolve().parents]
    if not ours:
        return
    reason = _unavailable()
    for item in ours:
        item.add_marker(pytest.mark.e2e)
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))


# --------------------------------------------------------------------------- failure report


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed and E2E_DIR in Path(str(item.path)).resolve().parents:
        offsets = getattr(item, "_e2e_log_offsets", {})
        for proc in LIVE_PROCS:
            text = proc.log_text()[offsets.get(proc.log_path, 0) :]
            if text.strip():
                report.sections.append((f"log of {proc.name} ({proc.log_path})", text[-8000:]))
    return report


@pytest.fixture(autouse=True)
def _e2e_log_offsets(request):
    request.node._e2e_log_offsets = {proc.log_path: len(proc.log_text()) for proc in LIVE_PROCS}
    yield


@pytest.fixture(autouse=True)
def _empty_tables_before_flush(transactional_db):
    """Empty the tables ourselves, retrying on deadlock, before pytest-django's flush.

    The session's gunicorn and worker keep running between tests (a delivery retry, a late
    task): one of their transactions can hold a lock on one table while waiting for another,
    and the flush's TRUNCATE of every table then deadlocks with it. Once the tables are empty
    those processes find no rows and touch one table at a time, so the flush cannot deadlock.
    """
    yield
    tables = connection.introspection.django_table_names(only_existing=True, include_views=False)
    statements = connection.ops.sql_flush(no_style(), tables, allow_cascade=True)
    for attempt in range(1, 11):
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement)
            return
        except OperationalError:  # deadlock detected: PostgreSQL chose this side
            if attempt == 10:
                raise
            time.sleep(0.2 * attempt)


# --------------------------------------------------------------------------- environment


@pytest.fixture(scope="session")
def e2e_log_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("e2e-logs")


@pytest.fixture(scope="session")
def e2e_redis(e2e_log_dir):
    """The broker and cache of the CRO processes: a redis-server of this session's own."""
    reason = _unavailable()
    if reason:
        pytest.skip(reason)
    server = start_proc(RedisServer(log_dir=e2e_log_dir, name="redis"))
    yield server
    stop_proc(server)


@pytest.fixture(scope="session")
def e2e_env(django_db_setup, django_db_blocker, e2e_redis) -> dict[str, str]:
    """The environment of every CRO process: the test database, this session's Redis."""
    db = connection.settings_dict
    user = urllib.parse.quote(db.get("USER") or "postgres")
    password = db.get("PASSWORD") or ""
    auth = f"{user}:{urllib.parse.quote(password)}" if password else user
    database_url = f"postgres://{auth}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"
    redis_url = e2e_redis.url()
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": redis_url,
            "CACHE_URL": redis_url,
            "CRO_DELIVERY_BACKOFF_BASE_SECONDS": "1",
            "CRO_DELIVERY_BACKOFF_MAX_SECONDS": "2",
            "CRO_DELIVERY_TIMEOUT_SECONDS": "5",
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
    )
    for name in ("CRO_MODE", "CRO_RATE_LIMIT_PER_MINUTE", "CRO_MAX_MESSAGE_BYTES", "CRO_DNS_NAMESERVERS"):
        env.pop(name, None)
    assert env["CRO_DOMAIN"] == CRO_DOMAIN, "tests.settings sets CRO_DOMAIN=cro.example.com"
    return env


def start_proc(proc: Proc, **kwargs) -> Proc:
    """Start `proc` and list it for the failure report."""
    LIVE_PROCS.append(proc)
    proc.start(**kwargs)
    return proc


def stop_proc(proc: Proc) -> None:
    proc.stop()
    if proc in LIVE_PROCS:
        LIVE_PROCS.remove(proc)


@pytest.fixture(scope="session")
def cro_web(e2e_env, e2e_log_dir):
    web = start_proc(CroWeb(env=e2e_env, log_dir=e2e_log_dir, workers=2, name="web"))
    yield web
    stop_proc(web)


@pytest.fixture(scope="session")
def cro_worker(e2e_env, e2e_log_dir):
    worker = start_proc(CeleryWorker(env=e2e_env, log_dir=e2e_log_dir, concurrency=2, name="worker"))
    yield worker
    stop_proc(worker)


@pytest.fixture(scope="session")
def cro_public_key(e2e_env) -> str:
    from registry.uftp import keys

    return keys.public_key_from_private(e2e_env["CRO_SIGNING_KEY"])


@pytest.fixture(scope="session")
def cro(cro_web, cro_worker, cro_public_key, e2e_env, e2e_log_dir):
    """The CRO under test: gunicorn + a Celery worker on the test database."""
    return SimpleNamespace(
        web=cro_web,
        worker=cro_worker,
        url=cro_web.url,
        domain=CRO_DOMAIN,
        public_key=cro_public_key,
        env=e2e_env,
        log_dir=e2e_log_dir,
    )


@pytest.fixture(scope="session")
def private_redis(e2e_log_dir):
    """A redis-server of our own on a free port: a broker the fault tests may stop."""
    server = start_proc(RedisServer(log_dir=e2e_log_dir, name="private-redis"))
    yield server
    stop_proc(server)


# --------------------------------------------------------------------------- peers

PEER_DOMAINS = {
    "dso1": ("dso1.example.com", "DSO"),
    "dso2": ("dso2.example.com", "DSO"),
    "agr_a": ("agr-a.example.com", "AGR"),
    "agr_b": ("agr-b.example.com", "AGR"),
}


@pytest.fixture(scope="session")
def peer_services(cro):
    """The worked example's four participants, their services running for the whole session."""
    started = {}
    try:
        for name, (domain, role) in PEER_DOMAINS.items():
            started[name] = Peer(
                domain=domain,
                role=role,
                cro_domain=cro.domain,
                cro_public_key=cro.public_key,
                cro_url=cro.url,
            ).start()
        yield SimpleNamespace(**started)
    finally:
        for peer in started.values():
            peer.stop()


def register(peer: Peer):
    """Register `peer` in the CRO's registry as an administrator would."""
    from registry.services.participants import participant_upsert

    return participant_upsert(
        domain=peer.domain, role=peer.role, public_keys=[peer.public_key], endpoint_url=peer.endpoint_url
    ).participant


@pytest.fixture
def peers(transactional_db, peer_services, cro):
    """The four peers, registered (the tables are flushed after every test)."""
    for name in PEER_DOMAINS:
        peer = getattr(peer_services, name)
        peer.cro_url = cro.url
        register(peer)
    return peer_services


@pytest.fixture
def make_peer(cro):
    """Start an extra peer for one test; stopped at teardown."""
    made: list[Peer] = []

    def _make(domain: str, role: str, *, start: bool = True, **options) -> Peer:
        options.setdefault("cro_url", cro.url)
        peer = Peer(domain=domain, role=role, cro_domain=cro.domain, cro_public_key=cro.public_key, **options)
        made.append(peer)
        return peer.start() if start else peer

    yield _make
    for peer in made:
        peer.stop()
