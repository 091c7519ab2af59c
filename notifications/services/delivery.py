"""Send one delivery: claim it, wait for the channel's rate-limit slot, send, then record sent / retry / failed.

Retries are this module's, not the queue's: a retryable failure (timeout, connection error, 5xx, 429) schedules a
new send_notification task after an exponential backoff or after the Retry-After the service asked for (capped);
a 4xx is permanent and keeps the service's message. Rate limit: at most one send per channel every
NOTIFY_MIN_INTERVAL seconds (Slack ~1/s per webhook, Telegram ~1/s per chat); the notifications family's
rate (30/s) keeps under Telegram's per-bot limit.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from notifications import senders
from notifications.models import Channel, Delivery, DeliveryStatus
from notifications.services.publish import enqueue_delivery

logger = logging.getLogger(__name__)

OPEN = [DeliveryStatus.PENDING, DeliveryStatus.HELD, DeliveryStatus.RETRYING]
CLAIM_SECONDS = 150  # a claim older than this (the worker died mid-send) may be taken again


def _claim(delivery_id: int, now: datetime) -> bool:
    """Open (or abandoned while sending) → sending; only one worker wins."""
    return bool(
        Delivery.objects.filter(pk=delivery_id)
        .filter(Q(status__in=OPEN) | Q(status=DeliveryStatus.SENDING, next_attempt_at__lt=now))
        .update(status=DeliveryStatus.SENDING, next_attempt_at=now + timedelta(seconds=CLAIM_SECONDS))
    )


def _reserve_slot(*, channel_id: int, now: datetime) -> datetime:
    """The channel's next free send slot (now, or later when it sent within the interval), reserved."""
    interval = timedelta(seconds=settings.NOTIFY_MIN_INTERVAL)
    with transaction.atomic():
        channel = Channel.objects.select_for_update().only("next_send_at").get(pk=channel_id)
        slot = max(now, channel.next_send_at or now)
        Channel.objects.filter(pk=channel_id).update(next_send_at=slot + interval)
    return slot


def _reschedule(delivery: Delivery, *, at: datetime, status: str, slot_reserved: bool, **fields) -> None:
    with transaction.atomic():
        Delivery.objects.filter(pk=delivery.pk).update(
            status=status, next_attempt_at=at, slot_reserved=slot_reserved, **fields
        )
        enqueue_delivery(delivery, run_at=at)


def _backoff(attempts: int, retry_after: float | None) -> float:
    if retry_after is not None:
        return min(retry_after, settings.NOTIFY_RETRY_MAX_SECONDS)
    return min(settings.NOTIFY_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0), settings.NOTIFY_RETRY_MAX_SECONDS)


def delivery_send(*, delivery_id: int) -> dict:
    """Send the delivery once (see the module docstring); returns what happened, for the task's result."""
    now = timezone.now()
    delivery = Delivery.objects.select_related("channel").filter(pk=delivery_id).first()
    if delivery is None:
        return {"outcome": "gone"}
    if delivery.status in (DeliveryStatus.SENT, DeliveryStatus.FAILED):
        return {"outcome": "already_" + delivery.status}
    channel = delivery.channel
    if not channel.enabled:
        Delivery.objects.filter(pk=delivery.pk, status__in=OPEN).update(
            status=DeliveryStatus.FAILED, last_error="The channel is disabled."
        )
        return {"outcome": "failed", "error": "channel disabled"}
    if delivery.hold_until and delivery.hold_until > now + timedelta(seconds=1):
        return {"outcome": "held", "until": delivery.hold_until.isoformat()}  # its own task runs then
    if not delivery.slot_reserved:
        slot = _reserve_slot(channel_id=channel.pk, now=now)
        if slot > now:
            _reschedule(delivery, at=slot, status=delivery.status, slot_reserved=True)
            return {"outcome": "paced", "at": slot.isoformat()}
    if not _claim(delivery.pk, now):
        return {"outcome": "claimed_elsewhere"}
    attempts = delivery.attempts + 1
    try:
        code = senders.send(channel, delivery)
    except senders.SendFailed as failed:
        return _record_failure(delivery, failed, attempts=attempts)
    except Exception as error:  # a bug or an unexpected library error: say so and retry like a 5xx
        logger.exception("Delivery %s: unexpected error from the %s sender", delivery.pk, channel.kind)
        failed = senders.SendFailed(f"Unexpected error: {type(error).__name__}: {error}", retryable=True)
        return _record_failure(delivery, failed, attempts=attempts)
    Delivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.SENT,
        attempts=attempts,
        sent_at=timezone.now(),
        last_status_code=code,
        last_error="",
        next_attempt_at=None,
        slot_reserved=False,
    )
    logger.info("Delivery %s (%s %s) sent to channel %s", delivery.pk, delivery.event, delivery.key, channel.pk)
    return {"outcome": "sent", "status_code": code, "attempts": attempts}


def _record_failure(delivery: Delivery, failed: senders.SendFailed, *, attempts: int) -> dict:
    now = timezone.now()
    fields = {"attempts": attempts, "last_error": failed.message[:2000], "last_status_code": failed.status_code}
    if not failed.retryable or attempts >= settings.NOTIFY_MAX_ATTEMPTS:
        why = "permanent" if not failed.retryable else f"gave up after {attempts} attempts"
        Delivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.FAILED, next_attempt_at=None, slot_reserved=False, **fields
        )
        logger.warning("Delivery %s failed (%s): %s", delivery.pk, why, failed.message)
        return {"outcome": "failed", "error": failed.message, "status_code": failed.status_code}
    delay = _backoff(attempts, failed.retry_after)
    at = now + timedelta(seconds=delay)
    if failed.retry_after is not None:  # the service asked the whole channel to wait
        interval = timedelta(seconds=settings.NOTIFY_MIN_INTERVAL)
        Channel.objects.filter(pk=delivery.channel_id).update(next_send_at=at + interval)
    _reschedule(delivery, at=at, status=DeliveryStatus.RETRYING, slot_reserved=failed.retry_after is not None, **fields)
    logger.info("Delivery %s attempt %d failed (%s); retrying in %.1fs", delivery.pk, attempts, failed.message, delay)
    return {"outcome": "retrying", "error": failed.message, "retry_in": delay, "attempts": attempts}
