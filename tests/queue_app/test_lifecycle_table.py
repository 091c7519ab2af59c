"""The task transition table, state by state: each operation of queue_app.lifecycle moves a row
from the statuses it allows and leaves a row in any other status as it was.

Plus the two holes a mutation check found: reconcile must deliver `retrying` rows again after a
Redis flush, and a cancelled task whose old job arrives later must not run.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from model_bakery import baker

from queue_app import lifecycle, maintenance, services, transport
from queue_app.models import Task, TaskStatus
from tests.conftest import wait_for

ALL = list(TaskStatus)
STARTABLE = {TaskStatus.PENDING, TaskStatus.SCHEDULED, TaskStatus.QUEUED, TaskStatus.RETRYING}
EARLIER = timezone.now() - timedelta(hours=1)


def _start(task_id) -> bool:
    return bool(lifecycle.start(task_id, worker_name="w1", now=timezone.now()).result())


def _wait(task_id) -> bool:
    return lifecycle.wait(task_id, run_at=timezone.now() + timedelta(seconds=30), reason="limit")


def _complete(task_id) -> bool | None:
    lifecycle.complete(task_id, result='{"ok": true}', finished_at=timezone.now(), duration=0.5)
    return None  # written inline, answers nothing: the row tells


def _fail(retrying: bool):
    def fail(task_id) -> bool:
        return lifecycle.fail(
            task_id,
            retrying=retrying,
            finished_at=timezone.now(),
            duration=0.5,
            run_at=None,
            error_type="Boom",
            error_message="boom",
            error_traceback="",
        )

    return fail


def _interrupted(operation):
    def apply(task_id) -> bool:
        return operation(task_id, now=timezone.now(), error_type="WorkerLost", error_message="lost")

    return apply


# operation -> (apply to one id, the statuses it moves a row from, the status it moves it to)
OPERATIONS = {
    "start": (_start, STARTABLE, TaskStatus.PROCESSING),
    "wait": (_wait, STARTABLE, TaskStatus.SCHEDULED),
    "complete": (_complete, {TaskStatus.PROCESSING}, TaskStatus.COMPLETED),
    "fail_retrying": (_fail(True), {TaskStatus.PROCESSING}, TaskStatus.RETRYING),
    "fail": (_fail(False), {TaskStatus.PROCESSING}, TaskStatus.FAILED),
    "cancel": (
        lambda task_id: lifecycle.cancel(task_id, now=timezone.now()),
        {*STARTABLE, TaskStatus.PROCESSING},
        TaskStatus.CANCELLED,
    ),
    "retry": (
        lambda task_id: lifecycle.retry(task_id, now=timezone.now()),
        {TaskStatus.FAILED, TaskStatus.CANCELLED},
        TaskStatus.QUEUED,
    ),
    "pend": (lifecycle.pend, {TaskStatus.QUEUED}, TaskStatus.PENDING),
    "deliver": (
        lambda task_id: lifecycle.deliver_many([task_id], now=timezone.now()) == 1,
        {TaskStatus.PENDING},
        TaskStatus.QUEUED,
    ),
    "requeue": (_interrupted(lifecycle.requeue), {TaskStatus.PROCESSING}, TaskStatus.QUEUED),
    "give_up": (_interrupted(lifecycle.give_up), {TaskStatus.PROCESSING}, TaskStatus.FAILED),
}

TABLE = [
    pytest.param(name, status, status in allowed, id=f"{name}-{status}")
    for name, (_, allowed, _) in OPERATIONS.items()
    for status in ALL
]


@pytest.mark.django_db(transaction=True, databases=["default", "task_state"])
@pytest.mark.parametrize(("operation", "from_status", "allowed"), TABLE)
def test_each_transition_moves_only_the_statuses_it_allows(operation, from_status, allowed):
    apply, _, to_status = OPERATIONS[operation]
    task = baker.make(
        Task, task_type="noop", payload={}, status=from_status, started_at=EARLIER, finished_at=EARLIER, attempts=1
    )
    before = Task.objects.values().get(id=task.id)
    answer = apply(str(task.id))
    row = Task.objects.values().get(id=task.id)
    if answer is not None:
        assert answer is allowed
    if allowed:
        assert row["status"] == to_status
    else:
        assert row == before  # refused: not one column written


@pytest.mark.django_db(transaction=True, databases=["default", "task_state"])
def test_many_at_once_moves_the_allowed_rows_and_counts_them():
    rows = {status: baker.make(Task, task_type="noop", payload={}, status=status) for status in ALL}
    ids = [task.id for task in rows.values()]
    assert lifecycle.cancel_many(ids, now=timezone.now()) == 5
    cancelled = set(Task.objects.filter(status=TaskStatus.CANCELLED).values_list("id", flat=True))
    assert cancelled == {task.id for status, task in rows.items() if status not in {"completed", "failed"}}
    assert lifecycle.requeue_many(ids, now=timezone.now(), error_type="x", error_message="y") == 0  # none processing
    assert lifecycle.retry_many(ids, now=timezone.now()) == 7  # six cancelled and the failed one


@pytest.mark.django_db(transaction=True, databases=["default", "task_state"])
def test_ends_recorded_together_complete_only_the_rows_still_running_under_that_worker():
    """complete_many (the batch and thread workers' recorded ends) is as conditional as complete, and
    a row the crash sweep re-queued and another worker started meanwhile keeps its new run."""
    mine = baker.make(Task, task_type="noop", payload={}, status=TaskStatus.PROCESSING, worker_name="w1")
    other = baker.make(Task, task_type="noop", payload={}, status=TaskStatus.PROCESSING, worker_name="w2")
    statuses = [status for status in ALL if status != TaskStatus.PROCESSING]
    refused = [baker.make(Task, task_type="noop", payload={}, status=status, worker_name="w1") for status in statuses]
    before = {task.id: Task.objects.values().get(id=task.id) for task in [other, *refused]}
    now = timezone.now()
    ids = [mine.id, other.id, *(task.id for task in refused)]
    lifecycle.complete_many([(str(i), '{"ok": true}', now, 0.25) for i in ids], worker_name="w1")
    mine.refresh_from_db()
    assert (mine.status, mine.result, mine.duration) == (TaskStatus.COMPLETED, {"ok": True}, 0.25)
    assert {i: Task.objects.values().get(id=i) for i in before} == before  # not one column written


@pytest.mark.django_db(transaction=True, databases=["default", "task_state"])
def test_a_cancelled_run_keeps_the_seconds_it_ran_and_a_waiting_one_none():
    now = timezone.now()
    running = baker.make(Task, task_type="noop", status=TaskStatus.PROCESSING, started_at=now - timedelta(seconds=7))
    waiting = baker.make(Task, task_type="noop", status=TaskStatus.QUEUED, started_at=None)
    assert lifecycle.cancel_many([running.id, waiting.id], now=now) == 2
    running.refresh_from_db()
    waiting.refresh_from_db()
    assert running.duration == pytest.approx(7, abs=0.01)
    assert waiting.duration is None


def test_a_real_worker_starts_exactly_the_startable_rows(processes, redis_conn):
    tasks = {status: baker.make(Task, task_type="noop", payload={}, status=status, run_at=None) for status in ALL}
    transport.push(tasks.values())  # a job for every row, as stale deliveries would bring them
    worker = processes.worker(burst=True)
    worker.wait(timeout=60)
    for status, task in tasks.items():
        task.refresh_from_db()
        if status in STARTABLE:
            assert (task.status, task.attempts) == (TaskStatus.COMPLETED, 1), status
        else:
            assert (task.status, task.attempts) == (status, 0), status


def test_reconcile_delivers_a_retrying_task_again_after_a_redis_flush(processes, redis_conn, settings):
    settings.RECONCILE_GRACE_SECONDS = 0
    task = services.task_enqueue(task_type="noop")
    # Its first attempt failed and RQ holds the retry in a scheduled registry, which the flush loses.
    Task.objects.filter(id=task.id).update(
        status=TaskStatus.RETRYING, attempts=1, finished_at=timezone.now() - timedelta(seconds=5), run_at=None
    )
    redis_conn.flushdb()
    assert maintenance.tasks_reconcile() == [str(task.id)]
    processes.worker(burst=True).wait(timeout=60)
    task.refresh_from_db()
    assert (task.status, task.attempts) == (TaskStatus.COMPLETED, 2)


def test_a_task_cancelled_while_redis_is_down_does_not_run_when_its_old_job_arrives(processes, redis_conn, settings):
    task = services.task_enqueue(task_type="noop")
    assert transport.get_queue("system.normal").job_ids == [str(task.id)]
    reachable = settings.RQ_QUEUES
    settings.RQ_QUEUES = {name: {"URL": "redis://127.0.0.1:1/0"} for name in reachable}  # nothing listens
    services.task_cancel(task_id=task.id)  # the row says cancelled; the job stays in Redis
    settings.RQ_QUEUES = reachable
    assert transport.get_queue("system.normal").job_ids == [str(task.id)]
    worker = processes.worker(burst=True)
    worker.wait(timeout=60)
    wait_for(lambda: not transport.get_queue("system.normal").job_ids, message="the old job taken")
    task.refresh_from_db()
    assert (task.status, task.attempts, task.started_at) == (TaskStatus.CANCELLED, 0, None)
    assert "not started" in processes.output(worker)
