"""Publish an event: one Delivery per subscribed channel and key (ever), each sent by a send_notification task."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import IntegrityError, transaction
from django.utils import timezone

from notifications import selectors
from notifications.models import Channel, Delivery, DeliveryStatus, Event

logger = logging.getLogger(__name__)

# Job alerts race other freelancers' proposals; the digest can wait behind anything.
PRIORITIES = {Event.JOB_ALERT: "high", Event.DAILY_DIGEST: "low"}


def quiet_hours_end(channel: Channel, now: datetime) -> datetime | None:
    """When `now` falls in the channel's quiet hours (its own time zone), the moment they end; else None."""
    start, end = channel.quiet_start, channel.quiet_end
    if start is None or end is None or start == end:
        return None
    try:
        zone = ZoneInfo(channel.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    local = now.astimezone(zone)
    moment = local.time().replace(tzinfo=None)
    if start < end:  # e.g. 13:00-14:00
        if not start <= moment < end:
            return None
        day = local.date()
    else:  # across midnight, e.g. 22:00-07:00
        if end <= moment < start:
            return None
        day = local.date() if moment < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=zone).astimezone(now.tzinfo)


def enqueue_delivery(delivery: Delivery, *, run_at: datetime | None = None, idempotency_key: str | None = None) -> None:
    """A send_notification task for the delivery, pushed when the caller's transaction commits."""
    from queue_app.services import task_enqueue

    task = task_enqueue(
        task_type="send_notification",
        payload={"delivery_id": delivery.pk},
        priority="high" if delivery.urgent else PRIORITIES.get(delivery.event, "normal"),
        run_at=run_at if run_at is not None and run_at > timezone.now() else None,
        idempotency_key=idempotency_key,
    )
    Delivery.objects.filter(pk=delivery.pk).update(task_id=task.id)


def delivery_create(
    *,
    channel: Channel,
    event: str,
    key: str,
    subject: str,
    payload: dict,
    score: int | None,
    urgent: bool,
    now: datetime,
) -> Delivery | None:
    """The channel's delivery for this key, enqueued; None when the channel already had one (dedup)."""
    hold_until = None if urgent else quiet_hours_end(channel, now)
    try:
        with transaction.atomic():  # a savepoint: a duplicate key leaves the caller's transaction usable
            delivery = Delivery.objects.create(
                channel=channel,
                event=event,
                key=key[:200],
                subject=subject[:300],
                payload=payload,
                score=score,
                urgent=urgent,
                status=DeliveryStatus.HELD if hold_until else DeliveryStatus.PENDING,
                hold_until=hold_until,
                created_at=now,
            )
    except IntegrityError:
        return None
    enqueue_delivery(delivery, run_at=hold_until, idempotency_key=f"notification:{delivery.pk}")
    return delivery


def notification_publish(
    *,
    event: str,
    key: str,
    subject: str,
    payload: dict,
    score: int | None = None,
    urgent: bool = False,
) -> list[int]:
    """Fan an event out to every enabled channel subscribed to it whose minimum score `score` meets.

    One Delivery per (channel, key), ever: publishing the same key again sends nothing new. Each new delivery
    is sent by a send_notification task enqueued when the caller's transaction commits; non-urgent messages
    that fall in a channel's quiet hours are held until the quiet hours end. Returns the new deliveries' ids.
    """
    now = timezone.now()
    created = []
    with transaction.atomic():
        for channel in selectors.channels_for_event(event=event, score=score):
            delivery = delivery_create(
                channel=channel,
                event=event,
                key=key,
                subject=subject,
                payload=payload,
                score=score,
                urgent=urgent,
                now=now,
            )
            if delivery is not None:
                created.append(delivery.pk)
    if created:
        logger.info("Published %s %s to %d channel(s)", event, key, len(created))
    return created
