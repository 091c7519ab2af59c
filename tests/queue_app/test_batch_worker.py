"""The batch worker (queue_app.batch_worker.TaskBatchWorker) with real worker processes."""

from __future__ import annotations

import base64
import math
import os
import re
import signal
import time
import zlib

import pytest
from django.utils import timezone
from rq.job import Job
from rq.registry import FailedJobRegistry, FinishedJobRegistry, StartedJobRegistry

from queue_app import services, transport
from queue_app.models import Task, TaskStatus
from tests.conftest import wait_for

BATCH = "queue_app.batch_worker.TaskBatchWorker"
SIMPLE = "queue_app.worker.TaskSimpleWorker"


def _status(task):
    task.refresh_from_db()
    return task.status


def _all_final(count: int):
    final = [TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED]
    return lambda: Task.objects.filter(status__in=final).count() == count


def _enqueue_mix() -> list[Task]:
    requests = [services.EnqueueRequest(task_type="noop") for _ in range(20)]
    requests += [services.EnqueueRequest(task_type="noop", payload={"fail_times": 5}, max_retries=0) for _ in range(3)]
    requests += [services.EnqueueRequest(task_type="noop", priority="high") for _ in range(5)]
    return services.task_enqueue_many(requests=requests)


def _snapshot(redis_conn) -> list[tuple]:
    """What rq info, django-rq's admin and reconcile see of every task: row, job, registries, result."""
    rows = []
    for task in Task.objects.order_by("priority", "created_at"):
        job = Job.fetch(str(task.id), connection=redis_conn)
        queue = job.origin
        result = job.latest_result()
        rows.append(
            (
                task.status,
                task.attempts,
                bool(task.result),
                job.get_status(),
                queue,
                str(task.id) in FinishedJobRegistry(queue, connection=redis_conn).get_job_ids(),
                str(task.id) in FailedJobRegistry(queue, connection=redis_conn).get_job_ids(),
                str(task.id) in StartedJobRegistry(queue, connection=redis_conn).get_job_ids(),
                result.type.name if result else None,
                redis_conn.ttl(job.key) > 0,
            )
        )
    return sorted(rows, key=repr)


# Keys of the worker itself (its hash: name, counters, heartbeat) and of this app's locks differ by design;
# the worker's execution set (rq:worker:<name>:executions) is compared.
_NOT_COMPARED = re.compile(r"queue:|rq:workers|rq:clean_groups|rq:scheduler|rq:worker:[0-9a-f]{32}$")
_TIMES = {
    "created_at",
    "enqueued_at",
    "started_at",
    "ended_at",
    "last_heartbeat",
    "execution_started_at",
    "execution_ended_at",
}
_HEX_ID = re.compile(r"[0-9a-f]{32}")  # execution ids, worker names


def _about(seconds: float) -> float:
    # TTLs and registry scores: the same to within a bucket of 100 s (a 600 s TTL read 1 s later is 599).
    return seconds if seconds < 0 or math.isinf(seconds) else round(seconds, -2)


def _redis_dump(redis_conn) -> list[str]:
    """Every key RQ leaves, type, TTL and content, with ids, worker names and times made neutral."""
    task_ids = [str(task_id) for task_id in Task.objects.values_list("id", flat=True)]

    def plain(value) -> str:
        text = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
        for task_id in task_ids:
            text = text.replace(task_id, "<task>")
        return _HEX_ID.sub("<hex>", text)

    def field(name: bytes, value: bytes):
        name = name.decode()
        if name in _TIMES and value:
            return name, "<time>"
        if name == "data":
            return name, plain(zlib.decompress(value))
        if name in ("exc_info", "exc_string"):  # a traceback: its frames differ by worker class, not its error
            text = zlib.decompress(base64.b64decode(value) if name == "exc_string" else value).decode()
            return name, text.strip().splitlines()[-1]
        return name, plain(value)

    now = time.time()
    dump = []
    for key in redis_conn.keys("*"):
        name = key.decode()
        if _NOT_COMPARED.match(name):
            continue
        kind = redis_conn.type(key).decode()
        if kind == "hash":
            content = sorted(field(k, v) for k, v in redis_conn.hgetall(key).items())
        elif kind == "stream":
            content = [sorted(field(k, v) for k, v in fields.items()) for _, fields in redis_conn.xrange(key)]
        elif kind == "zset":
            content = sorted(
                (plain(member), _about(score - now) if not math.isinf(score) else score)
                for member, score in redis_conn.zrange(key, 0, -1, withscores=True)
            )
        elif kind == "set":
            content = sorted(plain(member) for member in redis_conn.smembers(key))
        elif kind == "list":
            content = [plain(member) for member in redis_conn.lrange(key, 0, -1)]
        else:
            content = plain(redis_conn.get(key))
        dump.append(repr((plain(name), kind, _about(redis_conn.ttl(key)), content)))
    return sorted(dump)


