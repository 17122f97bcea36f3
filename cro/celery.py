"""The Celery application of the CRO: settings come from Django's (CELERY_ prefix).

Also the operational hooks every worker and the beat scheduler run: heartbeats for
/health/ready and the task metrics of registry.metrics (through Celery signals, so the
tasks themselves stay free of monitoring code).
"""

import logging
import os
from pathlib import Path

from celery import Celery, bootsteps
from celery.signals import (
    after_task_publish,
    beat_init,
    setup_logging,
    task_postrun,
    task_prerun,
    worker_init,
)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cro.settings")

app = Celery("cro")
app.config_from_object("django.conf:settings", namespace="CELERY")
# A broker outage must not end the worker: it reconnects for as long as it takes (at startup too).
# Should it die anyway (kombu can fail while restoring unacknowledged messages), the process
# manager restarts it: bin/supervise, systemd Restart=always (README, "Running in production").
app.conf.update(
    broker_connection_retry=True,
    broker_connection_retry_on_startup=True,
    broker_connection_max_retries=None,
    broker_channel_error_retry=True,
)
app.autodiscover_tasks()

_FILESYSTEM_BROKER_FOLDERS = ("data_folder_in", "data_folder_out", "processed_folder", "control_folder")


@app.on_after_configure.connect
def _filesystem_broker_folders_create(sender, source, **kwargs) -> None:
    """The filesystem broker writes into folders it does not create: create them on first use
    (not in the settings, which only read)."""
    if str(source.broker_url or "").startswith("filesystem://"):
        options = source.broker_transport_options or {}
        for name in _FILESYSTEM_BROKER_FOLDERS:
            if name in options:
                Path(options[name]).mkdir(parents=True, exist_ok=True)


logger = logging.getLogger("registry.ops")


def _django_logging(**kwargs):
    """LOG_FORMAT=json: the worker and beat log through Django's LOGGING (one JSON object a line)."""
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


# Text (the default) keeps Celery's own log format; a receiver of setup_logging replaces it.
if os.environ.get("LOG_FORMAT", "text").strip().lower() == "json":
    setup_logging.connect(_django_logging, weak=False)


def _record_heartbeat(component: str, node: str, close_connection: bool = False) -> None:
    from django.db import connection

    from registry.services.heartbeat import heartbeat_record

    try:
        heartbeat_record(component=component, node=node)
    except Exception:
        # A database outage must not stop the worker; the stale heartbeat tells the monitor.
        logger.warning("could not record the %s heartbeat", component, exc_info=True)
    finally:
        if close_connection:
            # The worker's main process forks pool processes: it keeps no connection open.
            connection.close()


class WorkerHeartbeat(bootsteps.StartStopStep):
    """Record this worker's heartbeat on the worker's own timer: a frozen worker stops beating."""

    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        self.timer_entry = None

    def start(self, worker):
        from django.conf import settings

        node = worker.hostname
        _record_heartbeat("worker", node, True)
        self.timer_entry = worker.timer.call_repeatedly(
            settings.CRO_HEALTH_HEARTBEAT_SECONDS, _record_heartbeat, ("worker", node, True)
        )

    def stop(self, worker):
        if self.timer_entry is not None:
            self.timer_entry.cancel()
            self.timer_entry = None


app.steps["worker"].add(WorkerHeartbeat)


@after_task_publish.connect
def _beat_heartbeat(sender=None, **kwargs):
    """The beat scheduler's heartbeat: the time it last sent the sweep."""
    from registry.dispatch import SWEEP_MESSAGES as SWEEP_TASK

    if sender == SWEEP_TASK:
        _record_heartbeat("beat", "beat")


@worker_init.connect
def _worker_configuration_required(sender=None, **kwargs):
    """A worker signs and sends responses: it does not start with a secret missing."""
    from cro.configuration import configuration_require

    configuration_require()
    _worker_priority_lower()


