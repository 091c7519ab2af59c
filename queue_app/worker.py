"""RQ worker classes for task rows: the fork worker (isolation) and the simple worker (speed)."""

from __future__ import annotations

import logging

from django.db import connections
from rq import SimpleWorker, Worker

from queue_app.execution import record_crash

logger = logging.getLogger(__name__)


def _close_db_connections() -> None:
    for conn in connections.all(initialized_only=True):
        conn.close()


class TaskWorker(Worker):
    """Forks a work horse per task. Django and every handler are imported once, in the parent.

    The parent never holds a database connection across a fork; each horse opens its own
    and closes it before exiting.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._work_horse_killed_handler = self._on_work_horse_killed

    def fork_work_horse(self, job, queue):
        _close_db_connections()
        return super().fork_work_horse(job, queue)

    def perform_job(self, job, queue, execution) -> bool:
        try:
            return super().perform_job(job, queue, execution)
        finally:
            if self.is_horse:
                _close_db_connections()

    def _on_work_horse_killed(self, job, retpid, ret_val, rusage) -> None:
        try:
            record_crash(job.id, job, f"Work horse died during the task (wait status {ret_val}).")
        except Exception:
            logger.exception("Could not record the crash of task %s", job.id)
        finally:
            _close_db_connections()


class TaskSimpleWorker(SimpleWorker):
    """Runs tasks in the worker process itself: no fork, one persistent database connection.

    Faster, but a task that crashes the interpreter takes the worker with it, and a
    running task cannot be stopped from outside (cancel marks the row; the handler's
    result is then discarded).
    """
