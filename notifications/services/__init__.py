"""Notifications services: publish events, send deliveries, manage channels (one module per concern)."""

from notifications.services.channels import channel_create, channel_delete, channel_send_test, channel_update
from notifications.services.delivery import delivery_send
from notifications.services.events import (
    notify_application,
    notify_draft_ready,
    notify_job_alert,
    notify_job_alerts,
)
from notifications.services.publish import notification_publish, quiet_hours_end

__all__ = [
    "channel_create",
    "channel_delete",
    "channel_send_test",
    "channel_update",
    "delivery_send",
    "notification_publish",
    "notify_application",
    "notify_draft_ready",
    "notify_job_alert",
    "notify_job_alerts",
    "quiet_hours_end",
]
