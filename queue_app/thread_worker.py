"""TaskThreadWorker: one process runs up to WORKER_THREADS tasks at once, for I/O-bound families.

A handler that spends its time waiting on the network (OpenAI, Upwork, Google) wastes a whole
process per slot in the one-task-at-a-time workers. This worker keeps a pool of threads that run
handlers and nothing else; the bookkeeping of many runs goes together, as in TaskBatchWorker
(whose machinery it shares: batch_worker.BatchIntake), so the one interpreter lock is spent on the
handlers rather than on per-task round trips:

- the main thread takes up to (free threads) ready jobs in one round trip (BLMPOP ... COUNT from
  the highest non-empty queue: strict priority), loads them in one pipeline, starts their rows
  with one conditional statement (lifecycle.start_many; a task refused there is skipped) while
  one pipeline records them started in RQ (an execution each), and hands them to the pool;
- a pool thread runs the handler (run_task); a success is handed to the recorder thread, which
  every few milliseconds records the ends it has with one conditional statement
  (lifecycle.complete_many: only rows still processing under this worker) and one pipeline for
  RQ (registries, results, job hashes, as handle_job_success writes them per job). A failure, a
  retry or a limit wait is recorded at once by RQ's own failure path and execution's, on the
  pool thread, as in the simple worker;
- the family and rate limits are checked per task in Redis (queue_app.limits), on the pool thread
  when the task's turn comes, so they hold across threads, processes and hosts exactly as for the
  other workers;
- RQ's data stays true: each run is an RQ execution of this worker (StartedJobRegistry, job
  status, results, `rq info` shows the worker busy while any run is on);
- at its deadline (the task's timeout) a run is recorded failed (retried if it has retries left)
  by the monitor thread, and whatever its handler returns later is discarded: a Python thread
  cannot be killed, so it keeps its slot until it returns;
- a running task that is cancelled is marked stopped in RQ at once (its row is already
  cancelled) and its handler's result is discarded when it returns, as with TaskSimpleWorker;
- a thread still busy WORKER_THREAD_STUCK_SECONDS past its run's deadline is stuck: the worker
  recycles itself, i.e. takes no more work, lets the other runs finish, and exits (code 75) so
  that run_workers (or systemd) starts a fresh one.

Database connections: the main thread's (heartbeats) and its writer thread's (the starts), the
recorder's (the ends), and a pool thread's own only if its tasks need one (a limit wait, a
failure, a handler's queries); each thread closes its own when it exits.

Delivery stays at-least-once and the conditional start keeps two deliveries of a task from
running at the same time. After a kill -9: jobs popped but not started are re-delivered by
reconcile ("stranded"); rows started, whether their handler ran, returned, or returned and its
end was still waiting for the recorder, say processing under this worker and the crash sweep
queues them again once the worker's heartbeat is stale (see queue_app/maintenance.py).
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue as queue_module
import signal
import sys
import threading
import time

import psycopg
import redis
from django.conf import settings
from django.db import InterfaceError as DatabaseInterfaceError
from django.db import OperationalError as DatabaseOperationalError
from django.db import connections
from rq import SimpleWorker
from rq.command import parse_payload
from rq.exceptions import StopRequested
from rq.timeouts import JobTimeoutException
from rq.utils import now as rq_now
from rq.worker import WorkerStatus

from queue_app import lifecycle, limits, transport
from queue_app.batch_worker import BatchIntake, TaskBatchWorker
from queue_app.execution import HorseChannel, StartPhase, _record_failure
from queue_app.models import WorkerState
from queue_app.rq_adapter import Retry
from queue_app.worker import HeartbeatMixin

logger = logging.getLogger(__name__)

# What is worth trying again later: the database or Redis did not answer. Anything else (a row
# PostgreSQL refuses, a programming error) would fail the same way on every try.
OUTAGE_ERRORS = (
    DatabaseOperationalError,
    DatabaseInterfaceError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    redis.ConnectionError,
    redis.TimeoutError,
)

RECYCLE_EXIT_CODE = 75  # EX_TEMPFAIL: the supervisor starts a fresh worker
MONITOR_INTERVAL = 0.2  # seconds between the monitor thread's checks of deadlines


def _name_os_thread() -> None:
    """Give the calling thread's Python name to the OS thread too (Linux), as `top -H` and /proc show it."""
    try:
        import ctypes

        name = threading.current_thread().name.encode()[:15]
        ctypes.CDLL(None, use_errno=True).prctl(15, ctypes.c_char_p(name), 0, 0, 0)  # PR_SET_NAME
    except (OSError, AttributeError):
        pass  # not Linux: the name is only cosmetic


