"""Watching (speed to lead): the poll floor, who may watch, only-new postings, the fast path, stopping itself."""

from __future__ import annotations

import time

import pytest
from django.core.exceptions import ValidationError

from jobs.models import Job, SearchProfile, SourceKind, WatchSeen
from jobs.services import watching
from queue_app.models import Task

pytestmark = pytest.mark.django_db


def _watching_profile(**extra) -> SearchProfile:
    values = {
        "name": "Python leads",
        "keywords": ["python"],
        "skills": ["Python", "Django", "Redis"],
        "source": SourceKind.API,
        "target_hourly_rate": 60,
        "watch": True,
        "poll_seconds": 15,
        **extra,
    }
    return SearchProfile.objects.create(**values)


@pytest.fixture
def hook(sandbox, settings):
    """A signed-webhook channel on the sandbox's receiver, subscribed to what watching sends."""
    from notifications import services

    settings.NOTIFY_SITE_URL = "http://app.example"
    return services.channel_create(
        name="leads",
        kind="webhook",
        target=f"{sandbox.url}/hooks/leads",
        secret="whsec-test-0123456789abcdef",
        events=["job_alert", "draft_ready", "watch_stopped"],
    )


def _deliveries(event: str) -> list:
    from notifications.models import Delivery

    return list(Delivery.objects.filter(event=event).order_by("pk"))


def _fast_paths() -> list[Task]:
    return list(Task.objects.filter(task_type="watch_fast_path").order_by("created_at"))


# --- Validation ------------------------------------------------------------------------------------------


