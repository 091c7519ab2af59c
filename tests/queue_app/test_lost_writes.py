"""Lifecycle writes that never reached PostgreSQL, and the worker's fast paths.

With TASK_STATE_SYNCHRONOUS_COMMIT=off a PostgreSQL crash can drop the last lifecycle writes: a
row then still says queued (start lost) or processing (completion lost) although its RQ job
ended. Reconcile finds both and runs the task again. The worker writes lifecycle statements from
a helper thread, in order, while RQ talks to Redis.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time

import pytest
from django.db import connection
from rq.job import Job

from queue_app import lifecycle, maintenance, services, transport
from queue_app.models import Task, TaskStatus
from queue_app.worker import TaskSimpleWorker
from tests.conftest import subprocess_env, wait_for


def _completed_by_a_worker(processes, count: int = 1) -> list[Task]:
    tasks = [services.task_enqueue(task_type="noop") for _ in range(count)]
    processes.worker(worker_class="queue_app.worker.TaskSimpleWorker")
    wait_for(
        lambda: Task.objects.filter(id__in=[t.id for t in tasks], status=TaskStatus.COMPLETED).count() == count,
        message="tasks completed",
    )
    # The simple worker writes the row from its writer thread while RQ records the job's end.
    conn = transport.get_connection()
    wait_for(
        lambda: all(Job.fetch(str(t.id), connection=conn).get_status() == "finished" for t in tasks),
        message="RQ recorded the jobs' end",
    )
    return tasks


def test_a_lost_start_write_is_found_by_reconcile_and_the_task_runs_again(processes, redis_conn, settings):
    (task,) = _completed_by_a_worker(processes)
    # What a PostgreSQL crash with asynchronous commit can leave: the row as it was before the run.
    Task.objects.filter(id=task.id).update(status=TaskStatus.QUEUED, attempts=0, started_at=None, finished_at=None)
    assert Job.fetch(str(task.id), connection=redis_conn).get_status() == "finished"
    settings.RECONCILE_GRACE_SECONDS = 0

    assert maintenance.tasks_reconcile() == [str(task.id)]
    wait_for(lambda: Task.objects.get(id=task.id).status == TaskStatus.COMPLETED, message="ran again")
    assert Task.objects.get(id=task.id).attempts == 1


def test_a_lost_completion_write_is_found_by_reconcile_and_the_task_runs_again(processes, redis_conn, settings, caplog):
    (task,) = _completed_by_a_worker(processes)
    Task.objects.filter(id=task.id).update(status=TaskStatus.PROCESSING, finished_at=None)
    settings.RECONCILE_GRACE_SECONDS = 0

    with caplog.at_level(logging.WARNING, logger="queue_app.maintenance"):
        assert maintenance.tasks_reconcile() == [str(task.id)]
    # The row says OutcomeLost only until the still-running worker takes the job again (at once, at times):
    # what reconcile decided is in its log line.
    lost = [r.getMessage() for r in caplog.records if str(task.id) in r.getMessage()]
    assert lost and "outcome was not recorded" in lost[0]
    wait_for(lambda: Task.objects.get(id=task.id).status == TaskStatus.COMPLETED, message="ran again")
    assert Task.objects.get(id=task.id).attempts == 2


def test_reconcile_leaves_a_just_ended_run_to_its_worker(processes, redis_conn, settings):
    """Within the grace period a processing row with an ended job is a completion write in flight."""
    (task,) = _completed_by_a_worker(processes)
    Task.objects.filter(id=task.id).update(status=TaskStatus.PROCESSING)
    settings.RECONCILE_GRACE_SECONDS = 60
    Task.objects.filter(id=task.id).update(started_at=Task.objects.get(id=task.id).started_at.replace(year=2020))

    assert maintenance.tasks_reconcile() == []
    assert Task.objects.get(id=task.id).status == TaskStatus.PROCESSING


def test_ended_jobs_ignores_queued_and_missing_jobs(redis_conn, transactional_db):
    task = services.task_enqueue(task_type="noop")
    from django.utils import timezone

    found = transport.lost_jobs([str(task.id), "no-such-job"], settled=timezone.now())
    assert (found.missing, found.ended, found.stranded) == (["no-such-job"], [], [])


@pytest.mark.django_db(transaction=True, databases=["default", "task_state"])
def test_the_lifecycle_writer_writes_inline_unless_a_worker_turned_it_on():
    writer = lifecycle.LifecycleWriter()
    task = services.task_enqueue(task_type="noop")
    Task.objects.filter(id=task.id).update(status=TaskStatus.PROCESSING)
    lifecycle.complete(str(task.id), result='{"ok": true}', finished_at=task.created_at, duration=0.5, writer=writer)
    assert Task.objects.get(id=task.id).status == TaskStatus.COMPLETED  # written before submit returned


@pytest.mark.django_db(transaction=True, databases=["default", "task_state"])
@pytest.mark.parametrize("enabled", [False, True], ids=["inline", "thread"])
def test_the_lifecycle_writer_answers_a_start_with_the_rows_or_the_error(enabled):
    writer = lifecycle.LifecycleWriter()
    writer.enabled = enabled
    task = services.task_enqueue(task_type="noop", payload={"sleep_ms": 5})
    try:
        first = lifecycle.start(str(task.id), worker_name="w1", now=task.created_at, writer=writer)
        second = lifecycle.start(str(task.id), worker_name="w1", now=task.created_at, writer=writer)  # now processing
        broken = writer.call("SELECT no_such_column FROM queue_app_task", [])
        ((task_type, payload, attempt, max_retries),) = first.result(timeout=10)
        assert (task_type, json.loads(payload)["sleep_ms"], attempt, max_retries) == ("noop", 5, 1, 3)
        assert second.result(timeout=10) == []
        with pytest.raises(Exception, match="no_such_column"):
            broken.result(timeout=10)
        assert writer.confirm(timeout=10)
    finally:
        writer.stop()
    assert Task.objects.get(id=task.id).status == TaskStatus.PROCESSING


@pytest.mark.django_db(transaction=True, databases=["default", "task_state"])
def test_the_lifecycle_writer_confirms_every_write_it_took():
    writer = lifecycle.LifecycleWriter()
    writer.enabled = True
    tasks = [services.task_enqueue(task_type="noop") for _ in range(20)]
    Task.objects.filter(id__in=[t.id for t in tasks]).update(status=TaskStatus.PROCESSING)
    for task in tasks:
        lifecycle.complete(str(task.id), result="null", finished_at=task.created_at, duration=0.1, writer=writer)
    try:
        assert writer.confirm(timeout=10)
        assert Task.objects.filter(status=TaskStatus.COMPLETED).count() == 20
    finally:
        writer.stop()


@pytest.mark.django_db(transaction=True)
def test_the_worker_refreshes_its_redis_key_once_a_second_at_most_but_always_for_a_job(redis_conn):
    worker = TaskSimpleWorker(["normal"], connection=transport.get_connection())
    worker.heartbeat()
    first = redis_conn.hget(worker.key, "last_heartbeat")
    assert redis_conn.ttl(worker.key) > 0
    worker.heartbeat()  # within the second: skipped
    assert redis_conn.hget(worker.key, "last_heartbeat") == first
    worker.heartbeat(timeout=4000)  # a job's timeout: always written
    assert redis_conn.ttl(worker.key) > 3000
    worker.heartbeat()  # within the second again: skipped, the longer TTL stays a moment
    assert redis_conn.ttl(worker.key) > 3000
    time.sleep(1.05)
    worker.heartbeat()  # a second later: written, the TTL back to the worker's own
    assert redis_conn.hget(worker.key, "last_heartbeat") != first
    assert redis_conn.ttl(worker.key) <= worker.worker_ttl + 60


@pytest.mark.django_db(transaction=True)
def test_the_simple_worker_records_a_job_with_its_end_heartbeat_and_idle_state_in_one_transaction(redis_conn, settings):
    from rq import Queue

    settings.WORKER_EXTRA_JOB_FUNCTIONS = ["bench.raw_jobs.noop"]  # a bare RQ job: refused otherwise

    queue = Queue("system.normal", connection=transport.get_connection())
    job = queue.enqueue("bench.raw_jobs.noop")
    worker = TaskSimpleWorker(["system.normal"], connection=transport.get_connection())
    sent: list[str] = []
    real_send = type(redis_conn.connection_pool.get_connection()).send_packed_command

    def counting_send(connection, command, check_health=True):
        sent.append(command)
        return real_send(connection, command, check_health)

    real_execute_job = worker.execute_job

    def execute_and_count(job, queue):
        # Count the round trips from RQ's job preparation to the job's recorded end.
        type(redis_conn.connection_pool.get_connection()).send_packed_command = counting_send
        try:
            return real_execute_job(job, queue)
        finally:
            type(redis_conn.connection_pool.get_connection()).send_packed_command = real_send

    worker.execute_job = execute_and_count
    assert worker.work(burst=True)
    job.refresh()
    assert job.get_status() == "finished"
    assert job.last_heartbeat is not None and job.last_heartbeat >= job.started_at
    assert redis_conn.hget(worker.key, "state") == b"idle"
    # Round trips, leaving out the handshake of a newly opened connection: prepare the execution,
    # prepare the job, WATCH, dependents, the end's transaction. RQ's own SimpleWorker adds a job
    # heartbeat and an idle state, each a round trip of its own.
    first_commands = [command[0].split(b"\r\n")[2] for command in sent]
    assert [c for c in first_commands if c not in (b"HELLO", b"CLIENT", b"SELECT")] == [
        b"MULTI",
        b"MULTI",
        b"WATCH",
        b"SMEMBERS",
        b"MULTI",
    ], first_commands


@pytest.mark.django_db(transaction=True)
def test_the_worker_writes_a_repeated_state_once(redis_conn):
    worker = TaskSimpleWorker(["normal"], connection=transport.get_connection())
    worker.set_state("idle")
    assert redis_conn.hget(worker.key, "state") == b"idle"
    redis_conn.hset(worker.key, "state", "marker")
    worker.set_state("idle")  # unchanged: no write
    assert redis_conn.hget(worker.key, "state") == b"marker"
    worker.set_state("busy")
    assert redis_conn.hget(worker.key, "state") == b"busy"


def _sessions_opened() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


def test_the_fork_worker_records_small_and_large_results_and_a_failure(processes):
    """The horse hands a small result back through a pipe; a large one it writes itself."""
    small = services.task_enqueue(task_type="noop")
    large = services.task_enqueue(task_type="noop", payload={"result_kb": 100})
    failing = services.task_enqueue(task_type="noop", payload={"fail_times": 5}, max_retries=0)
    processes.worker(worker_class="queue_app.worker.TaskWorker")
    for task, status in ((small, TaskStatus.COMPLETED), (large, TaskStatus.COMPLETED), (failing, TaskStatus.FAILED)):
        wait_for(lambda t=task, s=status: Task.objects.get(id=t.id).status == s, message=f"{task.id} {status}")
    assert Task.objects.get(id=small.id).result == {"ok": True, "attempt": 1}
    assert len(Task.objects.get(id=large.id).result["padding"]) == 100 * 1024
    assert Task.objects.get(id=failing.id).error_type == "RuntimeError"


def test_the_fork_worker_passes_a_row_too_large_for_the_pipe_by_the_database(processes):
    """The parent's start answer reaches the horse through a pipe; a very large row the horse reads."""
    small = services.task_enqueue(task_type="noop")
    task = services.task_enqueue(task_type="noop")
    Task.objects.filter(id=task.id).update(payload={"fail_times": 0, "note": "x" * 100_000})
    processes.worker(worker_class="queue_app.worker.TaskWorker")
    wait_for(lambda: Task.objects.get(id=task.id).status == TaskStatus.COMPLETED, message="large task completed")
    assert Task.objects.get(id=task.id).result == {"ok": True, "attempt": 1}
    assert Task.objects.get(id=small.id).status == TaskStatus.COMPLETED


