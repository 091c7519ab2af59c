"""RQ worker classes for task rows: the fork worker (isolation) and the simple worker (speed).

Both write a heartbeat row to PostgreSQL (WorkerProcess) every WORKER_HEARTBEAT_SECONDS, idle or
busy, which the crash sweep trusts even after Redis lost everything, and reconcile Redis with the
task rows when they start.
"""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import signal
import socket
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import connections
from django.utils import timezone
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import SimpleWorker, Worker
from rq.command import parse_payload
from rq.defaults import DEFAULT_LOGGING_DATE_FORMAT, DEFAULT_LOGGING_FORMAT
from rq.scheduler import RQScheduler
from rq.utils import now as rq_now
from rq.worker import WorkerStatus

from queue_app import limits, maintenance, transport
from queue_app.db import run_with_reconnect
from queue_app.execution import HorseChannel, record_crash
from queue_app.models import WorkerProcess, WorkerState

logger = logging.getLogger(__name__)


def _close_db_connections(*, keep: str | None = None) -> None:
    for conn in connections.all(initialized_only=True):
        if conn.alias != keep:
            conn.close()


# The fork worker's lifecycle connection: the parent opens it and every work horse inherits it
# (for a failure, or a result too large for the pipe), so no task pays a connect. The parent's own
# lifecycle writes go through the writer thread's connection, so parent and horse never use this
# one at the same time. A horse exits with os._exit and leaves it open and idle; one that dies
# abnormally may leave it mid-statement, so the parent then drops it and opens a new one.
HORSE_ALIAS = "task_state"


def _connection_for_horses() -> None:
    conn = connections[HORSE_ALIAS]
    conn.ensure_connection()
    # Each horse's memory starts from the parent's: a statement one horse prepared would be
    # unknown to the next, which would prepare it again under the same name and fail.
    conn.connection.prepare_threshold = None


def _drop_connection_for_horses() -> None:
    connections[HORSE_ALIAS].close()


