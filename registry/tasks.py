"""Celery tasks: thin wrappers that take ids and call a service.

Each registers under its name in `registry.dispatch`, which is how everything else enqueues it.
"""

from celery import shared_task

from registry import dispatch
from registry.services import csv_io, inbound, outbound, sweep


@shared_task(bind=True, name=dispatch.PROCESS_INBOUND_MESSAGE, acks_late=True, max_retries=None)
def process_inbound_message(self, message_pk: int) -> None:
    try:
        inbound.message_process(message_pk=message_pk)
    except inbound.OriginalStillPending as exc:
        # An identical earlier message is still being processed: its answer is copied.
        raise self.retry(exc=exc, countdown=2) from exc


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
