"""Fault tests with real processes: dead workers, lost Redis data, Redis and PostgreSQL outages.

Each is bounded in time. Delivery is at-least-once; these tests check that nothing is lost and
that no task runs twice at the same time.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from queue_app import maintenance, services, transport
from queue_app.models import Task, TaskStatus, WorkerProcess
from tests.conftest import ROOT, subprocess_env, wait_for


def _status(task):
    task.refresh_from_db()
    return task.status


def test_kill_9_of_a_worker_and_its_horse_requeues_the_task_within_60_seconds(processes):
    """With default heartbeat settings: the crash sweep notices within WORKER_STALE_SECONDS + a cycle."""
    task = services.task_enqueue(task_type="noop", payload={"sleep_ms": 4000})
    victim = processes.worker()
    processes.start("queue", "monitor", "--interval", "1", name="monitor")
    wait_for(lambda: _status(task) == TaskStatus.PROCESSING, message="task started on the first worker")
    dead_worker = task.worker_name
    processes.worker()  # a second worker to take over
    # The worker and its work horse (RQ puts the horse in a process group of its own), no chance to report.
    for pid in [*_children(victim.pid), victim.pid]:
        os.kill(pid, signal.SIGKILL)
    wait_for(lambda: _status(task) == TaskStatus.COMPLETED, timeout=60, message="task completed on another worker")
    assert task.attempts == 2
    assert task.worker_name != dead_worker


def test_a_killed_work_horse_is_recorded_by_its_worker_and_retried(processes):
    task = services.task_enqueue(task_type="noop", payload={"sleep_ms": 3000}, max_retries=2)
    processes.worker()
    wait_for(lambda: _status(task) == TaskStatus.PROCESSING, message="task started")
    # The parent writes the start just before it forks. Its children are the horse and, when
    # this worker holds the scheduler lock, RQ's scheduler process; the horse leads a process
    # group of its own (RQ calls setpgrp in it).
    horse = wait_for(lambda: _group_leaders(_children(processes.procs[0].pid)), message="work horse forked")[0]
    os.kill(horse, signal.SIGKILL)
    wait_for(lambda: _status(task) == TaskStatus.COMPLETED, timeout=30, message="retried after the horse died")
    assert task.attempts == 2


def _group_leaders(pids: list[int]) -> list[int]:
    leaders = []
    for pid in pids:
        try:
            group = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[2])
        except (OSError, IndexError):
            continue
        if group == pid:
            leaders.append(pid)
    return leaders


def _children(pid: int) -> list[int]:
    """Direct children of a process, read from /proc."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def test_flushing_redis_loses_nothing_reconcile_delivers_every_task(processes, redis_conn):
    tasks = [services.task_enqueue(task_type="noop") for _ in range(20)]
    tasks.append(services.task_enqueue(task_type="noop", delay=2))
    redis_conn.flushdb()  # Redis restarted empty / flushed / failed over without replication
    assert transport.missing_jobs([str(task.id) for task in tasks]) == [str(task.id) for task in tasks]
    # A grace of a few seconds: with none, a task between its start write and RQ marking its job
    # started would look like a lost start (job queued, in no queue list) and run twice.
    env = subprocess_env(RECONCILE_GRACE_SECONDS="2", RECONCILE_INTERVAL="1")
    processes.start("queue", "monitor", "--interval", "1", env=env, name="monitor")
    processes.worker()
    wait_for(
        lambda: Task.objects.filter(status=TaskStatus.COMPLETED).count() == len(tasks),
        timeout=60,
        message="every task completed after reconcile",
    )
    assert set(Task.objects.values_list("attempts", flat=True)) == {1}


@pytest.mark.django_db(transaction=True)
def test_queue_reconcile_verb_redelivers_missing_jobs(redis_conn, settings):
    settings.RECONCILE_GRACE_SECONDS = 0
    task = services.task_enqueue(task_type="noop")
    redis_conn.flushdb()
    from io import StringIO

    out = StringIO()
    call_command("queue", "reconcile", stdout=out)
    assert "Re-delivered 1 task(s)" in out.getvalue()
    assert str(task.id) in transport.get_queue("system.normal").job_ids
    out = StringIO()
    call_command("queue", "reconcile", stdout=out)
    assert "Re-delivered 0 task(s)" in out.getvalue()  # nothing missing any more


