"""Known data for the monitoring tests: task rows at chosen times, registered RQ workers, scheduler beat."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone
from model_bakery import baker
from rq import Worker

from queue_app.health import SCHEDULER_HEARTBEAT_KEY
from queue_app.models import Task


def finished_task(
    *,
    task_type: str = "noop",
    status: str = "completed",
    finished_at: datetime,
    duration: float | None = 1.0,
    attempts: int = 1,
    worker_name: str = "",
    priority: str = "normal",
) -> Task:
    started_at = finished_at - timedelta(seconds=duration or 0)
    task = baker.make(
        Task,
        task_type=task_type,
        status=status,
        priority=priority,
        finished_at=finished_at,
        started_at=started_at,
        enqueued_at=started_at - timedelta(seconds=1),
        duration=duration,
        attempts=attempts,
        worker_name=worker_name,
    )
    # created_at is auto_now_add: set it afterwards, before the enqueue.
    Task.objects.filter(id=task.id).update(created_at=started_at - timedelta(seconds=1))
    return task


def waiting_task(
    *,
    task_type: str = "noop",
    status: str = "queued",
    since: datetime,
    priority: str = "normal",
    run_at: datetime | None = None,
) -> Task:
    task = baker.make(Task, task_type=task_type, status=status, priority=priority, enqueued_at=since, run_at=run_at)
    Task.objects.filter(id=task.id).update(created_at=since)
    return task


def register_worker(conn, name: str, *, heartbeat_age: float = 0.0) -> Worker:
    """A real RQ worker registration in Redis (what a running rqworker writes), with a chosen heartbeat."""
    worker = Worker(["critical", "high", "normal", "low"], connection=conn, name=name)
    worker.register_birth()
    beat = timezone.now() - timedelta(seconds=heartbeat_age)
    conn.hset(worker.key, "last_heartbeat", beat.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    return worker


def scheduler_beat(conn) -> None:
    conn.set(SCHEDULER_HEARTBEAT_KEY, timezone.now().isoformat(), ex=180)


def healthy_services(conn) -> None:
    """A live worker with a fresh heartbeat and a running scheduler: no infrastructure alert."""
    register_worker(conn, "worker-ok")
    scheduler_beat(conn)
