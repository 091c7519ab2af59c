"""The Redis side of a task: its RQ job, which queue it goes to, and whether Redis lost it.

RQ itself is reached only through queue_app.rq_adapter (the one module, with queue_app.worker's
subclasses, that imports rq or django_rq; tests/queue_app/test_rq_adapter.py checks it).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.utils import timezone
from redis.exceptions import RedisError

from queue_app.models import Task
from queue_app.rq_adapter import (
    JOB_FUNCTION,
    JOB_FUNCTIONS,
    TaskJob,
    get_connection,
    get_queue,
    job_refusal,
    job_refuse,
    job_states,
    push_jobs_templated,
    queue_job_ids,
    queue_length,
    remove,
    stop_running,
)

logger = logging.getLogger(__name__)


def queue_for(task: Task) -> str:
    """The queue a task goes to: its type's family, its priority."""
    from queue_app import registry

    try:
        family = registry.get(task.task_type).family
    except registry.ValidationFailed:  # a type no longer registered: the system family's queues
        family = "system"
    return registry.queue_name(family, task.priority)


def priority_queue_names(priority: str) -> list[str]:
    """Every family's queue of one priority (queue depth per priority is their sum)."""
    from queue_app import registry

    return [registry.queue_name(family, priority) for family in registry.families()]


def retry_intervals(max_retries: int) -> list[int]:
    """Exponential backoff: base, base*factor, base*factor^2, ... seconds (2, 4, 8 minutes by default)."""
    base = settings.RETRY_BACKOFF_BASE
    factor = settings.RETRY_BACKOFF_FACTOR
    return [max(0, round(base * factor**attempt)) for attempt in range(max_retries)]


def push(tasks: Iterable[Task], *, now: datetime | None = None) -> None:
    """Put the RQ jobs of these tasks into Redis in one pipelined round trip.

    A task whose run_at lies in the future goes to its queue's scheduled registry
    (moved to the queue by a worker started with --with-scheduler).
    Raises RedisError when Redis is unreachable; the caller decides what the rows say.
    """
    now = now or timezone.now()
    by_queue: dict[str, tuple[list, list]] = {}
    for task in tasks:
        immediate, delayed = by_queue.setdefault(queue_for(task), ([], []))
        if task.run_at and task.run_at > now:
            delayed.append(task)
        else:
            immediate.append(task)
    push_jobs_templated(by_queue, retry_intervals=retry_intervals)


def missing_jobs(task_ids: list[str]) -> list[str]:
    """The ids among these whose RQ job hash is not in Redis (one pipelined round trip)."""
    return lost_jobs(task_ids, settled=None).missing


# A queue list is read whole to check membership: skipped for longer lists.
STRANDED_CHECK_MAX_QUEUE_LENGTH = 100_000


@dataclass
class LostJobs:
    """Task ids whose RQ job will never run them, by reason (see lost_jobs)."""

    missing: list[str] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)
    stranded: list[str] = field(default_factory=list)


def lost_jobs(
    task_ids: list[str], *, settled: datetime | None, queue_members: dict[str, set[str] | None] | None = None
) -> LostJobs:
    """Classify the RQ jobs of tasks whose rows are not finished, in one read of their hashes.

    - missing: no job hash (Redis restarted, flushed, failed over);
    - ended: the job finished, failed or was stopped before `settled`: the row's last write was
      lost (TASK_STATE_SYNCHRONOUS_COMMIT=off and a PostgreSQL crash), the run is not on record;
    - stranded: the job says queued, was enqueued before `settled`, but is in no queue list: a
      worker popped it (BLPOP) and died before starting it, and RQ never delivers it again.
    With `settled` None only missing jobs are looked for. `queue_members` caches each queue
    list across calls (one read per list per reconcile run).
    """
    found = LostJobs()
    cutoff = settled.timestamp() if settled is not None else None
    queued: list[tuple[str, str]] = []
    for task_id, state in zip(task_ids, job_states(task_ids), strict=True):
        if state.status is None:
            found.missing.append(task_id)
        elif cutoff is None:
            continue
        elif state.ended and (state.ended_at or 0.0) < cutoff:
            found.ended.append(task_id)
        elif state.status == "queued" and state.origin and (state.enqueued_at or cutoff) < cutoff:
            queued.append((task_id, state.origin))
    if queued:
        members = {} if queue_members is None else queue_members
        for origin in sorted({origin for _, origin in queued} - set(members)):
            if queue_length(origin) > STRANDED_CHECK_MAX_QUEUE_LENGTH:
                logger.info("Stranded-job check skipped for %s: over %d jobs", origin, STRANDED_CHECK_MAX_QUEUE_LENGTH)
                members[origin] = None
            else:
                members[origin] = queue_job_ids(origin)
        found.stranded = [
            task_id for task_id, origin in queued if members[origin] is not None and str(task_id) not in members[origin]
        ]
    return found


__all__ = [
    "JOB_FUNCTION",
    "JOB_FUNCTIONS",
    "RedisError",
    "TaskJob",
    "get_connection",
    "get_queue",
    "job_refusal",
    "job_refuse",
    "lost_jobs",
    "missing_jobs",
    "priority_queue_names",
    "push",
    "queue_for",
    "remove",
    "retry_intervals",
    "stop_running",
]
