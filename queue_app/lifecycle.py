"""Every change of Task.status: named, conditional transitions, single and batch. Nothing else writes it.

A new row is inserted, not moved: services.task_enqueue and task_enqueue_many write it as queued
(scheduled when its run_at lies ahead); a row given no status starts pending. From there:

    operation       from                                    to
    start           pending, scheduled, queued, retrying    processing   (a worker; prepared SQL; or start_many)
    wait            pending, scheduled, queued, retrying    scheduled    (a worker, over a limit)
    complete        processing                              completed    (a worker; prepared SQL; or complete_many)
    fail            processing                              retrying or failed (a worker; prepared SQL)
    cancel          pending, scheduled, queued, retrying,   cancelled
                    processing
    retry           failed, cancelled                       queued       (a new attempt, by a person)
    pend            queued                                  pending      (its push to Redis failed)
    deliver         pending                                 queued       (reconcile pushed it)
    requeue         processing                              queued       (an interrupted run)
    give_up         processing                              failed       (an interrupted run, no retries left)

Each is one conditional UPDATE: a row in another status is left alone and the operation says so
(False, or the count of rows moved), so two actors racing on a row cannot both win. The worker's
four statements (start, wait, complete, fail) are SQL built here once from TaskStatus and run on
the `task_state` connection, where psycopg prepares them (settings: DATABASES["task_state"]); the
rest go through the ORM on the caller's connection and transaction.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Iterable
from concurrent.futures import Future
from datetime import datetime

from django.db import connections
from django.db.models import Case, F, FloatField, Func, Value, When

from queue_app.db import run_with_reconnect
from queue_app.models import (
    CANCELLABLE_STATUSES,
    RETRYABLE_STATUSES,
    STARTABLE_STATUSES,
    Task,
    TaskStatus,
)

logger = logging.getLogger(__name__)

TASK_TABLE = Task._meta.db_table
STARTABLE = tuple(str(status) for status in STARTABLE_STATUSES)
_STARTABLE_PLACEHOLDERS = ", ".join(["%s"] * len(STARTABLE))
_PROCESSING = str(TaskStatus.PROCESSING)
_SCHEDULED = str(TaskStatus.SCHEDULED)
_COMPLETED = str(TaskStatus.COMPLETED)

# The statuses are parameters, not literals: every statement names its from- and to-statuses
# through TaskStatus. One round trip moves the row to processing only if it may start: a
# cancelled or finished task is never run, and of two deliveries only one wins.
START_SQL = f"""
    UPDATE {TASK_TABLE}
       SET status = %s, attempts = attempts + 1, started_at = %s,
           finished_at = NULL, duration = NULL, worker_name = %s, wait_reason = ''
     WHERE id = %s AND status IN ({_STARTABLE_PLACEHOLDERS})
 RETURNING task_type, payload, attempts, max_retries
"""
WAIT_SQL = f"""
    UPDATE {TASK_TABLE}
       SET status = %s, run_at = %s, wait_reason = %s
     WHERE id = %s AND status IN ({_STARTABLE_PLACEHOLDERS})
"""
COMPLETE_SQL = f"""
    UPDATE {TASK_TABLE}
       SET status = %s, result = %s, finished_at = %s, duration = %s,
           error_type = '', error_message = '', error_traceback = ''
     WHERE id = %s AND status = %s
"""
FAIL_SQL = f"""
    UPDATE {TASK_TABLE}
       SET status = %s, finished_at = %s, duration = %s, run_at = %s,
           error_type = %s, error_message = %s, error_traceback = %s
     WHERE id = %s AND status = %s
"""
# The batch and thread workers' (queue_app.batch_worker, thread_worker): one statement starts, one
# completes many tasks. The completion takes only rows still running under the worker that ran them.
START_MANY_SQL = f"""
    UPDATE {TASK_TABLE}
       SET status = %s, attempts = attempts + 1, started_at = %s,
           finished_at = NULL, duration = NULL, worker_name = %s, wait_reason = ''
     WHERE id = ANY(%s::uuid[]) AND status IN ({_STARTABLE_PLACEHOLDERS})
 RETURNING id, task_type, payload, attempts, max_retries
