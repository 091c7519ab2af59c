"""Admin for jobs, search profiles, browser sessions and the API connection: display, and actions via services."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST

from core.actor import Actor
from core.auditing import AuditedModelAdminMixin
from core.errors import ApplicationError
from core.parsers import JSONInputLimitsAdminMixin
from jobs import services
from jobs.models import WATCH_STATE_FIELDS, BrowserSession, Job, SearchProfile, Strategy, UpworkOAuthToken
from jobs.scoring import SCORE_PARTS
from queue_app.services import task_enqueue
from upwork_automation.console.display import ReadOnlyChangePageMixin, job_rate, money, short_title
from upwork_automation.console.forms import ListFieldsAdminMixin

# Money columns shown formatted ("$140,000") instead of the raw field ("140000.00").
MONEY_FIELDS = ("budget", "hourly_min", "hourly_max", "client_total_spent")


class ScoreBandFilter(admin.SimpleListFilter):
    title = "score"
    parameter_name = "score_band"
    BANDS = {"80+": (80, 101), "60-79": (60, 80), "40-59": (40, 60), "<40": (0, 40)}

    def lookups(self, request, model_admin):
        return [(band, band) for band in self.BANDS] + [("none", "not scored")]

    def queryset(self, request, queryset):
        if self.value() == "none":
            return queryset.filter(score__isnull=True)
        if self.value() in self.BANDS:
            low, high = self.BANDS[self.value()]
            return queryset.filter(score__gte=low, score__lt=high)
        return queryset


class BudgetFilter(admin.SimpleListFilter):
    title = "budget"
    parameter_name = "budget_band"

    def lookups(self, request, model_admin):
        return [
            ("fixed_lt_500", "Fixed under $500"),
            ("fixed_500_plus", "Fixed $500+"),
            ("hourly_lt_40", "Hourly up to under $40/h"),
            ("hourly_40_plus", "Hourly $40+/h"),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "fixed_lt_500":
            return queryset.filter(job_type="fixed", budget__lt=500)
        if value == "fixed_500_plus":
            return queryset.filter(job_type="fixed", budget__gte=500)
        if value == "hourly_lt_40":
            return queryset.filter(job_type="hourly", hourly_max__lt=40)
        if value == "hourly_40_plus":
            return queryset.filter(job_type="hourly", hourly_max__gte=40)
        return queryset


def _run_each(modeladmin, request, queryset, service, verb: str) -> None:
    done, failed = 0, []
    for obj in queryset:
        try:
            service(job_id=obj.id)
            done += 1
        except ApplicationError as error:
            failed.append(f"{obj.id}: {error.message}")
    if done:
        modeladmin.message_user(request, f"{verb} {done} job(s).", messages.SUCCESS)
    if failed:
        modeladmin.message_user(request, "Not changed: " + "; ".join(failed[:10]), messages.WARNING)


@admin.register(Job)
class JobAdmin(ReadOnlyChangePageMixin, admin.ModelAdmin):
    change_form_template = "admin/jobs/job/change_form.html"
    # Fits a 1280 px screen beside the nav and filter sidebars: the title is cut (whole in its tooltip);
    # type shows in the rate ("/h"), the hard-filter verdict and the client in the filters and the page.
    list_display = ["short_title_column", "score", "status", "rate", "country", "posted"]
    list_display_links = ["short_title_column"]
    list_filter = ["status", ScoreBandFilter, BudgetFilter, "passed_filters", "job_type", "source", "profile"]
    search_fields = ["title", "=upwork_id", "client_country"]
    list_select_related = ["profile"]
    ordering = ["-score", "-posted_at"]
    actions = ["generate_proposal", "shortlist", "reject", "archive"]
    exclude = ["score_breakdown", "filter_reasons", "screening_questions", *MONEY_FIELDS]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # jobs are archived, not deleted: proposals and applications point at them

    def get_readonly_fields(self, request, obj=None):
        """Jobs come from Upwork: shown, not edited; status changes go through the actions."""
        shown = []
        for field in Job._meta.fields:
            if field.name in MONEY_FIELDS:
                shown.append(f"{field.name}_money")
            elif field.name not in self.exclude:
                shown.append(field.name)
        return ["score_explanation", "filter_verdict", "screening_question_list", *shown]

    @admin.display(description="Screening questions")
    def screening_question_list(self, job: Job):
        if not job.screening_questions:
            return "None found on the job's page."
        return format_html("<ol>{}</ol>", format_html_join("", "<li>{}</li>", ((q,) for q in job.screening_questions)))

    def get_urls(self):
        extra = [
            path(
                "<int:job_id>/generate-proposal/",
                self.admin_site.admin_view(require_POST(self.generate_proposal_view)),
                name="jobs_job_generate_proposal",
            )
        ]
        return extra + super().get_urls()

    def has_generate_permission(self, request) -> bool:
        return request.user.has_perm("proposals.add_proposal")

    def generate_proposal_view(self, request, job_id: int):
        """The change page's "Generate proposal" button (POST, CSRF-checked)."""
        job = get_object_or_404(Job, id=job_id)
        if not self.has_generate_permission(request):
            raise PermissionDenied("Generating a proposal needs the proposals.add_proposal permission.")
        self._generate(request, job)
        return HttpResponseRedirect(reverse("admin:jobs_job_change", args=[job.id]))

    def _generate(self, request, job: Job) -> bool:
        from proposals.services import proposal_generate_request

        try:
            task = proposal_generate_request(job_id=job.id, actor=Actor.admin(request))
        except ApplicationError as error:
            self.message_user(request, error.message, messages.WARNING)
            return False
        message = f"Drafting a proposal for “{job.title}” (task {task.id}); review it in the inbox."
        self.message_user(request, message, messages.SUCCESS)
        return True

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["can_generate"] = self.has_generate_permission(request)
            context["proposal"] = obj.proposals.filter(current_version__gt=0).first()
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    class Media:
        css = {"all": ["console/console.css"]}

    def changelist_view(self, request, extra_context=None):
        # The list needs the width the nav sidebar takes, beside the filters (the queue dashboard does the same).
        return super().changelist_view(request, {"is_nav_sidebar_enabled": False, **(extra_context or {})})

    @admin.display(description="Title", ordering="title")
    def short_title_column(self, job: Job):
        return short_title(job.title)

    @admin.display(description="Country", ordering="client_country")
    def country(self, job: Job) -> str:
        return job.client_country or "-"

    @admin.display(description="Posted", ordering="posted_at")
    def posted(self, job: Job) -> str:
        return timezone.localtime(job.posted_at).strftime("%d %b %H:%M") if job.posted_at else "-"

    @admin.display(description="Rate / budget")
    def rate(self, job: Job) -> str:
        return job_rate(job)

    @admin.display(description="Budget")
    def budget_money(self, job: Job) -> str:
        return money(job.budget)

    @admin.display(description="Hourly min")
    def hourly_min_money(self, job: Job) -> str:
        return money(job.hourly_min, per_hour=True)

    @admin.display(description="Hourly max")
    def hourly_max_money(self, job: Job) -> str:
        return money(job.hourly_max, per_hour=True)

    @admin.display(description="Client total spent")
    def client_total_spent_money(self, job: Job) -> str:
        return money(job.client_total_spent)

    @admin.display(description="Why this score")
    def score_explanation(self, job: Job):
        breakdown = job.score_breakdown or {}
        rows = [
            (name, breakdown[name]["points"], breakdown[name]["weight"], breakdown[name]["reason"])
            for name in SCORE_PARTS
            if name in breakdown
        ]
        if not rows:
            return "Not scored yet."
        body = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows)
        return format_html(
            "<table><thead><tr><th>Part</th><th>Points</th><th>Weight</th><th>Reason</th></tr></thead>"
            "<tbody>{}</tbody></table><p>Total: <b>{}</b> / 100</p>",
            body,
            job.score,
        )

    @admin.display(description="Hard filters")
    def filter_verdict(self, job: Job):
        if job.passed_filters:
            return "Passed every hard filter."
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((r,) for r in job.filter_reasons)))

    @admin.action(description="Generate proposal for the selected jobs", permissions=["generate"])
    def generate_proposal(self, request, queryset):
        for job in queryset:
            self._generate(request, job)

    @admin.action(description="Shortlist selected jobs", permissions=["change"])
    def shortlist(self, request, queryset):
        _run_each(self, request, queryset, services.job_shortlist, "Shortlisted")

    @admin.action(description="Reject selected jobs", permissions=["change"])
    def reject(self, request, queryset):
        _run_each(self, request, queryset, services.job_reject, "Rejected")

    @admin.action(description="Archive selected jobs", permissions=["change"])
    def archive(self, request, queryset):
        _run_each(self, request, queryset, services.job_archive, "Archived")


