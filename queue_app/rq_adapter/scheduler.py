"""The base of the `rqscheduler` process class (queue_app.scheduler.ScheduleScheduler): rq-scheduler's,
as django-rq configures it. Its overrides are rows of the table in __init__."""

from __future__ import annotations

from django_rq.queues import DjangoScheduler as SchedulerBase

__all__ = ["SchedulerBase"]
