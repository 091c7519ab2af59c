"""Reads: channels subscribed to an event, the delivery log."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from notifications.models import Channel, Delivery


def channels_for_event(*, event: str, score: int | None = None) -> QuerySet[Channel]:
    """Enabled channels that chose this event and whose minimum score the score meets (unscored events: all)."""
    channels = Channel.objects.filter(enabled=True, events__contains=[event])
    if score is not None:
        channels = channels.filter(Q(min_score__lte=score))
    return channels.order_by("pk")


def delivery_list() -> QuerySet[Delivery]:
    return Delivery.objects.select_related("channel").order_by("-created_at", "-pk")
