"""Prometheus text exposition of the queue: task counts, duration histograms, depth, health."""

from __future__ import annotations

from django.db import connection
from django.db.models import Count, Q, Sum

from queue_app import health, metrics, selectors
from queue_app.models import MetricSnapshot, Task

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_STORED_HISTOGRAM_SQL = f"""
    SELECT task_type, bucket.key, sum(bucket.value::bigint)
      FROM {MetricSnapshot._meta.db_table}, jsonb_each_text(duration_histogram) AS bucket
     WHERE task_type <> '' AND bucket_start < %(covered)s
     GROUP BY task_type, bucket.key
"""  # noqa: S608 (table name from model meta; every value is bound)


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{key}="{_escape(value)}"' for key, value in labels.items()) + "}"


def _number(value) -> str:
    if value is None:
        return "NaN"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def duration_histograms() -> dict[str, dict]:
    """Per type: cumulative bucket counts, sum and count of durations (stored hours + rows since)."""
    covered = metrics.covered_until()
    result: dict[str, dict] = {}

    def entry(name: str) -> dict:
        return result.setdefault(
            name, {"buckets": {str(bound): 0 for bound in metrics.DURATION_BUCKETS}, "sum": 0.0, "count": 0}
        )

    if covered:
        with connection.cursor() as cursor:
            cursor.execute(_STORED_HISTOGRAM_SQL, {"covered": covered})
            for name, bound, count in cursor.fetchall():
                buckets = entry(name)["buckets"]
                if bound in buckets:
                    buckets[bound] += int(count)
        stored = (
            MetricSnapshot.objects.exclude(task_type=MetricSnapshot.ALL_TYPES)
            .filter(bucket_start__lt=covered)
            .values("task_type")
            .annotate(duration_sum_total=Sum("duration_sum"), duration_count_total=Sum("duration_count"))
        )
        for row in stored:
            item = entry(row["task_type"])
            item["sum"] += row["duration_sum_total"] or 0.0
            item["count"] += row["duration_count_total"] or 0
    ran = Task.objects.filter(status__in=["completed", "failed"], duration__isnull=False)
    if covered:
        ran = ran.filter(finished_at__gte=covered)
    aggregates = {
        f"le_{i}": Count("id", filter=Q(duration__lte=bound)) for i, bound in enumerate(metrics.DURATION_BUCKETS)
    }
    for row in ran.values("task_type").annotate(total=Count("id"), seconds=Sum("duration"), **aggregates):
        item = entry(row["task_type"])
        item["sum"] += row["seconds"] or 0.0
        item["count"] += row["total"]
        for i, bound in enumerate(metrics.DURATION_BUCKETS):
            item["buckets"][str(bound)] += row[f"le_{i}"]
    return result


def render() -> str:
    """The whole exposition as text."""
    stats = selectors.queue_stats()
    report = health.queue_health()
    lines: list[str] = []

    def family(name: str, kind: str, help_text: str) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")

    family("queue_tasks", "gauge", "Unfinished task rows by status and task type.")
    for name, counts in stats["by_type"].items():
        for status in selectors.UNFINISHED_STATUSES:
            lines.append(f"queue_tasks{_labels(status=status, task_type=name)} {counts[str(status)]}")
    family(
        "queue_tasks_finished_total", "counter", "Finished tasks by final status and task type, since metrics began."
    )
    for name, counts in stats["by_type"].items():
        for status in selectors.FINISHED:
            lines.append(f"queue_tasks_finished_total{_labels(status=status, task_type=name)} {counts[str(status)]}")
    family("queue_task_retries_total", "counter", "Retry attempts of finished tasks by task type.")
    for name, counts in stats["by_type"].items():
        lines.append(f"queue_task_retries_total{_labels(task_type=name)} {counts['retries']}")

    family("queue_task_duration_seconds", "histogram", "Run time of completed and failed tasks.")
    for name, item in sorted(duration_histograms().items()):
        for bound, count in item["buckets"].items():
            lines.append(f"queue_task_duration_seconds_bucket{_labels(task_type=name, le=bound)} {count}")
        lines.append(f"queue_task_duration_seconds_bucket{_labels(task_type=name, le='+Inf')} {item['count']}")
        lines.append(f"queue_task_duration_seconds_sum{_labels(task_type=name)} {_number(float(item['sum']))}")
        lines.append(f"queue_task_duration_seconds_count{_labels(task_type=name)} {item['count']}")

    family("queue_depth", "gauge", "Jobs in each Redis queue, by place (queued, scheduled, started).")
    for priority, entry in stats["by_priority"].items():
        for queue, figures in ((entry["redis"] or {}).get("queues") or {}).items():
            for place, count in figures.items():
                lines.append(f"queue_depth{_labels(queue=queue, priority=priority, place=place)} {count}")
    family("queue_waiting_tasks", "gauge", "Task rows waiting to start, by priority queue.")
    for priority, entry in stats["by_priority"].items():
        lines.append(f"queue_waiting_tasks{_labels(queue=priority)} {entry['rows_waiting']}")
    family("queue_oldest_waiting_seconds", "gauge", "Age of the oldest task waiting to start (0 when none).")
    oldest = stats["oldest_waiting"]
    lines.append(f"queue_oldest_waiting_seconds {_number(float(oldest['age_seconds']) if oldest else 0.0)}")
    family("queue_workers", "gauge", "Live RQ workers registered in Redis.")
    lines.append(f"queue_workers {len(stats['workers'])}")

    family("queue_health_score", "gauge", "Health score 0-100.")
    lines.append(f"queue_health_score {report['score']}")
    family("queue_health_status", "gauge", "1 for the current health status.")
    for status in health.EXIT_CODES:
        lines.append(f"queue_health_status{_labels(status=status)} {int(report['status'] == status)}")
    family("queue_health_alert", "gauge", "1 for each alert currently raised.")
    for alert in report["alerts"]:
        lines.append(f"queue_health_alert{_labels(code=alert['code'], severity=alert['severity'])} 1")
    return "\n".join(lines) + "\n"
