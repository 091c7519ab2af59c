"""Read side of worker health: each worker with host, pid, families, state, current task and usage."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from queue_app.models import Task, TaskStatus, WorkerProcess


def workers_snapshot(*, include_stopped: bool = False, now=None) -> list[dict]:
    """Workers from their PostgreSQL heartbeats; `stale` when silent for WORKER_STALE_SECONDS."""
    now = now or timezone.now()
    workers = WorkerProcess.objects.all().order_by("host", "name")
    if not include_stopped:
        workers = workers.filter(stopped_at__isnull=True)
    workers = list(workers)
    running = dict(
        Task.objects.filter(status=TaskStatus.PROCESSING, worker_name__in=[w.name for w in workers]).values_list(
            "worker_name", "id"
        )
    )
    stale_after = timedelta(seconds=settings.WORKER_STALE_SECONDS)
    rows = []
    for worker in workers:
        families = sorted({queue.split(".", 1)[0] for queue in worker.queues if "." in queue})
        stale = worker.stopped_at is None and now - worker.last_heartbeat > stale_after
        rows.append(
            {
                "name": worker.name,
                "host": worker.host,
                "pid": worker.pid,
                "families": families,
                "queues": worker.queues,
                "worker_class": worker.worker_class,
                "state": "stale" if stale else worker.state,
                "current_task": str(running[worker.name]) if worker.name in running else None,
                "tasks_done": worker.tasks_done,
                "tasks_failed": worker.tasks_failed,
                "rss_mb": round(worker.rss_bytes / 1024 / 1024, 1) if worker.rss_bytes else None,
                "cpu_seconds": round(worker.cpu_seconds, 1) if worker.cpu_seconds is not None else None,
                "uptime_seconds": round(((worker.stopped_at or now) - worker.started_at).total_seconds()),
                "last_heartbeat": worker.last_heartbeat.isoformat(),
                "heartbeat_age_seconds": round((now - worker.last_heartbeat).total_seconds(), 1),
            }
        )
    return rows