def _run_burst(processes, worker_class: str, **env: str) -> None:
    worker = processes.worker(burst=True, worker_class=worker_class, **env)
    assert worker.wait(timeout=120) == 0, processes.output(worker)


def assert_leaves_what_the_simple_worker_leaves(processes, redis_conn, worker_class: str, **env: str) -> None:
    """The same mix of tasks, run by the simple worker and by worker_class: the same rows and RQ data."""
    _enqueue_mix()
    _run_burst(processes, SIMPLE)
    simple = _snapshot(redis_conn)
    simple_keys = _redis_dump(redis_conn)
    Task.objects.all().delete()
    redis_conn.flushdb()

    _enqueue_mix()
    _run_burst(processes, worker_class, **env)
    other = _snapshot(redis_conn)
    other_keys = _redis_dump(redis_conn)

    assert other == simple
    assert [key for key in other_keys if key not in simple_keys] == []
    assert other_keys == simple_keys
    assert {row[0] for row in other} == {TaskStatus.COMPLETED, TaskStatus.FAILED}
    for name in transport.priority_queue_names("normal") + transport.priority_queue_names("high"):
        queue = transport.get_queue(name)
        assert StartedJobRegistry(queue.name, connection=redis_conn).count == 0
        assert queue.count == 0


def test_a_batch_leaves_rq_and_the_rows_as_the_simple_worker_does(processes, redis_conn):
    assert_leaves_what_the_simple_worker_leaves(processes, redis_conn, BATCH, WORKER_BATCH_SIZE="8")


def _started_jobs(redis_conn, start) -> list[str]:
    """What `start(worker, jobs)` leaves in Redis for 3 jobs of one queue (with failures and retries left)."""
    from queue_app.batch_worker import TaskBatchWorker

    Task.objects.all().delete()
    redis_conn.flushdb()
    tasks = services.task_enqueue_many(
        requests=[services.EnqueueRequest(task_type="noop", max_retries=retries) for retries in (0, 2, 3)]
    )
    worker = TaskBatchWorker(["normal"], connection=redis_conn)
    start(worker, [Job.fetch(str(task.id), connection=redis_conn) for task in tasks])
    return _redis_dump(redis_conn)


@pytest.mark.django_db(transaction=True)
def test_a_batch_starts_its_jobs_in_redis_as_rq_starts_each(redis_conn):
    from rq.executions import Execution

    def rq_start(worker, jobs):  # SimpleWorker.prepare_execution and prepare_job_execution, per job
        with redis_conn.pipeline() as pipe:
            for job in jobs:
                Execution.create(job, worker.get_heartbeat_ttl(job), pipeline=pipe, worker_name=worker.name)
                job.prepare_for_execution(worker.name, pipeline=pipe)
                pipe.persist(job.key)
            pipe.execute()

    rq = _started_jobs(redis_conn, rq_start)
    batch = _started_jobs(redis_conn, lambda worker, jobs: worker._mark_started(jobs))
    assert any("rq:execution:" in key for key in rq) and any(":executions'" in key for key in rq)
    assert batch == rq


def _ended_jobs(redis_conn, end) -> list[str]:
    """What `end(worker, runs)` leaves for 3 started and finished jobs kept 500 s, forever and not at all."""
    from queue_app.batch_worker import TaskBatchWorker

    Task.objects.all().delete()
    redis_conn.flushdb()
    tasks = services.task_enqueue_many(requests=[services.EnqueueRequest(task_type="noop") for _ in range(3)])
    for task, result_ttl in zip(tasks, (500, -1, 0), strict=True):
        redis_conn.hset(Job.key_for(str(task.id)), "result_ttl", result_ttl)
    worker = TaskBatchWorker(["normal"], connection=redis_conn)
    runs = worker._mark_started([Job.fetch(str(task.id), connection=redis_conn) for task in tasks])
    for run in runs:
        worker._finished(run.job, {"ok": True, "attempt": 1})
    end(worker, runs)
    return _redis_dump(redis_conn)


