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


class Outcome(models.TextChoices):
    """What became of a sent proposal, as the client's side of Upwork shows it (kept on the application)."""

    PENDING = "pending", "Pending"
    VIEWED = "viewed", "Viewed by client"
    REPLIED = "replied", "Client replied"
    INTERVIEW = "interview", "Interview"
    OFFER = "offer", "Offer"
    HIRED = "hired", "Hired"
    DECLINED = "declined", "Declined"
    JOB_CLOSED = "job_closed", "Job closed"
    JOB_CANCELLED = "job_cancelled", "Job cancelled"
    WITHDRAWN = "withdrawn", "Withdrawn"
    NO_RESPONSE = "no_response", "No response"


class OutcomeKind(models.TextChoices):
    """One thing that happened to a sent proposal: each is recorded once per application (OutcomeEvent)."""

    VIEWED = "viewed", "Viewed by client"
    REPLIED = "replied", "Client replied"
    INTERVIEW = "interview", "Interview"
    OFFER = "offer", "Offer"
    HIRED = "hired", "Hired"
    DECLINED = "declined", "Declined"
    JOB_CLOSED = "job_closed", "Job closed"
    JOB_CANCELLED = "job_cancelled", "Job cancelled"
    WITHDRAWN = "withdrawn", "Withdrawn"
    NO_RESPONSE = "no_response", "No response"


# Outcomes after which nothing more is followed (the tracker skips these applications).
FINAL_OUTCOMES = (Outcome.HIRED, Outcome.DECLINED, Outcome.JOB_CLOSED, Outcome.JOB_CANCELLED, Outcome.WITHDRAWN)
# How far along the funnel an outcome is: the application's `outcome` only moves forward (a late "viewed" after
# "replied" is kept as an event but does not move it back). Final outcomes other than hired end it wherever it is.
OUTCOME_RANK = {
    Outcome.PENDING: 0,
    Outcome.NO_RESPONSE: 1,
    Outcome.VIEWED: 2,
    Outcome.REPLIED: 3,
    Outcome.INTERVIEW: 4,
    Outcome.OFFER: 5,
    Outcome.DECLINED: 6,
    Outcome.JOB_CLOSED: 6,
    Outcome.JOB_CANCELLED: 6,
    Outcome.WITHDRAWN: 6,
    Outcome.HIRED: 7,
}


