"""Queue health → messages: compare the current level to the last one; one message per transition, with a cool-down.

queue_app knows nothing of this: the notifications_health_watch schedule (every minute) calls health_watch, which
reads queue_app.health.queue_health like the dashboard does. A change of level is announced once; a further change
within NOTIFY_HEALTH_COOLDOWN seconds waits for the cool-down to pass (a flapping queue sends one message, and
the final level after the cool-down), except that turning critical is announced at once and urgently.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from notifications.models import Event, HealthState
from notifications.services.events import site_link
from notifications.services.publish import notification_publish

logger = logging.getLogger(__name__)
RANK = {"healthy": 0, "degraded": 1, "critical": 2}


def health_watch(*, health: dict | None = None, now: datetime | None = None) -> dict:
    if health is None:
        from queue_app.health import queue_health

        health = queue_health()
    now = now or timezone.now()
    level = health["status"]
    with transaction.atomic():
        state, _ = HealthState.objects.select_for_update().get_or_create(pk=1)
        if level != state.level:
            state.level, state.changed_at = level, now
            state.transitions += 1
        outcome = {"level": level, "notified": False}
        if level != state.notified_level:
            cooling = state.notified_at is not None and now - state.notified_at < timedelta(
                seconds=settings.NOTIFY_HEALTH_COOLDOWN
            )
            escalation = level == "critical"
            if not cooling or escalation:
                previous = state.notified_level
                state.notified_level, state.notified_at = level, now
                outcome["notified"] = True
                outcome["deliveries"] = _publish(health, previous=previous, sequence=state.transitions)
            else:
                outcome["cooling_down_until"] = (
                    state.notified_at + timedelta(seconds=settings.NOTIFY_HEALTH_COOLDOWN)
                ).isoformat()
        state.save()
    return outcome


def _publish(health: dict, *, previous: str, sequence: int) -> list[int]:
    level = health["status"]
    if level == "healthy":
        subject = f"Queue recovered: healthy again (was {previous})"
    else:
        subject = f"Queue health {level}: score {health.get('score')}/100"
    lines = [alert.get("message", "") for alert in health.get("alerts", [])]
    logger.info("Queue health %s → %s: notifying", previous, level)
    return notification_publish(
        event=Event.QUEUE_HEALTH,
        key=f"health:{sequence}:{level}",
        subject=subject,
        payload={
            "level": level,
            "previous": previous,
            "score": health.get("score"),
            "facts": [("Status", level), ("Was", previous), ("Score", f"{health.get('score')}/100")],
            "lines": lines,
            "links": [("Queue dashboard", site_link(reverse("queue-dashboard")))],
        },
        urgent=level == "critical",
    )
