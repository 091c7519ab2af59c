"""Real worker processes racing on submit_application: the caps and the gap hold, a CAPTCHA stops cleanly."""

from __future__ import annotations

import json

import pytest

from applications.models import Application, ApplicationStatus
from jobs.models import BrowserSession, BrowserSessionStatus
from queue_app.models import Task, TaskStatus
from queue_app.services import task_enqueue
from tests.applications.conftest import make_application, submissions, worker_env
from tests.conftest import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Lift the applications family's one-at-a-time limit so our own cap logic is what is tested.
LIFTED = json.dumps({"applications": {"concurrency": 5}})


def enqueue_all(application_ids: list[int]) -> list[Task]:
    return [task_enqueue(task_type="submit_application", payload={"application_id": i}) for i in application_ids]


def finished(tasks: list[Task]) -> bool:
    done = {TaskStatus.COMPLETED, TaskStatus.FAILED}
    return Task.objects.filter(id__in=[t.id for t in tasks], status__in=done).count() == len(tasks)


def start_two_workers(processes, sandbox, media_root, **env) -> None:
    processes.worker(**worker_env(sandbox, media_root, **env))
    processes.worker(**worker_env(sandbox, media_root, **env))


def test_daily_cap_and_per_job_maximum_hold_under_two_workers(processes, sandbox, media_root, browser_session):
    # Jobs 1, 2, 5 cost 8, 12, 8 Connects; job 7 costs 16, above the per-job maximum of 12.
    ids = [make_application(sandbox, index).application.id for index in (1, 2, 5, 7)]
    start_two_workers(
        processes,
        sandbox,
        media_root,
        TASK_LIMITS=LIFTED,
        APPLICATIONS_DAILY_CAP=2,
        APPLICATIONS_MAX_CONNECTS_PER_JOB=12,
    )

    tasks = enqueue_all(ids)
    wait_for(lambda: finished(tasks), timeout=120, message="all submit tasks finished")

    assert len(submissions(sandbox)) == 2
    expensive = Application.objects.get(id=ids[3])
    assert expensive.status == ApplicationStatus.APPROVED
    assert "per-job maximum" in expensive.error
    statuses = sorted(Application.objects.values_list("status", flat=True))
    assert statuses == ["approved", "approved", "submitted", "submitted"]
    failed = Task.objects.filter(id__in=[t.id for t in tasks], status=TaskStatus.FAILED)
    assert sorted(t.error_message.split("]")[0] for t in failed) == ["[daily_cap", "[per_job_connects"]
    assert all(t.attempts == 1 for t in failed)  # a refusal is not retried


def test_monthly_connects_budget_holds_under_two_workers(processes, sandbox, media_root, browser_session):
    ids = [make_application(sandbox, index).application.id for index in (1, 5, 9)]  # 8 Connects each
    start_two_workers(processes, sandbox, media_root, TASK_LIMITS=LIFTED, APPLICATIONS_MONTHLY_CONNECTS_BUDGET=10)

    tasks = enqueue_all(ids)
    wait_for(lambda: finished(tasks), timeout=120, message="all submit tasks finished")

    assert len(submissions(sandbox)) == 1
    assert sandbox.state.connects == 100 - 8
    assert Application.objects.filter(status=ApplicationStatus.SUBMITTED).count() == 1
    assert Task.objects.filter(status=TaskStatus.FAILED, error_message__startswith="[monthly_connects").count() == 2


def test_gap_holds_under_two_workers_and_defers_the_rest(processes, sandbox, media_root, browser_session):
    ids = [make_application(sandbox, index).application.id for index in (1, 2, 5)]
    start_two_workers(
        processes,
        sandbox,
        media_root,
        TASK_LIMITS=LIFTED,
        APPLICATIONS_MIN_GAP_SECONDS=3600,
        APPLICATIONS_GAP_JITTER_SECONDS=60,
    )

    tasks = enqueue_all(ids)
    wait_for(lambda: finished(tasks), timeout=120, message="all submit tasks finished")

    assert len(submissions(sandbox)) == 1
    deferred = Application.objects.filter(status=ApplicationStatus.SCHEDULED)
    assert deferred.count() == 2
    later = Task.objects.filter(task_type="submit_application", status=TaskStatus.SCHEDULED)
    assert later.count() == 2
    submitted = Application.objects.get(status=ApplicationStatus.SUBMITTED)
    for task in later:
        # Not before the first submission's gap (an hour at least) is over.
        assert (task.run_at - submitted.claimed_at).total_seconds() >= 3600


def test_daily_cap_holds_with_the_family_limit_in_place(processes, sandbox, media_root, browser_session):
    ids = [make_application(sandbox, index).application.id for index in (1, 2)]
    # As in production: Django's async-safety check stays on (no DJANGO_ALLOW_ASYNC_UNSAFE in the worker).
    start_two_workers(processes, sandbox, media_root, APPLICATIONS_DAILY_CAP=1, DJANGO_ALLOW_ASYNC_UNSAFE="")

    tasks = enqueue_all(ids)
    wait_for(lambda: finished(tasks), timeout=120, message="both submit tasks finished")

    assert len(submissions(sandbox)) == 1
    assert Application.objects.filter(status=ApplicationStatus.SUBMITTED).count() == 1
    assert Application.objects.filter(status=ApplicationStatus.APPROVED, error__contains="daily cap").count() == 1


def test_captcha_stops_cleanly_without_retry_and_raises_a_health_alert(processes, sandbox, media_root, browser_session):
    from queue_app.health import queue_health

    sandbox.state.config["captcha"] = True
    made = make_application(sandbox, 1)
    processes.worker(**worker_env(sandbox, media_root))

    task = task_enqueue(task_type="submit_application", payload={"application_id": made.application.id})
    wait_for(lambda: finished([task]), timeout=90, message="the submit task finished")

    task.refresh_from_db()
    assert task.status == TaskStatus.FAILED
    assert task.attempts == 1
    assert task.error_message.startswith("[captcha]")
    application = Application.objects.get(id=made.application.id)
    assert application.status == ApplicationStatus.NEEDS_ATTENTION
    assert "CAPTCHA" in application.error
    assert application.counts_toward_caps is False  # nothing was sent: the slot is given back
    assert application.screenshots.filter(kind="attention").exists()
    assert BrowserSession.objects.get(id=browser_session.id).status == BrowserSessionStatus.NEEDS_ATTENTION
    assert submissions(sandbox) == []
    health = queue_health()
    alert = next(a for a in health["alerts"] if a["code"] == "applications_need_attention")
    assert alert["value"] == 1
    assert alert["threshold"] == 0
    assert health["status"] in ("degraded", "critical")
