"""The RQ job function: start the task row conditionally, run its handler, record the outcome."""

from __future__ import annotations

import json
import logging
import math
import os
import queue
import resource
import threading
import time
import traceback
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

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
        # psycopg's own cursor on the alias's connection: Django's cursor wrapper costs twice the
        # statement's client-side CPU, on a thread that shares the GIL with the worker's loop.
        # Errors still come out as Django's, which run_with_reconnect acts on.
        conn = connections["task_state"]
        with conn.wrap_database_errors:
            conn.ensure_connection()
            with conn.connection.cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.fetchall() if cursor.description else [(cursor.rowcount,)]

    return run_with_reconnect(run, alias="task_state")


class LifecycleWriter:
    """Writes task rows from a helper thread while the worker talks to Redis.

    The worker classes of this app turn it on. Statements are written one at a time, in the
    order given. A completion is handed over (`submit`) and written while RQ records the job
    and takes the next one; the next start queues behind it, so at most one completion is in
    flight. The fork worker's parent waits for it (`confirm()`) before it forks, a stopping
    worker before it exits. A start is sent (`call`) as soon as the job is known and its rows
    are collected when the task is about to run, so the PostgreSQL round trip overlaps with
    RQ's Redis ones (and, in the fork worker, with the fork) instead of adding to them. The
    statements are the same conditional UPDATEs, retried through reconnects like every
    lifecycle write. Other workers (plain RQ classes) write inline.
    """

    def __init__(self) -> None:
        self.enabled = False
        self._pid = 0
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._idle = threading.Condition()
        self._pending = 0
        self._thread: threading.Thread | None = None

    def submit(self, sql: str, params: list) -> None:
        """Write without waiting; a failure is logged (reconcile finds the row)."""
        if not self.enabled:
            _execute(sql, params)
            return
        self._put(sql, params, None)

    def call(self, sql: str, params: list) -> Future:
        """Send a statement now; its rows (or its exception) are collected from the Future."""
        future: Future = Future()
        if not self.enabled:
            try:
                future.set_result(_execute(sql, params))
            except BaseException as error:
                future.set_exception(error)
            return future
        self._put(sql, params, future)
        return future

    def _put(self, sql: str, params: list, future: Future | None) -> None:
        if self._pid != os.getpid():  # first use in this process (a work horse is a fresh fork)
            self._pid = os.getpid()
            self._queue = queue.SimpleQueue()
            self._idle = threading.Condition()
            self._pending = 0
            self._thread = threading.Thread(target=self._run, name="task-state-writer", daemon=True)
            self._thread.start()
        with self._idle:
            self._pending += 1
        self._queue.put((sql, params, future))

    def confirm(self, timeout: float | None = None) -> bool:
        """Wait until every submitted write is done. False if the timeout passed first."""
        if self._pid != os.getpid():
            return True
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout=timeout)

    def stop(self, timeout: float = 10) -> None:
        """Finish the submitted writes, close the thread's connection and end the thread."""
        if self._pid != os.getpid() or self._thread is None:
            return
        self._queue.put(None)
        self._thread.join(timeout)
        self._thread = None
        self._pid = 0

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                connections.close_all()  # this thread's own connections
                return
            sql, params, future = item
            try:
                rows = _execute(sql, params)
            except Exception as error:  # reconnects exhausted: the row still says what it said
                if future is None:
                    logger.exception("Task %s: completion not recorded in PostgreSQL", params[-1])
                else:
                    future.set_exception(error)
            else:
                if future is not None:
                    future.set_result(rows)
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()


lifecycle_writer = LifecycleWriter()


_WAIT_SQL = f"""
    UPDATE {TASK_TABLE}
       SET status = 'scheduled', run_at = %s, wait_reason = %s
     WHERE id = %s AND status IN ({", ".join(["%s"] * len(_STARTABLE))})
"""


@dataclass
class StartPhase:
    """What the start of one delivery decided: run (with the row's data), wait (a limit), or skip."""

    retry: Retry | None = None  # over a limit: put back with this delay
    row: tuple | None = None  # started: (task_type, payload, attempt, max_retries)
    checks: list = field(default_factory=list)  # limit slots held while it runs
    pending: Future | None = None  # the start statement, sent but not yet answered


