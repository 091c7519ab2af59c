"""Queue entry points for notifications: take ids, call a service, report the outcome."""

from __future__ import annotations

from rest_framework import serializers

from queue_app.registry import TaskContext


class SendNotificationPayload(serializers.Serializer):
    delivery_id = serializers.IntegerField(min_value=1)


class EmptyPayload(serializers.Serializer):
    pass


def send_notification(payload: dict, context: TaskContext) -> dict:
    from notifications.services import delivery_send

    return delivery_send(delivery_id=payload["delivery_id"])


def notifications_health_watch(payload: dict, context: TaskContext) -> dict:
    from notifications.services.health import health_watch

    return health_watch()


def notifications_daily_digest(payload: dict, context: TaskContext) -> dict:
    from notifications.services.digest import digest_send

    return digest_send()
