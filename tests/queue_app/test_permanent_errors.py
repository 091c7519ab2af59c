"""A handler raising PermanentTaskError fails at once, with retries left; other errors still retry."""

from __future__ import annotations

import pytest
from rq.job import Job as RQJob

from core.errors import PermanentTaskError
from queue_app import registry, services
from queue_app.models import Task, TaskStatus
from queue_app.worker import TaskWorker
from tests.conftest import wait_for


def _fails_for_good(payload: dict, context: registry.TaskContext):
    raise PermanentTaskError(f"Bad input on attempt {context.attempt}; retrying cannot help.")


def _fails_for_now(payload: dict, context: registry.TaskContext):
    raise RuntimeError(f"Flaky on attempt {context.attempt}.")


# Registered on import: in this test process, and in the worker that loads the class below.
registry.register("test_permanent_failure", _fails_for_good)
registry.register("test_transient_failure", _fails_for_now)


class RegisteringWorker(TaskWorker):
    """The product's worker; importing this module registered the two test task types in it."""


WORKER_CLASS = f"{__name__}.RegisteringWorker"


def _reload(task: Task) -> Task:
    task.refresh_from_db()
    return task


@pytest.mark.django_db(transaction=True)
def test_a_permanent_error_fails_the_task_on_its_first_attempt(processes, redis_conn):
    permanent = services.task_enqueue(task_type="test_permanent_failure", max_retries=3)
    transient = services.task_enqueue(task_type="test_transient_failure", max_retries=3)
    processes.worker(worker_class=WORKER_CLASS)

    wait_for(lambda: _reload(permanent).status == TaskStatus.FAILED, message="permanent failure recorded")
    assert permanent.error_type == "PermanentTaskError"
    assert permanent.error_message == "Bad input on attempt 1; retrying cannot help."
    assert permanent.run_at is None
    # The transient one meanwhile goes through the backoff (1 s in tests) to a second attempt...
    wait_for(lambda: _reload(transient).attempts >= 2, timeout=30, message="transient failure retried")
    # ...while the permanent one was never attempted again, neither by us nor by RQ.
    assert _reload(permanent).attempts == 1
    assert _reload(permanent).status == TaskStatus.FAILED
    rq_job = RQJob.fetch(str(permanent.id), connection=redis_conn)
    assert rq_job.get_status() == "failed"
    assert not rq_job.retries_left