def _rss_bytes() -> int | None:
    try:
        with open(f"/proc/{os.getpid()}/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def expand_queue_names(names: list[str]) -> list[str]:
    """Turn what an operator asks for into task queues, drained strictly by priority.

    'normal' means that priority of every family; 'discovery' means every priority of that
    family; 'discovery.high' is one queue. Any mix is ordered critical-first across families.
    """
    from queue_app import registry

    priorities = settings.TASK_PRIORITIES
    families = list(registry.families())
    wanted: set[tuple[str, str]] = set()
    passthrough: list[str] = []
    for name in names:
        if name in priorities:
            wanted.update((family, name) for family in families)
        elif name in families:
            wanted.update((name, priority) for priority in priorities)
        elif "." in name and name.split(".", 1)[0] in families and name.split(".", 1)[1] in priorities:
            family, priority = name.split(".", 1)
            wanted.add((family, priority))
        else:
            passthrough.append(name)  # a plain RQ queue, e.g. 'default'
    ordered = sorted(wanted, key=lambda pair: (priorities.index(pair[1]), families.index(pair[0])))
    return [registry.queue_name(family, priority) for family, priority in ordered] + passthrough


def _expanded_queues(queues) -> list:
    if not queues or isinstance(queues, str) or not all(hasattr(queue, "name") for queue in queues):
        return queues
    template = queues[0]
    names = expand_queue_names([queue.name for queue in queues])
    return [
        type(template)(
            name, connection=template.connection, job_class=template.job_class, serializer=template.serializer
        )
        for name in names
    ]


def _stop_with_parent() -> None:
    """Ask Linux to send this process SIGTERM when the process that forked it dies (kill -9 included)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: the parent check in WorkerScheduler.heartbeat covers it within a second or two


class WorkerScheduler(RQScheduler):
    """RQ's scheduler process (`--with-scheduler`), which stops when the worker that forked it is gone.

    RQ's own keeps running after its worker is killed: an orphan holding the scheduler lock.
    """

    def work(self):
        self._parent_pid = os.getppid()
        _stop_with_parent()
        super().work()

    def heartbeat(self):
        if os.getppid() != self._parent_pid:  # the worker died before the death signal was set up, or not Linux
            self.request_stop()
        super().heartbeat()


class HeartbeatMixin:
    """PostgreSQL heartbeats and start-up reconcile, shared by both worker classes."""

    _last_db_heartbeat = 0.0

    def __init__(self, queues, *args, **kwargs):
        super().__init__(_expanded_queues(queues), *args, **kwargs)

    def _init_heartbeats(self) -> None:
        self.channel = HorseChannel()  # this worker's writer, early start and pipes; see HorseChannel
        self.channel.writer.enabled = True  # starts collected in run_task; see LifecycleWriter
        self.job_monitoring_interval = settings.WORKER_HEARTBEAT_SECONDS
        # Redis outages: RQ retries with doubling waits; cap them so a worker is back within
        # seconds of Redis returning instead of up to a minute.
        self.max_connection_wait_time = settings.WORKER_REDIS_MAX_BACKOFF
        self._hostname = socket.gethostname()

    @property
    def dequeue_timeout(self) -> int:
        # Wake up while idle often enough to keep the PostgreSQL heartbeat fresh.
        return max(1, min(self.worker_ttl - 15, settings.WORKER_HEARTBEAT_SECONDS * 2))

    def db_heartbeat(self, *, state: str | None = None, force: bool = False, stopped: bool = False) -> None:
        now_monotonic = time.monotonic()
        if not force and now_monotonic - self._last_db_heartbeat < settings.WORKER_HEARTBEAT_SECONDS:
            return
        self._last_db_heartbeat = now_monotonic
        usage = resource.getrusage(resource.RUSAGE_SELF)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        now = timezone.now()
        values = {
            "host": self._hostname,
            "pid": os.getpid(),
            "queues": self.queue_names(),
            "worker_class": type(self).__name__,
            "state": WorkerState.STOPPED if stopped else (state or self._db_state()),
            "last_heartbeat": now,
            "tasks_done": self.successful_job_count,
            "tasks_failed": self.failed_job_count,
            "rss_bytes": _rss_bytes(),
            "cpu_seconds": usage.ru_utime + usage.ru_stime + children.ru_utime + children.ru_stime,
            "stopped_at": now if stopped else None,
        }
        try:
            run_with_reconnect(
                lambda: WorkerProcess.objects.update_or_create(
                    name=self.name, defaults=values, create_defaults={**values, "started_at": now}
                ),
                attempts=2,
            )
        except Exception as error:  # a database outage must never stop the worker
            logger.warning("Worker %s: heartbeat not written (%s)", self.name, error)

    def _db_state(self) -> str:
        return WorkerState.BUSY if self.get_current_job_id() else WorkerState.IDLE

    def work(self, burst: bool = False, **kwargs) -> bool:
        """RQ's work loop, re-entered after a Redis outage instead of letting the process exit.

        RQ itself retries only while waiting for a job; a Redis error anywhere else ends its loop.
        """
        worked = False
        wait = 1.0
        while True:
            try:
                worked = super().work(burst=burst, **kwargs) or worked
            except (RedisConnectionError, RedisTimeoutError) as error:
                logger.error("Worker %s: Redis unreachable (%s)", self.name, error)
            if burst or getattr(self, "_stop_requested", False) or self._redis_answers():
                return worked
            while not self._redis_answers():
                logger.warning("Worker %s: waiting %.0fs for Redis to come back", self.name, wait)
                time.sleep(wait)
                wait = min(wait * 2, settings.WORKER_REDIS_MAX_BACKOFF)
            wait = 1.0
            logger.info("Worker %s: Redis is back; resuming work", self.name)
            with contextlib.suppress(RedisError):
                self.connection.delete(self.key)  # our own registration, left without a death mark

    def dequeue_job_and_maintain_ttl(self, timeout, max_idle_time=None):
        """RQ's dequeue, handing on only jobs this app runs (transport.job_refusal); Redis is not trusted.

        A refused job is recorded failed with the reason and never executed. A job whose hash RQ
        cannot even read (a bad field) is logged and dropped instead of ending RQ's work loop.
        """
        while True:
            try:
                result = super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
            except RedisError:
                raise
            except Exception as error:
                if getattr(error, "job_id", None) is None:  # not from reading a popped job
                    raise
                logger.error("Worker %s: refused job %s: its hash is unreadable (%r)", self.name, error.job_id, error)
                continue
            if result is None:
                return None
            job, queue = result
            reason = transport.job_refusal(job)
            if reason is None:
                return result
            logger.error("Worker %s: refused job %s from %s: %s", self.name, job.id, queue.name, reason)
            try:
                transport.job_refuse(job, queue, reason=reason, worker_name=self.name)
            except RedisError:
                raise
            except Exception:
                logger.exception("Worker %s: could not record refused job %s as failed", self.name, job.id)

    def set_state(self, state, pipeline=None):
        # RQ marks the worker idle twice per job (after it, and again before the dequeue).
        if pipeline is None and state == getattr(self, "_state", None):
            return
        super().set_state(state, pipeline)

    _last_suspension_check = 0.0

    def check_for_suspension(self, burst: bool):
        # RQ asks Redis before every job whether `rq suspend` was run; once a second is enough.
        now = time.monotonic()
        if now - self._last_suspension_check < 1.0:
            return
        super().check_for_suspension(burst)
        self._last_suspension_check = now

    def _start_scheduler(
        self,
        burst: bool = False,
        logging_level: str | None = "INFO",
        date_format: str = DEFAULT_LOGGING_DATE_FORMAT,
        log_format: str = DEFAULT_LOGGING_FORMAT,
    ) -> None:
        """RQ's, with WorkerScheduler: the scheduler process does not outlive this worker."""
        self.scheduler = WorkerScheduler(
            self.queues,
            connection=self.connection,
            logging_level=logging_level if logging_level is not None else self.log.level,
            date_format=date_format,
            log_format=log_format,
            serializer=self.serializer,
        )
        self.scheduler.acquire_locks()
        if not self.scheduler.acquired_locks:
            return
        if not burst:
            self.scheduler.start()
            return
        try:  # a burst worker only moves the due jobs, in its own process
            self.scheduler.register_birth()
            self.scheduler.enqueue_scheduled_jobs()
        finally:
            self.scheduler.release_locks()
            self.scheduler.register_death()

    def _redis_answers(self) -> bool:
        try:
            return bool(self.connection.ping())
        except RedisError:
            return False

    def register_birth(self):
        super().register_birth()
        self.db_heartbeat(state=WorkerState.STARTED, force=True)
        report = maintenance.run_maintenance()
        if report.get("reconciled"):
            logger.info("Worker %s: re-delivered %d task(s) at start", self.name, len(report["reconciled"]))
        _close_db_connections()

    _cold_stop_started = False

    def request_force_stop(self, signum, frame):
        # run_workers repeats its stop signal until the worker is gone, because RQ ignores one
        # that comes within 1 s of the first (by the worker's clock). Once the cold stop is under
        # way, the repeats must not start it again.
        if self._cold_stop_started:
            return
        if rq_now() - self._shutdown_requested_date >= timedelta(seconds=1):
            self._cold_stop_started = True
        super().request_force_stop(signum, frame)

    def teardown(self):
        if not self.is_horse:
            # A stop signal now would raise SystemExit inside register_death, before it puts an
            # interrupted task back: the worker is stopping anyway.
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, signal.SIG_IGN)
        super().teardown()

    def _not_interrupted(self) -> set[str]:
        """Ids of this worker's tasks still processing that the shutdown must not re-queue (their run ended)."""
        return set()

    def register_death(self):
        self.channel.writer.confirm(timeout=30)
        super().register_death()
        self.db_heartbeat(force=True, stopped=True)
        if not self.is_horse:
            try:
                requeued = maintenance.tasks_requeue_interrupted(worker_name=self.name, exclude=self._not_interrupted())
            except Exception:
                logger.exception("Worker %s: could not re-queue interrupted tasks (the crash sweep will)", self.name)
            else:
                if requeued:
                    logger.warning("Worker %s: re-queued %d interrupted task(s) on shutdown", self.name, len(requeued))
        _close_db_connections()

    # RQ refreshes the worker key three times per job (before and after the dequeue, after the
    # job), each time as three separate round trips. The key lives for worker_ttl + 60 s, so
    # refreshing it more than once a second adds nothing: repeats inside that second are skipped
    # and the rest go as one pipeline. A refresh with its own timeout (a job's, which lengthens
    # the TTL) always goes out; the TTL comes back down with the first refresh a second later.
    _last_redis_heartbeat = 0.0
    REDIS_HEARTBEAT_MIN_INTERVAL = 1.0

    def heartbeat(self, timeout=None, pipeline=None):
        if pipeline is not None:
            super().heartbeat(timeout, pipeline)
        else:
            now = time.monotonic()
            if timeout is not None or now - self._last_redis_heartbeat >= self.REDIS_HEARTBEAT_MIN_INTERVAL:
                with self.connection.pipeline(transaction=False) as pipe:
                    super().heartbeat(timeout, pipe)
                    pipe.execute()
                self._last_redis_heartbeat = now
            self._revive_scheduler()
        self.db_heartbeat()

    def handle_execution_ended(self, job, queue, heartbeat_ttl):
        # RQ writes the job's last heartbeat here in a round trip of its own, right before the
        # transaction that records the job's end and saves the whole job hash, heartbeat
        # included: the value is set here and written with that transaction.
        job.ended_at = rq_now()
        job.last_heartbeat = job.ended_at

    _last_scheduler_check = 0.0

    def _revive_scheduler(self) -> None:
        """Restart RQ's scheduler process (delays, retries) if a Redis outage killed it.

        RQ itself only checks during maintenance, every 10 minutes.
        """
        scheduler = getattr(self, "scheduler", None)
        if scheduler is None or self.is_horse:
            return
        if time.monotonic() - self._last_scheduler_check < settings.WORKER_HEARTBEAT_SECONDS:
            return
        self._last_scheduler_check = time.monotonic()
        process = getattr(scheduler, "_process", None)
        if process is None or not process.is_alive():
            with contextlib.suppress(RedisError):
                scheduler.acquire_locks(auto_start=True)


