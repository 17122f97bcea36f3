"""Hand work to a Celery worker: the one place that enqueues tasks, and what happens when it cannot.

Tasks are enqueued by name, so this module (and the services that call it) never imports
`registry.tasks`; the tasks register under the names below.

When the broker is unreachable nothing is raised: the row the task works on is committed
already in a non-final state, so the failure is logged, the caller gets False, and the sweep
(`registry.services.sweep`, run by beat or `manage.py cro_sweep`) enqueues it again later.

How a received message moves on (`message_received`, the one place that decides it):

- Redis broker and PostgreSQL (production): a *doorbell*. The web process sets a flag in the
  broker's Redis with SET NX and an expiry, and publishes one drain task only when it set the
  flag; in the same round trip it leaves a wake-up token in a list. While a drain is pending, a
  message costs that one Redis round trip. The drain task clears the flag first, then processes
  every received message in pk order (one sender at a time per worker, so each sender is
  answered in order) and delivers each response right after its processing commit; a failed
  delivery goes to the delivery task with its backoff.
- A drain that finds nothing left *lingers* (`doorbell_wait`): it sets the flag itself (so it
  is the pending drain, and the web processes publish nothing) and waits on the wake-up list
  for up to CRO_DRAIN_LINGER_SECONDS. The next message wakes it at once, without a Celery
  publish or a hand-over between processes, and it keeps the flag while it processes (what
  arrives meanwhile wakes it again), unless it finds a backlog (a full batch): then it clears
  the flag, so that new messages bring more drains for other senders. When nothing comes it
  clears the flag and looks one last time (a message committed before that rang nobody
  else), then ends.
- Otherwise (the filesystem broker of the embedded default, SQLite): one processing task per
  message, which enqueues the delivery task.
"""

from __future__ import annotations

import logging
import os
import threading
from functools import cache, lru_cache
from typing import NamedTuple

from celery import current_app
from django.core.signals import setting_changed
from django.db import connection
from django.dispatch import receiver

logger = logging.getLogger(__name__)

# The names Celery derived from the functions before they were spelled out here: a task queued
# by an earlier release, and the beat schedule in cro/settings.py, still find their task.
PROCESS_INBOUND_MESSAGE = "registry.tasks.process_inbound_message"
DELIVER_OUTBOUND_MESSAGE = "registry.tasks.deliver_outbound_message"
SWEEP_MESSAGES = "registry.tasks.sweep_messages"
APPLY_CSV_IMPORT = "registry.tasks.apply_csv_import"
DRAIN_INBOUND_MESSAGES = "registry.tasks.drain_inbound_messages"

DOORBELL_KEY = "cro:inbound:drain-pending"
# Set while a drain is published to look again at senders another drain holds (one for all).
RECHECK_KEY = "cro:inbound:recheck-pending"
# The wake-up token of a lingering drain: a list holding at most one element.
WAKE_KEY = "cro:inbound:wake"
# A drain lost with its flag set (broker restarted) blocks new drains at most this long; the
# sweep takes what arrives meanwhile.
DOORBELL_SECONDS = 30


def task_enqueue(*, name: str, args: list, countdown: float | None = None, unreachable: str) -> bool:
    """Publish task `name`; False (after logging `unreachable`) when the broker cannot be reached."""
    try:
        # A signature by name is the registered task when this process has it (so eager mode and
        # the task's own options apply), and a plain send by name when it does not.
        current_app.signature(name, args=args).apply_async(countdown=countdown, retry=False)
    except Exception:  # whatever the transport raises: the HTTP caller must not see it
        logger.warning("broker unreachable, %s", unreachable, exc_info=True)
        return False
    return True


def _doorbell():
    """The broker's Redis, when received messages go through the doorbell; None otherwise."""
    return _doorbell_of(current_app._get_current_object())


@cache
def _doorbell_of(app):
    """_doorbell per Celery app, decided once: Celery looks each setting up through every map of
    its configuration (Django's settings among them), about 10 us each, once per received message."""
    broker_url = str(app.conf.broker_url or "")
    if not broker_url.startswith(("redis://", "rediss://")) or app.conf.task_always_eager:
        return None
    if connection.vendor != "postgresql":  # the drain claims senders with advisory locks
        return None
    return _redis_client(broker_url)


@receiver(setting_changed)
def _settings_changed(**kwargs) -> None:
    _doorbell_of.cache_clear()  # CELERY_TASK_ALWAYS_EAGER or the broker changed (tests)


@cache
def _redis_client(url: str, read_timeout: float = 2):
    import redis

    return redis.Redis.from_url(url, socket_timeout=read_timeout, socket_connect_timeout=2)


