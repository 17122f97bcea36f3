"""Reads behind /health/ready, /metrics and the dashboard banner: is the CRO doing its work?"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection
from django.db.models import Count, Max, Min
from django.utils import timezone

from registry.models import Heartbeat, Message, Participant


@dataclass(frozen=True)
class Check:
    ok: bool
    detail: str
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"ok": self.ok, "detail": self.detail, **self.extra}


def _failure(exc: BaseException) -> str:
    # The class name only: a driver's message may carry a host name or a URL with credentials.
    return f"unreachable ({exc.__class__.__name__})"


def database_check() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "not ready", never a 500
        connection.close_if_unusable_or_obsolete()
        return Check(ok=False, detail=_failure(exc))
    return Check(ok=True, detail="ok")


def broker_check() -> Check:
    from kombu import Connection

    timeout = settings.CRO_HEALTH_BROKER_TIMEOUT_SECONDS
    broker = Connection(
        settings.CELERY_BROKER_URL,
        connect_timeout=timeout,
        transport_options={
            **getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}),
            "socket_timeout": timeout,
        },
    )
    try:
        # One attempt, no retry loop: a dead broker must answer 503 within the timeout.
        broker.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout)
        broker.default_channel  # noqa: B018 - opening a channel talks to the broker (Redis: PING)
    except Exception as exc:
        return Check(ok=False, detail=_failure(exc))
    finally:
        broker.release()
    return Check(ok=True, detail="ok")


def heartbeat_ages(*, now: dt.datetime | None = None) -> dict[str, float | None]:
    """Seconds since the freshest heartbeat of each component (None: never seen)."""
    now = now or timezone.now()
    latest = dict(
        Heartbeat.objects.values("component").annotate(at=Max("beat_at")).values_list("component", "at")
    )
    return {
        component: (now - latest[component]).total_seconds() if component in latest else None
        for component in Heartbeat.Component.values
    }


def _heartbeat_check(age: float | None, max_age: int) -> Check:
    extra = {"age_seconds": None if age is None else round(age, 1), "max_age_seconds": max_age}
    if age is None:
        return Check(ok=False, detail="no heartbeat recorded yet", extra=extra)
    if age > max_age:
        return Check(ok=False, detail=f"last heartbeat {age:.0f}s ago", extra=extra)
    return Check(ok=True, detail="ok", extra=extra)


def signing_key_check() -> Check:
    from registry.uftp import keys

    try:
        keys.public_key_from_private(settings.CRO_SIGNING_KEY)
    except Exception as exc:
        return Check(ok=False, detail=f"unusable ({exc.__class__.__name__})")
    return Check(ok=True, detail="ok")


def readiness_checks() -> dict[str, Check]:
    checks = {"database": database_check(), "broker": broker_check()}
    if checks["database"].ok:
        try:
            ages = heartbeat_ages()
        except Exception as exc:
            ages = None
            failed = Check(ok=False, detail=f"heartbeats unreadable ({exc.__class__.__name__})")
    else:
        ages = None
        failed = Check(ok=False, detail="unknown: the database is unreachable")
    if ages is None:
        checks["worker"] = checks["beat"] = failed
    else:
        checks["worker"] = _heartbeat_check(ages["worker"], settings.CRO_HEALTH_WORKER_MAX_AGE_SECONDS)
        checks["beat"] = _heartbeat_check(ages["beat"], settings.CRO_HEALTH_BEAT_MAX_AGE_SECONDS)
    checks["signing_key"] = signing_key_check()
    return checks


# --------------------------------------------------------------------------- dashboard banner


def operational_problems(*, now: dt.datetime | None = None) -> list[str]:
    """What an operator must see at once: stale heartbeats, messages waiting past the sweep."""
    now = now or timezone.now()
    problems = []
    ages = heartbeat_ages(now=now)
    for component, max_age in (
        ("worker", settings.CRO_HEALTH_WORKER_MAX_AGE_SECONDS),
        ("beat", settings.CRO_HEALTH_BEAT_MAX_AGE_SECONDS),
    ):
        age = ages[component]
        if age is None:
            problems.append(f"No {component} heartbeat has ever been recorded: is the {component} running?")
        elif age > max_age:
            problems.append(
                f"The {component} has not given a sign of life for {age:.0f} s (limit {max_age} s)."
            )
    waiting = waiting_messages(now=now)
    if waiting["count"]:
        problems.append(
            f"{waiting['count']} message(s) waiting longer than {settings.CRO_SWEEP_AFTER_SECONDS} s "
            f"(oldest: {waiting['oldest_age']:.0f} s)."
        )
    return problems


def waiting_messages(*, now: dt.datetime | None = None) -> dict:
    """Messages in a non-final state untouched for longer than the sweep threshold."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=settings.CRO_SWEEP_AFTER_SECONDS)
    pending = Message.objects.exclude(status__in=Message.FINAL_STATUSES).filter(updated_at__lte=cutoff)
    # A delivery waiting for its backoff is not late until its next attempt is overdue.
    pending = pending.exclude(status=Message.Status.RESPONSE_QUEUED, next_attempt_at__gt=cutoff)
    summary = pending.aggregate(count=Count("pk"), oldest=Min("updated_at"))
    oldest = summary["oldest"]
    return {"count": summary["count"], "oldest_age": (now - oldest).total_seconds() if oldest else 0.0}


# --------------------------------------------------------------------------- metrics gauges


def message_status_counts() -> dict[str, tuple[int, dt.datetime | None]]:
    """Per non-final status: how many messages and the oldest one's creation time."""
    rows = (
        Message.objects.exclude(status__in=Message.FINAL_STATUSES)
        .values("status")
        .annotate(count=Count("pk"), oldest=Min("created_at"))
    )
    return {row["status"]: (row["count"], row["oldest"]) for row in rows}


def failed_delivery_count() -> int:
    return Message.objects.filter(direction=Message.Direction.OUTBOUND, status=Message.Status.FAILED).count()


def participant_status_counts() -> dict[str, int]:
    return dict(
        Participant.objects.values("status").annotate(count=Count("pk")).values_list("status", "count")
    )
