"""Monitoring CLI: queue stats / health / analyze and queue_stats; health exit codes 0, 1, 2 for probes."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from tests.conftest import ROOT, subprocess_env
from tests.queue_app.monitoring_factories import finished_task, healthy_services, register_worker, waiting_task

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[str, int]:
    out = StringIO()
    try:
        call_command(*args, stdout=out)
    except SystemExit as exit_:
        return out.getvalue(), exit_.code
    return out.getvalue(), 0


def test_queue_stats_prints_counts_queues_types_and_workers(redis_conn):
    register_worker(redis_conn, "cli-worker")
    finished_task(task_type="alpha", finished_at=timezone.now() - timedelta(minutes=5))
    waiting_task(task_type="alpha", since=timezone.now() - timedelta(minutes=2), priority="high")

    output, code = run("queue", "stats")

    assert code == 0
    assert "completed            1" in output
    assert "queued               1" in output
    assert "high                 1" in output
    assert "alpha" in output
    assert "Last hour: 1 completed, 0 failed, 0 cancelled" in output
    assert "cli-worker" in output


def test_queue_stats_json_is_the_api_shape():
    finished_task(finished_at=timezone.now() - timedelta(minutes=5), status="failed")

    output, _ = run("queue", "stats", "--json")
    data = json.loads(output)

    assert data["by_status"]["failed"] == 1
    assert set(data) >= {"by_status", "by_priority", "by_type", "oldest_waiting", "last_hour", "last_day", "workers"}


def test_queue_stats_command_watch_refreshes_count_times():
    waiting_task(since=timezone.now())

    output, _ = run("queue_stats", "--json", "--watch", "0.5", "--count", "2")

    documents = [json.loads(line) for line in output.strip().splitlines()]
    assert len(documents) == 2
    assert all(document["by_status"]["queued"] == 1 for document in documents)


def test_queue_stats_verb_watches_too():
    output, _ = run("queue", "stats", "--watch", "0.5", "--count", "2")

    assert output.count("Queue stats at") == 2
    assert output.count("\033[2J") == 2  # the screen is cleared before each refresh


def test_queue_stats_command_rejects_a_too_short_watch():
    with pytest.raises(CommandError, match=r"at least 0\.5 seconds"):
        call_command("queue_stats", "--watch", "0.1")


def test_health_exit_code_zero_when_healthy(redis_conn):
    healthy_services(redis_conn)

    output, code = run("queue", "health")

    assert code == 0
    assert output.startswith("Health: HEALTHY (score 100/100)")


def test_health_exit_code_one_when_degraded(redis_conn):
    register_worker(redis_conn, "worker-ok")  # no scheduler heartbeat: a warning

    output, code = run("queue", "health", "--json")

    assert code == 1
    report = json.loads(output)
    assert report["status"] == "degraded"
    assert [alert["code"] for alert in report["alerts"]] == ["scheduler_not_running"]


def test_health_exit_code_two_when_critical():
    output, code = run("queue", "health")  # no worker at all

    assert code == 2
    assert "[critical] no_workers" in output


@pytest.mark.django_db(transaction=True)
def test_health_probe_process_exits_two_when_postgresql_is_unreachable():
    env = subprocess_env(DATABASE_URL="postgres://postgres@127.0.0.1:1/nowhere")

    result = subprocess.run(
        [sys.executable, "manage.py", "queue", "health", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2, result.stderr
    report = json.loads(result.stdout)
    assert report["alerts"][0]["code"] == "database_unreachable"


@pytest.mark.django_db(transaction=True)
def test_health_probe_process_exits_two_when_redis_is_unreachable():
    result = subprocess.run(
        [sys.executable, "manage.py", "queue", "health"],
        cwd=ROOT,
        env=subprocess_env(TEST_REDIS_URL="redis://127.0.0.1:1/4"),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2, result.stderr
    assert "redis_unreachable" in result.stdout


def test_analyze_reports_window_buckets_and_trend():
    now = timezone.now()
    for minutes in (10, 20):
        finished_task(task_type="alpha", finished_at=now - timedelta(minutes=minutes), duration=3)
    finished_task(task_type="alpha", finished_at=now - timedelta(minutes=90), duration=6)

    output, _ = run("queue", "analyze", "alpha", "--hours", "1", "--json")
    analysis = json.loads(output)

    assert analysis["figures"]["completed"] == 2
    assert analysis["trend"]["completed"]["change_percent"] == 100.0
    assert analysis["trend"]["duration_avg"]["change_percent"] == -50.0

    text, _ = run("queue", "analyze", "alpha", "--hours", "1")
    assert "alpha: last 1 h" in text
    assert "+100.0%" in text
    assert "HOUR (UTC)" in text


def test_analyze_names_the_registered_types_for_an_unknown_one():
    with pytest.raises(CommandError, match=r"Unknown task type 'nope'\. Registered types: .*noop"):
        call_command("queue", "analyze", "nope")


def test_analyze_rejects_a_window_out_of_range():
    with pytest.raises(CommandError, match="--hours must be between 1 and 2160"):
        call_command("queue", "analyze", "noop", "--hours", "0")
