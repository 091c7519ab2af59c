"""Speed to lead end to end: real worker and scheduler processes, the sandbox posts a job, the webhook gets one alert.

The scheduler fires watch_tick from a cron schedule with a seconds field (SCHEDULER_CRON_SECONDS, the tests' and
demos' setting) so the test does not wait for a minute boundary; the tick, the polls, the fast path and the
webhook delivery are the production code, each in the process that runs it in production.
"""

from __future__ import annotations

import pytest
import requests
from model_bakery import baker

from jobs.models import Job, SearchProfile
from queue_app import scheduling
from queue_app.models import Task, TaskStatus
from tests.conftest import subprocess_env, wait_for


def _env(sandbox, tmp_path) -> dict[str, str]:
    return {
        "UPWORK_BASE_URL": sandbox.url,
        "UPWORK_CLIENT_ID": "sandbox-client",
        "UPWORK_CLIENT_SECRET": "sandbox-secret",
        "NOTIFY_SITE_URL": "http://app.example",
        "NOTIFY_MIN_INTERVAL": "0",
        "SCHEDULER_CRON_SECONDS": "true",
        "DEFAULT_TASKS_ENABLED": "false",
        "PROPOSAL_GENERATOR": "template",
        "LOG_DIR": str(tmp_path / "logs"),
    }


def _webhooks(sandbox) -> list[dict]:
    received = requests.get(f"{sandbox.url}/__sandbox__/notifications", timeout=5).json()
    return [item for item in received if item["kind"] == "webhook"]


@pytest.fixture
def watching_setup(sandbox, api_token, settings):
    from notifications import services

    settings.SCHEDULER_CRON_SECONDS = True
    sandbox.state.receivers.reset()
    services.channel_create(
        name="leads",
        kind="webhook",
        target=f"{sandbox.url}/hooks/leads",
        secret="whsec-test-0123456789abcdef",
        events=["job_alert", "draft_ready", "watch_stopped"],
    )
    scheduling.schedule_create(name="watch_tick", cron_expression="* * * * * */20", task_type="watch_tick")
    baker.make("proposals.FreelancerProfile", name="Ada", skills=["Python", "Django"], is_default=True)
    return SearchProfile.objects.create(
        name="Python leads",
        keywords=["python"],
        skills=["Python", "Django", "Redis"],
        source="api",
        target_hourly_rate=60,
        alert_threshold=70,
        watch=True,
        poll_seconds=15,
        auto_draft=True,
        handoff_min_score=0,
    )


def test_a_matching_posting_reaches_the_webhook_once_with_its_score_then_draft_ready(
    watching_setup, sandbox, processes, tmp_path
):
    profile = watching_setup
    env = _env(sandbox, tmp_path)
    worker = processes.worker(**env)
    scheduler = processes.start("rqscheduler", "--interval", "1", env=subprocess_env(**env), name="scheduler")

    def logs() -> str:
        tasks = list(Task.objects.values_list("task_type", "status", "error_message"))
        worker_log, scheduler_log = processes.output(worker)[-3000:], processes.output(scheduler)[-3000:]
        return f"tasks: {tasks}\nworker:\n{worker_log}\nscheduler:\n{scheduler_log}"

    def polls_done():
        return Task.objects.filter(task_type="watch_poll", status=TaskStatus.COMPLETED).count()

    try:
        wait_for(lambda: polls_done() >= 1, timeout=90, interval=0.5, message="the first (baseline) poll")
    except BaseException:
        print(logs())
        raise
    assert _webhooks(sandbox) == [], "postings that were there before the watch started are not alerted"

    posted = sandbox.state.publish_posting()
    alerts = wait_for(
        lambda: [hook for hook in _webhooks(sandbox) if hook["json"]["event"] == "job_alert"],
        timeout=60,
        interval=0.2,
        message="the job alert at the webhook",
    )
    job = Job.objects.get(upwork_id=posted["ciphertext"])
    assert job.profile_id == profile.id and job.passed_filters
    (alert,) = alerts
    assert alert["json"]["key"] == f"job:{job.id}"
    assert alert["json"]["payload"]["score"] == job.score >= profile.alert_threshold
    assert alert["json"]["payload"]["title"] == posted["title"]
    ready = wait_for(
        lambda: [hook for hook in _webhooks(sandbox) if hook["json"]["event"] == "draft_ready"],
        timeout=60,
        interval=0.2,
        message="the draft-ready message (auto_draft, template drafter)",
    )
    assert ready[0]["json"]["payload"]["job_id"] == job.id
    assert ready[0]["received_at"] >= alert["received_at"]

    # Two more polls see the same posting again: still exactly one alert.
    after = polls_done()
    wait_for(lambda: polls_done() >= after + 2, timeout=60, interval=0.5, message="two more polls")
    assert len([hook for hook in _webhooks(sandbox) if hook["json"]["event"] == "job_alert"]) == 1
    assert Task.objects.filter(task_type="watch_fast_path").count() == 1
