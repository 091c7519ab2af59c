"""The RQ job function: start the task row conditionally, run its handler, record the outcome."""

from __future__ import annotations

import json
import logging
import os
import re
import resource
import threading
import time
import traceback
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from core.errors import PermanentTaskError
from queue_app import lifecycle, limits, registry, rq_adapter, transport

logger = logging.getLogger(__name__)


@dataclass
class StartPhase:
    """What the start of one delivery decided: run (with the row's data), wait (a limit), or skip."""

    retry: rq_adapter.Retry | None = None  # over a limit: put back with this delay
    row: tuple | None = None  # started: (task_type, payload, attempt, max_retries)
    checks: list = field(default_factory=list)  # limit slots held while it runs
    pending: Future | None = None  # the start statement, sent but not yet answered


_PIPE_SAFE_BYTES = 32 * 1024  # below the pipe's buffer: a write never blocks on it


class HorseChannel:
    """What a worker of this app shares with the task it runs: its writer, the early start, two pipes.

    Each worker owns one (TaskWorker.channel, TaskSimpleWorker.channel) and hands it to run_task on
    the job (`job.horse_channel`); a job run by a plain RQ worker has none and writes inline.
    The worker sends a task's start as soon as RQ hands it the job (begin_start) and run_task
    collects it: the simple worker in the same process; the fork worker's parent sends it just
    before forking and passes the answer to its work horse through a pipe (hand_start_to_horse),
    so the round trip overlaps with the fork. The horse hands a success back through a second
    pipe and the parent records it: the first statement in a freshly forked process costs
    several times what it costs in the warm parent.
    """

    def __init__(self) -> None:
        self.writer = lifecycle.LifecycleWriter()
        self.early_task_id: str | None = None  # the task whose start was sent early
        self.early_start: StartPhase | None = None
        self.start_read_fd: int | None = None  # the horse's end of the start pipe
        self.outcome_fd: int | None = None  # the horse's end of the outcome pipe

    def begin_start(self, job, worker_name: str) -> str | None:
        """Check the limits and send the conditional start of this job's task. Returns the task id.

        Called by this app's workers once RQ has handed them the job; run_task collects the outcome.
        """
        self.early_task_id, self.early_start = None, None
        job.horse_channel = self
        if job.func_name != transport.JOB_FUNCTION or not job.args:
            return None
        task_id = job.args[0]
        type_name = job.args[1] if len(job.args) > 1 else None
        self.early_start = _begin_start(task_id, type_name, job, worker_name, self.writer)
        self.early_task_id = task_id
        return task_id

    def take_early_start(self, task_id: str | None) -> StartPhase | None:
        if task_id is None or task_id != self.early_task_id:
            return None
        phase, self.early_task_id, self.early_start = self.early_start, None, None
        return phase

    def open_start_pipe(self) -> int:
        """Fork worker's parent, before forking: a pipe for the horse's start. Returns the write end."""
        self.start_read_fd, write_fd = os.pipe()
        return write_fd

    def hand_start_to_horse(self, task_id: str | None, write_fd: int) -> None:
        """Parent, after forking: wait for the start's answer and pass it on, then close the pipe.

        The message is one byte, or 'R' and the row as JSON: N (not started; limits given back),
        F (started; the row is too large for the pipe, the horse reads it), ? (not known; the horse
        starts the task itself, which the conditional start makes safe).
        """
        if self.start_read_fd is not None:
            os.close(self.start_read_fd)
            self.start_read_fd = None
        phase = self.take_early_start(task_id)
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

    def receive_start(self, task_id: str, phase: StartPhase) -> StartPhase | None:
        """Work horse: read what the parent's start statement found (see hand_start_to_horse)."""
        read_fd, self.start_read_fd = self.start_read_fd, None
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
            return StartPhase(row=lifecycle.read_started(task_id), checks=phase.checks)
        if message == b"N":
            return StartPhase()
        return None  # the parent could not tell (or died): start here

    def open_outcome_pipe(self) -> int:
        """Parent, before forking: a pipe for the horse's outcome. Returns the read end."""
        read_fd, self.outcome_fd = os.pipe()
        return read_fd

    def close_outcome_pipe_writer(self) -> None:
        """Parent, after forking: only the horse keeps the write end, so EOF means it exited."""
        if self.outcome_fd is not None:
            os.close(self.outcome_fd)
            self.outcome_fd = None

    def hand_outcome_to_parent(self, task_id: str, result: str, finished_at: datetime, duration: float) -> bool:
        """Work horse: pass a success to the parent (False: no pipe, or too large for it)."""
        if self.outcome_fd is None:
            return False
        data = json.dumps([result, finished_at.isoformat(), duration, task_id]).encode()
        if len(data) > _PIPE_SAFE_BYTES:
            return False
        os.write(self.outcome_fd, data)
        return True

    def keeps_outcome(self, task_id: str) -> bool:
        """Whether a failure of this run is still to be recorded (a thread worker's run may be abandoned)."""
        return True

    def record_outcome_from_horse(self, read_fd: int) -> None:
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
            result, finished_at, duration, task_id = json.loads(b"".join(chunks))
            lifecycle.complete(
                task_id,
                result=result,
                finished_at=datetime.fromisoformat(finished_at),
                duration=duration,
                writer=self.writer,
            )


