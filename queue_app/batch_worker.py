"""The batch worker: many tasks per worker cycle, run one after another in the worker process.

Each cycle pops up to WORKER_BATCH_SIZE job ids from the highest non-empty queue (the queues are
ordered critical-first, see worker.expand_queue_names) in one round trip (BLMPOP ... COUNT: it
returns as soon as one queue holds anything, so an idle worker never waits to fill a batch),
loads their hashes in one pipeline, starts every task row with one conditional statement
(lifecycle.start_many) while one pipeline marks the jobs started in RQ (an execution each, as
RQ's own workers record them), runs them in this process through execution.run_task, and records
the successes with one statement (lifecycle.complete_many) and one pipeline. A failure, a
timeout, a retry or a limit wait is recorded for its task at once by RQ's own failure path and
execution's, as in the simple worker.

Taking, starting and ending many jobs per round trip lives in BatchIntake, which the thread worker
(queue_app.thread_worker) shares: it takes up to (free threads) jobs the same way, and its
recorder thread writes the successes' ends with the same statement and pipeline.

Redis data: every job passes through the same states and registries (started, then finished or
failed; its execution and result) as under TaskSimpleWorker; only the timing differs: a batch's
jobs are started together and their ends are written together (at the batch's end, or every
WORKER_BATCH_FLUSH_SECONDS of a long batch).

Priority: a batch holds jobs of one queue. A task enqueued at a higher priority during a batch
is taken by the next cycle, before any lower task that is still queued.

Crash safety (kill -9 mid-batch): jobs popped but not yet started sit in no queue list with status
queued; reconcile re-delivers them (transport.lost_jobs, "stranded"). Rows started but not
finished say processing under this worker's name; the crash sweep queues them again once the
worker's heartbeat is stale. Ends written to PostgreSQL but not to Redis are final rows; ends
written to Redis but not to PostgreSQL are re-delivered by reconcile ("ended").

Stop: a warm stop (first SIGTERM) lets the batch finish; a cold stop interrupts the running
task and register_death queues every row of the batch still in processing again.

An error that ends a batch (Redis unreachable mid-batch): the rows of the tasks not run yet go
back to queued at once (maintenance.tasks_put_back, on PostgreSQL), and their jobs, which still
say started in RQ, are replaced by fresh ones as soon as Redis answers (maintenance.redeliver, at
the next dequeue or at the worker's death). The worker lives on (HeartbeatMixin.work), so
neither the crash sweep nor reconcile would take those tasks before their timeout.
"""

from __future__ import annotations

import contextlib
import logging
import math
import sys
import time
from dataclasses import dataclass
from uuid import uuid4

import redis
from django.conf import settings
from django.utils import timezone
from rq.command import parse_payload
from rq.exceptions import DequeueTimeout
from rq.executions import WORKER_EXECUTIONS_KEY_TEMPLATE, Execution, cleanup_execution
from rq.job import JobStatus
from rq.timeouts import JobTimeoutException
from rq.utils import current_timestamp
from rq.utils import now as rq_now
from rq.worker import WorkerStatus

from queue_app import lifecycle, limits, maintenance, transport
from queue_app.execution import HorseChannel, StartPhase, _known_type
from queue_app.models import WorkerState
from queue_app.rq_adapter import Retry
from queue_app.rq_adapter.batch import BatchScripts
from queue_app.worker import TaskSimpleWorker

logger = logging.getLogger(__name__)


class BatchChannel(HorseChannel):
    """The channel of a batch: the start of every task, decided ahead; completions collected."""

    def __init__(self) -> None:
        super().__init__()
        self.phases: dict[str, StartPhase] = {}
        self.outcomes: list[tuple[str, str, object, float]] = []

    def begin_start(self, job, worker_name: str) -> str | None:  # the batch starts its tasks itself
        job.horse_channel = self
        return None

    def take_early_start(self, task_id: str | None) -> StartPhase | None:
        return self.phases.pop(task_id, None) if task_id is not None else None

    def hand_outcome_to_parent(self, task_id: str, result: str, finished_at, duration: float) -> bool:
        self.outcomes.append((task_id, result, finished_at, duration))
        return True


@dataclass
class _Run:
    job: object
    execution: Execution


