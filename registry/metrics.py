"""Prometheus metrics of the CRO: every definition here, one call at each point that moves them.

Multiprocess mode: gunicorn workers and Celery pool processes each write their samples to
files under PROMETHEUS_MULTIPROC_DIR (set by cro.settings before anything imports
prometheus_client) and /metrics adds them up. The gauges are not kept in files: a collector
computes them from the database at scrape time, so they are right whichever process answers.
"""

from __future__ import annotations

import logging
import os
import time

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from registry.dispatch import DELIVER_OUTBOUND_MESSAGE as DELIVER_TASK
from registry.dispatch import PROCESS_INBOUND_MESSAGE as PROCESS_TASK

logger = logging.getLogger("registry.ops")

# Each process writes its samples into files there, from the first metric defined below on.
os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
DELIVERY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

MESSAGES_RECEIVED = Counter(
    "cro_messages_received_total", "UFTP messages accepted by the endpoint", ["type", "version"]
)
HTTP_REFUSALS = Counter("cro_http_refusals_total", "Requests the UFTP endpoint refused", ["status"])
MESSAGES_PROCESSED = Counter(
    "cro_messages_processed_total", "Inbound messages processed by a worker", ["type", "result"]
)
DELIVERY_ATTEMPTS = Counter("cro_delivery_attempts_total", "Attempts to deliver a response", ["outcome"])
ACCEPT_SECONDS = Histogram(
    "cro_accept_seconds", "Time the endpoint took to answer a request", buckets=LATENCY_BUCKETS
)
PROCESSING_SECONDS = Histogram(
    "cro_processing_seconds", "Time a worker took to process an inbound message", buckets=LATENCY_BUCKETS
)
DELIVERY_SECONDS = Histogram(
    "cro_delivery_seconds", "Time one delivery attempt took", buckets=DELIVERY_BUCKETS
)


# --------------------------------------------------------------------------- the endpoint


def endpoint_answered(*, status: int, reason: str, client_address: str, seconds: float) -> None:
    """The UFTP endpoint answered a request (registry.views.endpoint): its latency, and every
    refusal by status."""
    ACCEPT_SECONDS.observe(seconds)
    if status != 200:
        HTTP_REFUSALS.labels(status=str(status)).inc()
        logger.info(
            "request refused with %s",
            status,
            extra={
                "outcome": "refused",
                "status": status,
                "reason": reason[:300],
                "client_address": client_address,
            },
        )


def message_received(*, message) -> None:
    MESSAGES_RECEIVED.labels(type=message.message_type, version=message.version or "unknown").inc()
    logger.info("message received", extra={**_message_fields(message), "outcome": "received"})


def _message_fields(message) -> dict:
    return {
        "message_id": message.message_id,
        "conversation_id": message.conversation_id,
        "participant": f"{message.sender_domain}/{message.sender_role}",
        "message_type": message.message_type,
    }


# --------------------------------------------------------------------------- Celery tasks
# Connected in cro.celery: task_prerun remembers the start (and a delivery's attempt count),
# task_postrun counts the outcome read back from the message row.

_started: dict[str, tuple[float, int | None]] = {}


def _message_pk(args, kwargs) -> int | None:
    if kwargs and "message_pk" in kwargs:
        return kwargs["message_pk"]
    return args[0] if args else None


def task_started(*, task_id: str, task_name: str, args, kwargs) -> None:
    if task_name not in (PROCESS_TASK, DELIVER_TASK):
        return
    attempts = None
    if task_name == DELIVER_TASK:
        from registry.models import Message

        attempts = (
            Message.objects.filter(pk=_message_pk(args, kwargs) or 0)
            .values_list("attempts", flat=True)
            .first()
        )
    _started[task_id] = (time.perf_counter(), attempts)


def task_finished(*, task_id: str, task_name: str, args, kwargs, state: str | None) -> None:
    if task_name not in (PROCESS_TASK, DELIVER_TASK):
        return
    started, attempts_before = _started.pop(task_id, (None, None))
    elapsed = None if started is None else time.perf_counter() - started
    from registry.models import Message

    message = Message.objects.filter(pk=_message_pk(args, kwargs) or 0).first()
    if message is None:
        return
    fields = {**_message_fields(message), "participant": _participant(message), "task": task_name}
    if task_name == PROCESS_TASK:
        result = _processing_result(message, state)
        MESSAGES_PROCESSED.labels(type=message.message_type, result=result).inc()
        if elapsed is not None:
            PROCESSING_SECONDS.observe(elapsed)
        logger.info("message processed: %s", result, extra={**fields, "outcome": result})
        return
    if attempts_before is not None and message.attempts == attempts_before and state == "SUCCESS":
        return  # nothing was attempted: already delivered or failed (a redelivered task)
    outcome = _delivery_outcome(message, state)
    DELIVERY_ATTEMPTS.labels(outcome=outcome).inc()
    if elapsed is not None:
        DELIVERY_SECONDS.observe(elapsed)
    log = logger.warning if outcome in ("failed", "error") else logger.info
    log("delivery attempt %s: %s", message.attempts, outcome, extra={**fields, "outcome": outcome})


