"""Admin for applications: inspect with screenshots; approve, schedule, dry-run, cancel and reopen via services."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from applications import services
from applications.models import Application, ApplicationScreenshot, OutcomeEvent, OutcomeRun
from queue_app.errors import ApplicationError
from queue_app.models import TaskSource
from upwork_automation.console.display import money, short_title


def _screenshot_url(screenshot: ApplicationScreenshot) -> str:
    return reverse("admin:applications_application_screenshot", args=[screenshot.application_id, screenshot.id])


class ScreenshotInline(admin.TabularInline):
    model = ApplicationScreenshot
    extra = 0
    can_delete = False
    fields = ["thumbnail", "kind", "page_url", "taken_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Screenshot")
    def thumbnail(self, screenshot: ApplicationScreenshot) -> str:
        url = _screenshot_url(screenshot)
        return format_html(
            '<a href="{}" target="_blank"><img src="{}" alt="{}" style="max-width:240px;max-height:160px;'
            'border:1px solid #ccc"></a>',
            url,
            url,
            screenshot.get_kind_display(),
        )


class OutcomeEventInline(admin.TabularInline):
    """What became of the proposal, one row per event (recorded by outcome tracking; read-only)."""

    model = OutcomeEvent
    extra = 0
    can_delete = False
    fields = ["kind", "occurred_at", "source", "recorded_at", "detail"]
    readonly_fields = fields
    verbose_name = "outcome event"

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class CreateFromProposalForm(forms.Form):
    """The admin's "Add application": pick an approved proposal that has none yet; the service does the rest."""

    proposal = forms.ModelChoiceField(
        queryset=None,
        help_text="Approved proposals whose job has no application yet.",
        empty_label="Choose an approved proposal",
    )
    bid_amount = forms.DecimalField(
        required=False,
        max_digits=10,
        decimal_places=2,
        min_value=0.01,
        label="Bid (USD)",
        help_text="The hourly rate for hourly jobs, the total for fixed-price jobs. Empty: your profile's rate "
        "or the job's budget.",
    )

    def __init__(self, *args, **kwargs):
        from proposals.models import Proposal, ProposalStatus

        super().__init__(*args, **kwargs)
        self.fields["proposal"].queryset = (
            Proposal.objects.select_related("job")
            .filter(status=ProposalStatus.APPROVED, approved_version__isnull=False)
            .exclude(Exists(Application.objects.filter(job=OuterRef("job"))))
            .order_by("-reviewed_at")
        )
        self.fields["proposal"].label_from_instance = lambda p: f"#{p.id} {p.job.title}"


