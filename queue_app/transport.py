"""The Redis side of a task: its RQ job. Only this module and the worker talk to RQ directly."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import django_rq
from django.conf import settings
from django.utils import timezone
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry
from rq.command import send_command, send_stop_job_command
from rq.exceptions import DeserializationError, NoSuchJobError
from rq.job import Job, JobStatus
from rq.utils import now as rq_now

from queue_app.models import Task

logger = logging.getLogger(__name__)

JOB_FUNCTION = "queue_app.execution.run_task"
# Every RQ job function this app's workers run: the task runner, and the job of a schedule's cron
# entry (queue_app.scheduler.SCHEDULE_JOB_FUNCTION) should a plain rq-scheduler move one to a queue.
JOB_FUNCTIONS = frozenset({JOB_FUNCTION, "queue_app.scheduling.schedule_fire_due"})
ONE_SECOND = timedelta(seconds=1)


# One Redis client (and its connection pool) and one Queue object per name, per process: django-rq
# builds a new client on every call, which costs a TCP connect, a metadata lookup and an INFO
# round trip per enqueue. Keyed by pid (a forked work horse builds its own) and URL (tests swap it).
_clients: dict[tuple[int, str], Redis] = {}
_queues: dict[tuple[int, str, str], Queue] = {}


def _url() -> str:
    return str(settings.RQ_QUEUES[settings.TASK_PRIORITIES[0]].get("URL", ""))


def get_connection() -> Redis:
    key = (os.getpid(), _url())
    client = _clients.get(key)
    if client is None:
        client = _clients[key] = django_rq.get_connection(settings.TASK_PRIORITIES[0])
    return client


def get_queue(name: str) -> Queue:
    """An RQ queue by name: '<family>.<priority>' for tasks (see queue_for)."""
    key = (os.getpid(), _url(), name)
    queue = _queues.get(key)
    if queue is None:
        queue = _queues[key] = django_rq.get_queue(name, connection=get_connection())
    return queue


def queue_for(task: Task) -> str:
    """The queue a task goes to: its type's family, its priority."""
    from queue_app import registry

    try:
        family = registry.get(task.task_type).family
    except registry.ValidationFailed:  # a type no longer registered: the system family's queues
        family = "system"
    return registry.queue_name(family, task.priority)


def priority_queues(priority: str) -> list[Queue]:
    """Every family's queue of one priority (queue depth per priority is their sum)."""
    from queue_app import registry

    return [get_queue(registry.queue_name(family, priority)) for family in registry.families()]


def retry_intervals(max_retries: int) -> list[int]:
    """Exponential backoff: base, base*factor, base*factor^2, ... seconds (2, 4, 8 minutes by default)."""
    base = settings.RETRY_BACKOFF_BASE
    factor = settings.RETRY_BACKOFF_FACTOR
    return [max(0, round(base * factor**attempt)) for attempt in range(max_retries)]


class _JobData:
    """Builds the RQ job data of tasks; what depends only on retry counts and settings is built once."""

    def __init__(self) -> None:
        self.ttl = settings.TASK_RESULT_TTL
        self.retries: dict[tuple[int, int], Retry | None] = {}

    def retry(self, max_retries: int, attempts: int) -> Retry | None:
        # A task may run max_retries + 1 times in all; a re-delivered task keeps what it has used.
        key = (max_retries, attempts)
        if key not in self.retries:
            left = max_retries - attempts
            self.retries[key] = Retry(max=left, interval=retry_intervals(max_retries)) if left > 0 else None
        return self.retries[key]

    def __call__(self, task: Task):
        task_id = str(task.id)
        return Queue.prepare_data(
            JOB_FUNCTION,
            args=(task_id, task.task_type),
            job_id=task_id,
            timeout=task.timeout,
            result_ttl=self.ttl,
            failure_ttl=self.ttl,
            description=f"{task.task_type} {task_id}",
            retry=self.retry(task.max_retries, task.attempts),
        )


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
    connection = get_connection()
    job_data = _JobData()
    with connection.pipeline() as pipe:
        for queue_name, (immediate, delayed) in by_queue.items():
            queue = get_queue(queue_name)
            if immediate:
                queue.enqueue_many([job_data(task) for task in immediate], pipeline=pipe)
            for task in delayed:
                data = job_data(task)
                job = queue.create_job(
                    data.func,
                    args=data.args,
                    job_id=data.job_id,
                    timeout=data.timeout,
                    result_ttl=data.result_ttl,
                    failure_ttl=data.failure_ttl,
                    description=data.description,
                    retry=data.retry,
                )
                # RQ keeps whole seconds and would release the job up to a second early.
                due = task.run_at if not task.run_at.microsecond else task.run_at.replace(microsecond=0) + ONE_SECOND
                queue.schedule_job(job, due, pipeline=pipe)
        pipe.execute()


class TaskJob(Job):
    """RQ's Job without callbacks or webhooks (settings.RQ['JOB_CLASS']): this app sets none.

    A callback or webhook named in a hash planted in Redis would otherwise be imported and called,
    or sent, by RQ itself: a failure callback even for a job that never ran, when a worker's
    maintenance cleans it out of a started registry.
    """

    success_callback = None
    failure_callback = None
    stopped_callback = None

    def send_webhooks(self, status, *, exc_string=None) -> None:
        if self.webhooks:
            logger.warning("Job %s names webhooks; not sent (this app sets none)", self.id)


