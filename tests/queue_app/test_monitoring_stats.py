"""Queue stats and performance figures computed from known task rows and real Redis state."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from queue_app import metrics, selectors, services
from queue_app.models import MetricSnapshot
from tests.conftest import wait_for
from tests.queue_app.monitoring_factories import finished_task, register_worker, waiting_task

pytestmark = pytest.mark.django_db


def test_counts_by_status_queue_and_type_from_rows():
    now = timezone.now()
    for minutes in (5, 10, 15):
        finished_task(task_type="alpha", finished_at=now - timedelta(minutes=minutes))
    finished_task(task_type="alpha", status="failed", finished_at=now - timedelta(minutes=20), attempts=3)
    finished_task(task_type="beta", status="cancelled", finished_at=now - timedelta(hours=5), duration=None)
    waiting_task(task_type="alpha", status="queued", since=now - timedelta(minutes=3), priority="high")
    waiting_task(task_type="beta", status="pending", since=now - timedelta(minutes=1), priority="low")
    waiting_task(task_type="beta", status="processing", since=now - timedelta(minutes=2))

    stats = selectors.queue_stats(now=now)

    assert stats["by_status"] == {
        "pending": 1,
        "scheduled": 0,
        "queued": 1,
        "processing": 1,
        "retrying": 0,
        "completed": 3,
        "failed": 1,
        "cancelled": 1,
    }
    assert stats["by_type"]["alpha"]["completed"] == 3
    assert stats["by_type"]["alpha"]["failed"] == 1
    assert stats["by_type"]["alpha"]["retries"] == 2
    assert stats["by_type"]["alpha"]["queued"] == 1
    assert stats["by_type"]["beta"]["cancelled"] == 1
    assert stats["by_type"]["beta"]["pending"] == 1
    assert stats["by_priority"]["high"]["rows"] == {"queued": 1}
    assert stats["by_priority"]["high"]["rows_waiting"] == 1
    assert stats["by_priority"]["normal"]["rows_waiting"] == 0  # processing is not waiting
    assert stats["by_priority"]["low"]["rows_waiting"] == 1
    assert stats["last_hour"] == {"completed": 3, "failed": 1, "cancelled": 0}
    assert stats["last_day"] == {"completed": 3, "failed": 1, "cancelled": 1}
    assert stats["waiting"] == 2


def test_finished_counts_are_snapshot_totals_plus_rows_since_the_last_stored_hour():
    now = timezone.now()
    old = finished_task(task_type="alpha", finished_at=now - timedelta(hours=3))
    finished_task(task_type="alpha", finished_at=now - timedelta(hours=3, minutes=5))
    metrics.metric_snapshots_calculate(now=now)
    # Cleanup deletes the old rows; the lifetime totals keep them through the snapshots.
    old.delete()
    finished_task(task_type="alpha", finished_at=now)

    totals = selectors.finished_totals()

    assert totals["alpha"]["completed"] == 3
    assert selectors.queue_stats(now=now)["by_status"]["completed"] == 3


def test_last_day_counts_combine_stored_hours_with_recent_rows():
    now = timezone.now()
    finished_task(finished_at=now - timedelta(hours=23, minutes=30))
    finished_task(finished_at=now - timedelta(hours=5), status="failed")
    finished_task(finished_at=now - timedelta(hours=25))  # outside the day
    metrics.metric_snapshots_calculate(now=now)
    MetricSnapshot.objects.filter(task_type="", failed=1).update(failed=7)  # proves the stored hour is read
    finished_task(finished_at=now, status="cancelled")  # after the last stored hour, even just past :00

    assert selectors.finished_since(now - timedelta(days=1)) == {"completed": 1, "failed": 7, "cancelled": 1}


def test_oldest_waiting_task_ignores_tasks_scheduled_for_later():
    now = timezone.now()
    waiting_task(since=now - timedelta(minutes=30), status="scheduled", run_at=now + timedelta(hours=1))
    oldest = waiting_task(since=now - timedelta(minutes=12), status="queued", task_type="alpha")
    waiting_task(since=now - timedelta(minutes=2), status="pending")

    summary = selectors.waiting_summary(now=now)

    assert summary["count"] == 2
    assert summary["oldest"]["task_id"] == str(oldest.id)
    assert summary["oldest"]["age_seconds"] == pytest.approx(720, abs=1)


def test_redis_queue_depth_per_priority_beside_the_rows(redis_conn, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(3):
            services.task_enqueue(task_type="noop", priority="high")
        services.task_enqueue(task_type="noop", priority="low", delay=600)

    stats = selectors.queue_stats()

    high = stats["by_priority"]["high"]["redis"]
    assert (high["queued"], high["scheduled"], high["started"]) == (3, 0, 0)
    assert high["queues"]["system.high"] == {"queued": 3, "scheduled": 0, "started": 0}  # noop's family queue
    assert stats["by_priority"]["low"]["redis"]["scheduled"] == 1
    assert stats["by_priority"]["high"]["rows_waiting"] == 3


def test_type_performance_over_a_window():
    now = timezone.now()
    for index, seconds in enumerate([1, 2, 3, 4, 10]):
        finished_task(task_type="alpha", finished_at=now - timedelta(minutes=10 + index), duration=seconds)
    finished_task(task_type="alpha", status="failed", finished_at=now - timedelta(minutes=30), duration=20, attempts=4)
    finished_task(task_type="alpha", finished_at=now - timedelta(hours=3))  # outside the 2 h window

    figures = selectors.type_performance(hours=2, now=now)["alpha"]

    assert figures["completed"] == 5
    assert figures["failed"] == 1
    assert figures["failure_rate"] == pytest.approx(1 / 6, abs=1e-4)
    assert figures["retries"] == 3
    assert figures["throughput_per_hour"] == 3.0
    assert figures["throughput_per_minute"] == pytest.approx(0.05)
    assert figures["duration_avg"] == pytest.approx(40 / 6, abs=1e-3)
    assert figures["duration_p50"] == pytest.approx(3.5)  # percentile_cont over 1 2 3 4 10 20
    assert figures["duration_p95"] == pytest.approx(17.5)
    assert figures["duration_max"] == 20


def test_worker_performance_joins_rows_with_live_workers(redis_conn):
    now = timezone.now()
    finished_task(finished_at=now - timedelta(minutes=5), duration=2, worker_name="w-live")
    finished_task(finished_at=now - timedelta(minutes=6), duration=4, worker_name="w-live", status="failed")
    finished_task(finished_at=now - timedelta(minutes=7), duration=1, worker_name="w-gone")
    register_worker(redis_conn, "w-live", heartbeat_age=12)

    workers = {worker["name"]: worker for worker in selectors.worker_performance(hours=1, now=now)}

    assert workers["w-live"]["live"] is True
    assert workers["w-live"]["completed"] == 1
    assert workers["w-live"]["failed"] == 1
    assert workers["w-live"]["duration_avg"] == 3.0
    assert workers["w-live"]["heartbeat_age_seconds"] == pytest.approx(12, abs=2)
    assert workers["w-gone"]["live"] is False
    assert workers["w-gone"]["completed"] == 1


@pytest.mark.django_db(transaction=True)
def test_live_worker_shows_its_current_task(processes):
    task = services.task_enqueue(task_type="noop", payload={"sleep_ms": 4000})
    processes.worker()

    def running():
        workers = selectors.queue_stats()["workers"]
        return workers and workers[0]["current_task_id"] == str(task.id) and workers[0]

    worker = wait_for(running, timeout=20, message="worker running the task")
    assert worker["current_task_type"] == "noop"
    assert worker["heartbeat_age_seconds"] < 30


def test_stats_still_answer_when_redis_is_unreachable():
    from redis import Redis

    stats = selectors.queue_stats(redis_connection=Redis(port=1, socket_connect_timeout=0.5))

    assert stats["redis_error"]
    assert stats["workers"] == []
    assert stats["by_priority"]["normal"]["redis"] is None


def test_type_analysis_compares_with_the_previous_window():
    now = timezone.now()
    for minutes in (10, 20, 30, 40):
        finished_task(task_type="alpha", finished_at=now - timedelta(minutes=minutes), duration=2)
    for minutes in (70, 80):
        finished_task(task_type="alpha", finished_at=now - timedelta(minutes=minutes), duration=4)
    finished_task(task_type="alpha", status="failed", finished_at=now - timedelta(minutes=90), duration=4)

    analysis = selectors.type_analysis(task_type="alpha", hours=1, now=now)

    assert analysis["figures"]["completed"] == 4
    assert analysis["previous"]["completed"] == 2
    assert analysis["trend"]["completed"] == {"current": 4, "previous": 2, "change_percent": 100.0}
    assert analysis["trend"]["duration_avg"]["change_percent"] == -50.0
    assert analysis["trend"]["failure_rate"] == {
        "current": 0.0,
        "previous": pytest.approx(1 / 3, abs=1e-4),
        "change_percent": -100.0,
    }
    assert len(analysis["buckets"]) == 1
    assert sum(bucket["completed"] for bucket in analysis["buckets"]) <= 4


def test_history_reads_snapshots_for_stored_hours_and_rows_after():
    now = timezone.now()
    finished_task(task_type="alpha", finished_at=now - timedelta(hours=2))
    metrics.metric_snapshots_calculate(now=now)
    MetricSnapshot.objects.filter(task_type="alpha").update(completed=42)  # proves the stored row is read
    finished_task(task_type="alpha", finished_at=now)

    history = selectors.snapshot_history(hours=3, task_type="alpha", now=now)

    assert [bucket["completed"] for bucket in history] == [42, 0, 1]
