"""calculate_metrics: hourly snapshots per type with known figures, stored idempotently."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from queue_app import metrics, registry, services
from queue_app.models import MetricSnapshot, Task
from tests.conftest import wait_for
from tests.queue_app.monitoring_factories import finished_task, waiting_task

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 30, 12, 20, tzinfo=UTC)  # the open hour is 12:00; 11:00 is the last closed one
H11 = datetime(2026, 11, 30, 11, 0, tzinfo=UTC)
H10 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def snapshot(hour: datetime, task_type: str = "") -> MetricSnapshot:
    return MetricSnapshot.objects.get(bucket_start=hour, task_type=task_type)


def test_a_closed_hour_gets_counts_durations_percentiles_retries_and_histogram():
    for minute, seconds in zip((5, 10, 15, 20), (1.0, 2.0, 3.0, 10.0), strict=True):
        finished_task(task_type="alpha", finished_at=H11 + timedelta(minutes=minute), duration=seconds)
    finished_task(task_type="alpha", status="failed", finished_at=H11 + timedelta(minutes=30), duration=4, attempts=4)
    finished_task(task_type="alpha", status="cancelled", finished_at=H11 + timedelta(minutes=40), duration=None)
    finished_task(task_type="beta", finished_at=H11 + timedelta(minutes=50), duration=0.05)
    finished_task(task_type="alpha", finished_at=NOW - timedelta(minutes=1))  # open hour: not stored

    metrics.metric_snapshots_calculate(now=NOW)

    alpha = snapshot(H11, "alpha")
    assert (alpha.completed, alpha.failed, alpha.cancelled, alpha.retries) == (4, 1, 1, 3)
    assert alpha.duration_count == 5
    assert alpha.duration_sum == pytest.approx(20.0)
    assert alpha.duration_avg == pytest.approx(4.0)
    assert alpha.duration_p50 == pytest.approx(3.0)
    assert alpha.duration_p95 == pytest.approx(8.8)  # percentile_cont over 1 2 3 4 10
    assert alpha.duration_max == 10.0
    assert alpha.duration_histogram["1.0"] == 1
    assert alpha.duration_histogram["5.0"] == 4
    assert alpha.duration_histogram["10.0"] == 5
    total = snapshot(H11)
    assert (total.completed, total.failed, total.cancelled) == (5, 1, 1)
    assert total.duration_histogram["0.1"] == 1
    assert not MetricSnapshot.objects.filter(bucket_start__gte=NOW.replace(minute=0)).exists()


def test_the_first_run_starts_at_the_oldest_finished_task():
    finished_task(finished_at=NOW - timedelta(hours=3, minutes=30))

    result = metrics.metric_snapshots_calculate(now=NOW)

    assert result["from"] == "2026-11-30T08:00:00+00:00"
    assert result["hours"] == 4


def test_every_hour_of_the_backfill_gets_an_all_types_row(settings):
    settings.METRICS_BACKFILL_HOURS = 6
    finished_task(finished_at=NOW - timedelta(days=3))  # older than the backfill limit

    result = metrics.metric_snapshots_calculate(now=NOW)

    assert result["hours"] == 6
    hours = list(
        MetricSnapshot.objects.filter(task_type="").order_by("bucket_start").values_list("bucket_start", flat=True)
    )
    assert hours == [NOW.replace(minute=0) - timedelta(hours=n) for n in range(6, 0, -1)]
    assert metrics.covered_until() == NOW.replace(minute=0)


def test_queue_depth_is_the_count_waiting_at_the_end_of_each_hour():
    # Waiting through the ends of the 10:00 and 11:00 hours, started at 12:05.
    waited = finished_task(finished_at=H11 + timedelta(minutes=65), duration=0)
    Task.objects.filter(id=waited.id).update(enqueued_at=H10 + timedelta(minutes=30), created_at=H10)
    # Enqueued at 10:10, started at 10:20: gone by the end of 10:00.
    quick = finished_task(finished_at=H10 + timedelta(minutes=21), duration=60)
    Task.objects.filter(id=quick.id).update(enqueued_at=H10 + timedelta(minutes=10))
    # Still queued since 11:30.
    waiting_task(task_type="beta", since=H11 + timedelta(minutes=30))

    metrics.metric_snapshots_calculate(now=NOW, hours=3)

    assert snapshot(H10).queue_depth == 1
    assert snapshot(H11).queue_depth == 2
    assert snapshot(H11, "beta").queue_depth == 1
    assert snapshot(H11 - timedelta(hours=2)).queue_depth == 0


def test_recalculating_is_idempotent_and_drops_types_that_left_an_hour():
    task = finished_task(task_type="alpha", status="failed", finished_at=H11 + timedelta(minutes=5))
    Task.objects.filter(id=task.id).update(created_at=H10 - timedelta(hours=1))  # created before the recompute
    finished_task(task_type="beta", finished_at=H11 + timedelta(minutes=6))
    metrics.metric_snapshots_calculate(now=NOW, hours=3)
    first = list(
        MetricSnapshot.objects.order_by("bucket_start", "task_type").values_list(
            "bucket_start", "task_type", "failed", "completed"
        )
    )

    metrics.metric_snapshots_calculate(now=NOW, hours=3)
    assert (
        list(
            MetricSnapshot.objects.order_by("bucket_start", "task_type").values_list(
                "bucket_start", "task_type", "failed", "completed"
            )
        )
        == first
    )

    # Retried: the row leaves the 11:00 hour; the next run recomputes it.
    Task.objects.filter(id=task.id).update(status="queued", finished_at=None)
    metrics.metric_snapshots_calculate(now=NOW + timedelta(minutes=5))

    assert not MetricSnapshot.objects.filter(bucket_start=H11, task_type="alpha").exists()
    assert snapshot(H11).failed == 0
    assert snapshot(H11).completed == 1


def test_calculate_metrics_is_a_registered_task_type():
    task_type = registry.get("calculate_metrics")

    assert task_type.priority == "low"
    assert task_type.validate_payload({"hours": 48}) == {"hours": 48}
    with pytest.raises(Exception, match="Invalid payload"):
        task_type.validate_payload({"hours": 0})


@pytest.mark.django_db(transaction=True)
def test_calculate_metrics_runs_on_a_real_worker(processes):
    finished_task(task_type="alpha", finished_at=datetime.now(UTC) - timedelta(hours=2))
    task = services.task_enqueue(task_type="calculate_metrics", payload={"hours": 4})
    processes.worker()

    wait_for(lambda: Task.objects.get(id=task.id).status == "completed", timeout=30, message="calculate_metrics done")

    assert Task.objects.get(id=task.id).result["hours"] >= 4
    assert MetricSnapshot.objects.filter(task_type="alpha", completed=1).exists()
