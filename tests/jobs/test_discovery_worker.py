"""job_discovery run end to end by a real worker process pointed at the sandbox through its environment."""

from __future__ import annotations

import pytest
import requests

from jobs.models import BrowserSessionStatus, Job, SearchProfile
from queue_app.models import TaskStatus
from queue_app.services import task_enqueue
from tests.conftest import wait_for
from tests.jobs.conftest import sandbox_storage_state


def _worker_env(sandbox) -> dict[str, str]:
    return {
        "UPWORK_BASE_URL": sandbox.url,
        "UPWORK_CLIENT_ID": "sandbox-client",
        "UPWORK_CLIENT_SECRET": "sandbox-secret",
        "JOBS_BROWSER_DELAY_MIN": "0",
        "JOBS_BROWSER_DELAY_MAX": "0.02",
        "JOBS_BROWSER_MAX_DETAILS": "4",
    }


def _finished(task):
    def check():
        task.refresh_from_db()
        return task.status in (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.RETRYING)

    return check


def test_worker_runs_discovery_through_the_api_and_ranks_jobs(sandbox, api_token, processes):
    profile = SearchProfile.objects.create(
        name="Django backend",
        keywords=["python", "django"],
        skills=["Django", "PostgreSQL"],
        strategies=["keywords", "skills"],
        source="api",
        target_hourly_rate=60,
        excluded_countries=["Nigeria"],
    )
    task = task_enqueue(task_type="job_discovery", payload={"profile_id": profile.id})
    worker = processes.worker(**_worker_env(sandbox))
    wait_for(_finished(task), timeout=60, message="discovery task finished")
    assert task.status == TaskStatus.COMPLETED, processes.output(worker)
    expected = {
        j.ciphertext
        for j in sandbox.state.jobs
        if "python" in (j.title + j.description + " ".join(j.skills)).lower()
        or "django" in (j.title + j.description).lower()
        or {"Django", "PostgreSQL"} & set(j.skills)
    }
    jobs = Job.objects.filter(profile=profile)
    assert set(jobs.values_list("upwork_id", flat=True)) == expected
    assert task.result["searches"] == 3 and task.result["unique"] == len(expected) == task.result["created"]
    assert not jobs.filter(score__isnull=True).exists()
    assert all(not job.passed_filters for job in jobs.filter(client_country="Nigeria"))
    assert task.result["top"][0]["score"] == max(jobs.filter(passed_filters=True).values_list("score", flat=True))
    profile.refresh_from_db()
    assert profile.last_run_at is not None


@pytest.mark.browser
def test_worker_runs_discovery_in_the_browser_session(sandbox, processes):
    from jobs import services

    services.browser_session_import(name="sandbox", storage_state=sandbox_storage_state(sandbox))
    profile = SearchProfile.objects.create(
        name="Salesforce", keywords=["salesforce"], strategies=["keywords"], source="browser"
    )
    task = task_enqueue(task_type="job_discovery", payload={"profile_id": profile.id})
    worker = processes.worker(**_worker_env(sandbox))
    wait_for(_finished(task), timeout=120, message="browser discovery finished")
    assert task.status == TaskStatus.COMPLETED, processes.output(worker)
    assert task.result["source"] == "browser"
    assert Job.objects.filter(profile=profile).count() == 6
    assert Job.objects.filter(profile=profile, connects_required__isnull=False).count() == 4  # detail cap


@pytest.mark.browser
def test_a_captcha_fails_the_task_without_retries_and_the_message_says_how_to_resume(sandbox, processes, api_client):
    from jobs import services
    from queue_app.services import task_retry

    session = services.browser_session_import(name="sandbox", storage_state=sandbox_storage_state(sandbox))
    profile = SearchProfile.objects.create(
        name="Salesforce", keywords=["salesforce"], strategies=["keywords"], source="browser"
    )
    requests.post(f"{sandbox.url}/__sandbox__/config", json={"captcha": True}, timeout=5)
    task = task_enqueue(task_type="job_discovery", payload={"profile_id": profile.id})
    assert task.max_retries > 0
    worker = processes.worker(**_worker_env(sandbox))
    wait_for(_finished(task), timeout=120, message="browser discovery finished")

    assert task.status == TaskStatus.FAILED, processes.output(worker)
    assert task.attempts == 1  # no retry
    assert task.error_type == "DiscoveryBlocked"
    assert f"Upwork showed a CAPTCHA at {sandbox.url}/" in task.error_message
    assert f"POST /api/jobs/sessions/{session.id}/reactivate/" in task.error_message
    assert f"manage.py queue retry {task.id}" in task.error_message
    session.refresh_from_db()
    assert session.status == BrowserSessionStatus.NEEDS_ATTENTION

    # Following the message: clear the wall, reactivate the session, retry the task.
    requests.post(f"{sandbox.url}/__sandbox__/config", json={"captcha": False}, timeout=5)
    response = api_client.post(f"/api/jobs/sessions/{session.id}/reactivate/")
    assert response.status_code == 200 and response.json()["status"] == BrowserSessionStatus.ACTIVE
    task_retry(task_id=task.id)
    wait_for(lambda: _finished(task)() and task.attempts == 2, timeout=120, message="retried discovery finished")
    assert task.status == TaskStatus.COMPLETED, processes.output(worker)
    assert Job.objects.filter(profile=profile).count() == 6