# The doorbell's one round trip: SET the flag NX with its expiry, and leave the wake-up token
# (a list of at most one element, expiring too): the sender of the message, which a lingering
# drain then takes first, without looking up who is pending. One command instead of a pipeline
# of four: the client packs and parses one, which costs the web process about half the CPU.
_RING = """
local rang = redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1])
redis.call('LPUSH', KEYS[2], ARGV[2])
redis.call('LTRIM', KEYS[2], 0, 0)
redis.call('EXPIRE', KEYS[2], ARGV[1])
if rang then return 1 end
return 0
"""


@cache
def _script(client, source: str):
    """`source` as a script of `client` (sent by its SHA1; loaded again when Redis lost it)."""
    return client.register_script(source)


# The recheck's flag (SET NX with its expiry) and, for as long as it lasts, the doorbell's flag
# (every drain clears that one when it starts): 1 when this caller is to publish the recheck.
_RECHECK = """
local flagged = redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1])
local left = redis.call('PTTL', KEYS[1])
if left > 0 then redis.call('SET', KEYS[2], '1', 'NX', 'PX', left) end
if flagged then return 1 end
return 0
"""


# A drain about to linger takes the flag: always when it holds it already, or when the pending
# drain is only a recheck, else only when nobody has it (SET NX). 1 when it may linger.
_LINGER = """
if ARGV[2] == '1' or redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('SET', KEYS[1], '1', 'EX', ARGV[1])
  return 1
end
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 1 end
return 0
"""


def doorbell_in_use() -> bool:
    return _doorbell() is not None


def message_received(*, message_pk: int, sender: tuple[str, str] | None = None) -> bool:
    """A received message is committed: get it processed (see the module's docstring).
    `sender` (domain, role): whom a lingering drain woken by it looks at first."""
    bell = _doorbell()
    if bell is None:
        return message_processing_enqueue(message_pk=message_pk)
    try:
        token = f"{sender[1]} {sender[0]}" if sender is not None else ""
        rang = _ring(bell, token)
        if not rang:
            # A drain is pending (it has not started, so it will see this message) or lingering
            # (the token wakes it).
            return True
    except Exception:
        logger.warning("broker unreachable, message %s left for the sweep", message_pk, exc_info=True)
        return False
    if inbound_drain_enqueue():
        return True
    try:
        bell.delete(DOORBELL_KEY)  # no drain is coming: the next message must ring again
    except Exception:
        logger.warning("could not clear the doorbell; it expires in %s s", DOORBELL_SECONDS, exc_info=True)
    return False


class _RingConnection(threading.local):
    """This thread's own connection to the broker's Redis, for the ring only."""

    client = None
    connection = None
    pid = 0


_ring_connection = _RingConnection()


@lru_cache(maxsize=1024)
def _ring_command(sha: str, keys: tuple[str, str], seconds: int, token: str) -> bytes:
    """The ring's EVALSHA, packed once per sender (the token is the argument that varies)."""
    parts = [b"EVALSHA", sha.encode(), b"2", *(key.encode() for key in keys), b"%d" % seconds, token.encode()]
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(part), part) for part in parts)


def _ring(bell, token: str) -> int:
    """The _RING script, run on a connection of this thread's own with the command packed once
    per sender: redis-py's client took 150 us of the web process's CPU per message (its pool,
    packing, retry and instrumentation), the connection alone 40 us (measured in process). redis-py
    still connects (TLS, AUTH, SELECT), reads the reply and raises its errors. A connection that
    Redis closed is replaced once (it restarted); a script Redis lost is loaded again by redis-py."""
    script = _script(bell, _RING)
    for attempt in (1, 2):
        connection = _ring_connection_for(bell)
        try:
            command = _ring_command(script.sha, (DOORBELL_KEY, WAKE_KEY), DOORBELL_SECONDS, token)
            connection.send_packed_command([command], check_health=False)
            return connection.read_response()
        except Exception as exc:
            from redis.exceptions import NoScriptError

            if isinstance(exc, NoScriptError):
                return script(keys=[DOORBELL_KEY, WAKE_KEY], args=[DOORBELL_SECONDS, token])
            connection.disconnect()
            _ring_connection.connection = None
            # Only a connection Redis closed is tried again (it restarted, or dropped an idle
            # client): the script did not run. After a timeout it may have: the sweep takes over.
            if attempt == 2 or not isinstance(exc, (ConnectionError, _redis_connection_error())):
                raise
    raise AssertionError("unreachable")


@cache
def _redis_connection_error() -> type[Exception]:
    from redis.exceptions import ConnectionError as RedisConnectionError

    return RedisConnectionError


def _ring_connection_for(bell):
    local = _ring_connection
    if local.connection is None or local.client is not bell or local.pid != os.getpid():
        local.connection = bell.connection_pool.make_connection()
        local.client, local.pid = bell, os.getpid()
    return local.connection