class Run:
    """One task's execution on a pool thread, and who records its end.

    Its thread records the outcome only if it claims the run first; the monitor (deadline) or a
    stop (cancel) abandons it first otherwise, and the thread's outcome is then discarded.
    """

    def __init__(self, job, queue, execution, timeout: float):
        self.outcome: tuple | None = None  # a success's (task_id, result, finished_at, duration), for the recorder
        self.job = job
        self.queue = queue
        self.execution = execution
        self.timeout = timeout
        self.started = time.monotonic()
        self.deadline = self.started + timeout if timeout and timeout > 0 else float("inf")
        self.lock = threading.Lock()
        self.claimed = False
        self.abandoned = ""  # why the outcome is discarded: "timeout", "cancelled", "shutdown"
        self.returned = False

    @property
    def task_id(self) -> str | None:
        if self.job.func_name == transport.JOB_FUNCTION and self.job.args:
            return str(self.job.args[0])
        return None

    def claim(self) -> bool:
        """The thread's: True if it may record the outcome (idempotent), False if it was abandoned."""
        with self.lock:
            if self.abandoned:
                return False
            self.claimed = True
            return True

    def abandon(self, reason: str) -> bool:
        """Deadline, cancel or shutdown: True if the outcome is now discarded (the thread had not claimed it)."""
        with self.lock:
            if self.claimed or self.abandoned:
                return False
            self.abandoned = reason
            return True


class ThreadChannel(HorseChannel):
    """A pool thread's channel for one run: the start the main thread decided; the success kept for the recorder.

    The outcome is kept only if the run was not abandoned (a timeout or a cancel came first). A
    task the batch's start did not decide (under a limit) starts inline, on the thread's connection.
    """

    def __init__(self, run: Run, phase: StartPhase | None) -> None:
        super().__init__()  # its writer stays off: a start or failure of its own runs inline
        self.run = run
        self.phase = phase

    def take_early_start(self, task_id: str | None) -> StartPhase | None:
        phase, self.phase = self.phase, None
        return phase

    def hand_outcome_to_parent(self, task_id, result, finished_at, duration) -> bool:
        if not self.run.claim():
            logger.warning("Task %s: result discarded (%s before it returned)", task_id, self.run.abandoned)
            return True
        self.run.outcome = (task_id, result, finished_at, duration)
        return True

    def keeps_outcome(self, task_id: str) -> bool:
        if self.run.claim():
            return True
        logger.warning("Task %s: failure discarded (%s before it returned)", task_id, self.run.abandoned)
        return False


