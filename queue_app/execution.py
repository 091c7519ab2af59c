"""The RQ job function: start the task row conditionally, run its handler, record the outcome."""

from __future__ import annotations

import json
import logging
import math
import os
import resource
import time
import traceback
from contextlib import contextmanager
from datetime import timedelta

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections
from django.utils import timezone
from rq import Retry, get_current_job

from queue_app import limits, registry, transport
from queue_app.db import run_with_reconnect
from queue_app.errors import PermanentTaskError
from queue_app.models import STARTABLE_STATUSES, Task, TaskStatus

logger = logging.getLogger(__name__)

TASK_TABLE = Task._meta.db_table
_STARTABLE = tuple(str(status) for status in STARTABLE_STATUSES)

# One round trip moves the row to processing only if it may start: a cancelled or
# finished task is never run, and of two deliveries only one wins.
_START_SQL = f"""
    UPDATE {TASK_TABLE}
       SET status = 'processing', attempts = attempts + 1, started_at = %s,
           finished_at = NULL, duration = NULL, worker_name = %s, wait_reason = ''
     WHERE id = %s AND status IN ({", ".join(["%s"] * len(_STARTABLE))})
 RETURNING task_type, payload, attempts, max_retries
"""
_COMPLETE_SQL = f"""
    UPDATE {TASK_TABLE}
       SET status = 'completed', result = %s, finished_at = %s, duration = %s,
           error_type = '', error_message = '', error_traceback = ''
     WHERE id = %s AND status = 'processing'
"""
_FAIL_SQL = f"""
    UPDATE {TASK_TABLE}
       SET status = %s, finished_at = %s, duration = %s, run_at = %s,
           error_type = %s, error_message = %s, error_traceback = %s
     WHERE id = %s AND status = 'processing'
"""


def _execute(sql: str, params: list) -> list[tuple]:
    def run():
        with connections["task_state"].cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description else [(cursor.rowcount,)]

    return run_with_reconnect(run, alias="task_state")


_WAIT_SQL = f"""
    UPDATE {TASK_TABLE}
       SET status = 'scheduled', run_at = %s, wait_reason = %s
     WHERE id = %s AND status IN ({", ".join(["%s"] * len(_STARTABLE))})
"""


def run_task(task_id: str, task_type_name: str | None = None):
    """Run one task. Returns quietly when the row is gone or may not start.

    Over a concurrency or rate limit, the task is put back with a delay (RQ's Retry return
    value) instead of starting; its row says why it waits.
    """
    job = get_current_job()
    checks: list = []
    declared = _known_type(task_type_name)
    if declared is not None:
        checks = limits.checks_for(declared, timeout=(job.timeout if job and job.timeout else 3600))
        denied = limits.acquire(task_id, checks) if checks else None
        if denied is not None:
            run_at = timezone.now() + timedelta(seconds=denied.wait_seconds)
            _execute(_WAIT_SQL, [run_at, denied.reason, task_id, *_STARTABLE])
            return Retry(max=10**9, interval=max(1, math.ceil(denied.wait_seconds)))
    try:
        return _start_and_run(task_id, job)
    finally:
        if checks:
            limits.release(task_id, checks)


def _known_type(name: str | None) -> registry.TaskType | None:
    if not name:
        return None
    try:
        return registry.get(name)
    except registry.ValidationFailed:
        return None


def _start_and_run(task_id: str, job) -> None:
    worker_name = (job.worker_name if job else "") or ""
    started = timezone.now()
    rows = _execute(_START_SQL, [started, worker_name, task_id, *_STARTABLE])
    if not rows:
        logger.info("Task %s not started: gone, cancelled, finished or already running", task_id)
        return None
    task_type_name, payload, attempt, max_retries = rows[0]
    if isinstance(payload, str):
        payload = json.loads(payload)
    clock = time.perf_counter()
    try:
        task_type = registry.get(task_type_name)
        context = registry.TaskContext(
            task_id=task_id, task_type=task_type_name, attempt=attempt, max_retries=max_retries
        )
        with memory_limit(limits.memory_limit_mb(task_type)):
            result = task_type.handler(payload, context)
        encoded = json.dumps(result, cls=DjangoJSONEncoder, default=str)
    except BaseException as error:  # JobTimeoutException derives from Exception; SystemExit too
        duration = time.perf_counter() - clock
        _record_failure(task_id, job, error, duration)
        raise
    duration = time.perf_counter() - clock
    _execute(_COMPLETE_SQL, [encoded, timezone.now(), duration, task_id])
    return None


class MemoryLimitExceeded(MemoryError):
    """The task allocated past its type's memory limit."""


@contextmanager
def memory_limit(limit_mb: int | None):
    """Cap the address space of the process running the task at its current size + limit_mb.

    The soft limit is restored afterwards, so a simple (non-forking) worker survives too.
    A MemoryError inside becomes MemoryLimitExceeded with a message saying so.
    """
    if not limit_mb:
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    current = _address_space_bytes()
    cap = current + limit_mb * 1024 * 1024
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    except MemoryError as error:
        raise MemoryLimitExceeded(f"memory limit exceeded: the task may use {limit_mb} MB") from error
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _address_space_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def _record_failure(task_id: str, job, error: BaseException, duration: float | None) -> None:
    if isinstance(error, PermanentTaskError) and job is not None:
        job.retries_left = 0  # RQ reads the same job object next: it will not retry either
    will_retry = bool(job is not None and job.retries_left)
    now = timezone.now()
    run_at = None
    if will_retry:
        intervals = job.retry_intervals or [0]
        used = max(len(intervals) - job.retries_left, 0)
        run_at = now + timedelta(seconds=intervals[min(used, len(intervals) - 1)])
    status = TaskStatus.RETRYING if will_retry else TaskStatus.FAILED
    logger.warning(
        "Task %s attempt failed (%s: %s); %s",
        task_id,
        type(error).__name__,
        error,
        "will retry" if will_retry else "failed",
    )
    _execute(
        _FAIL_SQL,
        [
            str(status),
            now,
            duration,
            run_at,
            type(error).__name__,
            str(error)[:10000] or type(error).__name__,
            "".join(traceback.format_exception(error))[:50000],
            task_id,
        ],
    )


def record_crash(task_id: str, job, message: str) -> None:
    """Called in the worker parent when a work horse died without reporting (kill -9, OOM)."""
    _record_failure(task_id, job, WorkHorseDied(message), None)


class WorkHorseDied(Exception):
    """The process running the task died without recording an outcome."""


__all__ = ["record_crash", "run_task", "transport"]