"""
COMPLETE_MANY_SQL = f"""
    UPDATE {TASK_TABLE} AS task
       SET status = %s, result = ended.result::jsonb, finished_at = ended.finished_at, duration = ended.duration,
           error_type = '', error_message = '', error_traceback = ''
      FROM unnest(%s::text[], %s::timestamptz[], %s::float8[], %s::uuid[]) AS ended(result, finished_at, duration, id)
     WHERE task.id = ended.id AND task.status = %s AND task.worker_name = %s
"""
ROW_SQL = f"SELECT task_type, payload, attempts, max_retries FROM {TASK_TABLE} WHERE id = %s"


def execute(sql: str, params: list) -> list[tuple]:
    """Run one worker statement on the task_state connection: its rows, or [(rowcount,)]."""

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

    Each worker of this app owns one (through its HorseChannel) and turns it on. Statements are
    written one at a time, in the order given. A completion is handed over (`submit`) and written
    while RQ records the job and takes the next one; the next start queues behind it, so at most
    one completion is in flight. The fork worker's parent waits for it (`confirm()`) before it
    forks, a stopping worker before it exits. A start is sent (`call`) as soon as the job is known
    and its rows are collected when the task is about to run, so the PostgreSQL round trip
    overlaps with RQ's Redis ones (and, in the fork worker, with the fork) instead of adding to
    them. Turned off (the default, and in a work horse) it writes inline.
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
            execute(sql, params)
            return
        self._put(sql, params, None)

    def call(self, sql: str, params: list) -> Future:
        """Send a statement now; its rows (or its exception) are collected from the Future."""
        future: Future = Future()
        if not self.enabled:
            try:
                future.set_result(execute(sql, params))
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
                rows = execute(sql, params)
            except Exception as error:  # reconnects exhausted: the row still says what it said
                if future is None:
                    tasks = params[4] if sql == COMPLETE_MANY_SQL else params[-2]  # the id(s)
                    logger.exception("Task %s: completion not recorded in PostgreSQL", tasks)
                else:
                    future.set_exception(error)
            else:
                if future is not None:
                    future.set_result(rows)
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()


INLINE = LifecycleWriter()  # never turned on: writes in the calling thread; holds no state


# The worker's transitions: the task_state connection, prepared statements.


def start(task_id: str, *, worker_name: str, now: datetime, writer: LifecycleWriter = INLINE) -> Future:
    """Send the conditional start; the Future gives [(task_type, payload, attempts, max_retries)] or []."""
    return writer.call(START_SQL, [_PROCESSING, now, worker_name, task_id, *STARTABLE])


def start_many(task_ids: list[str], *, worker_name: str, now: datetime, writer: LifecycleWriter = INLINE) -> Future:
    """start for a batch in one statement; the Future gives [(id, task_type, payload, attempts, max_retries)]
    for the rows that started (a row in another status is left alone and missing from the answer)."""
    return writer.call(START_MANY_SQL, [_PROCESSING, now, worker_name, list(task_ids), *STARTABLE])


def complete_many(
    outcomes: list[tuple[str, str, datetime, float]], *, worker_name: str, writer: LifecycleWriter = INLINE
) -> None:
    """complete for many runs in one statement: (task_id, result JSON, finished_at, duration) each.

    Only a row still processing under worker_name takes its outcome: one cancelled, re-queued (by
    the crash sweep) or started again by another worker meanwhile is left alone."""
    if not outcomes:
        return
    task_ids, results, finished, durations = (list(column) for column in zip(*outcomes, strict=True))
    writer.submit(COMPLETE_MANY_SQL, [_COMPLETED, results, finished, durations, task_ids, _PROCESSING, worker_name])


def wait(task_id: str, *, run_at: datetime, reason: str) -> bool:
    """A waiting task over a limit: scheduled again for run_at, with the reason on the row."""
    return execute(WAIT_SQL, [_SCHEDULED, run_at, reason, task_id, *STARTABLE])[0][0] == 1


def complete(
    task_id: str, *, result: str, finished_at: datetime, duration: float, writer: LifecycleWriter = INLINE
) -> None:
    """Record a run's success (`result` is its JSON); only a processing row takes it."""
    writer.submit(COMPLETE_SQL, [_COMPLETED, result, finished_at, duration, task_id, _PROCESSING])