@admin.register(SearchProfile)
class SearchProfileAdmin(JSONInputLimitsAdminMixin, AuditedModelAdminMixin, ListFieldsAdminMixin, admin.ModelAdmin):
    comma_list_fields = ("keywords", "skills", "categories", "strategies", "excluded_words", "excluded_countries")
    line_list_fields = ("saved_searches",)
    list_field_choices = {"strategies": list(Strategy.values)}
    list_display = ["name", "enabled", "source", "strategies", "handoff_top_n", "watch", "poll_seconds", "last_run_at"]
    list_filter = ["enabled", "source", "watch"]
    search_fields = ["name"]
    readonly_fields = [
        *WATCH_STATE_FIELDS,
        "last_run_at",
        "created_at",
        "updated_at",
    ]
    actions = ["run_discovery", "rescore"]

    @admin.action(description="Run discovery now (enqueue job_discovery)", permissions=["change"])
    def run_discovery(self, request, queryset):
        for profile in queryset:
            task_enqueue(task_type="job_discovery", payload={"profile_id": profile.id}, actor=Actor.admin(request))
        self.message_user(request, f"Enqueued discovery for {queryset.count()} profile(s).", messages.SUCCESS)

    @admin.action(description="Re-apply filters and scores (enqueue job_filtering)", permissions=["change"])
    def rescore(self, request, queryset):
        for profile in queryset:
            task_enqueue(task_type="job_filtering", payload={"profile_id": profile.id}, actor=Actor.admin(request))
        self.message_user(request, f"Enqueued re-scoring for {queryset.count()} profile(s).", messages.SUCCESS)