# The worker classes of this app send a task's start as soon as RQ hands them the job (see
# begin_start) and collect it in run_task: the simple worker in the same process; the fork worker's
# parent sends it just before forking and passes the answer to its work horse through a pipe
# (hand_start_to_horse), so the round trip overlaps with the fork. The horse hands a success back
# through a second pipe and the parent records it: the first statement in a freshly forked process
# costs several times what it costs in the warm parent.
_early_starts: dict[str, StartPhase] = {}
_start_read_fd: int | None = None  # the horse's end of the start pipe
_outcome_fd: int | None = None  # the horse's end of the outcome pipe
_PIPE_SAFE_BYTES = 32 * 1024  # below the pipe's buffer: a write never blocks on it


def begin_start(job, worker_name: str) -> str | None:
    """Check the limits and send the conditional start of this job's task. Returns the task id.

    Called by this app's workers once RQ has handed them the job; run_task collects the outcome.
    """
    _early_starts.clear()
    if job.func_name != transport.JOB_FUNCTION or not job.args:
        return None
    task_id = job.args[0]
    type_name = job.args[1] if len(job.args) > 1 else None
    _early_starts[task_id] = _begin_start(task_id, type_name, job, worker_name)
    return task_id


def run_task(task_id: str, task_type_name: str | None = None):
    """Run one task. Returns quietly when the row is gone or may not start.

    Over a concurrency or rate limit, the task is put back with a delay (RQ's Retry return
    value) instead of starting; its row says why it waits.
    """
    job = get_current_job()
    phase = _early_starts.pop(task_id, None)
    if phase is not None and phase.pending is not None:
        phase = _receive_start(task_id, phase) if _start_read_fd is not None else _settle_start(task_id, phase)
    if phase is None:
        phase = _start_phase(task_id, task_type_name, job, (job.worker_name if job else "") or "")
    if phase.retry is not None:
        return phase.retry
    if phase.row is None:
        return None
    try:
        return _run(task_id, job, phase.row)
    finally:
        if phase.checks:
            limits.release(task_id, phase.checks)


def _start_phase(task_id: str, task_type_name: str | None, job, worker_name: str) -> StartPhase:
    return _settle_start(task_id, _begin_start(task_id, task_type_name, job, worker_name))


def _begin_start(task_id: str, task_type_name: str | None, job, worker_name: str) -> StartPhase:
    checks: list = []
    declared = _known_type(task_type_name)
    if declared is not None:
        checks = limits.checks_for(declared, timeout=(job.timeout if job and job.timeout else 3600))
        denied = limits.acquire(task_id, checks) if checks else None
        if denied is not None:
            run_at = timezone.now() + timedelta(seconds=denied.wait_seconds)
            _execute(_WAIT_SQL, [run_at, denied.reason, task_id, *_STARTABLE])
            return StartPhase(retry=Retry(max=10**9, interval=max(1, math.ceil(denied.wait_seconds))))
    pending = lifecycle_writer.call(_START_SQL, [timezone.now(), worker_name, task_id, *_STARTABLE])
    return StartPhase(checks=checks, pending=pending)


def _settle_start(task_id: str, phase: StartPhase) -> StartPhase:
    """Wait for the start statement's answer. Limit slots are given back unless it started."""
    if phase.pending is None:
        return phase
    try:
        rows = phase.pending.result()
    except BaseException:
        if phase.checks:
            limits.release(task_id, phase.checks)
        raise
    if not rows:
        logger.info("Task %s not started: gone, cancelled, finished or already running", task_id)
        if phase.checks:
            limits.release(task_id, phase.checks)
        return StartPhase()
    return StartPhase(row=rows[0], checks=phase.checks)


def open_start_pipe() -> int:
    """Fork worker's parent, before forking: a pipe for the horse's start. Returns the write end."""
    global _start_read_fd
    _start_read_fd, write_fd = os.pipe()
    return write_fd


