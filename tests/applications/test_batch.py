"""batch_submit_applications: approved ones in order, spaced by the gap, never beyond today's cap or budget."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from applications import services, tasks
from applications.models import Application, ApplicationStatus
from core.errors import PermanentTaskError
from queue_app.models import Task, TaskStatus
from queue_app.registry import TaskContext
from queue_app.services import task_enqueue
from tests.applications.conftest import make_application, submissions, worker_env
from tests.conftest import wait_for


def approved_in_order(sandbox, indexes) -> list[int]:
    ids = []
    for index in indexes:
        ids.append(make_application(sandbox, index).application.id)
    return ids


@pytest.mark.django_db
def test_batch_schedules_in_approval_order_spaced_by_the_gap_up_to_todays_cap(sandbox, settings):
    settings.APPLICATIONS_DAILY_CAP = 3
    settings.APPLICATIONS_MIN_GAP_SECONDS = 600
    ids = approved_in_order(sandbox, (1, 2, 5, 6, 9))
    now = timezone.now().replace(hour=9, minute=0)

    outcome = services.applications_batch_schedule(now=now)

    assert [s["application_id"] for s in outcome["scheduled"]] == ids[:3]
    assert [s["application_id"] for s in outcome["skipped"]] == ids[3:]
    assert {s["gate"] for s in outcome["skipped"]} == {"daily_cap"}
    runs = [datetime.fromisoformat(s["run_at"]) for s in outcome["scheduled"]]
    assert [(run - now).total_seconds() for run in runs] == [0, 600, 1200]
    assert Application.objects.filter(status=ApplicationStatus.SCHEDULED).count() == 3
    assert Application.objects.filter(id__in=ids[3:], status=ApplicationStatus.APPROVED).count() == 2
    submits = Task.objects.filter(task_type="submit_application").order_by("created_at")
    assert [t.payload["application_id"] for t in submits] == ids[:3]


@pytest.mark.django_db
def test_a_second_batch_does_not_go_beyond_todays_cap(sandbox, settings):
    settings.APPLICATIONS_DAILY_CAP = 3
    ids = approved_in_order(sandbox, (1, 2, 5, 6, 9))
    now = timezone.now().replace(hour=9, minute=0)

    services.applications_batch_schedule(now=now, limit=2)
    second = services.applications_batch_schedule(now=now)

    assert [s["application_id"] for s in second["scheduled"]] == [ids[2]]
    assert Application.objects.filter(status=ApplicationStatus.SCHEDULED).count() == 3


@pytest.mark.django_db
def test_batch_counts_todays_submissions_and_waits_for_their_gap(sandbox, settings):
    settings.APPLICATIONS_DAILY_CAP = 2
    earlier, first, second = approved_in_order(sandbox, (1, 2, 5))
    now = timezone.now().replace(hour=9, minute=0)
    gap_until = now + timedelta(seconds=300)
    Application.objects.filter(id=earlier).update(
        status=ApplicationStatus.SUBMITTED, counts_toward_caps=True, claimed_at=now, gap_until=gap_until
    )

    outcome = services.applications_batch_schedule(now=now)

    assert outcome["scheduled"] == [{"application_id": first, "run_at": gap_until.isoformat()}]
    assert [s["application_id"] for s in outcome["skipped"]] == [second]


@pytest.mark.django_db
def test_batch_leaves_for_tomorrow_what_would_run_after_midnight(sandbox, settings):
    settings.APPLICATIONS_MIN_GAP_SECONDS = 600
    ids = approved_in_order(sandbox, (1, 2))
    now = datetime(2026, 11, 30, 23, 55, tzinfo=ZoneInfo(settings.TIME_ZONE))

    outcome = services.applications_batch_schedule(now=now)

    assert [s["application_id"] for s in outcome["scheduled"]] == ids[:1]
    assert [s["application_id"] for s in outcome["skipped"]] == ids[1:]


@pytest.mark.django_db
def test_batch_stays_within_the_monthly_connects_budget(sandbox, settings):
    settings.APPLICATIONS_MONTHLY_CONNECTS_BUDGET = 10
    ids = approved_in_order(sandbox, (1, 5))  # 8 Connects each

    outcome = services.applications_batch_schedule()

    assert [s["application_id"] for s in outcome["scheduled"]] == ids[:1]
    assert outcome["skipped"][0]["gate"] == "monthly_connects"


@pytest.mark.django_db
def test_batch_refuses_with_the_kill_switch_off(sandbox, settings):
    settings.APPLICATIONS_ENABLED = False
    approved_in_order(sandbox, (1,))

    with pytest.raises(PermanentTaskError, match="kill_switch"):
        tasks.batch_submit_applications({}, TaskContext("t", "batch_submit_applications", 1, 0))
    assert not Task.objects.filter(task_type="submit_application").exists()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_worker_runs_the_batch_in_order_with_the_gap(processes, sandbox, media_root, browser_session):
    ids = approved_in_order(sandbox, (1, 2, 5))
    processes.worker(**worker_env(sandbox, media_root, APPLICATIONS_DAILY_CAP=2, APPLICATIONS_MIN_GAP_SECONDS=4))

    batch = task_enqueue(task_type="batch_submit_applications", payload={})
    wait_for(lambda: len(submissions(sandbox)) == 2, timeout=150, message="two submissions arrived")

    batch.refresh_from_db()
    assert batch.status == TaskStatus.COMPLETED
    received = submissions(sandbox)
    jobs_in_order = [Application.objects.get(id=i).job.upwork_id for i in ids[:2]]
    assert [r["job_id"] for r in received] == jobs_in_order
    # The gap holds between the claims of the submission slot; a browser's start-up after the
    # claim varies (the first Chromium starts cold), so the sandbox's receive times may not.
    first, second = (Application.objects.get(id=i).claimed_at for i in ids[:2])
    assert (second - first).total_seconds() >= 4
    assert Application.objects.get(id=ids[2]).status == ApplicationStatus.APPROVED  # beyond today's cap
