"""Monitoring reads: queue stats, per-type and per-worker performance, type analysis with trend.

Counting over a million task rows on every page view is what this module avoids:
- unfinished rows (pending ... processing) are counted exactly; the partial index on those
  statuses keeps that cheap however large the table grows;
- finished counts (completed, failed, cancelled) are lifetime totals: the sum of the stored
  hourly snapshots plus the rows finished since the last stored hour, so they survive cleanup;
- recent windows (last hour, last day, a type's analysis) read rows through the finished_at index.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count, F, Q, Sum, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone
from redis import Redis
from redis.exceptions import RedisError

from core.errors import NotFound
from queue_app import metrics, registry, rq_adapter, transport
from queue_app.models import MetricSnapshot, ScheduledTask, Task, TaskStatus

UNFINISHED_STATUSES = [
    TaskStatus.PENDING,
    TaskStatus.SCHEDULED,
    TaskStatus.QUEUED,
    TaskStatus.RETRYING,
    TaskStatus.PROCESSING,
]
FINISHED = [TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED]
TASK_TABLE = Task._meta.db_table


def _due_waiting(now: datetime):
    """Rows waiting to start whose time has come (a future scheduled task is not waiting yet)."""
    return (
        Task.objects.filter(status__in=UNFINISHED_STATUSES)
        .exclude(status=TaskStatus.PROCESSING)
        .filter(Q(run_at__isnull=True) | Q(run_at__lte=now))
    )


def waiting_summary(*, now: datetime | None = None) -> dict:
    """How many tasks are due and waiting, and the oldest of them."""
    now = now or timezone.now()
    waiting = _due_waiting(now)
    count = waiting.count()
    oldest = (
        waiting.annotate(waiting_since=Coalesce("run_at", "enqueued_at", "created_at"))
        .order_by("waiting_since")
        .values("id", "task_type", "priority", "waiting_since")
        .first()
    )
    if oldest:
        oldest = {
            "task_id": str(oldest["id"]),
            "task_type": oldest["task_type"],
            "priority": oldest["priority"],
            "waiting_since": oldest["waiting_since"].isoformat(),
            "age_seconds": round((now - oldest["waiting_since"]).total_seconds(), 1),
        }
    return {"count": count, "oldest": oldest}


def finished_totals() -> dict[str, dict[str, int]]:
    """Lifetime finished counts per task type: {type: {completed, failed, cancelled, retries}}."""
    covered = metrics.covered_until()
    totals: dict[str, dict[str, int]] = {}

    def add(name: str, values: dict) -> None:
        entry = totals.setdefault(name, {"completed": 0, "failed": 0, "cancelled": 0, "retries": 0})
        for key in entry:
            entry[key] += values.get(key) or 0

    if covered:
        stored = (
            MetricSnapshot.objects.exclude(task_type=MetricSnapshot.ALL_TYPES)
            .filter(bucket_start__lt=covered)
            .values("task_type")
            .annotate(
                completed=Sum("completed"), failed=Sum("failed"), cancelled=Sum("cancelled"), retries=Sum("retries")
            )
        )
        for row in stored:
            add(row["task_type"], row)
    recent = Task.objects.filter(status__in=FINISHED)
    if covered:
        recent = recent.filter(finished_at__gte=covered)
    for row in recent.values("task_type").annotate(
        completed=Count("id", filter=Q(status=TaskStatus.COMPLETED)),
        failed=Count("id", filter=Q(status=TaskStatus.FAILED)),
        cancelled=Count("id", filter=Q(status=TaskStatus.CANCELLED)),
        retries=Sum(Greatest(F("attempts") - 1, Value(0))),
    ):
        add(row["task_type"], row)
    return totals


def finished_since(since: datetime) -> dict[str, int]:
    """Tasks finished since a moment, by final status.

    Whole hours already stored come from the snapshots; the partial first hour and the time
    after the last stored hour from the rows (index ranges on finished_at). A day of a busy
    queue is then ~24 snapshot rows plus an hour or two of task rows, not every row of the day.
    """
    counts = {str(status): 0 for status in FINISHED}
    covered = metrics.covered_until()
    first_full_hour = metrics.floor_hour(since)
    if first_full_hour < since:
        first_full_hour += metrics.HOUR
    rows = Task.objects.filter(status__in=FINISHED)
    if covered and covered > first_full_hour:
        stored = MetricSnapshot.objects.filter(
            task_type=MetricSnapshot.ALL_TYPES, bucket_start__gte=first_full_hour, bucket_start__lt=covered
        ).aggregate(completed=Sum("completed"), failed=Sum("failed"), cancelled=Sum("cancelled"))
        for status, value in stored.items():
            counts[status] += value or 0
        rows = rows.filter(Q(finished_at__gte=since, finished_at__lt=first_full_hour) | Q(finished_at__gte=covered))
    else:
        rows = rows.filter(finished_at__gte=since)
    for row in rows.values("status").annotate(n=Count("id")).order_by():
        counts[row["status"]] += row["n"]
    return counts


def redis_queue_depths(conn: Redis | None = None) -> dict[str, dict]:
    """Per priority: jobs waiting in the RQ lists, scheduled for later, and running, summed over every
    family's queue of that priority, with each queue's own figures under "queues". One round trip.
    """
    conn = conn or transport.get_connection()
    queues = [
        (priority, name) for priority in settings.TASK_PRIORITIES for name in transport.priority_queue_names(priority)
    ]
    counts = rq_adapter.queue_counts([name for _, name in queues], conn)
    depths = {
        priority: {"queued": 0, "scheduled": 0, "started": 0, "queues": {}} for priority in settings.TASK_PRIORITIES
    }
    for (priority, name), replies in zip(queues, counts, strict=True):
        figures = dict(zip(("queued", "scheduled", "started"), replies, strict=True))
        depths[priority]["queues"][name] = figures
        for place, count in figures.items():
            depths[priority][place] += count
    return depths


def live_workers(conn: Redis | None = None, *, now: datetime | None = None) -> list[dict]:
    """Workers registered in Redis with their state, heartbeat and current task."""
    conn = conn or transport.get_connection()
    now = now or timezone.now()
    workers = []
    for worker in rq_adapter.workers(conn):
        heartbeat = worker.last_heartbeat
        if heartbeat is not None and timezone.is_naive(heartbeat):
            heartbeat = heartbeat.replace(tzinfo=UTC)
        workers.append(
            {
                "name": worker.name,
                "state": worker.state if worker.state != "?" else "unknown",
                "queues": worker.queues,
                "pid": worker.pid,
                "hostname": worker.hostname,
                "birth_date": worker.birth_date.isoformat() if worker.birth_date else None,
                "last_heartbeat": heartbeat.isoformat() if heartbeat else None,
                "heartbeat_age_seconds": round((now - heartbeat).total_seconds(), 1) if heartbeat else None,
                "current_task_id": worker.current_job_id,
                "current_task_type": None,
                "successful_job_count": worker.successful_job_count,
                "failed_job_count": worker.failed_job_count,
            }
        )
    current = [w["current_task_id"] for w in workers if w["current_task_id"]]
    if current:
        types = dict(Task.objects.filter(id__in=current).values_list("id", "task_type"))
        for worker in workers:
            if worker["current_task_id"]:
                worker["current_task_type"] = types.get(_uuid(worker["current_task_id"]))
    return sorted(workers, key=lambda w: w["name"])


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def queue_stats(*, now: datetime | None = None, redis_connection: Redis | None = None) -> dict:
    """Everything an operator checks first, as one JSON-able dict.

    by_status: unfinished statuses count current rows; finished ones are lifetime totals.
    """
    now = now or timezone.now()
    unfinished = Task.objects.filter(status__in=UNFINISHED_STATUSES).values("status", "priority", "task_type")
    by_status = {str(status): 0 for status in TaskStatus}
    by_priority = {priority: {"rows": {}} for priority in settings.TASK_PRIORITIES}
    by_type: dict[str, dict] = {}

    def type_entry(name: str) -> dict:
        return by_type.setdefault(name, {str(status): 0 for status in TaskStatus} | {"retries": 0})

    for row in unfinished.annotate(n=Count("id")).order_by():
        by_status[row["status"]] += row["n"]
        rows = by_priority.setdefault(row["priority"], {"rows": {}})["rows"]
        rows[row["status"]] = rows.get(row["status"], 0) + row["n"]
        type_entry(row["task_type"])[row["status"]] += row["n"]
    for name, totals in finished_totals().items():
        entry = type_entry(name)
        for key, value in totals.items():
            entry[key] += value
            if key != "retries":
                by_status[key] += value

    redis_error = None
    workers: list[dict] = []
    try:
        conn = redis_connection or transport.get_connection()
        depths = redis_queue_depths(conn)
        workers = live_workers(conn, now=now)
    except RedisError as error:
        depths = {}
        redis_error = str(error)
    for priority, entry in by_priority.items():
        entry["redis"] = depths.get(priority)
        entry["rows_waiting"] = sum(n for status, n in entry["rows"].items() if status != TaskStatus.PROCESSING)

    waiting = waiting_summary(now=now)
    return {
        "generated_at": now.isoformat(),
        "by_status": by_status,
        "by_priority": by_priority,
        "by_type": dict(sorted(by_type.items())),
        "waiting": waiting["count"],
        "oldest_waiting": waiting["oldest"],
        "last_hour": finished_since(now - timedelta(hours=1)),
        "last_day": finished_since(now - timedelta(days=1)),
        "workers": workers,
        "redis_error": redis_error,
        "history_covered_until": (covered.isoformat() if (covered := metrics.covered_until()) else None),
    }


# --- Performance over a window ------------------------------------------------------------

_WINDOW_SQL = f"""
    SELECT {{group}} AS grp,
           count(*) FILTER (WHERE status = 'completed'),
           count(*) FILTER (WHERE status = 'failed'),
           count(*) FILTER (WHERE status = 'cancelled'),
           coalesce(sum(greatest(attempts - 1, 0)), 0),
           avg(duration) FILTER (WHERE status IN ('completed', 'failed')),
           percentile_cont(0.5) WITHIN GROUP (ORDER BY duration) FILTER (WHERE status IN ('completed', 'failed')),
           percentile_cont(0.95) WITHIN GROUP (ORDER BY duration) FILTER (WHERE status IN ('completed', 'failed')),
           max(duration) FILTER (WHERE status IN ('completed', 'failed')),
           max(finished_at)
      FROM {TASK_TABLE}
     WHERE finished_at >= %(since)s AND finished_at < %(until)s
       AND status IN ('completed', 'failed', 'cancelled') {{extra}}
     GROUP BY grp
