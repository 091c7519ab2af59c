"""Hourly metric snapshots: computed from task rows in SQL, stored by calculate_metrics, read as history."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Min
from django.utils import timezone
from rest_framework import serializers

from queue_app.models import MetricSnapshot, Task
from queue_app.registry import TaskContext

logger = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
# Upper bounds (seconds) of the duration histogram, as in Prometheus' `le` label.
DURATION_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
# Closed hours recomputed on every run: a retried task leaves the hour it had failed in.
RECOMPUTE_HOURS = 2

TASK_TABLE = Task._meta.db_table
UNFINISHED = ("pending", "scheduled", "queued", "retrying", "processing")
_UNFINISHED_SQL = ", ".join(f"'{status}'" for status in UNFINISHED)
_RAN = "status IN ('completed', 'failed')"
_HISTOGRAM_SQL = ", ".join(f"count(*) FILTER (WHERE {_RAN} AND duration <= {bound})" for bound in DURATION_BUCKETS)

# Finished tasks per hour and type, plus the hour's total over all types (task_type NULL).
_FINISHED_SQL = f"""
    SELECT date_trunc('hour', finished_at, 'UTC') AS bucket, task_type,
           count(*) FILTER (WHERE status = 'completed'),
           count(*) FILTER (WHERE status = 'failed'),
           count(*) FILTER (WHERE status = 'cancelled'),
           coalesce(sum(greatest(attempts - 1, 0)), 0),
           count(duration) FILTER (WHERE {_RAN}),
           coalesce(sum(duration) FILTER (WHERE {_RAN}), 0),
           avg(duration) FILTER (WHERE {_RAN}),
           percentile_cont(0.5) WITHIN GROUP (ORDER BY duration) FILTER (WHERE {_RAN}),
           percentile_cont(0.95) WITHIN GROUP (ORDER BY duration) FILTER (WHERE {_RAN}),
           max(duration) FILTER (WHERE {_RAN}),
           {_HISTOGRAM_SQL}
      FROM {TASK_TABLE}
     WHERE finished_at >= %(start)s AND finished_at < %(end)s
       AND status IN ('completed', 'failed', 'cancelled') {{type_filter}}
     GROUP BY GROUPING SETS ((bucket, task_type), (bucket))
"""  # noqa: S608 (table name from model meta; every value is bound)
_CREATED_SQL = f"""
    SELECT date_trunc('hour', created_at, 'UTC') AS bucket, task_type, count(*)
      FROM {TASK_TABLE}
     WHERE created_at >= %(start)s AND created_at < %(end)s {{type_filter}}
     GROUP BY GROUPING SETS ((bucket, task_type), (bucket))
"""  # noqa: S608 (table name from model meta; every value is bound)
# Tasks waiting to start at the end of each hour (or now, for the open hour). A task waits from
# when it became ready (enqueued, else its run_at, else created) until it started or, never
# started, was cancelled: +1 at ready, -1 at leaving; the depth at an hour's end is the running
# sum of those steps up to it. Only unfinished rows and rows finished since the window's start
# can have waited in it (steps before the start fold into the first hour), so the partial index
# on unfinished statuses and the finished_at index bound the scan: one pass, however many hours.
_DEPTH_SQL = f"""
    WITH candidates AS (
        SELECT task_type, coalesce(enqueued_at, run_at, created_at) AS ready_at,
               CASE WHEN coalesce(started_at, finished_at) IS NOT NULL  -- greatest() would skip a NULL
                    THEN greatest(coalesce(started_at, finished_at), coalesce(enqueued_at, run_at, created_at))
               END AS left_at
          FROM {TASK_TABLE}
         WHERE (status IN ({_UNFINISHED_SQL}) OR finished_at >= %(start)s) {{type_filter}}
    ), steps AS (
        SELECT task_type, greatest(date_trunc('hour', ready_at, 'UTC'), %(start)s) AS bucket, 1 AS step
          FROM candidates WHERE ready_at < %(limit)s
        UNION ALL
        SELECT task_type, greatest(date_trunc('hour', left_at, 'UTC'), %(start)s), -1
          FROM candidates WHERE left_at < %(limit)s
    ), per_hour AS (
        SELECT bucket, task_type, sum(step) AS step FROM steps GROUP BY bucket, task_type
    ), grid AS (
        SELECT hour AS bucket, task_type
          FROM generate_series(%(start)s::timestamptz, %(last)s::timestamptz, interval '1 hour') AS hour
         CROSS JOIN (SELECT DISTINCT task_type FROM per_hour) AS types
    )
    SELECT grid.bucket, grid.task_type,
           sum(coalesce(per_hour.step, 0)) OVER (PARTITION BY grid.task_type ORDER BY grid.bucket)
      FROM grid LEFT JOIN per_hour USING (bucket, task_type)
