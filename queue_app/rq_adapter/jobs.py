"""RQ's connection, queues and jobs as the rest of the app uses them (see the table in __init__)."""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import django_rq
from django.conf import settings
from redis import Redis
from rq import Queue, Retry, get_current_job
from rq.command import send_command, send_stop_job_command
from rq.exceptions import DeserializationError, NoSuchJobError
from rq.job import Job, JobStatus
from rq.utils import now as rq_now

logger = logging.getLogger("queue_app.transport")

JOB_FUNCTION = "queue_app.execution.run_task"
# Every RQ job function this app's workers run: the task runner, and the job of a schedule's cron
# entry (queue_app.scheduler.SCHEDULE_JOB_FUNCTION) should a plain rq-scheduler move one to a queue.
JOB_FUNCTIONS = frozenset({JOB_FUNCTION, "queue_app.scheduling.schedule_fire_due"})
ONE_SECOND = timedelta(seconds=1)


class _Connections:
    """One Redis client (and its connection pool) and one Queue object per name, per process.

    django-rq builds a new client on every call, which costs a TCP connect, a metadata lookup and
    an INFO round trip per enqueue. Keyed by pid (a forked work horse builds its own) and URL
    (tests swap it). A cache, not state: dropping it only costs a reconnect.
    """

    def __init__(self) -> None:
        self.clients: dict[tuple[int, str], Redis] = {}
        self.queues: dict[tuple[int, str, str], Queue] = {}

    @staticmethod
    def url() -> str:
        return str(settings.RQ_QUEUES[settings.TASK_PRIORITIES[0]].get("URL", ""))

    def connection(self) -> Redis:
        key = (os.getpid(), self.url())
        client = self.clients.get(key)
        if client is None:
            client = self.clients[key] = django_rq.get_connection(settings.TASK_PRIORITIES[0])
        return client

    def queue(self, name: str) -> Queue:
        key = (os.getpid(), self.url(), name)
        queue = self.queues.get(key)
        if queue is None:
            queue = self.queues[key] = django_rq.get_queue(name, connection=self.connection())
        return queue


CONNECTIONS = _Connections()


def get_connection() -> Redis:
    """The process's Redis client for the task queues."""
    return CONNECTIONS.connection()


def get_queue(name: str) -> Queue:
    """An RQ queue by name: '<family>.<priority>' for tasks (see transport.queue_for)."""
    return CONNECTIONS.queue(name)


ENDED_JOB_STATUSES = frozenset({"finished", "failed", "stopped", "canceled"})


@dataclass(frozen=True)
class JobState:
    """The few fields of a job's hash that say where it is; None for a field not set."""

    status: str | None  # None: no hash at all
    origin: str | None
    enqueued_at: float | None  # epoch seconds
    ended_at: float | None

    @property
    def ended(self) -> bool:
        return self.status in ENDED_JOB_STATUSES


def _rq_time(value: bytes | None) -> float | None:
    try:
        return datetime.fromisoformat(value.decode().replace("Z", "+00:00")).timestamp() if value else None
    except ValueError:
        return None


def job_states(job_ids: Iterable[str]) -> list[JobState]:
    """The state of each job, in order, read from the job hashes in one pipelined round trip."""
    with get_connection().pipeline(transaction=False) as pipe:
        for job_id in job_ids:
            pipe.hmget(Job.key_for(str(job_id)), "status", "origin", "enqueued_at", "ended_at")
        replies = pipe.execute()
    return [
        JobState(
            status=status.decode() if status is not None else None,
            origin=origin.decode() if origin else None,
            enqueued_at=_rq_time(enqueued_at),
            ended_at=_rq_time(ended_at),
        )
        for status, origin, enqueued_at, ended_at in replies
    ]


def queue_length(name: str) -> int:
    """How many jobs wait in a queue's list."""
    return get_connection().llen(get_queue(name).key)


def queue_job_ids(name: str) -> set[str]:
    """The ids of the jobs waiting in a queue's list (reads it whole)."""
    return {member.decode() for member in get_connection().lrange(get_queue(name).key, 0, -1)}


class _JobData:
    """Builds the RQ job data of tasks; what depends only on retry counts and settings is built once."""

    def __init__(self, retry_intervals: Callable[[int], list[int]]) -> None:
        self.ttl = settings.TASK_RESULT_TTL
        self.retry_intervals = retry_intervals
        self.retries: dict[tuple[int, int], Retry | None] = {}

    def retry(self, max_retries: int, attempts: int) -> Retry | None:
        # A task may run max_retries + 1 times in all; a re-delivered task keeps what it has used.
        key = (max_retries, attempts)
        if key not in self.retries:
            left = max_retries - attempts
            self.retries[key] = Retry(max=left, interval=self.retry_intervals(max_retries)) if left > 0 else None
        return self.retries[key]

    def __call__(self, task):
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


def push_jobs(
    by_queue: Mapping[str, tuple[Iterable, Iterable]], *, retry_intervals: Callable[[int], list[int]]
) -> None:
    """Put the jobs of tasks into Redis in one pipelined round trip: {queue: (now, delayed)}.

    A task is anything with id, task_type, timeout, max_retries, attempts and (delayed) run_at.
    Delayed ones go to their queue's scheduled registry, due at run_at.
    """
    job_data = _JobData(retry_intervals)
    with get_connection().pipeline() as pipe:
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
                queue.schedule_job(job, _whole_second_after(task.run_at), pipeline=pipe)
        pipe.execute()


def _whole_second_after(due: datetime) -> datetime:
    # RQ keeps whole seconds and would release the job up to a second early.
    return due if not due.microsecond else due.replace(microsecond=0) + ONE_SECOND


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

    Redis is not trusted (see serializers): a job runs only if its data is JSON naming one of
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


def remove(task_id: str) -> None:
    """Delete a task's RQ job from its queue and every registry; missing is fine."""
    with contextlib.suppress(NoSuchJobError):
        Job.fetch(str(task_id), connection=get_connection()).delete()


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


def current_job() -> Job | None:
    """The RQ job this process is running (None outside a worker)."""
    return get_current_job()


def retry_later(seconds: float) -> Retry:
    """A job function's return value that puts its job back, due in `seconds` (at least 1)."""
    return Retry(max=10**9, interval=max(1, math.ceil(seconds)))