def test_the_fork_worker_opens_no_database_connection_per_task(processes):
    processes.worker(worker_class="queue_app.worker.TaskWorker")
    warm_up = services.task_enqueue(task_type="noop")
    wait_for(lambda: Task.objects.get(id=warm_up.id).status == TaskStatus.COMPLETED, message="worker warmed up")
    before = _sessions_opened()
    tasks = [services.task_enqueue(task_type="noop") for _ in range(30)]
    wait_for(
        lambda: Task.objects.filter(id__in=[t.id for t in tasks], status=TaskStatus.COMPLETED).count() == 30,
        message="30 tasks completed",
    )
    assert _sessions_opened() - before < 10  # a connect per task would be 30 or more


@pytest.mark.django_db(transaction=True)
def test_a_job_popped_by_a_worker_that_died_before_starting_it_is_delivered_again(redis_conn, settings):
    task = services.task_enqueue(task_type="noop")
    queue = transport.get_queue("system.normal")
    assert redis_conn.lpop(queue.key) == str(task.id).encode()  # the pop of a worker killed right after
    settings.RECONCILE_GRACE_SECONDS = 60
    assert maintenance.tasks_reconcile() == []  # might still be a live worker between pop and start
    settings.RECONCILE_GRACE_SECONDS = 0

    assert maintenance.tasks_reconcile() == [str(task.id)]
    assert queue.job_ids == [str(task.id)]
    assert maintenance.tasks_reconcile() == []  # in its queue again: nothing more to do