def test_a_duplicate_delivery_never_runs_a_task_twice_at_the_same_time(processes):
    task = services.task_enqueue(task_type="noop", payload={"sleep_ms": 3000})
    processes.worker()
    wait_for(lambda: _status(task) == TaskStatus.PROCESSING, message="task started")
    transport.push([task])  # a second delivery, as a reconcile racing a slow push could make
    processes.worker()
    follow_up = services.task_enqueue(task_type="noop", priority="low")
    wait_for(lambda: _status(follow_up) == TaskStatus.COMPLETED, message="second worker past the duplicate")
    wait_for(lambda: _status(task) == TaskStatus.COMPLETED, message="task completed once")
    assert task.attempts == 1


@pytest.mark.django_db(transaction=True)
def test_reconcile_leaves_processing_and_fresh_rows_alone(redis_conn, settings):
    settings.RECONCILE_GRACE_SECONDS = 60
    fresh = services.task_enqueue(task_type="noop")
    running = services.task_enqueue(task_type="noop", idempotency_key="running")
    Task.objects.filter(id=running.id).update(status=TaskStatus.PROCESSING)
    redis_conn.flushdb()
    assert maintenance.tasks_reconcile() == []
    settings.RECONCILE_GRACE_SECONDS = 0
    assert maintenance.tasks_reconcile() == [str(fresh.id)]


@pytest.mark.django_db(transaction=True)
def test_crash_sweep_trusts_postgres_heartbeats_not_redis(redis_conn, settings):
    """A live worker's task is left alone even when Redis was flushed; a dead worker's is re-queued."""
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    long_ago = now - timedelta(minutes=5)
    WorkerProcess.objects.create(name="alive", host="h", pid=1, started_at=long_ago, last_heartbeat=now)
    WorkerProcess.objects.create(name="dead", host="h", pid=2, started_at=long_ago, last_heartbeat=long_ago)
    alive_task = services.task_enqueue(task_type="noop")
    dead_task = services.task_enqueue(task_type="noop", max_retries=1)
    spent_task = services.task_enqueue(task_type="noop", max_retries=0)
    Task.objects.filter(id=alive_task.id).update(
        status="processing", worker_name="alive", started_at=long_ago, attempts=1
    )
    Task.objects.filter(id__in=[dead_task.id, spent_task.id]).update(
        status="processing", worker_name="dead", started_at=long_ago, attempts=1
    )
    redis_conn.flushdb()
    assert maintenance.tasks_recover_crashed() == [str(dead_task.id)]
    assert _status(alive_task) == TaskStatus.PROCESSING
    assert _status(dead_task) == TaskStatus.QUEUED
    assert dead_task.error_type == "WorkerLost"
    assert str(dead_task.id) in transport.get_queue("system.normal").job_ids
    assert _status(spent_task) == TaskStatus.FAILED


REDIS_SERVER = shutil.which("redis-server")