def doorbell_answer() -> None:
    """The drain starts: clear the flag before reading, so a message committed from now on
    rings again (and one committed before is seen by this drain)."""
    bell = _doorbell()
    if bell is not None:
        try:
            bell.delete(DOORBELL_KEY, WAKE_KEY)
        except Exception:
            logger.warning("could not clear the doorbell", exc_info=True)


RANG, IDLE, PENDING = "rang", "idle", "pending"


class Woken(NamedTuple):
    """What ended a drain's wait (RANG, IDLE or PENDING) and, when a message rang, its sender
    (domain, role), if it said."""

    state: str
    sender: tuple[str, str] | None = None


def _token_sender(token: bytes) -> tuple[str, str] | None:
    role, _, domain = token.decode("utf-8", errors="replace").partition(" ")
    return (domain, role) if role and domain else None


def doorbell_wait(*, seconds: float, holding: bool = False) -> Woken:
    """A drain with nothing left lingers as the pending drain (see the module's docstring):
    it sets the flag (`holding`: it has it already, and renews it) and waits for a wake-up.

    RANG: a message was committed meanwhile (Woken.sender: whose); the drain still holds the flag, so what arrives
    while it processes only wakes it again. IDLE: nothing came; the flag is cleared: look once
    more, then end. PENDING: another drain is published already (or lingering is off): end now.
    A pending recheck (inbound_drain_recheck) does not count: it runs only a second later, so
    this drain lingers in its place and a message arriving meanwhile is taken at once.
    """
    bell = _doorbell()
    if bell is None or seconds <= 0:
        return Woken(PENDING)
    try:
        # The flag outlives the wait a little; a drain killed meanwhile blocks nobody for long.
        lingering = _script(bell, _LINGER)(
            keys=[DOORBELL_KEY, RECHECK_KEY], args=[int(seconds) + 2, 1 if holding else 0]
        )
        if not lingering:
            return Woken(PENDING)
        woken = _redis_client(str(current_app.conf.broker_url), seconds + 5).blpop(
            [WAKE_KEY], timeout=seconds
        )
    except Exception:
        logger.warning("could not wait for the doorbell", exc_info=True)
        woken = None
    if woken is not None:
        return Woken(RANG, _token_sender(woken[1]))
    doorbell_answer()
    return Woken(IDLE)


def inbound_drain_enqueue(*, countdown: float | None = None) -> bool:
    """Publish one drain task (the doorbell, or the sweep for what is stuck)."""
    return task_enqueue(
        name=DRAIN_INBOUND_MESSAGES,
        args=[],
        countdown=countdown,
        unreachable="received messages left for the sweep",
    )


def inbound_drain_recheck(*, seconds: float) -> bool:
    """A drain ends leaving senders another drain holds: one drain looks at them again in
    `seconds` (should the holder be dead, its lock not yet released). One for all the drains
    that found them held: with a backlog from one sender, each re-publishing itself kept a
    growing crowd of drains polling (measured: a third of the worker's CPU, the drain down to
    ~40 messages/s). Until it runs, it is the pending drain (the doorbell's flag is set): what
    arrives meanwhile rings nobody, else each message would bring a drain that finds the same
    sender held."""
    bell = _doorbell()
    if bell is not None:
        try:
            published = _script(bell, _RECHECK)(
                keys=[RECHECK_KEY, DOORBELL_KEY], args=[max(int(seconds * 1000), 1)]
            )
            if not published:
                return True  # one is published already
        except Exception:
            logger.warning("could not flag the recheck; publishing it anyway", exc_info=True)
    return inbound_drain_enqueue(countdown=seconds)


def messages_stuck_redispatch(*, message_pks: list[int]) -> None:
    """The sweep found received messages nobody is processing."""
    if not message_pks:
        return
    if doorbell_in_use():
        inbound_drain_enqueue()
        return
    for pk in message_pks:
        message_processing_enqueue(message_pk=pk)


def message_processing_enqueue(*, message_pk: int) -> bool:
    """Process an inbound message in a worker; the sweep retries when this returns False."""
    return task_enqueue(
        name=PROCESS_INBOUND_MESSAGE,
        args=[message_pk],
        unreachable=f"message {message_pk} left for the sweep",
    )


def message_delivery_enqueue(*, message_pk: int, countdown: float | None = None) -> bool:
    """Deliver an outbound message in a worker; the sweep retries when this returns False."""
    return task_enqueue(
        name=DELIVER_OUTBOUND_MESSAGE,
        args=[message_pk],
        countdown=countdown,
        unreachable=f"delivery {message_pk} left for the sweep",
    )


def csv_import_enqueue(*, csv_import_pk: int) -> bool:
    """Apply a queued CSV import in a worker; False when the broker is unreachable."""
    return task_enqueue(
        name=APPLY_CSV_IMPORT,
        args=[csv_import_pk],
        unreachable=f"CSV import {csv_import_pk} not enqueued",
    )
