"""The daily digest: top new jobs, drafts waiting, applications sent, Connects left this month, caps left today."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from notifications.models import Event
from notifications.services.events import site_link
from notifications.services.publish import notification_publish

TOP_JOBS = 5


def digest_content(*, now: datetime) -> dict:
    from applications.models import Application
    from applications.selectors import limits_summary
    from jobs.models import Job, JobStatus
    from proposals.models import Proposal, ProposalStatus

    since = now - timedelta(hours=24)
    top = list(
        Job.objects.filter(discovered_at__gte=since, passed_filters=True, status=JobStatus.NEW, score__isnull=False)
        .order_by("-score", "-posted_at")[:TOP_JOBS]
        .values("pk", "title", "score", "url")
    )
    drafts = Proposal.objects.filter(status=ProposalStatus.IN_REVIEW).count()
    sent = Application.objects.filter(submitted_at__gte=since).count()
    limits = limits_summary(now=now)
    return {
        "top_jobs": [{"id": job["pk"], "title": job["title"], "score": job["score"], "url": job["url"]} for job in top],
        "drafts_waiting": drafts,
        "applications_sent": sent,
        "connects_left_month": limits["month"]["remaining"],
        "caps_left_today": limits["today"]["remaining"],
        "needs_attention": limits["needs_attention"],
    }


def digest_send(*, now: datetime | None = None) -> dict:
    """Publish today's digest (key digest:<date>: at most one a day per channel)."""
    now = now or timezone.now()
    content = digest_content(now=now)
    day = timezone.localtime(now).date().isoformat()
    lines = [f"{job['score']}/100 · {job['title']}" for job in content["top_jobs"]]
    lines = lines or ["No new jobs above the filters."]
    payload = {
        **content,
        "facts": [
            ("Drafts waiting for review", str(content["drafts_waiting"])),
            ("Applications sent (24 h)", str(content["applications_sent"])),
            ("Applications needing attention", str(content["needs_attention"])),
            ("Connects left this month", str(content["connects_left_month"])),
            ("Submissions left today", str(content["caps_left_today"])),
        ],
        "lines": ["Top new jobs:", *lines],
        "links": [
            ("Inbox", site_link(reverse("console-inbox"))),
            ("Jobs", site_link(reverse("admin:jobs_job_changelist"))),
        ],
    }
    ids = notification_publish(
        event=Event.DAILY_DIGEST, key=f"digest:{day}", subject=f"Daily digest {day}", payload=payload
    )
    return {"day": day, "deliveries": ids, "site": settings.NOTIFY_SITE_URL}