class TaskWorker(HeartbeatMixin, Worker):
    """Forks a work horse per task. Django and every handler are imported once, in the parent.

    The parent checks the limits and sends the conditional start, forks, passes the start's
    answer to the horse through a pipe, and records the completion the horse hands back through
    another (see HORSE_ALIAS for the one connection they share in turn). Connections a handler
    opens are the horse's own and closed when it ends. A horse that dies without reporting
    (kill -9, OOM) has its attempt recorded by the parent and follows the retry policy.
    """

    def __init__(self, queues, *args, **kwargs):
        super().__init__(queues, *args, **kwargs)
        self._init_heartbeats()  # the parent records completions through the writer thread
        self._work_horse_killed_handler = self._on_work_horse_killed
        self._outcome_read_fd: int | None = None
        self._start_write_fd: int | None = None

    def execute_job(self, job, queue):
        self.channel.writer.confirm()  # the previous task's completion, before a new process copies this one
        _close_db_connections(keep=HORSE_ALIAS)
        self._started_task_id = None
        self._starting_job_id = job.id
        try:
            _connection_for_horses()
            # Limits are checked here, in the warm parent, and the conditional start is sent from
            # the writer thread; its answer goes to the horse through a pipe once it arrives, so
            # the round trip overlaps with RQ's preparation of the job and the fork. (In a fresh
            # horse the first statement costs a few times more: copy-on-write page faults.)
            self._started_task_id = self.channel.begin_start(job, self.name)
        except Exception:
            logger.exception("Worker %s: start of %s not sent here; the work horse will try", self.name, job.id)
            _drop_connection_for_horses()
        try:
            return super().execute_job(job, queue)
        finally:
            self._starting_job_id = None

    _started_task_id: str | None = None
    _starting_job_id: str | None = None

    def handle_payload(self, message):
        # The row says processing from the start write on, before RQ records the job as this
        # worker's: RQ would ignore a stop for it then. It is remembered (_stopped_job_id) and
        # carried out right after the fork, like a stop that finds no horse yet.
        payload = parse_payload(message)
        job_id = payload.get("job_id")
        starting = payload.get("command") == "stop-job" and job_id and job_id == self._starting_job_id
        if starting and self.get_current_job_id() != job_id:
            logger.info("Worker %s: stop for %s before its fork; carried out after it", self.name, job_id)
            self._stopped_job_id = job_id
            return
        super().handle_payload(message)

    def fork_work_horse(self, job, queue):
        task_id, self._started_task_id = self._started_task_id, None
        self._start_write_fd = self.channel.open_start_pipe()
        self._outcome_read_fd = self.channel.open_outcome_pipe()
        try:
            return super().fork_work_horse(job, queue)
        finally:
            if not self.is_horse:
                self.channel.close_outcome_pipe_writer()
                start_write_fd, self._start_write_fd = self._start_write_fd, None
                self.channel.hand_start_to_horse(task_id, start_write_fd)
                if self._stopped_job_id == job.id:  # a stop (cancel) that came before the fork
                    self.kill_horse()

    def kill_horse(self, sig=signal.SIGKILL):
        # The row says processing from the parent's start write on, a moment before the fork: a
        # stop arriving then finds no horse. RQ would killpg(getpgid(0)), its own process group;
        # the stop is remembered instead (_stopped_job_id) and carried out right after the fork.
        if not self.horse_pid:
            logger.info("Worker %s: no work horse to stop yet", self.name)
            return
        super().kill_horse(sig)

    def main_work_horse(self, job, queue):
        self.channel.writer.enabled = False  # in the horse: hand back through the pipe, or write inline
        for fd in (self._outcome_read_fd, self._start_write_fd):  # the parent's ends
            if fd is not None:
                os.close(fd)
        return super().main_work_horse(job, queue)

    def perform_job(self, job, queue, execution) -> bool:
        try:
            return super().perform_job(job, queue, execution)
        finally:
            if self.is_horse:
                # The handler's own connections; the lifecycle one stays open for the next horse.
                _close_db_connections(keep=HORSE_ALIAS)

    def wait_for_horse(self):
        retpid, ret_val, rusage = super().wait_for_horse()
        if ret_val:  # not a clean exit: the inherited connection may be mid-statement
            _drop_connection_for_horses()
        if self._outcome_read_fd is not None:
            read_fd, self._outcome_read_fd = self._outcome_read_fd, None
            try:
                self.channel.record_outcome_from_horse(read_fd)
            except Exception:
                logger.exception("Worker %s: could not record a work horse's outcome", self.name)
        return retpid, ret_val, rusage

    def _on_work_horse_killed(self, job, retpid, ret_val, rusage) -> None:
        _drop_connection_for_horses()
        try:
            record_crash(job.id, job, f"Work horse died during the task (wait status {ret_val}).")
            limits.release_everywhere(job.id)
        except Exception:
            logger.exception("Could not record the crash of task %s", job.id)
        finally:
            _close_db_connections()


