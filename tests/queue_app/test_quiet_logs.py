"""RQ's per-queue "cleaning registries" lines are DEBUG (hidden at INFO); RQ's other lines and warnings still show."""

from __future__ import annotations

import logging

import pytest


class Collect(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def rq_log():
    """The rq.worker logger as settings.LOGGING configured it, with a collecting handler added."""
    logger = logging.getLogger("rq.worker")
    handler = Collect()
    logger.addHandler(handler)
    level = logger.level
    yield logger, handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_cleaning_registries_is_hidden_at_info_but_warnings_and_job_lines_show(rq_log):
    logger, handler = rq_log
    logger.setLevel(logging.INFO)

    logger.info("Worker %s: cleaning registries for queue: %s", "w1", "default.high")
    logger.info("Job OK (%s)", "abc")
    logger.warning("Worker %s: moving job %s to FailedJobRegistry", "w1", "abc")

    assert [r.getMessage() for r in handler.records] == [
        "Job OK (abc)",
        "Worker w1: moving job abc to FailedJobRegistry",
    ]


def test_cleaning_registries_shows_as_debug_when_the_level_is_debug(rq_log):
    logger, handler = rq_log
    logger.setLevel(logging.DEBUG)

    logger.info("Worker %s: cleaning registries for queue: %s", "w1", "default.high")

    assert [(r.levelname, r.getMessage()) for r in handler.records] == [
        ("DEBUG", "Worker w1: cleaning registries for queue: default.high")
    ]


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_starts_without_a_cleaning_line_per_queue(processes):
    from queue_app.models import Task, TaskStatus
    from queue_app.services import task_enqueue
    from tests.conftest import wait_for

    worker = processes.worker()
    task = task_enqueue(task_type="noop", payload={})
    wait_for(
        lambda: Task.objects.filter(id=task.id, status=TaskStatus.COMPLETED).exists(),
        timeout=60,
        message="the worker ran a task (RQ cleans its registries before the first dequeue)",
    )

    output = processes.output(worker)
    assert "Listening on" in output  # RQ's INFO lines still show
    assert "cleaning registries" not in output