@admin.register(Application)
class ApplicationAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "job_title",
        "status",
        "bid",
        "connects_required",
        "connects_spent",
        "scheduled_for",
        "submitted_at",
        "confirmation_reference",
        "outcome",
        "screenshot_links",
    ]
    list_filter = ["status", "outcome", "approved_at", "submitted_at"]
    list_select_related = ["job", "proposal"]
    search_fields = ["job__title", "=job__upwork_id", "=confirmation_reference"]
    date_hierarchy = "created_at"
    inlines = [OutcomeEventInline, ScreenshotInline]

    class Media:
        css = {"all": ["console/console.css"]}

    actions = ["approve", "schedule_now", "dry_run", "cancel", "reopen", "batch_schedule"]
    readonly_fields = [
        "what_stopped_it",
        "job",
        "proposal",
        "proposal_version",
        "status",
        "status_changed_at",
        "cover_letter",
        "screening_answers",
        "attachment_ids",
        "connects_required",
        "connects_reserved",
        "connects_spent",
        "connects_refunded",
        "outcome",
        "outcome_changed_at",
        "outcome_checked_at",
        "boost_connects",
        "counts_toward_caps",
        "claimed_at",
        "gap_until",
        "scheduled_for",
        "approved_by",
        "approved_at",
        "submitted_at",
        "verified_at",
        "confirmation_reference",
        "last_dry_run_at",
        "attempts",
        "error",
        "browser_session",
        "created_at",
        "updated_at",
    ]
    fields = ["bid_amount", *readonly_fields]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("screenshots", "outcome_events")

    def add_view(self, request, form_url="", extra_context=None):
        """ "Add application" creates one from an approved proposal through application_create (audited)."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = CreateFromProposalForm(request.POST or None, initial={"proposal": request.GET.get("proposal")})
        if request.method == "POST" and form.is_valid():
            try:
                application = services.application_create(
                    proposal_id=form.cleaned_data["proposal"].id,
                    bid_amount=form.cleaned_data["bid_amount"],
                    **self._who(request),
                )
            except ApplicationError as error:
                form.add_error(None, error.message)
            else:
                self.message_user(
                    request,
                    f"Application #{application.id} created ({application.get_status_display().lower()}).",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:applications_application_change", args=[application.id]))
        context = {
            **self.admin_site.each_context(request),
            "title": "Create an application from an approved proposal",
            "form": form,
            "opts": self.model._meta,
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/applications/application/create_from_proposal.html", context)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the record of what was sent stays; cancel instead

    def has_change_permission(self, request, obj=None) -> bool:
        # Only the bid can be edited here, and only before approval; everything else goes through actions.
        return super().has_change_permission(request, obj) and (obj is None or obj.status == "awaiting_approval")

    def has_approve_permission(self, request) -> bool:
        """Approve: the operator role (its approve_application permission) or a superuser."""
        return request.user.has_perm("applications.approve_application")

    def get_urls(self):
        extra = [
            path(
                "<int:application_id>/screenshots/<int:screenshot_id>/",
                self.admin_site.admin_view(self.screenshot_view),
                name="applications_application_screenshot",
            )
        ]
        return extra + super().get_urls()

    def screenshot_view(self, request, application_id: int, screenshot_id: int):
        shot = ApplicationScreenshot.objects.filter(id=screenshot_id, application_id=application_id).first()
        if shot is None or not shot.image or not self.has_view_permission(request):
            raise Http404("No such screenshot.")
        return FileResponse(shot.image.open("rb"), content_type="image/png")

    @admin.display(description="What stopped it")
    def what_stopped_it(self, application: Application) -> str:
        """The last error on the application's own page, with the way out when the proposal is the cause."""
        if not application.error:
            return "-"
        proposal_url = reverse("admin:proposals_proposal_change", args=[application.proposal_id])
        way_out = ""
        if application.proposal.status == "approved" and application.status not in services.SENT:
            way_out = format_html(
                '<p><a class="button" href="{}">Open proposal #{} to reopen it for changes</a> '
                "(button “Reopen for changes”), fix the text or answers, approve it, then approve this "
                "application again.</p>",
                proposal_url,
                application.proposal_id,
            )
        elif application.status == "awaiting_approval":
            way_out = format_html(
                '<p><a href="{}">Proposal #{}</a> is {}: approve it, then approve this application.</p>',
                proposal_url,
                application.proposal_id,
                application.proposal.get_status_display().lower(),
            )
        return format_html(
            '<div style="border-left:4px solid #ba2121;padding:.3em .8em;white-space:pre-wrap">{}</div>{}',
            application.error,
            way_out,
        )

    @admin.display(description="Job", ordering="job__title")
    def job_title(self, application: Application) -> str:
        return short_title(application.job.title)

    @admin.display(description="Bid", ordering="bid_amount")
    def bid(self, application: Application) -> str:
        return money(application.bid_amount, per_hour=application.job.job_type == "hourly")

    @admin.display(description="Screenshots")
    def screenshot_links(self, application: Application) -> str:
        return format_html_join(
            " ",
            '<a href="{}" target="_blank" title="{}">{}</a>',
            ((_screenshot_url(s), s.get_kind_display(), s.kind) for s in application.screenshots.all()),
        )

    def _each(self, request, queryset, verb: str, call) -> None:
        done, refused = 0, []
        for application in queryset:
            try:
                call(application)
                done += 1
            except ApplicationError as error:
                refused.append(f"#{application.id}: {error.message}")
        if done:
            self.message_user(request, f"{done} application(s) {verb}.", messages.SUCCESS)
        for message in refused:
            self.message_user(request, message, messages.ERROR)

    def _who(self, request) -> dict:
        return {"user": request.user, "source": TaskSource.ADMIN, "remote_addr": request.META.get("REMOTE_ADDR")}

    @admin.action(description="Approve (send exactly this proposal version, bid and answers)", permissions=["approve"])
    def approve(self, request, queryset):
        self._each(
            request,
            queryset,
            "approved",
            lambda a: services.application_approve(application_id=a.id, **self._who(request)),
        )

    @admin.action(description="Schedule now (every safety gate is checked when it runs)", permissions=["change"])
    def schedule_now(self, request, queryset):
        self._each(
            request,
            queryset,
            "scheduled",
            lambda a: services.application_schedule(application_id=a.id, **self._who(request)),
        )

    @admin.action(description="Dry run (fill the form and screenshot it, never submit)", permissions=["change"])
    def dry_run(self, request, queryset):
        self._each(
            request,
            queryset,
            "queued for a dry run",
            lambda a: services.application_dry_run_request(
                application_id=a.id, user=request.user, source=TaskSource.ADMIN
            ),
        )

    @admin.action(description="Cancel", permissions=["change"])
    def cancel(self, request, queryset):
        self._each(
            request,
            queryset,
            "cancelled",
            lambda a: services.application_cancel(application_id=a.id, **self._who(request)),
        )

    @admin.action(description="Reopen (back to awaiting approval after a person checked)", permissions=["change"])
    def reopen(self, request, queryset):
        self._each(
            request,
            queryset,
            "reopened",
            lambda a: services.application_reopen(application_id=a.id, **self._who(request)),
        )

    @admin.action(
        description="Batch: schedule the selected approved ones within today's cap and gap", permissions=["change"]
    )
    def batch_schedule(self, request, queryset):
        try:
            task = services.applications_batch_request(
                application_ids=list(queryset.values_list("id", flat=True)), user=request.user, source=TaskSource.ADMIN
            )
        except ApplicationError as error:
            self.message_user(request, error.message, messages.ERROR)
            return
        self.message_user(request, f"Batch queued as task {task.id}.", messages.SUCCESS)


@admin.register(OutcomeRun)
class OutcomeRunAdmin(admin.ModelAdmin):
    """Outcome tracking runs: read-only; a stopped one names the wall that stopped it."""

    list_display = [
        "id",
        "status",
        "started_at",
        "finished_at",
        "applications_checked",
        "events_recorded",
        "connects_refunded",
        "stop_reason",
    ]
    list_filter = ["status", "stop_reason"]
    readonly_fields = [
        "status",
        "started_at",
        "finished_at",
        "task_id",
        "sources",
        "applications_checked",
        "events_recorded",
        "connects_refunded",
        "stop_reason",
        "error",
        "screenshot",
    ]
    fields = readonly_fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
