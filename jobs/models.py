"""Jobs found on Upwork, the search profiles that find and rank them, imported browser sessions, API tokens."""

from __future__ import annotations

import json
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from jobs.crypto import EncryptedTextField
from upwork_automation.weblinks import validate_http_url


class JobType(models.TextChoices):
    HOURLY = "hourly", "Hourly"
    FIXED = "fixed", "Fixed price"


class JobStatus(models.TextChoices):
    NEW = "new", "New"
    SHORTLISTED = "shortlisted", "Shortlisted"
    REJECTED = "rejected", "Rejected"
    PROPOSAL_DRAFTED = "proposal_drafted", "Proposal drafted"
    APPLIED = "applied", "Applied"
    ARCHIVED = "archived", "Archived"


class SourceKind(models.TextChoices):
    AUTO = "auto", "API if connected, else browser"
    API = "api", "Upwork GraphQL API"
    BROWSER = "browser", "Browser session (Playwright)"


class Strategy(models.TextChoices):
    KEYWORDS = "keywords", "Keywords"
    SKILLS = "skills", "Skills"
    SAVED_SEARCHES = "saved_searches", "Saved searches"
    CATEGORIES = "categories", "Categories"


def default_strategies() -> list[str]:
    return [Strategy.KEYWORDS, Strategy.SKILLS]


# What watching records about itself (set by the watch services, shown read-only in the admin and the API).
WATCH_STATE_FIELDS = (
    "watch_started_at",
    "watch_last_poll_at",
    "watch_error_count",
    "watch_stopped_at",
    "watch_stopped_reason",
)


