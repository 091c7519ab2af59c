"""Admin for proposals (review beside the job: edit as a new version, approve, reject), profiles and attachments."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets
from django.http import HttpResponseRedirect
from django.utils.html import format_html, format_html_join

from applications.content import split_letter_and_answers
from core.actor import Actor
from core.auditing import AuditedModelAdminMixin
from core.errors import ApplicationError
from proposals import selectors, services
from proposals.models import Attachment, FreelancerProfile, Proposal, ProposalAttachment, ProposalVersion
from upwork_automation.console.display import money, short_title
from upwork_automation.console.forms import ListField, ListFieldsAdminMixin
from upwork_automation.weblinks import is_http_url


class FreelancerProfileForm(forms.ModelForm):
    skills = ListField(required=False, help_text="Skills you really have.")
    achievements = ListField(
        separator="\n",
        required=False,
        help_text="Concrete results (e.g. 'Cut page load from 4 s to 0.8 s').",
    )

    class Meta:
        model = FreelancerProfile
        fields = [
            "name",
            "title",
            "skills",
            "hourly_rate",
            "bio",
            "achievements",
            "sample_letter",
            "writing_rules",
            "tone",
            "is_default",
        ]

    def clean_is_default(self):
        value = self.cleaned_data["is_default"]
        other = FreelancerProfile.objects.filter(is_default=True).exclude(pk=self.instance.pk).first()
        if value and other is not None:
            raise forms.ValidationError(f"'{other.name}' is the default profile; unset it first.")
        return value


@admin.register(FreelancerProfile)
class FreelancerProfileAdmin(AuditedModelAdminMixin, admin.ModelAdmin):
    form = FreelancerProfileForm
    list_display = ["name", "title", "rate", "is_default", "updated_at"]
    search_fields = ["name", "title"]

    @admin.display(description="Hourly rate", ordering="hourly_rate")
    def rate(self, profile: FreelancerProfile) -> str:
        return money(profile.hourly_rate, per_hour=True)


class AttachmentFilesAdmin(admin.ModelAdmin):
    """Writes of attachments through their services, so a replaced or deleted file leaves the disk too."""

    def save_model(self, request, obj, form, change):
        old_name = form.initial.get("file").name if change and form.initial.get("file") else ""
        super().save_model(request, obj, form, change)
        services.attachment_file_replaced(attachment=obj, old_name=old_name)

    def delete_model(self, request, obj):
        services.attachment_delete(attachments=[obj])


@admin.register(Attachment)
class AttachmentAdmin(AuditedModelAdminMixin, ListFieldsAdminMixin, AttachmentFilesAdmin):
    comma_list_fields = ("skills",)
    list_display = ["title", "skills", "active", "file", "created_at"]
    list_filter = ["active"]
    search_fields = ["title", "description"]


class ProposalReviewForm(forms.ModelForm):
    """The current text is edited in place; saving a changed text writes a new version (the old one stays)."""

    text = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 22, "style": "width: 95%"}),
        required=False,
        help_text="Saving a changed text adds a new version and puts the proposal in review.",
    )
    chosen = forms.ModelMultipleChoiceField(
        queryset=Attachment.objects.all(),
        required=False,
        label="Attachments",
        widget=forms.CheckboxSelectMultiple,
        help_text="Changing the choice overrides the automatic one (recorded as chosen by you).",
    )

    class Meta:
        model = Proposal
        fields = ["reviewer_feedback"]

    questions = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "style": "width: 95%"}),
        required=False,
        label="Screening questions",
        help_text="One per line. Changing them regenerates the proposal (a new version) that answers them.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            current = selectors.proposal_current_version(self.instance)
            self.fields["text"].initial = current.text if current else ""
            self.fields["chosen"].initial = list(
                self.instance.chosen_attachments.values_list("attachment_id", flat=True)
            )
            questions = list(self.instance.screening_questions or [])
            self.fields["questions"].initial = "\n".join(questions)
            _, answers = split_letter_and_answers(current.text if current else "", questions)
            for index, item in enumerate(answers):
                self.fields[f"answer_{index}"] = forms.CharField(
                    widget=forms.Textarea(attrs={"rows": 3, "style": "width: 95%"}),
                    required=False,
                    label=f"Answer: {item['question']}",
                    initial=item["answer"],
                    help_text="Saving a changed answer adds a new version with it.",
                )

    def answer_fields(self) -> list[str]:
        return [name for name in self.fields if name.startswith("answer_")]

    def changed_answers(self) -> list[dict]:
        questions = list(self.instance.screening_questions or [])
        return [
            {"question": questions[int(name.removeprefix("answer_"))], "answer": self.cleaned_data[name]}
            for name in self.answer_fields()
            if name in self.changed_data
        ]

    def new_questions(self) -> list[str] | None:
        """The questions typed, when they differ from the proposal's (None when unchanged)."""
        if "questions" not in self.changed_data:
            return None
        typed = [" ".join(line.split()) for line in self.cleaned_data["questions"].splitlines()]
        typed = [q for q in typed if q]
        return typed if typed != list(self.instance.screening_questions or []) else None


