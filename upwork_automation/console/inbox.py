"""The review inbox: one admin page of what needs a person, each item with its one-click actions.

Reads are the selectors below; every action is a POST (CSRF-checked by Django) that needs the model
permission named in ACTIONS and calls the service that does and audits the change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, F, OuterRef, QuerySet, Value
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from applications.models import Application, ApplicationStatus
from core.actor import Actor
from core.errors import ApplicationError, ValidationFailed
from jobs.models import BrowserSession, BrowserSessionStatus, Job, JobStatus
from proposals import selectors as proposal_selectors
from proposals.models import Proposal, ProposalStatus
from upwork_automation.console.display import job_rate, money

# A job without a search profile is "above threshold" from this score (the profile field's default).
DEFAULT_THRESHOLD = 60
SECTION_LIMIT = 50


# --- reads -----------------------------------------------------------------------
def jobs_above_threshold() -> QuerySet[Job]:
    """New or shortlisted jobs that passed the filters, score at least their profile's hand-off score, no draft yet."""
    drafted = Proposal.objects.filter(job=OuterRef("pk"), current_version__gt=0)
    return (
        Job.objects.select_related("profile")
        .filter(status__in=[JobStatus.NEW, JobStatus.SHORTLISTED], passed_filters=True, score__isnull=False)
        .annotate(threshold=Coalesce("profile__handoff_min_score", Value(DEFAULT_THRESHOLD)))
        .filter(score__gte=F("threshold"))
        .exclude(Exists(drafted))
        .order_by("-score", "-posted_at")
    )


def drafts_to_review() -> QuerySet[Proposal]:
    return (
        Proposal.objects.select_related("job", "profile")
        .filter(status__in=[ProposalStatus.DRAFT, ProposalStatus.IN_REVIEW], current_version__gt=0)
        .order_by("-job__score", "updated_at")
    )


def approved_without_application() -> QuerySet[Proposal]:
    return (
        Proposal.objects.select_related("job", "approved_version")
        .filter(status=ProposalStatus.APPROVED, approved_version__isnull=False)
        .exclude(Exists(Application.objects.filter(job=OuterRef("job"))))
        .order_by("reviewed_at")
    )


def applications_to_approve() -> QuerySet[Application]:
    return (
        Application.objects.select_related("job", "proposal")
        .filter(status=ApplicationStatus.AWAITING_APPROVAL)
        .order_by("created_at")
    )


def applications_ready_to_send() -> QuerySet[Application]:
    return Application.objects.select_related("job").filter(status=ApplicationStatus.APPROVED).order_by("approved_at")


def attention_items() -> list[dict]:
    """Applications stopped for a person and browser sessions that cannot be used."""
    items = [
        {
            "kind": "application",
            "title": application.job.title,
            "status": application.get_status_display(),
            "reason": application.error or "-",
            "url": reverse("admin:applications_application_change", args=[application.id]),
            "id": application.id,
        }
        for application in Application.objects.select_related("job")
        .filter(status__in=[ApplicationStatus.NEEDS_ATTENTION, ApplicationStatus.FAILED])
        .order_by("-status_changed_at")[:SECTION_LIMIT]
    ]
    items += [
        {
            "kind": "session",
            "title": f"Browser session “{session.name}”",
            "status": session.get_status_display(),
            "reason": session.attention_reason or "-",
            "url": reverse("admin:jobs_browsersession_change", args=[session.id]),
            "id": session.id,
        }
        for session in BrowserSession.objects.filter(
            status__in=[BrowserSessionStatus.NEEDS_ATTENTION, BrowserSessionStatus.EXPIRED]
        )
    ]
    return items


def inbox_counts() -> dict[str, int]:
    """How many items wait in each section (the business dashboard links to them)."""
    return {
        "jobs": jobs_above_threshold().count(),
        "drafts": drafts_to_review().count(),
        "approved": approved_without_application().count(),
        "applications": applications_to_approve().count(),
        "ready": applications_ready_to_send().count(),
        "attention": len(attention_items()),
    }


# --- actions ---------------------------------------------------------------------
@dataclass(frozen=True)
class Action:
    permission: str
    call: Callable[[HttpRequest, int], str]  # returns the success message


def _generate(request: HttpRequest, object_id: int) -> str:
    from proposals.services import proposal_generate_request

    task = proposal_generate_request(job_id=object_id, actor=Actor.admin(request))
    return f"Drafting a proposal for job {object_id} (task {task.id}); it appears under “Drafts to review”."


def _approve_proposal(request: HttpRequest, object_id: int) -> str:
    from proposals.services import proposal_approve

    proposal_approve(proposal_id=object_id, actor=Actor.admin(request))
    return f"Proposal #{object_id} approved."