"""  # noqa: S608 (table name from model meta; every value is bound)


@dataclass
class BucketFigures:
    """One hour of one task type ("" for all types); the unsaved form of a MetricSnapshot."""

    bucket_start: datetime
    task_type: str
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    retries: int = 0
    created: int = 0
    duration_count: int = 0
    duration_sum: float = 0.0
    duration_avg: float | None = None
    duration_p50: float | None = None
    duration_p95: float | None = None
    duration_max: float | None = None
    duration_histogram: dict = field(default_factory=dict)
    queue_depth: int = 0

    @property
    def finished(self) -> int:
        return self.completed + self.failed + self.cancelled

    def as_dict(self) -> dict:
        return {
            "bucket_start": self.bucket_start.isoformat(),
            "task_type": self.task_type,
            "completed": self.completed,
            "failed": self.failed,
            "cancelled": self.cancelled,
            "retries": self.retries,
            "created": self.created,
            "duration_avg": self.duration_avg,
            "duration_p50": self.duration_p50,
            "duration_p95": self.duration_p95,
            "duration_max": self.duration_max,
            "queue_depth": self.queue_depth,
        }

    @classmethod
    def from_snapshot(cls, snapshot: MetricSnapshot) -> BucketFigures:
        return cls(**{name: getattr(snapshot, name) for name in cls.__dataclass_fields__})


def floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def compute_buckets(
    *, start: datetime, end: datetime, task_type: str | None = None, now: datetime | None = None
) -> dict[tuple[datetime, str], BucketFigures]:
    """Figures of the hours in [start, end) from the task rows, keyed by (hour, task type).

    Every hour gets an all-types entry, even an empty one. `task_type` limits the rows to one
    type (its all-types entries then equal the type's). The open hour is computed up to now.
    """
    now = now or timezone.now()
    start, end = floor_hour(start), floor_hour(end)
    figures: dict[tuple[datetime, str], BucketFigures] = {}
    hour = start
    while hour < end:
        figures[(hour, MetricSnapshot.ALL_TYPES)] = BucketFigures(bucket_start=hour, task_type=MetricSnapshot.ALL_TYPES)
        hour += HOUR
    if start >= end:
        return figures

    def entry(bucket, name) -> BucketFigures:
        key = (bucket.astimezone(UTC), name or MetricSnapshot.ALL_TYPES)
        if key not in figures:
            figures[key] = BucketFigures(bucket_start=key[0], task_type=key[1])
        return figures[key]

    type_filter = "AND task_type = %(task_type)s" if task_type else ""
    params = {"start": start, "end": end, "last": end - HOUR, "limit": min(end, now), "task_type": task_type}
    with connection.cursor() as cursor:
        cursor.execute(_FINISHED_SQL.format(type_filter=type_filter), params)
        for bucket, name, *values in cursor.fetchall():
            figure = entry(bucket, name)
            (
                figure.completed,
                figure.failed,
                figure.cancelled,
                figure.retries,
                figure.duration_count,
                figure.duration_sum,
                figure.duration_avg,
                figure.duration_p50,
                figure.duration_p95,
                figure.duration_max,
            ) = values[:10]
            figure.retries = int(figure.retries)
            figure.duration_sum = float(figure.duration_sum)
            figure.duration_histogram = {
                str(bound): count for bound, count in zip(DURATION_BUCKETS, values[10:], strict=True)
            }
        cursor.execute(_CREATED_SQL.format(type_filter=type_filter), params)
        for bucket, name, count in cursor.fetchall():
            entry(bucket, name).created = count
        cursor.execute(_DEPTH_SQL.format(type_filter=type_filter), params)
        for bucket, name, depth in cursor.fetchall():
            if depth:
                entry(bucket, name).queue_depth = int(depth)
                entry(bucket, None).queue_depth += int(depth)
    return figures


def covered_until() -> datetime | None:
    """End of the last hour calculate_metrics stored, or None before its first run."""
    last = MetricSnapshot.objects.filter(task_type=MetricSnapshot.ALL_TYPES).aggregate(last=Max("bucket_start"))
    return last["last"] + HOUR if last["last"] else None


_SNAPSHOT_FIELDS = [name for name in BucketFigures.__dataclass_fields__ if name not in ("bucket_start", "task_type")]


def metric_snapshots_calculate(*, hours: int | None = None, now: datetime | None = None) -> dict:
    """Store the figures of the closed hours not stored yet (plus the last RECOMPUTE_HOURS again).

    The first run starts at the oldest finished row, at most METRICS_BACKFILL_HOURS back (lifetime
    totals count from there); `hours` recomputes at least that many hours.
    Idempotent: an upsert per (hour, type), and per-type rows of those hours that no longer
    have tasks are removed, in one transaction.
    """
    now = now or timezone.now()
    end = floor_hour(now)
    covered = covered_until()
    if covered is None:
        # First run: from the oldest finished row (an index lookup), at most METRICS_BACKFILL_HOURS back.
        oldest = Task.objects.filter(finished_at__isnull=False).aggregate(oldest=Min("finished_at"))["oldest"]
        start = end - timedelta(hours=settings.METRICS_BACKFILL_HOURS)
        start = max(start, floor_hour(oldest)) if oldest else end - HOUR
    else:
        start = min(covered, end) - timedelta(hours=RECOMPUTE_HOURS)
    if hours is not None:
        start = min(start, end - timedelta(hours=hours))
    figures = compute_buckets(start=start, end=end, now=now)
    snapshots = [
        MetricSnapshot(
            bucket_start=figure.bucket_start,
            task_type=figure.task_type,
            computed_at=now,
            **{name: getattr(figure, name) for name in _SNAPSHOT_FIELDS},
        )
        for figure in figures.values()
    ]
    with transaction.atomic():
        _delete_stale(start, end, figures)
        MetricSnapshot.objects.bulk_create(
            snapshots,
            batch_size=1000,
            update_conflicts=True,
            unique_fields=["bucket_start", "task_type"],
            update_fields=[*_SNAPSHOT_FIELDS, "computed_at"],
        )
    logger.info("Metric snapshots stored for %s to %s: %d rows", start, end, len(snapshots))
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "hours": int((end - start) / HOUR),
        "rows": len(snapshots),
    }


def _delete_stale(start: datetime, end: datetime, figures: dict) -> None:
    """Remove per-type rows of recomputed hours that no longer have tasks of that type."""
    keep = set(figures)
    ids = [
        pk
        for pk, bucket, name in MetricSnapshot.objects.filter(bucket_start__gte=start, bucket_start__lt=end)
        .exclude(task_type=MetricSnapshot.ALL_TYPES)
        .values_list("id", "bucket_start", "task_type")
        if (bucket, name) not in keep
    ]
    if ids:
        MetricSnapshot.objects.filter(id__in=ids).delete()


def hourly_series(*, hours: int, task_type: str | None = None, now: datetime | None = None) -> list[BucketFigures]:
    """The last `hours` hours (the open one included), oldest first, for one type or all types.

    Stored snapshots serve the hours they cover; later hours are computed from the rows.
    """
    now = now or timezone.now()
    open_hour = floor_hour(now)
    start = open_hour - timedelta(hours=hours - 1)
    name = task_type or MetricSnapshot.ALL_TYPES
    stored = {
        snapshot.bucket_start: BucketFigures.from_snapshot(snapshot)
        for snapshot in MetricSnapshot.objects.filter(
            task_type=name, bucket_start__gte=start, bucket_start__lt=open_hour
        )
    }
    covered = covered_until()
    live_from = max(covered, start) if covered else start
    live = compute_buckets(start=live_from, end=open_hour + HOUR, task_type=task_type, now=now)
    series = []
    hour = start
    while hour <= open_hour:
        if covered and hour < covered:
            # A covered hour without a row for this type had no tasks of it.
            series.append(stored.get(hour) or BucketFigures(bucket_start=hour, task_type=name))
        else:
            figure = live.get((hour, MetricSnapshot.ALL_TYPES)) or BucketFigures(bucket_start=hour, task_type=name)
            figure.task_type = name
            series.append(figure)
        hour += HOUR
    return series


class CalculateMetricsPayload(serializers.Serializer):
    hours = serializers.IntegerField(
        required=False, min_value=1, max_value=24 * 366, help_text="Recompute at least this many closed hours."
    )


def calculate_metrics(payload: dict, context: TaskContext) -> dict:
    """Task handler: store the snapshots of the closed hours since the last run."""
    return metric_snapshots_calculate(hours=payload.get("hours"))
