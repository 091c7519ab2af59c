"""Delivery as queue tasks: retries with backoff on 5xx/timeouts, Retry-After on 429, 4xx permanent, pacing,
quiet hours, dedup."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from django.utils import timezone

from notifications.models import Channel, Delivery, DeliveryStatus
from notifications.services import delivery_send, notification_publish, quiet_hours_end
from queue_app.models import Task
from tests.notifications.conftest import BOT_TOKEN, fail_next, received, run_pending_sends

pytestmark = pytest.mark.django_db(transaction=True)


def publish(key: str = "health:1", **fields) -> list[int]:
    return notification_publish(event="queue_health", key=key, subject="Queue health degraded", payload={}, **fields)


def latest_send_task() -> Task:
    return Task.objects.filter(task_type="send_notification").order_by("-created_at").first()


def test_5xx_is_retried_with_backoff_then_sent(make_channel, receivers, settings):
    settings.NOTIFY_RETRY_BASE_SECONDS = 10
    make_channel("slack", events=["queue_health"])
    fail_next(receivers, path_prefix="/slack/", status=500, times=2, message="internal_error")
    [delivery_id] = publish()
    first = delivery_send(delivery_id=delivery_id)
    assert first["outcome"] == "retrying" and first["retry_in"] == 10
    retry = latest_send_task()
    assert retry.status == "scheduled" and 9 <= (retry.run_at - timezone.now()).total_seconds() <= 10.5
    assert delivery_send(delivery_id=delivery_id)["retry_in"] == 20  # backoff doubles
    assert delivery_send(delivery_id=delivery_id)["outcome"] == "sent"
    delivery = Delivery.objects.get(pk=delivery_id)
    assert (delivery.status, delivery.attempts, delivery.last_error) == (DeliveryStatus.SENT, 3, "")
    assert [r["answered"] for r in received(receivers)] == [500, 500, 200]


def test_429_honours_retry_after_for_the_whole_channel(make_channel, receivers):
    channel = make_channel("slack", events=["queue_health"])
    fail_next(receivers, path_prefix="/slack/", status=429, times=1, retry_after=42, message="rate_limited")
    [delivery_id] = publish()
    outcome = delivery_send(delivery_id=delivery_id)
    assert outcome["outcome"] == "retrying" and outcome["retry_in"] == 42
    assert 41 <= (latest_send_task().run_at - timezone.now()).total_seconds() <= 42.5
    channel.refresh_from_db()
    assert (channel.next_send_at - timezone.now()).total_seconds() >= 41  # other messages wait too
    assert "429" in Delivery.objects.get(pk=delivery_id).last_error


def test_telegram_429_retry_after_in_the_body_is_honoured(make_channel, receivers):
    make_channel("telegram", events=["queue_health"])
    fail_next(receivers, path_prefix="/bot", status=429, times=1, retry_after=7, message="Too Many Requests")
    [delivery_id] = publish()
    assert delivery_send(delivery_id=delivery_id)["retry_in"] == 7


def test_4xx_fails_at_once_with_the_services_message(make_channel, receivers):
    make_channel("slack", events=["queue_health"])
    fail_next(receivers, path_prefix="/slack/", status=404, times=1, message="no_service")
    [delivery_id] = publish()
    outcome = delivery_send(delivery_id=delivery_id)
    assert outcome["outcome"] == "failed"
    delivery = Delivery.objects.get(pk=delivery_id)
    assert delivery.status == DeliveryStatus.FAILED and delivery.attempts == 1
    assert delivery.last_status_code == 404 and "no_service" in delivery.last_error
    assert Task.objects.filter(task_type="send_notification").count() == 1  # no retry scheduled
    assert delivery_send(delivery_id=delivery_id)["outcome"] == "already_failed"


def test_telegram_errors_never_show_the_bot_token(make_channel, receivers):
    make_channel("telegram", events=["queue_health"])
    fail_next(receivers, path_prefix="/bot", status=401, times=1, message="Unauthorized")
    [delivery_id] = publish()
    delivery_send(delivery_id=delivery_id)
    delivery = Delivery.objects.get(pk=delivery_id)
    assert "Unauthorized" in delivery.last_error and BOT_TOKEN not in delivery.last_error


def test_an_unreachable_receiver_is_retried_then_given_up(make_channel, settings):
    settings.NOTIFY_MAX_ATTEMPTS = 2
    make_channel("webhook", events=["queue_health"], target="http://127.0.0.1:9/hooks/nobody")
    [delivery_id] = publish()
    assert delivery_send(delivery_id=delivery_id)["outcome"] == "retrying"
    outcome = delivery_send(delivery_id=delivery_id)
    assert outcome["outcome"] == "failed" and "connect" in outcome["error"].lower()
    assert Delivery.objects.get(pk=delivery_id).attempts == 2


def test_a_channel_gets_at_most_one_message_per_interval(make_channel, receivers, settings):
    settings.NOTIFY_MIN_INTERVAL = 5.0
    make_channel("slack", events=["queue_health"])
    [first] = publish("health:1")
    [second] = publish("health:2")
    assert delivery_send(delivery_id=first)["outcome"] == "sent"
    paced = delivery_send(delivery_id=second)
    assert paced["outcome"] == "paced"
    assert 4 <= (latest_send_task().run_at - timezone.now()).total_seconds() <= 5.5
    assert len(received(receivers)) == 1
    assert delivery_send(delivery_id=second)["outcome"] == "sent"  # its slot is reserved: no second wait


def test_one_delivery_per_key_and_channel_ever_even_when_sent_twice(make_channel, receivers):
    make_channel("webhook", events=["queue_health"])
    [delivery_id] = publish("health:7")
    assert publish("health:7") == []
    assert delivery_send(delivery_id=delivery_id)["outcome"] == "sent"
    assert delivery_send(delivery_id=delivery_id)["outcome"] == "already_sent"  # a duplicated task
    assert len(received(receivers)) == 1


# --- quiet hours -----------------------------------------------------------------


def channel_with_quiet(start: time, end: time, zone: str = "Europe/Paris") -> Channel:
    return Channel(kind="slack", timezone=zone, quiet_start=start, quiet_end=end)


def test_quiet_hours_across_midnight_end_in_the_channels_morning():
    channel = channel_with_quiet(time(22, 0), time(7, 0))
    late = datetime(2026, 12, 7, 22, 30, tzinfo=UTC)  # 23:30 in Paris
    assert quiet_hours_end(channel, late) == datetime(2026, 12, 8, 6, 0, tzinfo=UTC)  # 07:00 Paris
    early = datetime(2026, 12, 8, 4, 0, tzinfo=UTC)  # 05:00 Paris
    assert quiet_hours_end(channel, early) == datetime(2026, 12, 8, 6, 0, tzinfo=UTC)
    assert quiet_hours_end(channel, datetime(2026, 12, 8, 12, 0, tzinfo=UTC)) is None
    daytime = channel_with_quiet(time(13, 0), time(14, 0), "UTC")
    assert quiet_hours_end(daytime, datetime(2026, 12, 8, 13, 30, tzinfo=UTC)) == datetime(
        2026, 12, 8, 14, 0, tzinfo=UTC
    )


def test_non_urgent_messages_are_held_until_quiet_hours_end_urgent_ones_go(make_channel, receivers):
    now = timezone.now().astimezone(UTC)
    start = (now - timedelta(hours=1)).time().replace(second=0, microsecond=0)
    end = (now + timedelta(hours=2)).time().replace(second=0, microsecond=0)
    make_channel("slack", events=["queue_health"], timezone_name="UTC", quiet_start=start, quiet_end=end)
    [held_id] = publish("health:1")
    held = Delivery.objects.get(pk=held_id)
    assert held.status == DeliveryStatus.HELD
    assert abs((held.hold_until - (now + timedelta(hours=2))).total_seconds()) < 120
    task = latest_send_task()
    assert task.status == "scheduled" and task.run_at == held.hold_until  # delivered when quiet hours end
    assert delivery_send(delivery_id=held_id)["outcome"] == "held"  # a task running early changes nothing
    [urgent_id] = publish("health:2", urgent=True)
    assert Delivery.objects.get(pk=urgent_id).status == DeliveryStatus.PENDING
    assert sorted(outcome["outcome"] for outcome in run_pending_sends()) == ["held", "sent"]
    assert len(received(receivers)) == 1