def _worker_priority_lower() -> None:
    """CRO_WORKER_NICE: the worker (and the pool processes it forks) yield the CPU to the web
    processes, whose answers peers wait for; the worker processes the backlog with what is left."""
    from django.conf import settings

    if settings.CRO_WORKER_NICE > 0:
        os.nice(settings.CRO_WORKER_NICE)
        _autogroup_priority_lower(settings.CRO_WORKER_NICE)
    if settings.CRO_WORKER_SCHED_IDLE:
        _idle_policy_take()


def _idle_policy_take() -> None:
    """CRO_WORKER_SCHED_IDLE (Linux; inherited by the pool processes forked after this). A nice
    value ranks the worker by its share of busy CPU, yet a web thread waking up still waited
    for the worker's turn on its core to end; a task of the idle policy yields its core at once
    to any other that wakes, and the scheduler counts a core running only such tasks as free.
    Measured with bench/accept.py (README "Performance"): the worker's CPU in a 10 s burst fell
    from 4.7 to 3.9 s and the burst's requests/s rose by about a tenth. The price: while other
    tasks keep every core busy, the worker waits (its heartbeat too, which /health/ready then
    reports), by design. Hence opt-in, for a host of its own."""
    if not hasattr(os, "sched_setscheduler") or not hasattr(os, "SCHED_IDLE"):
        return
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except OSError as exc:  # refused (a seccomp profile, a container runtime)
        logger.info("CPU scheduling policy left as it is: %s", exc)


AUTOGROUP = Path("/proc/self/autogroup")


def _autogroup_priority_lower(by: int) -> None:
    """Linux with autogroup (sched_autogroup_enabled, the default of most distributions) shares
    the CPU between sessions first, and a nice value counts only inside its session. A worker
    started in a session of its own (bin/supervise, setsid) would keep its full share
    whatever its nice: measured with bench/accept.py, the worker took 28% of the machine during
    a burst at nice 10. So, when the worker leads its session (the session holds nothing but it
    and its pool), the session's own nice is lowered too. A worker sharing its session (a
    terminal) is ranked by its nice against the rest of that session already. (A systemd unit is a
    control group of its own, where CPUWeight= ranks it: README.)"""
    if os.getsid(0) != os.getpid():
        return
    try:
        current = int(AUTOGROUP.read_text().split("nice")[1])
        AUTOGROUP.write_text(str(min(current + by, 19)))
    except (OSError, ValueError, IndexError) as exc:  # no autogroup in this kernel, or refused
        logger.info("session CPU priority left as it is: %s", exc)


@beat_init.connect
def _beat_started(sender=None, **kwargs):
    from cro.configuration import configuration_require

    configuration_require()
    # A beat just started counts as alive until its first sweep is due.
    _record_heartbeat("beat", "beat")


def _database_connections_recycle(task) -> None:
    """Django's own rule for a request, at each edge of a task: a connection is kept for
    CONN_MAX_AGE and dropped when it failed or is unusable. Celery's Django fixup would close every
    connection around every task instead (CELERY_DB_REUSE_MAX in cro/settings.py keeps it from
    doing so): a connect per task, about 3 ms of CPU and round trips that every drain and
    delivery task paid. A task run inside a transaction (eager, or a test's) leaves it alone."""
    if getattr(task.request, "is_eager", False):
        return
    from django.db import connections

    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()


@task_prerun.connect
def _task_started(sender=None, task_id=None, args=None, kwargs=None, **extra):
    from registry import metrics

    _database_connections_recycle(sender)
    metrics.task_started(task_id=task_id, task_name=sender.name, args=args, kwargs=kwargs)


@task_postrun.connect
def _task_finished(sender=None, task_id=None, args=None, kwargs=None, state=None, **extra):
    from registry import metrics

    _database_connections_recycle(sender)
    try:
        metrics.task_finished(task_id=task_id, task_name=sender.name, args=args, kwargs=kwargs, state=state)
    except Exception:
        logger.warning("could not record the metrics of task %s", task_id, exc_info=True)
