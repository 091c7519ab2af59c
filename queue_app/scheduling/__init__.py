"""Schedules: every write to a ScheduledTask, cron and time-zone rules, the default schedules, and firing.

One module per concern; every public name stays importable from here (`queue_app.scheduling.schedule_fire_due`
is also the RQ job function of a schedule's cron job):
- rules.py     names, cron, time zones, next runs, the validation every interface shares;
- writes.py    create, update, delete, enable, disable, run now (audited);
- firing.py    fire one firing exactly once (the scheduler process, or a plain rq-scheduler's job);
- sync.py      make the scheduler's cron jobs match the enabled rows;
- defaults.py  create the default schedules the apps declared.
Reads (schedule_get, default_schedules) live in queue_app.selectors.
"""

from queue_app.scheduling.defaults import schedules_ensure_defaults
from queue_app.scheduling.firing import FireResult, firing_key, schedule_fire, schedule_fire_due
from queue_app.scheduling.rules import (
    CRON_FIELDS,
    NAME_PATTERN,
    ScheduleFields,
    cron_normalize,
    next_run_or_none,
    schedule_next_run,
    schedule_validate,
    timezone_validate,
)
from queue_app.scheduling.sync import SyncResult, schedules_sync
from queue_app.scheduling.writes import (
    schedule_create,
    schedule_delete,
    schedule_disable,
    schedule_enable,
    schedule_run_now,
    schedule_update,
)
from queue_app.selectors import default_schedules, schedule_get

__all__ = [
    "CRON_FIELDS",
    "NAME_PATTERN",
    "FireResult",
    "ScheduleFields",
    "SyncResult",
    "cron_normalize",
    "default_schedules",
    "firing_key",
    "next_run_or_none",
    "schedule_create",
    "schedule_delete",
    "schedule_disable",
    "schedule_enable",
    "schedule_fire",
    "schedule_fire_due",
    "schedule_get",
    "schedule_next_run",
    "schedule_run_now",
    "schedule_update",
    "schedule_validate",
    "schedules_ensure_defaults",
    "schedules_sync",
    "timezone_validate",
]
