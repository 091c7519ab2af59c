"""notification_publish fans out to subscribed channels once per key; the webhook channel signs what it posts."""

from __future__ import annotations

import json

import pytest

from notifications.models import Delivery, DeliveryStatus
from notifications.services import notification_publish, notify_job_alert
from tests.notifications.conftest import WEBHOOK_SECRET, received, run_pending_sends

pytestmark = pytest.mark.django_db(transaction=True)


def test_job_alert_reaches_the_webhook_once_with_score_and_signature(make_channel, alert_job, receivers):
    from notifications.signature import verify_signature

    make_channel("webhook", events=["job_alert"])
    first = notify_job_alert(alert_job)
    again = notify_job_alert(alert_job)
    assert len(first) == 1 and again == [], "one delivery per job per channel, ever"
    assert run_pending_sends()[0]["outcome"] == "sent"
    [hook] = received(receivers)
    body = hook["json"]
    assert body["event"] == "job_alert" and body["key"] == f"job:{alert_job.pk}"
    assert body["payload"]["score"] == 86 and body["payload"]["title"] == alert_job.title
    assert body["payload"]["reasons"][0].startswith("fit 27 pts")
    assert body["payload"]["admin_url"] == f"http://app.example/admin/jobs/job/{alert_job.pk}/change/"
    assert verify_signature(
        secret=WEBHOOK_SECRET, body=hook["body"].encode(), header=hook["headers"]["X-Signature"], tolerance=300
    )
    assert not verify_signature(
        secret="wrong-secret-0123456789", body=hook["body"].encode(), header=hook["headers"]["X-Signature"]
    )
    assert Delivery.objects.get().status == DeliveryStatus.SENT


def test_below_threshold_or_below_min_score_or_unsubscribed_sends_nothing(make_channel, alert_job):
    make_channel("webhook", name="picky", events=["job_alert"], min_score=90)
    make_channel("webhook", name="other-events", events=["draft_ready"])
    assert notify_job_alert(alert_job) == []
    alert_job.profile.alert_threshold = 95
    alert_job.profile.save()
    make_channel("webhook", name="everything", events=["job_alert"])
    assert notify_job_alert(alert_job) == []


def test_publish_returns_new_delivery_ids_per_channel(make_channel):
    a = make_channel("webhook", name="a", events=["queue_health"])
    b = make_channel("slack", name="b", events=["queue_health"])
    ids = notification_publish(event="queue_health", key="health:1", subject="x", payload={})
    assert sorted(Delivery.objects.filter(pk__in=ids).values_list("channel_id", flat=True)) == sorted([a.pk, b.pk])
    assert notification_publish(event="queue_health", key="health:1", subject="x", payload={}) == []
    assert json.loads(json.dumps(Delivery.objects.first().payload)) == {}
