"""The business dashboard: today and this month, from jobs found to proposals sent, Connects, caps and OpenAI spend."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db.models import DecimalField, F, Sum, Value
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from applications import selectors as application_selectors
from applications.models import Application
from applications.selectors import limits_summary
from jobs.models import Job
from proposals import selectors as proposal_selectors
from proposals.models import Proposal, ProposalStatus, ProposalVersion
from queue_app.switches import switches_state
from upwork_automation.console import inbox


def _zero_money():
    return Value(Decimal("0"), output_field=DecimalField(max_digits=12, decimal_places=6))


def period_figures(*, since: datetime) -> dict:
    """What happened since `since`: jobs found and above threshold, drafted, approved, sent, Connects and OpenAI."""
    found = Job.objects.filter(discovered_at__gte=since)
    above = (
        found.filter(passed_filters=True, score__isnull=False)
        .annotate(threshold=Coalesce("profile__handoff_min_score", Value(inbox.DEFAULT_THRESHOLD)))
        .filter(score__gte=F("threshold"))
    )
    sent = Application.objects.filter(submitted_at__gte=since)
    return {
        "found": found.count(),
        "above_threshold": above.count(),
        "drafted": ProposalVersion.objects.filter(number=1, created_at__gte=since).count(),
        "approved": Proposal.objects.filter(status=ProposalStatus.APPROVED, reviewed_at__gte=since).count(),
        "sent": sent.count(),
        "connects_spent": sent.aggregate(total=Coalesce(Sum("connects_spent"), 0))["total"],
        "openai_spend": ProposalVersion.objects.filter(created_at__gte=since).aggregate(
            total=Coalesce(Sum("estimated_cost"), _zero_money())
        )["total"],
    }


def business_figures(*, now: datetime | None = None) -> dict:
    """Today's and this month's figures, the caps left and what waits in the inbox."""
    now = now or timezone.now()
    limits = limits_summary(now=now)
    openai_today = proposal_selectors.openai_spent_today(now)
    openai_cap = settings.OPENAI_DAILY_COST_CAP_USD
    return {
        "today": period_figures(since=application_selectors.day_start(now)),
        "month": period_figures(since=application_selectors.month_start(now)),
        "limits": limits,
        "openai": {
            "today": openai_today,
            "cap": openai_cap,
            "left": max(Decimal("0"), openai_cap - openai_today),
        },
        "waiting": inbox.inbox_counts(),
    }


ROWS = [
    ("found", "Jobs found"),
    ("above_threshold", "Above the threshold"),
    ("drafted", "Proposals drafted"),
    ("approved", "Proposals approved"),
    ("sent", "Applications sent"),
    ("connects_spent", "Connects spent"),
    ("openai_spend", "OpenAI spend"),
]


def _switch_text(value) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def business_dashboard(request: HttpRequest, *, site=None) -> HttpResponse:
    """GET /admin/business/ (staff only; wrapped in admin_view in the URLconf)."""
    from django.contrib import admin

    from upwork_automation.console.display import money

    site = site or admin.site
    figures = business_figures()
    limits, waiting = figures["limits"], figures["waiting"]
    inbox_url = reverse("console-inbox")
    cards = [
        {"id": "drafts", "label": "Drafts to review", "value": waiting["drafts"], "url": f"{inbox_url}#inbox-drafts"},
        {
            "id": "applications",
            "label": "Applications to approve",
            "value": waiting["applications"],
            "url": f"{inbox_url}#inbox-applications",
        },
        {"id": "jobs", "label": "New jobs above threshold", "value": waiting["jobs"], "url": f"{inbox_url}#inbox-jobs"},
        {
            "id": "ready",
            "label": "Approved, ready to send",
            "value": waiting["ready"],
            "url": f"{inbox_url}#inbox-ready",
        },
        {
            "id": "attention",
            "label": "Need attention",
            "value": waiting["attention"],
            "url": f"{inbox_url}#inbox-attention",
            "low": bool(waiting["attention"]),
        },
        {"id": "sent-today", "label": "Sent today", "value": figures["today"]["sent"]},
        {
            "id": "cap-left",
            "label": f"Left of today's cap ({limits['today']['cap']})",
            "value": limits["today"]["remaining"],
            "low": not limits["today"]["remaining"],
        },
        {
            "id": "connects-left",
            "label": f"Connects left this month (of {limits['month']['budget']})",
            "value": limits["month"]["remaining"],
            "low": not limits["month"]["remaining"],
        },
        {
            "id": "openai-left",
            "label": f"OpenAI left today (cap {money(figures['openai']['cap'])})",
            "value": money(figures["openai"]["left"]),
            "low": not figures["openai"]["left"],
        },
    ]
    rows = []
    for key, label in ROWS:
        today, month = figures["today"][key], figures["month"][key]
        if key == "openai_spend":
            today, month = f"${today:,.4f}", f"${month:,.4f}"
        rows.append({"id": key, "label": label, "today": today, "month": month})
    switch_rows = [
        {**row, "shown": _switch_text(row["value"]), "overridden": row["override"] is not None}
        for row in switches_state()
    ]
    context = {
        **site.each_context(request),
        "title": "Business dashboard",
        "switches": switch_rows,
        "cards": cards,
        "rows": rows,
        "limits": limits,
        "generated_at": timezone.now(),
    }
    return TemplateResponse(request, "admin/console/business.html", context)
