"""Upkeep that makes PostgreSQL the source of truth: recover tasks of dead workers, re-deliver lost jobs.

Both run from the scheduler process every cycle (`on_scheduler_cycle`), from `manage.py queue monitor`,
at worker start (reconcile), and on demand (`manage.py queue reconcile`, `queue recover`). A Redis key
with a TTL spaces the runs cluster-wide, so any number of callers cost one run per interval.

Delivery is at-least-once: a task may be delivered again after a crash or a Redis loss. Two
deliveries never run it at the same time: a worker starts a task only through the conditional
UPDATE in queue_app.lifecycle, which only one of them can win.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from queue_app import lifecycle, limits, transport
from queue_app.models import Task, TaskStatus, WorkerProcess

logger = logging.getLogger(__name__)

MAINTENANCE_LOCK = "queue:maintenance:lock"
RECONCILE_LOCK = "queue:reconcile:lock"


def live_worker_names(*, now=None) -> set[str]:
    """Workers whose PostgreSQL heartbeat is fresh. Redis keys are not trusted: a flush erases them."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.WORKER_STALE_SECONDS)
    return set(
        WorkerProcess.objects.filter(stopped_at__isnull=True, last_heartbeat__gte=cutoff).values_list("name", flat=True)
    )


def tasks_recover_crashed(*, now=None) -> list[str]:
    """Tasks left in processing by a worker that stopped heartbeating go back to the queue.

    The interrupted run counts as an attempt: with retries left the task is queued again at once,
    otherwise it fails with a "worker died" error. Returns the ids of re-queued tasks.
    """
    now = now or timezone.now()
    live = live_worker_names(now=now)
    grace = now - timedelta(seconds=settings.WORKER_STALE_SECONDS)
    candidates = list(
        Task.objects.filter(status=TaskStatus.PROCESSING, started_at__lt=grace)
        .exclude(worker_name__in=live)
        .values_list("id", "worker_name")
    )
    requeued: list = []
    for task_id, worker_name in candidates:
        with transaction.atomic():
            task = (
                Task.objects.select_for_update(skip_locked=True)
                .filter(id=task_id, status=TaskStatus.PROCESSING, worker_name=worker_name)
                .only("id", "attempts", "max_retries")
                .first()
            )
            if task is None:
                continue
            message = f"Worker {worker_name or '(unknown)'} stopped heartbeating while running this task."
            lost = {"now": now, "error_type": "WorkerLost", "error_message": message}
            if task.attempts <= task.max_retries:
                lifecycle.requeue(task.id, **lost)
                requeued.append(task.id)
                outcome = TaskStatus.QUEUED
            else:
                lifecycle.give_up(task.id, **lost)
                outcome = TaskStatus.FAILED
        logger.warning("Task %s: %s -> %s", task.id, message, outcome)
    redeliver(requeued)
    return [str(task_id) for task_id in requeued]


def tasks_requeue_interrupted(*, worker_name: str, exclude: Iterable[str] = ()) -> list[str]:
    """On a worker's shutdown: its tasks still in processing go back to the queue as new attempts.

    Called after the work horse was stopped (cold shutdown, grace period over), so nothing runs
    them any more. The interrupted run is not the task's fault: it is queued again even when its
    retries are used up. `exclude`: tasks whose run did end (a success whose end the worker could
    not write): running them again would run them twice; the crash sweep queues them again only
    if their end is never written.
    """
    now = timezone.now()
    exclude = [str(task_id) for task_id in exclude]
    with transaction.atomic():
        requeued = list(
            Task.objects.select_for_update()
            .filter(status=TaskStatus.PROCESSING, worker_name=worker_name)
            .exclude(id__in=exclude)
            .values_list("id", flat=True)
        )
        message = f"Worker {worker_name} shut down during the task. Queued again."
        lifecycle.requeue_many(requeued, now=now, error_type="WorkerShutdown", error_message=message)
    redeliver(requeued)
    return [str(task_id) for task_id in requeued]


def tasks_put_back(task_ids: list[str], *, worker_name: str, reason: str) -> list[str]:
    """A worker's batch aborted by an error: the rows of its tasks not run yet back to queued.

    Rows the worker started (processing under its name) are queued again as new attempts, even
    with their retries used up (the run was not the task's fault); rows it had not started yet
    (a task under a limit starts at its turn) stay queued. Returns the ids now queued: their RQ
    jobs still say started, so nothing delivers them until the caller passes them to redeliver()
    (once Redis answers). Finished, cancelled or waiting rows are left alone.
    """
    now = timezone.now()
    message = f"Worker {worker_name}: its batch was aborted before the task ran ({reason}). Queued again."
    with transaction.atomic():
        lifecycle.requeue_many(
            task_ids, now=now, worker_name=worker_name, error_type="BatchAborted", error_message=message
        )
        queued = Task.objects.filter(id__in=list(task_ids), status=TaskStatus.QUEUED).values_list("id", flat=True)
        return [str(task_id) for task_id in queued]


def redeliver(task_ids: list) -> None:
    """Replace the RQ jobs of rows queued again, and free their limit slots. Raises RedisError."""
    for task_id in task_ids:
        transport.remove(str(task_id))  # the old job, so RQ's own cleanup cannot deliver it again
        limits.release_everywhere(str(task_id))
    if task_ids:
        transport.push(Task.objects.filter(id__in=task_ids, status=TaskStatus.QUEUED))