@pytest.mark.skipif(REDIS_SERVER is None, reason="needs redis-server on PATH")
def test_a_30_second_redis_outage_loses_nothing(processes, tmp_path, settings):
    """A private Redis on its own port, so the outage touches nothing else on the machine."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"redis://127.0.0.1:{port}/0"

    def start_redis():
        subprocess.run(
            [
                REDIS_SERVER,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "yes",
                "--dir",
                str(tmp_path),
                "--pidfile",
                str(tmp_path / "redis.pid"),
            ],
            check=True,
        )
        wait_for(lambda: subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).returncode == 0)

    def stop_redis():
        subprocess.run(["redis-cli", "-p", str(port), "shutdown", "nosave"], capture_output=True, check=False)
        wait_for(lambda: subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).returncode != 0)

    start_redis()
    try:
        settings.RQ_QUEUES = {name: {"URL": url} for name in settings.RQ_QUEUES}
        env = subprocess_env(TEST_REDIS_URL=url, RECONCILE_GRACE_SECONDS="1", RECONCILE_INTERVAL="1")
        processes.start("rqworker", *settings.TASK_PRIORITIES, "--with-scheduler", env=env, name="worker")
        processes.start("queue", "monitor", "--interval", "1", env=env, name="monitor")
        before = services.task_enqueue(task_type="noop")
        wait_for(lambda: _status(before) == TaskStatus.COMPLETED, message="task before the outage")

        stop_redis()
        during = services.task_enqueue(task_type="noop")  # accepted into PostgreSQL all the same
        assert _status(during) == TaskStatus.PENDING
        import time

        outage_end = time.monotonic() + 30
        wait_for(lambda: time.monotonic() > outage_end, timeout=35, interval=1, message="30 s outage")
        assert all(proc.poll() is None for proc in processes.procs), "a process died during the outage"
        start_redis()

        wait_for(lambda: _status(during) == TaskStatus.COMPLETED, timeout=30, message="pending task delivered")
        after = services.task_enqueue(task_type="noop")
        wait_for(lambda: _status(after) == TaskStatus.COMPLETED, timeout=30, message="worker reconnected")
        delayed = services.task_enqueue(task_type="noop", delay=1)
        wait_for(lambda: _status(delayed) == TaskStatus.COMPLETED, timeout=30, message="RQ scheduler back too")
        assert all(proc.poll() is None for proc in processes.procs)
    finally:
        stop_redis()


@pytest.fixture
def private_postgres():
    """A PostgreSQL cluster of this test's own (initdb + pg_ctl on a free port), with the test database's schema."""
    from tests.services import PrivatePostgres

    try:
        cluster = PrivatePostgres.create().start()
    except RuntimeError as error:
        pytest.skip(f"cannot start a private PostgreSQL cluster: {error}")
    try:
        dump = subprocess.run(
            [str(cluster.bindir / "pg_dump"), "--schema-only", "--no-owner", subprocess_env()["DATABASE_URL"]],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        subprocess.run([str(cluster.bindir / "createdb"), "-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres",
                        "faults"], check=True)  # fmt: skip
        subprocess.run([str(cluster.bindir / "psql"), "-q", "-v", "ON_ERROR_STOP=1", cluster.url("faults")],
                       input=dump.stdout, check=True, capture_output=True, text=True)  # fmt: skip
        yield cluster
    finally:
        cluster.destroy()


def _statuses(url: str) -> dict[str, int]:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            rows = conn.execute(f"SELECT status, count(*) FROM {Task._meta.db_table} GROUP BY status")  # noqa: S608
            return dict(rows.fetchall())
    except psycopg.OperationalError:
        return {}


def _postmaster_start_time():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_postmaster_start_time()")
        return cursor.fetchone()[0]


def test_restarting_postgresql_mid_run_fails_no_task(processes, private_postgres):
    """The restart happens to a cluster this test started: the machine's own PostgreSQL is never touched."""
    shared_started = _postmaster_start_time()
    url = private_postgres.url("faults")
    enqueue = (
        "from queue_app import services\n"
        "for _ in range(40): services.task_enqueue(task_type='noop', payload={'sleep_ms': 100})"
    )
    subprocess.run([sys.executable, "manage.py", "shell", "-c", enqueue], cwd=ROOT,
                   env=subprocess_env(DATABASE_URL=url), check=True, capture_output=True)  # fmt: skip
    assert _statuses(url) == {TaskStatus.QUEUED: 40}

    processes.worker(DATABASE_URL=url)
    wait_for(lambda: _statuses(url).get(TaskStatus.COMPLETED, 0) >= 5, message="some tasks completed first")
    private_postgres.restart()

    wait_for(lambda: _statuses(url) == {TaskStatus.COMPLETED: 40}, timeout=90, interval=0.5,
             message="every task completed after the restart, none failed")  # fmt: skip
    assert all(proc.poll() is None for proc in processes.procs), "the worker died"
    assert _postmaster_start_time() == shared_started, "the machine's PostgreSQL was restarted"
