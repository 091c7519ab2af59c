"""Schedules: every write to a ScheduledTask, cron and time-zone rules, the default schedules, and firing."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone as dj_timezone

from core.audit import audit_record
from core.errors import ApplicationError, NotFound, ValidationFailed
from queue_app import registry
from queue_app.models import ScheduledTask, Task, TaskPriority, TaskSource
from queue_app.services import task_enqueue

# Firing and sync messages belong in scheduler.log (settings.LOGGING routes this logger there).
logger = logging.getLogger("queue_app.scheduler")

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]+$")
CRON_FIELDS = "minute hour day-of-month month day-of-week"
_UNSET: Any = object()


# --- Rules ------------------------------------------------------------------


def cron_normalize(expression: str) -> str:
    """Return the expression with single spaces, or raise ValidationFailed naming cron_expression."""
    expression = " ".join(str(expression or "").split())
    fields = expression.split(" ") if expression else []
    allowed = (5, 6) if settings.SCHEDULER_CRON_SECONDS else (5,)
    if len(fields) not in allowed:
        message = f"Invalid cron expression '{expression}': expected 5 fields ({CRON_FIELDS}), got {len(fields)}."
        raise ValidationFailed(message, field_errors={"cron_expression": [message]})
    if not croniter.is_valid(expression):
        message = (
            f"Invalid cron expression '{expression}': a field is out of range or malformed "
            f"(fields: {CRON_FIELDS}; e.g. '*/30 9-16 * * 1-5')."
        )
        raise ValidationFailed(message, field_errors={"cron_expression": [message]})
    return expression


def timezone_validate(name: str) -> ZoneInfo:
    try:
        if not name:
            raise ValueError
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        message = f"Unknown time zone '{name}'; use an IANA name such as 'UTC' or 'Europe/Berlin'."
        raise ValidationFailed(message, field_errors={"timezone": [message]}) from None


def schedule_next_run(*, cron_expression: str, timezone_name: str, after: datetime) -> datetime:
    """The first firing strictly after `after`, reading the cron expression in the schedule's zone (UTC result).

    rq-scheduler's own cron reads expressions in the process's local zone (Django sets TZ from
    TIME_ZONE); each schedule has its own zone, so firing times are computed here instead.
    """
    zone = timezone_validate(timezone_name)
    try:
        next_local = croniter(cron_expression, after.astimezone(zone)).get_next(datetime)
    except CroniterBadDateError:
        message = f"The cron expression '{cron_expression}' never fires (no matching date)."
        raise ValidationFailed(message, field_errors={"cron_expression": [message]}) from None
    return next_local.astimezone(UTC)


@dataclass
class ScheduleFields:
    name: str
    cron_expression: str
    task_type: str
    payload: dict
    priority: str
    timezone: str
    description: str
    enabled: bool


def schedule_validate(fields: ScheduleFields, *, check_task: bool = True) -> ScheduleFields:
    """Check every field, collecting all errors into one ValidationFailed; return normalized fields.

    check_task=False skips the task type and payload (an edit that leaves them alone, so a schedule
    whose task type has since disappeared can still be disabled or renamed).
    """
    errors: dict[str, list] = {}
    messages: list[str] = []

    def fail(error: ValidationFailed) -> None:
        messages.append(error.message)
        for key, value in error.field_errors.items():
            errors.setdefault(key, []).extend(value if isinstance(value, list) else [value])

    name = str(fields.name or "").strip()
    if not NAME_PATTERN.match(name) or len(name) > 100:
        fail(
            ValidationFailed(
                f"Invalid schedule name '{name}': use 1-100 letters, digits, '_', '-' or '.'.",
                field_errors={"name": ["Use 1-100 letters, digits, '_', '-' or '.'."]},
            )
        )
    cron_expression = fields.cron_expression
    try:
        cron_expression = cron_normalize(fields.cron_expression)
    except ValidationFailed as error:
        fail(error)
    zone_ok = True
    try:
        timezone_validate(fields.timezone)
    except ValidationFailed as error:
        zone_ok = False
        fail(error)
    if not errors.get("cron_expression") and zone_ok:
        try:
            schedule_next_run(cron_expression=cron_expression, timezone_name=fields.timezone, after=dj_timezone.now())
        except ValidationFailed as error:
            fail(error)
    priority = fields.priority or ""
    if priority not in ("", *TaskPriority.values):
        fail(
            ValidationFailed(
                f"Unknown priority '{priority}'. Use one of: {', '.join(TaskPriority.values)} (or empty for the "
                "task type's default).",
                field_errors={"priority": [f"'{priority}' is not a valid priority."]},
            )
        )
    payload = fields.payload if fields.payload is not None else {}
    if check_task:
        try:
            registry.get(fields.task_type).validate_payload(payload)
            size = len(json.dumps(payload, default=str))
            if size > settings.MAX_PAYLOAD_BYTES:
                raise ValidationFailed(
                    f"The payload is {size} bytes; the limit is {settings.MAX_PAYLOAD_BYTES}.",
                    field_errors={"payload": ["Payload too large."]},
                )
        except ValidationFailed as error:
            fail(error)
    if errors:
        raise ValidationFailed(" ".join(messages), field_errors=errors)
    return ScheduleFields(
        name=name,
        cron_expression=cron_expression,
        task_type=fields.task_type,
        payload=payload,
        priority=priority,
        timezone=str(fields.timezone),
        description=fields.description or "",
        enabled=bool(fields.enabled),
    )


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


def _next_or_none(fields: ScheduleFields) -> datetime | None:
    if not fields.enabled:
        return None
    return schedule_next_run(
        cron_expression=fields.cron_expression, timezone_name=fields.timezone, after=dj_timezone.now()
    )


# --- Reads used by the interfaces --------------------------------------------


def schedule_get(*, schedule_id: Any = None, name: str | None = None) -> ScheduledTask:
    try:
        if name is not None:
            return ScheduledTask.objects.select_related("last_task").get(name=name)
        return ScheduledTask.objects.select_related("last_task").get(pk=int(schedule_id))
    except (ValueError, TypeError, ScheduledTask.DoesNotExist):
        what = f"named '{name}'" if name is not None else f"with id '{schedule_id}'"
        raise NotFound(f"No schedule {what}. `manage.py queue scheduled list` shows them.") from None


# --- Writes -------------------------------------------------------------------


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
    source: str = TaskSource.SYSTEM,
    user=None,
    remote_addr: str | None = None,
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
    schedule = ScheduledTask(**fields.__dict__, next_run_at=_next_or_none(fields))
    try:
        with transaction.atomic():
            schedule.save(force_insert=True)
            audit_record(
                action="schedule.create",
                object_type="scheduled_task",
                object_id=schedule.pk,
                source=source,
                user=user,
                after=_audit_view(schedule),
                remote_addr=remote_addr,
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
    source: str = TaskSource.SYSTEM,
    user=None,
    remote_addr: str | None = None,
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
            schedule.next_run_at = _next_or_none(fields)
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
                source=source,
                user=user,
                before=before,
                after=_audit_view(schedule),
                remote_addr=remote_addr,
            )
    logger.info("Schedule %s updated (%s)", schedule.name, ", ".join(sorted(changes)) or "no changes")
    return schedule


def schedule_delete(
    *, schedule_id: int, source: str = TaskSource.SYSTEM, user=None, remote_addr: str | None = None
) -> None:
    """Delete a schedule; its cron job is dropped at the scheduler's next cycle and it never fires again."""
    schedule = schedule_get(schedule_id=schedule_id)
    with transaction.atomic():
        deleted, _ = ScheduledTask.objects.filter(pk=schedule.pk).delete()
        if deleted:
            audit_record(
                action="schedule.delete",
                object_type="scheduled_task",
                object_id=schedule.pk,
                source=source,
                user=user,
                before=_audit_view(schedule),
                remote_addr=remote_addr,
            )
    logger.info("Schedule %s deleted", schedule.name)


