"""Events: queue health once per transition with a cool-down, the daily digest, drafts and applications."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from model_bakery import baker

from notifications.models import Delivery
from notifications.services.digest import digest_send
from notifications.services.health import health_watch

pytestmark = pytest.mark.django_db


def health(status: str, score: int = 100, *messages: str) -> dict:
    return {"status": status, "score": score, "alerts": [{"message": message} for message in messages]}


def test_health_messages_once_per_transition_with_a_cool_down(make_channel, settings):
    settings.NOTIFY_HEALTH_COOLDOWN = 900
    make_channel("webhook", events=["queue_health"])
    start = timezone.now()
    at = lambda minutes: start + timedelta(minutes=minutes)  # noqa: E731
    assert not health_watch(health=health("healthy"), now=at(0))["notified"]
    degraded = health_watch(health=health("degraded", 75, "Failure rate 14% > 10%"), now=at(1))
    assert degraded["notified"]
    for minute in range(2, 6):  # still degraded: nothing more
        assert not health_watch(health=health("degraded", 75), now=at(minute))["notified"]
    recovered_early = health_watch(health=health("healthy"), now=at(6))
    assert not recovered_early["notified"] and "cooling_down_until" in recovered_early
    assert health_watch(health=health("healthy"), now=at(17))["notified"]  # after the cool-down
    subjects = list(Delivery.objects.order_by("created_at").values_list("subject", "urgent"))
    assert subjects == [
        ("Queue health degraded: score 75/100", False),
        ("Queue recovered: healthy again (was degraded)", False),
    ]
    assert Delivery.objects.order_by("created_at").first().payload["lines"] == ["Failure rate 14% > 10%"]


def test_turning_critical_is_announced_at_once_and_urgently(make_channel):
    make_channel("webhook", events=["queue_health"])
    now = timezone.now()
    health_watch(health=health("degraded", 80), now=now)
    result = health_watch(health=health("critical", 20, "No workers"), now=now + timedelta(minutes=1))
    assert result["notified"]
    assert Delivery.objects.filter(urgent=True, payload__level="critical").count() == 1


def test_a_flap_within_the_cool_down_sends_nothing_more(make_channel):
    make_channel("webhook", events=["queue_health"])
    now = timezone.now()
    health_watch(health=health("degraded", 80), now=now)
    health_watch(health=health("healthy"), now=now + timedelta(minutes=1))
    health_watch(health=health("degraded", 80), now=now + timedelta(minutes=2))
    health_watch(health=health("degraded", 80), now=now + timedelta(minutes=30))
    assert Delivery.objects.count() == 1


def test_daily_digest_once_a_day_with_jobs_drafts_sends_and_limits(make_channel):
    make_channel("webhook", events=["daily_digest"])
    baker.make("jobs.Job", upwork_id="~a", title="Best job", score=91, passed_filters=True, url="https://x.test/a")
    baker.make("jobs.Job", upwork_id="~b", title="Filtered", score=99, passed_filters=False, url="https://x.test/b")
    result = digest_send()
    assert len(result["deliveries"]) == 1
    assert digest_send()["deliveries"] == []  # one a day
    payload = Delivery.objects.get().payload
    assert [job["title"] for job in payload["top_jobs"]] == ["Best job"]
    assert payload["drafts_waiting"] == 0 and payload["applications_sent"] == 0
    assert payload["connects_left_month"] >= 0 and payload["caps_left_today"] >= 0
    assert "91/100 · Best job" in payload["lines"]


def test_a_draft_reaching_review_and_application_events_are_published(make_channel):
    from notifications.services import notify_application, notify_draft_ready

    make_channel(
        "webhook",
        events=["draft_ready", "application_attention", "application_submitted", "application_verification_failed"],
    )
    job = baker.make("jobs.Job", upwork_id="~c", title="Needs a draft", score=80, url="https://x.test/c")
    proposal = baker.make("proposals.Proposal", job=job, current_version=1)
    assert len(notify_draft_ready(proposal)) == 1
    assert notify_draft_ready(proposal) == []  # same version: once
    proposal.current_version = 2
    assert len(notify_draft_ready(proposal)) == 1  # a redone draft is announced again
    version = baker.make("proposals.ProposalVersion", proposal=proposal, number=1, text="Hello")
    application = baker.make(
        "applications.Application",
        job=job,
        proposal=proposal,
        proposal_version=version,
        status="needs_attention",
        error="CAPTCHA wall",
    )
    notify_application(application, what="needs_attention")
    notify_application(application, what="verification_failed")
    events = sorted(Delivery.objects.values_list("event", flat=True))
    assert events == ["application_attention", "application_verification_failed", "draft_ready", "draft_ready"]
    attention = Delivery.objects.get(event="application_attention")
    assert attention.payload["lines"] == ["CAPTCHA wall"] and "Needs a draft" in attention.subject


def test_discovery_alerts_new_jobs_above_the_threshold(make_channel, monkeypatch):
    from jobs.services import searches

    make_channel("webhook", events=["job_alert"])
    profile = baker.make("jobs.SearchProfile", name="p", alert_threshold=60)
    high = baker.make("jobs.Job", upwork_id="~h", title="High", score=75, passed_filters=True, profile=profile)
    baker.make("jobs.Job", upwork_id="~l", title="Low", score=40, passed_filters=True, profile=profile)
    assert searches._job_alerts(list(profile.jobs.values_list("pk", flat=True))) == 1
    assert Delivery.objects.get().key == f"job:{high.pk}"
