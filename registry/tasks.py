"""Celery tasks: thin wrappers that take ids and call a service.

Each registers under its name in `registry.dispatch`, which is how everything else enqueues it.
"""

from celery import shared_task
from django.conf import settings

from registry import dispatch
from registry.services import csv_io, inbound, outbound, sweep


@shared_task(bind=True, name=dispatch.PROCESS_INBOUND_MESSAGE, acks_late=True, max_retries=None)
def process_inbound_message(self, message_pk: int) -> None:
    # Attempts are counted on the message; past CRO_MAX_PROCESSING_ATTEMPTS it is failed and answered.
    if not inbound.message_processing_attempt_begin(message_pk=message_pk):
        return
    try:
        inbound.message_process(message_pk=message_pk)
    except inbound.OriginalStillPending as exc:
        # An identical earlier message is still being processed: its answer is copied. Its own
        # attempts are bounded, so is this wait; the bound here is a backstop.
        inbound.message_processing_attempt_uncount(message_pk=message_pk)
        if self.request.retries >= settings.CRO_MAX_PENDING_RETRIES:
            inbound.message_processing_give_up(message_pk=message_pk, reason=f"gave up waiting: {exc}")
            return
        raise self.retry(exc=exc, countdown=2) from exc
    except Exception as exc:
        inbound.message_processing_failure_record(message_pk=message_pk, error=exc)
        raise


@shared_task(bind=True, name=dispatch.DELIVER_OUTBOUND_MESSAGE, acks_late=True, max_retries=None)
def deliver_outbound_message(self, message_pk: int) -> None:
    outcome = outbound.outbound_message_deliver(message_pk=message_pk)
    if outcome is not None and outcome.retry_in is not None:
        # The message stays queued with its next_attempt_at: when the retry cannot be published
        # (broker down) Celery rejects this task, and the sweep dispatches the delivery instead.
        raise self.retry(countdown=outcome.retry_in)


@shared_task(name=dispatch.SWEEP_MESSAGES)
def sweep_messages() -> dict:
    report = sweep.messages_sweep()
    return {"inbound": report.inbound, "outbound": report.outbound}


@shared_task(name=dispatch.APPLY_CSV_IMPORT, acks_late=True)
def apply_csv_import(csv_import_pk: int) -> None:
    """The administrator's CSV import; a redelivery does nothing twice."""
    csv_io.csv_import_apply(csv_import_pk=csv_import_pk)