@pytest.mark.django_db(transaction=True)
def test_a_batch_ends_its_jobs_in_redis_as_rq_ends_each(redis_conn):
    def rq_end(worker, runs):  # what SimpleWorker.handle_job_success writes per job
        with redis_conn.pipeline() as pipe:
            for run in runs:
                job, execution = run.job, run.execution
                result_ttl = job.get_result_ttl(worker.default_result_ttl)
                if result_ttl != 0:
                    job._handle_success(
                        result_ttl,
                        pipeline=pipe,
                        worker_name=worker.name,
                        execution_id=execution.id,
                        execution_started_at=execution.created_at,
                        execution_ended_at=job.ended_at,
                    )
                job.cleanup(result_ttl, pipeline=pipe, remove_from_queue=False)
                worker.cleanup_execution(job, pipe, execution)
            pipe.execute()

    rq = _ended_jobs(redis_conn, rq_end)
    batch = _ended_jobs(redis_conn, lambda worker, runs: worker._write_ends(runs, idle=False))
    assert any("rq:finished:" in key and "inf" in key for key in rq)  # the job kept forever
    assert sum("'rq:job:<task>'" in key for key in rq) == 2  # the job not kept is gone
    assert batch == rq


def test_a_batch_is_taken_from_the_highest_priority_in_one_go(processes):
    tasks = services.task_enqueue_many(
        requests=[services.EnqueueRequest(task_type="noop", priority="low") for _ in range(6)]
        + [services.EnqueueRequest(task_type="noop", priority="critical") for _ in range(3)]
    )
    _run_burst(processes, BATCH, WORKER_BATCH_SIZE="32")
    for task in tasks:
        task.refresh_from_db()
    critical = [task for task in tasks if task.priority == "critical"]
    low = [task for task in tasks if task.priority == "low"]
    assert {task.status for task in tasks} == {TaskStatus.COMPLETED}
    # One statement started each batch: one start time per batch, critical first.
    assert len({task.started_at for task in critical}) == 1
    assert len({task.started_at for task in low}) == 1
    assert critical[0].started_at < low[0].started_at


def test_a_critical_task_enqueued_during_a_batch_starts_before_the_next_lower_batch(processes):
    low = services.task_enqueue_many(
        requests=[
            services.EnqueueRequest(task_type="noop", priority="low", payload={"sleep_ms": 150}) for _ in range(16)
        ]
    )
    processes.worker(worker_class=BATCH, WORKER_BATCH_SIZE="4")
    wait_for(lambda: Task.objects.filter(status=TaskStatus.PROCESSING).exists(), timeout=60, message="first batch")
    critical = services.task_enqueue(task_type="noop", priority="critical")
    wait_for(_all_final(17), timeout=60, message="every task done")
    critical.refresh_from_db()
    before = [task for task in Task.objects.filter(id__in=[t.id for t in low]) if task.started_at < critical.started_at]
    after = Task.objects.filter(id__in=[t.id for t in low], started_at__gt=critical.started_at).count()
    # Whole batches of 4 ran before it (the one running when it came, perhaps the next), none started after it
    # would have been taken before it.
    assert len(before) % 4 == 0 and len(before) <= 8
    assert after == 16 - len(before) >= 8
    assert {task.status for task in Task.objects.all()} == {TaskStatus.COMPLETED}


def test_an_idle_batch_worker_takes_a_single_task_at_once(processes):
    from queue_app.models import WorkerProcess

    processes.worker(worker_class=BATCH, WORKER_BATCH_SIZE="32")
    wait_for(WorkerProcess.objects.exists, timeout=60, message="worker registered")
    task = services.task_enqueue(task_type="noop")
    wait_for(lambda: _status(task) == TaskStatus.COMPLETED, timeout=30, message="single task completed")
    assert task.result == {"ok": True, "attempt": 1}


def test_retries_failures_and_timeouts_inside_a_batch_behave_as_in_the_simple_worker(processes):
    retried = services.task_enqueue(task_type="noop", payload={"fail_times": 1}, max_retries=2)
    failed = services.task_enqueue(task_type="noop", payload={"fail_times": 5}, max_retries=0)
    timed_out = services.task_enqueue(task_type="noop", payload={"sleep_ms": 10_000}, timeout=1, max_retries=0)
    fine = [services.task_enqueue(task_type="noop") for _ in range(3)]
    processes.worker(worker_class=BATCH, WORKER_BATCH_SIZE="8")
    wait_for(_all_final(6), timeout=60, message="every task final")
    assert _status(retried) == TaskStatus.COMPLETED and retried.attempts == 2
    assert _status(failed) == TaskStatus.FAILED and failed.error_type == "RuntimeError" and failed.error_traceback
    assert _status(timed_out) == TaskStatus.FAILED and timed_out.error_type == "JobTimeoutException"
    assert {_status(task) for task in fine} == {TaskStatus.COMPLETED}
    job = Job.fetch(str(failed.id), connection=transport.get_connection())
    assert job.get_status() == "failed"


