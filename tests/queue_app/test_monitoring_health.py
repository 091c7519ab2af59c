"""Health score: each alert fires just above its threshold and not at it; status and score follow."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from redis import Redis

from queue_app import health
from tests.conftest import wait_for
from tests.queue_app.monitoring_factories import (
    finished_task,
    healthy_services,
    register_worker,
    scheduler_beat,
    waiting_task,
)

pytestmark = pytest.mark.django_db


def codes(report: dict) -> set[str]:
    return {alert["code"] for alert in report["alerts"]}


def finished(count: int, *, failed: int = 0, duration: float = 1.0) -> None:
    now = timezone.now()
    for index in range(count):
        finished_task(
            status="failed" if index < failed else "completed",
            finished_at=now - timedelta(minutes=1 + index % 50),
            duration=duration,
        )


def test_healthy_with_a_live_worker_a_running_scheduler_and_good_figures(redis_conn):
    healthy_services(redis_conn)
    finished(20, failed=1)

    report = health.queue_health()

    assert report["status"] == "healthy"
    assert report["score"] == 100
    assert report["alerts"] == []
    assert report["checks"]["database"]["reachable"] is True
    assert report["checks"]["redis"]["reachable"] is True
    assert report["checks"]["scheduler"]["running"] is True


def test_failure_rate_above_ten_percent_alerts_and_exactly_ten_does_not(redis_conn):
    healthy_services(redis_conn)
    finished(10, failed=1)  # 10 %
    assert "high_failure_rate" not in codes(health.queue_health())

    finished(1, failed=1)  # 2 of 11: 18 %
    report = health.queue_health()

    alert = next(alert for alert in report["alerts"] if alert["code"] == "high_failure_rate")
    assert alert["value"] == pytest.approx(2 / 11, abs=1e-4)
    assert alert["threshold"] == 0.10
    assert report["status"] == "degraded"
    assert report["score"] == 100 - health.PENALTIES["high_failure_rate"]


def test_failure_rate_needs_a_minimum_sample(redis_conn):
    healthy_services(redis_conn)
    finished(4, failed=2)  # 50 % but only 4 tasks (HEALTH_MIN_SAMPLE is 5)

    assert "high_failure_rate" not in codes(health.queue_health())


def test_failures_below_the_minimum_sample_still_warn_instead_of_scoring_100(redis_conn, settings):
    """3 of 3 tasks failed with a minimum sample of 20: not HEALTHY 100/100 (issue 18)."""
    settings.HEALTH_MIN_SAMPLE = 20
    healthy_services(redis_conn)
    finished(3, failed=3)

    report = health.queue_health()

    alert = next(alert for alert in report["alerts"] if alert["code"] == "failures_in_small_sample")
    assert alert["severity"] == "warning"
    assert alert["message"].startswith("3 of 3 tasks failed")
    assert report["status"] == "degraded"
    assert report["score"] == 100 - health.PENALTIES["failures_in_small_sample"] < 100


def test_a_small_sample_within_the_threshold_stays_healthy(redis_conn, settings):
    settings.HEALTH_MIN_SAMPLE = 20
    healthy_services(redis_conn)
    finished(12, failed=1)  # 8 %

    report = health.queue_health()

    assert report["status"] == "healthy" and report["score"] == 100


def test_failure_rate_threshold_is_a_setting(redis_conn, settings):
    healthy_services(redis_conn)
    finished(10, failed=3)
    settings.HEALTH_FAILURE_RATE_MAX = 0.5

    assert "high_failure_rate" not in codes(health.queue_health())


def test_average_processing_time_over_five_minutes_alerts(redis_conn):
    healthy_services(redis_conn)
    finished(5, duration=300.0)
    assert "slow_processing" not in codes(health.queue_health())

    finished(1, duration=307.0)  # average 301 s
    alert = next(a for a in health.queue_health()["alerts"] if a["code"] == "slow_processing")

    assert alert["value"] == pytest.approx(301.1667, abs=1e-3)
    assert alert["threshold"] == 300.0


def test_more_than_one_hundred_pending_tasks_alerts(redis_conn):
    healthy_services(redis_conn)
    since = timezone.now() - timedelta(minutes=1)
    for _ in range(100):
        waiting_task(since=since)
    waiting_task(since=since, status="scheduled", run_at=timezone.now() + timedelta(hours=1))  # not due
    assert "queue_backlog" not in codes(health.queue_health())

    waiting_task(since=since, status="pending")
    alert = next(a for a in health.queue_health()["alerts"] if a["code"] == "queue_backlog")

    assert (alert["value"], alert["threshold"]) == (101, 100)


def test_no_live_worker_is_critical(redis_conn):
    scheduler_beat(redis_conn)

    report = health.queue_health()

    assert codes(report) == {"no_workers"}
    assert report["status"] == "critical"
    assert report["score"] == 100 - health.PENALTIES["no_workers"]


def test_stale_worker_heartbeat_alerts(redis_conn):
    scheduler_beat(redis_conn)
    register_worker(redis_conn, "fresh", heartbeat_age=440)
    assert codes(health.queue_health()) == set()

    register_worker(redis_conn, "stuck", heartbeat_age=460)  # HEALTH_HEARTBEAT_MAX_AGE is 450 s
    report = health.queue_health()

    alert = next(a for a in report["alerts"] if a["code"] == "stale_worker_heartbeat")
    assert "stuck" in alert["message"]
    assert "fresh" not in alert["message"]
    assert alert["value"] == pytest.approx(460, abs=3)
    assert report["status"] == "degraded"


def test_scheduler_not_running_alerts_only_when_the_scheduler_is_enabled(redis_conn, settings):
    register_worker(redis_conn, "worker-ok")
    assert codes(health.queue_health()) == {"scheduler_not_running"}

    settings.SCHEDULER_ENABLED = False
    assert codes(health.queue_health()) == set()


def test_redis_unreachable_is_critical():
    report = health.queue_health(redis_connection=Redis(port=1, socket_connect_timeout=0.5))

    assert codes(report) == {"redis_unreachable"}
    assert report["status"] == "critical"
    assert report["checks"]["redis"]["reachable"] is False


def test_alerts_add_up_and_the_score_stays_at_or_above_zero(redis_conn):
    since = timezone.now() - timedelta(minutes=1)
    for _ in range(101):
        waiting_task(since=since)
    finished(10, failed=10, duration=400)

    report = health.queue_health()

    assert codes(report) == {
        "no_workers",
        "scheduler_not_running",
        "queue_backlog",
        "high_failure_rate",
        "slow_processing",
    }
    assert report["score"] == 0
    assert report["status"] == "critical"


@pytest.mark.django_db(transaction=True)
def test_real_worker_and_scheduler_processes_make_the_queue_healthy(processes):
    """The heartbeats the health check reads are the ones the real processes write."""
    assert health.queue_health()["status"] == "critical"  # nothing running yet
    processes.worker()
    processes.start("rqscheduler", "--queue", "normal", "--interval", "1", name="scheduler")

    report = wait_for(
        lambda: (report := health.queue_health())["status"] == "healthy" and report,
        timeout=30,
        message="health turns healthy",
    )

    assert report["score"] == 100
    assert report["checks"]["scheduler"]["running"] is True
    assert len(report["checks"]["workers"]) == 1
