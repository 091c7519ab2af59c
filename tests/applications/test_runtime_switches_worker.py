"""An operator flips a runtime switch in PostgreSQL; the running worker's next task obeys it, no restart."""

from __future__ import annotations

import pytest

from applications.models import Application, ApplicationStatus
from queue_app.models import Task, TaskStatus
from queue_app.services import task_enqueue
from queue_app.switches import switch_set
from tests.applications.conftest import make_application, submissions, worker_env
from tests.conftest import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _run(application_id: int) -> Task:
    task = task_enqueue(task_type="submit_application", payload={"application_id": application_id})

    def done():
        task.refresh_from_db()
        return task.status in (TaskStatus.COMPLETED, TaskStatus.FAILED)

    wait_for(done, timeout=90, message=f"submit task {task.id} finished")
    return task


def test_switches_flipped_in_the_database_reach_the_next_task(processes, sandbox, media_root, browser_session):
    first = make_application(sandbox, 1).application
    second = make_application(sandbox, 2).application
    # The worker's environment says: enabled, not a dry run, cap 10. It is never restarted below.
    worker = processes.worker(**worker_env(sandbox, media_root))

    switch_set(key="applications.enabled", value=False)
    refused = _run(first.id)
    assert refused.status == TaskStatus.FAILED, processes.output(worker)
    assert refused.error_message.startswith("[kill_switch]")
    assert submissions(sandbox) == []

    switch_set(key="applications.enabled", value=True)
    switch_set(key="applications.dry_run", value="on")
    dry = _run(first.id)
    assert dry.status == TaskStatus.COMPLETED, processes.output(worker)
    assert dry.result["outcome"] == "dry_run" and submissions(sandbox) == []

    switch_set(key="applications.dry_run", value="")  # back to the environment's default: really submit
    sent = _run(first.id)
    assert sent.result["outcome"] == "submitted" and len(submissions(sandbox)) == 1
    assert Application.objects.get(id=first.id).status == ApplicationStatus.SUBMITTED

    switch_set(key="applications.daily_cap", value=1)
    capped = _run(second.id)
    assert capped.status == TaskStatus.FAILED and capped.error_message.startswith("[daily_cap]")
    assert len(submissions(sandbox)) == 1