def test_cancel_skips_a_task_of_the_batch_not_run_yet_and_discards_a_running_ones_result(processes):
    running = services.task_enqueue(task_type="noop", payload={"sleep_ms": 1500})
    waiting = services.task_enqueue(task_type="noop", payload={"sleep_ms": 10})
    rest = [services.task_enqueue(task_type="noop") for _ in range(2)]
    processes.worker(worker_class=BATCH, WORKER_BATCH_SIZE="8")
    wait_for(lambda: _status(running) == TaskStatus.PROCESSING, timeout=60, message="batch started")
    assert _status(waiting) == TaskStatus.PROCESSING  # started with its batch
    services.task_cancel(task_id=waiting.id)
    services.task_cancel(task_id=running.id)
    wait_for(_all_final(4), timeout=30, message="every task final")
    for task in (running, waiting):
        assert _status(task) == TaskStatus.CANCELLED
        assert task.result is None
    assert {_status(task) for task in rest} == {TaskStatus.COMPLETED}
    job = Job.fetch(str(waiting.id), connection=transport.get_connection())
    wait_for(lambda: job.get_status(refresh=True) == "stopped", message="skipped job recorded stopped")


def test_kill_9_mid_batch_every_task_completes_once_within_60_seconds(processes, redis_conn):
    from tests.conftest import descendants, subprocess_env

    tasks = services.task_enqueue_many(
        requests=[services.EnqueueRequest(task_type="noop", payload={"sleep_ms": 200}) for _ in range(24)]
    )
    env = {"WORKER_BATCH_SIZE": "8", "RECONCILE_GRACE_SECONDS": "2", "RECONCILE_INTERVAL": "1"}
    victim = processes.worker(worker_class=BATCH, **env)
    processes.start("queue", "monitor", "--interval", "1", env=subprocess_env(**env), name="monitor")
    wait_for(
        lambda: Task.objects.filter(status=TaskStatus.COMPLETED).count() >= 2,
        timeout=60,
        message="the first batch half done",
    )
    for pid in [*descendants(victim.pid), victim.pid]:
        os.kill(pid, signal.SIGKILL)
    killed_at = timezone.now()
    # As if the victim had also popped the head of its next batch and died before starting it.
    queue_key = transport.get_queue(transport.queue_for(tasks[0])).key
    stranded = [job_id.decode() for job_id in redis_conn.lpop(queue_key, 2) or []]
    done_before = dict(Task.objects.filter(status=TaskStatus.COMPLETED).values_list("id", "finished_at"))
    assert Task.objects.filter(status=TaskStatus.PROCESSING).exists()
    processes.worker(worker_class=BATCH, **env)
    wait_for(_all_final(24), timeout=60, message="every task final after the sweep")
    assert (timezone.now() - killed_at).total_seconds() < 60
    assert set(Task.objects.values_list("status", flat=True)) == {TaskStatus.COMPLETED}
    for task_id, finished_at in done_before.items():  # completed before the kill: never run again
        task = Task.objects.get(id=task_id)
        assert task.finished_at == finished_at and task.attempts == 1
    for task_id in stranded:
        assert Task.objects.get(id=task_id).status == TaskStatus.COMPLETED
    assert max(Task.objects.values_list("attempts", flat=True)) <= 2


def test_a_pool_asks_for_batch_workers_with_a_third_field():
    import pytest
    from django.core.management.base import CommandError

    from queue_app.management.commands.run_workers import parse_pools, pool_batch

    spec = "discovery:1:batch, proposals+system:2:batch64, applications:1"
    assert [pool[:3] for pool in parse_pools(spec, 3)][1] == ("proposals+system", ["proposals", "system"], 2)
    assert pool_batch(spec) == {"discovery": None, "proposals+system": 64}
    with pytest.raises(CommandError, match="batch size"):
        pool_batch("discovery:1:batchX")


def test_run_workers_starts_batch_workers_for_a_batch_pool(processes):
    from queue_app.models import WorkerProcess

    processes.start("run_workers", "--pools", "all:1:batch8", "--grace", "1", name="run_workers")
    wait_for(WorkerProcess.objects.exists, timeout=60, message="a worker registered")
    tasks = services.task_enqueue_many(requests=[services.EnqueueRequest(task_type="noop") for _ in range(10)])
    wait_for(_all_final(10), timeout=60, message="tasks done")
    assert set(WorkerProcess.objects.values_list("worker_class", flat=True)) == {"TaskBatchWorker"}
    assert {_status(task) for task in tasks} == {TaskStatus.COMPLETED}
