"""Reads reused across views, services and tasks."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone

from jobs.models import BrowserSession, BrowserSessionStatus, Job, JobStatus, OAuthTokenStatus, UpworkOAuthToken


def job_list() -> QuerySet[Job]:
    return Job.objects.select_related("profile")


def jobs_top(*, job_ids: list[int], limit: int, min_score: int = 0, without_proposal: bool = False) -> list[Job]:
    """The best new jobs among these that passed the filters, highest score first (optionally: no proposal yet)."""
    queryset = Job.objects.filter(
        id__in=job_ids, status=JobStatus.NEW, passed_filters=True, score__isnull=False, score__gte=min_score
    )
    if without_proposal:
        queryset = queryset.filter(proposals__isnull=True)
    return list(queryset.order_by("-score", "-posted_at")[:limit])


def browser_session_usable() -> BrowserSession | None:
    """The active session that lasts longest, if any."""
    return (
        BrowserSession.objects.filter(status=BrowserSessionStatus.ACTIVE, expires_at__gt=timezone.now())
        .order_by("-expires_at")
        .first()
    )


def oauth_token_active(account: str = "default") -> UpworkOAuthToken | None:
    return UpworkOAuthToken.objects.filter(account=account, status=OAuthTokenStatus.ACTIVE).first()
