"""Tasks run by real rqworker processes: lifecycle, priority order, delays, retries, timeouts, cancel."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from queue_app import services
from queue_app.models import Task, TaskStatus
from tests.conftest import wait_for


def _status(task):
    task.refresh_from_db()
    return task.status


def _reached(task, *statuses):
    return lambda: _status(task) in statuses


def test_a_task_runs_to_completed_with_result_duration_and_worker(processes):
    task = services.task_enqueue(task_type="noop", payload={"sleep_ms": 50})
    processes.worker()
    wait_for(_reached(task, TaskStatus.COMPLETED), message="task completed")
    assert task.attempts == 1
    assert task.result == {"ok": True, "attempt": 1}
    assert task.duration >= 0.05
    assert task.worker_name
    assert task.started_at >= task.created_at
    assert task.finished_at >= task.started_at
    assert task.error_type == ""


def test_queues_are_drained_strictly_by_priority(processes):
    low = services.task_enqueue(task_type="noop", priority="low")
    normal = services.task_enqueue(task_type="noop", priority="normal")
    high = services.task_enqueue(task_type="noop", priority="high")
    critical = services.task_enqueue(task_type="noop", priority="critical")
    worker = processes.worker(burst=True)
    assert worker.wait(timeout=60) == 0
    order = list(Task.objects.order_by("started_at").values_list("id", flat=True))
    assert order == [critical.id, high.id, normal.id, low.id]


def test_a_delayed_task_does_not_start_before_run_at(processes):
    from queue_app.models import WorkerProcess

    processes.worker()  # up first: its start-up must not count against the delay
    wait_for(WorkerProcess.objects.exists, timeout=60, message="worker registered")
    task = services.task_enqueue(task_type="noop", delay=2)
    wait_for(_reached(task, TaskStatus.COMPLETED), message="delayed task completed")
    assert task.started_at >= task.run_at
    assert task.started_at - task.run_at < timedelta(seconds=5)


def test_failures_retry_with_exponential_backoff_then_succeed(processes):
    # settings.test: RETRY_BACKOFF_BASE=1 s, factor 2 -> waits of 1 s then 2 s.
    task = services.task_enqueue(task_type="noop", payload={"fail_times": 2}, max_retries=3)
    processes.worker()
    wait_for(_reached(task, TaskStatus.RETRYING), message="first failure recorded as retrying")
    assert task.attempts == 1
    assert task.error_type == "RuntimeError"
    assert timedelta(seconds=0.9) < task.run_at - task.finished_at < timedelta(seconds=1.5)  # the first wait
    first_failure = task.finished_at
    wait_for(_reached(task, TaskStatus.COMPLETED), timeout=30, message="completed after two retries")
    assert task.attempts == 3
    assert task.error_type == ""
    # RQ keeps retry times in whole seconds (a wait of 1 s may end up to a second early), so the
    # two waits of 1 s and 2 s give at least 1 s between the first failure and the last start.
    assert task.started_at - first_failure >= timedelta(seconds=1)


@pytest.mark.django_db
def test_retry_waits_grow_exponentially_and_travel_with_the_job(redis_conn, settings):
    from rq.job import Job

    from queue_app import transport

    settings.RETRY_BACKOFF_BASE, settings.RETRY_BACKOFF_FACTOR = 120, 2
    assert transport.retry_intervals(3) == [120, 240, 480]
    task = services.task_enqueue(task_type="noop", max_retries=3)
    transport.push([task])
    job = Job.fetch(str(task.id), connection=redis_conn)
    assert (job.retries_left, job.retry_intervals) == (3, [120, 240, 480])


def test_a_task_failing_every_attempt_ends_failed_with_its_traceback(processes):
    task = services.task_enqueue(task_type="noop", payload={"fail_times": 10}, max_retries=2)
    processes.worker()
    wait_for(_reached(task, TaskStatus.FAILED), timeout=30, message="task failed for good")
    assert task.attempts == 3  # the first attempt and two retries
    assert task.error_type == "RuntimeError"
    assert "failing attempt 3" in task.error_message
    assert "Traceback (most recent call last)" in task.error_traceback
    assert "queue_app/tasks.py" in task.error_traceback


def test_a_task_over_its_timeout_fails_with_a_timeout_error(processes):
    task = services.task_enqueue(task_type="noop", payload={"sleep_ms": 10_000}, timeout=1, max_retries=0)
    processes.worker()
    wait_for(_reached(task, TaskStatus.FAILED), timeout=30, message="timed out")
    assert task.error_type == "JobTimeoutException"
    assert task.duration < 5


def test_cancelling_a_queued_task_means_it_never_runs(processes, redis_conn):
    cancelled = services.task_enqueue(task_type="noop")
    services.task_cancel(task_id=cancelled.id)
    after = services.task_enqueue(task_type="noop", priority="low")
    processes.worker()
    wait_for(_reached(after, TaskStatus.COMPLETED), message="later task completed")
    cancelled.refresh_from_db()
    assert cancelled.status == TaskStatus.CANCELLED
    assert cancelled.attempts == 0
    assert cancelled.started_at is None


def test_cancelling_a_running_task_stops_it_and_the_row_stays_cancelled(processes):
    task = services.task_enqueue(task_type="noop", payload={"sleep_ms": 30_000})
    worker = processes.worker()
    wait_for(_reached(task, TaskStatus.PROCESSING), message="task started")
    services.task_cancel(task_id=task.id)
    follow_up = services.task_enqueue(task_type="noop")
    # The worker is free again long before the 30 s sleep would have ended.
    wait_for(_reached(follow_up, TaskStatus.COMPLETED), timeout=15, message="worker freed by the stop")
    task.refresh_from_db()
    assert task.status == TaskStatus.CANCELLED
    assert task.result is None
    assert "stopped by user" in processes.output(worker) or "killed horse" in processes.output(worker)


@pytest.mark.django_db(transaction=True)
def test_cancelling_a_task_just_started_asks_the_worker_named_on_its_row(redis_conn):
    # The job names its worker only once the work horse runs; the row does from the start write.
    task = services.task_enqueue(task_type="noop")
    Task.objects.filter(id=task.id).update(status=TaskStatus.PROCESSING, worker_name="w-starting")
    pubsub = redis_conn.pubsub()
    pubsub.subscribe("rq:pubsub:w-starting")
    wait_for(lambda: pubsub.get_message(timeout=0.1), message="subscribed")
    services.task_cancel(task_id=task.id)
    message = wait_for(lambda: pubsub.get_message(timeout=0.1), message="stop command published")
    assert json.loads(message["data"]) == {"command": "stop-job", "job_id": str(task.id)}
    pubsub.close()


def test_a_stop_for_the_job_a_worker_is_starting_is_kept_for_after_the_fork(redis_conn):
    from queue_app import transport
    from queue_app.worker import TaskWorker

    worker = TaskWorker(["normal"], connection=transport.get_connection())
    worker._starting_job_id = "job-1"
    worker.handle_payload({"data": json.dumps({"command": "stop-job", "job_id": "job-1"}).encode()})
    assert worker._stopped_job_id == "job-1"  # fork_work_horse kills the horse as soon as it exists
    worker._stopped_job_id = None
    worker.handle_payload({"data": json.dumps({"command": "stop-job", "job_id": "another"}).encode()})
    assert worker._stopped_job_id is None  # not this worker's: RQ ignores it


def test_a_cancelled_task_can_be_retried_and_then_completes(processes):
    task = services.task_enqueue(task_type="noop", delay=3600)
    services.task_cancel(task_id=task.id)
    services.task_retry(task_id=task.id)
    processes.worker()
    wait_for(_reached(task, TaskStatus.COMPLETED), message="retried task completed")
    assert task.attempts == 1


def test_a_failed_task_retried_by_hand_runs_as_a_new_attempt(processes):
    task = services.task_enqueue(task_type="noop", payload={"fail_times": 1}, max_retries=0)
    processes.worker()
    wait_for(_reached(task, TaskStatus.FAILED), message="first attempt failed")
    services.task_retry(task_id=task.id)
    wait_for(_reached(task, TaskStatus.COMPLETED), message="second attempt completed")
    assert task.attempts == 2


@pytest.mark.django_db(transaction=True)
def test_two_deliveries_of_one_task_run_it_once(processes):
    """The conditional start: a second RQ job for an already finished row does nothing."""
    from queue_app import transport

    task = services.task_enqueue(task_type="noop")
    processes.worker()
    wait_for(_reached(task, TaskStatus.COMPLETED), message="first run")
    finished_at = task.finished_at
    transport.push([task])  # a duplicate delivery, as a reconcile race could cause
    follow_up = services.task_enqueue(task_type="noop", priority="low")
    wait_for(_reached(follow_up, TaskStatus.COMPLETED), message="worker moved past the duplicate")
    task.refresh_from_db()
    assert task.attempts == 1
    assert task.finished_at == finished_at
    assert timezone.now() > finished_at
