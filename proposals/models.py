"""Freelancer profiles, portfolio attachments, and proposals with their versions and chosen attachments."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from proposals.uploads import AttachmentFileValidator, attachment_upload_to
from upwork_automation.weblinks import validate_http_url


class FreelancerProfile(models.Model):
    """Who writes the proposals: what the drafter may claim, and how it should sound."""

    name = models.CharField(max_length=200, help_text="Your name, used to sign proposals.")
    title = models.CharField(max_length=200, blank=True, help_text="e.g. 'Senior Django developer'.")
    skills = models.JSONField(default=list, blank=True, help_text="Skills you really have.")
    hourly_rate = models.DecimalField(
        max_digits=8, decimal_places=2, null=True, blank=True, help_text="Your hourly rate in USD."
    )
    bio = models.TextField(blank=True, help_text="A few sentences about you; the drafter may only claim what is here.")
    achievements = models.JSONField(
        default=list, blank=True, help_text="Concrete results, one per item (e.g. 'Cut page load from 4 s to 0.8 s')."
    )
    sample_letter = models.TextField(blank=True, help_text="A proposal you liked; the drafter copies its voice.")
    writing_rules = models.TextField(blank=True, help_text="Your own rules, e.g. 'no bullet lists', 'mention NDA'.")
    tone = models.CharField(max_length=100, default="friendly and professional", help_text="How proposals sound.")
    is_default = models.BooleanField(default=False, help_text="The profile used when a task names none.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=Q(is_default=True), name="proposals_profile_one_default"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.title})" if self.title else self.name


class Attachment(models.Model):
    """A portfolio piece that can go with a proposal."""

    file = models.FileField(
        upload_to=attachment_upload_to,
        max_length=200,
        validators=[AttachmentFileValidator()],
        help_text="PDF, PNG, JPEG, GIF, WebP, DOCX, XLSX or PPTX (checked by content), at most ATTACHMENT_MAX_BYTES; "
        "stored under MEDIA_ROOT in a random folder.",
    )
    title = models.CharField(max_length=200)
    skills = models.JSONField(default=list, blank=True, help_text="Skills or tags this piece shows.")
    description = models.TextField(blank=True, help_text="What the piece is; matched against the job's words.")
    active = models.BooleanField(default=True, help_text="Inactive pieces are never chosen automatically.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title


class ProposalStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    IN_REVIEW = "in_review", "In review"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class Proposal(models.Model):
    """The proposal for one job; its text lives in numbered versions, the newest being current."""

    job = models.ForeignKey("jobs.Job", on_delete=models.CASCADE, related_name="proposals")
    profile = models.ForeignKey(
        FreelancerProfile, null=True, blank=True, on_delete=models.SET_NULL, related_name="proposals"
    )
    status = models.CharField(max_length=20, choices=ProposalStatus.choices, default=ProposalStatus.DRAFT)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    current_version = models.PositiveIntegerField(default=0, help_text="Number of the newest version.")
    approved_version = models.ForeignKey(
        "ProposalVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The version a reviewer approved; it is exported and sent.",
    )
    screening_questions = models.JSONField(
        default=list, blank=True, help_text="Questions the job's application form asks; the draft answers them."
    )
    reviewer_feedback = models.TextField(blank=True, help_text="The reviewer's latest notes (rejection or redo).")
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    attachments = models.ManyToManyField(
        "Attachment", through="ProposalAttachment", related_name="proposals", blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        # Approving or rejecting is a decision, not an edit: the admin's actions need this, not change_proposal.
        permissions = [("approve_proposal", "Can approve or reject proposals")]
        constraints = [
            models.UniqueConstraint(fields=["job"], name="proposals_proposal_one_per_job"),
            models.CheckConstraint(
                condition=~Q(status="approved") | Q(approved_version__isnull=False),
                name="proposals_proposal_approved_has_version",
            ),
        ]
        indexes = [
            # The review queue: "proposals in a status, newest first".
            models.Index(fields=["status", "-updated_at"], name="proposals_status_updated_idx"),
        ]

    def __str__(self) -> str:
        return f"Proposal #{self.pk} for job {self.job_id} ({self.status})"


class VersionSource(models.TextChoices):
    OPENAI = "openai", "OpenAI"
    TEMPLATE = "template", "Template drafter"
    EDIT = "edit", "Edited by a person"


class ProposalVersion(models.Model):
    """One text of a proposal: generated, regenerated with feedback, or edited by hand. Never changed."""

    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    text = models.TextField()
    source = models.CharField(max_length=20, choices=VersionSource.choices)
    model = models.CharField(max_length=100, blank=True, help_text="The OpenAI model that wrote it, if any.")
    prompt_version = models.CharField(
        max_length=40, blank=True, help_text="Which prompt or template wrote it (drafting.PROMPT_VERSION); analytics."
    )
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    estimated_cost = models.DecimalField(
        max_digits=10, decimal_places=6, default=0, help_text="USD, from the token counts and the configured prices."
    )
    feedback = models.TextField(blank=True, help_text="Reviewer feedback this version was regenerated with.")
    trimmed_from_words = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="The generated text went over PROPOSAL_WORD_LIMIT and was cut from this many words "
        "(at the last sentence that fits): read its end before approving. Empty when it fitted.",
    )
    task_id = models.UUIDField(null=True, blank=True, help_text="The task that produced it (retries reuse it).")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    google_doc_id = models.CharField(max_length=200, blank=True)
    google_doc_url = models.URLField(max_length=500, blank=True, validators=[validate_http_url])
    exported_at = models.DateTimeField(null=True, blank=True, help_text="When the Google Doc was filed and shared.")

    class Meta:
        ordering = ["proposal", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["proposal", "number"], name="proposals_version_number_unique"),
            models.UniqueConstraint(
                fields=["task_id"], condition=Q(task_id__isnull=False), name="proposals_version_task_unique"
            ),
            models.CheckConstraint(condition=Q(number__gte=1), name="proposals_version_number_positive"),
            models.CheckConstraint(condition=Q(estimated_cost__gte=0), name="proposals_version_cost_nonnegative"),
        ]
        indexes = [
            # The daily cost cap: "sum of today's estimated costs".
            models.Index(fields=["created_at"], name="proposals_version_cost_idx", condition=Q(estimated_cost__gt=0)),
        ]

    def __str__(self) -> str:
        return f"v{self.number} of proposal {self.proposal_id}"

    @property
    def word_count(self) -> int:
        return len(self.text.split())


class OpenAICostReservation(models.Model):
    """Money set aside for one OpenAI call in flight, so concurrent calls see it in the daily cost cap.

    Written by proposals.services.cost_reserve; deleted in the same transaction that writes the version
    carrying the real cost, or when the call fails.
    """

    amount = models.DecimalField(max_digits=10, decimal_places=6, help_text="Estimated USD for the call.")
    task_id = models.UUIDField(null=True, blank=True, help_text="The task making the call, if any.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="proposals_reservation_amount_nonnegative"),
        ]
        indexes = [
            # The daily cost cap: "sum of the reservations made since <cutoff>".
            models.Index(fields=["created_at"], name="proposals_reservation_time_idx"),
        ]

    def __str__(self) -> str:
        return f"${self.amount} reserved at {self.created_at:%Y-%m-%d %H:%M:%S}"


class ChosenBy(models.TextChoices):
    AUTO = "auto", "Matched automatically"
    USER = "user", "Chosen by a person"


class ProposalAttachment(models.Model):
    """An attachment chosen for a proposal, with why."""

    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="chosen_attachments")
    attachment = models.ForeignKey(Attachment, on_delete=models.CASCADE, related_name="+")
    reason = models.TextField(help_text="Why this piece fits the job.")
    score = models.FloatField(default=0)
    chosen_by = models.CharField(max_length=10, choices=ChosenBy.choices, default=ChosenBy.AUTO)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["proposal", "position"]
        constraints = [
            models.UniqueConstraint(fields=["proposal", "attachment"], name="proposals_attachment_once"),
        ]

    def __str__(self) -> str:
        return f"{self.attachment} for proposal {self.proposal_id}"
