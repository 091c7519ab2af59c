"""A handler result PostgreSQL cannot store (NaN, a NUL character) fails its own task and nothing else.

jsonb refuses NaN/Infinity and \\u0000: once such a result reached the thread worker's recorder, its
one statement for many ends failed on every try, and every later end of that worker with it.
"""

from __future__ import annotations

import math
import threading
from types import SimpleNamespace

import pytest
from django.utils import timezone
from model_bakery import baker

from queue_app import execution, registry, transport
from queue_app.models import Task, TaskStatus
from queue_app.thread_worker import TaskThreadWorker
from tests.conftest import wait_for


def _returns(payload: dict, context: registry.TaskContext) -> dict:
    return {"value": {"nan": math.nan, "inf": math.inf, "nul": "a\x00b", "ok": "fine"}[payload["kind"]]}


registry.register("test_unstorable", _returns)


def _reload(task: Task) -> Task:
    task.refresh_from_db()
    return task


@pytest.mark.django_db(transaction=True, databases="__all__")
@pytest.mark.parametrize("kind", ["nan", "inf", "nul"])
def test_a_result_jsonb_refuses_fails_the_task_with_a_clear_error(kind):
    task = baker.make(Task, task_type="test_unstorable", payload={"kind": kind}, status=TaskStatus.QUEUED)
    with pytest.raises(ValueError, match="the handler's result cannot be stored as JSON"):
        execution.run_task(str(task.id), "test_unstorable")
    task = _reload(task)
    assert task.status == TaskStatus.FAILED  # not retried: the handler ran, and would run again
    assert "the handler's result cannot be stored as JSON" in task.error_message


@pytest.mark.django_db(transaction=True, databases="__all__")
def test_a_result_with_an_escaped_backslash_u0000_text_is_stored():
    task = baker.make(Task, task_type="test_unstorable", payload={"kind": "ok"}, status=TaskStatus.QUEUED)
    registry.register("test_backslash_text", lambda payload, context: {"text": "\\u0000 is how JSON writes NUL"})
    task.task_type = "test_backslash_text"
    task.save()
    execution.run_task(str(task.id), "test_backslash_text")
    task = _reload(task)
    assert task.status == TaskStatus.COMPLETED
    assert task.result == {"text": "\\u0000 is how JSON writes NUL"}


def _ended(task: Task, result: str) -> SimpleNamespace:
    return SimpleNamespace(outcome=(str(task.id), result, timezone.now(), 0.1), job=None, execution=None)


@pytest.mark.django_db(transaction=True, databases="__all__")  # the recorder writes on its task_state connection
@pytest.mark.parametrize("bad_result", ['{"x": NaN}', '{"x": "\\u0000"}'])
def test_one_unstorable_end_does_not_block_the_recorder(redis_conn, monkeypatch, bad_result):
    """The reviewer's repro (/work/notes/review_poison_test.py.txt), polled rather than slept."""
    worker = TaskThreadWorker(["normal"], connection=transport.get_connection())
    written = []
    monkeypatch.setattr(worker, "_write_ends", lambda runs, *, idle: written.extend(runs))

    def make() -> Task:
        return baker.make(Task, task_type="noop", payload={}, status=TaskStatus.PROCESSING, worker_name=worker.name)

    bad, with_it, later = make(), make(), make()
    recorder = threading.Thread(target=worker._record_runs)
    recorder.start()
    try:
        # The bad end and a good one in the same statement; then a good one alone, after it.
        worker._ended.put(_ended(bad, bad_result))
        worker._ended.put(_ended(with_it, '{"ok": 1}'))
        wait_for(lambda: _reload(with_it).status == TaskStatus.COMPLETED, timeout=10, message="the good end beside")
        worker._ended.put(_ended(later, '{"ok": 2}'))
        wait_for(lambda: _reload(later).status == TaskStatus.COMPLETED, timeout=10, message="the later good end")
    finally:
        worker._ended.put(None)
        recorder.join(10)
    assert not recorder.is_alive()
    assert (_reload(with_it).result, _reload(later).result) == ({"ok": 1}, {"ok": 2})
    bad = _reload(bad)
    assert bad.status == TaskStatus.FAILED
    assert "cannot be stored" in bad.error_message
    assert worker._unwritten == ([], [])  # nothing left to try again
    assert len(written) == 3  # RQ's end of each run, the bad one too (its job did finish)