def fail(
    task_id: str,
    *,
    retrying: bool,
    finished_at: datetime,
    duration: float | None,
    run_at: datetime | None,
    error_type: str,
    error_message: str,
    error_traceback: str,
) -> bool:
    """Record a failed attempt: retrying (RQ delivers it again at run_at) or failed for good."""
    status = str(TaskStatus.RETRYING if retrying else TaskStatus.FAILED)
    params = [status, finished_at, duration, run_at, error_type, error_message, error_traceback, task_id, _PROCESSING]
    return execute(FAIL_SQL, params)[0][0] == 1


def read_started(task_id: str) -> tuple | None:
    """The started row's (task_type, payload, attempts, max_retries), read again (too large for a pipe)."""
    rows = execute(ROW_SQL, [task_id])
    return rows[0] if rows else None


# Everyone else's: the ORM, on the caller's connection and in its transaction.


def _moved(ids: Iterable, from_: Iterable[str], **changes) -> int:
    return Task.objects.filter(id__in=list(ids), status__in=list(from_)).update(**changes)


def cancel_many(ids: Iterable, *, now: datetime) -> int:
    """Waiting or running tasks to cancelled; a running one gets the seconds it ran as its duration."""
    ran = Func(Value(now) - F("started_at"), template="EXTRACT(EPOCH FROM %(expressions)s)", output_field=FloatField())
    # The CASE reads the row as it was before this UPDATE: processing means it was running.
    duration = Case(When(status=TaskStatus.PROCESSING, started_at__isnull=False, then=ran), default=F("duration"))
    return _moved(ids, CANCELLABLE_STATUSES, status=TaskStatus.CANCELLED, finished_at=now, duration=duration)


def cancel(task_id, *, now: datetime) -> bool:
    return cancel_many([task_id], now=now) == 1


def retry_many(ids: Iterable, *, now: datetime) -> int:
    """Failed or cancelled tasks to queued, as a new attempt."""
    return _moved(ids, RETRYABLE_STATUSES, status=TaskStatus.QUEUED, enqueued_at=now, run_at=None, finished_at=None)


def retry(task_id, *, now: datetime) -> bool:
    return retry_many([task_id], now=now) == 1


def pend_many(ids: Iterable, *, clear_enqueued: bool = True) -> int:
    """Queued tasks whose push to Redis failed to pending: reconcile delivers them."""
    changes = {"enqueued_at": None} if clear_enqueued else {}
    return _moved(ids, [TaskStatus.QUEUED], status=TaskStatus.PENDING, **changes)


def pend(task_id, *, clear_enqueued: bool = True) -> bool:
    return pend_many([task_id], clear_enqueued=clear_enqueued) == 1


def deliver_many(ids: Iterable, *, now: datetime) -> int:
    """Pending tasks whose job reconcile pushed to Redis to queued."""
    return _moved(ids, [TaskStatus.PENDING], status=TaskStatus.QUEUED, enqueued_at=now)


def requeue_many(
    ids: Iterable,
    *,
    now: datetime,
    error_type: str,
    error_message: str,
    from_: Iterable[str] = (TaskStatus.PROCESSING,),
    worker_name: str | None = None,
    within_retries: bool = False,
) -> int:
    """Interrupted runs back to queued; the run counted as an attempt and its error stays on the row.

    worker_name: only rows that worker started; within_retries: only rows with retries left.
    """
    rows = Task.objects.filter(id__in=list(ids), status__in=list(from_))
    if worker_name is not None:
        rows = rows.filter(worker_name=worker_name)
    if within_retries:
        rows = rows.filter(attempts__lte=F("max_retries"))
    return rows.update(
        status=TaskStatus.QUEUED,
        enqueued_at=now,
        finished_at=now,
        run_at=None,
        error_type=error_type,
        error_message=error_message,
        error_traceback="",
    )


def requeue(task_id, **kwargs) -> bool:
    return requeue_many([task_id], **kwargs) == 1


def give_up_many(
    ids: Iterable, *, now: datetime, error_type: str, error_message: str, worker_name: str | None = None
) -> int:
    """Interrupted runs with no retries left to failed."""
    rows = Task.objects.filter(id__in=list(ids), status=TaskStatus.PROCESSING)
    if worker_name is not None:
        rows = rows.filter(worker_name=worker_name)
    return rows.update(
        status=TaskStatus.FAILED,
        finished_at=now,
        error_type=error_type,
        error_message=error_message,
        error_traceback="",
    )


def give_up(task_id, **kwargs) -> bool:
    return give_up_many([task_id], **kwargs) == 1
