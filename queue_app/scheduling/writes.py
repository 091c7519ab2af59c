"""Every write to a ScheduledTask a person makes (API, CLI, admin): create, update, delete, enable, disable, run now."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone as dj_timezone

from core.actor import SYSTEM, Actor
from core.audit import audit_record
from core.errors import NotFound, ValidationFailed
from queue_app.models import ScheduledTask, Task
from queue_app.scheduling.rules import ScheduleFields, next_run_or_none, schedule_validate
from queue_app.selectors import schedule_get
from queue_app.services import task_enqueue

# Firing and sync messages belong in scheduler.log (settings.LOGGING routes this logger there).
logger = logging.getLogger("queue_app.scheduler")


_UNSET: Any = object()


def _audit_view(schedule: ScheduledTask) -> dict:
    return {
        "name": schedule.name,
        "cron_expression": schedule.cron_expression,
        "timezone": schedule.timezone,
        "task_type": schedule.task_type,
        "payload": schedule.payload,
        "priority": schedule.priority,
        "enabled": schedule.enabled,
        "description": schedule.description,
        "next_run_at": schedule.next_run_at,
    }


def _name_taken(name: str) -> ValidationFailed:
    return ValidationFailed(
        f"A schedule named '{name}' already exists; pick another name or edit that one.",
        field_errors={"name": [f"A schedule named '{name}' already exists."]},
    )


def schedule_create(
    *,
    name: str,
    cron_expression: str,
    task_type: str,
    payload: dict | None = None,
    priority: str = "",
    timezone: str | None = None,
    description: str = "",
    enabled: bool = True,
    actor: Actor = SYSTEM,
) -> ScheduledTask:
    """Validate and create a schedule; the scheduler picks it up at its next cycle."""
    fields = schedule_validate(
        ScheduleFields(
            name=name,
            cron_expression=cron_expression,
            task_type=task_type,
            payload=payload if payload is not None else {},
            priority=priority or "",
            timezone=timezone or settings.SCHEDULER_TIMEZONE,
            description=description,
            enabled=enabled,
        )
    )
    if ScheduledTask.objects.filter(name=fields.name).exists():
        raise _name_taken(fields.name)
    schedule = ScheduledTask(**fields.__dict__, next_run_at=next_run_or_none(fields))
    try:
        with transaction.atomic():
            schedule.save(force_insert=True)
            audit_record(
                action="schedule.create",
                object_type="scheduled_task",
                object_id=schedule.pk,
                actor=actor,
                after=_audit_view(schedule),
            )
    except IntegrityError:
        raise _name_taken(fields.name) from None
    logger.info(
        "Schedule %s created: %s (%s) -> %s",
        schedule.name,
        schedule.cron_expression,
        schedule.timezone,
        schedule.task_type,
    )
    return schedule


def schedule_update(
    *,
    schedule_id: int,
    name: str = _UNSET,
    cron_expression: str = _UNSET,
    task_type: str = _UNSET,
    payload: dict = _UNSET,
    priority: str = _UNSET,
    timezone: str = _UNSET,
    description: str = _UNSET,
    enabled: bool = _UNSET,
    actor: Actor = SYSTEM,
) -> ScheduledTask:
    """Change some fields; the whole schedule is validated again. A new cron, zone or enabling resets next_run_at."""
    changes = {
        key: value
        for key, value in {
            "name": name,
            "cron_expression": cron_expression,
            "task_type": task_type,
            "payload": payload,
            "priority": priority,
            "timezone": timezone,
            "description": description,
            "enabled": enabled,
        }.items()
        if value is not _UNSET
    }
    with transaction.atomic():
        schedule = ScheduledTask.objects.select_for_update().filter(pk=schedule_get(schedule_id=schedule_id).pk).first()
        if schedule is None:
            raise NotFound(f"No schedule with id '{schedule_id}'.")
        before = _audit_view(schedule)
        current = ScheduleFields(**{key: getattr(schedule, key) for key in ScheduleFields.__dataclass_fields__})
        changes = {key: value for key, value in changes.items() if getattr(current, key) != value}
        enabling = changes.get("enabled") is True and not schedule.enabled
        check_task = enabling or bool({"task_type", "payload"} & changes.keys())
        fields = schedule_validate(ScheduleFields(**{**current.__dict__, **changes}), check_task=check_task)
        if fields.name != schedule.name and ScheduledTask.objects.filter(name=fields.name).exists():
            raise _name_taken(fields.name)
        timing_changed = (fields.cron_expression, fields.timezone, fields.enabled) != (
            schedule.cron_expression,
            schedule.timezone,
            schedule.enabled,
        )
        for key, value in fields.__dict__.items():
            setattr(schedule, key, value)
        if timing_changed or (fields.enabled and schedule.next_run_at is None):
            schedule.next_run_at = next_run_or_none(fields)
        try:
            with transaction.atomic():
                schedule.save()
        except IntegrityError:
            raise _name_taken(fields.name) from None
        if changes:
            # A change of `enabled` alone is an enable or disable; anything else is an edit.
            action = (
                ("schedule.enable" if fields.enabled else "schedule.disable")
                if changes.keys() == {"enabled"}
                else "schedule.update"
            )
            audit_record(
                action=action,
                object_type="scheduled_task",
                object_id=schedule.pk,
                actor=actor,
                before=before,
                after=_audit_view(schedule),
            )
    logger.info("Schedule %s updated (%s)", schedule.name, ", ".join(sorted(changes)) or "no changes")
    return schedule


def schedule_delete(*, schedule_id: int, actor: Actor = SYSTEM) -> None:
    """Delete a schedule; its cron job is dropped at the scheduler's next cycle and it never fires again."""
    schedule = schedule_get(schedule_id=schedule_id)
    with transaction.atomic():
        deleted, _ = ScheduledTask.objects.filter(pk=schedule.pk).delete()
        if deleted:
            audit_record(
                action="schedule.delete",
                object_type="scheduled_task",
                object_id=schedule.pk,
                actor=actor,
                before=_audit_view(schedule),
            )
    logger.info("Schedule %s deleted", schedule.name)


def schedule_enable(*, schedule_id: int, actor: Actor = SYSTEM) -> ScheduledTask:
    return schedule_update(schedule_id=schedule_id, enabled=True, actor=actor)


def schedule_disable(*, schedule_id: int, actor: Actor = SYSTEM) -> ScheduledTask:
    return schedule_update(schedule_id=schedule_id, enabled=False, actor=actor)


def schedule_run_now(*, schedule_id: int, actor: Actor = SYSTEM) -> Task:
    """Create the schedule's task now, outside its cron times (works on disabled schedules too)."""
    schedule = schedule_get(schedule_id=schedule_id)
    now = dj_timezone.now()
    with transaction.atomic():
        task = task_enqueue(
            task_type=schedule.task_type,
            payload=schedule.payload,
            priority=schedule.priority or None,
            actor=actor,
        )
        ScheduledTask.objects.filter(pk=schedule.pk).update(last_run_at=now, last_task=task)
    logger.info("Schedule %s run now: task %s", schedule.name, task.id)
    return task
