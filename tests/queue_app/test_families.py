"""Specialized workers: families and their queues, limits across workers, shutdown, memory limits."""

from __future__ import annotations

import itertools
import json
import signal
import time
from datetime import timedelta

import pytest
from django.core.management import CommandError

from queue_app import limits, registry, services
from queue_app.management.commands.run_workers import parse_pools
from queue_app.models import Task, TaskStatus
from queue_app.worker import expand_queue_names
from tests.conftest import wait_for


def _status(task):
    task.refresh_from_db()
    return task.status


def _all_completed(count: int):
    return lambda: Task.objects.filter(status=TaskStatus.COMPLETED).count() == count


# --- Routing -----------------------------------------------------------------------------------


def test_queue_names_expand_to_family_queues_in_strict_priority_order():
    families = list(registry.families())
    assert expand_queue_names(["critical", "high", "normal", "low"]) == [
        f"{family}.{priority}" for priority in ("critical", "high", "normal", "low") for family in families
    ]
    assert expand_queue_names(["discovery"]) == [
        "discovery.critical",
        "discovery.high",
        "discovery.normal",
        "discovery.low",
    ]
    assert expand_queue_names(["proposals", "discovery.high"])[:3] == [
        "proposals.critical",
        "discovery.high",
        "proposals.high",
    ]


def test_every_task_type_belongs_to_a_known_family():
    for task_type in registry.all_types().values():
        assert task_type.family in registry.families()
    assert registry.get("noop_discovery").family == "discovery"


@pytest.mark.django_db
def test_a_task_goes_to_its_family_queue(django_capture_on_commit_callbacks):
    from queue_app import transport

    with django_capture_on_commit_callbacks(execute=True):
        task = services.task_enqueue(task_type="noop_applications", priority="high")
    assert str(task.id) in transport.get_queue("applications.high").job_ids


def test_a_familys_tasks_run_only_on_workers_serving_it(processes):
    discovery = [services.task_enqueue(task_type="noop_discovery") for _ in range(3)]
    proposals = [services.task_enqueue(task_type="noop_proposals") for _ in range(3)]
    processes.worker("discovery", name="discovery-worker")
    processes.worker("proposals", "system", name="proposals-worker")
    wait_for(_all_completed(6), timeout=60, message="all family tasks completed")
    assert {_worker(task) for task in discovery} == {"discovery-worker"}
    assert {_worker(task) for task in proposals} == {"proposals-worker"}


def _worker(task) -> str:
    task.refresh_from_db()
    return task.worker_name


# --- Pools -------------------------------------------------------------------------------------


def test_worker_pools_parse_and_refuse_unknown_families():
    assert parse_pools("", 3) == [("all", ["critical", "high", "normal", "low"], 3)]
    assert parse_pools("discovery:1, proposals+system:2", 3) == [
        ("discovery", ["discovery"], 1),
        ("proposals+system", ["proposals", "system"], 2),
    ]
    with pytest.raises(CommandError, match="unknown families"):
        parse_pools("scraping:2", 3)
    with pytest.raises(CommandError, match="whole number"):
        parse_pools("discovery:two", 3)


# --- Limits --------------------------------------------------------------------------------------


def test_limits_are_atomic_and_released(redis_conn):
    check = limits.Check("queue:limit:running:test", "c", 2, 60, "two at once")
    assert limits.acquire("a", [check]) is None
    assert limits.acquire("b", [check]) is None
    denied = limits.acquire("c", [check])
    assert denied is not None and "two at once" in denied.reason
    assert limits.acquire("a", [check]) is None  # holding a slot already: re-entry is allowed
    limits.release("a", [check])
    assert limits.acquire("c", [check]) is None


def test_a_rate_limit_says_how_long_to_wait(redis_conn):
    check = limits.Check("queue:limit:starts:test", "r", 2, 10, "2/10s")
    assert limits.acquire("a", [check]) is None
    assert limits.acquire("b", [check]) is None
    denied = limits.acquire("c", [check])
    assert 9 < denied.wait_seconds <= 10


def test_a_concurrency_limit_of_one_holds_across_three_workers(processes):
    from queue_app.models import WorkerProcess

    env = {"TASK_LIMITS": json.dumps({"noop": {"concurrency": 1}}), "LIMIT_RETRY_SECONDS": "0.5"}
    for _ in range(3):
        processes.worker(**env)
    # All three up before the tasks arrive: one that started seconds early could run all six.
    wait_for(lambda: WorkerProcess.objects.count() == 3, timeout=60, message="three workers registered")
    tasks = [services.task_enqueue(task_type="noop", payload={"sleep_ms": 300}) for _ in range(6)]
    wait_for(_all_completed(len(tasks)), timeout=90, message="all tasks completed under the limit")
    runs = sorted(Task.objects.values_list("started_at", "finished_at"))
    for (_, previous_end), (next_start, _) in itertools.pairwise(runs):
        assert next_start >= previous_end, "two tasks ran at the same time"
    assert len({task.worker_name for task in Task.objects.all()}) >= 2  # the workers did share the work


