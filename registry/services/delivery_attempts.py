"""The delivery attempt log: one DeliveryAttempt row per POST of an outbound message."""

from __future__ import annotations

import datetime as dt
import re

from registry.models import DeliveryAttempt, Message

_HTTP_STATUS = re.compile(r"^HTTP (\d{3})\b")
_ERROR_CLASS = re.compile(r"^(\w+) posting to\b")


def delivery_attempt_build(
    *,
    message: Message,
    started_at: dt.datetime,
    duration_seconds: float,
    error: str | None,
    outcome: str,
    next_attempt_at: dt.datetime | None,
) -> DeliveryAttempt:
    """One attempt, not yet stored (several are stored at once). `error` is the delivery's own text ("HTTP 503 from ...", "ConnectionError
    posting to ...", "timeout after ..."); the HTTP status or the error class is read from it."""
    http_status = error_class = None
    if error is None:
        http_status, summary = 200, "HTTP 200: delivered"
    else:
        summary = error
        if match := _HTTP_STATUS.match(error):
            http_status = int(match.group(1))
        elif match := _ERROR_CLASS.match(error):
            error_class = match.group(1)
        elif error.startswith("timeout"):
            error_class = "Timeout"
    return DeliveryAttempt(
        message=message,
        number=message.attempts,
        started_at=started_at,
        duration_seconds=duration_seconds,
        outcome=outcome,
        http_status=http_status,
        error_class=error_class or "",
        summary=summary[:600],
        next_attempt_at=next_attempt_at,
    )
