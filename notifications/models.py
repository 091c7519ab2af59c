"""Channels a person configured (Slack, Telegram, email, webhook) and one Delivery row per message and channel."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from jobs.crypto import EncryptedTextField


class ChannelKind(models.TextChoices):
    SLACK = "slack", "Slack incoming webhook"
    TELEGRAM = "telegram", "Telegram bot"
    EMAIL = "email", "Email"
    WEBHOOK = "webhook", "Signed JSON webhook"


class Event(models.TextChoices):
    JOB_ALERT = "job_alert", "A job above the profile's alert threshold"
    DRAFT_READY = "draft_ready", "A proposal draft is ready for review"
    APPLICATION_ATTENTION = "application_attention", "An application needs attention"
    APPLICATION_SUBMITTED = "application_submitted", "An application was submitted"
    APPLICATION_VERIFICATION_FAILED = "application_verification_failed", "An application failed verification"
    QUEUE_HEALTH = "queue_health", "Queue health turned degraded/critical or recovered"
    DAILY_DIGEST = "daily_digest", "Daily digest"
    WATCH_STOPPED = "watch_stopped", "A search profile stopped watching (API errors, expired token)"
    TEST = "test", "Test message"


def default_events() -> list[str]:
    return [
        Event.JOB_ALERT,
        Event.DRAFT_READY,
        Event.APPLICATION_ATTENTION,
        Event.APPLICATION_VERIFICATION_FAILED,
        Event.QUEUE_HEALTH,
        Event.DAILY_DIGEST,
        Event.WATCH_STOPPED,
    ]


class Channel(models.Model):
    """Where messages go. The target (webhook URL, chat id, address) and the secret are encrypted at rest."""

    name = models.CharField(max_length=100, help_text="A short name, e.g. 'slack-leads'.")
    kind = models.CharField(max_length=10, choices=ChannelKind.choices)
    target = EncryptedTextField(
        help_text="Slack: the incoming-webhook URL. Telegram: the chat id. Email: the address(es), comma-separated. "
        "Webhook: the receiver's URL. Stored encrypted (a Slack webhook URL is itself a credential)."
    )
    secret = EncryptedTextField(
        blank=True,
        help_text="Telegram: the bot token from BotFather. Webhook: the signing key for X-Signature. "
        "Stored encrypted, never shown again.",
    )
    enabled = models.BooleanField(default=True)
    events = models.JSONField(default=default_events, blank=True, help_text="Which events this channel receives.")
    min_score = models.PositiveSmallIntegerField(
        default=0, help_text="Scored events (job alerts) below this score are not sent here."
    )
    timezone = models.CharField(
        max_length=64, default="UTC", help_text="Time zone of the quiet hours, e.g. Europe/Paris."
    )
    quiet_start = models.TimeField(null=True, blank=True, help_text="Quiet hours start (local time); empty = none.")
    quiet_end = models.TimeField(
        null=True, blank=True, help_text="Quiet hours end; held non-urgent messages are sent then."
    )
    next_send_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="Rate limit: the earliest moment of the next send."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["name"], name="notifications_channel_name_unique"),
            models.CheckConstraint(condition=Q(min_score__lte=100), name="notifications_channel_min_score_range"),
            models.CheckConstraint(
                condition=Q(kind__in=["slack", "telegram", "email", "webhook"]), name="notifications_channel_kind"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    HELD = "held", "Held for quiet hours"
    RETRYING = "retrying", "Retrying"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class Delivery(models.Model):
    """One message to one channel. (channel, key) is unique: one alert per job per channel, ever."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=40, choices=Event.choices)
    key = models.CharField(max_length=200, help_text="What the message is about, e.g. job:42; one delivery per key.")
    subject = models.CharField(max_length=300)
    payload = models.JSONField(default=dict, blank=True)
    score = models.PositiveSmallIntegerField(null=True, blank=True)
    urgent = models.BooleanField(default=False, help_text="Urgent messages ignore quiet hours.")
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    hold_until = models.DateTimeField(null=True, blank=True, help_text="Held by quiet hours until then.")
    next_attempt_at = models.DateTimeField(
        null=True, blank=True, help_text="Retrying: the next attempt. Sending: when the claim lapses."
    )
    slot_reserved = models.BooleanField(
        default=False, editable=False, help_text="The channel's rate limit reserved next_attempt_at for this one."
    )
    task_id = models.UUIDField(null=True, blank=True, help_text="The latest send_notification task.")
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True, help_text="The service's HTTP status.")
    last_error = models.TextField(blank=True, help_text="Why the last attempt failed, in the service's words.")
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(fields=["channel", "key"], name="notifications_delivery_channel_key_unique"),
        ]
        indexes = [
            # The delivery log: newest first, by status.
            models.Index(fields=["status", "-created_at"], name="notif_delivery_status_idx"),
            # The digest and the health watch look up recent deliveries of one event.
            models.Index(fields=["event", "-created_at"], name="notif_delivery_event_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event} {self.key} → {self.channel_id} ({self.status})"


class HealthState(models.Model):
    """The last queue health level the watch saw, and when it last told anyone (one row)."""

    level = models.CharField(max_length=20, default="healthy")
    changed_at = models.DateTimeField(default=timezone.now)
    notified_level = models.CharField(max_length=20, default="healthy")
    notified_at = models.DateTimeField(null=True, blank=True)
    transitions = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"queue health {self.level}"
