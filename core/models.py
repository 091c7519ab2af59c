"""What every app shares: the audit log and the API tokens."""

from django.conf import settings
from django.db import models
from knox.models import AbstractAuthToken

from core.actor import Source


class AuditEntry(models.Model):
    """Who changed what, when, from where, before and after. Written by services; never edited."""

    created_at = models.DateTimeField(auto_now_add=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The user who acted; empty for the system.",
    )
    actor_name = models.CharField(max_length=150, help_text="Username at the time, or 'system'.")
    source = models.CharField(max_length=10, choices=Source.choices)
    action = models.CharField(max_length=64, help_text="e.g. task.enqueue, schedule.disable, proposal.approve.")
    object_type = models.CharField(max_length=64, help_text="e.g. task, scheduled_task, proposal, application.")
    object_id = models.CharField(max_length=64)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        db_table = "queue_app_auditentry"  # made by queue_app before the model moved to core; triggers guard it
        verbose_name_plural = "audit entries"
        ordering = ["-created_at"]
        indexes = [
            # Admin list, newest first; and the history of one object.
            models.Index(fields=["-created_at"], name="audit_created_idx"),
            models.Index(fields=["object_type", "object_id", "-created_at"], name="audit_object_idx"),
            models.Index(fields=["action", "-created_at"], name="audit_action_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_name} {self.action} {self.object_type}:{self.object_id}"


class ApiToken(AbstractAuthToken):
    """An API token (django-rest-knox's model with a last-used time): only its SHA-512 digest and its first
    characters (`token_key`, the prefix shown in lists) are stored; the key itself is shown once, when made.

    Written only by the services in core/permissions.py (token_create / token_revoke), which audit.
    """

    last_used_at = models.DateTimeField(
        null=True, blank=True, help_text="When a request last authenticated with it (to the minute)."
    )

    class Meta:
        db_table = "queue_app_apitoken"  # made by queue_app before the model moved to core
        ordering = ["-created"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.token_key}… ({self.user})"