@admin.register(BrowserSession)
class BrowserSessionAdmin(ReadOnlyChangePageMixin, admin.ModelAdmin):
    """Sessions are imported with `manage.py jobs import-session` or the API; cookies are never shown."""

    list_display = ["name", "status", "attention_reason", "expires_at", "last_used_at", "imported_at"]
    list_filter = ["status"]
    search_fields = ["name"]
    fields = [
        "name",
        "status",
        "cookie_domains",
        "attention_reason",
        "attention_url",
        "attention_at",
        "expires_at",
        "imported_at",
        "last_used_at",
    ]
    readonly_fields = fields
    actions = ["reactivate", "revoke"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Mark active again (after you fixed it in a real browser)", permissions=["change"])
    def reactivate(self, request, queryset):
        for session in queryset:
            try:
                services.browser_session_reactivate(session_id=session.id, actor=Actor.admin(request))
            except ApplicationError as error:
                self.message_user(request, f"{session.name}: {error.message}", messages.WARNING)

    @admin.action(description="Revoke (forget the cookies)", permissions=["change"])
    def revoke(self, request, queryset):
        for session in queryset:
            services.browser_session_revoke(session_id=session.id, actor=Actor.admin(request))


@admin.register(UpworkOAuthToken)
class UpworkOAuthTokenAdmin(ReadOnlyChangePageMixin, admin.ModelAdmin):
    """The API connection: tokens are encrypted and never displayed."""

    list_display = ["account", "status", "expires_at", "refreshed_at"]
    fields = ["account", "status", "token_type", "scope", "expires_at", "refreshed_at", "last_error", "updated_at"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def delete_model(self, request, obj):
        """Deleting is disconnecting: through the service, audited."""
        services.oauth_disconnect(account=obj.account, actor=Actor.admin(request))

    def delete_queryset(self, request, queryset):
        for token in queryset:
            self.delete_model(request, token)