def job_refusal(job: Job) -> str | None:
    """Why a worker of this app must not run this RQ job (None: run it).

    Redis is not trusted (see rq_compat): a job runs only if its data is JSON naming one of
    JOB_FUNCTIONS (or settings.WORKER_EXTRA_JOB_FUNCTIONS) as a plain function, with no callbacks
    and no webhooks, which this app never sets and RQ would import or call on its own.
    """
    try:
        func_name, instance = job.func_name, job.instance
    except DeserializationError:
        return "its data is not JSON (a pickled job?) and was not read"
    if instance is not None or not isinstance(func_name, str):
        return "its data does not name a plain function"
    if func_name not in JOB_FUNCTIONS and func_name not in settings.WORKER_EXTRA_JOB_FUNCTIONS:
        return f"its function {func_name[:200]!r} is not one this app's workers run"
    if job._success_callback_name or job._failure_callback_name or job._stopped_callback_name:
        return "it names callbacks, which this app never sets"
    if job.webhooks:
        return "it names webhooks, which this app never sets"
    return None


def job_refuse(job: Job, queue: Queue, *, reason: str, worker_name: str) -> None:
    """Record a dequeued job as failed without running anything of it.

    RQ's own failure path is not used: it would retry the job, call its failure callback, send
    its webhooks and enqueue its dependents, all read from the refused hash.
    """
    job.ended_at = rq_now()
    with job.connection.pipeline() as pipe:
        job.set_status(JobStatus.FAILED, pipeline=pipe)
        pipe.lrem(queue.intermediate_queue_key, 1, job.id)  # a worker of a single queue moves it there
        job._handle_failure(f"Refused by worker {worker_name}: {reason}.", pipeline=pipe, worker_name=worker_name)
        pipe.execute()


def missing_jobs(task_ids: list[str]) -> list[str]:
    """The ids among these whose RQ job hash is not in Redis (one pipelined round trip)."""
    return lost_jobs(task_ids, settled=None).missing


ENDED_JOB_STATUSES = frozenset({b"finished", b"failed", b"stopped", b"canceled"})

# A queue list is read whole to check membership: skipped for longer lists.
STRANDED_CHECK_MAX_QUEUE_LENGTH = 100_000


@dataclass
class LostJobs:
    """Task ids whose RQ job will never run them, by reason (see lost_jobs)."""

    missing: list[str] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)
    stranded: list[str] = field(default_factory=list)


def _rq_time(value: bytes | None) -> float | None:
    try:
        return datetime.fromisoformat(value.decode().replace("Z", "+00:00")).timestamp() if value else None
    except ValueError:
        return None


def lost_jobs(
    task_ids: list[str], *, settled: datetime | None, queue_members: dict[str, set[bytes] | None] | None = None
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
    connection = get_connection()
    with connection.pipeline(transaction=False) as pipe:
        for task_id in task_ids:
            pipe.hmget(Job.key_for(str(task_id)), "status", "origin", "enqueued_at", "ended_at")
        states = pipe.execute()
    found = LostJobs()
    cutoff = settled.timestamp() if settled is not None else None
    queued: list[tuple[str, str]] = []
    for task_id, (status, origin, enqueued_at, ended_at) in zip(task_ids, states, strict=True):
        if status is None:
            found.missing.append(task_id)
        elif cutoff is None:
            continue
        elif status in ENDED_JOB_STATUSES and (_rq_time(ended_at) or 0.0) < cutoff:
            found.ended.append(task_id)
        elif status == b"queued" and origin and (_rq_time(enqueued_at) or cutoff) < cutoff:
            queued.append((task_id, origin.decode()))
    if queued:
        members = {} if queue_members is None else queue_members
        for origin in sorted({origin for _, origin in queued} - set(members)):
            key = get_queue(origin).key
            if connection.llen(key) > STRANDED_CHECK_MAX_QUEUE_LENGTH:
                logger.info("Stranded-job check skipped for %s: over %d jobs", origin, STRANDED_CHECK_MAX_QUEUE_LENGTH)
                members[origin] = None
            else:
                members[origin] = set(connection.lrange(key, 0, -1))
        found.stranded = [
            task_id
            for task_id, origin in queued
            if members[origin] is not None and str(task_id).encode() not in members[origin]
        ]
    return found


def remove(task_id: str) -> None:
    """Delete a task's RQ job from its queue and every registry; missing is fine."""
    connection = get_connection()
    with contextlib.suppress(NoSuchJobError):
        Job.fetch(str(task_id), connection=connection).delete()


def stop_running(task_id: str, *, worker_name: str = "") -> None:
    """Ask the worker running this task to kill its work horse.

    The worker named on the task row (its start write names it) is asked directly: RQ's own
    send_stop_job_command reads the name from the job, which the work horse sets only once it
    runs, and refuses a stop that comes in between.
    """
    try:
        if worker_name:
            send_command(get_connection(), worker_name, "stop-job", job_id=str(task_id))
        else:
            send_stop_job_command(get_connection(), str(task_id))
    except Exception:  # the job may have just finished; the row is already final
        logger.info("Stop command for task %s was not delivered", task_id, exc_info=True)


__all__ = [
    "RedisError",
    "get_connection",
    "get_queue",
    "job_refusal",
    "job_refuse",
    "lost_jobs",
    "missing_jobs",
    "priority_queues",
    "push",
    "queue_for",
    "remove",
    "retry_intervals",
    "stop_running",
]
