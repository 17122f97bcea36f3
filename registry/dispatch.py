"""Hand work to a Celery worker: the one place that enqueues tasks, and what happens when it cannot.

Tasks are enqueued by name, so this module (and the services that call it) never imports
`registry.tasks`; the tasks register under the names below.

When the broker is unreachable nothing is raised: the row the task works on is committed
already in a non-final state, so the failure is logged, the caller gets False, and the sweep
(`registry.services.sweep`, run by beat or `manage.py cro_sweep`) enqueues it again later.
"""

from __future__ import annotations

import logging

from celery import current_app

logger = logging.getLogger(__name__)

# The names Celery derived from the functions before they were spelled out here: a task queued
# by an earlier release, and the beat schedule in cro/settings.py, still find their task.
PROCESS_INBOUND_MESSAGE = "registry.tasks.process_inbound_message"
DELIVER_OUTBOUND_MESSAGE = "registry.tasks.deliver_outbound_message"
SWEEP_MESSAGES = "registry.tasks.sweep_messages"
APPLY_CSV_IMPORT = "registry.tasks.apply_csv_import"


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
