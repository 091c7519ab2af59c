"""Reads of RQ's own records in Redis: queue lists, registries, registered workers (see the table in __init__)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from redis import Redis
from rq import Queue, Worker
from rq.registry import ScheduledJobRegistry, StartedJobRegistry


def queue_counts(queue_names: Iterable[str], connection: Redis) -> list[tuple[int, int, int]]:
    """Per queue, in order: jobs waiting in its list, scheduled for later, started. One round trip."""
    names = list(queue_names)
    with connection.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.llen(f"{Queue.redis_queue_namespace_prefix}{name}")
            pipe.zcard(ScheduledJobRegistry(name, connection=connection).key)
            pipe.zcard(StartedJobRegistry(name, connection=connection).key)
        replies = pipe.execute()
    return [tuple(replies[3 * index : 3 * index + 3]) for index in range(len(names))]


@dataclass(frozen=True)
class WorkerRecord:
    """What RQ keeps in Redis about one registered worker."""

    name: str
    state: str  # RQ's WorkerStatus value; '?' when the key holds none
    queues: list[str]
    pid: int | None
    hostname: str | None
    birth_date: datetime | None
    last_heartbeat: datetime | None  # naive UTC as RQ stores it
    current_job_id: str | None
    successful_job_count: int
    failed_job_count: int


def workers(connection: Redis) -> list[WorkerRecord]:
    """Every worker registered in Redis."""
    return [
        WorkerRecord(
            name=worker.name,
            state=worker.get_state(),
            queues=worker.queue_names(),
            pid=worker.pid,
            hostname=worker.hostname,
            birth_date=worker.birth_date,
            last_heartbeat=worker.last_heartbeat,
            current_job_id=worker.get_current_job_id(),
            successful_job_count=worker.successful_job_count,
            failed_job_count=worker.failed_job_count,
        )
        for worker in Worker.all(connection=connection)
    ]