"""  # noqa: S608 (table name from model meta; every value is bound)


_EMPTY = (0, 0, 0, 0, None, None, None, None, None)
_TREND_KEYS = ("finished", "completed", "failed", "failure_rate", "throughput_per_hour", "duration_avg", "duration_p95")


def _window_figures(row: tuple, minutes: float) -> dict:
    completed, failed, cancelled, retries, avg, p50, p95, longest, last_finished = row
    ran = completed + failed
    return {
        "completed": completed,
        "failed": failed,
        "cancelled": cancelled,
        "finished": completed + failed + cancelled,
        "retries": int(retries),
        "failure_rate": round(failed / ran, 4) if ran else None,
        "throughput_per_minute": round(ran / minutes, 4) if minutes else None,
        "throughput_per_hour": round(ran * 60 / minutes, 2) if minutes else None,
        "duration_avg": _round(avg),
        "duration_p50": _round(p50),
        "duration_p95": _round(p95),
        "duration_max": _round(longest),
        "last_finished_at": last_finished.isoformat() if last_finished else None,
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 3)


def _grouped_window(group: str, since: datetime, until: datetime, extra: str = "", params: dict | None = None):
    with connection.cursor() as cursor:
        cursor.execute(_WINDOW_SQL.format(group=group, extra=extra), {"since": since, "until": until, **(params or {})})
        return cursor.fetchall()


def type_performance(*, hours: float = 24, now: datetime | None = None) -> dict[str, dict]:
    """Per task type over the last `hours`: throughput, failure rate, durations, retries."""
    now = now or timezone.now()
    minutes = hours * 60
    rows = _grouped_window("task_type", now - timedelta(hours=hours), now)
    return {row[0]: _window_figures(row[1:], minutes) for row in sorted(rows)}


def overall_performance(*, minutes: float, now: datetime | None = None) -> dict:
    """All types together over the last `minutes` (what the health check judges)."""
    now = now or timezone.now()
    rows = _grouped_window("1", now - timedelta(minutes=minutes), now)
    return _window_figures(rows[0][1:] if rows else _EMPTY, minutes)


def worker_performance(
    *, hours: float = 24, now: datetime | None = None, redis_connection: Redis | None = None
) -> list[dict]:
    """Per worker: tasks done and failed, average time (from rows) beside its live state (from Redis)."""
    now = now or timezone.now()
    rows = _grouped_window("worker_name", now - timedelta(hours=hours), now, "AND worker_name <> ''")
    by_name = {row[0]: {"name": row[0], "live": False, **_window_figures(row[1:], hours * 60)} for row in rows}
    try:
        live = live_workers(redis_connection or transport.get_connection(), now=now)
    except RedisError:
        live = []
    for worker in live:
        entry = by_name.setdefault(
            worker["name"], {"name": worker["name"], **_window_figures((0,) * 4 + (None,) * 5, 1)}
        )
        entry.update({"live": True, **{k: v for k, v in worker.items() if k != "name"}})
    return sorted(by_name.values(), key=lambda w: (not w["live"], w["name"]))


def _trend(current: float | None, previous: float | None) -> dict:
    if current is None or previous is None:
        change = None
    elif previous == 0:
        change = None if current == 0 else float("inf")
    else:
        change = round((current - previous) / previous * 100, 1)
    return {"current": current, "previous": previous, "change_percent": None if change == float("inf") else change}


def type_analysis(*, task_type: str, hours: int, now: datetime | None = None) -> dict:
    """One type over the last `hours`: figures, hourly buckets, and the change against the window before."""
    now = now or timezone.now()
    window = timedelta(hours=hours)
    extra, params = "AND task_type = %(task_type)s", {"task_type": task_type}
    current = _grouped_window("task_type", now - window, now, extra, params)
    previous = _grouped_window("task_type", now - 2 * window, now - window, extra, params)
    figures = _window_figures(current[0][1:] if current else _EMPTY, hours * 60)
    before = _window_figures(previous[0][1:] if previous else _EMPTY, hours * 60)
    buckets = [figure.as_dict() for figure in metrics.hourly_series(hours=hours, task_type=task_type, now=now)]
    trend = {
        key: _trend(figures[key], before[key])
        for key in (
            "finished",
            "completed",
            "failed",
            "failure_rate",
            "throughput_per_hour",
            "duration_avg",
            "duration_p95",
        )
    }
    return {
        "task_type": task_type,
        "hours": hours,
        "from": (now - window).isoformat(),
        "to": now.isoformat(),
        "figures": figures,
        "previous": before,
        "trend": trend,
        "buckets": buckets,
    }


def snapshot_history(*, hours: int, task_type: str | None = None, now: datetime | None = None) -> list[dict]:
    """Hourly figures for the last `hours` hours, oldest first (stored snapshots, then live rows)."""
    return [figure.as_dict() for figure in metrics.hourly_series(hours=hours, task_type=task_type, now=now)]


def known_task_types() -> list[str]:
    """Registered types plus any type seen in history (one may have been unregistered since)."""
    from queue_app import registry

    seen = set(
        MetricSnapshot.objects.exclude(task_type=MetricSnapshot.ALL_TYPES)
        .order_by()
        .values_list("task_type", flat=True)
        .distinct()
    )
    return sorted(set(registry.all_types()) | seen)


def task_type_known(name: str) -> bool:
    """Registered, or present in rows or history."""
    return name in known_task_types() or Task.objects.filter(task_type=name).exists()


# --- Schedules ------------------------------------------------------------------


def schedule_get(*, schedule_id: Any = None, name: str | None = None) -> ScheduledTask:
    """A schedule by name or id, with its last task; NotFound names the command that lists them."""
    try:
        if name is not None:
            return ScheduledTask.objects.select_related("last_task").get(name=name)
        return ScheduledTask.objects.select_related("last_task").get(pk=int(schedule_id))
    except (ValueError, TypeError, ScheduledTask.DoesNotExist):
        what = f"named '{name}'" if name is not None else f"with id '{schedule_id}'"
        raise NotFound(f"No schedule {what}. `manage.py queue scheduled list` shows them.") from None


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


__all__ = [
    "default_schedules",
    "finished_since",
    "finished_totals",
    "known_task_types",
    "live_workers",
    "overall_performance",
    "queue_stats",
    "redis_queue_depths",
    "schedule_get",
    "snapshot_history",
    "task_type_known",
    "type_analysis",
    "type_performance",
    "waiting_summary",
    "worker_performance",
]