def test_a_rate_limit_delays_the_excess_and_all_tasks_complete(processes):
    tasks = [services.task_enqueue(task_type="noop") for _ in range(6)]
    env = {"TASK_LIMITS": json.dumps({"noop": {"rate": "2/s"}})}
    processes.worker(**env)
    processes.worker(**env)
    waiting = wait_for(
        lambda: Task.objects.filter(wait_reason__contains="at most 2/s").first(),
        timeout=30,
        message="a task waiting with its reason on the row",
    )
    assert waiting.status in (TaskStatus.SCHEDULED, TaskStatus.PROCESSING, TaskStatus.COMPLETED)
    wait_for(_all_completed(len(tasks)), timeout=60, message="all rate-limited tasks completed")
    starts = sorted(Task.objects.values_list("started_at", flat=True))
    for first, third in zip(starts, starts[2:], strict=False):
        assert third - first >= timedelta(seconds=0.95), "more than 2 starts within one second"
    assert not Task.objects.exclude(wait_reason="").exists()  # cleared once started


# --- Shutdown and memory -------------------------------------------------------------------------


def test_sigterm_during_a_long_task_puts_it_back_and_it_completes_later(processes):
    task = services.task_enqueue(task_type="noop", payload={"sleep_ms": 20_000})
    manager = processes.start("run_workers", "--count", "1", "--grace", "1", name="manager")
    wait_for(lambda: _status(task) == TaskStatus.PROCESSING, timeout=30, message="task started")
    manager.send_signal(signal.SIGTERM)
    manager.wait(timeout=60)
    assert "All workers stopped." in processes.output(manager)
    task.refresh_from_db()
    assert task.status == TaskStatus.QUEUED, "interrupted task not put back"
    assert task.error_type == "WorkerShutdown"
    Task.objects.filter(id=task.id).update(payload={"sleep_ms": 10})
    processes.worker()
    wait_for(lambda: _status(task) == TaskStatus.COMPLETED, timeout=30, message="completed on a new worker")
    assert task.attempts == 2
    assert not Task.objects.filter(status=TaskStatus.PROCESSING).exists()


def test_repeated_stop_signals_during_a_cold_stop_still_put_the_task_back(processes):
    # run_workers repeats its second SIGTERM until the worker exits; the repeats must not cut
    # short the cold stop or the re-queue in register_death.
    task = services.task_enqueue(task_type="noop", payload={"sleep_ms": 20_000})
    worker = processes.worker(name="stopped")
    wait_for(lambda: _status(task) == TaskStatus.PROCESSING, timeout=30, message="task started")
    worker.send_signal(signal.SIGTERM)
    wait_for(lambda: "warm shut down requested" in processes.output(worker), timeout=10, message="warm stop")
    time.sleep(1.2)  # past RQ's 1 s window, so the next signal is the cold stop (not a wait for an outcome)
    while worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
        time.sleep(0.02)
    task.refresh_from_db()
    assert task.status == TaskStatus.QUEUED, processes.output(worker)[-3000:]
    assert task.error_type == "WorkerShutdown"


@pytest.mark.parametrize("worker_class", ["queue_app.worker.TaskWorker", "queue_app.worker.TaskSimpleWorker"])
def test_a_task_over_its_memory_limit_fails_cleanly_and_the_worker_keeps_serving(processes, worker_class):
    hog = services.task_enqueue(task_type="noop", payload={"allocate_mb": 128}, max_retries=0)
    env = {"TASK_LIMITS": json.dumps({"noop": {"memory_limit_mb": 64}})}
    processes.worker(worker_class=worker_class, **env)
    wait_for(lambda: _status(hog) == TaskStatus.FAILED, timeout=60, message="memory hog failed")
    assert hog.error_type == "MemoryLimitExceeded"
    assert "memory limit exceeded" in hog.error_message
    after = services.task_enqueue(task_type="noop", payload={"allocate_mb": 8})
    wait_for(lambda: _status(after) == TaskStatus.COMPLETED, timeout=30, message="worker still serving")
    assert all(proc.poll() is None for proc in processes.procs)


def test_queue_workers_lists_live_workers_with_their_task(processes):
    from io import StringIO

    from django.core.management import call_command

    task = services.task_enqueue(task_type="noop_discovery", payload={"sleep_ms": 5000})
    processes.worker("discovery", name="lister", WORKER_HEARTBEAT_SECONDS="1")
    wait_for(lambda: _status(task) == TaskStatus.PROCESSING, message="task started")
    out = StringIO()
    call_command("queue", "workers", "--json", stdout=out)
    rows = json.loads(out.getvalue())
    row = next(row for row in rows if row["name"] == "lister")
    assert row["families"] == ["discovery"]
    assert row["current_task"] == str(task.id)
    assert row["pid"] > 0 and row["host"]
    assert row["rss_mb"] > 10
    assert row["heartbeat_age_seconds"] < 10