class TaskThreadWorker(BatchIntake, HeartbeatMixin, SimpleWorker):
    """Runs up to WORKER_THREADS tasks at once on a pool of threads. For I/O-bound families.

    Choose it per pool (`WORKER_POOLS="proposals:1:threads16"`, or WORKER_THREADS=16 for every pool of
    run_workers) or with `--worker-class queue_app.thread_worker.TaskThreadWorker`. CPU-bound
    handlers gain nothing here (one interpreter lock), and a per-type memory limit is not
    applied in a thread (the address space is shared by every run): use the fork worker for both.
    """

    RECORD_SECONDS = 0.005  # the recorder gathers the ends of this long before it writes them
    GATHER_SECONDS = 0.002  # with most threads busy, the main thread waits this long for more to free up

    def __init__(self, queues, *args, **kwargs):
        super().__init__(queues, *args, **kwargs)
        self._init_heartbeats()
        self.threads = max(1, settings.WORKER_THREADS or 1)
        self.stuck_seconds = settings.WORKER_THREAD_STUCK_SECONDS
        self._runs: dict[str, Run] = {}  # by RQ execution id
        self._slots = threading.Condition()
        self._work: queue_module.SimpleQueue = queue_module.SimpleQueue()
        self._pool: list[threading.Thread] = []
        self._ended: queue_module.SimpleQueue = queue_module.SimpleQueue()  # successes for the recorder
        self._recorder: threading.Thread | None = None  # kept while it lives, even past a timed-out stop
        self._recorder_stopping = False  # the live recorder was sent its None
        # Task id -> the success's row end (see Run.outcome), from its hand-over to the recorder until
        # PostgreSQL took it: at shutdown these runs are not interrupted (their rows must not be re-queued).
        self._unrecorded: dict[str, tuple] = {}
        self._unwritten: tuple[list, list] = ([], [])  # a stopped recorder's row and RQ ends left to write
        self._stop_lock = threading.Lock()  # RQ's _stopped_job_id holds one job at a time
        self._monitor: threading.Thread | None = None
        self._monitor_stop = threading.Event()
        self.recycling = False

    # --- the pool ------------------------------------------------------------------------------

    def _start_pool(self) -> None:
        # Ends handed over after the last recorder stopped are in its queue still. One stopped with a
        # timeout may still be writing: the next dequeue starts the new one once it has ended.
        if self._recorder is None or not self._recorder.is_alive():
            self._recorder_stopping = False
            self._recorder = threading.Thread(target=self._record_runs, name="task-recorder", daemon=True)
            self._recorder.start()
        if self._pool:
            return
        self._monitor_stop.clear()  # started again after a Redis outage ended RQ's loop (HeartbeatMixin.work)
        for index in range(self.threads):
            thread = threading.Thread(target=self._pool_thread, name=f"task-{index}", daemon=True)
            thread.start()
            self._pool.append(thread)
        self._monitor = threading.Thread(target=self._monitor_runs, name="task-monitor", daemon=True)
        self._monitor.start()

    def _pool_thread(self) -> None:
        _name_os_thread()
        try:
            while True:
                run = self._work.get()
                if run is None:
                    return
                try:
                    self._perform(run)
                finally:
                    with self._slots:
                        run.returned = True
                        self._runs.pop(run.execution.id, None)
                        self._slots.notify_all()
        finally:
            connections.close_all()  # this thread's own connections

    def _stop_pool(self) -> None:
        for _ in self._pool:
            self._work.put(None)
        deadline = time.monotonic() + 5
        for thread in self._pool:  # a stuck thread is left behind: it is a daemon
            thread.join(max(0.0, deadline - time.monotonic()))
        self._pool = []
        self._monitor_stop.set()
        if self._monitor is not None:
            self._monitor.join(5)

    def busy(self) -> int:
        with self._slots:
            return len(self._runs)

    def _active(self) -> list[Run]:
        with self._slots:
            return list(self._runs.values())

    def _free(self) -> int:
        return self.threads - len(self._runs)

    # --- taking work -----------------------------------------------------------------------------

    _waiting = False  # the main thread waits for a free thread or for a job: a stop may end the wait

    def dequeue_job_and_maintain_ttl(self, timeout, max_idle_time=None):
        """Pop up to (free threads) jobs in one round trip; heartbeats go on while every thread is busy.

        Returns ([jobs], queue). With most threads busy it waits GATHER_SECONDS for more to free
        up, so that one round trip takes several jobs rather than one per ended run.
        """
        self._start_pool()
        self._waiting = True
        try:
            while True:
                with self._slots:
                    free = self._free()
                    if free <= 0:
                        self._slots.wait(1.0)
                    elif free < self.threads and free < (gather := max(1, self.threads // 4)):
                        self._slots.wait_for(lambda: self._free() >= gather, timeout=self.GATHER_SECONDS)
                    free = self._free()
                if getattr(self, "_stop_requested", False):
                    return None
                if free > 0:
                    return self._take_jobs(timeout, max_idle_time, free)
                self.heartbeat()
        finally:
            self._waiting = False

    def _shutdown(self):
        """A warm stop: no more work. RQ waits for "the" job; here the runs are on other threads.

        While the main thread waits (for a free thread, or in the blocking pop, which would
        otherwise be repeated until a job came) the stop ends the wait at once, as RQ's does when
        idle; teardown then lets the runs finish (_finish_runs).
        """
        self._stop_requested = True
        if self._waiting:
            raise StopRequested()

    def execute_job(self, jobs, queue):
        """Start the jobs taken (one statement, one pipeline) and hand each to a pool thread."""
        if not isinstance(jobs, list):
            jobs = [jobs]
        started, phases = self._start_jobs(jobs)
        runs = []
        for each in started:
            job = each.job
            timeout = job.timeout or self.queue_class.DEFAULT_TIMEOUT
            run = Run(job, queue, each.execution, timeout=timeout if timeout and timeout > 0 else 0)
            task_id = run.task_id
            job.horse_channel = ThreadChannel(run, phases.get(task_id) if task_id is not None else None)
            runs.append(run)
        with self._slots:
            for run in runs:
                self._runs[run.execution.id] = run
        for run in runs:
            self._work.put(run)

    def _perform(self, run: Run) -> None:
        """RQ's perform_job for one run, in a pool thread; the outcome is RQ's only if the run was not abandoned.

        A success goes to the recorder; a failure or a retry (over a limit) is recorded here.
        """
        job, queue, execution = run.job, run.queue, run.execution
        try:
            job.started_at = rq_now()
            try:
                return_value = job.perform()
            except BaseException:  # the handler's error (SystemExit too) is the run's outcome
                exc_info = sys.exc_info()
                if run.claim():
                    self._finalize_failure(job, queue, execution, exc_info)
                return
            if not run.claim():
                return
            if isinstance(return_value, Retry):  # over a limit: RQ puts it back with a delay
                self._finalize_success(job, queue, execution, return_value)
                return
            self._finished(job, return_value)
            if run.outcome is not None:
                self._unrecorded[run.outcome[0]] = run.outcome
            self._ended.put(run)
        except Exception:
            logger.exception("Worker %s: run of job %s ended with an error in the worker", self.name, job.id)

    # --- recording the ends ----------------------------------------------------------------------

    def _record_runs(self) -> None:
        """The recorder thread: every RECORD_SECONDS, the successes so far in one statement and one pipeline.

        A None in the queue stops it once what came before is recorded. Ends an outage kept from
        PostgreSQL or Redis are tried again (every second, and with the next ends) until written
        (an end PostgreSQL refuses for another reason fails its task alone: _record_each); the
        statement is conditional, so a row that moved on meanwhile is left alone. What a stopped
        recorder could not write is left to the next (RQ's loop restarted after a Redis outage).
        """
        _name_os_thread()
        rows: list[tuple]  # outcomes PostgreSQL has not taken yet
        runs: list[Run]  # runs whose end RQ has not taken yet
        (rows, runs), self._unwritten = self._unwritten, ([], [])
        try:
            while True:
                try:
                    first = self._ended.get(timeout=1.0 if rows or runs else None)
                except queue_module.Empty:
                    first = ()  # nothing new: only the ends left over are tried again
                stopping = first is None
                if first and self.RECORD_SECONDS:
                    time.sleep(self.RECORD_SECONDS)
                ended = [first] if first else []
                while not stopping:
                    try:
                        item = self._ended.get_nowait()
                    except queue_module.Empty:
                        break
                    if item is None:
                        stopping = True
                    else:
                        ended.append(item)
                rows += [run.outcome for run in ended if run.outcome is not None]
                runs += ended
                rows, runs = self._record(rows, runs)
                if stopping:
                    if rows or runs:
                        logger.error(
                            "Worker %s: %d row end(s) and %d RQ end(s) not written yet (an outage)",
                            self.name,
                            len(rows),
                            len(runs),
                        )
                        self._unwritten = (rows, runs)
                    return
        finally:
            connections.close_all()  # the recorder's own connection

    def _record(self, rows: list[tuple], runs: list[Run]) -> tuple[list[tuple], list[Run]]:
        """Write the ends: the rows (one conditional statement), then RQ's (one pipeline). Returns
        what is left to write: only an outage's (OUTAGE_ERRORS) ends are kept for a later try."""
        if rows:
            try:
                lifecycle.complete_many(rows, worker_name=self.name)
            except OUTAGE_ERRORS:
                logger.exception("Worker %s: %d end(s) not recorded in PostgreSQL yet", self.name, len(rows))
            except Exception:  # not an outage: one bad row would fail the statement on every try
                logger.exception("Worker %s: %d end(s) refused together; writing each alone", self.name, len(rows))
                rows = self._record_each(rows)
            else:
                self._recorded(rows)
                rows = []
        if runs:
            try:
                self._write_ends(runs, idle=False)
            except OUTAGE_ERRORS as error:
                logger.error("Worker %s: RQ's end of %d run(s) not written yet (%s)", self.name, len(runs), error)
            except Exception:  # not an outage: trying again would fail again
                logger.exception("Worker %s: RQ's end of %d run(s) not written", self.name, len(runs))
                for run in runs:
                    self.executions.pop(run.execution.id, None)
                runs = []
            else:
                runs = []
        return rows, runs

    def _record_each(self, rows: list[tuple]) -> list[tuple]:
        """The rows of a statement refused for another reason than an outage, each on its own: the
        one PostgreSQL refuses is recorded failed. Returns the rows an outage left to write."""
        left = []
        for index, row in enumerate(rows):
            task_id, _result, finished_at, duration = row
            try:
                try:
                    lifecycle.complete_many([row], worker_name=self.name)
                except OUTAGE_ERRORS:
                    raise
                except Exception as error:
                    logger.exception("Worker %s: the end of task %s cannot be stored; it fails", self.name, task_id)
                    lifecycle.fail(
                        task_id,
                        retrying=False,
                        finished_at=finished_at,
                        duration=duration,
                        run_at=None,
                        error_type=type(error).__name__,
                        error_message=f"the handler's result cannot be stored: {error}"[:10000],
                        error_traceback="",
                    )
            except OUTAGE_ERRORS:
                logger.exception("Worker %s: %d end(s) not recorded in PostgreSQL yet", self.name, len(rows) - index)
                left = rows[index:]
                break
            except Exception:  # its failure was refused too: the crash sweep or reconcile will see the row
                logger.exception("Worker %s: could not record task %s failed either", self.name, task_id)
            else:
                self._recorded([row])
        return left

    def _recorded(self, rows: list[tuple]) -> None:
        """These row ends are written (or moved on without them: the statement is conditional)."""
        for row in rows:
            if self._unrecorded.get(row[0]) is row:  # not a later run's of the same task
                self._unrecorded.pop(row[0], None)

    RECORDER_STOP_SECONDS = 30.0

    def _stop_recorder(self) -> None:
        """Record every end handed over so far, then end the recorder thread (RECORDER_STOP_SECONDS at most).

        A recorder still writing after that keeps its handle: no second one starts while it lives.
        """
        recorder = self._recorder
        if recorder is None or not recorder.is_alive():
            return
        if not self._recorder_stopping:  # one None per recorder: a second would stop the next one
            self._recorder_stopping = True
            self._ended.put(None)
        recorder.join(self.RECORDER_STOP_SECONDS)
        if recorder.is_alive():
            logger.error("Worker %s: the recorder is still writing after %s s", self.name, self.RECORDER_STOP_SECONDS)

    def _write_left_ends(self) -> None:
        """At the worker's death: the ends not written yet (an outage, a recorder too slow) once more, here.

        The rows first (the conditional statement: one the recorder writes meanwhile is left
        alone), then RQ's ends a stopped recorder left. What is still unwritten stays processing
        under this worker, out of the shutdown's re-queue (_not_interrupted): its run succeeded.
        """
        recorder_done = self._recorder is None or not self._recorder.is_alive()
        runs: list[Run] = []
        if recorder_done:
            rows, runs = self._unwritten
            self._unwritten = ([], [])
        rows = list(self._unrecorded.values())
        if not rows and not runs:
            return
        rows, runs = self._record(rows, runs)
        if recorder_done:
            self._unwritten = (rows, runs)  # for a next recorder (RQ's loop re-entered)
        if self._unrecorded:
            logger.error(
                "Worker %s: the end of %d succeeded task(s) is not written; they are not re-queued, the crash "
                "sweep will queue them again if their end is never written: %s",
                self.name,
                len(self._unrecorded),
                ", ".join(sorted(self._unrecorded)),
            )

    def _not_interrupted(self) -> set[str]:
        """Tasks of this worker still processing whose run succeeded: the shutdown does not re-queue them."""
        return set(self._unrecorded)

    # --- RQ's state with several runs ----------------------------------------------------------

    def set_state(self, state, pipeline=None):
        if state == WorkerStatus.IDLE and self.executions:
            state = WorkerStatus.BUSY  # idle only when RQ has no execution of this worker on
        super().set_state(state, pipeline)

    def cleanup_execution(self, job, pipeline, execution=None):
        super().cleanup_execution(job, pipeline, execution)
        if not self.executions:
            self.set_state(WorkerStatus.IDLE, pipeline=pipeline)

    def _db_state(self) -> str:
        return WorkerState.BUSY if self._runs else WorkerState.IDLE

    def db_heartbeat(self, **kwargs) -> None:
        # RQ's per-job bookkeeping in the pool threads beats too: the main thread's beat (every
        # dequeue and every second while the threads are all busy) is enough, on its connection.
        if threading.current_thread() is threading.main_thread():
            super().db_heartbeat(**kwargs)

    # --- deadlines and stuck threads -----------------------------------------------------------

    def _monitor_runs(self) -> None:
        _name_os_thread()
        refreshed = time.monotonic()
        try:
            while not self._monitor_stop.wait(MONITOR_INTERVAL):
                now = time.monotonic()
                if now - refreshed >= self.job_monitoring_interval:
                    refreshed = now
                    self._refresh_running()
                for run in self._active():
                    if now >= run.deadline and run.abandon("timeout"):
                        self._time_out(run)
                    if (
                        run.abandoned
                        and not run.returned
                        and now >= run.deadline + self.stuck_seconds
                        and not self.recycling
                    ):
                        self._recycle(run)
        finally:
            connections.close_all()

    # RQ's StartedJobRegistry forgets an execution get_heartbeat_ttl seconds (job_monitoring_interval
    # + 60) after it was last refreshed, and its cleanup (any worker's maintenance, any listing of the
    # registry) then retries or fails the job as abandoned. The monitor refreshes the runs still on
    # every job_monitoring_interval, with the batch worker's code; not the main thread, which may
    # wait up to dequeue_timeout in the blocking pop.
    _refresh_executions = TaskBatchWorker._refresh_executions

    def _refresh_running(self) -> None:
        runs = [run for run in self._active() if not run.claimed and not run.abandoned]
        if not runs:
            return
        try:
            self._refresh_executions(runs)
        except redis.RedisError as error:
            logger.warning("Worker %s: could not refresh %d running execution(s) (%s)", self.name, len(runs), error)

    def _time_out(self, run: Run) -> None:
        job, task_id = run.job, run.task_id
        error = JobTimeoutException(
            f"Task exceeded maximum timeout value ({run.timeout} seconds); a late result will be discarded."
        )
        logger.warning("Worker %s: job %s timed out after %s s", self.name, job.id, run.timeout)
        try:
            if task_id is not None:
                _record_failure(task_id, job, error, time.monotonic() - run.started)
                limits.release_everywhere(task_id)
            job.ended_at = rq_now()
            self._finalize_failure(job, run.queue, run.execution, (type(error), error, None))
        except Exception:
            logger.exception("Worker %s: could not record the timeout of job %s", self.name, job.id)

    def _recycle(self, run: Run) -> None:
        self.recycling = True
        logger.error(
            "Worker %s: a thread is stuck on job %s %.0f s past its deadline; taking no more work, "
            "finishing the other runs, then exiting so a fresh worker starts",
            self.name,
            run.job.id,
            time.monotonic() - run.deadline,
        )
        # The same path as a warm stop (SIGTERM): the main thread may be in RQ's blocking pop.
        os.kill(os.getpid(), signal.SIGTERM)

    # --- cancel --------------------------------------------------------------------------------

    def handle_payload(self, message):
        payload = parse_payload(message)
        if payload.get("command") == "stop-job" and payload.get("job_id"):
            runs = [run for run in self._active() if run.job.id == payload["job_id"]]
            if runs:
                for run in runs:
                    if run.abandon("cancelled"):
                        self._stop(run)
                return
        super().handle_payload(message)

    def _stop(self, run: Run) -> None:
        """A cancelled run: RQ records the job stopped now; the handler's result is discarded later."""
        logger.info("Worker %s: job %s stopped while running; its result will be discarded", self.name, run.job.id)
        try:
            with self._stop_lock:
                self._stopped_job_id = run.job.id
                run.job.ended_at = rq_now()
                self.handle_job_failure(
                    run.job,
                    run.queue,
                    exc_string="Stopped: the task was cancelled while running; its result is discarded.",
                    execution=run.execution,
                )
        except Exception:
            logger.exception("Worker %s: could not record job %s as stopped", self.name, run.job.id)

    # --- stopping ------------------------------------------------------------------------------

    def teardown(self):
        if not self.is_horse:
            self._finish_runs()
        super().teardown()

    def _finish_runs(self) -> None:
        """Warm stop (or recycle): wait for the runs that are not abandoned. A cold stop abandons them."""
        try:
            while not self._cold_stop_started:
                waiting = [run for run in self._active() if not run.abandoned]
                if not waiting:
                    break
                with contextlib.suppress(Exception):
                    self.heartbeat()
                with self._slots:
                    self._slots.wait(0.5)
        except SystemExit:  # a cold stop while waiting
            pass
        for run in self._active():
            run.abandon("shutdown")  # register_death puts their rows back in the queue
        self._await_claimed()

    CLAIMED_WAIT_SECONDS = 5.0

    def _await_claimed(self) -> None:
        """After a cold stop: runs whose thread claimed the outcome a moment ago hand it over (a success
        to the recorder, a failure recorded) before the recorder stops; CLAIMED_WAIT_SECONDS at most."""
        deadline = time.monotonic() + self.CLAIMED_WAIT_SECONDS
        with contextlib.suppress(SystemExit), self._slots:  # a second stop signal: stop waiting
            while any(run.claimed for run in self._runs.values()):
                left = deadline - time.monotonic()
                if left <= 0:
                    logger.error("Worker %s: runs that returned are still recording their end", self.name)
                    return
                self._slots.wait(min(left, 0.1))

    def register_death(self):
        # Every end handed over is recorded before RQ's death and before the rows of the runs
        # still on are queued again (HeartbeatMixin.register_death).
        self._stop_recorder()
        self._write_left_ends()
        self._put_back_left()
        super().register_death()
        self._stop_pool()

    def work(self, burst: bool = False, **kwargs) -> bool:
        worked = super().work(burst=burst, **kwargs)
        if self.recycling:
            logger.error("Worker %s: recycled (a stuck thread); exiting with code %d", self.name, RECYCLE_EXIT_CODE)
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(RECYCLE_EXIT_CODE)
        return worked
