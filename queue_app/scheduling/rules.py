"""Schedule rules: names, cron expressions, time zones, next runs, and the validation every interface shares."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter
from django.conf import settings
from django.utils import timezone as dj_timezone

from core.errors import ValidationFailed
from queue_app import registry
from queue_app.models import TaskPriority

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]+$")
CRON_FIELDS = "minute hour day-of-month month day-of-week"


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


def next_run_or_none(fields: ScheduleFields) -> datetime | None:
    if not fields.enabled:
        return None
    return schedule_next_run(
        cron_expression=fields.cron_expression, timezone_name=fields.timezone, after=dj_timezone.now()
    )
