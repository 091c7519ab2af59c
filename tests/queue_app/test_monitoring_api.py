"""Monitoring API: shapes at the product's paths, authentication everywhere, Prometheus text and token."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from queue_app import metrics
from tests.queue_app.monitoring_factories import finished_task, healthy_services, waiting_task

pytestmark = pytest.mark.django_db

ENDPOINTS = [
    "/api/queue/stats",
    "/api/queue/metrics/health",
    "/api/queue/metrics/types/",
    "/api/queue/metrics/types/noop/",
    "/api/queue/metrics/history/",
    "/api/queue/metrics/workers/",
    "/api/queue/metrics/prometheus",
]


@pytest.mark.parametrize("url", ENDPOINTS)
def test_every_monitoring_endpoint_requires_authentication(url):
    response = APIClient().get(url)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_stats_shape(api_client):
    finished_task(task_type="alpha", finished_at=timezone.now() - timedelta(minutes=3))
    waiting_task(task_type="alpha", since=timezone.now() - timedelta(minutes=1))

    data = api_client.get("/api/queue/stats").json()

    assert data["by_status"]["completed"] == 1
    assert data["by_status"]["queued"] == 1
    assert set(data["by_priority"]) == {"critical", "high", "normal", "low"}
    assert set(data["by_priority"]["normal"]) == {"rows", "redis", "rows_waiting"}
    assert set(data["by_priority"]["normal"]["redis"]) == {"queued", "scheduled", "started", "queues"}
    assert data["by_type"]["alpha"]["completed"] == 1
    assert data["oldest_waiting"]["task_type"] == "alpha"
    assert data["last_hour"] == {"completed": 1, "failed": 0, "cancelled": 0}
    assert data["workers"] == []


def test_health_shape(api_client, redis_conn):
    healthy_services(redis_conn)

    data = api_client.get("/api/queue/metrics/health").json()

    assert data["status"] == "healthy"
    assert data["score"] == 100
    assert data["alerts"] == []
    assert data["thresholds"]["failure_rate_max"] == 0.1
    assert data["thresholds"]["avg_duration_max_seconds"] == 300.0
    assert data["thresholds"]["pending_max"] == 100
    assert {"database", "redis", "workers", "scheduler", "pending"} <= set(data["checks"])


def test_health_alerts_carry_figure_and_threshold(api_client):
    data = api_client.get("/api/queue/metrics/health").json()

    alert = next(alert for alert in data["alerts"] if alert["code"] == "no_workers")
    assert alert == {
        "code": "no_workers",
        "severity": "critical",
        "message": "No worker is running: nothing will be processed.",
        "value": 0,
        "threshold": 1,
    }


def test_type_metrics_shape(api_client):
    finished_task(task_type="alpha", finished_at=timezone.now() - timedelta(minutes=3), duration=2)

    data = api_client.get("/api/queue/metrics/types/?hours=2").json()

    assert data["hours"] == 2
    assert set(data["types"]["alpha"]) == {
        "completed",
        "failed",
        "cancelled",
        "finished",
        "retries",
        "failure_rate",
        "throughput_per_minute",
        "throughput_per_hour",
        "duration_avg",
        "duration_p50",
        "duration_p95",
        "duration_max",
        "last_finished_at",
    }
    assert data["types"]["alpha"]["duration_p95"] == 2.0


def test_type_analysis_shape(api_client):
    finished_task(task_type="noop", finished_at=timezone.now())

    data = api_client.get("/api/queue/metrics/types/noop/?hours=3").json()

    assert data["task_type"] == "noop"
    assert data["figures"]["completed"] == 1
    assert set(data["trend"]["completed"]) == {"current", "previous", "change_percent"}
    assert len(data["buckets"]) == 3
    assert data["buckets"][-1]["completed"] == 1


def test_unknown_type_is_404_and_bad_window_is_400(api_client):
    assert api_client.get("/api/queue/metrics/types/nope/").status_code == 404
    response = api_client.get("/api/queue/metrics/types/?hours=0")
    assert response.status_code == 400
    assert "hours" in response.json()["error"]["field_errors"]
    assert api_client.get("/api/queue/metrics/history/?hours=abc").status_code == 400


def test_history_shape(api_client):
    finished_task(task_type="alpha", finished_at=timezone.now() - timedelta(hours=2))
    metrics.metric_snapshots_calculate()

    data = api_client.get("/api/queue/metrics/history/?hours=4&task_type=alpha").json()

    assert data["task_type"] == "alpha"
    assert len(data["buckets"]) == 4
    assert [bucket["completed"] for bucket in data["buckets"]][:3].count(1) == 1
    assert set(data["buckets"][0]) >= {"bucket_start", "completed", "failed", "queue_depth", "duration_p95"}


def test_workers_shape(api_client):
    finished_task(finished_at=timezone.now() - timedelta(minutes=2), worker_name="w1", duration=4)

    data = api_client.get("/api/queue/metrics/workers/").json()

    assert data["workers"][0]["name"] == "w1"
    assert data["workers"][0]["live"] is False
    assert data["workers"][0]["completed"] == 1
    assert data["workers"][0]["duration_avg"] == 4.0


def test_prometheus_text_has_counts_histogram_depth_and_health(api_client, redis_conn):
    healthy_services(redis_conn)
    now = timezone.now()
    finished_task(task_type="alpha", finished_at=now - timedelta(hours=3), duration=0.3)
    metrics.metric_snapshots_calculate()
    # Finished after the snapshots were stored: counted from the rows (now is never in a stored hour).
    finished_task(task_type="alpha", finished_at=now, duration=7)
    finished_task(task_type="alpha", finished_at=now, duration=2, status="failed")
    waiting_task(task_type="alpha", since=now)

    response = api_client.get("/api/queue/metrics/prometheus")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    lines = set(response.content.decode().splitlines())
    assert 'queue_tasks{status="queued",task_type="alpha"} 1' in lines
    assert 'queue_tasks_finished_total{status="completed",task_type="alpha"} 2' in lines
    assert 'queue_tasks_finished_total{status="failed",task_type="alpha"} 1' in lines
    assert "# TYPE queue_task_duration_seconds histogram" in lines
    assert 'queue_task_duration_seconds_bucket{task_type="alpha",le="0.5"} 1' in lines  # from the snapshot
    assert 'queue_task_duration_seconds_bucket{task_type="alpha",le="2.5"} 2' in lines
    assert 'queue_task_duration_seconds_bucket{task_type="alpha",le="10.0"} 3' in lines
    assert 'queue_task_duration_seconds_bucket{task_type="alpha",le="+Inf"} 3' in lines
    assert 'queue_task_duration_seconds_sum{task_type="alpha"} 9.3' in lines
    assert 'queue_task_duration_seconds_count{task_type="alpha"} 3' in lines
    assert 'queue_depth{queue="system.normal",priority="normal",place="queued"} 0' in lines
    assert 'queue_waiting_tasks{queue="normal"} 1' in lines
    assert "queue_workers 1" in lines
    # 1 of the 2 tasks in the health window failed: too few for a rate, but not a clean 100 either.
    assert "queue_health_score 90" in lines
    assert 'queue_health_status{status="degraded"} 1' in lines
    assert 'queue_health_alert{code="failures_in_small_sample",severity="warning"} 1' in lines


def test_prometheus_accepts_the_bearer_token_from_the_environment(settings):
    settings.PROMETHEUS_TOKEN = "scrape-secret"
    client = APIClient()

    assert client.get("/api/queue/metrics/prometheus", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    response = client.get("/api/queue/metrics/prometheus", HTTP_AUTHORIZATION="Bearer scrape-secret")
    assert response.status_code == 200
    assert b"queue_health_score" in response.content
    # The token opens the scrape only, not the rest of the API.
    assert client.get("/api/queue/stats", HTTP_AUTHORIZATION="Bearer scrape-secret").status_code == 401


def test_prometheus_needs_an_api_role_like_the_rest_of_the_api(django_user_model):
    client = APIClient()
    client.force_authenticate(django_user_model.objects.create_user(username="no-role", password="pw-no-role"))

    assert client.get("/api/queue/metrics/prometheus").status_code == 403
    assert client.get("/api/queue/stats").status_code == 403


def test_prometheus_token_unset_means_no_anonymous_scrape(settings):
    settings.PROMETHEUS_TOKEN = ""

    response = APIClient().get("/api/queue/metrics/prometheus", HTTP_AUTHORIZATION="Bearer ")

    assert response.status_code == 401
