"""Reads of the applications app, with their joins done."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

from django.conf import settings
from django.db.models import Count, Max, QuerySet, Sum
from django.utils import timezone

from applications import conf
from applications.models import FINAL_OUTCOMES, Application, ApplicationStatus, OutcomeRun


def application_list() -> QuerySet[Application]:
    return Application.objects.select_related("job", "proposal", "proposal_version", "approved_by").prefetch_related(
        "screenshots", "outcome_events"
    )


def applications_to_track() -> QuerySet[Application]:
    """Sent applications whose fate is still open: what outcome tracking follows (oldest submission first)."""
    return (
        Application.objects.filter(
            status__in=(ApplicationStatus.SUBMITTED, ApplicationStatus.VERIFIED), submitted_at__isnull=False
        )
        .exclude(outcome__in=FINAL_OUTCOMES)
        .select_related("job")
        .order_by("submitted_at", "id")
    )


def outcome_run_latest() -> OutcomeRun | None:
    return OutcomeRun.objects.exclude(status="running").order_by("-started_at", "-id").first()


def applications_ready() -> QuerySet[Application]:
    """Approved applications waiting for a batch, oldest approval first."""
    return Application.objects.filter(status=ApplicationStatus.APPROVED).order_by("approved_at", "id")


def day_start(now: datetime | None = None) -> datetime:
    """Local midnight (TIME_ZONE): the daily cap counts from here."""
    now = timezone.localtime(now or timezone.now())
    return timezone.make_aware(datetime.combine(now.date(), time.min), now.tzinfo)


def month_start(now: datetime | None = None) -> datetime:
    """The first of the month at local midnight: the monthly Connects budget counts from here."""
    now = timezone.localtime(now or timezone.now())
    return timezone.make_aware(datetime.combine(now.date().replace(day=1), time.min), now.tzinfo)


def needing_attention_count() -> int:
    return Application.objects.filter(status=ApplicationStatus.NEEDS_ATTENTION).count()


def status_counts() -> dict[str, int]:
    rows = Application.objects.values("status").annotate(count=Count("id"))
    return {row["status"]: row["count"] for row in rows}


@dataclass
class Usage:
    """What the counted submissions used up, read under the submission lock."""

    today: int
    month_connects: int
    gap_until: datetime | None
    scheduled_today: int = 0
    scheduled_connects: int = 0
    last_scheduled_for: datetime | None = None


def usage_read(*, now: datetime, exclude_id: int | None = None) -> Usage:
    counted = Application.objects.filter(counts_toward_caps=True)
    if exclude_id is not None:
        counted = counted.exclude(id=exclude_id)
    day, month = day_start(now), month_start(now)
    month_connects = counted.filter(claimed_at__gte=month).aggregate(total=Sum("connects_reserved"))["total"] or 0
    return Usage(
        today=counted.filter(claimed_at__gte=day).count(),
        month_connects=month_connects,
        gap_until=counted.aggregate(latest=Max("gap_until"))["latest"],
    )


def limits_summary(*, now: datetime | None = None) -> dict[str, Any]:
    """The safety settings and how much of today's cap and this month's budget is used."""
    now = now or timezone.now()
    usage = usage_read(now=now)
    cap = conf.daily_cap()
    budget = settings.APPLICATIONS_MONTHLY_CONNECTS_BUDGET
    return {
        "settings": conf.safety_settings(),
        "today": {"submissions": usage.today, "cap": cap, "remaining": max(0, cap - usage.today)},
        "month": {
            "connects": usage.month_connects,
            "budget": budget,
            "remaining": max(0, budget - usage.month_connects),
        },
        "next_submission_not_before": usage.gap_until if usage.gap_until and usage.gap_until > now else None,
        "scheduled": Application.objects.filter(status=ApplicationStatus.SCHEDULED).count(),
        "needs_attention": needing_attention_count(),
    }
