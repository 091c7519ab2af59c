"""Reads of the applications app, with their joins done."""

from __future__ import annotations

from datetime import datetime, time

from django.db.models import Count, QuerySet
from django.utils import timezone

from applications.models import Application, ApplicationStatus


def application_list() -> QuerySet[Application]:
    return Application.objects.select_related("job", "proposal", "proposal_version", "approved_by").prefetch_related(
        "screenshots"
    )


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