class SearchProfile(models.Model):
    """What the freelancer looks for: searches to run, hard filters, and the weights of the score."""

    name = models.CharField(max_length=100, help_text="A short name, e.g. 'Django backend'.")
    enabled = models.BooleanField(default=True, help_text="Disabled profiles are skipped by scheduled discovery.")
    keywords = models.JSONField(default=list, blank=True, help_text="Search phrases; one search per phrase.")
    skills = models.JSONField(default=list, blank=True, help_text="Skills to search for and to score overlap on.")
    saved_searches = models.JSONField(default=list, blank=True, help_text="Raw search queries, run as given.")
    categories = models.JSONField(default=list, blank=True, help_text="Upwork categories to browse.")
    strategies = models.JSONField(
        default=default_strategies,
        blank=True,
        help_text="Which searches discovery runs: keywords, skills, saved_searches, categories.",
    )
    source = models.CharField(
        max_length=10, choices=SourceKind.choices, default=SourceKind.AUTO, help_text="Where to search."
    )
    excluded_words = models.JSONField(default=list, blank=True, help_text="Jobs mentioning any of these are dropped.")
    excluded_countries = models.JSONField(default=list, blank=True, help_text="Client countries to drop.")
    require_payment_verified = models.BooleanField(default=True, help_text="Drop clients without a verified payment.")
    min_fixed_budget = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True, help_text="Drop fixed-price jobs below this (USD)."
    )
    min_hourly_rate = models.DecimalField(
        max_digits=8, decimal_places=2, null=True, blank=True, help_text="Drop hourly jobs whose top rate is below."
    )
    target_hourly_rate = models.DecimalField(
        max_digits=8, decimal_places=2, null=True, blank=True, help_text="Your rate; the budget score compares to it."
    )
    target_fixed_budget = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True, help_text="A fixed budget that scores full marks."
    )
    max_proposals = models.PositiveIntegerField(
        null=True, blank=True, help_text="Drop jobs that already have at least this many proposals."
    )
    min_client_spent = models.DecimalField(
        max_digits=14, decimal_places=2, null=True, blank=True, help_text="Drop clients who spent less (USD)."
    )
    min_client_rating = models.DecimalField(
        max_digits=3, decimal_places=2, null=True, blank=True, help_text="Drop clients rated lower (0-5)."
    )
    min_client_hires = models.PositiveIntegerField(null=True, blank=True, help_text="Drop clients with fewer hires.")
    score_weights = models.JSONField(
        default=dict,
        blank=True,
        help_text="Weight per score part (fit, client, budget, competition, freshness, clarity); missing = default.",
    )
    handoff_top_n = models.PositiveIntegerField(
        default=0, help_text="After discovery, send this many top jobs to proposal generation (0 = none)."
    )
    handoff_min_score = models.PositiveSmallIntegerField(
        default=60, help_text="Only jobs scoring at least this are handed to proposal generation."
    )
    alert_threshold = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        default=80,
        help_text="Send a job alert (notification channels subscribed to job_alert) when a job scores at least "
        "this; empty = no alerts for this profile.",
    )
    watch = models.BooleanField(
        default=False,
        help_text="Poll the official API every poll_seconds and alert on new postings within seconds. "
        "API source only; stops itself on repeated API errors or an expired token.",
    )
    poll_seconds = models.PositiveIntegerField(
        default=60, help_text="Seconds between polls while watching; never below what the API's rate limit allows."
    )
    auto_draft = models.BooleanField(
        default=False,
        help_text="While watching: draft a proposal at once for each new job scoring at least handoff_min_score.",
    )
    watch_started_at = models.DateTimeField(
        null=True, blank=True, help_text="When watching was switched on; postings published before are not alerted."
    )
    watch_last_poll_at = models.DateTimeField(null=True, blank=True)
    watch_error_count = models.PositiveIntegerField(default=0, help_text="Consecutive failed polls.")
    watch_stopped_at = models.DateTimeField(null=True, blank=True)
    watch_stopped_reason = models.TextField(
        blank=True, help_text="Why watching stopped itself (API errors, an expired or revoked token)."
    )
    last_run_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["name"], name="jobs_searchprofile_name_unique"),
            models.CheckConstraint(
                condition=Q(handoff_min_score__lte=100), name="jobs_searchprofile_handoff_min_score_range"
            ),
            models.CheckConstraint(
                condition=Q(alert_threshold__isnull=True) | Q(alert_threshold__lte=100),
                name="jobs_searchprofile_alert_threshold_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        # Switching watching on starts a fresh watch: new postings from now on, no old stop reason or error count.
        if self.watch and self.watch_started_at is None:
            self.watch_started_at = timezone.now()
            self.watch_error_count = 0
            self.watch_stopped_reason = ""
            self.watch_stopped_at = None
        elif not self.watch:
            self.watch_started_at = None
        if kwargs.get("update_fields") is not None and "watch" in kwargs["update_fields"]:
            kwargs["update_fields"] = {
                *kwargs["update_fields"],
                "watch_started_at",
                "watch_error_count",
                "watch_stopped_reason",
                "watch_stopped_at",
            }
        super().save(*args, **kwargs)

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from jobs.services.watching import watch_settings_errors

        errors = watch_settings_errors(profile=self)
        if errors:
            raise ValidationError(errors)


class WatchSeen(models.Model):
    """A posting a watching profile has already processed: the seen-set, so each posting runs the fast path once."""

    profile = models.ForeignKey(SearchProfile, on_delete=models.CASCADE, related_name="watch_seen")
    upwork_id = models.CharField(max_length=64)
    seen_at = models.DateTimeField(default=timezone.now)
    alerted = models.BooleanField(default=False, help_text="False when the posting predates the watch (baseline).")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["profile", "upwork_id"], name="jobs_watchseen_profile_upwork_id_unique")
        ]
        indexes = [
            # watch_tick's pruning: "seen rows older than WATCH_SEEN_RETENTION_DAYS".
            models.Index(fields=["seen_at"], name="jobs_watchseen_seen_at_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.profile_id}:{self.upwork_id}"


class Job(models.Model):
    """One Upwork job posting, merged across sources and searches, with its filter verdict and score."""

    upwork_id = models.CharField(max_length=64, help_text="Upwork's job ciphertext, e.g. ~01abc...")
    url = models.URLField(max_length=500, validators=[validate_http_url])
    title = models.CharField(max_length=500)
    description = models.TextField(blank=True)
    screening_questions = models.JSONField(
        default=list,
        blank=True,
        help_text="Questions the job's application form asks, as found at discovery; every draft answers them.",
    )
    job_type = models.CharField(max_length=10, choices=JobType.choices, blank=True)
    budget = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True, help_text="Fixed price, USD")
    hourly_min = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    hourly_max = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    skills = models.JSONField(default=list, blank=True)
    category = models.CharField(max_length=200, blank=True)
    experience_level = models.CharField(max_length=50, blank=True)
    duration = models.CharField(max_length=100, blank=True)
    workload = models.CharField(max_length=100, blank=True)
    client_country = models.CharField(max_length=100, blank=True)
    client_payment_verified = models.BooleanField(null=True, blank=True)
    client_total_spent = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    client_hires = models.PositiveIntegerField(null=True, blank=True)
    client_rating = models.DecimalField(max_digits=3, decimal_places=2, null=True, blank=True)
    client_reviews = models.PositiveIntegerField(null=True, blank=True)
    proposals_tier = models.CharField(max_length=50, blank=True, help_text="e.g. 'Less than 5', '20 to 50'")
    connects_required = models.PositiveSmallIntegerField(null=True, blank=True)
    posted_at = models.DateTimeField(null=True, blank=True)
    discovered_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    times_seen = models.PositiveIntegerField(default=1, help_text="How many discovery runs found this job.")
    source = models.CharField(max_length=10, choices=SourceKind.choices, blank=True)
    profile = models.ForeignKey(
        SearchProfile,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="jobs",
        help_text="The profile whose filters and weights produced the score.",
    )
    status = models.CharField(max_length=20, choices=JobStatus.choices, default=JobStatus.NEW)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    passed_filters = models.BooleanField(default=True, help_text="False when a hard filter dropped the job.")
    filter_reasons = models.JSONField(default=list, blank=True, help_text="Why hard filters dropped the job.")
    score = models.PositiveSmallIntegerField(null=True, blank=True, help_text="0-100; see the breakdown.")
    score_breakdown = models.JSONField(default=dict, blank=True, help_text="Each part's value, weight and reason.")
    scored_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-score", "-posted_at"]
        constraints = [
            models.UniqueConstraint(fields=["upwork_id"], name="jobs_job_upwork_id_unique"),
            models.CheckConstraint(condition=Q(score__isnull=True) | Q(score__lte=100), name="jobs_job_score_range"),
        ]
        indexes = [
            # The jobs list: "new jobs that passed filters, best first".
            models.Index(
                fields=["status", "-score"], name="jobs_job_status_score_idx", condition=Q(passed_filters=True)
            ),
            models.Index(fields=["-posted_at"], name="jobs_job_posted_idx"),
            # Analytics' funnel (applications/analytics/selectors.py `funnel`): "jobs discovered since <day>", with
            # the columns it counts by, so the window is a range scan instead of a scan of every job.
            models.Index(
                fields=["discovered_at"],
                name="jobs_job_discovered_idx",
                include=["id", "passed_filters", "status", "score", "profile_id"],
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.upwork_id})"


class BrowserSessionStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    NEEDS_ATTENTION = "needs_attention", "Needs attention"
    EXPIRED = "expired", "Expired"
    REVOKED = "revoked", "Revoked"


class BrowserSession(models.Model):
    """A logged-in browser state the user exported (Playwright storage state). Never a password."""

    name = models.CharField(max_length=100, help_text="A label, e.g. the Upwork account it belongs to.")
    storage_state = EncryptedTextField(help_text="Playwright storage state JSON (cookies), encrypted at rest.")
    cookie_domains = models.JSONField(default=list, blank=True, help_text="Domains the cookies are for.")
    status = models.CharField(max_length=20, choices=BrowserSessionStatus.choices, default=BrowserSessionStatus.ACTIVE)
    attention_reason = models.TextField(
        blank=True, help_text="Why the session stopped: CAPTCHA, login wall or an unexpected page."
    )
    attention_url = models.URLField(max_length=1000, blank=True, validators=[validate_http_url])
    attention_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(help_text="When the session's cookies run out; cleanup expires it then.")
    imported_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-imported_at"]
        constraints = [models.UniqueConstraint(fields=["name"], name="jobs_browsersession_name_unique")]
        indexes = [
            # cleanup_browser_sessions and "pick a usable session": active ones by expiry.
            models.Index(fields=["expires_at"], name="jobs_bsession_active_exp_idx", condition=Q(status="active")),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"

    def storage_state_dict(self) -> dict:
        return json.loads(self.storage_state) if self.storage_state else {"cookies": [], "origins": []}


class OAuthTokenStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    NEEDS_REAUTH = "needs_reauth", "Needs re-authorization"


class UpworkOAuthToken(models.Model):
    """OAuth2 tokens for Upwork's API from the authorization-code flow; encrypted at rest, refreshed when expired."""

    account = models.CharField(max_length=100, default="default", help_text="Which connected Upwork account.")
    access_token = EncryptedTextField(blank=True)
    refresh_token = EncryptedTextField(blank=True)
    token_type = models.CharField(max_length=20, default="Bearer")
    scope = models.CharField(max_length=500, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="When the access token runs out.")
    status = models.CharField(max_length=20, choices=OAuthTokenStatus.choices, default=OAuthTokenStatus.ACTIVE)
    last_error = models.TextField(blank=True)
    refreshed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "Upwork OAuth token"
        verbose_name_plural = "Upwork OAuth tokens"
        constraints = [models.UniqueConstraint(fields=["account"], name="jobs_upworkoauthtoken_account_unique")]

    def __str__(self) -> str:
        return f"Upwork API token ({self.account}, {self.status})"

    def is_expired(self, *, margin_seconds: int = 60) -> bool:
        return self.expires_at is None or self.expires_at <= timezone.now() + timedelta(seconds=margin_seconds)


class TuningStatus(models.TextChoices):
    APPLIED = "applied", "Applied"
    REVERTED = "reverted", "Reverted"


class ProfileTuning(models.Model):
    """A calibration suggestion a person applied to a search profile: the weights and threshold before and after.

    Written by applications.analytics.services.calibration_apply; calibration_revert puts the previous values back.
    """

    profile = models.ForeignKey(SearchProfile, on_delete=models.CASCADE, related_name="tunings")
    previous_weights = models.JSONField(help_text="The profile's score_weights before (as stored; {} = defaults).")
    previous_threshold = models.PositiveSmallIntegerField(help_text="handoff_min_score before.")
    weights = models.JSONField(help_text="The weights applied.")
    threshold = models.PositiveSmallIntegerField(help_text="The handoff_min_score applied.")
    evidence = models.JSONField(
        default=dict, blank=True, help_text="The suggestion when applied: outcomes, AUC, expected Connects per reply."
    )
    status = models.CharField(max_length=10, choices=TuningStatus.choices, default=TuningStatus.APPLIED)
    applied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    applied_at = models.DateTimeField(default=timezone.now)
    reverted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reverted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-applied_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(threshold__lte=100) & Q(previous_threshold__lte=100), name="jobs_tuning_threshold_range"
            ),
        ]

    def __str__(self) -> str:
        return f"Tuning of {self.profile_id} at {self.applied_at:%Y-%m-%d %H:%M} ({self.status})"