def _reject_proposal(request: HttpRequest, object_id: int) -> str:
    from proposals.services import proposal_reject

    feedback = request.POST.get("feedback", "").strip()
    proposal_reject(proposal_id=object_id, feedback=feedback, actor=Actor.admin(request))
    return f"Proposal #{object_id} rejected" + (" with your feedback." if feedback else ".")


def _create_application(request: HttpRequest, object_id: int) -> str:
    from applications.services import application_create

    application = application_create(proposal_id=object_id, actor=Actor.admin(request))
    return f"Application #{application.id} created ({application.get_status_display().lower()})."


def _bid(request: HttpRequest) -> Decimal | None:
    text = request.POST.get("bid_amount", "").strip().lstrip("$").replace(",", "")
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite():
        raise ValidationFailed(
            "The bid must be an amount in USD, e.g. 450 or 55.50.", field_errors={"bid_amount": ["Not a number."]}
        )
    return value


def _approve_application(request: HttpRequest, object_id: int) -> str:
    from applications.services import application_approve

    application_approve(application_id=object_id, bid_amount=_bid(request), actor=Actor.admin(request))
    return f"Application #{object_id} approved: it will send exactly this letter, bid and answers."


def _send_application(request: HttpRequest, object_id: int) -> str:
    from applications.services import application_schedule

    application_schedule(application_id=object_id, actor=Actor.admin(request))
    return f"Application #{object_id} scheduled now; every safety gate is checked when it runs."


def _dry_run(request: HttpRequest, object_id: int) -> str:
    from applications.services import application_dry_run_request

    task = application_dry_run_request(application_id=object_id, actor=Actor.admin(request))
    return f"Dry run of application #{object_id} queued (task {task.id}); its screenshot lands on the application."


ACTIONS: dict[str, Action] = {
    "generate_proposal": Action("proposals.add_proposal", _generate),
    "approve_proposal": Action("proposals.change_proposal", _approve_proposal),
    "reject_proposal": Action("proposals.change_proposal", _reject_proposal),
    "create_application": Action("applications.add_application", _create_application),
    "approve_application": Action("applications.change_application", _approve_application),
    "send_application": Action("applications.change_application", _send_application),
    "dry_run": Action("applications.change_application", _dry_run),
}


def _back(request: HttpRequest) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return reverse("console-inbox")


@require_POST
def inbox_action(request: HttpRequest, name: str, object_id: int) -> HttpResponse:
    """POST /admin/inbox/<action>/<id>/: run one action and come back with its outcome as a message."""
    action = ACTIONS.get(name)
    if action is None:
        messages.error(request, f"Unknown action “{name}”.")
        return HttpResponseRedirect(_back(request))
    if not request.user.has_perm(action.permission):
        raise PermissionDenied(f"This needs the {action.permission} permission.")
    try:
        messages.success(request, action.call(request, object_id))
    except ApplicationError as error:
        messages.error(request, error.message)
    return HttpResponseRedirect(_back(request))


def _excerpt(text: str, length: int = 420) -> str:
    text = text.strip()
    return text if len(text) <= length else text[:length].rsplit(" ", 1)[0] + " …"


def inbox_view(request: HttpRequest, *, site=None) -> HttpResponse:
    """GET /admin/inbox/: what needs a person (staff only; wrapped in admin_view in the URLconf)."""
    from django.contrib import admin

    site = site or admin.site
    user = request.user
    drafts = list(drafts_to_review()[:SECTION_LIMIT])
    for proposal in drafts:
        current = proposal_selectors.proposal_current_version(proposal)
        proposal.excerpt = _excerpt(current.text) if current else ""
    jobs = list(jobs_above_threshold()[:SECTION_LIMIT]) if user.has_perm("jobs.view_job") else []
    for job in jobs:
        job.rate_text = job_rate(job)
    applications = (
        list(applications_to_approve()[:SECTION_LIMIT]) if user.has_perm("applications.view_application") else []
    )
    for application in applications:
        application.bid_text = money(application.bid_amount, per_hour=application.job.job_type == "hourly")
    can = {name: user.has_perm(action.permission) for name, action in ACTIONS.items()}
    sections = {
        "jobs": jobs,
        "drafts": drafts if user.has_perm("proposals.view_proposal") else [],
        "approved": list(approved_without_application()[:SECTION_LIMIT])
        if user.has_perm("proposals.view_proposal")
        else [],
        "applications": applications,
        "ready": list(applications_ready_to_send()[:SECTION_LIMIT])
        if user.has_perm("applications.view_application")
        else [],
        "attention": attention_items() if user.has_perm("applications.view_application") else [],
    }
    context = {
        **site.each_context(request),
        "title": "Review inbox",
        "sections": sections,
        "can": can,
        "total": sum(len(items) for items in sections.values()),
        "inbox_url": request.get_full_path(),
    }
    return TemplateResponse(request, "admin/console/inbox.html", context)