def test_poll_seconds_below_the_rate_limit_floor_is_refused_with_the_floor_named(api_client, settings):
    """The floor is max(WATCH_MIN_POLL_SECONDS, ceil(86400 * searches / (daily limit * share)))."""
    settings.UPWORK_API_DAILY_LIMIT = 8640
    settings.WATCH_API_SHARE = 0.5  # 4320 requests a day for watching: one search every 20 s
    body = {"name": "fast", "keywords": ["python", "django"], "source": "api", "watch": True, "poll_seconds": 30}
    response = api_client.post("/api/jobs/profiles/", body, format="json")
    assert response.status_code == 400, response.content
    message = " ".join(response.json()["error"]["field_errors"]["poll_seconds"])
    assert "At least 40 seconds" in message  # two keyword searches per poll
    assert "UPWORK_API_DAILY_LIMIT=8640" in message

    response = api_client.post("/api/jobs/profiles/", {**body, "poll_seconds": 40}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["watch"] is True
    assert response.json()["watch_started_at"]


def test_with_the_default_limits_the_floor_is_fifteen_seconds(settings):
    profile = SearchProfile(name="p", keywords=["python"], source=SourceKind.API, watch=True, poll_seconds=14)
    assert watching.watch_poll_floor(profile=profile) == settings.WATCH_MIN_POLL_SECONDS == 15
    with pytest.raises(ValidationError) as refused:
        profile.full_clean()
    assert "poll_seconds" in refused.value.message_dict


def test_a_browser_profile_cannot_watch(api_client):
    body = {"name": "browser", "keywords": ["python"], "source": "browser", "watch": True, "poll_seconds": 60}
    response = api_client.post("/api/jobs/profiles/", body, format="json")
    assert response.status_code == 400
    assert "browser-source profile cannot watch" in response.json()["error"]["field_errors"]["watch"][0]
    profile = SearchProfile(name="b", keywords=["python"], source=SourceKind.BROWSER, watch=True)
    with pytest.raises(ValidationError) as refused:
        profile.full_clean()
    assert "watch" in refused.value.message_dict


def test_switching_watch_on_through_the_api_is_audited(api_client):
    from core.models import AuditEntry

    profile = SearchProfile.objects.create(name="later", keywords=["python"], source=SourceKind.API)
    response = api_client.patch(f"/api/jobs/profiles/{profile.id}/", {"watch": True}, format="json")
    assert response.status_code == 200, response.content
    entry = AuditEntry.objects.filter(object_id=str(profile.id)).order_by("-id").first()
    assert entry is not None and entry.after.get("watch") is True


# --- Polls: only new postings, once ------------------------------------------------------------------------


def test_only_postings_published_after_the_watch_started_run_the_fast_path_and_only_once(sandbox, api_token):
    profile = _watching_profile()
    first = watching.watch_poll(profile_id=profile.id)
    assert first["seen"] > 0
    assert first["fast_path"] == []  # the postings already there are the baseline: claimed as seen, never alerted
    assert WatchSeen.objects.filter(profile=profile, alerted=False).count() == first["seen"]

    posted = sandbox.state.publish_posting()
    second = watching.watch_poll(profile_id=profile.id)
    assert second["new"] == 1 and len(second["fast_path"]) == 1
    job = Job.objects.get(upwork_id=posted["ciphertext"])
    assert job.score is not None and job.passed_filters
    task = Task.objects.get(id=second["fast_path"][0])
    assert task.payload == {"profile_id": profile.id, "job_id": job.id}

    third = watching.watch_poll(profile_id=profile.id)
    assert third["new"] == 0 and third["fast_path"] == []
    assert len(_fast_paths()) == 1
    profile.refresh_from_db()
    assert profile.watch_last_poll_at is not None and profile.watch_error_count == 0


def test_the_fast_path_is_enqueued_at_critical_priority_on_the_watch_queues(sandbox, api_token):
    from queue_app import registry

    profile = _watching_profile()
    watching.watch_poll(profile_id=profile.id)
    sandbox.state.publish_posting()
    watching.watch_poll(profile_id=profile.id)
    (task,) = _fast_paths()
    assert task.priority == "critical"
    assert registry.get("watch_fast_path").family == "watch"
    assert registry.get("watch_poll").priority == "high"


def test_the_tick_plans_one_poll_per_slot_and_a_second_tick_adds_none():
    profile = _watching_profile(poll_seconds=15)
    now = 1_800_000_000.0 + 3  # 3 s into a slot
    first = watching.watch_tick(now=now)
    polls = Task.objects.filter(task_type="watch_poll", payload__profile_id=profile.id)
    slots = sorted(task.payload["slot"] for task in polls.all())
    # The current slot (already begun) runs now; the minute ahead's slots at their moments, a little overlap.
    assert slots == [1_800_000_000 + 15 * k for k in range(5)]
    assert first["planned"] == 5
    assert polls.get(payload__slot=1_800_000_000).status == "queued"
    assert polls.get(payload__slot=1_800_000_015).status == "scheduled"
    watching.watch_tick(now=now + 1)
    assert polls.all().count() == 5
    # The next minute's tick plans the next minute and no slot twice.
    watching.watch_tick(now=now + 60)
    assert sorted(task.payload["slot"] for task in polls.all()) == [1_800_000_000 + 15 * k for k in range(9)]


def test_a_profile_that_does_not_watch_is_not_polled():
    profile = _watching_profile(watch=False)
    watching.watch_tick()
    assert not Task.objects.filter(task_type="watch_poll").exists()
    assert watching.watch_poll(profile_id=profile.id) == {"skipped": "profile gone, disabled or not watching"}


# --- The fast path ----------------------------------------------------------------------------------------


def test_auto_draft_writes_the_proposal_with_the_template_drafter_after_the_alert(sandbox, api_token, hook, settings):
    from model_bakery import baker

    from proposals.models import FreelancerProfile, Proposal

    settings.PROPOSAL_GENERATOR = "template"
    baker.make(FreelancerProfile, name="Ada", skills=["Python", "Django"], is_default=True)
    profile = _watching_profile(auto_draft=True, handoff_min_score=0)
    watching.watch_poll(profile_id=profile.id)
    sandbox.state.publish_posting()
    (task_id,) = watching.watch_poll(profile_id=profile.id)["fast_path"]
    job_id = Task.objects.get(id=task_id).payload["job_id"]
    result = watching.watch_fast_path(profile_id=profile.id, job_id=job_id, task_id=task_id)
    assert not Proposal.objects.filter(job_id=job_id).exists()  # the alert went first, alone
    draft_task = Task.objects.get(id=result["draft_task"])
    assert draft_task.task_type == "watch_draft" and draft_task.priority == "high"
    drafted = watching.watch_draft(profile_id=profile.id, job_id=job_id, task_id=str(draft_task.id))
    proposal = Proposal.objects.get(job_id=job_id)
    assert drafted["proposal_id"] == proposal.id
    assert proposal.current_version == 1
    (alert,) = _deliveries("job_alert")
    assert alert.key == f"job:{job_id}" and alert.score == Job.objects.get(id=job_id).score
    (ready,) = _deliveries("draft_ready")
    assert ready.payload["proposal_id"] == proposal.id
    assert alert.pk < ready.pk  # the alert never waits for the draft


def test_without_auto_draft_the_alert_goes_alone(sandbox, api_token, hook):
    from proposals.models import Proposal

    profile = _watching_profile(auto_draft=False)
    watching.watch_poll(profile_id=profile.id)
    sandbox.state.publish_posting()
    (task_id,) = watching.watch_poll(profile_id=profile.id)["fast_path"]
    job_id = Task.objects.get(id=task_id).payload["job_id"]
    result = watching.watch_fast_path(profile_id=profile.id, job_id=job_id, task_id=task_id)
    assert "draft_task" not in result
    assert not Proposal.objects.filter(job_id=job_id).exists()
    assert len(result["alert_deliveries"]) == 1 and _deliveries("draft_ready") == []
    # Run again (a retried task): still one alert.
    assert watching.watch_fast_path(profile_id=profile.id, job_id=job_id)["alert_deliveries"] == []


def test_a_job_below_the_alert_threshold_runs_the_fast_path_without_an_alert(sandbox, api_token, hook):
    profile = _watching_profile(alert_threshold=100)
    watching.watch_poll(profile_id=profile.id)
    sandbox.state.publish_posting()
    (task_id,) = watching.watch_poll(profile_id=profile.id)["fast_path"]
    job_id = Task.objects.get(id=task_id).payload["job_id"]
    assert watching.watch_fast_path(profile_id=profile.id, job_id=job_id)["alert_deliveries"] == []


# --- Stopping itself -----------------------------------------------------------------------------------------


def test_repeated_api_errors_stop_watching_once_with_a_reason_and_one_alert(sandbox, api_token, hook, settings):
    settings.WATCH_MAX_CONSECUTIVE_ERRORS = 3
    profile = _watching_profile()
    sandbox.state.config["graphql_error"] = "Internal error (sandbox)"
    outcomes = [watching.watch_poll(profile_id=profile.id) for _ in range(3)]
    assert [o.get("errors_in_a_row") for o in outcomes] == [1, 2, 3]
    assert [o.get("stopped") for o in outcomes] == [False, False, True]
    profile.refresh_from_db()
    assert profile.watch is False
    assert "3 polls in a row failed" in profile.watch_stopped_reason
    assert "Internal error (sandbox)" in profile.watch_stopped_reason
    assert profile.watch_stopped_at is not None
    # A poll already queued for the stopped profile does nothing, and stopping again says it did not.
    assert "skipped" in watching.watch_poll(profile_id=profile.id)
    assert watching.watch_stop(profile_id=profile.id, reason="again") is False
    (stopped,) = _deliveries("watch_stopped")
    assert "Internal error (sandbox)" in stopped.payload["reason"]


def test_a_success_resets_the_error_count(sandbox, api_token, settings):
    settings.WATCH_MAX_CONSECUTIVE_ERRORS = 3
    profile = _watching_profile()
    sandbox.state.config["graphql_error"] = "flaky"
    watching.watch_poll(profile_id=profile.id)
    watching.watch_poll(profile_id=profile.id)
    sandbox.state.config["graphql_error"] = ""
    watching.watch_poll(profile_id=profile.id)
    sandbox.state.config["graphql_error"] = "flaky"
    watching.watch_poll(profile_id=profile.id)
    profile.refresh_from_db()
    assert profile.watch is True and profile.watch_error_count == 1


def test_an_expired_token_that_cannot_be_refreshed_stops_watching_at_once_with_one_alert(sandbox, api_token, hook):
    profile = _watching_profile()
    with sandbox.state.lock:
        sandbox.state.refresh_tokens.clear()  # revoked: the refresh grant is refused
    sandbox.state.expire_access_tokens()
    outcome = watching.watch_poll(profile_id=profile.id)
    assert outcome["outcome"] == "stopped" and outcome["stopped"] is True
    profile.refresh_from_db()
    assert profile.watch is False
    assert "expired, revoked or missing" in profile.watch_stopped_reason
    watching.watch_poll(profile_id=profile.id)  # a poll already queued: skipped, no second alert
    assert len(_deliveries("watch_stopped")) == 1


def test_switching_watch_on_again_clears_the_stop(sandbox, api_token):
    profile = _watching_profile()
    watching.watch_stop(profile_id=profile.id, reason="test")
    profile.refresh_from_db()
    profile.watch = True
    profile.save()
    profile.refresh_from_db()
    assert profile.watch_stopped_reason == "" and profile.watch_started_at is not None


def test_a_stale_slot_is_skipped():
    profile = _watching_profile()
    outcome = watching.watch_poll(profile_id=profile.id, slot=int(time.time()) - 3600)
    assert "stale" in outcome["skipped"]


def test_the_admin_form_refuses_a_watching_browser_profile_and_a_too_short_poll(client, django_user_model):
    admin = django_user_model.objects.create_superuser(username="admin", password="pw", email="a@example.com")
    client.force_login(admin)
    form = {
        "name": "from the admin",
        "enabled": "on",
        "keywords": "python",
        "skills": "",
        "saved_searches": "",
        "categories": "",
        "strategies": "keywords",
        "source": "browser",
        "excluded_words": "",
        "excluded_countries": "",
        "require_payment_verified": "on",
        "score_weights": "{}",
        "handoff_top_n": "0",
        "handoff_min_score": "60",
        "alert_threshold": "80",
        "watch": "on",
        "poll_seconds": "5",
    }
    page = client.post("/admin/jobs/searchprofile/add/", form).content.decode()
    assert "browser-source profile cannot watch" in page
    assert "At least 15 seconds" in page
    assert not SearchProfile.objects.filter(name="from the admin").exists()
    response = client.post("/admin/jobs/searchprofile/add/", {**form, "source": "api", "poll_seconds": "15"})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert SearchProfile.objects.get(name="from the admin").watch_started_at is not None
