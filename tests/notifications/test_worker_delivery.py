"""Real worker processes send the alerts: a matching job → the webhook stand-in receives one alert with its score,
after a 5xx retried by the worker's own scheduler; Telegram's 429 is waited out the same way."""

from __future__ import annotations

from notifications.models import Delivery, DeliveryStatus
from notifications.services import channel_send_test, notify_job_alert
from tests.conftest import wait_for
from tests.notifications.conftest import WEBHOOK_SECRET, fail_next, received

QUEUES = ("notifications.critical", "notifications.high", "notifications.normal", "notifications.low")


def test_a_worker_delivers_one_alert_with_the_right_score_after_a_retry(processes, make_channel, alert_job, receivers):
    from notifications.signature import verify_signature

    make_channel("webhook", events=["job_alert"])
    fail_next(receivers, path_prefix="/hooks/", status=503, times=1, message="busy")
    processes.worker(*QUEUES, NOTIFY_RETRY_BASE_SECONDS="1", NOTIFY_MIN_INTERVAL="0")
    assert len(notify_job_alert(alert_job)) == 1
    assert notify_job_alert(alert_job) == []  # a second discovery of the same job: no second alert
    delivery = wait_for(
        lambda: Delivery.objects.filter(status=DeliveryStatus.SENT).first(), timeout=60, message="alert sent"
    )
    hooks = received(receivers)
    assert [hook["answered"] for hook in hooks] == [503, 200]
    assert hooks[1]["json"]["payload"]["score"] == 86 and hooks[1]["json"]["key"] == f"job:{alert_job.pk}"
    assert verify_signature(
        secret=WEBHOOK_SECRET, body=hooks[1]["body"].encode(), header=hooks[1]["headers"]["X-Signature"]
    )
    assert delivery.attempts == 2


def test_a_worker_waits_out_telegrams_429(processes, make_channel, receivers):
    channel = make_channel("telegram", events=[])
    fail_next(
        receivers, path_prefix="/bot", status=429, times=1, retry_after=1, message="Too Many Requests: retry after 1"
    )
    processes.worker(*QUEUES, TELEGRAM_API_URL=receivers.url, NOTIFY_MIN_INTERVAL="0")
    delivery = channel_send_test(channel_id=channel.pk)
    wait_for(
        lambda: Delivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.SENT).exists(),
        timeout=60,
        message="test message sent after the 429",
    )
    answers = [hook["answered"] for hook in received(receivers)]
    assert answers == [429, 200]
    first, second = received(receivers)
    assert second["received_at"] - first["received_at"] >= 1.0  # Retry-After honoured
