"""Applications: one per job, the approved proposal it sends, what it costs in Connects, and its evidence."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from upwork_automation.weblinks import validate_http_url


class ApplicationStatus(models.TextChoices):
    AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
    APPROVED = "approved", "Approved"
    SCHEDULED = "scheduled", "Scheduled"
    SUBMITTING = "submitting", "Submitting"
    SUBMITTED = "submitted", "Submitted"
    VERIFIED = "verified", "Verified"
    FAILED = "failed", "Failed"
    NEEDS_ATTENTION = "needs_attention", "Needs attention"
    CANCELLED = "cancelled", "Cancelled"


class Application(models.Model):
    """Sending one approved proposal to one job through the browser session, within the safety limits."""

    job = models.ForeignKey("jobs.Job", on_delete=models.CASCADE, related_name="applications")
    proposal = models.ForeignKey("proposals.Proposal", on_delete=models.PROTECT, related_name="applications")
    proposal_version = models.ForeignKey(
        "proposals.ProposalVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The approved proposal version this application sends (fixed at approval).",
    )
    status = models.CharField(
        max_length=20, choices=ApplicationStatus.choices, default=ApplicationStatus.AWAITING_APPROVAL
    )
    status_changed_at = models.DateTimeField(null=True, blank=True)
    cover_letter = models.TextField(
        blank=True, help_text="The letter sent: the approved version's text without its screening answers."
    )
    screening_answers = models.JSONField(
        default=list, blank=True, help_text='The answers sent, in order: [{"question": ..., "answer": ...}].'
    )
    attachment_ids = models.JSONField(
        default=list, blank=True, help_text="Ids of the proposal attachments uploaded with it (fixed at approval)."
    )
    bid_amount = models.DecimalField(
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="USD: the hourly rate for hourly jobs, the total bid for fixed-price jobs.",
    )
    connects_required = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Connects the job asks for (from the job, then read on the form)."
    )
    boost_connects = models.PositiveSmallIntegerField(
        default=0, help_text="Extra Connects to boost the proposal; refused unless APPLICATIONS_BOOST_ENABLED."
    )
    connects_reserved = models.PositiveSmallIntegerField(
        default=0, help_text="Connects counted against the monthly budget when the submission slot was taken."
    )
    connects_spent = models.PositiveSmallIntegerField(default=0, help_text="Connects the submission spent.")
    counts_toward_caps = models.BooleanField(
        default=False,
        help_text="True from the moment a submission slot is taken; cleared only when nothing can have been sent.",
    )
    claimed_at = models.DateTimeField(null=True, blank=True, help_text="When a worker took the submission slot.")
    gap_until = models.DateTimeField(
        null=True, blank=True, help_text="No other submission starts before this (minimum gap plus jitter)."
    )
    scheduled_for = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    confirmation_reference = models.CharField(
        max_length=100, blank=True, help_text="The reference Upwork showed after submitting."
    )
    last_dry_run_at = models.DateTimeField(null=True, blank=True, help_text="When the form was last filled unsent.")
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True, help_text="Why the last attempt stopped or a gate refused it.")
    browser_session = models.ForeignKey(
        "jobs.BrowserSession", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        # Approving sends a proposal to a client under the freelancer's name: its own permission.
        permissions = [("approve_application", "Can approve applications for sending")]
        constraints = [
            models.UniqueConstraint(fields=["job"], name="applications_one_per_job"),
            models.CheckConstraint(
                condition=Q(status__in=["awaiting_approval", "cancelled"]) | Q(proposal_version__isnull=False),
                name="applications_approved_has_version",
            ),
            models.CheckConstraint(
                condition=Q(bid_amount__isnull=True) | Q(bid_amount__gt=0), name="applications_bid_positive"
            ),
        ]
        indexes = [
            # The caps: "counted submissions since <day or month start>" (daily count, monthly Connects, gap).
            models.Index(fields=["claimed_at"], name="applications_counted_idx", condition=Q(counts_toward_caps=True)),
            # Batches and the admin list: "applications in a status, oldest approval first".
            models.Index(fields=["status", "approved_at"], name="applications_status_idx"),
        ]

    def __str__(self) -> str:
        return f"Application #{self.pk} for job {self.job_id} ({self.status})"


class ScreenshotKind(models.TextChoices):
    FORM_FILLED = "form_filled", "Form filled, before submitting"
    CONFIRMATION = "confirmation", "Confirmation page"
    DRY_RUN = "dry_run", "Dry run (not submitted)"
    ATTENTION = "attention", "Page that stopped the attempt"
    VERIFICATION = "verification", "Proposals list at verification"


class ApplicationScreenshot(models.Model):
    """A full-page screenshot taken during an attempt: the evidence of what was sent or what stopped it."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="screenshots")
    kind = models.CharField(max_length=20, choices=ScreenshotKind.choices)
    image = models.FileField(upload_to="applications/screenshots/%Y/%m/", help_text="PNG under MEDIA_ROOT.")
    page_url = models.URLField(max_length=1000, blank=True, validators=[validate_http_url])
    taken_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["application", "taken_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of application {self.application_id}"