class BatchIntake:
    """Taking, starting and ending many jobs per round trip: shared by TaskBatchWorker and TaskThreadWorker.

    A worker class of this app (HeartbeatMixin and an RQ SimpleWorker) mixes it in ahead of them.
    _take_jobs pops up to `count` job ids from the highest non-empty queue in one round trip and
    loads them in one pipeline; _start_jobs starts their rows with one conditional statement while
    one pipeline records them started in RQ; _write_ends writes RQ's end of many successes in one
    pipeline, as RQ's handle_job_success would for each.
    """

    _put_back_ids: tuple | list = ()  # tasks of an aborted batch whose jobs are still to replace

    def _pop(self, timeout: int | None, count: int) -> tuple[str, list[str]] | None:
        keys = [queue.key for queue in self._ordered_queues]
        if timeout is None:
            popped = self.connection.lmpop(len(keys), *keys, direction="LEFT", count=count)
        else:
            popped = self.connection.blmpop(timeout, len(keys), *keys, direction="LEFT", count=count)
        if not popped:
            if timeout is not None:
                raise DequeueTimeout(timeout, keys)
            return None
        key, ids = popped
        return (key.decode() if isinstance(key, bytes) else key), [
            job_id.decode() if isinstance(job_id, bytes) else job_id for job_id in ids
        ]

    def _load(self, queue, ids: list[str]) -> list:
        """The popped jobs that this app runs; the others are recorded failed (see job_refusal)."""
        try:
            fetched = self.job_class.fetch_many(ids, connection=self.connection, serializer=self.serializer)
        except redis.RedisError:
            raise
        except Exception:  # one unreadable hash: read them one at a time
            fetched = []
            for job_id in ids:
                try:
                    fetched.append(self.job_class.fetch(job_id, connection=self.connection, serializer=self.serializer))
                except redis.RedisError:
                    raise
                except Exception as error:
                    logger.error("Worker %s: refused job %s: its hash is unreadable (%r)", self.name, job_id, error)
                    fetched.append(None)
        jobs = []
        for job in fetched:
            if job is None:  # gone (deleted or cancelled): RQ skips it as well
                continue
            reason = transport.job_refusal(job)
            if reason is None:
                jobs.append(job)
                continue
            logger.error("Worker %s: refused job %s from %s: %s", self.name, job.id, queue.name, reason)
            try:
                transport.job_refuse(job, queue, reason=reason, worker_name=self.name)
            except redis.RedisError:
                raise
            except Exception:
                logger.exception("Worker %s: could not record refused job %s as failed", self.name, job.id)
        return jobs

    def _take_jobs(self, timeout, max_idle_time, count: int):
        """RQ's dequeue, for up to `count` jobs: ([jobs], queue), or None (burst and empty, or idle too long)."""
        self.set_state(WorkerStatus.IDLE)
        self.procline("Listening on " + ",".join(self.queue_names()))
        connection_wait_time = 1.0
        idle_since = time.monotonic()
        while True:
            try:
                self._redeliver_put_back()
                self.heartbeat()
                if self.should_run_maintenance_tasks:
                    self.run_maintenance_tasks()
                wait = timeout
                if wait is not None and max_idle_time is not None:
                    wait = max(1, min(wait, math.ceil(max_idle_time - (time.monotonic() - idle_since))))
                popped = self._pop(wait, count)
                if popped is None:
                    return None
                queue_key, ids = popped
                queue = self.queue_class.from_queue_key(
                    queue_key, connection=self.connection, job_class=self.job_class, serializer=self.serializer
                )
                jobs = self._load(queue, ids)
                if not jobs:
                    continue
                self.heartbeat()
                return jobs, queue
            except DequeueTimeout:
                if max_idle_time is not None and time.monotonic() - idle_since >= max_idle_time:
                    return None
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as error:
                logger.error(
                    "Worker %s: Redis unreachable (%s); retrying in %.0fs", self.name, error, connection_wait_time
                )
                time.sleep(connection_wait_time)
                connection_wait_time = min(connection_wait_time * 2, self.max_connection_wait_time)

    def _start_jobs(self, jobs: list) -> tuple[list[_Run], dict[str, StartPhase]]:
        """Start a batch: one conditional statement for its rows, one pipeline for RQ's side.

        Returns the runs (an RQ execution each) and the start phase of each task that the statement
        decided: started (its row) or not (StartPhase(); run_task then skips it). A task under a
        limit has no phase: it takes its slots and starts on its own in run_task, at its turn. If
        RQ's side fails, the rows are put back (_put_back) and the error raised.
        """
        writer = self.channel.writer
        batch_ids = []
        for job in jobs:
            if job.func_name != transport.JOB_FUNCTION or not job.args:
                continue
            declared = _known_type(job.args[1] if len(job.args) > 1 else None)
            if declared is not None and limits.checks_for(declared, timeout=job.timeout or 3600):
                continue  # a task under a limit starts on its own in run_task, at its turn
            batch_ids.append(str(job.args[0]))
        started = None
        if batch_ids:
            try:
                started = lifecycle.start_many(batch_ids, worker_name=self.name, now=timezone.now(), writer=writer)
            except Exception:
                logger.exception("Worker %s: batch start not sent; each task starts on its own", self.name)
        try:
            runs = self._mark_started(jobs)  # RQ's side, while PostgreSQL answers
        except Exception as error:
            self._put_back(jobs, reason=f"{type(error).__name__}: {error}")
            raise
        phases: dict[str, StartPhase] = {}
        if started is not None:
            try:
                rows = started.result()
            except Exception:
                logger.exception("Worker %s: batch start failed; each task starts on its own", self.name)
            else:
                by_id = {str(row[0]): row[1:] for row in rows}
                for task_id in batch_ids:
                    row = by_id.get(task_id)
                    if row is None:
                        logger.info("Task %s not started: gone, cancelled, finished or already running", task_id)
                    phases[task_id] = StartPhase(row=row)
        return runs, phases

    def _mark_started(self, jobs) -> list[_Run]:
        """RQ's start of every job in one pipeline: what prepare_execution and prepare_job_execution
        write, as one script (rq_adapter.batch), with the worker's state and heartbeat."""
        runs, starts = [], []
        right_now = rq_now()
        stamp = current_timestamp()
        ttl = 0
        for job in jobs:
            job_ttl = self.get_heartbeat_ttl(job)
            ttl = max(ttl, job_ttl)
            execution = Execution(id=uuid4().hex, job_id=job.id, connection=self.connection, worker_name=self.name)
            execution.created_at = execution.last_heartbeat = right_now
            execution._job = job
            self.executions[execution.id] = execution
            job.worker_name = self.name  # Job.prepare_for_execution's attributes
            job.last_heartbeat = job.started_at = right_now
            job._status = JobStatus.STARTED
            starts.append((job, execution, job_ttl))
            runs.append(_Run(job=job, execution=execution))
        with self.connection.pipeline() as pipe:
            self._batch_scripts.start_jobs(
                pipe,
                worker_name=self.name,
                executions_key=WORKER_EXECUTIONS_KEY_TEMPLATE.format(self.name),
                starts=starts,
                created_at=right_now,
                now=stamp,
            )
            self.set_state(WorkerStatus.BUSY, pipeline=pipe)
            self.heartbeat(ttl, pipeline=pipe)
            pipe.execute()
        return runs

    @property
    def _batch_scripts(self) -> BatchScripts:
        scripts = self.__dict__.get("_scripts")
        if scripts is None:
            scripts = self.__dict__["_scripts"] = BatchScripts()
        return scripts

    def _put_back(self, rest: list, *, reason: str) -> None:
        """An error ended the batch: the rows of its tasks not run yet to queued, their jobs replaced.

        The completions collected so far are written first (the writer's queue is drained), so a
        task whose handler returned is never queued again. A row whose outcome is on record, or
        that another worker runs, is left alone (lifecycle.requeue_many is conditional).
        """
        job_ids = {job.id for job in rest}
        for execution_id, execution in list(self.executions.items()):
            if execution.job_id in job_ids:
                del self.executions[execution_id]  # RQ's record of it goes with its job
        task_ids = [str(job.args[0]) for job in rest if job.func_name == transport.JOB_FUNCTION and job.args]
        if not task_ids:
            return
        try:
            self.channel.writer.confirm(timeout=30)
            queued = maintenance.tasks_put_back(task_ids, worker_name=self.name, reason=reason)
        except Exception:
            logger.exception("Worker %s: could not put back the rest of an aborted batch", self.name)
            return
        logger.warning(
            "Worker %s: batch aborted (%s); %d task(s) not run put back in the queue", self.name, reason, len(queued)
        )
        self._put_back_ids = [*self._put_back_ids, *queued]
        with contextlib.suppress(redis.RedisError):  # Redis is down: at the next dequeue
            self._redeliver_put_back()

    def _redeliver_put_back(self) -> None:
        """Fresh jobs for the put-back tasks (their old jobs still say started). Raises RedisError."""
        if not self._put_back_ids:
            return
        maintenance.redeliver(list(self._put_back_ids))
        logger.info("Worker %s: re-delivered %d put-back task(s)", self.name, len(self._put_back_ids))
        self._put_back_ids = []

    def _put_back_left(self) -> None:
        """At the worker's death: re-deliver the put-back tasks once more, if Redis answers."""
        try:
            self._redeliver_put_back()
        except redis.RedisError:
            logger.error(
                "Worker %s: %d put-back task(s) left for reconcile (their jobs end with their timeout)",
                self.name,
                len(self._put_back_ids),
            )

    @staticmethod
    def _finished(job, return_value) -> None:
        """A job whose handler returned: RQ's state of it until _write_ends records it."""
        job.ended_at = rq_now()
        job.last_heartbeat = job.ended_at
        job._result = return_value
        job._status = JobStatus.FINISHED

    def _write_ends(self, done: list, *, idle: bool) -> None:
        """One pipeline for RQ's end of many successes (runs with .job and .execution, _finished):
        what handle_job_success writes per job. `idle`: the worker's state goes idle with it."""
        with self.connection.pipeline() as pipe:
            if done:  # the worker's counters, as RQ's per-job increments add up, once per batch
                pipe.hincrby(self.key, "successful_job_count", len(done))
                working = sum((run.job.ended_at - run.job.started_at).total_seconds() for run in done)
                pipe.hincrbyfloat(self.key, "total_working_time", working)
            ends, rest = [], []
            for run in done:
                result_ttl = run.job.get_result_ttl(self.default_result_ttl)
                if result_ttl == 0:  # RQ deletes the job: its own path
                    rest.append(run)
                else:
                    ends.append((run.job, run.execution, result_ttl))
            if ends:
                # The script deletes every execution but the last, which goes through
                # cleanup_execution (a subclass's idle state, e.g. the thread worker's).
                self._batch_scripts.end_jobs(
                    pipe,
                    worker_name=self.name,
                    executions_key=WORKER_EXECUTIONS_KEY_TEMPLATE.format(self.name),
                    ends=ends,
                    now=current_timestamp(),
                    deleting=len(ends) - 1,
                )
                for job, execution, _ttl in ends[:-1]:
                    job._status = JobStatus.FINISHED
                    self.executions.pop(execution.id, None)
                job, execution, _ttl = ends[-1]
                job._status = JobStatus.FINISHED
                self.cleanup_execution(job, pipe, execution)
            for run in rest:
                job, execution = run.job, run.execution
                job.cleanup(0, pipeline=pipe, remove_from_queue=False)
                job._status = JobStatus.FINISHED
                self.cleanup_execution(job, pipe, execution)
            if idle:
                self.set_state(WorkerStatus.IDLE, pipeline=pipe)
            pipe.execute()


