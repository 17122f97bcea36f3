"""Celery tasks: thin wrappers that take ids and call a service."""

from celery import shared_task

from registry.services import inbound, outbound, sweep


@shared_task(bind=True, acks_late=True, max_retries=None)
def process_inbound_message(self, message_pk: int) -> None:
    try:
        inbound.message_process(message_pk=message_pk)
    except inbound.OriginalStillPending as exc:
        # An identical earlier message is still being processed: its answer is copied.
        raise self.retry(exc=exc, countdown=2) from exc


@shared_task(acks_late=True)
def deliver_outbound_message(message_pk: int) -> None:
    outcome = outbound.outbound_message_deliver(message_pk=message_pk)
    if outcome is not None and outcome.retry_in is not None:
        outbound.message_delivery_dispatch(message_pk=message_pk, countdown=outcome.retry_in)


@shared_task
def sweep_messages() -> dict:
    report = sweep.messages_sweep()
    return {"inbound": report.inbound, "outbound": report.outbound}


@shared_task(acks_late=True)
def apply_csv_import(csv_import_pk: int) -> None:
    """The administrator's CSV import (registry.services.csv_io); a redelivery does nothing twice."""
    from registry.services import csv_io

    csv_io.csv_import_apply(csv_import_pk=csv_import_pk)
