"""Celery tasks: thin wrappers that take ids and call a service.

Each registers under its name in `registry.dispatch`, which is how everything else enqueues it.
"""

import logging
import time

from celery import shared_task
from django.conf import settings

from registry import dispatch, metrics
from registry.services import csv_io, outbound, processing, processing_attempts, sweep

logger = logging.getLogger(__name__)


@shared_task(bind=True, name=dispatch.PROCESS_INBOUND_MESSAGE, acks_late=True, max_retries=None)
def process_inbound_message(self, message_pk: int) -> None:
    # Attempts are counted on the message; past CRO_MAX_PROCESSING_ATTEMPTS it is failed and answered.
    if not processing_attempts.message_processing_attempt_begin(message_pk=message_pk):
        return
    try:
        processing.message_process(message_pk=message_pk)
    except processing.OriginalStillPending as exc:
        # An identical earlier message is still being processed: its answer is copied. Its own
        # attempts are bounded, so is this wait; the bound here is a backstop.
        processing_attempts.message_processing_attempt_uncount(message_pk=message_pk)
        if self.request.retries >= settings.CRO_MAX_PENDING_RETRIES:
            processing_attempts.message_processing_give_up(
                message_pk=message_pk, reason=f"gave up waiting: {exc}"
            )
            return
        raise self.retry(exc=exc, countdown=2) from exc
    except Exception as exc:
        processing_attempts.message_processing_failure_record(message_pk=message_pk, error=exc)
        raise


@shared_task(bind=True, name=dispatch.DELIVER_OUTBOUND_MESSAGE, acks_late=True, max_retries=None)
def deliver_outbound_message(self, message_pk: int) -> None:
    outcome = outbound.outbound_message_deliver(message_pk=message_pk)
    if outcome is not None and outcome.retry_in is not None:
        # The message stays queued with its next_attempt_at: when the retry cannot be published
        # (broker down) Celery rejects this task, and the sweep dispatches the delivery instead.
        raise self.retry(countdown=outcome.retry_in)


@shared_task(bind=True, name=dispatch.DRAIN_INBOUND_MESSAGES, acks_late=True, max_retries=None)
def drain_inbound_messages(self) -> int:
    """Process every pending inbound message (see registry.dispatch), delivering each response
    right after its processing commit. Returns how many were processed."""
    dispatch.doorbell_answer()
    began = time.monotonic()
    processed = 0
    batch = DRAIN_BATCH
    failing: set[tuple[str, str]] = set()
    lingered = False
    holding = False  # this drain holds the doorbell's flag: it is the pending drain
    first: tuple[str, str] | None = None  # the sender of the message that woke this drain
    while True:
        if time.monotonic() - began > DRAIN_SECONDS:
            # Tasks stay short (far below the time limit): another drain takes over.
            dispatch.inbound_drain_enqueue()
            return processed
        step_began = time.monotonic()
        # Senders another drain holds in this look only: one held earlier, and since answered,
        # must not stop this drain lingering at the end (it ended with a recheck instead, and
        # the next message waited for that recheck, ~1 s, seen in bench/e2e.py).
        held_elsewhere: set[tuple[str, str]] = set()
        try:
            step = processing.message_process_next(
                batch=batch, skip_senders=frozenset(failing), held_elsewhere=held_elsewhere, first=first
            )
            first = None
        except processing.OriginalStillPending as exc:
            raise self.retry(exc=exc, countdown=2) from exc
        except processing.SenderMessageFailed as failed:
            if batch > 1:
                batch = 1  # the batch is rolled back: find the message that fails, one at a time
                continue
            # A message that cannot be processed must not hold up other senders; it stays
            # pending, so the sweep tries it again later, until CRO_MAX_PROCESSING_ATTEMPTS:
            # then it is failed and answered, and its sender's later messages go on.
            logger.exception("processing message %s failed", failed.message_pk)
            processing_attempts.message_processing_failure_record(
                message_pk=failed.message_pk, error=failed.__cause__ or failed
            )
            if processing_attempts.message_processing_attempt_begin(message_pk=failed.message_pk):
                failing.add(failed.sender)
            continue
        if step is None:
            if held_elsewhere:
                # Senders another drain held: should that drain be dead (killed, its lock not yet
                # released), nobody would answer them before the sweep; look again shortly.
                dispatch.inbound_drain_recheck(seconds=DRAIN_HELD_RETRY_SECONDS)
                return processed
            if lingered:
                return processed  # the last look after lingering found nothing
            # Nothing left: wait for the next message here, as the pending drain.
            waited = dispatch.doorbell_wait(seconds=settings.CRO_DRAIN_LINGER_SECONDS, holding=holding)
            # RANG: a message came; work on as the pending drain. IDLE (nothing came) and PENDING
            # (another drain is on its way, or no doorbell): look once more, then end. A PENDING
            # drain was rung by a message after this drain's look, and the pool may start it a
            # second late (seen in bench/e2e.py): this drain takes that message itself.
            holding = waited.state == dispatch.RANG
            lingered = not holding
            first = waited.sender
            continue
        lingered = False
        if holding and len(step.messages) >= batch:
            # A backlog: new messages ring again and bring more drains (other senders in parallel).
            dispatch.doorbell_answer()
            holding = False
        processed += len(step.messages)
        seconds = time.monotonic() - step_began
        _deliver_now(step.responses)  # first: the responses are what the senders wait for
        metrics.messages_processed(messages=step.messages, seconds=seconds)


# Messages of one sender processed in one transaction: one commit (one WAL flush) for them all.
DRAIN_BATCH = 20
DRAIN_SECONDS = 60
DRAIN_HELD_RETRY_SECONDS = 1.0


def _deliver_now(responses: list) -> None:
    """Deliver in this task, in order; a retry, or an error, goes to the delivery task (and the sweep)."""
    if not responses:
        return
    try:
        outcomes = outbound.outbound_messages_deliver_claimed(messages=responses)
    except Exception:
        logger.exception("delivery of messages %s failed, the sweep retries them", [r.pk for r in responses])
        return
    for response, outcome in zip(responses, outcomes, strict=True):
        if outcome is None:
            continue
        metrics.delivery_attempted(message=response, outcome=outcome)
        if outcome.retry_in is not None:
            dispatch.message_delivery_enqueue(message_pk=response.pk, countdown=outcome.retry_in)


@shared_task(name=dispatch.SWEEP_MESSAGES)
def sweep_messages() -> dict:
    report = sweep.messages_sweep()
    return {"inbound": report.inbound, "outbound": report.outbound}


@shared_task(name=dispatch.APPLY_CSV_IMPORT, acks_late=True)
def apply_csv_import(csv_import_pk: int) -> None:
    """The administrator's CSV import; a redelivery does nothing twice."""
    csv_io.csv_import_apply(csv_import_pk=csv_import_pk)