def run_task(task_id: str, task_type_name: str | None = None):
    """Run one task. Returns quietly when the row is gone or may not start.

    Over a concurrency or rate limit, the task is put back with a delay (RQ's Retry return
    value) instead of starting; its row says why it waits.
    """
    job = rq_adapter.current_job()
    channel: HorseChannel | None = getattr(job, "horse_channel", None)
    phase = channel.take_early_start(task_id) if channel is not None else None
    if phase is not None and phase.pending is not None:
        piped = channel.start_read_fd is not None  # a work horse: the parent sent the start
        phase = channel.receive_start(task_id, phase) if piped else _settle_start(task_id, phase)
    if phase is None:
        writer = channel.writer if channel is not None else lifecycle.INLINE
        worker_name = (job.worker_name if job else "") or ""
        phase = _settle_start(task_id, _begin_start(task_id, task_type_name, job, worker_name, writer))
    if phase.retry is not None:
        return phase.retry
    if phase.row is None:
        return None
    try:
        return _run(task_id, job, phase.row, channel)
    finally:
        if phase.checks:
            limits.release(task_id, phase.checks)


def _begin_start(task_id: str, task_type_name: str | None, job, worker_name: str, writer) -> StartPhase:
    checks: list = []
    declared = _known_type(task_type_name)
    if declared is not None:
        checks = limits.checks_for(declared, timeout=(job.timeout if job and job.timeout else 3600))
        denied = limits.acquire(task_id, checks) if checks else None
        if denied is not None:
            run_at = timezone.now() + timedelta(seconds=denied.wait_seconds)
            lifecycle.wait(task_id, run_at=run_at, reason=denied.reason)
            return StartPhase(retry=rq_adapter.retry_later(denied.wait_seconds))
    pending = lifecycle.start(task_id, worker_name=worker_name, now=timezone.now(), writer=writer)
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


def _known_type(name: str | None) -> registry.TaskType | None:
    if not name:
        return None
    try:
        return registry.get(name)
    except registry.ValidationFailed:
        return None


def _run(task_id: str, job, row: tuple, channel: HorseChannel | None) -> None:
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
        encoded = encode_result(result)
    except BaseException as error:  # JobTimeoutException derives from Exception; SystemExit too
        duration = time.perf_counter() - clock
        if channel is None or channel.keeps_outcome(task_id):
            _record_failure(task_id, job, error, duration)
        raise
    duration = time.perf_counter() - clock
    finished_at = timezone.now()
    if channel is not None and channel.hand_outcome_to_parent(task_id, encoded, finished_at, duration):
        return None
    writer = channel.writer if channel is not None else lifecycle.INLINE
    lifecycle.complete(task_id, result=encoded, finished_at=finished_at, duration=duration, writer=writer)
    return None


class UnstorableResult(PermanentTaskError, ValueError):
    """The handler's result has what PostgreSQL's jsonb refuses: NaN or an infinity, or a NUL character.

    Permanent: the handler ran (its effects are done); running it again would most likely return
    the same. The task fails as a task; nothing is left for a worker to write later.
    """


# \u0000 escaped by json.dumps: preceded by an even number of backslashes (a text "\\u0000" is fine)
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def encode_result(result) -> str:
    """A handler's result as the JSON its row stores; UnstorableResult if jsonb would refuse it."""
    try:
        encoded = json.dumps(result, cls=DjangoJSONEncoder, default=str, allow_nan=False)
    except ValueError as error:  # NaN, Infinity (and a circular reference)
        raise UnstorableResult(f"the handler's result cannot be stored as JSON: {error}") from error
    if "\\u0000" in encoded and _NUL_ESCAPE.search(encoded):
        raise UnstorableResult("the handler's result cannot be stored as JSON: it contains a NUL character (\\x00)")
    return encoded


class MemoryLimitExceeded(MemoryError):
    """The task allocated past its type's memory limit."""


@contextmanager
def memory_limit(limit_mb: int | None):
    """Cap the address space of the process running the task at its current size + limit_mb.

    The soft limit is restored afterwards, so a simple (non-forking) worker survives too.
    A MemoryError inside becomes MemoryLimitExceeded with a message saying so.
    """
    if not limit_mb or threading.current_thread() is not threading.main_thread():
        # A thread worker's runs share one address space: a per-task cap cannot hold there.
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
    logger.warning(
        "Task %s attempt failed (%s: %s); %s",
        task_id,
        type(error).__name__,
        error,
        "will retry" if will_retry else "failed",
    )
    lifecycle.fail(
        task_id,
        retrying=will_retry,
        finished_at=now,
        duration=duration,
        run_at=run_at,
        error_type=type(error).__name__,
        error_message=str(error)[:10000] or type(error).__name__,
        error_traceback="".join(traceback.format_exception(error))[:50000],
    )


def record_crash(task_id: str, job, message: str) -> None:
    """Called in the worker parent when a work horse died without reporting (kill -9, OOM)."""
    _record_failure(task_id, job, WorkHorseDied(message), None)


class WorkHorseDied(Exception):
    """The process running the task died without recording an outcome."""


__all__ = ["record_crash", "run_task", "transport"]
