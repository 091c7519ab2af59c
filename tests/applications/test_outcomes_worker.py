"""The track_outcomes task in a real worker process: it records the sandbox's outcomes, and a CAPTCHA fails it
for good (no retry) with the run marked stopped."""

from __future__ import annotations

import pytest
import requests

from applications.models import Application, Outcome, OutcomeEvent, OutcomeRun, OutcomeRunStatus
from queue_app.models import Task, TaskStatus
from queue_app.services import task_enqueue
from tests.applications.conftest import worker_env
from tests.applications.test_outcomes import script, sent
from tests.conftest import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def done(task: Task) -> Task | None:
    task = Task.objects.get(id=task.id)
    return task if task.status in (TaskStatus.COMPLETED, TaskStatus.FAILED) else None


def test_a_worker_tracks_outcomes_then_stops_at_a_captcha_without_retrying(
    processes, sandbox, media_root, browser_session
):
    applications = [sent(sandbox, index) for index in (0, 1)]
    script(sandbox, applications[0], [{"kind": "viewed", "after_hours": -2}, {"kind": "replied", "after_hours": -1}])
    script(sandbox, applications[1], [{"kind": "viewed", "after_hours": -2}])
    processes.worker(**worker_env(sandbox, media_root))

    task = task_enqueue(task_type="track_outcomes", payload={"sources": ["browser"]})
    finished = wait_for(lambda: done(task), timeout=120, message="track_outcomes finished")
    assert finished.status == TaskStatus.COMPLETED, finished.error_message
    assert finished.result["events_recorded"] == 3
    assert dict(Application.objects.values_list("id", "outcome")) == {
        applications[0].id: Outcome.REPLIED,
        applications[1].id: Outcome.VIEWED,
    }

    requests.post(f"{sandbox.url}/__sandbox__/config", json={"captcha": True}, timeout=5)
    script(sandbox, applications[1], [{"kind": "viewed", "after_hours": -2}, {"kind": "declined", "after_hours": -1}])
    stopped = task_enqueue(task_type="track_outcomes", payload={"sources": ["browser"]})
    failed = wait_for(lambda: done(stopped), timeout=120, message="track_outcomes stopped")
    assert failed.status == TaskStatus.FAILED and failed.error_message.startswith("[captcha]")
    assert failed.attempts == 1  # a wall is never retried blindly
    assert OutcomeRun.objects.filter(status=OutcomeRunStatus.STOPPED, stop_reason="captcha").count() == 1
    assert OutcomeEvent.objects.count() == 3  # nothing read past the wall
