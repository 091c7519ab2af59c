"""App config: the notifications family and its rate limit, the send task, the health watch and the daily digest."""

from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from notifications import tasks
        from queue_app import registry

        registry.register_family(
            "notifications",
            # Telegram allows ~30 messages/s per bot; per-channel pacing (1/s) is in services.delivery.
            limits=registry.Limits(rate="30/s"),
            description="Outgoing messages to Slack, Telegram, email and webhooks.",
        )
        registry.register(
            "send_notification",
            tasks.send_notification,
            family="notifications",
            payload_serializer=tasks.SendNotificationPayload,
            priority="high",
            timeout=120,
            max_retries=0,  # the task reschedules itself, honouring Retry-After (services.delivery)
            description="Send one delivery (one message to one channel); retries 5xx/timeouts with backoff.",
        )
        registry.register(
            "notifications_health_watch",
            tasks.notifications_health_watch,
            family="notifications",
            payload_serializer=tasks.EmptyPayload,
            priority="normal",
            timeout=120,
            description="Compare queue health to the last seen level; notify once per transition, with a cool-down.",
        )
        registry.register(
            "notifications_daily_digest",
            tasks.notifications_daily_digest,
            family="notifications",
            payload_serializer=tasks.EmptyPayload,
            priority="low",
            timeout=300,
            description="Send the daily digest: top jobs, drafts waiting, applications sent, Connects and caps left.",
        )
        registry.register_default_schedule(
            "notifications_health_watch",
            task_type="notifications_health_watch",
            cron_expression="* * * * *",
            description="Watch queue health every minute; messages only on a transition.",
        )
        registry.register_default_schedule(
            "notifications_daily_digest",
            task_type="notifications_daily_digest",
            cron_expression="0 8 * * *",
            description="The daily digest at 08:00 (scheduler time zone).",
        )