# The drain (registry.tasks) processes and delivers without a task per message: it reports what
# it did with what it holds, reading nothing back.


def messages_processed(*, messages: list, seconds: float) -> None:
    """Messages processed together in `seconds` (one batch, one commit)."""
    each = seconds / len(messages) if messages else 0.0
    for message in messages:
        result = (message.result or message.status).lower()
        MESSAGES_PROCESSED.labels(type=message.message_type, result=result).inc()
        PROCESSING_SECONDS.observe(each)
        logger.info(
            "message processed: %s",
            result,
            extra={**_message_fields(message), "participant": _participant(message), "task": PROCESS_TASK,
                   "outcome": result},
        )  # fmt: skip


def delivery_attempted(*, message, outcome) -> None:
    """One delivery attempt of `message` and its DeliveryOutcome."""
    name = "delivered" if outcome.delivered else "failed" if outcome.failed else "retry"
    DELIVERY_ATTEMPTS.labels(outcome=name).inc()
    if outcome.seconds is not None:
        DELIVERY_SECONDS.observe(outcome.seconds)
    log = logger.warning if name == "failed" else logger.info
    log(
        "delivery attempt %s: %s",
        message.attempts,
        name,
        extra={**_message_fields(message), "participant": _participant(message), "task": DELIVER_TASK,
               "outcome": name},
    )  # fmt: skip


def _participant(message) -> str:
    if message.direction == message.Direction.OUTBOUND:
        return f"{message.recipient_domain}/{message.recipient_role}"
    return f"{message.sender_domain}/{message.sender_role}"


def _processing_result(message, state: str | None) -> str:
    if state == "RETRY":
        return "retry"
    if state != "SUCCESS":
        return "error"
    return (message.result or message.status).lower()


def _delivery_outcome(message, state: str | None) -> str:
    # A delivery that will be tried again ends its task with the task's own retry (RETRY).
    if state == "RETRY":
        return "retry"
    if state != "SUCCESS":
        return "error"
    return {"delivered": "delivered", "failed": "failed"}.get(message.status, "retry")


# --------------------------------------------------------------------------- the scrape


class DatabaseCollector:
    """Gauges read from the database at scrape time (the same in every process)."""

    def collect(self):
        from django.utils import timezone

        from registry.selectors import health

        now = timezone.now()
        pending = GaugeMetricFamily(
            "cro_messages_pending", "Messages in a non-final status", labels=["status"]
        )
        oldest = GaugeMetricFamily(
            "cro_messages_pending_oldest_age_seconds",
            "Age of the oldest message in a non-final status",
            labels=["status"],
        )
        for status, (count, created) in sorted(health.message_status_counts().items()):
            pending.add_metric([status], count)
            oldest.add_metric([status], (now - created).total_seconds() if created else 0)
        yield pending
        yield oldest
        yield GaugeMetricFamily(
            "cro_deliveries_failed",
            "Responses whose delivery failed for good",
            value=health.failed_delivery_count(),
        )
        ages = GaugeMetricFamily(
            "cro_heartbeat_age_seconds", "Seconds since the last heartbeat (-1: never)", labels=["component"]
        )
        for component, age in sorted(health.heartbeat_ages(now=now).items()):
            ages.add_metric([component], -1 if age is None else age)
        yield ages
        participants = GaugeMetricFamily("cro_participants", "Participants by status", labels=["status"])
        for status, count in sorted(health.participant_status_counts().items()):
            participants.add_metric([status], count)
        yield participants


def metrics_exposition() -> bytes:
    """The text of GET /metrics: every process's samples added up, and the database gauges."""
    registry = CollectorRegistry(auto_describe=False)
    MultiProcessCollector(registry, path=os.environ["PROMETHEUS_MULTIPROC_DIR"])
    registry.register(DatabaseCollector())
    return generate_latest(registry)