def test_a_stop_before_the_fork_does_not_kill_the_worker_itself(redis_conn):
    """RQ's kill_horse with no horse would signal the worker's own process group."""
    script = (
        "import os, django; django.setup(); os.setsid()\n"
        "from queue_app import transport\n"
        "from queue_app.worker import TaskWorker\n"
        "worker = TaskWorker(['normal'], connection=transport.get_connection())\n"
        "worker.kill_horse()\n"
        "print('survived')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], env=subprocess_env(), capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    assert b"survived" in result.stdout


@pytest.mark.django_db(transaction=True)
def test_a_task_started_by_a_worker_that_then_lost_its_job_is_queued_again(redis_conn, settings):
    """A worker writes the start as soon as it has popped the job; a Redis error before RQ marks
    the job started leaves the row processing and the job in no queue list."""
    from datetime import timedelta

    from django.utils import timezone

    task = services.task_enqueue(task_type="noop")
    queue = transport.get_queue("system.normal")
    assert redis_conn.lpop(queue.key) == str(task.id).encode()
    Task.objects.filter(id=task.id).update(
        status=TaskStatus.PROCESSING, attempts=1, started_at=timezone.now() - timedelta(seconds=5), worker_name="w1"
    )
    settings.RECONCILE_GRACE_SECONDS = 60
    assert maintenance.tasks_reconcile() == []  # the worker may be between its start and RQ's
    settings.RECONCILE_GRACE_SECONDS = 0

    assert maintenance.tasks_reconcile() == [str(task.id)]
    row = Task.objects.get(id=task.id)
    assert (row.status, row.error_type) == (TaskStatus.QUEUED, "StartLost")
    assert queue.job_ids == [str(task.id)]
    assert maintenance.tasks_reconcile() == []
