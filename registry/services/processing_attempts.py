"""Processing attempts: counted on the message, bounded by CRO_MAX_PROCESSING_ATTEMPTS; past the cap a message is failed and answered Rejected."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from registry.models import Message
from registry.services import outbound
from registry.services.processing import _response_for
from registry.uftp import codec, messages

logger = logging.getLogger("registry.ops")

# A message whose processing keeps failing (a bug, data the codec cannot write) must not be
# dispatched again for ever: each attempt is counted on the row (Message.attempts, which only
# deliveries use otherwise), and after settings.CRO_MAX_PROCESSING_ATTEMPTS the message is failed
# and answered Rejected with a generic reason; the administrators find it among the failed ones.

PROCESSING_FAILED_REASON = "Processing failed: the CRO could not process this message; its operators are told"


def message_processing_attempt_begin(*, message_pk: int) -> bool:
    """Count one processing attempt (committed at once, so a crash counts too).

    False when the message needs no processing or has had its attempts: then it is given up on.
    """
    counted = Message.objects.filter(
        pk=message_pk,
        direction=Message.Direction.INBOUND,
        status__in=(Message.Status.RECEIVED, Message.Status.PROCESSING),
        attempts__lt=settings.CRO_MAX_PROCESSING_ATTEMPTS,
    ).update(attempts=F("attempts") + 1, updated_at=timezone.now())
    if counted:
        return True
    message_processing_give_up(message_pk=message_pk)
    return False


def message_processing_attempt_uncount(*, message_pk: int) -> None:
    """Waiting for an identical earlier message is no failed attempt."""
    Message.objects.filter(pk=message_pk, attempts__gt=0).update(attempts=F("attempts") - 1)


def message_processing_failure_record(*, message_pk: int, error: BaseException) -> None:
    """Keep the error of a failed attempt for the administrators (the attempt's transaction is gone)."""
    Message.objects.filter(pk=message_pk).update(
        last_error=f"{error.__class__.__name__}: {error}"[:2000], updated_at=timezone.now()
    )


def message_processing_give_up(*, message_pk: int, reason: str = "") -> Message | None:
    """Fail an inbound message still waiting for processing and answer it Rejected if it can be read.

    Returns the response (None when the message is final already or cannot be answered).
    """
    with transaction.atomic():
        message = (
            Message.objects.select_for_update(of=("self",))
            .select_related("participant")
            .filter(
                pk=message_pk,
                direction=Message.Direction.INBOUND,
                status__in=(Message.Status.RECEIVED, Message.Status.PROCESSING),
            )
            .first()
        )
        if message is None:
            return None
        why = reason or f"gave up after {message.attempts} processing attempts"
        message.status = Message.Status.FAILED
        message.result = messages.Result.REJECTED.value
        message.rejection_reason = PROCESSING_FAILED_REASON
        message.last_error = f"{message.last_error} ({why})" if message.last_error else why
        message.processed_at = timezone.now()
        message.save(
            update_fields=["status", "result", "rejection_reason", "last_error", "processed_at", "updated_at"]
        )
        logger.error("inbound message %s (%s) failed: %s", message.pk, message.message_id, message.last_error)
        try:
            with transaction.atomic():
                payload = codec.parse_message(
                    message.inner_xml.encode("utf-8"),
                    path_major=message.path_major or 3,
                    max_bytes=settings.CRO_MAX_MESSAGE_BYTES,
                )
                if isinstance(payload, messages.TestMessageResponse) or message.participant is None:
                    return None
                response = _response_for(
                    message=message,
                    payload=payload,
                    result=messages.Result.REJECTED,
                    reason=PROCESSING_FAILED_REASON,
                )
                return outbound.outbound_message_create(
                    payload=response, recipient=message.participant, request=message
                )
        except Exception:
            logger.exception("inbound message %s cannot be answered", message.pk)
            return None