class VersionInline(admin.TabularInline):
    model = ProposalVersion
    extra = 0
    can_delete = False
    fields = [
        "number",
        "source",
        "model",
        "prompt_tokens",
        "completion_tokens",
        "estimated_cost",
        "trimmed_from_words",
        "created_at",
        "doc",
    ]
    readonly_fields = fields
    ordering = ["-number"]
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="Google Doc")
    def doc(self, version):
        if not is_http_url(version.google_doc_url):
            return version.google_doc_url or "-"  # shown as text, never a link to a non-http(s) scheme
        return format_html('<a href="{}" rel="noopener noreferrer">open</a>', version.google_doc_url)


@admin.register(Proposal)
class ProposalAdmin(admin.ModelAdmin):
    form = ProposalReviewForm
    change_form_template = "admin/proposals/proposal/change_form.html"
    list_display = ["id", "job_title", "job_score", "status", "current_version", "profile", "updated_at"]
    list_filter = ["status", "profile"]
    search_fields = ["job__title", "=job__upwork_id"]
    list_select_related = ["job", "profile"]
    ordering = ["-updated_at"]
    actions = ["approve", "reject", "submit", "reopen", "create_application"]
    readonly_fields = [
        "job_panel",
        "status",
        "current_version",
        "trim_notice",
        "approved_version",
        "reviewed_by",
        "reviewed_at",
    ]
    fieldsets = [
        ("The job", {"fields": ["job_panel"], "classes": ["proposal-job"]}),
        (
            "The proposal",
            {
                "fields": ["status", "current_version", "trim_notice", "text", "chosen", "reviewer_feedback"],
                "classes": ["proposal-text"],
            },
        ),
        ("Review", {"fields": ["approved_version", "reviewed_by", "reviewed_at"]}),
    ]
    inlines = [VersionInline]

    class Media:
        css = {"all": ["console/console.css"]}  # the review page at phone width, short titles in the list

    def has_add_permission(self, request):
        return False  # proposals are drafted by generate_proposal

    def get_form(self, request, obj=None, change=False, **kwargs):
        # The answer_N fields are added per proposal by the form itself; the model form knows none of them.
        fields = kwargs.get("fields", flatten_fieldsets(self.get_fieldsets(request, obj)))
        if fields is not None:
            kwargs["fields"] = [name for name in fields if not name.startswith("answer_")]
        return super().get_form(request, obj, change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        """The fixed sections, plus one field per screening answer (the questions differ per proposal)."""
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is not None:
            answers = [f"answer_{index}" for index in range(len(obj.screening_questions or []))]
            fieldsets.insert(2, ("Screening questions and answers", {"fields": ["questions", *answers]}))
        return fieldsets

    @admin.display(description="job", ordering="job__title")
    def job_title(self, proposal):
        return short_title(proposal.job.title)

    @admin.display(description="score", ordering="job__score")
    def job_score(self, proposal):
        return proposal.job.score

    @admin.display(description="Word limit")
    def trim_notice(self, proposal):
        current = selectors.proposal_current_version(proposal)
        if current is None or current.trimmed_from_words is None:
            return "-"
        return format_html(
            "<strong>Trimmed:</strong> the generated text had {} words and was cut to {} to fit "
            "PROPOSAL_WORD_LIMIT. Read its end before approving.",
            current.trimmed_from_words,
            current.word_count,
        )

    @admin.display(description="Job")
    def job_panel(self, proposal):
        job = proposal.job
        if job.job_type == "hourly":
            budget = f"Hourly ${job.hourly_min or '?'}-{job.hourly_max or '?'}"
        elif job.job_type == "fixed":
            budget = f"Fixed ${job.budget or '?'}"
        else:
            budget = "Budget not stated"
        facts = [
            ("Budget", budget),
            ("Skills", ", ".join(job.skills or []) or "-"),
            ("Score", job.score if job.score is not None else "-"),
            (
                "Client",
                f"{job.client_country or '?'}, spent ${job.client_total_spent or 0}, rating {job.client_rating}",
            ),
            ("Status", job.get_status_display()),
        ]
        questions = proposal.screening_questions or []
        heading = (
            format_html('<a href="{}" target="_blank" rel="noopener noreferrer">{}</a>', job.url, job.title)
            if is_http_url(job.url)
            else job.title  # a stored link with another scheme (javascript:, data:) is not made clickable
        )
        return format_html(
            "<div class=\"job-beside\"><h3>{}</h3><dl>{}</dl><div style='white-space: pre-wrap'>{}</div>{}</div>",
            heading,
            format_html_join("", "<dt>{}</dt><dd>{}</dd>", facts),
            job.description,
            format_html(
                "<h4>Screening questions</h4><ol>{}</ol>",
                format_html_join("", "<li>{}</li>", ((q,) for q in questions)),
            )
            if questions
            else "",
        )

    def save_model(self, request, obj, form, change):
        """Edits go through the services: a changed text is a new version, a changed choice an override."""
        try:
            if "reviewer_feedback" in form.changed_data:
                services.proposal_feedback_set(
                    proposal_id=obj.id,
                    feedback=obj.reviewer_feedback,
                    actor=Actor.admin(request),
                )
            if "text" in form.changed_data and form.cleaned_data["text"].strip():
                version = services.proposal_edit(
                    proposal_id=obj.id, text=form.cleaned_data["text"], actor=Actor.admin(request)
                )
                self.message_user(request, f"Saved as version {version.number}.", messages.SUCCESS)
            answers = form.changed_answers()
            if answers:
                version = services.proposal_answers_set(proposal_id=obj.id, answers=answers, actor=Actor.admin(request))
                self.message_user(request, f"Answers saved as version {version.number}.", messages.SUCCESS)
            questions = form.new_questions()
            if questions is not None:
                task = services.proposal_regenerate_request(
                    proposal_id=obj.id,
                    screening_questions=questions,
                    feedback=obj.reviewer_feedback,
                    actor=Actor.admin(request),
                )
                self.message_user(
                    request,
                    f"Regenerating with {len(questions)} screening question(s) as task {task.id}: "
                    "the new version appears here when it is done.",
                    messages.SUCCESS,
                )
            if "chosen" in form.changed_data:
                services.proposal_attachments_set(
                    proposal_id=obj.id,
                    attachment_ids=[a.id for a in form.cleaned_data["chosen"]],
                    actor=Actor.admin(request),
                )
        except ApplicationError as error:
            self.message_user(request, error.message, messages.ERROR)

    def response_change(self, request, obj):
        """The change form's "Save and approve" / "Save and reject" buttons."""
        if "_reopen" in request.POST:
            try:
                proposal = services.proposal_reopen(
                    proposal_id=obj.id,
                    reason=request.POST.get("reviewer_feedback", "").strip(),
                    actor=Actor.admin(request),
                )
                self.message_user(
                    request,
                    f"Proposal #{obj.id} reopened as version {proposal.current_version}: edit the text or the "
                    "answers, approve it, then approve its application again.",
                    messages.SUCCESS,
                )
            except ApplicationError as error:
                self.message_user(request, error.message, messages.ERROR)
            return HttpResponseRedirect(request.path)
        for button, call in (("_approve", services.proposal_approve), ("_reject", services.proposal_reject)):
            if button not in request.POST:
                continue
            if not self.has_approve_permission(request):
                self.message_user(
                    request, "Approving and rejecting need the approve_proposal permission.", messages.ERROR
                )
                continue
            obj.refresh_from_db()
            options = {"feedback": obj.reviewer_feedback} if button == "_reject" else {}
            try:
                call(
                    proposal_id=obj.id,
                    actor=Actor.admin(request),
                    **options,
                )
                self.message_user(request, f"Proposal #{obj.id} {obj.status} -> {button[1:]}d.", messages.SUCCESS)
            except ApplicationError as error:
                self.message_user(request, error.message, messages.ERROR)
        return super().response_change(request, obj)

    def _each(self, request, queryset, verb: str, call) -> None:
        done, failed = 0, []
        for proposal in queryset:
            try:
                call(proposal)
                done += 1
            except ApplicationError as error:
                failed.append(f"#{proposal.id}: {error.message}")
        if done:
            self.message_user(request, f"{verb} {done} proposal(s).", messages.SUCCESS)
        if failed:
            self.message_user(request, "Not changed: " + "; ".join(failed[:10]), messages.WARNING)

    def has_approve_permission(self, request) -> bool:
        """Approve and reject: the operator role (its approve_proposal permission) or a superuser."""
        return request.user.has_perm("proposals.approve_proposal")

    @admin.action(description="Approve the current version", permissions=["approve"])
    def approve(self, request, queryset):
        self._each(
            request,
            queryset,
            "Approved",
            lambda p: services.proposal_approve(
                proposal_id=p.id,
                actor=Actor.admin(request),
            ),
        )

    @admin.action(description="Reject (with the feedback written on each proposal)", permissions=["approve"])
    def reject(self, request, queryset):
        self._each(
            request,
            queryset,
            "Rejected",
            lambda p: services.proposal_reject(
                proposal_id=p.id,
                feedback=p.reviewer_feedback,
                actor=Actor.admin(request),
            ),
        )

    def has_create_application_permission(self, request) -> bool:
        return request.user.has_perm("applications.add_application")

    @admin.action(description="Create an application from each approved proposal", permissions=["create_application"])
    def create_application(self, request, queryset):
        from applications.services import application_create

        self._each(
            request,
            queryset,
            "Created an application for",
            lambda p: application_create(
                proposal_id=p.id,
                actor=Actor.admin(request),
            ),
        )

    @admin.action(description="Reopen for changes (approved, no application sent yet)", permissions=["change"])
    def reopen(self, request, queryset):
        self._each(
            request,
            queryset,
            "Reopened",
            lambda p: services.proposal_reopen(
                proposal_id=p.id,
                actor=Actor.admin(request),
            ),
        )

    @admin.action(description="Submit drafts for review", permissions=["change"])
    def submit(self, request, queryset):
        self._each(
            request,
            queryset,
            "Submitted",
            lambda p: services.proposal_submit(proposal_id=p.id, actor=Actor.admin(request)),
        )


@admin.register(ProposalVersion)
class ProposalVersionAdmin(admin.ModelAdmin):
    list_display = ["proposal", "number", "source", "model", "cost", "created_at"]
    list_filter = ["source"]
    list_select_related = ["proposal"]
    readonly_fields = [f.name for f in ProposalVersion._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # the record of what was drafted, reviewed and sent stays

    @admin.display(description="Estimated cost", ordering="estimated_cost")
    def cost(self, version: ProposalVersion) -> str:
        return f"${version.estimated_cost:,.4f}" if version.estimated_cost is not None else "-"


@admin.register(ProposalAttachment)
class ProposalAttachmentAdmin(admin.ModelAdmin):
    list_display = ["proposal", "attachment", "chosen_by", "score", "reason"]
    list_filter = ["chosen_by"]
    list_select_related = ["proposal", "attachment"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