def tasks_reconcile(*, now=None, batch_size: int = 1000) -> list[str]:
    """Re-deliver waiting tasks whose RQ job is missing from Redis (restart, flush, fail-over, outage).

    Also re-delivered: waiting tasks whose RQ job says queued but sits in no queue list (a worker
    popped it and died before starting it); waiting tasks whose RQ job already ended, i.e. the
    run's start write was lost (a PostgreSQL crash with TASK_STATE_SYNCHRONOUS_COMMIT=off); and
    tasks in processing whose job ended over RECONCILE_GRACE_SECONDS ago, i.e. the completion
    write was lost, or whose job a worker took but never ran. They run again (at-least-once); the
    conditional start keeps a second delivery from overlapping.
    Rows younger than RECONCILE_GRACE_SECONDS are left alone: their push may be in flight.
    Returns the ids of re-delivered tasks.
    """
    now = now or timezone.now()
    settled = now - timedelta(seconds=settings.RECONCILE_GRACE_SECONDS)
    waiting = (
        Q(status=TaskStatus.PENDING, created_at__lt=settled)
        | Q(status=TaskStatus.QUEUED, enqueued_at__lt=settled)
        | Q(status=TaskStatus.SCHEDULED, created_at__lt=settled)
        | Q(status=TaskStatus.RETRYING, finished_at__lt=settled)
    )
    redelivered: list[str] = []
    queue_members: dict = {}  # one read of each queue list per run, for the stranded-job check
    last_id = None
    while True:
        page = Task.objects.filter(waiting).order_by("id")
        if last_id is not None:
            page = page.filter(id__gt=last_id)
        tasks = list(
            page.only("id", "priority", "run_at", "timeout", "max_retries", "attempts", "task_type", "status")[
                :batch_size
            ]
        )
        if not tasks:
            break
        last_id = tasks[-1].id
        found = transport.lost_jobs([str(task.id) for task in tasks], settled=settled, queue_members=queue_members)
        lost_ids = {*found.missing, *found.ended, *found.stranded}
        lost = [task for task in tasks if str(task.id) in lost_ids]
        for task_id in [*found.ended, *found.stranded]:
            transport.remove(task_id)  # the old job; push() writes a fresh one under the same id
        if lost:
            transport.push(lost, now=now)
            pending = [task.id for task in lost if task.status == TaskStatus.PENDING]
            if pending:
                lifecycle.deliver_many(pending, now=now)
            redelivered += [str(task.id) for task in lost]
    redelivered += _requeue_unrecorded_completions(now=now, settled=settled)
    if redelivered:
        logger.warning("Reconcile re-delivered %d task(s) missing from Redis", len(redelivered))
    return redelivered


def _requeue_unrecorded_completions(*, now, settled) -> list[str]:
    """Processing rows whose run will never be recorded.

    - the RQ job ended long ago: the outcome never reached PostgreSQL;
    - the RQ job still says queued and sits in no queue list: a worker wrote the start (it does
      so as soon as it has popped the job, before RQ marks the job started) and then lost the
      job, e.g. to a Redis error while RQ prepared it, so the handler never ran.
    """
    candidates = list(
        Task.objects.filter(status=TaskStatus.PROCESSING, started_at__lt=settled).values_list("id", flat=True)[:1000]
    )
    if not candidates:
        return []
    found = transport.lost_jobs([str(task_id) for task_id in candidates], settled=settled)
    reasons = dict.fromkeys(found.ended, "ended") | dict.fromkeys(found.stranded, "never ran")
    requeued = []
    with transaction.atomic():
        for task_id in (
            Task.objects.select_for_update(skip_locked=True)
            .filter(id__in=list(reasons), status=TaskStatus.PROCESSING)
            .values_list("id", flat=True)
        ):
            if reasons[str(task_id)] == "ended":
                error_type, message = "OutcomeLost", "The run ended but its outcome was not recorded in PostgreSQL."
            else:
                error_type, message = "StartLost", "A worker started the task but lost its RQ job before running it."
            lifecycle.requeue(task_id, now=now, error_type=error_type, error_message=f"{message} Queued again.")
            requeued.append(task_id)
            logger.warning("Task %s: %s; queued again", task_id, message)
    redeliver(requeued)
    return [str(task_id) for task_id in requeued]


def _take_turn(key: str, seconds: int) -> bool:
    """True for one caller per `seconds` cluster-wide (a Redis key with a TTL)."""
    owner = f"{socket.gethostname()}:{os.getpid()}"
    return bool(transport.get_connection().set(key, owner, nx=True, ex=max(1, seconds)))


def run_maintenance(*, force: bool = False) -> dict:
    """Crash sweep every MAINTENANCE_INTERVAL, reconcile every RECONCILE_INTERVAL; never raises."""
    report: dict = {}
    try:
        if force or _take_turn(MAINTENANCE_LOCK, settings.MAINTENANCE_INTERVAL):
            report["recovered"] = tasks_recover_crashed()
        if force or _take_turn(RECONCILE_LOCK, settings.RECONCILE_INTERVAL):
            report["reconciled"] = tasks_reconcile()
    except transport.RedisError as error:
        logger.warning("Maintenance skipped: Redis unreachable (%s)", error)
    except Exception:
        logger.exception("Maintenance run failed")
    return report


def on_scheduler_cycle() -> None:
    """Called once per scheduler cycle."""
    run_maintenance()