def hand_start_to_horse(task_id: str | None, write_fd: int) -> None:
    """Parent, after forking: wait for the start's answer and pass it on, then close the pipe.

    The message is one byte, or 'R' and the row as JSON: N (not started; limits given back),
    F (started; the row is too large for the pipe, the horse reads it), ? (not known; the horse
    starts the task itself, which the conditional start makes safe).
    """
    global _start_read_fd
    if _start_read_fd is not None:
        os.close(_start_read_fd)
        _start_read_fd = None
    phase = _early_starts.pop(task_id, None) if task_id else None
    if phase is None or phase.pending is None:  # nothing sent: the horse has all it needs, or starts itself
        os.close(write_fd)
        return
    message = b"?"
    try:
        settled = _settle_start(task_id, phase)
        if settled.row is None:
            message = b"N"
        else:
            message = b"R" + json.dumps(settled.row, cls=DjangoJSONEncoder).encode()
            if len(message) > _PIPE_SAFE_BYTES:
                message = b"F"
    except Exception:
        logger.exception("Task %s: start not written in the worker; its work horse will try", task_id)
    try:
        os.write(write_fd, message)
    except BrokenPipeError:  # the horse is already gone; the parent records that
        pass
    finally:
        os.close(write_fd)


def _receive_start(task_id: str, phase: StartPhase) -> StartPhase | None:
    """Work horse: read what the parent's start statement found (see hand_start_to_horse)."""
    global _start_read_fd
    read_fd, _start_read_fd = _start_read_fd, None
    chunks = []
    try:
        while chunk := os.read(read_fd, 65536):
            chunks.append(chunk)
    finally:
        os.close(read_fd)
    message = b"".join(chunks)
    if message[:1] == b"R":
        return StartPhase(row=tuple(json.loads(message[1:])), checks=phase.checks)
    if message == b"F":
        row = _execute(f"SELECT task_type, payload, attempts, max_retries FROM {TASK_TABLE} WHERE id = %s", [task_id])
        return StartPhase(row=row[0], checks=phase.checks)
    if message == b"N":
        return StartPhase()
    return None  # the parent could not tell (or died): start here


def _known_type(name: str | None) -> registry.TaskType | None:
    if not name:
        return None
    try:
        return registry.get(name)
    except registry.ValidationFailed:
        return None


def _run(task_id: str, job, row: tuple) -> None:
    task_type_name, payload, attempt, max_retries = row
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
    params = [encoded, timezone.now(), duration, task_id]
    if _outcome_fd is not None and _hand_to_parent(params):
        return None
    lifecycle_writer.submit(_COMPLETE_SQL, params)
    return None


def _hand_to_parent(params: list) -> bool:
    encoded, finished_at, duration, task_id = params
    data = json.dumps([encoded, finished_at.isoformat(), duration, task_id]).encode()
    if len(data) > _PIPE_SAFE_BYTES:
        return False
    os.write(_outcome_fd, data)
    return True


def open_outcome_pipe() -> int:
    """Parent, before forking: a pipe for the horse's outcome. Returns the read end."""
    global _outcome_fd
    read_fd, _outcome_fd = os.pipe()
    return read_fd


def close_outcome_pipe_writer() -> None:
    """Parent, after forking: only the horse keeps the write end, so EOF means it exited."""
    global _outcome_fd
    if _outcome_fd is not None:
        os.close(_outcome_fd)
        _outcome_fd = None


def record_outcome_from_horse(read_fd: int) -> None:
    """Parent, after the horse exited: record the completion it handed back, if any."""
    chunks = []
    os.set_blocking(read_fd, False)  # the horse has exited; a stray grandchild must not block us
    try:
        while chunk := os.read(read_fd, 65536):
            chunks.append(chunk)
    except BlockingIOError:
        pass
    finally:
        os.close(read_fd)
    if chunks:
        encoded, finished_at, duration, task_id = json.loads(b"".join(chunks))
        lifecycle_writer.submit(_COMPLETE_SQL, [encoded, datetime.fromisoformat(finished_at), duration, task_id])


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