class OutcomeSource(models.TextChoices):
    API = "api", "Official API"
    BROWSER = "browser", "Proposals pages (browser session)"
    SYSTEM = "system", "System (e.g. no response after N days)"


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
    connects_refunded = models.PositiveSmallIntegerField(
        default=0, help_text="Connects Upwork gave back (e.g. the post was cancelled without a hire)."
    )
    outcome = models.CharField(
        max_length=20,
        choices=Outcome.choices,
        default=Outcome.PENDING,
        help_text="How far the sent proposal got with the client (from its outcome events).",
    )
    outcome_changed_at = models.DateTimeField(null=True, blank=True)
    outcome_checked_at = models.DateTimeField(
        null=True, blank=True, help_text="When outcome tracking last read this application's state."
    )
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
            models.CheckConstraint(
                condition=Q(connects_refunded__lte=models.F("connects_spent")),
                name="applications_refund_within_spent",
            ),
        ]
        indexes = [
            # The caps: "counted submissions since <day or month start>" (daily count, monthly Connects, gap).
            models.Index(fields=["claimed_at"], name="applications_counted_idx", condition=Q(counts_toward_caps=True)),
            # Batches and the admin list: "applications in a status, oldest approval first".
            models.Index(fields=["status", "approved_at"], name="applications_status_idx"),
            # Outcome tracking and analytics: "sent applications with this outcome, by submission time".
            models.Index(
                fields=["outcome", "submitted_at"],
                name="applications_outcome_idx",
                condition=Q(submitted_at__isnull=False),
            ),
            # Analytics (applications/analytics/selectors.py): the rates cube (`_cube`), the calibration queries
            # (`calibration_summary`, `observations`) and the calibration cache's fingerprint (`_fingerprint`) all
            # read "applications submitted since <day>": a range scan that carries every column they use.
            models.Index(
                fields=["submitted_at"],
                name="applications_submitted_idx",
                condition=Q(submitted_at__isnull=False),
                include=[
                    "job_id",
                    "proposal_id",
                    "proposal_version_id",
                    "outcome",
                    "connects_spent",
                    "connects_refunded",
                    "updated_at",
                ],
            ),
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


class OutcomeEvent(models.Model):
    """One change in a sent proposal's fate (viewed, replied, hired...), kept once per kind with when it happened."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="outcome_events")
    kind = models.CharField(max_length=20, choices=OutcomeKind.choices)
    occurred_at = models.DateTimeField(help_text="When it happened on Upwork (or when it was first seen).")
    recorded_at = models.DateTimeField(auto_now_add=True)
    source = models.CharField(max_length=10, choices=OutcomeSource.choices)
    detail = models.JSONField(
        default=dict, blank=True, help_text="What the source showed (status text, refunded Connects, run id)."
    )

    class Meta:
        ordering = ["application", "occurred_at", "id"]
        constraints = [
            # Re-runs and two sources agreeing record an event once.
            models.UniqueConstraint(fields=["application", "kind"], name="applications_outcome_event_once"),
        ]
        indexes = [
            # Analytics: "events of a kind in a period".
            models.Index(fields=["kind", "occurred_at"], name="applications_outcome_kind_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for application {self.application_id}"


class OutcomeRunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    STOPPED = "stopped", "Stopped (CAPTCHA, login wall or unexpected page)"
    FAILED = "failed", "Failed"


class OutcomeRun(models.Model):
    """One pass of outcome tracking: what it read, what it recorded, and why it stopped if it did."""

    status = models.CharField(max_length=20, choices=OutcomeRunStatus.choices, default=OutcomeRunStatus.RUNNING)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    task_id = models.CharField(max_length=64, blank=True, help_text="The queue task that ran it, if any.")
    sources = models.JSONField(default=list, blank=True, help_text='Sources read, e.g. ["api", "browser"].')
    applications_checked = models.PositiveIntegerField(default=0)
    events_recorded = models.PositiveIntegerField(default=0)
    connects_refunded = models.PositiveIntegerField(default=0)
    stop_reason = models.CharField(max_length=40, blank=True, help_text="captcha, login_wall, unexpected_page...")
    error = models.TextField(blank=True)
    screenshot = models.FileField(
        upload_to="applications/outcome_runs/%Y/%m/", blank=True, help_text="The page that stopped the run (PNG)."
    )

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            # Health: "the latest runs, stopped ones first looked at".
            models.Index(fields=["status", "started_at"], name="applications_outcome_run_idx"),
        ]

    def __str__(self) -> str:
        return f"Outcome run #{self.pk} ({self.status})"


# --- analytics rollup (applications/analytics/rollup.py) ---------------------------------------------------
class AnalyticsDay(models.Model):
    """One UTC day of submitted applications as the rollup counted it: the fingerprint of that day's applications
    (how many, and the sum of their `updated_at`) when its AnalyticsRollup rows were computed. A different
    fingerprint now means an application of that day was saved (an outcome, a refund, a new submission) since."""

    day = models.DateField(primary_key=True)
    fingerprint = models.CharField(max_length=100)
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["-day"]

    def __str__(self) -> str:
        return f"Analytics day {self.day}"


class AnalyticsRollup(models.Model):
    """The applications submitted on one UTC day, counted per (dimension, value) like the rates cube; dimension
    "total" (value "") counts the whole day, and dimension "calibration" has one row per (score, replied, settled by
    its outcome, withdrawn) with value "score|replied|settled|withdrawn" ("-" for an unscored job)."""

    day = models.DateField()
    dimension = models.CharField(max_length=30)
    value = models.CharField(max_length=200)
    submitted = models.PositiveIntegerField(default=0)
    viewed = models.PositiveIntegerField(default=0)
    replied = models.PositiveIntegerField(default=0)
    interview = models.PositiveIntegerField(default=0)
    hired = models.PositiveIntegerField(default=0)
    connects = models.BigIntegerField(default=0)
    openai = models.DecimalField(max_digits=16, decimal_places=6, default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "dimension", "value"], name="applications_rollup_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.dimension}={self.value}: {self.submitted}"


class AnalyticsCalibration(models.Model):
    """The calibration tab's report for one window, computed by the analytics_refresh task (never by a page
    request), with the data fingerprint it was computed from: a different fingerprint now means it is stale."""

    days = models.PositiveIntegerField(primary_key=True)
    report = models.JSONField()
    fingerprint = models.CharField(max_length=200)
    computed_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"Calibration, {self.days} days, computed {self.computed_at:%Y-%m-%d %H:%M}"