class TaskBatchWorker(BatchIntake, TaskSimpleWorker):
    """Runs up to WORKER_BATCH_SIZE tasks per cycle in the worker process (see the module docstring).

    Like the simple worker, a task that crashes the interpreter takes the worker with it and a
    running task cannot be stopped from outside (cancel marks its row and its result is
    discarded); a cancelled task of the batch that has not run yet is skipped.
    """

    FLUSH_SECONDS = 1.0  # a long batch writes the ends it has so far this often

    def __init__(self, queues, *args, **kwargs):
        super().__init__(queues, *args, **kwargs)
        self.batch_size = max(1, int(getattr(settings, "WORKER_BATCH_SIZE", 32)))
        writer = self.channel.writer
        self.channel = BatchChannel()
        self.channel.writer = writer
        self._batch_job_ids: set[str] = set()
        self._cancelled: set[str] = set()
        self._running_job_id: str | None = None

    def dequeue_job_and_maintain_ttl(self, timeout, max_idle_time=None):
        """RQ's dequeue, for a batch: returns ([jobs], queue), or None (burst and empty, or idle too long)."""
        return self._take_jobs(timeout, max_idle_time, self.batch_size)

    # --- running a batch ------------------------------------------------------------------

    def execute_job(self, jobs, queue):
        """Start the batch (one statement, one pipeline), run its tasks in turn, record their ends."""
        if not isinstance(jobs, list):
            jobs = [jobs]
        channel = self.channel
        channel.phases.clear()
        channel.outcomes.clear()
        self._cancelled.clear()
        self._batch_job_ids = {job.id for job in jobs}
        for job in jobs:
            job.horse_channel = channel
        try:
            runs, phases = self._start_jobs(jobs)
        except Exception:
            self._batch_job_ids = set()
            raise
        channel.phases.update(phases)
        self._busy_since = time.monotonic()
        self._ensure_beater()
        done: list[_Run] = []
        last_flush = time.monotonic()
        refreshed = time.monotonic()
        position = 0  # the run on: it and the runs after it are the rest of an aborted batch
        aborted: str | None = None
        try:
            for position, run in enumerate(runs):
                job = run.job
                if job.id in self._cancelled:
                    self._skip_stopped(run, queue)
                    continue
                if time.monotonic() - refreshed > 30:
                    self._refresh_executions(runs[position:])
                    refreshed = time.monotonic()
                if self._perform(run, queue):
                    done.append(run)
                if done and time.monotonic() - last_flush >= self.FLUSH_SECONDS:
                    self._record_ends(done, queue, idle=False)
                    done = []
                    last_flush = time.monotonic()
        except Exception as error:
            aborted = f"{type(error).__name__}: {error}"
            raise
        finally:
            self._running_job_id = None
            self._busy_since = None
            try:
                self._record_ends(done, queue, idle=True)
            finally:
                if aborted is not None:
                    self._put_back([run.job for run in runs[position:]], reason=aborted)
                channel.phases.clear()
                self._batch_job_ids = set()

    def _ensure_beater(self) -> None:
        import threading

        if self._beater is None or not self._beater.is_alive():
            self._beater = threading.Thread(target=self._beat_while_busy, name="heartbeat", daemon=True)
            self._beater.start()

    def _refresh_executions(self, runs: list[_Run]) -> None:
        """A long batch: keep the executions still to run alive in RQ's started registries."""
        with self.connection.pipeline() as pipe:
            for run in runs:
                ttl = self.get_heartbeat_ttl(run.job)
                run.execution.heartbeat(run.job.started_job_registry, ttl, pipeline=pipe)
                run.job.heartbeat(rq_now(), ttl, pipeline=pipe)
            pipe.execute()

    def _perform(self, run: _Run, queue) -> bool:
        """Run one job as SimpleWorker.perform_job does. True: a success whose end is still to record."""
        job, execution = run.job, run.execution
        self._running_job_id = job.id
        job.started_at = rq_now()
        timeout = job.timeout or self.queue_class.DEFAULT_TIMEOUT
        try:
            with self.death_penalty_class(timeout, JobTimeoutException, job_id=job.id):
                return_value = job.perform()
        except:  # noqa: E722 - RQ's own catch-all: every failure is the job's
            self._finalize_failure(job, queue, execution, sys.exc_info())
            return False
        finally:
            self._running_job_id = None
        if job.id in self._cancelled and self._stopped_job_id == job.id:
            self._stopped_job_id = None  # ran to its end: the row (cancelled) refused the result
        if isinstance(return_value, Retry):  # over a limit: RQ puts it back with a delay
            self._finalize_success(job, queue, execution, return_value)
            return False
        self._finished(job, return_value)
        return True

    def _skip_stopped(self, run: _Run, queue) -> None:
        """A task of the batch cancelled before its turn: recorded stopped, as RQ records a stopped job."""
        job = run.job
        self._stopped_job_id = job.id
        job.ended_at = rq_now()
        self.handle_job_failure(job, queue, exc_string="Cancelled before it ran.", execution=run.execution)
        task_id = str(job.args[0]) if job.args else None
        phase = self.channel.take_early_start(task_id)
        if phase is not None and phase.checks:
            limits.release(task_id, phase.checks)

    def _record_ends(self, done: list[_Run], queue, *, idle: bool) -> None:
        """One statement for the rows, one pipeline for RQ: what handle_job_success writes per job."""
        outcomes, self.channel.outcomes = self.channel.outcomes, []
        lifecycle.complete_many(outcomes, worker_name=self.name, writer=self.channel.writer)
        if done or idle:
            self._write_ends(done, idle=idle)

    def handle_payload(self, message):
        """A stop (cancel) for a task of the batch: skipped if it has not run yet, its result discarded if it runs."""
        payload = parse_payload(message)
        job_id = payload.get("job_id")
        if payload.get("command") == "stop-job" and job_id in self._batch_job_ids:
            self._cancelled.add(job_id)
            if job_id == self._running_job_id:
                self._stopped_job_id = job_id
            logger.info("Worker %s: stop for %s of the running batch", self.name, job_id)
            return
        super().handle_payload(message)

    def _db_state(self) -> str:
        return WorkerState.BUSY if self._busy_since is not None else super()._db_state()

    def register_death(self):
        # A worker that stops before Redis let it re-deliver a put-back batch tries once more.
        self._put_back_left()
        super().register_death()

    def cleanup_execution(self, job, pipeline, execution=None):
        # RQ's, without the simple worker's idle state: the batch goes on (the batch's end sets it).
        cleanup_execution(self, job, pipeline, execution)
