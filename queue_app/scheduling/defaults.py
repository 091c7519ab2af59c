"""The default schedules the apps declare, created once by name at the scheduler's start."""

from __future__ import annotations

import logging

from django.conf import settings

from core.errors import ValidationFailed
from queue_app import registry
from queue_app.models import ScheduledTask
from queue_app.scheduling.rules import ScheduleFields, next_run_or_none, schedule_validate
from queue_app.selectors import default_schedules

# Firing and sync messages belong in scheduler.log (settings.LOGGING routes this logger there).
logger = logging.getLogger("queue_app.scheduler")


def schedules_ensure_defaults() -> list[ScheduledTask]:
    """Create the default schedules that are missing, by name; never touch existing ones. Returns those created.

    A default whose task type is not registered (its app not installed yet) is skipped and
    created at a later start.
    """
    if not settings.BUSINESS_HOURS_START < settings.BUSINESS_HOURS_END <= 24:
        logger.error(
            "BUSINESS_HOURS_START=%s / BUSINESS_HOURS_END=%s: the start must be before the end (hours 0-24)",
            settings.BUSINESS_HOURS_START,
            settings.BUSINESS_HOURS_END,
        )
    existing = set(ScheduledTask.objects.values_list("name", flat=True))
    known = registry.all_types()
    created = []
    for default in default_schedules():
        if default.name in existing:
            continue
        if default.task_type not in known:
            logger.info(
                "Default schedule %s skipped: task type %s is not registered yet", default.name, default.task_type
            )
            continue
        zone = settings.BUSINESS_TIMEZONE if default.business_hours else settings.SCHEDULER_TIMEZONE
        try:
            fields = schedule_validate(
                ScheduleFields(
                    name=default.name,
                    cron_expression=default.cron_expression,
                    task_type=default.task_type,
                    payload=dict(default.payload or {}),
                    priority="",
                    timezone=zone,
                    description=default.description,
                    enabled=True,
                )
            )
        except ValidationFailed as error:
            logger.warning("Default schedule %s not created: %s", default.name, error.message)
            continue
        # get_or_create re-reads after a unique violation: two schedulers starting together create it once.
        values = {**fields.__dict__, "next_run_at": next_run_or_none(fields)}
        schedule, was_created = ScheduledTask.objects.get_or_create(name=values.pop("name"), defaults=values)
        if was_created:
            created.append(schedule)
            logger.info(
                "Default schedule %s created: %s (%s) -> %s",
                default.name,
                fields.cron_expression,
                zone,
                default.task_type,
            )
    return created