def schedule_enable(
    *, schedule_id: int, source: str = TaskSource.SYSTEM, user=None, remote_addr: str | None = None
) -> ScheduledTask:
    return schedule_update(schedule_id=schedule_id, enabled=True, source=source, user=user, remote_addr=remote_addr)


def schedule_disable(
    *, schedule_id: int, source: str = TaskSource.SYSTEM, user=None, remote_addr: str | None = None
) -> ScheduledTask:
    return schedule_update(schedule_id=schedule_id, enabled=False, source=source, user=user, remote_addr=remote_addr)


def schedule_run_now(
    *, schedule_id: int, source: str = TaskSource.SYSTEM, user=None, remote_addr: str | None = None
) -> Task:
    """Create the schedule's task now, outside its cron times (works on disabled schedules too)."""
    schedule = schedule_get(schedule_id=schedule_id)
    now = dj_timezone.now()
    with transaction.atomic():
        task = task_enqueue(
            task_type=schedule.task_type,
            payload=schedule.payload,
            priority=schedule.priority or None,
            source=source,
            user=user,
            remote_addr=remote_addr,
        )
        ScheduledTask.objects.filter(pk=schedule.pk).update(last_run_at=now, last_task=task)
    logger.info("Schedule %s run now: task %s", schedule.name, task.id)
    return task


# --- Firing (called by the scheduler process) ----------------------------------


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
                    source=TaskSource.SCHEDULER,
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


# --- Sync PostgreSQL -> the scheduler's cron jobs --------------------------------


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


# --- Default schedules ---------------------------------------------------------


def default_schedules() -> list[registry.DefaultSchedule]:
    """The default schedules the apps declared, business hours and days filled in from settings."""
    start, end = settings.BUSINESS_HOURS_START, settings.BUSINESS_HOURS_END
    hours = f"{start}-{end - 1}" if end - 1 > start else str(start)
    return [
        replace(default, cron_expression=default.cron_expression.format(hours=hours, days=settings.BUSINESS_DAYS))
        if default.business_hours
        else default
        for default in registry.default_schedules()
    ]


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
        values = {**fields.__dict__, "next_run_at": _next_or_none(fields)}
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
