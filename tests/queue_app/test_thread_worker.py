"""TaskThreadWorker with real worker processes: concurrency, limits, timeouts, cancel, recycle, connections."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from django.db import connection
from rq import Worker as RQWorker
from rq.job import Job as RQJob
from rq.registry import FinishedJobRegistry, StartedJobRegistry

from queue_app import registry, services, transport
from queue_app.models import Task, TaskStatus, WorkerProcess
from queue_app.thread_worker import RECYCLE_EXIT_CODE, TaskThreadWorker
from tests.conftest import descendants, wait_for
from tests.queue_app.test_batch_worker import assert_leaves_what_the_simple_worker_leaves

FAMILY = "test_io"
FAMILY_CONCURRENCY = 2


def _barrier(payload: dict, context: registry.TaskContext) -> dict:
    """Returns once `parties` runs of this key have arrived: only runs that overlap in time can pass."""
    conn = transport.get_connection()
    arrived = conn.incr(f"test:barrier:{payload['key']}")
    deadline = time.monotonic() + payload.get("wait_s", 30)
    while int(conn.get(f"test:barrier:{payload['key']}")) < payload["parties"]:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {arrived} of {payload['parties']} runs arrived at the barrier")
        time.sleep(0.01)
    return {"arrived": arrived}


def _counted(payload: dict, context: registry.TaskContext) -> dict:
    """Records how many runs of the family are on at once (a Redis counter), then waits a while."""
    conn = transport.get_connection()
    running = conn.incr("test:running")
    conn.rpush("test:seen", running)
    try:
        time.sleep(payload.get("sleep_ms", 300) / 1000)
    finally:
        conn.decr("test:running")
    return {"running": running}


def _noted(payload: dict, context: registry.TaskContext) -> dict:
    """Notes each run in Redis, then returns."""
    transport.get_connection().rpush("test:runs", str(context.task_id))
    return {"noted": True}


# Registered on import: in this test process, and in the workers that load the class below.
registry.register("test_barrier", _barrier)
registry.register("test_noted", _noted)
registry.register_family(FAMILY, limits=registry.Limits(concurrency=FAMILY_CONCURRENCY))
registry.register("test_counted", _counted, family=FAMILY)


class RegisteringThreadWorker(TaskThreadWorker):
    """The thread worker; importing this module registered the test task types and family in it."""


class UnrecordingThreadWorker(RegisteringThreadWorker):
    """Its recorder holds the ends it is handed for an hour: a kill -9 finds them run but not recorded."""

    RECORD_SECONDS = 3600


class ShortLivedRegistryThreadWorker(RegisteringThreadWorker):
    """RQ keeps an execution in its started registry for job_monitoring_interval + 60 s: + 2 s here."""

    def get_heartbeat_ttl(self, job, working_time: float = 0.0) -> int:
        return int(min(job.timeout or 2, self.job_monitoring_interval)) + 2


WORKER_CLASS = f"{__name__}.RegisteringThreadWorker"


def _reload(task: Task) -> Task:
    task.refresh_from_db()
    return task


def _all(ids, status) -> bool:
    return Task.objects.filter(id__in=ids, status=status).count() == len(ids)


def test_one_thread_worker_runs_tasks_at_the_same_time_and_rq_sees_each_run(processes, redis_conn):
    tasks = [services.task_enqueue(task_type="test_barrier", payload={"key": "eight", "parties": 8}) for _ in range(8)]
    processes.worker(worker_class=WORKER_CLASS, WORKER_THREADS="8")
    ids = [task.id for task in tasks]
    wait_for(lambda: _all(ids, TaskStatus.COMPLETED), timeout=60, message="8 runs met at the barrier")
    assert set(Task.objects.filter(id__in=ids).values_list("attempts", flat=True)) == {1}
    # RQ's data is as if one-by-one workers had run them: finished jobs, none left started. (RQ
    # records a job's end right after the row's, as in the simple worker.)
    jobs = [RQJob.fetch(str(task.id), connection=redis_conn) for task in tasks]
    wait_for(lambda: {job.get_status(refresh=True) for job in jobs} == {"finished"}, message="RQ jobs finished")
    queue = transport.get_queue(registry.queue_name("system", "normal"))
    assert StartedJobRegistry(queue=queue).get_job_ids() == []
    assert sorted(FinishedJobRegistry(queue=queue).get_job_ids()) == sorted(str(i) for i in ids)
    row = wait_for(lambda: WorkerProcess.objects.filter(worker_class="RegisteringThreadWorker").first())
    assert row.stopped_at is None
    # `rq info` sees the worker, idle again once its last run ended.
    wait_for(lambda: [w.get_state() for w in RQWorker.all(connection=redis_conn)] == ["idle"], message="idle")


def test_a_family_limit_holds_across_two_thread_workers(processes, redis_conn):
    processes.worker(worker_class=WORKER_CLASS, WORKER_THREADS="4", LIMIT_RETRY_SECONDS="0.2")
    processes.worker(worker_class=WORKER_CLASS, WORKER_THREADS="4", LIMIT_RETRY_SECONDS="0.2")
    registered = WorkerProcess.objects.filter(worker_class="RegisteringThreadWorker", stopped_at__isnull=True)
    wait_for(lambda: registered.count() == 2, timeout=30, message="both workers up")
    tasks = [services.task_enqueue(task_type="test_counted", payload={"sleep_ms": 300}) for _ in range(16)]
    ids = [task.id for task in tasks]
    wait_for(lambda: _all(ids, TaskStatus.COMPLETED), timeout=90, message="every counted task completed")
    seen = [int(value) for value in redis_conn.lrange("test:seen", 0, -1)]
    assert len(seen) == 16
    assert max(seen) <= FAMILY_CONCURRENCY
    workers = set(Task.objects.filter(id__in=ids).values_list("worker_name", flat=True))
    assert len(workers) == 2  # both processes took part


def test_a_timeout_fails_the_task_at_its_deadline_and_discards_the_late_result(processes, redis_conn):
    task = services.task_enqueue(task_type="noop", payload={"sleep_ms": 5000}, timeout=1, max_retries=0)
    worker = processes.worker(worker_class=WORKER_CLASS, WORKER_THREADS="4")
    wait_for(lambda: _reload(task).status == TaskStatus.FAILED, timeout=20, message="failed at its deadline")
    assert task.error_type == "JobTimeoutException"
    assert "result discarded" not in processes.output(worker)  # recorded before the handler returned
    assert RQJob.fetch(str(task.id), connection=redis_conn).get_status() == "failed"
    wait_for(lambda: "result discarded" in processes.output(worker), timeout=20, message="the late result came")
    assert _reload(task).status == TaskStatus.FAILED
    assert task.result is None
    assert task.attempts == 1
    after = services.task_enqueue(task_type="noop")  # the worker still serves
    wait_for(lambda: _reload(after).status == TaskStatus.COMPLETED, message="worker still serving")


def test_cancelling_a_running_task_stops_it_in_rq_and_discards_its_result(processes, redis_conn):
    task = services.task_enqueue(task_type="noop", payload={"sleep_ms": 3000})
    worker = processes.worker(worker_class=WORKER_CLASS, WORKER_THREADS="4")
    wait_for(lambda: _reload(task).status == TaskStatus.PROCESSING, message="task started")
    services.task_cancel(task_id=task.id)
    job = RQJob.fetch(str(task.id), connection=redis_conn)
    wait_for(lambda: job.get_status(refresh=True) == "stopped", message="RQ job stopped")
    wait_for(lambda: "result discarded" in processes.output(worker), timeout=20, message="the handler returned")
    assert _reload(task).status == TaskStatus.CANCELLED
    assert task.result is None


def test_a_worker_with_a_stuck_thread_finishes_the_others_and_recycles_itself(processes):
    stuck = services.task_enqueue(task_type="noop", payload={"sleep_ms": 30000}, timeout=1, max_retries=0)
    other = services.task_enqueue(task_type="noop", payload={"sleep_ms": 4000})
    worker = processes.worker(worker_class=WORKER_CLASS, WORKER_THREADS="4", WORKER_THREAD_STUCK_SECONDS="1")
    wait_for(lambda: _reload(other).status == TaskStatus.PROCESSING, message="both started")
    wait_for(lambda: worker.poll() is not None, timeout=30, message="the worker exited")
    assert worker.returncode == RECYCLE_EXIT_CODE
    assert "stuck" in processes.output(worker)
    assert _reload(stuck).status == TaskStatus.FAILED
    assert stuck.error_type == "JobTimeoutException"
    assert _reload(other).status == TaskStatus.COMPLETED  # finished before the worker left
    assert other.attempts == 1
    row = WorkerProcess.objects.get(worker_class="RegisteringThreadWorker")
    assert row.stopped_at is not None


def _backends() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def test_each_thread_has_one_connection_and_none_is_left_open(processes):
    baseline = _backends()
    tasks = [services.task_enqueue(task_type="noop", payload={"sleep_ms": 100}) for _ in range(40)]
    worker = processes.worker(worker_class=WORKER_CLASS, WORKER_THREADS="4")
    ids = [task.id for task in tasks]
    most = 0
    deadline = time.monotonic() + 60
    while not _all(ids, TaskStatus.COMPLETED):
        most = max(most, _backends() - baseline)
        if time.monotonic() > deadline:
            pytest.fail("the 40 tasks did not complete within 60 s")
        time.sleep(0.02)
    # One lifecycle connection per pool thread, and the main thread's (heartbeats).
    assert 2 <= most <= 4 + 1
    worker.send_signal(signal.SIGTERM)  # warm stop: the pool threads close their connections and exit
    wait_for(lambda: worker.poll() is not None, message="the worker stopped")
    assert worker.returncode == 0
    wait_for(lambda: _backends() <= baseline, message="no connection left behind")


def test_run_workers_starts_thread_workers_for_a_pool_with_threads(processes):
    from queue_app.management.commands.run_workers import pool_threads

    assert pool_threads("system:1:threads8,discovery:2", 0) == {"system": 8, "discovery": 0}
    assert pool_threads("system:1:threads", 0) == {"system": 16}
    assert pool_threads("", 4) == {"all": 4}
    supervisor = processes.start("run_workers", "--pools", "system:1:threads8", name="run_workers")
    row = wait_for(
        lambda: WorkerProcess.objects.filter(worker_class="TaskThreadWorker", stopped_at__isnull=True).first(),
        timeout=30,
        message="a thread worker registered",
    )
    tasks = [services.task_enqueue(task_type="noop", payload={"sleep_ms": 50}) for _ in range(5)]
    wait_for(lambda: _all([t.id for t in tasks], TaskStatus.COMPLETED), timeout=30, message="pool served")
    assert set(Task.objects.filter(id__in=[t.id for t in tasks]).values_list("worker_name", flat=True)) == {row.name}
    os.kill(supervisor.pid, signal.SIGTERM)
    wait_for(lambda: supervisor.poll() is not None, timeout=60, message="run_workers stopped")


def test_a_warm_stop_lets_every_run_finish_and_a_cold_stop_puts_them_back(processes):
    warm = [services.task_enqueue(task_type="noop", payload={"sleep_ms": 2000}) for _ in range(4)]
    worker = processes.worker(worker_class=WORKER_CLASS, WORKER_THREADS="4")
    wait_for(lambda: _all([t.id for t in warm], TaskStatus.PROCESSING), message="4 runs on")
    worker.send_signal(signal.SIGTERM)
    wait_for(lambda: worker.poll() is not None, message="the worker stopped after its runs")
    assert _all([t.id for t in warm], TaskStatus.COMPLETED)
    assert set(Task.objects.filter(id__in=[t.id for t in warm]).values_list("attempts", flat=True)) == {1}

    cold = [services.task_enqueue(task_type="noop", payload={"sleep_ms": 20000}) for _ in range(3)]
    worker = processes.worker(worker_class=WORKER_CLASS, WORKER_THREADS="4")
    wait_for(lambda: _all([t.id for t in cold], TaskStatus.PROCESSING), message="3 long runs on")
    worker.send_signal(signal.SIGTERM)
    time.sleep(1.5)  # RQ takes a second signal within 1 s of the first for the same one
    worker.send_signal(signal.SIGTERM)
    wait_for(lambda: worker.poll() is not None, message="the worker stopped at once")
    rows = Task.objects.filter(id__in=[t.id for t in cold])
    assert {row.status for row in rows} == {TaskStatus.QUEUED}  # back in the queue as new attempts
    assert {row.error_type for row in rows} == {"WorkerShutdown"}
    assert all(str(t.id) in transport.get_queue(registry.queue_name("system", "normal")).job_ids for t in cold)


def test_a_thread_worker_leaves_rq_and_the_rows_as_the_simple_worker_does(processes, redis_conn):
    """Starts and ends written many at a time (start_many, the recorder) leave what one-by-one runs leave."""
    assert_leaves_what_the_simple_worker_leaves(processes, redis_conn, WORKER_CLASS, WORKER_THREADS="8")


def test_higher_priority_tasks_are_taken_first(processes):
    normal = [services.task_enqueue(task_type="noop", payload={"sleep_ms": 200}) for _ in range(4)]
    high = [services.task_enqueue(task_type="noop", payload={"sleep_ms": 200}, priority="high") for _ in range(4)]
    processes.worker(worker_class=WORKER_CLASS, WORKER_THREADS="2")
    ids = [task.id for task in normal + high]
    wait_for(lambda: _all(ids, TaskStatus.COMPLETED), timeout=60, message="all completed")
    started = dict(Task.objects.filter(id__in=ids).values_list("id", "started_at"))
    assert max(started[task.id] for task in high) <= min(started[task.id] for task in normal)


def test_a_kill_9_between_a_run_and_its_recorded_end_redelivers_the_task(processes, redis_conn):
    tasks = [services.task_enqueue(task_type="test_noted") for _ in range(6)]
    ids = [task.id for task in tasks]
    victim = processes.worker(worker_class=f"{__name__}.UnrecordingThreadWorker", name="victim", WORKER_THREADS="4")
    wait_for(lambda: redis_conn.llen("test:runs") == 6, timeout=30, message="every handler returned")
    assert _all(ids, TaskStatus.PROCESSING)  # run, but no end recorded yet
    for pid in [*descendants(victim.pid), victim.pid]:
        os.kill(pid, signal.SIGKILL)
    processes.start("queue", "monitor", "--interval", "1", name="monitor")
    processes.worker(worker_class=WORKER_CLASS, name="survivor", WORKER_THREADS="4")
    wait_for(lambda: _all(ids, TaskStatus.COMPLETED), timeout=90, message="re-delivered and completed")
    rows = Task.objects.filter(id__in=ids)
    assert {(row.worker_name, row.attempts) for row in rows} == {("survivor", 2)}
    runs = [value.decode() for value in redis_conn.lrange("test:runs", 0, -1)]
    assert sorted(runs) == sorted(str(i) for i in ids * 2)  # each ran once more, not more


@pytest.mark.django_db(transaction=True, databases="__all__")  # the recorder writes on its task_state connection
def test_the_recorder_writes_ends_an_outage_refused_once_the_outage_is_over(redis_conn, monkeypatch):
    from types import SimpleNamespace

    import redis
    from django.db import OperationalError
    from django.utils import timezone
    from model_bakery import baker

    from queue_app import lifecycle

    worker = TaskThreadWorker(["normal"], connection=transport.get_connection())
    task = baker.make(Task, task_type="noop", payload={}, status=TaskStatus.PROCESSING, worker_name=worker.name)
    outage = {"postgresql": 1, "redis": True}  # PostgreSQL refuses once; Redis until it is back
    written = []
    complete_many = lifecycle.complete_many

    def flaky_complete_many(rows, **kwargs):
        if outage["postgresql"]:
            outage["postgresql"] -= 1
            raise OperationalError("the server closed the connection")
        complete_many(rows, **kwargs)

    def flaky_write_ends(runs, *, idle):
        if outage["redis"]:
            raise redis.ConnectionError("Connection refused")
        written.extend(runs)

    monkeypatch.setattr(lifecycle, "complete_many", flaky_complete_many)
    monkeypatch.setattr(worker, "_write_ends", flaky_write_ends)

    def start_recorder() -> threading.Thread:
        recorder = threading.Thread(target=worker._record_runs)
        recorder.start()
        return recorder

    def stop(recorder: threading.Thread) -> None:
        worker._ended.put(None)
        recorder.join(10)
        assert not recorder.is_alive()

    run = SimpleNamespace(outcome=(str(task.id), '{"ok": true}', timezone.now(), 0.1), job=None, execution=None)
    recorder = start_recorder()
    worker._ended.put(run)
    wait_for(lambda: _reload(task).status == TaskStatus.COMPLETED, timeout=10, message="the row's end written")
    assert task.result == {"ok": True}
    stop(recorder)  # RQ's loop ends during the Redis outage: the recorder stops with RQ's end unwritten
    assert written == []
    outage["redis"] = False
    recorder = start_recorder()  # RQ's loop re-entered once Redis is back
    wait_for(lambda: written == [run], timeout=10, message="RQ's end written by the next recorder")
    stop(recorder)
    assert written == [run]


def _held(payload: dict, context: registry.TaskContext) -> dict:
    """Runs until the test sets test:go (or 60 s)."""
    conn = transport.get_connection()
    conn.rpush("test:runs", str(context.task_id))
    deadline = time.monotonic() + 60
    while not conn.get("test:go") and time.monotonic() < deadline:
        time.sleep(0.02)
    return {"held": True}


registry.register("test_held", _held)


def test_a_run_longer_than_the_started_registry_ttl_is_not_taken_for_abandoned(processes, redis_conn):
    """The monitor refreshes the runs' executions: RQ's registry cleanup leaves a long run alone."""
    task = services.task_enqueue(task_type="test_held")
    processes.worker(
        worker_class=f"{__name__}.ShortLivedRegistryThreadWorker", WORKER_THREADS="2", WORKER_HEARTBEAT_SECONDS="1"
    )
    wait_for(lambda: redis_conn.llen("test:runs") == 1, timeout=30, message="the run started")
    job = RQJob.fetch(str(task.id), connection=redis_conn)
    started = StartedJobRegistry(job.origin, connection=redis_conn)
    first_expiry = wait_for(lambda: started.connection.zrange(started.key, 0, -1, withscores=True), timeout=10)[0][1]
    wait_for(lambda: time.time() > first_expiry + 1, timeout=30, message="the run outlived its first registry entry")
    started.cleanup()  # what any worker's maintenance or a listing of the registry does
    assert job.get_status(refresh=True) == "started"
    assert started.get_job_ids(cleanup=True) == [str(task.id)]
    redis_conn.set("test:go", 1)
    wait_for(lambda: _reload(task).status == TaskStatus.COMPLETED, timeout=30, message="the run completed")
    assert _reload(task).attempts == 1
    assert redis_conn.lrange("test:runs", 0, -1) == [str(task.id).encode()]  # it ran once
    assert job.get_status(refresh=True) == "finished"