class TaskSimpleWorker(HeartbeatMixin, SimpleWorker):
    """Runs tasks in the worker process itself: no fork, one persistent database connection.

    Faster, but a task that crashes the interpreter takes the worker with it (the crash sweep
    then re-queues the task), and a running task cannot be stopped from outside: cancel marks
    the row cancelled and the handler's result is discarded when it returns.
    """

    def __init__(self, queues, *args, **kwargs):
        super().__init__(queues, *args, **kwargs)
        self._init_heartbeats()

    _busy_since: float | None = None
    _beater: threading.Thread | None = None

    def cleanup_execution(self, job, pipeline, execution=None):
        # Called inside the transaction that records a job's end: the worker's idle state goes
        # with it instead of in a round trip of its own after the job (set_state skips repeats).
        super().cleanup_execution(job, pipeline, execution)
        self.set_state(WorkerStatus.IDLE, pipeline=pipeline)

    def execute_job(self, job, queue):
        # The start goes out now, and RQ's preparation of the job (two Redis round trips) runs
        # while PostgreSQL answers; run_task collects the answer.
        try:
            self.channel.begin_start(job, self.name)
        except Exception:
            logger.exception("Worker %s: start of %s not sent early; the task will try", self.name, job.id)
        # The job runs in this thread, so a helper thread keeps the heartbeat going meanwhile.
        if self._beater is None or not self._beater.is_alive():
            self._beater = threading.Thread(target=self._beat_while_busy, name="heartbeat", daemon=True)
            self._beater.start()
        self._busy_since = time.monotonic()
        try:
            return super().execute_job(job, queue)
        finally:
            # The completion is still on its way (writer thread) while RQ takes the next job: the
            # next start queues behind it, so the rows are written in order, one at a time.
            self._busy_since = None

    def _beat_while_busy(self) -> None:
        interval = settings.WORKER_HEARTBEAT_SECONDS
        while True:
            time.sleep(interval / 2)
            since = self._busy_since
            if since is not None and time.monotonic() - since >= interval / 2:
                self.db_heartbeat(state=WorkerState.BUSY)
                connections.close_all()  # this thread's own connection; reopened on the next beat
