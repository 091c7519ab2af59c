"""Firing (called by the scheduler process): one task per firing, whatever the number of scheduler processes."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import transaction
from django.utils import timezone as dj_timezone

from core.actor import Actor
from core.errors import ApplicationError, ValidationFailed
from queue_app.models import ScheduledTask, Task
from queue_app.scheduling.rules import schedule_next_run
from queue_app.services import task_enqueue

# Firing and sync messages belong in scheduler.log (settings.LOGGING routes this logger there).
logger = logging.getLogger("queue_app.scheduler")


def firing_key(schedule_id: int, firing_time: datetime) -> str:
    """Idempotency key of one firing: the same for every scheduler process that sees it."""
    return f"schedule:{schedule_id}:{firing_time.astimezone(UTC).isoformat()}"


@dataclass
class FireResult:
    task: Task | None
    fired: bool
    next_run_at: datetime | None  # None: the schedule is gone or disabled


def schedule_fire(*, schedule_id: int, firing_time: datetime, now: datetime | None = None) -> FireResult:
    """Fire one due firing exactly once: claim it on the row, create the task, advance next_run_at.

    The row lock and the `next_run_at = firing_time` condition let only one scheduler process
    claim a firing; the idempotency key made of schedule and firing time guards the task row too.
    A firing that was missed (scheduler down) fires once; the next one is computed from now.
    """
    now = now or dj_timezone.now()
    firing_time = firing_time.astimezone(UTC).replace(microsecond=0)
    with transaction.atomic():
        schedule = ScheduledTask.objects.select_for_update().filter(pk=schedule_id).first()
        if schedule is None or not schedule.enabled:
            return FireResult(task=None, fired=False, next_run_at=None)
        # Cron jobs are scored in whole seconds (rq-scheduler's to_unix), so compare at that precision.
        if schedule.next_run_at is None or schedule.next_run_at.replace(microsecond=0) != firing_time:
            # Edited since it was registered, or another scheduler fired it already.
            return FireResult(task=None, fired=False, next_run_at=schedule.next_run_at)
        try:
            next_run_at = schedule_next_run(
                cron_expression=schedule.cron_expression, timezone_name=schedule.timezone, after=max(firing_time, now)
            )
        except ValidationFailed:
            logger.error(
                "Schedule %s: cron '%s' never fires again; disabling it", schedule.name, schedule.cron_expression
            )
            schedule.enabled, next_run_at = False, None
        task = None
        try:
            with transaction.atomic():
                task = task_enqueue(
                    task_type=schedule.task_type,
                    payload=schedule.payload,
                    priority=schedule.priority or None,
                    idempotency_key=firing_key(schedule.pk, firing_time),
                    actor=Actor.scheduler(),
                )
        except ApplicationError as error:
            logger.error("Schedule %s could not fire at %s: %s", schedule.name, firing_time.isoformat(), error.message)
        schedule.next_run_at = next_run_at
        update_fields = ["next_run_at", "enabled", "updated_at"]
        if task is not None:
            schedule.last_run_at, schedule.last_task = firing_time, task
            update_fields += ["last_run_at", "last_task"]
        schedule.save(update_fields=update_fields)
    if task is not None:
        logger.info(
            "Schedule %s fired for %s: task %s (%s); next run %s",
            schedule.name,
            firing_time.isoformat(),
            task.id,
            task.task_type,
            next_run_at.isoformat() if next_run_at else "never",
        )
    return FireResult(task=task, fired=task is not None, next_run_at=next_run_at)


def schedule_fire_due(schedule_id: int) -> str | None:
    """RQ job function of a schedule's cron job, for a plain rq-scheduler that enqueues it to a worker.

    The ScheduleScheduler fires in its own process and never enqueues this job; this keeps a
    plain Scheduler from double firing: it fires the row's due next_run_at, exactly once.
    """
    schedule = ScheduledTask.objects.filter(pk=schedule_id).only("next_run_at").first()
    now = dj_timezone.now()
    if schedule is None or schedule.next_run_at is None or schedule.next_run_at > now:
        return None
    result = schedule_fire(schedule_id=schedule_id, firing_time=schedule.next_run_at, now=now)
    return str(result.task.id) if result.task else None
