"""Sync PostgreSQL -> the scheduler's cron jobs (called every scheduler cycle)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone as dj_timezone

from core.errors import ValidationFailed
from queue_app.models import ScheduledTask
from queue_app.scheduling.rules import schedule_next_run

# Firing and sync messages belong in scheduler.log (settings.LOGGING routes this logger there).
logger = logging.getLogger("queue_app.scheduler")


@dataclass
class SyncResult:
    registered: int = 0
    removed: int = 0


def schedules_sync(*, scheduler) -> SyncResult:
    """Make the scheduler's cron jobs match the enabled schedules: one query and one ZRANGE when nothing changed.

    A cron job's score is its schedule's next_run_at, so an edit (new next_run_at), a new or
    re-enabled schedule is registered, and a deleted or disabled one is removed.
    """
    result = SyncResult()
    registered = scheduler.registered_schedules()  # {schedule_id: score}
    wanted: dict[int, tuple] = {}
    if settings.SCHEDULER_ENABLED:
        now = dj_timezone.now()
        for schedule_id, name, cron, zone, next_run_at in ScheduledTask.objects.filter(enabled=True).values_list(
            "id", "name", "cron_expression", "timezone", "next_run_at"
        ):
            if next_run_at is None:
                try:
                    next_run_at = schedule_next_run(cron_expression=cron, timezone_name=zone, after=now)
                except ValidationFailed as error:
                    logger.error("Schedule %s cannot be registered: %s", name, error.message)
                    continue
                ScheduledTask.objects.filter(pk=schedule_id, next_run_at__isnull=True).update(next_run_at=next_run_at)
            wanted[schedule_id] = (name, cron, zone, next_run_at)
    for schedule_id, (name, cron, zone, next_run_at) in wanted.items():
        if registered.get(schedule_id) != int(next_run_at.timestamp()):
            scheduler.register_schedule(
                schedule_id=schedule_id, name=name, cron_expression=cron, timezone_name=zone, next_run_at=next_run_at
            )
            logger.info("Schedule %s registered: %s (%s), next run %s", name, cron, zone, next_run_at.isoformat())
            result.registered += 1
    for schedule_id in set(registered) - set(wanted):
        scheduler.unregister_schedule(schedule_id=schedule_id)
        logger.info("Schedule %s unregistered (deleted, disabled or scheduler disabled)", schedule_id)
        result.removed += 1
    return result
