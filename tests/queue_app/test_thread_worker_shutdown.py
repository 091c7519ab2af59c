"""A thread worker's shutdown never re-queues a task whose run succeeded, and loses no end handed over.

In-process: the worker's pool and recorder run real threads on fake jobs; register_death is the real one.
"""

from __future__ import annotations

import threading
import uuid
from types import SimpleNamespace

import pytest
from django.db import OperationalError
from model_bakery import baker

from queue_app import lifecycle, transport
from queue_app.models import Task, TaskStatus
from queue_app.thread_worker import Run, TaskThreadWorker
from tests.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")  # the threads use their own connections


def _reload(task: Task) -> Task:
    task.refresh_from_db()
    return task


def _worker(monkeypatch) -> TaskThreadWorker:
    worker = TaskThreadWorker(["normal"], connection=transport.get_connection())
    worker.threads = 2
    monkeypatch.setattr(worker, "_write_ends", lambda runs, *, idle: None)  # RQ's side is not under test here
    return worker


def _processing(worker: TaskThreadWorker) -> Task:
    return baker.make(Task, task_type="noop", payload={}, status=TaskStatus.PROCESSING, worker_name=worker.name)


def _submit(worker: TaskThreadWorker, task: Task, perform=None) -> Run:
    """A run of `task` on the worker's pool whose handler returns {"ok": true} (after `perform`, if given)."""
    run: Run

    def handler():
        from django.utils import timezone

        assert run.claim()  # as ThreadChannel.hand_outcome_to_parent does when the handler returned
        run.outcome = (str(task.id), '{"ok": true}', timezone.now(), 0.01)
        if perform is not None:
            perform()
        return {"ok": True}

    job = SimpleNamespace(id=str(uuid.uuid4()), func_name=transport.JOB_FUNCTION, args=[str(task.id)], perform=handler)
    run = Run(job, None, SimpleNamespace(id=str(uuid.uuid4())), timeout=0)
    with worker._slots:
        worker._runs[run.execution.id] = run
    worker._work.put(run)
    return run


def _stop(worker: TaskThreadWorker) -> None:
    worker._stop_recorder()
    worker._stop_pool()


def test_a_success_whose_end_an_outage_kept_out_is_not_requeued_at_shutdown(monkeypatch, redis_conn):
    worker = _worker(monkeypatch)
    tried = []

    def refused(rows, **kwargs):
        tried.append(rows)
        raise OperationalError("the server closed the connection")

    monkeypatch.setattr(lifecycle, "complete_many", refused)
    ran, interrupted = _processing(worker), _processing(worker)
    worker._start_pool()
    run = _submit(worker, ran)
    wait_for(lambda: run.returned and tried, timeout=10, message="the run returned and its end was refused")
    worker.register_death()  # PostgreSQL refuses the end to the last: the task stays processing
    assert _reload(ran).status == TaskStatus.PROCESSING  # not run again; the crash sweep's if never written
    assert _reload(interrupted).status == TaskStatus.QUEUED  # a run that did not end is queued again


def test_an_end_a_slow_recorder_still_holds_is_written_at_shutdown(monkeypatch, redis_conn):
    worker = _worker(monkeypatch)
    worker.RECORDER_STOP_SECONDS = 0.2
    release = threading.Event()
    complete_many = lifecycle.complete_many
    recorder_calls = []

    def slow_in_the_recorder(rows, **kwargs):
        if threading.current_thread() is worker._recorder:
            recorder_calls.append(rows)
            release.wait(30)  # a statement that takes long (a lock, a slow server)
        complete_many(rows, **kwargs)

    monkeypatch.setattr(lifecycle, "complete_many", slow_in_the_recorder)
    ran = _processing(worker)
    worker._start_pool()
    first_recorder = worker._recorder
    run = _submit(worker, ran)
    wait_for(lambda: run.returned and recorder_calls, timeout=10, message="the recorder is writing the end")
    try:
        worker.register_death()  # the recorder's stop times out: the end is written here
        assert _reload(ran).status == TaskStatus.COMPLETED
        assert _reload(ran).result == {"ok": True}
        # RQ's loop re-entered (a Redis outage): no second recorder while the first one lives.
        worker._start_pool()
        assert worker._recorder is first_recorder
        assert [t for t in threading.enumerate() if t.name == "task-recorder"] == [first_recorder]
    finally:
        release.set()
    first_recorder.join(10)
    assert not first_recorder.is_alive()
    worker._start_pool()  # the next dequeue: the old one ended, a new one starts and takes the ends
    assert worker._recorder is not first_recorder and worker._recorder.is_alive()
    later = _processing(worker)
    run = _submit(worker, later)
    wait_for(lambda: _reload(later).status == TaskStatus.COMPLETED, timeout=10, message="the new recorder writes")
    _stop(worker)


def test_a_cold_stop_waits_for_a_run_that_just_claimed_its_success(monkeypatch, redis_conn):
    """The run's thread claimed the outcome when the cold stop came, and hands it over a moment later."""
    worker = _worker(monkeypatch)
    stopping = threading.Event()  # the shutdown waits for the run (the fix) or stops the recorder (the bug)

    class Slots(threading.Condition):
        def wait(self, timeout=None):
            if threading.current_thread() is threading.main_thread():
                stopping.set()
            return super().wait(timeout)

    class Ended:
        def __init__(self, inner):
            self.inner = inner

        def put(self, item):
            if item is None:
                stopping.set()
            self.inner.put(item)

        def __getattr__(self, name):
            return getattr(self.inner, name)

    worker._slots = Slots()
    worker._ended = Ended(worker._ended)
    claimed = threading.Event()
    ran = _processing(worker)
    worker._start_pool()
    run = _submit(worker, ran, perform=lambda: (claimed.set(), stopping.wait(10)))
    assert claimed.wait(10)
    worker._cold_stop_started = True
    worker._finish_runs()
    worker.register_death()
    assert run.returned
    assert _reload(ran).status == TaskStatus.COMPLETED  # recorded, not re-queued (it would run twice)
